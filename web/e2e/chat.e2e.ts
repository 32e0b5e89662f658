// Two people in two browser contexts, against the real server: sign up, DM and channel in real
// time, reactions, threads, edit and delete, unread badge and typing indicator, a server
// restart with nothing lost, HTML shown as text, and a phone-sized screen.
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Locator, Page } from 'playwright-core';
import { apiCall, launch, openPage, Server, shot, sleep, type Watched } from './harness';

/** RFC 6238 TOTP (SHA-1, 6 digits, 30 s) from a base32 secret, as an authenticator app does. */
function totp(secret: string, at = Date.now()): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of secret.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(ch).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g)!.map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 30_000)));
  const h = createHmac('sha1', key).update(counter).digest();
  const o = h[h.length - 1] & 0xf;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

const server = new Server();
let browser: Browser;
let alice: Watched;
let bob: Watched;
const PASSWORD = 'correct horse battery';

async function until(what: string, f: () => Promise<boolean>, ms = 15_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await f().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const timeline = (p: Page) => p.getByRole('log');
const message = (p: Page, text: string | RegExp) => timeline(p).locator('li.msg').filter({ hasText: text });
const seeText = (p: Page, text: string | RegExp, ms = 15_000) => message(p, text).first().waitFor({ state: 'visible', timeout: ms });

async function send(p: Page, text: string, box = 'Message') {
  const input = p.getByRole('textbox', { name: box, exact: true });
  await input.fill(text);
  await input.press('Enter');
}

async function action(msg: Locator, name: string) {
  await msg.hover();
  await msg.getByRole('button', { name, exact: true }).click();
}

async function signUp(w: Watched, username: string) {
  const res = await w.page.goto('/');
  expect(res?.headers()['content-security-policy']).toContain("script-src 'self'");
  await w.page.getByRole('button', { name: 'Create an account' }).click();
  await w.page.getByLabel('Username').fill(username);
  await w.page.getByLabel('Password').fill(PASSWORD);
  await w.page.getByRole('button', { name: 'Create account' }).click();
  await w.page.getByRole('navigation', { name: 'Conversations' }).waitFor();
}

async function openConversation(p: Page, name: RegExp) {
  await p.getByRole('navigation', { name: 'Conversations' }).getByRole('link', { name }).click();
  await timeline(p).waitFor();
}

beforeAll(async () => {
  await server.start();
  browser = await launch();
  alice = await openPage(browser, server.url);
  bob = await openPage(browser, server.url);
});

afterAll(async () => {
  await browser?.close();
  await server.stop();
  server.cleanup();
});

describe.sequential('parley web app, two people', () => {
  it('both sign up', async () => {
    await signUp(alice, 'alice');
    await signUp(bob, 'bob');
    await shot(alice.page, '01-signed-up');
  });

  it('alice starts a DM; bob gets an unread badge, then they chat in real time', async () => {
    const a = alice.page;
    await a.getByRole('button', { name: 'New…' }).click();
    await a.getByRole('menuitem', { name: 'New message' }).click();
    await a.getByLabel('Search people').fill('bob');
    await a.getByRole('option', { name: /bob/ }).click();
    await a.getByRole('button', { name: 'Start conversation' }).click();
    await timeline(a).waitFor();
    await send(a, 'Hello **Bob**!');
    await seeText(a, 'Hello Bob!');
    await expect(message(a, 'Hello Bob!').locator('strong', { hasText: 'Bob' }).count()).resolves.toBe(1);

    const b = bob.page;
    const dm = b.getByRole('navigation', { name: 'Conversations' }).getByRole('link', { name: /alice.*1 unread/ });
    await dm.waitFor({ timeout: 15_000 });
    await expect(dm.locator('.badge').textContent()).resolves.toBe('1');
    await shot(b, '02-unread-badge');
    await dm.click();
    await seeText(b, 'Hello Bob!');
    await b.getByRole('separator', { name: 'New messages' }).waitFor();
    await until('badge cleared', async () => (await b.locator('nav .badge').count()) === 0);

    // Typing indicator
    await b.getByRole('textbox', { name: 'Message', exact: true }).pressSequentially('Hi Al', { delay: 30 });
    await a.getByText('bob is typing…').waitFor({ timeout: 10_000 });
    await shot(a, '03-typing');
    await b.getByRole('textbox', { name: 'Message', exact: true }).press('Shift+Enter');
    await b.getByRole('textbox', { name: 'Message', exact: true }).pressSequentially('ice!');
    await b.getByRole('textbox', { name: 'Message', exact: true }).press('Enter');
    await seeText(a, /Hi Al\s*ice!/);
    await until('typing cleared', async () => !(await a.getByText('bob is typing…').isVisible()));
  });

  it('alice creates a channel; bob browses, joins, and they talk there', async () => {
    const a = alice.page;
    const b = bob.page;
    // A draft stays with its conversation.
    await a.getByRole('textbox', { name: 'Message', exact: true }).fill('half-written thought');
    await a.getByRole('button', { name: 'New…' }).click();
    await a.getByRole('menuitem', { name: 'New channel' }).click();
    await a.getByLabel('Channel name').fill('general');
    await a.getByLabel(/Topic/).fill('Everything and nothing');
    await a.getByRole('button', { name: 'Create channel' }).click();
    await timeline(a).waitFor();
    await a.getByRole('heading', { name: /general/ }).waitFor();

    await b.getByRole('button', { name: 'New…' }).click();
    await b.getByRole('menuitem', { name: 'Browse channels' }).click();
    await b.getByRole('button', { name: 'Join #general' }).click();
    await b.getByRole('heading', { name: /general/ }).waitFor();

    await send(a, 'Welcome to the channel');
    await seeText(b, 'Welcome to the channel');
    await send(b, 'Thanks, glad to be here');
    await seeText(a, 'Thanks, glad to be here');
    await shot(b, '04-channel');
    expect(await a.getByRole('textbox', { name: 'Message', exact: true }).inputValue()).toBe('');
    await openConversation(a, /bob/);
    expect(await a.getByRole('textbox', { name: 'Message', exact: true }).inputValue()).toBe('half-written thought');
    await a.getByRole('textbox', { name: 'Message', exact: true }).fill('');
    await openConversation(a, /general/);
  });

  it('bob reacts and alice sees it', async () => {
    const b = bob.page;
    await action(message(b, 'Welcome to the channel'), 'Add reaction');
    await b.getByRole('button', { name: 'React with 👍' }).click();
    const onAlice = message(alice.page, 'Welcome to the channel').getByRole('button', { name: /👍 1/ });
    await onAlice.waitFor({ timeout: 15_000 });
    // Alice adds hers: 2 on both sides.
    await onAlice.click();
    await message(b, 'Welcome to the channel').getByRole('button', { name: /👍 2/ }).waitFor({ timeout: 15_000 });
    // Bob pins it; alice finds it in the pinned messages.
    await action(message(b, 'Welcome to the channel'), 'Pin message');
    await message(b, 'Welcome to the channel').getByText('pinned').waitFor();
    await alice.page.getByRole('button', { name: 'Pinned messages' }).click();
    const pinsPanel = alice.page.getByRole('complementary', { name: 'Pinned messages' });
    await pinsPanel.getByText('Welcome to the channel').waitFor({ timeout: 15_000 });
    await alice.page.getByRole('button', { name: 'Close pinned messages' }).click();
  });

  it('alice replies in a thread; bob sees the reply count and opens the thread', async () => {
    const a = alice.page;
    const b = bob.page;
    await action(message(a, 'Thanks, glad to be here'), 'Reply in thread');
    const panel = a.getByRole('complementary', { name: 'Thread' });
    await panel.waitFor();
    await send(a, 'A reply in the thread', 'Reply');
    await panel.getByText('A reply in the thread').waitFor();
    await message(b, 'Thanks, glad to be here').getByRole('button', { name: '1 reply' }).click();
    await b.getByRole('complementary', { name: 'Thread' }).getByText('A reply in the thread').waitFor();
    await send(b, 'And a reply back', 'Reply');
    await panel.getByText('And a reply back').waitFor({ timeout: 15_000 });
    await shot(b, '05-thread');
    await a.getByRole('button', { name: 'Close thread' }).click();
    await b.getByRole('button', { name: 'Close thread' }).click();
    // Replies stay out of the main timeline.
    expect(await message(b, 'A reply in the thread').count()).toBe(0);
  });

  it('alice edits and deletes her messages; bob sees both', async () => {
    const a = alice.page;
    const b = bob.page;
    await action(message(a, 'Welcome to the channel'), 'Edit message');
    const edit = a.getByRole('textbox', { name: 'Edit message' });
    await edit.fill('Welcome to the channel, everyone');
    await edit.press('Enter');
    await seeText(b, 'Welcome to the channel, everyone');
    await message(b, 'Welcome to the channel, everyone').getByText('(edited)').waitFor();

    // Keyboard: from the timeline, ↑ focuses the last message, Tab reaches its actions.
    await timeline(a).focus();
    await a.keyboard.press('ArrowUp');
    expect(await a.evaluate(() => document.activeElement?.matches('li.msg'))).toBe(true);
    const labels: (string | null)[] = [];
    for (let i = 0; i < 4 && !labels.includes('Add reaction'); i++) {
      await a.keyboard.press('Tab');
      labels.push(await a.evaluate(() => document.activeElement?.getAttribute('aria-label') ?? document.activeElement?.textContent ?? null));
    }
    expect(labels).toContain('Add reaction');
    await a.keyboard.press('Escape');
    await send(a, 'This one is a mistake');
    await seeText(b, 'This one is a mistake');
    await action(message(a, 'This one is a mistake'), 'Delete message');
    await a.getByRole('alertdialog', { name: 'Delete this message?' }).getByRole('button', { name: 'Delete' }).click();
    await seeText(b, 'This message was deleted.');
    expect(await message(b, 'This one is a mistake').count()).toBe(0);
    await shot(b, '06-edit-delete');
  });

  it('shows HTML in a message as text, never as markup', async () => {
    const xss = '<img src=x onerror=alert(1)>';
    await send(alice.page, xss);
    await seeText(bob.page, xss);
    for (const w of [alice, bob]) {
      expect(await message(w.page, xss).locator('.text').innerText()).toContain(xss);
      expect(await timeline(w.page).locator('img').count()).toBe(0);
    }
    await sleep(300);
    expect(alice.dialogs.concat(bob.dialogs)).toEqual([]);
  });

  it('survives a server restart: offline banner, retry, and catch-up with nothing lost', async () => {
    const a = alice.page;
    const b = bob.page;
    // A third client (bob on another device) to send while the browsers are reconnecting.
    const other = await apiCall(server.url, '/auth/login', { method: 'POST', body: { username: 'bob', password: PASSWORD, device_name: 'e2e script' } });
    const convs = await apiCall<{ conversations: { id: string; type: string; name: string }[] }>(server.url, '/conversations', { token: other.access_token });
    const general = convs.conversations.find((c) => c.type === 'channel' && c.name === 'general')!;

    await server.stop();
    await a.getByText(/You are offline/).waitFor({ timeout: 15_000 });
    await b.getByText(/You are offline/).waitFor({ timeout: 15_000 });
    // A send while the server is down fails visibly, with a retry.
    await send(a, 'Sent while the server was down');
    await message(a, 'Sent while the server was down').getByRole('button', { name: 'Retry' }).waitFor({ timeout: 15_000 });
    await shot(a, '07-offline-retry');
    // Regression (bug 3): the banner's and the "Not sent" row's styles no longer leak onto the
    // connection dot and the whole failed message.
    const conn = (await a.locator('.conn').boundingBox())!;
    expect(Math.max(conn.width, conn.height)).toBeLessThanOrEqual(10);
    expect(await message(a, 'Sent while the server was down').evaluate((el) => getComputedStyle(el).display)).toBe('grid');

    await server.start();
    for (let i = 1; i <= 3; i++)
      await apiCall(server.url, `/conversations/${general.id}/messages`, {
        method: 'POST',
        token: other.access_token,
        body: { text: `Missed message ${i}`, client_msg_id: `e2e-missed-${i}` },
      });
    for (const p of [a, b]) {
      await p.getByText(/You are offline/).waitFor({ state: 'hidden', timeout: 30_000 });
      for (let i = 1; i <= 3; i++) await seeText(p, `Missed message ${i}`);
    }
    // Regression: failed sends were not retried after the reconnect; now they go by themselves.
    await seeText(b, 'Sent while the server was down');
    await until('retry confirmed', async () => (await message(a, 'Sent while the server was down').getByRole('button', { name: 'Retry' }).count()) === 0);

    // Real time works again both ways, and nothing is shown twice.
    await send(b, 'Back after the restart');
    await seeText(a, 'Back after the restart');
    for (const p of [a, b]) {
      for (const t of ['Welcome to the channel, everyone', 'Missed message 2', 'Sent while the server was down', 'Back after the restart'])
        expect(await message(p, t).count(), `${t} once`).toBe(1);
    }
    await shot(a, '08-after-restart');
  });

  it('works on a phone-sized screen, and the app shell loads offline', async () => {
    const phone = await openPage(browser, server.url, { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    const p = phone.page;
    await p.goto('/');
    await p.getByLabel('Username').fill('bob');
    await p.getByLabel('Password').fill(PASSWORD);
    await p.getByRole('button', { name: 'Sign in' }).click();
    const nav = p.getByRole('navigation', { name: 'Conversations' });
    await nav.waitFor();
    await shot(p, '09-phone-sidebar');
    await openConversation(p, /general/);
    await expect(nav.isVisible()).resolves.toBe(false);
    await send(p, 'Sent from a phone');
    await seeText(alice.page, 'Sent from a phone');
    const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await shot(p, '10-phone-conversation');
    await p.getByRole('button', { name: 'Back to conversations' }).click();
    await nav.waitFor();

    // PWA: manifest and service worker; with the network gone the shell still loads.
    const manifest = await (await p.request.get('/manifest.webmanifest')).json();
    expect(manifest).toMatchObject({ name: 'Parley', start_url: '/' });
    expect(manifest.icons.length).toBeGreaterThan(0);
    await p.evaluate(() => navigator.serviceWorker.ready.then(() => true));
    await phone.context.setOffline(true);
    await p.reload();
    await p.locator('#app > *').first().waitFor({ timeout: 10_000 });
    await shot(p, '11-phone-offline-shell');
    await phone.context.setOffline(false);
    expect(phone.problems).toEqual([]);
    await phone.context.close();
  });

  it('search finds messages and jumps to one far back in a long history, which scrolls smoothly', async () => {
    const a = alice.page;
    const me = await apiCall(server.url, '/auth/login', { method: 'POST', body: { username: 'alice', password: PASSWORD, device_name: 'e2e script' } });
    const ch = await apiCall(server.url, '/conversations', { method: 'POST', token: me.access_token, body: { type: 'channel', name: 'history' } });
    const N = 1500;
    let next = 1;
    const worker = async () => {
      for (let i = next++; i <= N; i = next++)
        await apiCall(server.url, `/conversations/${ch.id}/messages`, {
          method: 'POST',
          token: me.access_token,
          body: { text: `History ${String(i).padStart(4, '0')}`, client_msg_id: `h${i}` },
        });
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    await openConversation(a, /history/);
    await seeText(a, 'History 1500');
    expect(await timeline(a).locator('li.msg').count()).toBeLessThanOrEqual(150);

    await a.getByRole('button', { name: 'Search messages' }).click();
    await a.getByRole('searchbox', { name: 'Search messages' }).fill('History 0042');
    await a.getByRole('search').getByRole('button', { name: 'Search' }).click();
    await a.getByRole('list', { name: 'Search results' }).getByRole('button').first().click();
    await seeText(a, 'History 0042');
    await timeline(a).locator('li.msg.is-highlight', { hasText: 'History 0042' }).waitFor();
    await shot(a, '12-search-jump');
    await a.getByRole('button', { name: 'Close search' }).click();

    await a.getByRole('button', { name: /Jump to latest/ }).click();
    await seeText(a, 'History 1500');
    // Scroll all the way up: older pages load, the window slides, the DOM stays small.
    const t0 = Date.now();
    await until(
      'the beginning of the history',
      async () => {
        await timeline(a).evaluate((el) => (el.scrollTop = 0));
        return a.getByText('This is the very beginning of the conversation.').isVisible();
      },
      60_000,
    );
    const took = Date.now() - t0;
    await seeText(a, 'History 0001');
    expect(await timeline(a).locator('li.msg').count()).toBeLessThanOrEqual(200);
    console.log(`scrolled through ${N} messages to the top in ${took} ms`);
  });

  it('account: profile, presence, sessions with revoke, 2FA set-up and a TOTP sign-in, dark theme', async () => {
    const carol = await openPage(browser, server.url);
    const p = carol.page;
    await signUp(carol, 'carol');
    const other = await apiCall(server.url, '/auth/login', { method: 'POST', body: { username: 'carol', password: PASSWORD, device_name: 'Other device' } });

    await p.getByRole('button', { name: 'Profile and settings' }).click();
    const settings = p.getByRole('dialog', { name: 'Settings' });
    await settings.getByLabel('Display name').fill('Carol C');
    await settings.getByLabel('Status').fill('On holiday');
    await settings.getByRole('button', { name: 'Save profile' }).click();
    await settings.getByText('Saved.').waitFor();
    await p.getByRole('navigation', { name: 'Conversations' }).getByText('Carol C').waitFor();

    // Sessions: revoke the other one; its token stops working.
    await settings.getByRole('button', { name: 'Revoke session Other device' }).click();
    await settings.getByRole('button', { name: 'Revoke session Other device' }).waitFor({ state: 'detached' });
    await expect(apiCall(server.url, '/users/me', { token: other.access_token })).rejects.toThrow(/401/);

    // 2FA: QR code drawn in the page, a code from the secret, ten recovery codes.
    await settings.getByRole('button', { name: 'Set up two-factor authentication' }).click();
    await settings.getByRole('img', { name: 'QR code for your authenticator app' }).waitFor();
    const secret = (await settings.locator('code.secret').textContent())!.trim();
    await settings.getByLabel('Verification code').fill(totp(secret));
    await settings.getByRole('button', { name: 'Turn on two-factor authentication' }).click();
    const codes = settings.getByRole('region', { name: 'Recovery codes' }).locator('li');
    await codes.first().waitFor();
    expect(await codes.count()).toBe(10);
    const recovery = (await codes.first().textContent())!.trim();
    await shot(p, '13-2fa-recovery-codes');

    await settings.getByRole('radio', { name: 'Dark' }).check();
    expect(await p.evaluate(() => document.documentElement.dataset.theme)).toBe('dark');
    await settings.getByRole('button', { name: 'Sign out', exact: true }).click();

    await p.getByLabel('Username').fill('carol');
    await p.getByLabel('Password').fill(PASSWORD);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.getByLabel('Authentication code').fill(recovery);
    await p.getByRole('button', { name: 'Verify' }).click();
    await p.getByRole('navigation', { name: 'Conversations' }).waitFor();
    await shot(p, '14-dark-theme');
    expect(carol.problems).toEqual([]);
    await carol.context.close();
  });

  it('presence: bob goes "do not disturb" and alice sees it', async () => {
    const b = bob.page;
    await b.getByRole('button', { name: 'Profile and settings' }).click();
    await b.getByRole('dialog', { name: 'Settings' }).getByRole('radio', { name: 'Do not disturb' }).check();
    await b.getByRole('dialog', { name: 'Settings' }).getByRole('button', { name: 'Close' }).click();
    await alice.page
      .getByRole('navigation', { name: 'Conversations' })
      .getByRole('link', { name: /bob \(Do not disturb\)/ })
      .waitFor({ timeout: 15_000 });
    await alice.page.getByRole('link', { name: /bob/ }).click();
    await alice.page.getByRole('heading', { name: /bob/ }).getByRole('img', { name: 'Do not disturb' }).waitFor();
  });

  it('no script errors or CSP violations in either page', () => {
    expect(alice.problems).toEqual([]);
    expect(bob.problems).toEqual([]);
  });
});
