// Profile, presence, theme, sessions (with revoke), two-factor set-up, password change and
// signing out everywhere; the "confirm it's you" dialog for actions the server wants a fresh
// credential check for (403 `reauth_required`).
import { capabilities, languageName, targetLanguages } from '../ai';
import { signal } from '@preact/signals';
import { NotificationSettings } from './NotificationSettings';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, ApiError, enc } from '../api';
import { saveAuthed } from '../downloads';
import {
  changePassword,
  dialog,
  me,
  myPresence,
  reauthenticate,
  reauthPrompt,
  rememberTotp,
  setMyPresence,
  setAvatar,
  showToast,
  signOut,
  signOutEverywhere,
  totpEnabled,
  updateProfile,
  withReauth,
} from '../state/store';
import { newPasswordProblem, ReauthCancelled, reauthBody } from '../security';
import { theme, setTheme, type Theme } from '../theme';
import type { ChosenPresence, Session } from '../types';
import { Modal } from './Dialog';
import { Avatar } from './Avatar';
import { deviceTimeZone, localTimeIn, timeZoneOptions } from '../format';
import { addFiles, filesOf, removeFile, takeFiles } from '../uploads';
import { formatTime } from './MessageItem';
import { Qr } from './Qr';
import { EmailSettings, PhoneSettings } from './ContactSettings';

function errText(e: unknown) {
  return e instanceof ApiError ? e.message : String(e);
}

/** Bumped when the session list changed elsewhere (a password change ends the others). */
const sessionsVersion = signal(0);

function Profile() {
  const u = me.value!;
  const [name, setName] = useState(u.display_name);
  const [status, setStatus] = useState(u.status_text);
  const [tz, setTz] = useState(u.timezone ?? '');
  const [lang, setLang] = useState(u.language ?? '');
  const [msg, setMsg] = useState('');
  const [tzError, setTzError] = useState('');
  const device = deviceTimeZone();
  const zones = useMemo(() => timeZoneOptions(tz), [tz]);
  const save = async (e: Event) => {
    e.preventDefault();
    setMsg('');
    setTzError('');
    try {
      const fields: Parameters<typeof updateProfile>[0] = { display_name: name.trim(), status_text: status.trim(), timezone: tz };
      if (capabilities.value) fields.language = lang;
      await updateProfile(fields);
      setMsg('Saved.');
    } catch (err) {
      if (err instanceof ApiError && err.field === 'timezone') setTzError(err.message);
      else setMsg(errText(err));
    }
  };
  const useDevice = async () => {
    setTz(device);
    setTzError('');
    try {
      await updateProfile({ timezone: device });
      setMsg(`Time zone set to ${device}.`);
    } catch (err) {
      setTzError(errText(err));
    }
  };
  return (
    <form class="stack" onSubmit={save} aria-labelledby="profile-h">
      <h3 id="profile-h">Profile</h3>
      <p class="muted small">Signed in as @{u.username}</p>
      <AvatarEditor />
      <label>
        Display name
        <input required maxLength={64} value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </label>
      <label>
        Status
        <input maxLength={140} value={status} placeholder="What are you up to?" onInput={(e) => setStatus(e.currentTarget.value)} />
      </label>
      <label>
        Time zone
        <select value={tz} onChange={(e) => setTz(e.currentTarget.value)} aria-describedby="tz-help" aria-invalid={tzError ? true : undefined}>
          <option value="">Not set</option>
          {zones.map((z) => (
            <option key={z} value={z}>
              {z.replace(/_/g, ' ')}
            </option>
          ))}
        </select>
      </label>
      <p id="tz-help" class="muted small">
        Others see your local time on your profile{tz ? ` (now ${localTimeIn(tz)})` : ''}.
      </p>
      {tzError && (
        <p class="error" role="alert">
          {tzError}
        </p>
      )}
      {device && tz !== device && (
        <div class="row">
          <button type="button" class="small" onClick={() => void useDevice()}>
            Use my device’s time zone ({device.replace(/_/g, ' ')})
          </button>
        </div>
      )}
      {capabilities.value && (
        <label>
          Language for translations
          <select value={lang} onChange={(e) => setLang(e.currentTarget.value)}>
            <option value="">English (default)</option>
            {targetLanguages(capabilities.value).map((l) => (
              <option key={l} value={l}>
                {languageName(l)}
              </option>
            ))}
          </select>
        </label>
      )}
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

const AVATAR_KEY = 'avatar';

/** "Upload photo" (tus, as attachments are: progress and a preview while it goes up, then
 * `PUT /users/me/avatar`) and "Remove". */
function AvatarEditor() {
  const u = me.value!;
  const input = useRef<HTMLInputElement>(null);
  const [note, setNote] = useState('');
  const [error, setError] = useState('');
  const p = filesOf(AVATAR_KEY)[0];
  useEffect(() => {
    if (!p || p.status !== 'done' || !p.file) return;
    const id = p.file.id;
    takeFiles(AVATAR_KEY);
    setAvatar(id)
      .then(() => setNote('Photo updated.'))
      .catch((e) => setError(e instanceof ApiError && e.field === 'file_id' ? 'That file is not an image Parley can use. Choose a PNG, JPEG, GIF or WebP picture.' : errText(e)));
  }, [p?.status]);
  useEffect(() => {
    if (p?.status === 'error') setError(p.error ?? 'The upload failed.');
  }, [p?.status]);
  const choose = (f: File | undefined) => {
    if (!f) return;
    setNote('');
    setError('');
    for (const x of filesOf(AVATAR_KEY)) removeFile(AVATAR_KEY, x.key);
    if (!f.type.startsWith('image/')) return setError('Choose an image (PNG, JPEG, GIF or WebP).');
    addFiles(AVATAR_KEY, [f]);
  };
  const remove = async () => {
    setNote('');
    setError('');
    try {
      await setAvatar(null);
      setNote('Photo removed.');
    } catch (e) {
      setError(errText(e));
    }
  };
  const busy = !!p && (p.status === 'uploading' || p.status === 'waiting' || p.status === 'done');
  return (
    <div class="avatar-edit" role="group" aria-labelledby="avatar-h">
      <span id="avatar-h" class="sr-only">
        Profile photo
      </span>
      {busy && p.thumb ? <img class="avatar is-s64" src={p.thumb} alt="" /> : <Avatar userId={u.id} size={64} />}
      <div class="stack">
        <div class="row">
          <input
            ref={input}
            type="file"
            accept="image/png,image/jpeg,image/gif,image/webp"
            class="sr-only"
            tabIndex={-1}
            aria-hidden="true"
            aria-label="Choose a profile photo"
            onChange={(e) => {
              choose(e.currentTarget.files?.[0]);
              e.currentTarget.value = '';
            }}
          />
          <button type="button" class="small" disabled={busy} onClick={() => input.current?.click()}>
            Upload photo
          </button>
          {u.avatar_url && (
            <button type="button" class="small" disabled={busy} onClick={() => void remove()}>
              Remove
            </button>
          )}
        </div>
        {busy && (
          <progress max={p.size || 1} value={p.status === 'done' ? p.size : p.sent} aria-label={`Uploading ${p.name}`} />
        )}
        <span role="status" class="muted small">
          {busy ? (p.status === 'waiting' ? 'Waiting for the network…' : 'Uploading…') : note}
        </span>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
      </div>
    </div>
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
  const version = sessionsVersion.value;
  useEffect(() => {
    void load();
  }, [version]);
  const revoke = async (s: Session) => {
    setError('');
    try {
      await withReauth(() => api(`/auth/sessions/${enc(s.id)}`, { method: 'DELETE' }));
      if (s.current) return void signOut();
      void load();
    } catch (e) {
      if (!(e instanceof ReauthCancelled)) setError(errText(e));
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
      setSetup(await withReauth(() => api<{ secret: string; otpauth_uri: string }>('/auth/totp/setup', { method: 'POST' })));
    } catch (e) {
      if (e instanceof ReauthCancelled) return;
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
      const r = await withReauth(() => api<{ recovery_codes: string[] }>('/auth/totp/enable', { method: 'POST', body: { code: code.trim() } }));
      setCodes(r.recovery_codes);
      setSetup(null);
      setCode('');
      rememberTotp(true);
    } catch (err) {
      if (err instanceof ReauthCancelled) return;
      setError(err instanceof ApiError && err.status === 422 ? 'That code is not right. Check the time on your device and try the next code.' : errText(err));
    }
  };
  const disable = async (e: Event) => {
    e.preventDefault();
    setError('');
    try {
      await withReauth(() => api('/auth/totp/disable', { method: 'POST', body: { code: code.trim() } }));
      rememberTotp(false);
      setDisabling(false);
      setCode('');
      showToast('Two-factor authentication is off.');
    } catch (err) {
      if (err instanceof ReauthCancelled) return;
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
        <EmailSettings />
        <PhoneSettings />
        <PresencePicker />
        <ThemePicker />
        <NotificationSettings />
        <Sessions />
        <TwoFactor />
        <ChangePassword />
        <ExportData />
        <SignOut />
      </div>
    </Modal>
  );
}

function ChangePassword() {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [confirm, setConfirm] = useState('');
  const [error, setError] = useState<{ field: 'current' | 'next' | 'confirm' | null; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState('');
  const submit = async (e: Event) => {
    e.preventDefault();
    setDone('');
    const problem = newPasswordProblem(next, confirm, current);
    if (problem) {
      setError({ field: next !== confirm && [...next].length >= 8 && [...next].length <= 1024 ? 'confirm' : 'next', text: problem });
      return;
    }
    setError(null);
    setBusy(true);
    try {
      await changePassword(current, next);
      setCurrent('');
      setNext('');
      setConfirm('');
      sessionsVersion.value++;
      const text = 'Password changed. Your other devices were signed out; sign in there with the new password.';
      setDone(text);
      showToast(text);
    } catch (err) {
      if (err instanceof ApiError && err.status === 422 && err.field === 'current_password') setError({ field: 'current', text: 'That is not your current password.' });
      else if (err instanceof ApiError && err.status === 422 && err.field === 'password') setError({ field: 'next', text: err.message || 'The new password needs 8 to 1024 characters.' });
      else if (err instanceof ApiError && err.status === 429) setError({ field: null, text: 'Too many attempts. Wait a minute and try again.' });
      else setError({ field: null, text: errText(err) });
    } finally {
      setBusy(false);
    }
  };
  const invalid = (f: 'current' | 'next' | 'confirm') => (error?.field === f ? { 'aria-invalid': true, 'aria-describedby': 'pw-error' } : {});
  return (
    <form class="stack" onSubmit={submit} aria-labelledby="pw-h">
      <h3 id="pw-h">Password</h3>
      <p class="muted small">Changing it signs you out on every other device.</p>
      <label>
        Current password
        <input type="password" required autoComplete="current-password" value={current} onInput={(e) => setCurrent(e.currentTarget.value)} {...invalid('current')} />
      </label>
      <label>
        New password
        <input type="password" required minLength={8} maxLength={1024} autoComplete="new-password" value={next} onInput={(e) => setNext(e.currentTarget.value)} {...invalid('next')} />
      </label>
      <label>
        Confirm new password
        <input type="password" required autoComplete="new-password" value={confirm} onInput={(e) => setConfirm(e.currentTarget.value)} {...invalid('confirm')} />
      </label>
      {error && (
        <p class="error" role="alert" id="pw-error">
          {error.text}
        </p>
      )}
      <div class="row">
        <button type="submit" class="primary" disabled={busy}>
          Change password
        </button>
      </div>
      <p role="status" class="muted small">
        {done}
      </p>
    </form>
  );
}

interface DataExport {
  id: string;
  status: 'pending' | 'ready' | 'failed';
  size?: number;
  download_url?: string;
  expires_at?: number;
}

/** "Export my data": the server builds a ZIP (profile, messages sent, files uploaded) in the
 * background; this polls until it is ready, then offers the download. */
function ExportData() {
  const [job, setJob] = useState<DataExport | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    if (!job || job.status !== 'pending') return;
    const t = window.setTimeout(() => {
      api<{ export: DataExport }>(`/exports/${enc(job.id)}`)
        .then((r) => setJob(r.export))
        .catch((e) => setError(errText(e)));
    }, 1000);
    return () => window.clearTimeout(t);
  }, [job]);
  const start = async () => {
    setError('');
    try {
      const r = await api<{ export: DataExport }>('/users/me/export', { method: 'POST', body: {} });
      setJob(r.export);
    } catch (e) {
      setError(errText(e));
    }
  };
  const download = async () => {
    if (!job?.download_url) return;
    setError('');
    try {
      await saveAuthed(job.download_url.replace(/^\/api\/v1/, ''), `parley-export-${job.id}.zip`);
    } catch (e) {
      setError(errText(e));
    }
  };
  return (
    <section class="stack" aria-labelledby="export-h">
      <h3 id="export-h">Your data</h3>
      <p class="muted small">A ZIP archive of your profile, the messages you sent and the files you uploaded.</p>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <div class="row">
        <button type="button" onClick={() => void start()} disabled={job?.status === 'pending'} aria-label="Export my data">
          Export my data
        </button>
        {job?.status === 'ready' && (
          <button type="button" class="primary" onClick={() => void download()} aria-label="Download my data archive">
            Download ({Math.max(1, Math.round((job.size ?? 0) / 1024))} KB)
          </button>
        )}
        <span role="status" class="muted small">
          {job?.status === 'pending' ? 'Preparing the archive…' : job?.status === 'failed' ? 'The export failed; try again.' : ''}
        </span>
      </div>
    </section>
  );
}

function SignOut() {
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState('');
  const everywhere = async () => {
    setError('');
    try {
      await signOutEverywhere();
    } catch (e) {
      setError(errText(e));
    }
  };
  return (
    <section class="stack" aria-label="Sign out">
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {!confirming ? (
        <div class="row">
          <button type="button" class="danger" onClick={() => void signOut()}>
            Sign out
          </button>
          <button type="button" onClick={() => setConfirming(true)}>
            Sign out everywhere
          </button>
        </div>
      ) : (
        <div class="confirm-leave" role="alertdialog" aria-label="Sign out everywhere?">
          <p>Sign out on every device, this one included? Each will ask for the password again.</p>
          <div class="row">
            <button type="button" class="danger" onClick={() => void everywhere()}>
              Sign out everywhere
            </button>
            <button type="button" onClick={() => setConfirming(false)} autoFocus>
              Cancel
            </button>
          </div>
        </div>
      )}
    </section>
  );
}

/** Shown when the server answers `reauth_required`: a password (or, with 2FA on, a code) is
 * checked with `POST /auth/reauth`, then the waiting action runs again by itself. */
export function ReauthDialog() {
  const prompt = reauthPrompt.value;
  const [kind, setKind] = useState<'password' | 'code'>('password');
  const [value, setValue] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  // Focus goes back where it was (the button that asked) once this modal is gone, when that
  // is still there. Read at first render, before the modal takes the focus.
  const [before] = useState(() => document.activeElement as HTMLElement | null);
  useEffect(
    () => () => {
      setTimeout(() => {
        if (before?.isConnected && !document.querySelector('dialog.modal[aria-label="Confirm it’s you"]')) before.focus();
      }, 0);
    },
    [],
  );
  if (!prompt) return null;
  const cancel = () => prompt.resolve(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError('');
    setBusy(true);
    try {
      await reauthenticate(reauthBody(kind, value));
      prompt.resolve(true);
    } catch (err) {
      if (err instanceof ApiError && err.status === 422)
        setError(err.field === 'totp_code' || kind === 'code' ? 'That code is not right.' : 'That password is not right.');
      else if (err instanceof ApiError && err.status === 429) setError('Too many attempts. Wait a minute and try again.');
      else setError(errText(err));
    } finally {
      setBusy(false);
    }
  };
  const other = kind === 'password' ? 'code' : 'password';
  return (
    <Modal title="Confirm it’s you" onClose={cancel}>
      <form class="stack" onSubmit={submit}>
        <p>For this change, enter your {kind === 'password' ? 'password' : 'authenticator code or a recovery code'} again.</p>
        {kind === 'password' ? (
          <label key="pw">
            Password
            <input
              type="password"
              required
              autoFocus
              autoComplete="current-password"
              value={value}
              onInput={(e) => setValue(e.currentTarget.value)}
              aria-invalid={error ? true : undefined}
              aria-describedby={error ? 'reauth-error' : undefined}
            />
          </label>
        ) : (
          <label key="code">
            Code
            <input
              required
              autoFocus
              inputMode="numeric"
              autoComplete="one-time-code"
              value={value}
              onInput={(e) => setValue(e.currentTarget.value)}
              aria-invalid={error ? true : undefined}
              aria-describedby={error ? 'reauth-error' : undefined}
            />
          </label>
        )}
        {error && (
          <p class="error" role="alert" id="reauth-error">
            {error}
          </p>
        )}
        <div class="row">
          <button type="submit" class="primary" disabled={busy || !value}>
            Confirm
          </button>
          <button type="button" onClick={cancel}>
            Cancel
          </button>
          {totpEnabled.value === true && (
            <button
              type="button"
              class="link"
              onClick={() => {
                setKind(other);
                setValue('');
                setError('');
              }}
            >
              {other === 'code' ? 'Use a code instead' : 'Use the password instead'}
            </button>
          )}
        </div>
      </form>
    </Modal>
  );
}
