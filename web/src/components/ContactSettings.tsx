// Settings: the email address (verified by a mailed link; needed for password reset and
// missed-message mail) and the phone number (verified by a texted code; needed for SMS
// notifications).
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { friendlyError } from '../format';
import { ReauthCancelled } from '../security';
import { showToast, withReauth } from '../state/store';
import { emailConfirmations } from './MailLinks';

type EmailState = { email: string | null; verified: boolean; pending_email: string | null };
type PhoneState = { phone: string | null; verified: boolean; pending_phone: string | null; sms_notifications: boolean };

function errText(e: unknown, what: string): string {
  if (e instanceof ApiError && e.status === 409 && /not configured/.test(e.message)) return `This server cannot send ${what} (ask your administrator).`;
  if (e instanceof ApiError && e.status === 429) return 'Too many requests. Wait a few minutes and try again.';
  if (e instanceof ApiError && (e.status === 422 || e.status === 409)) return e.message;
  return friendlyError(e as Error);
}

export function EmailSettings() {
  const [state, setState] = useState<EmailState | null>(null);
  const [value, setValue] = useState('');
  const [error, setError] = useState('');
  const [status, setStatus] = useState('');
  const [busy, setBusy] = useState(false);
  const confirmations = emailConfirmations.value;
  useEffect(() => {
    api<EmailState>('/users/me/email')
      .then(setState)
      .catch((e) => setError(errText(e, 'mail')));
  }, [confirmations]);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError('');
    setStatus('');
    setBusy(true);
    try {
      const address = value.trim();
      const s = await withReauth(() => api<EmailState>('/users/me/email', { method: 'PUT', body: { email: address } }));
      setState(s);
      setValue('');
      setStatus(`We sent a link to ${address}. Open it to confirm the address.`);
      showToast(`Confirmation link sent to ${address}.`);
    } catch (err) {
      if (!(err instanceof ReauthCancelled)) setError(errText(err, 'mail'));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="stack" onSubmit={submit} aria-labelledby="email-h">
      <h3 id="email-h">Email</h3>
      <p class="muted small">A confirmed address lets you reset a forgotten password and receive missed messages by mail.</p>
      {state && (
        <p class="contact-state" role="status">
          {state.email ? (
            <>
              <strong>{state.email}</strong> <span class="tag is-verified">confirmed</span>
            </>
          ) : (
            <span class="muted small">No confirmed address.</span>
          )}
          {state.pending_email && (
            <span class="muted small contact-pending">
              Waiting for confirmation: <strong>{state.pending_email}</strong> (check your inbox)
            </span>
          )}
        </p>
      )}
      <label>
        {state?.email ? 'New email address' : 'Email address'}
        <input type="email" name="email" autoComplete="email" required value={value} onInput={(e) => setValue(e.currentTarget.value)} />
      </label>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <div class="row">
        <button type="submit" class="primary" disabled={busy}>
          Send confirmation link
        </button>
      </div>
      <p role="status" class="muted small">
        {status}
      </p>
    </form>
  );
}

export function PhoneSettings() {
  const [state, setState] = useState<PhoneState | null>(null);
  const [number, setNumber] = useState('');
  const [code, setCode] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    api<PhoneState>('/users/me/phone')
      .then(setState)
      .catch((e) => setError(errText(e, 'texts')));
  }, []);
  const run = async (f: () => Promise<PhoneState | void>, done?: string) => {
    setError('');
    setBusy(true);
    try {
      const s = await f();
      if (s) setState(s);
      if (done) showToast(done);
    } catch (err) {
      if (!(err instanceof ReauthCancelled)) setError(errText(err, 'texts'));
    } finally {
      setBusy(false);
    }
  };
  const sendCode = (e: Event) => {
    e.preventDefault();
    void run(() => api<PhoneState>('/users/me/phone', { method: 'PUT', body: { phone: number.trim() } }), 'A code is on its way by SMS.');
  };
  const verify = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      const s = await api<PhoneState>('/users/me/phone/verify', { method: 'POST', body: { code: code.trim() } });
      setCode('');
      setNumber('');
      return s;
    }, 'Phone number confirmed.');
  };
  const toggle = (on: boolean) => {
    const before = state;
    if (state) setState({ ...state, sms_notifications: on }); // the box follows the click at once
    return run(() =>
      api<PhoneState>('/users/me/phone', { method: 'PATCH', body: { sms_notifications: on } }).catch((e) => {
        setState(before);
        throw e;
      }),
    );
  };
  const remove = () =>
    run(async () => {
      await api('/users/me/phone', { method: 'DELETE' });
      return { phone: null, verified: false, pending_phone: null, sms_notifications: false };
    }, 'Phone number removed.');
  return (
    <section class="stack" aria-labelledby="phone-h">
      <h3 id="phone-h">Phone (SMS)</h3>
      {state?.phone ? (
        <>
          <p class="contact-state" role="status">
            <strong>{state.phone}</strong> <span class="tag is-verified">confirmed</span>
          </p>
          <label class="check">
            <input type="checkbox" checked={state.sms_notifications} onChange={(e) => void toggle(e.currentTarget.checked)} />
            Text me about direct messages and mentions
          </label>
          <div class="row">
            <button type="button" class="danger small" onClick={() => void remove()} disabled={busy}>
              Remove phone number
            </button>
          </div>
        </>
      ) : (
        <p class="muted small">Add a phone number to get direct messages and mentions by SMS when you are away.</p>
      )}
      <form class="stack" onSubmit={sendCode}>
        <label>
          {state?.phone ? 'New phone number' : 'Phone number'}
          <input type="tel" name="phone" autoComplete="tel" inputMode="tel" placeholder="+33 6 12 34 56 78" required value={number} onInput={(e) => setNumber(e.currentTarget.value)} />
          <span class="hint">With the country code, starting with +.</span>
        </label>
        <div class="row">
          <button type="submit" disabled={busy}>
            Send code
          </button>
        </div>
      </form>
      {state?.pending_phone && (
        <form class="stack" onSubmit={verify}>
          <label>
            Code sent to {state.pending_phone}
            <input name="sms_code" inputMode="numeric" autoComplete="one-time-code" required pattern="[0-9]{6}" maxLength={6} value={code} onInput={(e) => setCode(e.currentTarget.value)} />
          </label>
          <div class="row">
            <button type="submit" class="primary" disabled={busy}>
              Confirm number
            </button>
          </div>
        </form>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
