// Regression tests for the bugs of issue 15 and the product features built for it, against the
// real server: each test is named after what broke or what it proves.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Locator, Page } from 'playwright-core';
import { apiCall, axeViolations, launch, openPage, overflowX, registerUser, reportPagesOnFailure, Server, shots, signInUi, sleep, until, type Watched } from './harness';

const server = new Server();
let browser: Browser;
let dave: Watched;
let erinToken = '';
let daveToken = '';
let erinId = '';
let daveId = '';
let landId = '';
const timeline = (p: Page) => p.getByRole('log');
const message = (p: Page, text: string | RegExp) => timeline(p).locator('li.msg').filter({ hasText: text });
/** Clicks one of a message's hover actions, hovering again until the button shows: a message
 *  re-rendered under a still pointer (an event arriving) loses :hover until the pointer moves. */
async function messageAction(msg: Locator, name: string) {
  const button = msg.getByRole('button', { name });
  await until(`the ${name} action`, async () => {
    await msg.hover();
    return button.isVisible();
  });
  await button.click();
}
const nav = (p: Page) => p.getByRole('navigation', { name: 'Conversations' });

async function post(token: string, cid: string, text: string, id?: string) {
  return apiCall<{ id: string; seq: number }>(server.url, `/conversations/${cid}/messages`, {
    method: 'POST',
    token,
    body: { text, client_msg_id: id ?? `t-${Math.random().toString(36).slice(2)}` },
  });
}

async function send(p: Page, text: string, box = 'Message') {
  const input = p.getByRole('textbox', { name: box, exact: true });
  await input.fill(text);
  await input.press('Enter');
}

async function openConv(p: Page, name: RegExp) {
  await nav(p).getByRole('link', { name }).click();
  await timeline(p).waitFor();
}

/** Whether an element is inside the visible part of the timeline. */
async function inView(p: Page, text: string): Promise<boolean> {
  return message(p, text)
    .first()
    .evaluate((el) => {
      const box = el.getBoundingClientRect();
      const log = el.closest('[role="log"]')!.getBoundingClientRect();
      return box.bottom > log.top && box.top < log.bottom;
    })
    .catch(() => false);
}

/** Whether the focused element is inside the visible part of the timeline. */
async function inViewEl(p: Page): Promise<boolean> {
  return p.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    const log = el?.closest('[role="log"]');
    if (!el || !log) return false;
    const a = el.getBoundingClientRect();
    const b = log.getBoundingClientRect();
    return a.bottom > b.top && a.top < b.bottom;
  });
}

beforeAll(async () => {
  await server.start();
  browser = await launch();
  const erin = await registerUser(server.url, 'erin', 'Erin');
  const d = await registerUser(server.url, 'dave', 'Dave');
  await registerUser(server.url, 'frank', 'Frank');
  erinToken = erin.access_token;
  daveToken = d.access_token;
  erinId = erin.user.id;
  daveId = d.user.id;
  // A channel dave is in, with 80 messages he has not read.
  const ch = await apiCall(server.url, '/conversations', { method: 'POST', token: erinToken, body: { type: 'channel', name: 'landing' } });
  landId = ch.id;
  await apiCall(server.url, `/conversations/${landId}/join`, { method: 'POST', token: daveToken });
  await post(daveToken, landId, 'Dave was here first');
  for (let i = 1; i <= 80; i++) await post(erinToken, landId, `Unread ${String(i).padStart(2, '0')}`);
  dave = await openPage(browser, server.url, { viewport: { width: 1280, height: 800 } });
});

reportPagesOnFailure(() => [dave?.page]);

afterAll(async () => {
  await browser?.close();
  await server.stop();
  server.cleanup();
});

describe.sequential('issue 15: bugs and product features', () => {
  it('sign-in form: autofocus on the username and plain-language errors (bug 8)', async () => {
    const p = dave.page;
    await p.goto('/');
    await p.getByLabel('Username').waitFor();
    expect(await p.evaluate(() => document.activeElement?.getAttribute('name'))).toBe('username');
    await p.getByLabel('Username').fill('dave');
    await p.getByLabel('Password').fill('not the password');
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.getByRole('alert').getByText('Wrong username or password.').waitFor();
    await shots(p, 'p01-sign-in-error');
    await signInUi(dave, 'dave');
  });

  it('opening a conversation with unread messages lands at the first unread, with the new-messages bar (bug 1)', async () => {
    const p = dave.page;
    const link = nav(p).getByRole('link', { name: /landing.*80 unread/ });
    await link.waitFor();
    await link.click();
    await timeline(p).waitFor();
    await p.getByRole('separator', { name: 'New messages' }).waitFor();
    await until('first unread in view', () => inView(p, 'Unread 01'));
    expect(await inView(p, 'Unread 80')).toBe(false);
    const bar = p.getByRole('status').filter({ hasText: '80 new messages' });
    await bar.waitFor();
    await sleep(500);
    // Nothing was marked read behind the reader's back.
    expect(await nav(p).getByRole('link', { name: /landing.*80 unread/ }).count()).toBe(1);
    await shots(p, 'p02-unread-landing');
    // Jump goes back to the first unread after scrolling away; Mark as read clears everything.
    await timeline(p).evaluate((el) => (el.scrollTop = 0));
    await bar.getByRole('button', { name: 'Jump' }).click();
    await until('first unread in view again', () => inView(p, 'Unread 01'));
    await bar.getByRole('button', { name: 'Mark as read' }).click();
    await bar.waitFor({ state: 'detached' });
    await until('badge cleared', async () => (await nav(p).getByRole('link', { name: /landing.*unread/ }).count()) === 0);
    // The badge clears at once; the server's marker follows when the read request lands.
    await until('read on the server', async () => {
      const c = await apiCall(server.url, `/conversations/${landId}`, { token: daveToken });
      return c.unread_count === 0;
    });
  });

  it('the tab title counts unread messages and day separators label the timeline', async () => {
    const p = dave.page;
    await p.getByRole('separator', { name: 'Today' }).first().waitFor();
    const dm = await apiCall(server.url, '/conversations', { method: 'POST', token: erinToken, body: { type: 'dm', member_ids: [daveId] } });
    await post(erinToken, dm.id, 'A DM for the title count');
    await until('title shows the unread count', async () => /^\(1\) /.test(await p.title()));
    const icon = () => p.evaluate(() => document.querySelector<HTMLLinkElement>('link[rel="icon"]')?.href ?? '');
    await until('favicon badge', async () => (await icon()).startsWith('data:image/png'));
    // A draft shows in the sidebar.
    await p.getByRole('textbox', { name: 'Message', exact: true }).fill('unsent words');
    await openConv(p, /Erin/);
    await nav(p).getByRole('link', { name: /landing.*draft/ }).waitFor();
    await until('title back to normal', async () => !/^\(\d+\)/.test(await p.title()));
    await until('favicon without badge', async () => (await icon()).endsWith('/icons/icon.svg'));
    await openConv(p, /landing/);
    await p.getByRole('textbox', { name: 'Message', exact: true }).fill('');
    await openConv(p, /Erin/);
  });

  it('mentions get their own badge; starred conversations get their own section', async () => {
    const p = dave.page;
    await post(erinToken, landId, 'Hey @dave, a question for you');
    const link = nav(p).getByRole('link', { name: /landing.*1 unread.*1 mentioning you/ });
    await link.waitFor();
    expect(await link.locator('.badge.is-mention').innerText()).toBe('@1');
    await p.getByRole('button', { name: 'Star conversation' }).click();
    const starredSection = p.getByRole('region', { name: 'Starred' });
    await starredSection.getByRole('link', { name: /Erin/ }).waitFor();
    await shots(p, 'p11-mention-starred');
    await p.getByRole('button', { name: 'Unstar conversation' }).click();
    await starredSection.waitFor({ state: 'detached' });
  });

  it('joining a channel does not mark its history as new (bug 2)', async () => {
    const ch = await apiCall(server.url, '/conversations', { method: 'POST', token: erinToken, body: { type: 'channel', name: 'old-news', topic: 'Older things' } });
    for (let i = 1; i <= 5; i++) await post(erinToken, ch.id, `Old news ${i}`);
    const p = dave.page;
    await p.getByRole('button', { name: 'New…' }).click();
    await p.getByRole('menuitem', { name: 'Browse channels' }).click();
    const dialog = p.getByRole('dialog', { name: 'Browse channels' });
    await dialog.getByText('1 member', { exact: true }).first().waitFor(); // bug 8: was "1 members"
    await dialog.getByRole('button', { name: 'Join #old-news' }).click();
    await message(p, 'Old news 5').waitFor();
    await sleep(300);
    expect(await p.getByRole('separator', { name: 'New messages' }).count()).toBe(0);
    expect(await nav(p).getByRole('link', { name: /old-news.*unread/ }).count()).toBe(0);
    // The server agrees: after a reload nothing is unread there.
    const c = await apiCall(server.url, `/conversations/${ch.id}`, { token: daveToken });
    expect(c.unread_count).toBe(0);
  });

  it('the offline presence dot keeps its size (bug 3: .offline banner styles clashed)', async () => {
    const p = dave.page;
    const frank = await apiCall<{ users: { id: string; username: string }[] }>(server.url, '/users?q=frank', { token: daveToken });
    await apiCall(server.url, '/conversations', { method: 'POST', token: daveToken, body: { type: 'dm', member_ids: [frank.users[0].id] } });
    const link = nav(p).getByRole('link', { name: /Frank \(Offline\)/ });
    await link.waitFor();
    const box = await link.locator('.dot').boundingBox();
    expect(box!.width).toBeLessThanOrEqual(14);
    expect(box!.height).toBeLessThanOrEqual(14);
  });

  it('pins are live, and a pinned follow-on message shows its mark (bug 4)', async () => {
    const p = dave.page;
    await openConv(p, /landing/);
    const list = await apiCall<{ messages: { id: string; text: string }[] }>(server.url, `/conversations/${landId}/messages?limit=5`, { token: daveToken });
    // "Unread 79" follows "Unread 78" from the same sender: no header of its own.
    const followOn = list.messages.find((m) => m.text === 'Unread 79')!;
    await apiCall(server.url, `/conversations/${landId}/pins/${followOn.id}`, { method: 'PUT', token: erinToken });
    await message(p, 'Unread 79').getByText('pinned').waitFor({ timeout: 10_000 });
    await p.getByRole('button', { name: 'Pinned messages (1)' }).waitFor();
    await apiCall(server.url, `/conversations/${landId}/pins/${followOn.id}`, { method: 'DELETE', token: erinToken });
    await message(p, 'Unread 79').getByText('pinned').waitFor({ state: 'detached', timeout: 10_000 });
  });

  it('mark unread from a message: badge, line and landing come back, also after a reload', async () => {
    const p = dave.page;
    await openConv(p, /landing/);
    const msg = message(p, 'Unread 40');
    await msg.scrollIntoViewIfNeeded();
    await messageAction(msg, 'Mark unread');
    await nav(p).getByRole('link', { name: /landing.*unread/ }).waitFor();
    await p.getByRole('separator', { name: 'New messages' }).waitFor();
    await openConv(p, /Erin/);
    await p.reload();
    await nav(p).getByRole('link', { name: /landing.*unread/ }).waitFor();
    await openConv(p, /landing/);
    await until('lands at the message marked unread', () => inView(p, 'Unread 40'));
    const bar = p.getByRole('status').filter({ hasText: /new message/ });
    await bar.getByRole('button', { name: 'Mark as read' }).click();
    await until('read again', async () => (await nav(p).getByRole('link', { name: /landing.*unread/ }).count()) === 0);
  });

  it('saved messages: save from the actions, find it in the Saved panel, jump back to it', async () => {
    const p = dave.page;
    const msg = message(p, 'Unread 77');
    await msg.scrollIntoViewIfNeeded();
    await messageAction(msg, 'Save message');
    await openConv(p, /Erin/);
    await p.getByRole('button', { name: 'Saved messages' }).click();
    const panel = p.getByRole('complementary', { name: 'Saved messages' });
    await panel.getByRole('button', { name: /Unread 77/ }).click();
    await timeline(p).locator('li.msg.is-highlight', { hasText: 'Unread 77' }).waitFor();
    await p.getByRole('button', { name: 'Close saved messages' }).click();
  });

  it('the message list is one tab stop with arrow keys inside (bug 6)', async () => {
    const p = dave.page;
    await openConv(p, /landing/);
    await message(p, 'Unread 80').waitFor();
    const stops = await timeline(p).evaluate(
      (el) => [...el.querySelectorAll<HTMLElement>('*')].filter((e) => e.tabIndex >= 0 && !(e as HTMLButtonElement).disabled).length,
    );
    expect(stops).toBeLessThanOrEqual(12);
    const before = await timeline(p).evaluate((el) => el.scrollTop);
    await p.getByRole('button', { name: 'Conversation settings' }).focus();
    await p.keyboard.press('Tab');
    // Focus lands on a message on screen (the last one in view), and nothing scrolls away.
    const seq = () => p.evaluate(() => Number((document.activeElement as HTMLElement | null)?.closest<HTMLElement>('li.msg')?.dataset.seq ?? -1));
    const first = await seq();
    expect(first).toBeGreaterThan(0);
    expect(await p.evaluate(() => document.activeElement?.matches('li.msg'))).toBe(true);
    expect(await inViewEl(p)).toBe(true);
    expect(Math.abs((await timeline(p).evaluate((el) => el.scrollTop)) - before)).toBeLessThan(50);
    await p.keyboard.press('ArrowUp');
    expect(await seq()).toBe(first - 1);
    // Tab from a message reaches its own actions, then leaves the list for the composer.
    const seen: string[] = [];
    for (let i = 0; i < 12; i++) {
      await p.keyboard.press('Tab');
      const label = await p.evaluate(() => document.activeElement?.getAttribute('aria-label') ?? '');
      seen.push(label);
      if (label === 'Message') break;
    }
    expect(seen).toContain('Add reaction');
    expect(seen[seen.length - 1]).toBe('Message');
    expect(seen.length).toBeLessThan(12);
  });

  it('the reaction picker closes on Escape and on a click outside (bug 8)', async () => {
    const p = dave.page;
    const msg = message(p, 'Unread 80');
    await messageAction(msg, 'Add reaction');
    const picker = p.getByRole('group', { name: 'Pick a reaction' });
    await picker.waitFor();
    await p.keyboard.press('Escape');
    await picker.waitFor({ state: 'detached' });
    expect(await p.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Add reaction');
    await msg.getByRole('button', { name: 'Add reaction' }).click();
    await picker.waitFor();
    await p.getByRole('heading', { name: /landing/ }).click();
    await picker.waitFor({ state: 'detached' });
  });

  it('after an edit the focus stays on the message (bug 8)', async () => {
    const p = dave.page;
    await send(p, 'Dave says hi');
    const msg = message(p, 'Dave says hi');
    await msg.waitFor();
    await until('sent', async () => (await msg.getByText('Sending…').count()) === 0);
    await messageAction(msg, 'Edit message');
    const edit = p.getByRole('textbox', { name: 'Edit message' });
    await edit.fill('Dave says hello');
    await edit.press('Enter');
    await message(p, 'Dave says hello').getByText('(edited)').waitFor();
    await until('focus on the message', async () => (await p.evaluate(() => document.activeElement?.matches('li.msg') && document.activeElement.textContent)) !== false);
    expect(await p.evaluate(() => document.activeElement?.textContent)).toContain('Dave says hello');
  });

  it('search results show the text, not its markdown, with the text in their names (bug 8)', async () => {
    const p = dave.page;
    await send(p, 'A **bold** claim with `code` and [a link](https://example.com/x) zebrafish');
    await message(p, 'zebrafish').waitFor();
    await p.getByRole('button', { name: 'Search messages' }).click();
    await p.getByRole('searchbox', { name: 'Search messages' }).fill('zebrafish');
    await p.getByRole('search').getByRole('button', { name: 'Search' }).click();
    const result = p.getByRole('list', { name: 'Search results' }).getByRole('button').first();
    await result.waitFor();
    const text = await result.innerText();
    expect(text).toContain('A bold claim with code and a link zebrafish');
    expect(text).not.toContain('**');
    expect(await result.evaluate((el) => (el as HTMLElement).innerText)).toContain('zebrafish'); // its name is its text
    await shots(p, 'p03-search');
    await p.getByRole('button', { name: 'Close search' }).click();
  });

  it('at 800 px a thread overlays the conversation instead of squeezing it (bug 7)', async () => {
    const p = dave.page;
    await p.setViewportSize({ width: 800, height: 700 });
    const msg = message(p, 'Unread 80');
    await messageAction(msg, 'Reply in thread');
    await p.getByRole('complementary', { name: 'Thread' }).waitFor();
    const w = await p.locator('main#main').evaluate((el) => el.getBoundingClientRect().width);
    expect(w).toBeGreaterThan(450);
    expect(await overflowX(p)).toBeLessThanOrEqual(0);
    await shots(p, 'p04-thread-800');
    await p.getByRole('button', { name: 'Close thread' }).click();
    await p.setViewportSize({ width: 1280, height: 800 });
  });

  it('settings offer only the 2FA action that fits its state (bug 8)', async () => {
    const p = dave.page;
    await p.getByRole('button', { name: 'Profile and settings' }).click();
    const settings = p.getByRole('dialog', { name: 'Settings' });
    await settings.getByRole('button', { name: 'Set up two-factor authentication' }).waitFor();
    expect(await settings.getByRole('button', { name: 'Turn off two-factor authentication' }).count()).toBe(0);
    await shots(p, 'p05-settings');
    await settings.getByRole('button', { name: 'Close' }).click();
  });

  it('the avatar colour stays when the display name changes (bug 8)', async () => {
    const p = dave.page;
    const avatar = message(p, 'Dave was here first').locator('.avatar');
    await timeline(p).evaluate((el) => (el.scrollTop = 0));
    const hue = async () =>
      (await p.locator(`li.msg .avatar`).filter({ hasText: /^[DZ]$/ }).first().getAttribute('class'))?.match(/hue-\d/)?.[0];
    void avatar;
    const before = await hue();
    expect(before).toBeTruthy();
    await apiCall(server.url, '/users/me', { method: 'PATCH', token: daveToken, body: { display_name: 'Zed' } });
    await p.locator('li.msg .author', { hasText: 'Zed' }).first().waitFor();
    expect(await hue()).toBe(before);
    await apiCall(server.url, '/users/me', { method: 'PATCH', token: daveToken, body: { display_name: 'Dave' } });
  });

  it('leaving a channel asks first (bug 8)', async () => {
    const p = dave.page;
    await openConv(p, /old-news/);
    await p.getByRole('button', { name: /^Members/ }).click();
    await p.getByRole('button', { name: 'Leave channel' }).click();
    const confirm = p.getByRole('alertdialog', { name: /Leave/ });
    await confirm.waitFor();
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    expect(await nav(p).getByRole('link', { name: /old-news/ }).count()).toBe(1);
    await p.getByRole('button', { name: 'Leave channel' }).click();
    await confirm.getByRole('button', { name: 'Leave', exact: true }).click();
    await nav(p).getByRole('link', { name: /old-news/ }).waitFor({ state: 'detached' });
  });

  it('a permalink opens the conversation scrolled to the message, in a new tab too', async () => {
    const list = await apiCall<{ messages: { id: string; text: string }[] }>(server.url, `/conversations/${landId}/messages?after_seq=0&limit=10`, { token: daveToken });
    const target = list.messages.find((m) => m.text === 'Unread 05')!;
    const tab = await dave.context.newPage();
    await tab.goto(`/c/${landId}/m/${target.id}`);
    await timeline(tab).locator('li.msg.is-highlight', { hasText: 'Unread 05' }).waitFor();
    expect(await inView(tab, 'Unread 05')).toBe(true);
    await tab.close();
  });

  it('read state syncs between two tabs of the same browser session (bug 9)', async () => {
    const p = dave.page;
    await openConv(p, /old|Frank/);
    const tab2 = await dave.context.newPage();
    await tab2.goto('/');
    await nav(tab2).waitFor();
    await post(erinToken, landId, 'For both tabs');
    for (const t of [p, tab2]) await nav(t).getByRole('link', { name: /landing.*1 unread/ }).waitFor();
    await openConv(p, /landing/);
    await message(p, 'For both tabs').waitFor();
    await until('read in tab 1', async () => (await nav(p).getByRole('link', { name: /landing.*unread/ }).count()) === 0);
    await until('read in tab 2', async () => (await nav(tab2).getByRole('link', { name: /landing.*unread/ }).count()) === 0, 5_000);
    await tab2.close();
  });

  it('sign-out clears drafts and everything stored for the account (issue 13, item 12)', async () => {
    const p = dave.page;
    await p.getByRole('textbox', { name: 'Message', exact: true }).fill('a secret draft');
    await sleep(100);
    expect(await p.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('parley.draft.')).length)).toBeGreaterThan(0);
    await p.getByRole('button', { name: 'Profile and settings' }).click();
    await p.getByRole('dialog', { name: 'Settings' }).getByRole('button', { name: 'Sign out', exact: true }).click();
    await p.getByLabel('Username').waitFor();
    await until('storage cleared', async () =>
      (await p.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('parley.') && k !== 'parley.theme').length)) === 0,
    );
    expect(await p.evaluate(() => Object.keys(sessionStorage).filter((k) => k.startsWith('parley.')).length)).toBe(0);
    expect(await p.locator('body').innerText()).not.toContain('a secret draft');
    await signInUi(dave, 'dave');
    await openConv(p, /landing/);
    expect(await p.getByRole('textbox', { name: 'Message', exact: true }).inputValue()).toBe('');
  });

  it('@ mention autocomplete suggests the conversation’s people first and inserts a mention', async () => {
    const p = dave.page;
    await openConv(p, /landing/);
    const box = p.getByRole('textbox', { name: 'Message', exact: true });
    await box.fill('');
    await box.pressSequentially('Thanks @er');
    const list = p.getByRole('listbox', { name: 'People' });
    await list.waitFor();
    const first = list.getByRole('option').first();
    expect(await first.innerText()).toContain('Erin');
    await shots(p, 'p06-mention');
    await box.press('Enter');
    expect(await box.inputValue()).toBe('Thanks @erin ');
    await box.pressSequentially(':thumbsu');
    await p.getByRole('listbox', { name: 'Emoji' }).getByRole('option').first().waitFor();
    await box.press('Tab');
    expect(await box.inputValue()).toMatch(/^Thanks @erin 👍\uFE0F? $/u);
    await p.getByRole('listbox', { name: 'Emoji' }).waitFor({ state: 'detached' });
    await box.press('Enter');
    // The mention is drawn as one.
    await message(p, 'Thanks').locator('.mention', { hasText: '@erin' }).waitFor();
    await message(p, 'Thanks @erin').waitFor();
  });

  it('# suggests channels and a #channel in a message links to it', async () => {
    const p = dave.page;
    await openConv(p, /Erin/);
    const box = p.getByRole('textbox', { name: 'Message', exact: true });
    await box.fill('');
    await box.pressSequentially('Go to #land');
    await p.getByRole('listbox', { name: 'Channels' }).getByRole('option', { name: /landing/ }).waitFor();
    await box.press('Enter');
    expect(await box.inputValue()).toBe('Go to #landing ');
    await box.press('Enter');
    await message(p, 'Go to').getByRole('link', { name: '#landing' }).click();
    await p.getByRole('heading', { name: /landing/ }).waitFor();
  });

  it('the formatting toolbar and Ctrl+B wrap the selection; lists and strikethrough render', async () => {
    const p = dave.page;
    const box = p.getByRole('textbox', { name: 'Message', exact: true });
    await box.fill('make this bold');
    await box.evaluate((el: HTMLTextAreaElement) => el.setSelectionRange(10, 14));
    await box.press('Control+b');
    expect(await box.inputValue()).toBe('make this **bold**');
    await box.fill('item one\nitem two');
    await box.evaluate((el: HTMLTextAreaElement) => el.setSelectionRange(0, el.value.length));
    await p.getByRole('toolbar', { name: 'Formatting' }).getByRole('button', { name: 'Bulleted list' }).click();
    expect(await box.inputValue()).toBe('- item one\n- item two');
    await box.press('End');
    await box.press('Shift+Enter');
    await box.pressSequentially('~~struck~~');
    await box.press('Enter');
    const msg = message(p, 'item one');
    await msg.locator('ul > li', { hasText: 'item two' }).waitFor();
    await msg.locator('s', { hasText: 'struck' }).waitFor();
  });

  it('the Ctrl+K quick switcher opens a DM by keyboard alone (fuzzy)', async () => {
    const p = dave.page;
    await registerUser(server.url, 'gina.lopez', 'Gina Lopez');
    await p.getByRole('textbox', { name: 'Message', exact: true }).focus();
    const input = p.getByRole('combobox', { name: 'Conversation or person' });
    // Ctrl+K, then the query typed once the switcher holds the focus; Enter once the selected
    // option (the one Enter opens) is the expected one. The pointer is moved out of the way
    // first: a row that appears under a resting pointer gets a mousemove and selects itself
    // (a CI run opened Gina's DM again instead of the channel).
    const switchTo = async (query: string, expected: RegExp) => {
      await p.mouse.move(0, 0);
      await p.keyboard.press('Control+k');
      await input.waitFor();
      await until('the switcher to hold the focus', () => input.evaluate((el) => el === document.activeElement));
      await p.keyboard.type(query);
      const selected = p.locator('[role="option"][aria-selected="true"]');
      await until(`"${query}" to select ${expected}`, async () => expected.test((await selected.textContent()) ?? ''));
      expect(await input.inputValue()).toBe(query);
    };
    await switchTo('glpz', /Gina Lopez/);
    await shots(p, 'p07-switcher');
    await p.keyboard.press('Enter');
    await p.getByRole('heading', { name: /Gina Lopez/ }).waitFor();
    await nav(p).getByRole('link', { name: /Gina Lopez/ }).waitFor();
    // And back to a channel the same way.
    await switchTo('landng', /landing/);
    await p.keyboard.press('Enter');
    await p.getByRole('heading', { name: /landing/ }).waitFor();
  });

  it('keyboard shortcuts sheet on ?, profile popover with a Message button, channel settings', async () => {
    const p = dave.page;
    await p.locator('main').getByRole('heading', { name: /landing/ }).click();
    await p.keyboard.press('?');
    const sheet = p.getByRole('dialog', { name: 'Keyboard shortcuts' });
    await sheet.waitFor();
    await shots(p, 'p08-shortcuts');
    await p.keyboard.press('Escape');
    await sheet.waitFor({ state: 'detached' });

    await timeline(p).getByRole('button', { name: 'Profile of Erin' }).last().click();
    const card = p.getByRole('dialog', { name: 'Profile of Erin' });
    await card.waitFor();
    await shots(p, 'p09-profile');
    await card.getByRole('button', { name: 'Message' }).click();
    await p.getByRole('heading', { name: /Erin/ }).waitFor();

    await openConv(p, /landing/);
    await p.getByRole('button', { name: 'Conversation settings' }).click();
    const settings = p.getByRole('dialog', { name: /Settings for #landing/ });
    await settings.getByText('2 members').waitFor();
    await settings.getByText('owner', { exact: true }).waitFor();
    await shots(p, 'p10-channel-settings');
    await settings.getByRole('button', { name: 'Close' }).click();
  });

  it('every main screen: no horizontal overflow at 390 px, axe clean, one <h1>, screenshots', async () => {
    // Long names and URLs that used to widen the page (bug 5).
    const long = 'a-very-long-channel-name-without-any-spaces-that-goes-on-and-on-and-on-forever-x';
    const ch = await apiCall(server.url, '/conversations', { method: 'POST', token: daveToken, body: { type: 'channel', name: long.slice(0, 80), topic: 'Long topic '.repeat(20) } });
    const m = await post(daveToken, ch.id, `See https://example.com/${'very-long-path-segment/'.repeat(12)}end and more`);
    await apiCall(server.url, `/conversations/${ch.id}/pins/${m.id}`, { method: 'PUT', token: daveToken });
    const results: string[] = [];
    for (const [label, viewport] of [
      ['desktop', { width: 1280, height: 800 }],
      ['phone', { width: 390, height: 844 }],
    ] as const) {
      const w = await openPage(browser, server.url, { viewport, ...(label === 'phone' ? { isMobile: true, hasTouch: true, deviceScaleFactor: 2 } : {}) });
      const p = w.page;
      const check = async (screen: string) => {
        await sleep(150);
        const over = await overflowX(p);
        const h1 = await p.locator('h1').count();
        const axe = await axeViolations(p);
        if (over > 0) results.push(`${label}/${screen}: overflows by ${over}px`);
        if (h1 !== 1) results.push(`${label}/${screen}: ${h1} <h1>`);
        for (const v of axe) results.push(`${label}/${screen}: ${v}`);
        await shots(p, `screen-${label}-${screen}`);
      };
      await p.goto('/');
      await p.getByLabel('Username').waitFor();
      await check('sign-in');
      await signInUi(w, 'dave');
      await check('home');
      const open = async (name: RegExp) => {
        if (label === 'phone' && !(await nav(p).isVisible())) await p.getByRole('button', { name: 'Back to conversations' }).click();
        await openConv(p, name);
      };
      await open(/a-very-long-channel/);
      await message(p, 'See https').waitFor();
      await check('conversation');
      const head = p.locator('.conv-head');
      if (label === 'phone') {
        // The header keeps the calls and one "More" menu: the name keeps most of the width.
        const h2 = await head.locator('h2').boundingBox();
        expect(h2!.width).toBeGreaterThan(200);
        expect(await head.getByRole('button').evaluateAll((bs) => bs.filter((b) => (b as HTMLElement).offsetParent).length)).toBeLessThanOrEqual(4);
        // The menu by keyboard: Enter opens it on the first item, arrows move, Escape closes
        // it and gives focus back; Space opens it again, ↑ wraps to the last item.
        const more = head.getByRole('button', { name: 'More' });
        const focused = () => p.evaluate(() => document.activeElement?.textContent ?? '');
        await more.focus();
        await p.keyboard.press('Enter');
        const menu = p.getByRole('menu', { name: 'Conversation actions' });
        await menu.waitFor();
        expect(await more.getAttribute('aria-expanded')).toBe('true');
        await until('the first item has the focus', async () => (await focused()) === 'Starred');
        await p.keyboard.press('ArrowDown');
        expect(await focused()).toBe('Pinned messages (1)');
        await check('more-menu');
        await p.keyboard.press('Escape');
        await menu.waitFor({ state: 'detached' });
        expect(await p.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('More');
        await p.keyboard.press(' ');
        await menu.waitFor();
        await until('the first item has the focus', async () => (await focused()) === 'Starred');
        await p.keyboard.press('ArrowUp');
        expect(await focused()).toBe('Conversation settings');
        await p.keyboard.press('Home');
        await p.keyboard.press('ArrowDown');
        await p.keyboard.press('Enter');
        await menu.waitFor({ state: 'detached' });
      } else {
        expect(await head.getByRole('button', { name: 'More' }).isVisible()).toBe(false);
        await p.getByRole('button', { name: /^Pinned messages/ }).click();
      }
      await p.getByRole('complementary', { name: 'Pinned messages' }).getByText(/See https/).waitFor();
      await check('pins');
      await p.getByRole('button', { name: 'Close pinned messages' }).click();
      if (label === 'phone') {
        await head.getByRole('button', { name: 'More' }).click();
        await p.getByRole('menuitem', { name: /^Members/ }).click();
      } else await p.getByRole('button', { name: /^Members/ }).click();
      await p.getByRole('complementary', { name: 'Members' }).waitFor();
      await check('members');
      await p.getByRole('button', { name: 'Close members' }).click();
      await open(/landing/);
      const msg = message(p, 'Unread 80');
      await msg.waitFor();
      await msg.click();
      // The click only armed the message: no button of its toolbar was under the pointer.
      expect(await p.getByRole('complementary', { name: 'Thread' }).count()).toBe(0);
      await msg.getByRole('button', { name: 'Reply in thread' }).click();
      await p.getByRole('complementary', { name: 'Thread' }).waitFor();
      await check('thread');
      await p.getByRole('button', { name: 'Close thread' }).click();
      if (label === 'phone') await p.getByRole('button', { name: 'Back to conversations' }).click();
      await p.getByRole('button', { name: 'Search messages' }).click();
      await p.getByRole('searchbox', { name: 'Search messages' }).fill('zebrafish');
      await p.getByRole('search').getByRole('button', { name: 'Search' }).click();
      await p.getByRole('list', { name: 'Search results' }).waitFor();
      await check('search');
      await p.getByRole('button', { name: 'Close search' }).click();
      for (const [item, dialogName] of [
        ['New message', 'New message'],
        ['New channel', 'Create a channel'],
        ['Browse channels', 'Browse channels'],
      ]) {
        await p.getByRole('button', { name: 'New…' }).click();
        await p.getByRole('menuitem', { name: item }).click();
        await p.getByRole('dialog', { name: dialogName }).waitFor();
        await check(dialogName.toLowerCase().replace(/\s+/g, '-'));
        await p.getByRole('dialog', { name: dialogName }).getByRole('button', { name: 'Close' }).click();
      }
      await p.getByRole('button', { name: 'Profile and settings' }).click();
      await p.getByRole('dialog', { name: 'Settings' }).waitFor();
      await check('settings');
      await p.getByRole('dialog', { name: 'Settings' }).getByRole('button', { name: 'Close' }).click();
      await p.getByRole('button', { name: /^Jump to/ }).click();
      await p.getByRole('combobox', { name: 'Conversation or person' }).waitFor();
      await check('switcher');
      await p.keyboard.press('Escape');
      await open(/landing/);
      await p.getByRole('button', { name: 'Insert emoji' }).click();
      await p.getByRole('dialog', { name: 'Insert an emoji' }).getByRole('button', { name: /grinning face/ }).first().waitFor();
      await check('emoji-picker');
      await p.keyboard.press('Escape');
      expect(w.problems).toEqual([]);
      await w.context.close();
    }
    expect(results).toEqual([]);
  }, 150_000); // every screen at two sizes and two themes, with axe on each: long on 2 loaded cores

  it('no script errors or CSP violations', () => {
    expect(dave.problems).toEqual([]);
    void erinId;
  });
});
