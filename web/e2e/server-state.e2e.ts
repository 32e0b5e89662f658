// What moved from the device to the server (issue 15, second part): stars, saved messages,
// "mark as unread" and mention counts, live across tabs and browsers; avatars; time zones;
// archived channels. Against the real server, with two people in two browser contexts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { apiCall, axeViolations, launch, openPage, overflowX, registerUser, Server, shots, signInUi, sleep, until, type Watched } from './harness';
import { makePng } from './filefixtures';

const server = new Server();
let browser: Browser;
let gina: Watched; // the channel's owner
let hank: Watched; // a member
let ginaToken = '';
let hankToken = '';
let idaToken = '';
let hankId = '';
let chId = '';
const timeline = (p: Page) => p.getByRole('log');
const message = (p: Page, text: string | RegExp) => timeline(p).locator('li.msg').filter({ hasText: text });
const nav = (p: Page) => p.getByRole('navigation', { name: 'Conversations' });

async function post(token: string, cid: string, text: string) {
  return apiCall<{ id: string; seq: number }>(server.url, `/conversations/${cid}/messages`, {
    method: 'POST',
    token,
    body: { text, client_msg_id: `t-${Math.random().toString(36).slice(2)}` },
  });
}

async function openConv(p: Page, name: RegExp) {
  await nav(p).getByRole('link', { name }).click();
  await timeline(p).waitFor();
}

/** Opens an archived conversation from the "Archived" section (folded by default; a folded
 * section still lists the conversations with unread messages). */
async function openArchived(p: Page, name: RegExp) {
  const toggle = nav(p).getByRole('button', { name: 'Archived' });
  await toggle.waitFor({ timeout: 10_000 });
  const link = nav(p).getByRole('link', { name });
  if (!(await link.isVisible())) await toggle.click();
  await link.click();
  await timeline(p).waitFor();
}

async function status(method: string, path: string, token: string, body?: unknown): Promise<number> {
  const res = await fetch(`${server.url}/api/v1${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return res.status;
}

beforeAll(async () => {
  await server.start();
  browser = await launch();
  const g = await registerUser(server.url, 'gina', 'Gina');
  const h = await registerUser(server.url, 'hank', 'Hank');
  const i = await registerUser(server.url, 'ida', 'Ida');
  ginaToken = g.access_token;
  hankToken = h.access_token;
  idaToken = i.access_token;
  hankId = h.user.id;
  const ch = await apiCall(server.url, '/conversations', { method: 'POST', token: ginaToken, body: { type: 'channel', name: 'ops' } });
  chId = ch.id;
  await apiCall(server.url, `/conversations/${chId}/join`, { method: 'POST', token: hankToken });
  await apiCall(server.url, `/conversations/${chId}/join`, { method: 'POST', token: idaToken });
  for (let n = 1; n <= 70; n++) await post(ginaToken, chId, `Ops ${String(n).padStart(2, '0')}`);
  await apiCall(server.url, `/conversations/${chId}/read`, { method: 'POST', token: hankToken, body: { seq: 1000 } });
  gina = await openPage(browser, server.url, { viewport: { width: 1280, height: 800 } });
  hank = await openPage(browser, server.url, { viewport: { width: 1280, height: 800 } });
  await signInUi(gina, 'gina');
  await signInUi(hank, 'hank');
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server.stop();
  server.cleanup();
});

describe('state kept by the server', () => {
  it('a star in one tab shows in another tab and in another browser', async () => {
    const p = hank.page;
    const tab2 = await hank.context.newPage();
    await tab2.goto('/');
    await nav(tab2).waitFor();
    const other = await openPage(browser, server.url, { viewport: { width: 1280, height: 800 } });
    await signInUi(other, 'hank');
    await openConv(p, /ops/);
    await p.getByRole('button', { name: 'Star conversation' }).click();
    for (const t of [p, tab2, other.page]) await t.getByRole('region', { name: 'Starred' }).getByRole('link', { name: /ops/ }).waitFor({ timeout: 10_000 });
    const c = await apiCall(server.url, `/conversations/${chId}`, { token: hankToken });
    expect(c.starred).toBe(true);
    expect(Object.keys(await p.evaluate(() => ({ ...localStorage }))).filter((k) => /starred|saved|unread/.test(k))).toEqual([]);
    await openConv(other.page, /ops/);
    await other.page.getByRole('button', { name: 'Unstar conversation' }).click();
    for (const t of [p, tab2]) await t.getByRole('region', { name: 'Starred' }).waitFor({ state: 'detached', timeout: 10_000 });
    await tab2.close();
    expect(other.problems).toEqual([]);
    await other.context.close();
  });

  it('a saved message is in the Saved panel after a reload (GET /users/me/saved)', async () => {
    const p = hank.page;
    await openConv(p, /ops/);
    const msg = message(p, 'Ops 65');
    await msg.click();
    await msg.getByRole('button', { name: 'Save message' }).click();
    await until('saved on the server', async () => (await apiCall(server.url, '/users/me/saved', { token: hankToken })).messages.some((m: any) => m.text === 'Ops 65'));
    await p.reload();
    await nav(p).waitFor();
    await p.getByRole('button', { name: 'Saved messages' }).click();
    const panel = p.getByRole('complementary', { name: 'Saved messages' });
    await panel.getByRole('button', { name: /Ops 65/ }).waitFor();
    await shots(p, 'ss01-saved-panel');
    await panel.getByRole('button', { name: /Ops 65/ }).click();
    await timeline(p).locator('li.msg.is-highlight', { hasText: 'Ops 65' }).waitFor();
    // Unsaved from the message: the panel follows.
    await message(p, 'Ops 65').getByRole('button', { name: 'Remove from saved' }).click();
    await panel.getByRole('button', { name: /Ops 65/ }).waitFor({ state: 'detached' });
    await p.getByRole('button', { name: 'Close saved messages' }).click();
  });

  it('mark as unread moves the server’s marker back: the "New messages" bar comes back after a reload', async () => {
    const p = hank.page;
    await openConv(p, /ops/);
    // Far enough back that the unread part does not fit on one screen (reaching the end reads it).
    const msg = message(p, 'Ops 30');
    await msg.scrollIntoViewIfNeeded();
    await sleep(300); // older history may load in above it
    await msg.hover();
    await msg.getByRole('button', { name: 'Mark unread' }).click();
    await nav(p).getByRole('link', { name: /ops.*41 unread/ }).waitFor();
    const c = await apiCall(server.url, `/conversations/${chId}`, { token: hankToken });
    expect(c.unread_count).toBe(41);
    expect(c.last_read_seq).toBe(29);
    await p.goto('/');
    await nav(p).getByRole('link', { name: /ops.*41 unread/ }).waitFor();
    await openConv(p, /ops/);
    await p.locator('.unread-bar').getByText('41 new messages').waitFor();
    await p.locator('.unread-line').waitFor();
    await shots(p, 'ss02-marked-unread');
    await p.locator('.unread-bar').getByRole('button', { name: 'Mark as read' }).click();
    await until('read again', async () => (await nav(p).getByRole('link', { name: /ops.*unread/ }).count()) === 0);
  });

  it('a mention raises the mention badge for the mentioned person only', async () => {
    await hank.page.goto('/');
    await nav(hank.page).waitFor();
    const ida = await openPage(browser, server.url, { viewport: { width: 1280, height: 800 } });
    await signInUi(ida, 'ida');
    await post(ginaToken, chId, '@hank can you look at the deploy?');
    const link = nav(hank.page).getByRole('link', { name: /ops.*1 unread.*1 mentioning you/ });
    await link.waitFor();
    expect(await link.locator('.badge.is-mention').innerText()).toBe('@1');
    await nav(ida.page).getByRole('link', { name: /ops.*unread/ }).waitFor();
    expect(await nav(ida.page).locator('.badge.is-mention').count()).toBe(0);
    const [h, i] = await Promise.all([
      apiCall(server.url, `/conversations/${chId}`, { token: hankToken }),
      apiCall(server.url, `/conversations/${chId}`, { token: idaToken }),
    ]);
    expect(h.mention_count).toBe(1);
    expect(i.mention_count ?? 0).toBe(0);
    // After a reload the count comes from the server.
    await hank.page.reload();
    await nav(hank.page).getByRole('link', { name: /ops.*1 mentioning you/ }).waitFor();
    await shots(hank.page, 'ss03-mention-badge');
    expect(ida.problems).toEqual([]);
    await ida.context.close();
  });

  it('an uploaded avatar shows as an image for another person', async () => {
    const p = hank.page;
    await p.getByRole('button', { name: 'Profile and settings' }).click();
    const dlg = p.getByRole('dialog', { name: 'Settings' });
    await dlg.waitFor();
    await dlg.locator('input[type="file"]').setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: makePng(96, 96, 200) });
    await dlg.getByText('Photo updated.').waitFor({ timeout: 20_000 });
    await dlg.getByRole('button', { name: 'Remove' }).waitFor();
    await shots(p, 'ss04-settings-avatar');
    await dlg.getByRole('button', { name: 'Close' }).click();
    const me = await apiCall(server.url, '/users/me', { token: hankToken });
    expect(me.avatar_url).toMatch(/^\/api\/v1\/avatars\//);
    // Gina sees it next to Hank's messages (user.updated, or a fresh read of the user).
    await post(hankToken, chId, 'Hank with a face');
    const g = gina.page;
    await openConv(g, /ops/);
    const img = message(g, 'Hank with a face').locator('img.avatar');
    await img.waitFor({ timeout: 15_000 });
    await until('the avatar image loaded', () => img.evaluate((el) => (el as HTMLImageElement).complete && (el as HTMLImageElement).naturalWidth > 0));
    expect(await img.getAttribute('src')).toBe(me.avatar_url);
    await shots(g, 'ss05-avatar-in-timeline');
  });

  it('a time zone shows the person’s local time in their profile popover', async () => {
    const p = hank.page;
    await p.getByRole('button', { name: 'Profile and settings' }).click();
    const dlg = p.getByRole('dialog', { name: 'Settings' });
    await dlg.getByLabel('Time zone').selectOption('Asia/Tokyo');
    await dlg.getByRole('button', { name: 'Save profile' }).click();
    await dlg.getByText('Saved.').waitFor();
    await dlg.getByRole('button', { name: /Use my device’s time zone/ }).waitFor();
    await dlg.getByRole('button', { name: 'Close' }).click();
    expect((await apiCall(server.url, '/users/me', { token: hankToken })).timezone).toBe('Asia/Tokyo');
    const expected = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: 'Asia/Tokyo' }).format(Date.now());
    const g = gina.page;
    await timeline(g).getByRole('button', { name: 'Profile of Hank' }).last().click();
    const card = g.getByRole('dialog', { name: 'Profile of Hank' });
    await card.getByText(/\d\d:\d\d local time/).waitFor({ timeout: 10_000 });
    const text = await card.getByText(/local time/).innerText();
    const [hh, mm] = expected.split(':').map(Number);
    const [gh, gm] = /(\d\d):(\d\d)/.exec(text)!.slice(1).map(Number);
    expect(Math.abs(gh * 60 + gm - (hh * 60 + mm)) % (24 * 60)).toBeLessThanOrEqual(1);
    await shots(g, 'ss06-profile-local-time');
    await g.keyboard.press('Escape');
  });

  it('archiving: the composer gives way to a banner for members, and a send is refused', async () => {
    const g = gina.page;
    await openConv(g, /ops/);
    await g.getByRole('button', { name: 'Conversation settings' }).click();
    const dlg = g.getByRole('dialog', { name: /Settings for #ops/ });
    await dlg.getByRole('button', { name: 'Archive channel' }).click();
    await dlg.getByRole('alertdialog', { name: 'Archive #ops?' }).getByRole('button', { name: 'Archive' }).click();
    await dlg.getByRole('button', { name: 'Unarchive channel' }).waitFor();
    await dlg.getByRole('button', { name: 'Close' }).click();
    await g.getByText('This channel is archived.').waitFor();
    await g.getByRole('button', { name: 'Unarchive' }).waitFor();

    const p = hank.page;
    await openArchived(p, /ops.*archived/);
    await p.getByText('This channel is archived.').waitFor({ timeout: 10_000 });
    expect(await p.getByRole('textbox', { name: 'Message', exact: true }).count()).toBe(0);
    expect(await p.locator('.archived-banner').getByRole('button', { name: 'Unarchive' }).count()).toBe(0);
    expect(await status('POST', `/conversations/${chId}/messages`, hankToken, { text: 'still here?', client_msg_id: 'arch-1' })).toBe(409);
    await shots(p, 'ss07-archived-member');
    // Unarchived from the banner: the composer is back for everyone.
    await g.getByRole('button', { name: 'Unarchive' }).click();
    await p.getByRole('textbox', { name: 'Message', exact: true }).waitFor({ timeout: 10_000 });
  });

  it('the changed screens: no horizontal overflow at 390 px, axe clean, screenshots light and dark', async () => {
    const ch2 = await apiCall(server.url, '/conversations', { method: 'POST', token: ginaToken, body: { type: 'channel', name: 'old-archive' } });
    await apiCall(server.url, `/conversations/${ch2.id}/join`, { method: 'POST', token: hankToken });
    await post(ginaToken, ch2.id, 'Last words before the archive');
    await apiCall(server.url, `/conversations/${ch2.id}/archive`, { method: 'POST', token: ginaToken });
    const results: string[] = [];
    for (const [label, viewport] of [
      ['desktop', { width: 1280, height: 800 }],
      ['phone', { width: 390, height: 844 }],
    ] as const) {
      const w = await openPage(browser, server.url, { viewport, ...(label === 'phone' ? { isMobile: true, hasTouch: true, deviceScaleFactor: 2 } : {}) });
      const p = w.page;
      const check = async (screen: string) => {
        await sleep(200);
        const over = await overflowX(p);
        const axe = await axeViolations(p);
        if (over > 0) results.push(`${label}/${screen}: overflows by ${over}px`);
        for (const v of axe) results.push(`${label}/${screen}: ${v}`);
        await shots(p, `ss-${label}-${screen}`);
      };
      await signInUi(w, 'hank');
      await openArchived(p, /old-archive/);
      await check('sidebar-archived');
      await p.getByText('This channel is archived.').waitFor();
      await check('archived');
      if (label === 'phone') await p.getByRole('button', { name: 'Back to conversations' }).click();
      await p.getByRole('button', { name: 'Saved messages' }).click();
      await p.getByRole('complementary', { name: 'Saved messages' }).waitFor();
      await check('saved');
      await p.getByRole('button', { name: 'Close saved messages' }).click();
      await p.getByRole('button', { name: 'Profile and settings' }).click();
      await p.getByRole('dialog', { name: 'Settings' }).getByRole('button', { name: 'Upload photo' }).waitFor();
      await check('settings-profile');
      await p.getByRole('dialog', { name: 'Settings' }).getByRole('button', { name: 'Close' }).click();
      expect(w.problems).toEqual([]);
      await w.context.close();
      // Gina's channel settings with the archive section.
      const gw = await openPage(browser, server.url, { viewport, ...(label === 'phone' ? { isMobile: true, hasTouch: true, deviceScaleFactor: 2 } : {}) });
      await signInUi(gw, 'gina');
      await nav(gw.page).getByRole('link', { name: /ops/ }).click();
      // On a phone the header keeps its secondary actions in the More menu.
      if (label === 'phone') {
        await gw.page.getByRole('button', { name: 'More' }).click();
        await gw.page.getByRole('menuitem', { name: 'Conversation settings' }).click();
      } else {
        await gw.page.getByRole('button', { name: 'Conversation settings' }).click();
      }
      await gw.page.getByRole('dialog', { name: /Settings for #ops/ }).getByRole('button', { name: 'Archive channel' }).click();
      await gw.page.getByRole('alertdialog', { name: 'Archive #ops?' }).waitFor();
      await sleep(200);
      const over = await overflowX(gw.page);
      if (over > 0) results.push(`${label}/channel-settings: overflows by ${over}px`);
      for (const v of await axeViolations(gw.page)) results.push(`${label}/channel-settings: ${v}`);
      await shots(gw.page, `ss-${label}-channel-settings-archive`);
      expect(gw.problems).toEqual([]);
      await gw.context.close();
    }
    expect(results).toEqual([]);
  });

  it('no script errors or CSP violations', () => {
    expect(gina.problems).toEqual([]);
    expect(hank.problems).toEqual([]);
    void hankId;
  });
});
