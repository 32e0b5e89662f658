// Usage analytics, retention and data export in the web app against the real server: the admin
// opens the Analytics tab and the chart renders with the seeded activity; the Data tab sets the
// server's retention; a user exports their own data from the settings. Desktop and phone, both
// themes (screenshots under test-results/).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { apiCall, axeViolations, launch, openPage, overflowX, PASSWORD, registerUser, Server, shots, signInUi, until, type Watched } from './harness';

const server = new Server();
server.extraArgs = ['--analytics-interval-ms', '200', '--analytics-lag-ms', '0'];
let browser: Browser;
const opened: Watched[] = [];

beforeAll(async () => {
  await server.start();
  browser = await launch();
  const rootUser = await registerUser(server.url, 'root', 'Root Admin'); // the first account: the admin
  await registerUser(server.url, 'nina', 'Nina');
  const nina = await apiCall(server.url, '/auth/login', { method: 'POST', body: { username: 'nina', password: PASSWORD } });
  // A DM with a reply (a first response) and a group, before the channel the wait below watches.
  const dm = await apiCall<{ id: string }>(server.url, '/conversations', { method: 'POST', token: nina.access_token, body: { type: 'dm', member_ids: [rootUser.user.id] } });
  await apiCall(server.url, `/conversations/${dm.id}/messages`, { method: 'POST', token: nina.access_token, body: { text: 'hi root', client_msg_id: 'seed-dm-1' } });
  await apiCall(server.url, `/conversations/${dm.id}/messages`, { method: 'POST', token: rootUser.access_token, body: { text: 'hi nina', client_msg_id: 'seed-dm-2' } });
  const grp = await apiCall<{ id: string }>(server.url, '/conversations', { method: 'POST', token: nina.access_token, body: { type: 'group', member_ids: [rootUser.user.id] } });
  await apiCall(server.url, `/conversations/${grp.id}/messages`, { method: 'POST', token: nina.access_token, body: { text: 'group hello', client_msg_id: 'seed-grp-1' } });
  const ch = await apiCall(server.url, '/conversations', { method: 'POST', token: nina.access_token, body: { type: 'channel', name: 'busy-room', visibility: 'public' } });
  const id = ch.conversation?.id ?? ch.id;
  for (let i = 0; i < 4; i++)
    await apiCall(server.url, `/conversations/${id}/messages`, { method: 'POST', token: nina.access_token, body: { text: `hello ${i}`, client_msg_id: `seed-${i}` } });
  // Wait (through the API) until the rollup job, every 200 ms here, has counted them.
  const root = await apiCall(server.url, '/auth/login', { method: 'POST', body: { username: 'root', password: PASSWORD } });
  const day = new Date().toISOString().slice(0, 10);
  await until('the rollups to count the seeded messages', async () => {
    const c = await apiCall(server.url, `/admin/analytics/channels?from=${day}&to=${day}`, { token: root.access_token });
    return c.channels.length > 0;
  });
});

afterAll(async () => {
  for (const w of opened) await w.context.close().catch(() => {});
  await browser?.close();
  await server.stop();
  server.cleanup();
});

describe.sequential('analytics, retention and export', () => {
  it('the admin sees the activity charts, daily figures and busiest channels; phone width and both themes', async () => {
    for (const size of [
      { width: 1280, height: 800 },
      { width: 390, height: 844 },
    ]) {
      const w = await openPage(browser, server.url, { viewport: size });
      opened.push(w);
      const p = w.page;
      await signInUi(w, 'root');
      await p.getByRole('button', { name: 'Admin console' }).click();
      const c = p.getByRole('dialog', { name: 'Admin console' });
      await c.getByRole('tab', { name: 'Analytics' }).click();
      await c.getByRole('list', { name: 'Busiest channels' }).getByText('#busy-room').waitFor();
      expect(await c.getByRole('img', { name: /^Messages per day, at most/ }).count()).toBe(1);
      expect(await c.locator('svg rect.bar').count()).toBe(30);
      // Messages by type: 2 DMs, 1 group message, 4 channel messages today.
      expect(await c.getByRole('img', { name: 'Messages per day by conversation type: Direct messages 2, Groups 1, Channels 4' }).count()).toBe(1);
      expect(await c.locator('svg rect.seg').count()).toBe(3);
      const table = c.getByRole('region', { name: 'Daily figures' });
      const today = table.getByRole('row', { name: new RegExp(new Date().toISOString().slice(0, 10)) });
      const cells = await today.getByRole('cell').allTextContents();
      expect([...cells.slice(0, 3), ...cells.slice(4)]).toEqual(['2', '1', '4', '0', '0', '0']);
      expect(cells[3]).toMatch(/^\d+ (s|min)$/); // root answered nina's DM: one first response
      expect(await overflowX(p)).toBe(0);
      await shots(p, `d01-admin-analytics-${size.width}`);
      await table.scrollIntoViewIfNeeded();
      expect(await overflowX(p)).toBe(0);
      await shots(p, `d01b-admin-analytics-by-type-${size.width}`);

      await c.getByRole('tab', { name: 'Data' }).click();
      await c.getByLabel('Server retention in days').fill('365');
      await c.getByRole('button', { name: 'Save retention' }).click();
      await c.getByText('older than 365 days').waitFor().catch(async (e) => {
        throw new Error(`${e.message}\nthe Data tab reads: ${await c.getByRole('region', { name: 'Data' }).innerText()}`);
      });
      expect(await overflowX(p)).toBe(0);
      await shots(p, `d02-admin-data-${size.width}`);
      expect(await axeViolations(p)).toEqual([]);
      expect(w.problems).toEqual([]);
      await w.context.close();
    }
  });

  it('a user exports their own data from the settings', async () => {
    const w = await openPage(browser, server.url, { viewport: { width: 390, height: 844 } });
    opened.push(w);
    const p = w.page;
    await signInUi(w, 'nina');
    await p.getByRole('button', { name: 'Profile and settings' }).click();
    const settings = p.getByRole('dialog', { name: 'Settings' });
    await settings.getByRole('button', { name: 'Export my data' }).click();
    await settings.getByRole('button', { name: 'Download my data archive' }).waitFor({ timeout: 15_000 });
    await settings.getByRole('heading', { name: 'Your data' }).scrollIntoViewIfNeeded();
    expect(await overflowX(p)).toBe(0);
    await shots(p, 'd03-settings-export-390');
    expect(w.problems).toEqual([]);
  });
});
