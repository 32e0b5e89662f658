// Single sign-on from the web app: "Sign in with <provider>" on the sign-in screen, through a
// real OpenID Connect provider's sign-in page (oidc-provider on loopback, started by
// scripts/oidc-provider.sh), back into the app signed in; a refused sign-on explained; and the
// password form hidden when the server allows single sign-on only. Skips (one line) where the
// provider cannot run (no node/npm for its package).
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { apiCall, axeViolations, launch, openPage, overflowX, registerUser, Server, shots, type Watched } from './harness';

const SCRIPT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../scripts/oidc-provider.sh');
const providerDir = mkdtempSync(join(tmpdir(), 'parley-e2e-oidc-'));
let provider: Record<string, string> | null = null;
let skipWhy = '';

function startProvider() {
  const s = spawnSync(SCRIPT, ['start', providerDir], { encoding: 'utf8' });
  if (s.status === 3) {
    skipWhy = s.stderr.trim();
    return;
  }
  if (s.status !== 0) throw new Error(`oidc-provider.sh start: ${s.stderr}`);
  const env = spawnSync(SCRIPT, ['env', providerDir], { encoding: 'utf8' }).stdout;
  provider = Object.fromEntries([...env.matchAll(/export (\w+)='([^']*)'/g)].map((m) => [m[1], m[2]]));
}
startProvider();
if (skipWhy) console.log(`oidc e2e: skipped (${skipWhy})`);

function oidcFlag(): string[] {
  const p = provider!;
  return ['--oidc', `corp=${p.PARLEY_TEST_OIDC_ISSUER},${p.PARLEY_TEST_OIDC_CLIENT_ID},${p.PARLEY_TEST_OIDC_CLIENT_SECRET}`];
}

const server = new Server();
const ssoOnly = new Server();
let browser: Browser;
const opened: Watched[] = [];

async function open(base: string, size = { width: 1280, height: 800 }): Promise<Watched> {
  const w = await openPage(browser, base, { viewport: size });
  opened.push(w);
  return w;
}

/** At the provider's own sign-in page: any login and password is accepted there. */
async function providerSignIn(p: Page, login: string) {
  await p.waitForURL((u) => u.toString().startsWith(provider!.PARLEY_TEST_OIDC_ISSUER));
  await p.locator('input[name="login"]').fill(login);
  await p.locator('input[name="password"]').fill('provider password');
  await p.getByRole('button', { name: 'Sign-in' }).click();
}

beforeAll(async () => {
  if (!provider) return;
  server.extraArgs = oidcFlag();
  ssoOnly.extraArgs = [...oidcFlag(), '--disable-password-login'];
  await server.start();
  await ssoOnly.start();
  browser = await launch();
});

afterAll(async () => {
  await browser?.close();
  for (const s of [server, ssoOnly]) {
    if (s.proc) await s.stop();
    s.cleanup();
  }
  spawnSync(SCRIPT, ['stop', providerDir]);
});

describe.skipIf(!!skipWhy).sequential('single sign-on', () => {
  it('signs in with the provider from the sign-in screen, through its login page, and lands in the app', async () => {
    const w = await open(server.url);
    const p = w.page;
    await p.goto('/');
    const button = p.getByRole('link', { name: 'Sign in with Corp' });
    await button.waitFor();
    // The password form is offered too.
    await p.getByLabel('Username').waitFor();
    await shots(p, 'oidc-sign-in-desktop');
    expect(await axeViolations(p)).toEqual([]);
    await button.click();
    await providerSignIn(p, 'olivia');
    await p.getByRole('navigation', { name: 'Conversations' }).waitFor();
    // The address holds no token, code or marker once back.
    expect(new URL(p.url()).search).toBe('');
    expect(await p.evaluate(() => localStorage.getItem('parley.refresh_token'))).toBeTruthy();
    // The account was made from the provider's preferred_username.
    const observer = await registerUser(server.url, 'observer');
    const found = await apiCall<{ users: { username: string; display_name: string }[] }>(server.url, '/users?q=olivia', { token: observer.access_token });
    expect(found.users.map((u) => [u.username, u.display_name])).toEqual([['olivia', 'Test olivia']]);
    // A reload stays signed in (the refresh token was stored like a password sign-in's).
    await p.reload();
    await p.getByRole('navigation', { name: 'Conversations' }).waitFor();
    expect(w.problems).toEqual([]);
  });

  it('explains a refused sign-on and offers to start again', async () => {
    const w = await open(server.url);
    const p = w.page;
    // A callback whose state this server never issued (a stale or forged link).
    await p.goto('/api/v1/auth/oidc/corp/callback?code=x&state=forged');
    await p.getByRole('alert').filter({ hasText: 'expired or was started elsewhere' }).waitFor();
    expect(new URL(p.url()).search).toBe('');
    await p.getByRole('link', { name: 'Sign in with Corp' }).waitFor();
    expect(w.problems).toEqual([]);
  });

  it('hides the password form when the server allows single sign-on only, on a phone too', async () => {
    for (const size of [
      { width: 1280, height: 800 },
      { width: 390, height: 844 },
    ]) {
      const w = await open(ssoOnly.url, size);
      const p = w.page;
      await p.goto('/');
      await p.getByRole('link', { name: 'Sign in with Corp' }).waitFor();
      expect(await p.getByLabel('Username').count()).toBe(0);
      expect(await p.getByLabel('Password').count()).toBe(0);
      expect(await p.getByRole('button', { name: 'Create an account' }).count()).toBe(0);
      expect(await overflowX(p)).toBe(0);
      await shots(p, `oidc-sso-only-${size.width < 500 ? 'phone' : 'desktop'}`);
      if (size.width < 500) {
        await p.getByRole('link', { name: 'Sign in with Corp' }).click();
        await providerSignIn(p, 'pat');
        await p.getByRole('navigation', { name: 'Conversations' }).waitFor();
      }
      expect(w.problems).toEqual([]);
    }
  });
});
