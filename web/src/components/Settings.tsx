// Profile, presence, theme, sessions (with revoke) and two-factor set-up.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, enc } from '../api';
import { dialog, me, myPresence, rememberTotp, setMyPresence, showToast, signOut, totpEnabled, updateProfile } from '../state/store';
import { theme, setTheme, type Theme } from '../theme';
import type { ChosenPresence, Session } from '../types';
import { Modal } from './Dialog';
import { formatTime } from './MessageItem';
import { Qr } from './Qr';

function errText(e: unknown) {
  return e instanceof ApiError ? e.message : String(e);
}

function Profile() {
  const u = me.value!;
  const [name, setName] = useState(u.display_name);
  const [status, setStatus] = useState(u.status_text);
  const [msg, setMsg] = useState('');
  const save = async (e: Event) => {
    e.preventDefault();
    setMsg('');
    try {
      await updateProfile({ display_name: name.trim(), status_text: status.trim() });
      setMsg('Saved.');
    } catch (err) {
      setMsg(errText(err));
    }
  };
  return (
    <form class="stack" onSubmit={save} aria-labelledby="profile-h">
      <h3 id="profile-h">Profile</h3>
      <p class="muted small">Signed in as @{u.username}</p>
      <label>
        Display name
        <input required maxLength={64} value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </label>
      <label>
        Status
        <input maxLength={140} value={status} placeholder="What are you up to?" onInput={(e) => setStatus(e.currentTarget.value)} />
      </label>
      <div class="row">
        <button type="submit" class="primary">
          Save profile
        </button>
        <span role="status" class="muted small">
          {msg}
        </span>
      </div>
    </form>
  );
}

const PRESENCE: [ChosenPresence, string][] = [
  ['online', 'Online'],
  ['away', 'Away'],
  ['dnd', 'Do not disturb'],
  ['invisible', 'Invisible'],
];

function PresencePicker() {
  return (
    <fieldset class="stack">
      <legend>Presence</legend>
      {PRESENCE.map(([v, label]) => (
        <label class="check" key={v}>
          <input type="radio" name="presence" value={v} checked={myPresence.value === v} onChange={() => void setMyPresence(v)} /> {label}
        </label>
      ))}
    </fieldset>
  );
}

function ThemePicker() {
  const opts: [Theme, string][] = [
    ['system', 'Match the system'],
    ['light', 'Light'],
    ['dark', 'Dark'],
  ];
  return (
    <fieldset class="stack">
      <legend>Theme</legend>
      {opts.map(([v, label]) => (
        <label class="check" key={v}>
          <input type="radio" name="theme" value={v} checked={theme.value === v} onChange={() => setTheme(v)} /> {label}
        </label>
      ))}
    </fieldset>
  );
}

function Sessions() {
  const [list, setList] = useState<Session[] | null>(null);
  const [error, setError] = useState('');
  const load = () =>
    api<{ sessions: Session[] }>('/auth/sessions')
      .then((r) => setList(r.sessions))
      .catch((e) => setError(errText(e)));
  useEffect(() => {
    void load();
  }, []);
  const revoke = async (s: Session) => {
    try {
      await api(`/auth/sessions/${enc(s.id)}`, { method: 'DELETE' });
      if (s.current) return void signOut();
      void load();
    } catch (e) {
      setError(errText(e));
    }
  };
  return (
    <section class="stack" aria-labelledby="sessions-h">
      <h3 id="sessions-h">Sessions</h3>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <ul class="sessions">
        {(list ?? []).map((s) => (
          <li key={s.id}>
            <div>
              <strong>{s.device_name}</strong> {s.current && <span class="tag">this device</span>}
              <p class="muted small">
                Signed in {formatTime(s.created_at)} · last active {formatTime(s.last_seen_at)}
              </p>
            </div>
            <button type="button" class="danger small" onClick={() => void revoke(s)} aria-label={`Revoke session ${s.device_name}${s.current ? ' (this device)' : ''}`}>
              Revoke
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}


function TwoFactor() {
  const [setup, setSetup] = useState<{ secret: string; otpauth_uri: string } | null>(null);
  const [code, setCode] = useState('');
  const [codes, setCodes] = useState<string[] | null>(null);
  const [error, setError] = useState('');
  const [disabling, setDisabling] = useState(false);
  const on = totpEnabled.value;

  const begin = async () => {
    setError('');
    try {
      setSetup(await api('/auth/totp/setup', { method: 'POST' }));
    } catch (e) {
      if (e instanceof ApiError && e.status === 409) {
        rememberTotp(true);
        setError('Two-factor authentication is already on.');
      } else setError(errText(e));
    }
  };
  const enable = async (e: Event) => {
    e.preventDefault();
    setError('');
    try {
      const r = await api<{ recovery_codes: string[] }>('/auth/totp/enable', { method: 'POST', body: { code: code.trim() } });
      setCodes(r.recovery_codes);
      setSetup(null);
      setCode('');
      rememberTotp(true);
    } catch (err) {
      setError(err instanceof ApiError && err.status === 422 ? 'That code is not right. Check the time on your device and try the next code.' : errText(err));
    }
  };
  const disable = async (e: Event) => {
    e.preventDefault();
    setError('');
    try {
      await api('/auth/totp/disable', { method: 'POST', body: { code: code.trim() } });
      rememberTotp(false);
      setDisabling(false);
      setCode('');
      showToast('Two-factor authentication is off.');
    } catch (err) {
      setError(err instanceof ApiError && err.status === 422 ? 'That code is not right.' : errText(err));
    }
  };

  return (
    <section class="stack" aria-labelledby="tfa-h">
      <h3 id="tfa-h">Two-factor authentication</h3>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {codes && (
        <div class="recovery" role="region" aria-label="Recovery codes">
          <p>
            <strong>Two-factor authentication is on.</strong> Keep these recovery codes somewhere safe: each works once in place of a code, and
            they are shown only now.
          </p>
          <ol class="codes">
            {codes.map((c) => (
              <li key={c}>
                <code>{c}</code>
              </li>
            ))}
          </ol>
          <button type="button" onClick={() => void navigator.clipboard?.writeText(codes.join('\n'))}>
            Copy recovery codes
          </button>
        </div>
      )}
      {!setup && !codes && !disabling && (
        <div class="row">
          <span class="muted small" role="status">
            {on === true ? 'On: signing in asks for a code from your authenticator app.' : on === false ? 'Off.' : ''}
          </span>
          {on !== true ? (
            <button type="button" onClick={() => void begin()}>
              Set up two-factor authentication
            </button>
          ) : (
            <button type="button" onClick={() => setDisabling(true)}>
              Turn off two-factor authentication
            </button>
          )}
        </div>
      )}
      {setup && (
        <form class="stack" onSubmit={enable}>
          <p>Scan this with your authenticator app, then enter the 6-digit code it shows.</p>
          <Qr text={setup.otpauth_uri} label="QR code for your authenticator app" />
          <p class="small">
            Or enter this key by hand: <code class="secret">{setup.secret}</code>
          </p>
          <label>
            Verification code
            <input inputMode="numeric" autoComplete="one-time-code" required pattern="[0-9]{6}" maxLength={6} value={code} onInput={(e) => setCode(e.currentTarget.value)} />
          </label>
          <div class="row">
            <button type="submit" class="primary">
              Turn on two-factor authentication
            </button>
            <button type="button" onClick={() => setSetup(null)}>
              Cancel
            </button>
          </div>
        </form>
      )}
      {disabling && (
        <form class="stack" onSubmit={disable}>
          <label>
            Code or recovery code
            <input required autoComplete="one-time-code" value={code} onInput={(e) => setCode(e.currentTarget.value)} />
          </label>
          <div class="row">
            <button type="submit" class="danger">
              Turn off
            </button>
            <button type="button" onClick={() => setDisabling(false)}>
              Cancel
            </button>
          </div>
        </form>
      )}
    </section>
  );
}

export function SettingsDialog() {
  return (
    <Modal title="Settings" onClose={() => (dialog.value = null)} wide>
      <div class="settings">
        <Profile />
        <PresencePicker />
        <ThemePicker />
        <Sessions />
        <TwoFactor />
        <section class="stack">
          <button type="button" class="danger" onClick={() => void signOut()}>
            Sign out
          </button>
        </section>
      </div>
    </Modal>
  );
}
