// Sign in (with a TOTP step when the server asks for one) and sign up, and "Sign in with
// <provider>" for each single sign-on provider the server offers (GET /auth/providers). When the
// server allows single sign-on only, the password form is not shown.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, signInOptions, type SignInOptions } from '../api';
import { friendlyError } from '../format';
import { signIn, signUp, ssoError } from '../state/store';
import { inviteFromHash } from './admin/adminApi';
import { ForgotPasswordForm } from './MailLinks';

interface RegistrationInfo {
  registration: 'open' | 'invite_only' | 'closed';
  invite_required: boolean;
  email_required: boolean;
}

export function AuthScreen() {
  // An invite link (/#invite=TOKEN: the fragment never reaches the server) opens sign-up with
  // the invite filled in, and is then taken out of the address bar.
  const [invite, setInvite] = useState(() => inviteFromHash(location.hash) ?? '');
  const [mode, setMode] = useState<'in' | 'up' | 'forgot'>(invite ? 'up' : 'in');
  const [email, setEmail] = useState('');
  const [reg, setReg] = useState<RegistrationInfo | null>(null);
  useEffect(() => {
    if (inviteFromHash(location.hash)) history.replaceState(null, '', location.pathname + location.search);
    api<RegistrationInfo>('/auth/registration', { auth: false })
      .then(setReg)
      .catch(() => setReg(null));
  }, []);
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [totp, setTotp] = useState('');
  const [needTotp, setNeedTotp] = useState(false);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const [options, setOptions] = useState<SignInOptions | null>(null);

  useEffect(() => {
    signInOptions()
      .then(setOptions)
      .catch(() => setOptions({ providers: [], password_login: true }));
  }, []);
  const passwords = options?.password_login !== false;
  const providers = options?.providers ?? [];

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      if (mode === 'up')
        await signUp(username.trim(), password, displayName.trim(), { email: email.trim() || undefined, invite_token: invite.trim() || undefined });
      else await signIn(username.trim(), password, needTotp ? totp.trim() : undefined);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'totp_required') {
        if (needTotp) setError('That code did not work. Try the current code, or a recovery code.');
        setNeedTotp(true);
        setTotp('');
      } else if (err instanceof ApiError && err.code === 'deactivated') {
        setError('This account has been deactivated by an administrator.');
      } else if (err instanceof ApiError && err.field === 'invite_token') {
        setError('This server needs a valid invite to register. Ask an administrator for an invite link.');
      } else if (err instanceof ApiError) {
        setError(friendlyError(err, mode === 'up' ? 'sign-up' : 'sign-in'));
      } else setError(friendlyError({ message: String(err) }));
    } finally {
      setBusy(false);
    }
  };

  const switchMode = () => {
    setMode(mode === 'in' ? 'up' : 'in');
    setError('');
    setNeedTotp(false);
  };

  if (mode === 'forgot') return <ForgotPasswordForm onBack={() => setMode('in')} />;

  return (
    <main class="auth">
      <form class="auth-card" onSubmit={submit} aria-labelledby="auth-title">
        <div class="brand" aria-hidden="true">
          <img src="/icons/icon.svg" alt="" width={40} height={40} />
        </div>
        <h1 id="auth-title">{mode === 'in' ? 'Sign in to Parley' : 'Create your Parley account'}</h1>
        {ssoError.value && (
          <p class="error" role="alert">
            {ssoError.value}
          </p>
        )}
        {(mode === 'in' || !passwords) && !needTotp && providers.length > 0 && (
          <div class="sso-buttons">
            {providers.map((p) => (
              <a
                key={p.name}
                class="sso-button"
                href={p.start_url}
                aria-label={`Sign in with ${p.display_name}`}
                onClick={() => (ssoError.value = '')}
              >
                Sign in with {p.display_name}
              </a>
            ))}
            {passwords && (
              <p class="sso-divider" aria-hidden="true">
                <span>or</span>
              </p>
            )}
          </div>
        )}
        {passwords && !needTotp && (
          <>
            <label>
              Username
              <input
                name="username"
                autoComplete="username"
                autoCapitalize="none"
                spellcheck={false}
                autoFocus
                required
                minLength={3}
                maxLength={32}
                value={username}
                onInput={(e) => setUsername(e.currentTarget.value)}
              />
            </label>
            {mode === 'up' && reg?.registration === 'closed' && (
              <p class="muted small" role="status">
                Registration is closed on this server.
              </p>
            )}
            {mode === 'up' && (reg?.email_required || email) && (
              <label>
                Email
                <input name="email" type="email" autoComplete="email" required={!!reg?.email_required} value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
              </label>
            )}
            {mode === 'up' && (reg?.invite_required || invite) && (
              <label>
                Invite code
                <input name="invite" autoComplete="off" spellcheck={false} required={!!reg?.invite_required} value={invite} onInput={(e) => setInvite(e.currentTarget.value)} />
              </label>
            )}
            {mode === 'up' && (
              <label>
                Display name <span class="muted">(optional)</span>
                <input name="display_name" autoComplete="name" maxLength={64} value={displayName} onInput={(e) => setDisplayName(e.currentTarget.value)} />
              </label>
            )}
            <label>
              Password
              <input
                name="password"
                type="password"
                autoComplete={mode === 'in' ? 'current-password' : 'new-password'}
                required
                minLength={mode === 'up' ? 8 : 1}
                value={password}
                onInput={(e) => setPassword(e.currentTarget.value)}
              />
            </label>
          </>
        )}
        {needTotp && (
          <label>
            Authentication code
            <input
              name="totp"
              autoComplete="one-time-code"
              inputMode="text"
              required
              autoFocus
              value={totp}
              onInput={(e) => setTotp(e.currentTarget.value)}
            />
            <span class="hint">The 6-digit code from your authenticator app, or a recovery code.</span>
          </label>
        )}
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        {passwords && (
          <button class="primary" type="submit" disabled={busy}>
            {mode === 'up' ? 'Create account' : needTotp ? 'Verify' : 'Sign in'}
          </button>
        )}
        {passwords && mode === 'in' && !needTotp && (
          <p class="switch">
            <button type="button" class="link" onClick={() => setMode('forgot')}>
              Forgot password?
            </button>
          </p>
        )}
        {!passwords && providers.length === 0 && options && (
          <p class="hint">This server has no sign-in method configured. Ask its administrator.</p>
        )}
        {!passwords ? null : needTotp ? (
          <button type="button" class="link" onClick={() => setNeedTotp(false)}>
            Back
          </button>
        ) : (
          <p class="switch">
            {mode === 'in' ? 'New here? ' : 'Have an account? '}
            <button type="button" class="link" onClick={switchMode}>
              {mode === 'in' ? 'Create an account' : 'Sign in instead'}
            </button>
          </p>
        )}
      </form>
    </main>
  );
}
