// The links Parley mails: "#reset=TOKEN" (choose a new password) and "#verify-email=TOKEN"
// (confirm an address). The token rides in the URL fragment, which a browser never sends to a
// server, so it is in no access log; it is read once at start and wiped from the address bar
// (and so from history and Referer) before anything else runs. Also the "Forgot password?" form
// of the sign-in screen.
import { signal } from '@preact/signals';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { friendlyError } from '../format';
import { newPasswordProblem, parseMailLink, type MailLink } from '../security';
import { showToast } from '../state/store';

function takeMailLink(): MailLink | null {
  if (typeof location === 'undefined') return null;
  const link = parseMailLink(location.hash);
  if (link) history.replaceState(history.state, '', location.pathname + location.search);
  return link;
}

export const mailLink = signal<MailLink | null>(takeMailLink());
/** Bumped when an address was confirmed here, so an open Settings shows it. */
export const emailConfirmations = signal(0);

/** Takes mail links that arrive while the app is open (the link opened in this tab: only the
 * fragment changes, so the page does not load again), and confirms a mailed address as soon
 * as its link is seen. */
export function useMailLinks() {
  useEffect(() => {
    const onHash = () => {
      const l = takeMailLink();
      if (l) mailLink.value = l;
    };
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  const link = mailLink.value;
  useEffect(() => {
    if (link?.kind !== 'verify-email') return;
    mailLink.value = null;
    api('/auth/email/verify', { method: 'POST', auth: false, body: { token: link.token } })
      .then(() => {
        emailConfirmations.value++;
        showToast('Your email address is confirmed.');
      })
      .catch((e) =>
        showToast(e instanceof ApiError && e.status === 404 ? 'That confirmation link is invalid, used or expired. Ask for a new one in Settings.' : friendlyError(e)),
      );
  }, [link]);
}

export function ResetPasswordScreen({ token }: { token: string }) {
  const [next, setNext] = useState('');
  const [confirm, setConfirm] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const problem = newPasswordProblem(next, confirm);
    if (problem) return setError(problem);
    setError('');
    setBusy(true);
    try {
      await api('/auth/password/reset', { method: 'POST', auth: false, body: { token, new_password: next } });
      setDone(true);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) setError('This link is invalid, already used or expired. Ask for a new one from the sign-in screen.');
      else if (err instanceof ApiError && err.status === 422) setError(err.message || 'The new password needs 8 to 1024 characters.');
      else setError(friendlyError(err as Error));
    } finally {
      setBusy(false);
    }
  };
  const leave = () => {
    mailLink.value = null;
    // Every session ended with the reset: a reload starts at the sign-in screen.
    if (done) location.reload();
  };
  return (
    <main class="auth">
      <form class="auth-card" onSubmit={submit} aria-labelledby="reset-title">
        <div class="brand" aria-hidden="true">
          <img src="/icons/icon.svg" alt="" width={40} height={40} />
        </div>
        <h1 id="reset-title">Choose a new password</h1>
        {done ? (
          <>
            <p role="status">Your password is changed and every device was signed out. Sign in with the new password.</p>
            <button type="button" class="primary" onClick={leave}>
              Go to sign in
            </button>
          </>
        ) : (
          <>
            <label>
              New password
              <input type="password" name="new_password" autoComplete="new-password" required minLength={8} maxLength={1024} autoFocus value={next} onInput={(e) => setNext(e.currentTarget.value)} />
            </label>
            <label>
              Confirm new password
              <input type="password" name="confirm_password" autoComplete="new-password" required value={confirm} onInput={(e) => setConfirm(e.currentTarget.value)} />
            </label>
            {error && (
              <p class="error" role="alert">
                {error}
              </p>
            )}
            <button class="primary" type="submit" disabled={busy}>
              Change password
            </button>
            <button type="button" class="link" onClick={leave}>
              Cancel
            </button>
          </>
        )}
      </form>
    </main>
  );
}

/** The sign-in screen's "Forgot password?" step: the same answer whatever the address. */
export function ForgotPasswordForm({ onBack }: { onBack: () => void }) {
  const [email, setEmail] = useState('');
  const [sent, setSent] = useState(false);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError('');
    setBusy(true);
    try {
      await api('/auth/password/forgot', { method: 'POST', auth: false, body: { email: email.trim() } });
      setSent(true);
    } catch (err) {
      if (err instanceof ApiError && err.status === 422) setError('That does not look like an email address.');
      else if (err instanceof ApiError && err.status === 409) setError('This server cannot send mail, so passwords cannot be reset by email. Ask your administrator.');
      else if (err instanceof ApiError && err.status === 429) setError('Too many requests. Wait a few minutes and try again.');
      else setError(friendlyError(err as Error));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="auth">
      <form class="auth-card" onSubmit={submit} aria-labelledby="forgot-title">
        <div class="brand" aria-hidden="true">
          <img src="/icons/icon.svg" alt="" width={40} height={40} />
        </div>
        <h1 id="forgot-title">Reset your password</h1>
        {sent ? (
          <p role="status">
            If an account has confirmed <strong>{email.trim()}</strong>, a link to choose a new password is on its way. It works once, for 30 minutes.
          </p>
        ) : (
          <>
            <p class="muted small">Enter the email address you confirmed in Parley’s settings. We will mail you a link.</p>
            <label>
              Email address
              <input type="email" name="email" autoComplete="email" required autoFocus value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
            </label>
            {error && (
              <p class="error" role="alert">
                {error}
              </p>
            )}
            <button class="primary" type="submit" disabled={busy}>
              Send reset link
            </button>
          </>
        )}
        <button type="button" class="link" onClick={onBack}>
          Back to sign in
        </button>
      </form>
    </main>
  );
}
