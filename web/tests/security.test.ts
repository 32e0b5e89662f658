import { describe, expect, it, vi } from 'vitest';
import { ApiError } from '../src/api';
import { isReauthRequired, newPasswordProblem, parseMailLink, ReauthCancelled, reauthBody, withReauthUsing } from '../src/security';

const reauth = () => new ApiError(403, 'reauth_required', 'Confirm your password');

describe('withReauthUsing', () => {
  it('returns the answer without asking when the action succeeds', async () => {
    const ask = vi.fn(async () => true);
    expect(await withReauthUsing(async () => 7, ask)).toBe(7);
    expect(ask).not.toHaveBeenCalled();
  });

  it('asks once on reauth_required, then retries the action', async () => {
    let calls = 0;
    const action = vi.fn(async () => {
      if (calls++ === 0) throw reauth();
      return 'done';
    });
    const ask = vi.fn(async () => true);
    expect(await withReauthUsing(action, ask)).toBe('done');
    expect(ask).toHaveBeenCalledTimes(1);
    expect(action).toHaveBeenCalledTimes(2);
  });

  it('rejects with ReauthCancelled and does not retry when the person cancels', async () => {
    const action = vi.fn(async () => {
      throw reauth();
    });
    await expect(withReauthUsing(action, async () => false)).rejects.toBeInstanceOf(ReauthCancelled);
    expect(action).toHaveBeenCalledTimes(1);
  });

  it('passes other errors through without asking', async () => {
    const ask = vi.fn(async () => true);
    const err = new ApiError(403, 'forbidden', 'No');
    await expect(withReauthUsing(async () => Promise.reject(err), ask)).rejects.toBe(err);
    await expect(withReauthUsing(async () => Promise.reject(new ApiError(409, 'conflict', 'x')), ask)).rejects.toBeInstanceOf(ApiError);
    expect(ask).not.toHaveBeenCalled();
  });

  it('asks at most once: a second refusal goes to the caller', async () => {
    const ask = vi.fn(async () => true);
    await expect(withReauthUsing(async () => Promise.reject(reauth()), ask)).rejects.toSatisfy(isReauthRequired);
    expect(ask).toHaveBeenCalledTimes(1);
  });
});

describe('isReauthRequired', () => {
  it('matches only 403 reauth_required', () => {
    expect(isReauthRequired(reauth())).toBe(true);
    expect(isReauthRequired(new ApiError(401, 'reauth_required', ''))).toBe(false);
    expect(isReauthRequired(new ApiError(403, 'forbidden', ''))).toBe(false);
    expect(isReauthRequired(new Error('reauth_required'))).toBe(false);
  });
});

describe('reauthBody', () => {
  it('sends a password as is, a code without spaces', () => {
    expect(reauthBody('password', ' pass word ')).toEqual({ password: ' pass word ' });
    expect(reauthBody('code', '123 456')).toEqual({ totp_code: '123456' });
  });
});

describe('newPasswordProblem', () => {
  it('accepts 8 to 1024 characters that match', () => {
    expect(newPasswordProblem('12345678', '12345678')).toBeNull();
    expect(newPasswordProblem('x'.repeat(1024), 'x'.repeat(1024))).toBeNull();
    expect(newPasswordProblem('😀'.repeat(8), '😀'.repeat(8))).toBeNull();
  });
  it('names the problem', () => {
    expect(newPasswordProblem('1234567', '1234567')).toMatch(/at least 8/);
    expect(newPasswordProblem('x'.repeat(1025), 'x'.repeat(1025))).toMatch(/at most 1024/);
    expect(newPasswordProblem('12345678', '12345679')).toMatch(/do not match/);
    expect(newPasswordProblem('12345678', '12345678', '12345678')).toMatch(/same as the current/);
  });
});

describe('parseMailLink', () => {
  const token = 'AbC_-0123456789xyzXYZ0123456789abcdefghijk';
  it('reads reset and verification links', () => {
    expect(parseMailLink(`#reset=${token}`)).toEqual({ kind: 'reset', token });
    expect(parseMailLink(`#verify-email=${token}`)).toEqual({ kind: 'verify-email', token });
  });
  it('ignores anything else', () => {
    for (const h of ['', '#', '#reset=', '#reset=short', `#other=${token}`, `#reset=${token}&x=1`, `#reset=${token}<script>`, `reset=${token}`])
      expect(parseMailLink(h)).toBeNull();
  });
});
