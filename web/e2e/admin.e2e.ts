// The admin console against the real server: the first account is the admin and finds the
// console in the sidebar; a non-admin never sees it; deactivating a user in the console signs
// that user's open page out (their socket closes at once and their tokens stop working).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { apiCall, axeViolations, launch, openPage, overflowX, PASSWORD, registerUser, Server, shots, signInUi, until, type Watched } from './harness';

const server = new Server();
let browser: Browser;
const opened: Watched[] = [];

async function open(size = { width: 1280, height: 800 }): Promise<Watched> {
  const w = await openPage(browser, server.url, { viewport: size });
  opened.push(w);
  return w;
}

async function openConsole(p: Page) {
  await p.getByRole('button', { name: 'Admin console' }).click();
  const c = p.getByRole('dialog', { name: 'Admin console' });
  await c.waitFor();
  return c;
}

beforeAll(async () => {
  await server.start();
  browser = await launch();
  await registerUser(server.url, 'root', 'Root Admin'); // the first account: the admin
  await registerUser(server.url, 'nina', 'Nina');
  await registerUser(server.url, 'omar', 'Omar');
  const omar = await apiCall(server.url, '/auth/login', { method: 'POST', body: { username: 'omar', password: PASSWORD } });
  await apiCall(server.url, '/conversations', { method: 'POST', token: omar.access_token, body: { type: 'channel', name: 'ops-room', visibility: 'private' } });
});

afterAll(async () => {
  await browser?.close();
  await server.stop();
  server.cleanup();
});

describe.sequential('admin console', () => {
  it('a non-admin sees no console, and the admin API refuses them', async () => {
    const w = await open();
    await signInUi(w, 'nina');
    expect(await w.page.getByRole('button', { name: 'Admin console' }).count()).toBe(0);
    const nina = await apiCall(server.url, '/auth/login', { method: 'POST', body: { username: 'nina', password: PASSWORD } });
    const r = await fetch(`${server.url}/api/v1/admin/users`, { headers: { Authorization: `Bearer ${nina.access_token}` } });
    expect(r.status).toBe(403);
    await w.context.close();
  });

  it('an admin deactivates a user in the console and that user’s open page is signed out', async () => {
    const victim = await open();
    await signInUi(victim, 'nina');
    const admin = await open();
    await signInUi(admin, 'root');
    const c = await openConsole(admin.page);
    await c.getByRole('searchbox', { name: 'Search users' }).fill('nina');
    await c.getByRole('button', { name: 'Search' }).click();
    const row = c.getByRole('listitem', { name: '@nina' });
    await row.waitFor();
    await row.getByRole('button', { name: 'Deactivate' }).click();
    // Asked once more before anything happens.
    await row.getByRole('button', { name: 'Confirm' }).click();
    await row.getByText('deactivated', { exact: true }).waitFor();
    await c.getByRole('status').filter({ hasText: 'deactivated and signed out' }).waitFor();

    // Nina's page goes back to the sign-in screen by itself, and she cannot sign in again.
    await victim.page.getByRole('heading', { name: 'Sign in to Parley' }).waitFor({ timeout: 10_000 });
    await victim.page.getByLabel('Username').fill('nina');
    await victim.page.getByLabel('Password').fill(PASSWORD);
    await victim.page.getByRole('button', { name: 'Sign in' }).click();
    await victim.page.getByRole('alert').filter({ hasText: 'deactivated' }).waitFor();

    // Reactivated, she can.
    await row.getByRole('button', { name: 'Reactivate' }).click();
    await row.getByRole('button', { name: 'Confirm' }).click();
    await until('nina reactivated', async () => (await row.getByText('deactivated', { exact: true }).count()) === 0);
    await victim.page.getByRole('button', { name: 'Sign in' }).click();
    await victim.page.getByRole('navigation', { name: 'Conversations' }).waitFor();
    expect(victim.problems).toEqual([]);
    expect(admin.problems).toEqual([]);
  });

  it('channels, settings and the audit log; phone width and both themes', async () => {
    for (const size of [
      { width: 1280, height: 800 },
      { width: 390, height: 844 },
    ]) {
      const w = await open(size);
      const p = w.page;
      await signInUi(w, 'root');
      const c = await openConsole(p);
      await c.getByRole('listitem', { name: '@omar' }).waitFor();
      expect(await overflowX(p)).toBe(0);
      await shots(p, `a01-admin-users-${size.width}`);

      await c.getByRole('tab', { name: 'Channels' }).click();
      const ch = c.getByRole('listitem', { name: '#ops-room' });
      await ch.waitFor();
      expect(await overflowX(p)).toBe(0);
      await shots(p, `a02-admin-channels-${size.width}`);

      await c.getByRole('tab', { name: 'Settings' }).click();
      await c.getByRole('radio', { name: /Invite only/ }).waitFor();
      expect(await overflowX(p)).toBe(0);
      await shots(p, `a03-admin-settings-${size.width}`);

      await c.getByRole('tab', { name: 'Audit log' }).click();
      await c.getByRole('list', { name: 'Audit events' }).getByText('admin.user_deactivated').first().waitFor();
      expect(await overflowX(p)).toBe(0);
      await shots(p, `a04-admin-audit-${size.width}`);
      // The tab strip fits the width (two rows of three on a phone): no sideways scrolling,
      // every tab on screen; arrows, Home and End move between tabs.
      const tabs = c.getByRole('tablist', { name: 'Admin sections' });
      expect(await tabs.evaluate((el) => el.scrollWidth - el.clientWidth)).toBe(0);
      for (const t of await tabs.getByRole('tab').all()) {
        const box = (await t.boundingBox())!;
        expect(box.x).toBeGreaterThanOrEqual(0);
        expect(box.x + box.width).toBeLessThanOrEqual(size.width);
      }
      await c.getByRole('tab', { name: 'Audit log' }).focus();
      await p.keyboard.press('ArrowRight');
      expect(await c.getByRole('tab', { name: 'Analytics' }).getAttribute('aria-selected')).toBe('true');
      await p.keyboard.press('End');
      expect(await c.getByRole('tab', { name: 'Data' }).getAttribute('aria-selected')).toBe('true');
      await p.keyboard.press('Home');
      const users = c.getByRole('tab', { name: 'Users' });
      expect(await users.getAttribute('aria-selected')).toBe('true');
      expect(await users.evaluate((el) => el === document.activeElement)).toBe(true);
      await c.getByRole('listitem', { name: '@omar' }).waitFor();
      expect(await axeViolations(p)).toEqual([]);
      expect(w.problems).toEqual([]);
      await w.context.close();
    }
  });

  it('archives a channel, hands it to a new owner, and makes an invite link that registers', async () => {
    const w = await open();
    const p = w.page;
    await signInUi(w, 'root');
    const c = await openConsole(p);
    await c.getByRole('tab', { name: 'Channels' }).click();
    const ch = c.getByRole('listitem', { name: '#ops-room' });
    await ch.getByRole('button', { name: 'Archive' }).click();
    await ch.getByRole('button', { name: 'Confirm' }).click();
    await ch.getByText('archived', { exact: true }).waitFor();
    await ch.getByRole('button', { name: 'Change owner' }).click();
    await ch.getByLabel('New owner of #ops-room (username)').fill('nina');
    await ch.getByRole('button', { name: 'Set owner' }).click();
    await c.getByRole('status').filter({ hasText: '@nina now owns #ops-room' }).waitFor();

    await c.getByRole('tab', { name: 'Settings' }).click();
    await c.getByRole('radio', { name: /Invite only/ }).check();
    await c.getByRole('status').filter({ hasText: 'invite only' }).waitFor();
    await c.getByRole('button', { name: 'Create invite link' }).click();
    const link = await c.getByLabel('Invite link to share').inputValue();
    expect(link).toContain('/#invite=');

    // Without the invite nobody registers; with the link, a newcomer does.
    const refused = await fetch(`${server.url}/api/v1/auth/register`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: 'nobody', password: PASSWORD }),
    });
    expect(refused.status).toBe(403);
    const guest = await open();
    await guest.page.goto(link);
    await guest.page.getByRole('heading', { name: 'Create your Parley account' }).waitFor();
    expect(new URL(guest.page.url()).hash).toBe('');
    await guest.page.getByLabel('Username').fill('newbie');
    await guest.page.getByLabel('Password').fill(PASSWORD);
    await guest.page.getByRole('button', { name: 'Create account' }).click();
    await guest.page.getByRole('navigation', { name: 'Conversations' }).waitFor();
    expect(guest.problems).toEqual([]);
    expect(w.problems).toEqual([]);
  });
});
