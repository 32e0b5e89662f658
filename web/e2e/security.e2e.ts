// Account security in Settings against the real server: changing the password, signing out
// everywhere, and the "confirm it's you" dialog that answers 403 `reauth_required` (forced with
// page.route, as the server only asks 10 minutes after the last credential check).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { apiCall, axeViolations, launch, openPage, overflowX, PASSWORD, registerUser, Server, shots, signInUi, until, type Watched } from './harness';

const server = new Server();
let browser: Browser;
const opened: Watched[] = [];
const NEW_PASSWORD = 'battery staple horse';

async function open(size = { width: 1280, height: 800 }): Promise<Watched> {
  const w = await openPage(browser, server.url, { viewport: size });
  opened.push(w);
  return w;
}

async function openSettings(p: Page) {
  await p.getByRole('button', { name: 'Profile and settings' }).click();
  const s = p.getByRole('dialog', { name: 'Settings' });
  await s.waitFor();
  return s;
}

async function signInWith(p: Page, username: string, password: string) {
  await p.getByLabel('Username').fill(username);
  await p.getByLabel('Password').fill(password);
  await p.getByRole('button', { name: 'Sign in' }).click();
}

async function loginStatus(username: string, password: string): Promise<number> {
  const r = await fetch(`${server.url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  return r.status;
}

beforeAll(async () => {
  await server.start();
  browser = await launch();
  await registerUser(server.url, 'gina', 'Gina');
  await registerUser(server.url, 'hank', 'Hank');
  await registerUser(server.url, 'ivy', 'Ivy');
  await registerUser(server.url, 'jack', 'Jack');
});

afterAll(async () => {
  await browser?.close();
  await server.stop();
  server.cleanup();
});

describe.sequential('account security in Settings', () => {
  it('change password: a wrong current password is refused inline, then the new password signs in and the old one fails', async () => {
    const w = await open();
    const p = w.page;
    await signInUi(w, 'gina');
    const s = await openSettings(p);
    const form = s.getByRole('form', { name: 'Password' });
    // The two new passwords must match (checked before sending).
    await form.getByLabel('Current password').fill(PASSWORD);
    await form.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
    await form.getByLabel('Confirm new password').fill('something else');
    await form.getByRole('button', { name: 'Change password' }).click();
    await form.getByRole('alert').filter({ hasText: 'do not match' }).waitFor();
    // A wrong current password: 422 current_password, shown inline.
    await form.getByLabel('Current password').fill('not my password');
    await form.getByLabel('Confirm new password').fill(NEW_PASSWORD);
    await form.getByRole('button', { name: 'Change password' }).click();
    await form.getByRole('alert').filter({ hasText: 'not your current password' }).waitFor();
    expect(await form.getByLabel('Current password').getAttribute('aria-invalid')).toBe('true');
    // The right one: 204, a toast that says the other devices were signed out.
    await form.getByLabel('Current password').fill(PASSWORD);
    await form.getByRole('button', { name: 'Change password' }).click();
    await p.locator('.toast').filter({ hasText: 'other devices were signed out' }).waitFor();
    await form.getByRole('status').filter({ hasText: 'other devices were signed out' }).waitFor();
    expect(await form.getByLabel('Current password').inputValue()).toBe('');
    // This session stays signed in.
    await s.getByRole('button', { name: 'Close' }).click();
    await p.getByRole('navigation', { name: 'Conversations' }).waitFor();
    expect(await loginStatus('gina', PASSWORD)).toBe(401);
    expect(await loginStatus('gina', NEW_PASSWORD)).toBe(200);
    // In the browser too: sign out, the old password fails, the new one works.
    await (await openSettings(p)).getByRole('button', { name: 'Sign out', exact: true }).click();
    await signInWith(p, 'gina', PASSWORD);
    await p.getByRole('alert').first().waitFor();
    expect(await p.getByRole('navigation', { name: 'Conversations' }).count()).toBe(0);
    await signInWith(p, 'gina', NEW_PASSWORD);
    await p.getByRole('navigation', { name: 'Conversations' }).waitFor();
    expect(w.problems).toEqual([]);
  });

  it('sign out everywhere asks first, signs this browser out with its data cleared, and a second browser lands on sign-in', async () => {
    const a = await open();
    const b = await open();
    await signInUi(a, 'hank');
    await signInUi(b, 'hank');
    await a.page.evaluate(() => localStorage.setItem('parley.draft.x', 'secret'));
    const s = await openSettings(a.page);
    await s.getByRole('button', { name: 'Sign out everywhere' }).click();
    const confirm = s.getByRole('alertdialog', { name: 'Sign out everywhere?' });
    await confirm.waitFor();
    // Cancel keeps everyone signed in.
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await s.getByRole('button', { name: 'Sign out everywhere' }).click();
    const sent = a.page.waitForRequest((r) => r.url().endsWith('/api/v1/auth/logout-all') && r.method() === 'POST');
    await confirm.getByRole('button', { name: 'Sign out everywhere' }).click();
    await sent;
    await a.page.getByLabel('Username').waitFor();
    await until('stored data cleared', async () =>
      (await a.page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('parley.') && k !== 'parley.theme').length)) === 0,
    );
    // The other browser: its socket is closed with 4001 and its refresh token is gone.
    await b.page.getByLabel('Username').waitFor({ timeout: 20_000 });
    expect(await b.page.evaluate(() => localStorage.getItem('parley.refresh_token'))).toBeNull();
    expect(a.problems).toEqual([]);
    expect(b.problems).toEqual([]);
  });

  it('reauth_required on 2FA set-up opens "Confirm it’s you"; a wrong password is shown inline, the right one retries set-up', async () => {
    const w = await open();
    const p = w.page;
    await signInUi(w, 'ivy');
    let setupCalls = 0;
    await p.route('**/api/v1/auth/totp/setup', async (route) => {
      setupCalls++;
      if (setupCalls === 1)
        return route.fulfill({
          status: 403,
          contentType: 'application/json',
          body: JSON.stringify({ error: { code: 'reauth_required', message: 'Confirm your password to continue' } }),
        });
      return route.continue();
    });
    const reauthBodies: unknown[] = [];
    p.on('request', (r) => {
      if (r.url().endsWith('/api/v1/auth/reauth') && r.method() === 'POST') reauthBodies.push(r.postDataJSON());
    });
    const s = await openSettings(p);
    await s.getByRole('button', { name: 'Set up two-factor authentication' }).click();
    const d = p.getByRole('dialog', { name: 'Confirm it’s you' });
    await d.waitFor();
    const pw = d.getByLabel('Password', { exact: true });
    await until('focus in the password box', () => pw.evaluate((el) => el === document.activeElement));
    for (const size of [
      { width: 1280, height: 800 },
      { width: 390, height: 844 },
    ]) {
      await p.setViewportSize(size);
      expect(await overflowX(p)).toBe(0);
      expect(await axeViolations(p)).toEqual([]);
      await shots(p, `s03-reauth-${size.width}`);
    }
    await p.setViewportSize({ width: 1280, height: 800 });
    // Wrong password: 422, inline, the dialog stays.
    await pw.fill('wrong password');
    await d.getByRole('button', { name: 'Confirm' }).click();
    await d.getByRole('alert').filter({ hasText: 'password is not right' }).waitFor();
    expect(await pw.getAttribute('aria-invalid')).toBe('true');
    expect(setupCalls).toBe(1);
    // Right password: reauth, then set-up runs again by itself.
    await pw.fill(PASSWORD);
    await d.getByRole('button', { name: 'Confirm' }).click();
    await d.waitFor({ state: 'detached' });
    await s.getByRole('img', { name: 'QR code for your authenticator app' }).waitFor();
    expect(setupCalls).toBe(2);
    expect(reauthBodies).toEqual([{ password: 'wrong password' }, { password: PASSWORD }]);
    await s.getByRole('button', { name: 'Cancel' }).click();
    await p.unroute('**/api/v1/auth/totp/setup');
    expect(w.problems).toEqual([]);
  });

  it('revoking another session goes through the same dialog; cancelling it leaves the session', async () => {
    const w = await open();
    const p = w.page;
    await signInUi(w, 'jack');
    const other = await apiCall<{ access_token: string }>(server.url, '/auth/login', {
      method: 'POST',
      body: { username: 'jack', password: PASSWORD, device_name: 'Old laptop' },
    });
    let deletes = 0;
    await p.route('**/api/v1/auth/sessions/*', async (route) => {
      if (route.request().method() !== 'DELETE') return route.continue();
      // The first two tries are refused (the first is cancelled); the retry after reauth passes.
      if (deletes++ < 2)
        return route.fulfill({ status: 403, contentType: 'application/json', body: JSON.stringify({ error: { code: 'reauth_required', message: 'Confirm' } }) });
      return route.continue();
    });
    const s = await openSettings(p);
    const revoke = s.getByRole('button', { name: 'Revoke session Old laptop' });
    await revoke.click();
    const d = p.getByRole('dialog', { name: 'Confirm it’s you' });
    await d.waitFor();
    await d.getByRole('button', { name: 'Cancel' }).click();
    await d.waitFor({ state: 'detached' });
    await until('focus back on the Revoke button', () => revoke.evaluate((el) => el === document.activeElement));
    expect(deletes).toBe(1);
    expect(await s.getByRole('alert').count()).toBe(0);
    await revoke.click();
    await d.waitFor();
    await d.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await d.getByRole('button', { name: 'Confirm' }).click();
    await revoke.waitFor({ state: 'detached' });
    expect(deletes).toBe(3);
    const r = await fetch(`${server.url}/api/v1/users/me`, { headers: { Authorization: `Bearer ${other.access_token}` } });
    expect(r.status).toBe(401);
    expect(w.problems).toEqual([]);
  });

  it('with 2FA on, the reauth dialog also takes a code and sends it as totp_code', async () => {
    const w = await open();
    const p = w.page;
    await signInUi(w, 'jack');
    // This browser believes 2FA is on (as after a sign-in that asked for a code); the server's
    // answers to disable and reauth are stubbed, as the account has no real secret.
    // (The sign-in writes its own 'off' just after the sidebar shows: wait for it.)
    await until('2FA state stored', () => p.evaluate(() => Object.keys(localStorage).some((k) => k.startsWith('parley.totp.'))));
    await p.evaluate(() => {
      const key = Object.keys(localStorage).find((k) => k.startsWith('parley.totp.'))!;
      localStorage.setItem(key, 'on');
    });
    await p.reload();
    await p.getByRole('navigation', { name: 'Conversations' }).waitFor();
    let disables = 0;
    const disableBodies: unknown[] = [];
    await p.route('**/api/v1/auth/totp/disable', async (route) => {
      disableBodies.push(route.request().postDataJSON());
      if (disables++ === 0)
        return route.fulfill({ status: 403, contentType: 'application/json', body: JSON.stringify({ error: { code: 'reauth_required', message: 'Confirm' } }) });
      return route.fulfill({ status: 204 });
    });
    const reauthBodies: unknown[] = [];
    await p.route('**/api/v1/auth/reauth', async (route) => {
      const body = route.request().postDataJSON();
      reauthBodies.push(body);
      if (body.totp_code === '000000')
        return route.fulfill({ status: 422, contentType: 'application/json', body: JSON.stringify({ error: { code: 'validation_failed', message: 'wrong code', field: 'totp_code' } }) });
      return route.fulfill({ status: 204 });
    });
    const s = await openSettings(p);
    await s.getByRole('button', { name: 'Turn off two-factor authentication' }).click();
    await s.getByLabel('Code or recovery code').fill('123456');
    await s.getByRole('button', { name: 'Turn off', exact: true }).click();
    const d = p.getByRole('dialog', { name: 'Confirm it’s you' });
    await d.waitFor();
    await d.getByRole('button', { name: 'Use a code instead' }).click();
    const code = d.getByLabel('Code', { exact: true });
    await code.fill('000000');
    await d.getByRole('button', { name: 'Confirm' }).click();
    await d.getByRole('alert').filter({ hasText: 'code is not right' }).waitFor();
    await code.fill('654 321');
    await d.getByRole('button', { name: 'Confirm' }).click();
    await d.waitFor({ state: 'detached' });
    await s.getByRole('button', { name: 'Set up two-factor authentication' }).waitFor();
    expect(reauthBodies).toEqual([{ totp_code: '000000' }, { totp_code: '654321' }]);
    expect(disableBodies).toEqual([{ code: '123456' }, { code: '123456' }]);
    expect(w.problems).toEqual([]);
  });

  it('the Settings security sections: no horizontal overflow, axe clean, every control named, screenshots', async () => {
    for (const size of [
      { width: 1280, height: 800 },
      { width: 390, height: 844 },
    ]) {
      const w = await open(size);
      const p = w.page;
      await signInUi(w, 'ivy');
      const s = await openSettings(p);
      await s.getByRole('heading', { name: 'Password' }).scrollIntoViewIfNeeded();
      expect(await overflowX(p)).toBe(0);
      expect(await axeViolations(p)).toEqual([]);
      const unnamed = await s.evaluate((root) =>
        [...root.querySelectorAll('button, input, select, textarea, a[href]')]
          .filter((el) => {
            const e = el as HTMLElement;
            const labelled = e.getAttribute('aria-label') || e.getAttribute('aria-labelledby') || (e as HTMLInputElement).labels?.length || e.textContent?.trim();
            return !labelled;
          })
          .map((el) => el.outerHTML.slice(0, 80)),
      );
      expect(unnamed).toEqual([]);
      await shots(p, `s01-settings-password-${size.width}`);
      await s.getByRole('button', { name: 'Sign out everywhere' }).click();
      await s.getByRole('alertdialog', { name: 'Sign out everywhere?' }).scrollIntoViewIfNeeded();
      expect(await overflowX(p)).toBe(0);
      expect(await axeViolations(p)).toEqual([]);
      await shots(p, `s02-settings-sign-out-everywhere-${size.width}`);
      await s.getByRole('alertdialog').getByRole('button', { name: 'Cancel' }).click();
      expect(w.problems).toEqual([]);
    }
  });
});
