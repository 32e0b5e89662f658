// Account security helpers without UI or network of their own (unit-tested): the re-auth retry
// and the new-password checks.
import { ApiError } from './api';

/** Thrown when the person closes the "confirm it's you" dialog: the action was not done. */
export class ReauthCancelled extends Error {
  constructor() {
    super('Cancelled');
    this.name = 'ReauthCancelled';
  }
}

export function isReauthRequired(e: unknown): boolean {
  return e instanceof ApiError && e.status === 403 && e.code === 'reauth_required';
}

/**
 * Runs `action`; when the server answers 403 `reauth_required`, asks for a fresh credential
 * check (`ask` resolves true once `POST /auth/reauth` succeeded, false when cancelled) and runs
 * the action once more. Any other error, and a second refusal, go to the caller.
 */
export async function withReauthUsing<T>(action: () => Promise<T>, ask: () => Promise<boolean>): Promise<T> {
  try {
    return await action();
  } catch (e) {
    if (!isReauthRequired(e)) throw e;
    if (!(await ask())) throw new ReauthCancelled();
    return action();
  }
}

/** The body of `POST /auth/reauth`: a password, or a TOTP/recovery code. */
export function reauthBody(kind: 'password' | 'code', value: string): { password: string } | { totp_code: string } {
  return kind === 'password' ? { password: value } : { totp_code: value.replace(/\s+/g, '') };
}

/** What is wrong with a new password before it is sent (the server allows 8–1024 characters). */
export function newPasswordProblem(next: string, confirm: string, current?: string): string | null {
  const n = [...next].length;
  if (n < 8) return 'The new password needs at least 8 characters.';
  if (n > 1024) return 'The new password can have at most 1024 characters.';
  if (next !== confirm) return 'The two new passwords do not match.';
  if (current !== undefined && current === next) return 'The new password is the same as the current one.';
  return null;
}

export type MailLink = { kind: 'reset' | 'verify-email'; token: string };

/** A link Parley mailed, read from a location hash ("#reset=…", "#verify-email=…"); null for
 * anything else. Tokens are base64url, 16 to 128 characters. */
export function parseMailLink(hash: string): MailLink | null {
  const m = /^#(reset|verify-email)=([A-Za-z0-9_-]{16,128})$/.exec(hash);
  return m ? { kind: m[1] as MailLink['kind'], token: m[2] } : null;
}
