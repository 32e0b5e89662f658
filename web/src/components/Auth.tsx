// Sign in (with a TOTP step when the server asks for one) and sign up.
import { useState } from 'preact/hooks';
import { ApiError } from '../api';
import { friendlyError } from '../format';
import { signIn, signUp } from '../state/store';
import { ForgotPasswordForm } from './MailLinks';

export function AuthScreen() {
  const [mode, setMode] = useState<'in' | 'up' | 'forgot'>('in');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [totp, setTotp] = useState('');
  const [needTotp, setNeedTotp] = useState(false);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      if (mode === 'up') await signUp(username.trim(), password, displayName.trim());
      else await signIn(username.trim(), password, needTotp ? totp.trim() : undefined);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'totp_required') {
        if (needTotp) setError('That code did not work. Try the current code, or a recovery code.');
        setNeedTotp(true);
        setTotp('');
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
        {!needTotp && (
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
        <button class="primary" type="submit" disabled={busy}>
          {mode === 'up' ? 'Create account' : needTotp ? 'Verify' : 'Sign in'}
        </button>
        {mode === 'in' && !needTotp && (
          <p class="switch">
            <button type="button" class="link" onClick={() => setMode('forgot')}>
              Forgot password?
            </button>
          </p>
        )}
        {needTotp ? (
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
