// AI on the premises in the web app, against the real server with Apertium and CLD2: translate
// a message from the message menu, turn auto-translate on in the channel settings, click a
// smart reply above the composer, and ask the assistant (from the DM list) to summarise a
// channel. Screenshots at desktop and phone sizes, light and dark.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { apiCall, launch, openPage, overflowX, registerUser, Server, shots, signInUi, until, type Watched } from './harness';

const server = new Server();
let browser: Browser;
let alice: Watched;
let bobToken = '';
let bobId = '';
let channelId = '';
const CHANNEL = 'ai-general';

const timeline = (p: Page) => p.getByRole('log');
const message = (p: Page, text: string | RegExp) => timeline(p).locator('li.msg').filter({ hasText: text });

beforeAll(async () => {
  await server.start();
  browser = await launch();
  alice = await openPage(browser, server.url, { viewport: { width: 1280, height: 800 } });
  await registerUser(server.url, 'alice');
  const bob = await registerUser(server.url, 'bob');
  bobToken = bob.access_token;
  bobId = bob.user.id;
  const ch = await apiCall<{ id: string }>(server.url, '/conversations', {
    method: 'POST',
    token: bobToken,
    body: { type: 'channel', name: CHANNEL, visibility: 'public' },
  });
  channelId = ch.id;
});

afterAll(async () => {
  await browser?.close();
  await server.stop();
  server.cleanup();
});

async function post(conv: string, text: string) {
  await apiCall(server.url, `/conversations/${conv}/messages`, {
    method: 'POST',
    token: bobToken,
    body: { text, client_msg_id: `e2e-${Math.random().toString(36).slice(2)}` },
  });
}

describe.sequential('AI in the web app', () => {
  it('translates a message from the message menu, keeping a mention and code', async () => {
    const p = alice.page;
    await signInUi(alice, 'alice');
    // Alice joins the channel through the API as herself is not possible here: Bob adds her.
    const aliceUser = await apiCall<{ users: { id: string; username: string }[] }>(server.url, '/users?q=alice', { token: bobToken });
    await apiCall(server.url, `/conversations/${channelId}/members`, {
      method: 'POST',
      token: bobToken,
      body: { user_ids: [aliceUser.users[0].id] },
    });
    // Her language for translations, in the profile settings.
    await p.getByRole('button', { name: /Profile and settings/ }).click();
    await p.getByLabel('Language for translations').selectOption('es');
    await p.getByRole('button', { name: 'Save profile' }).click();
    await p.getByRole('status').getByText('Saved.').waitFor();
    await p.keyboard.press('Escape');
    await post(channelId, 'Hello @alice, the meeting is tomorrow. Run `make build` first.');
    await p.getByRole('link', { name: new RegExp(CHANNEL) }).first().click();
    const m = message(p, 'the meeting is tomorrow');
    await m.waitFor();
    await m.hover();
    await m.getByRole('button', { name: 'Translate message', exact: true }).click();
    const t = m.locator('.translation');
    await t.getByText(/reuni/).waitFor({ timeout: 30_000 }).catch(async (e) => {
      throw new Error(`${e}\nmessage: ${await m.innerText()}\nproblems: ${alice.problems.join('; ')}`);
    });
    const text = await t.locator('.text').innerText();
    expect(text).toContain('mañana');
    expect(text).toContain('@alice');
    expect(text).toContain('make build');
    await t.getByText(/Translated from English to Spanish/).waitFor();
    await shots(p, 'ai-01-translated-desktop');
    await t.getByRole('button', { name: 'Hide translation' }).click();
    await t.waitFor({ state: 'detached' });
  });

  it('auto-translates new messages once the toggle is on', async () => {
    const p = alice.page;
    await p.getByRole('button', { name: 'Conversation settings' }).click();
    const toggle = p.getByRole('checkbox', { name: 'Auto-translate messages' });
    await p.getByText('Auto-translate messages into Spanish').waitFor();
    await toggle.click();
    await until('auto-translate saved', async () => (await toggle.isChecked()) && !(await toggle.isDisabled()));
    await shots(p, 'ai-02-channel-settings');
    await p.keyboard.press('Escape');
    await post(channelId, 'The house is big and the cat is black.');
    const m = message(p, 'The house is big');
    await m.locator('.translation').getByText(/casa/).waitFor({ timeout: 30_000 });
  });

  it('suggests replies above the composer and sends the one clicked', async () => {
    const p = alice.page;
    await post(channelId, 'Thanks a lot for the help!');
    const chips = p.getByRole('group', { name: 'Suggested replies' });
    const chip = chips.getByRole('button', { name: "Quick reply: You're welcome!" });
    await chip.waitFor({ timeout: 20_000 });
    await shots(p, 'ai-03-smart-replies');
    await chip.click();
    await until('the reply is sent', async () => {
      const r = await apiCall<{ messages: { text: string; sender_id: string }[] }>(server.url, `/conversations/${channelId}/messages?limit=5`, { token: bobToken });
      return r.messages.some((x) => x.text === "You're welcome!" && x.sender_id !== bobId);
    });
    await chips.waitFor({ state: 'detached' });
  });

  it('asks the assistant, from the DM list, to summarise the channel', async () => {
    const p = alice.page;
    await p.getByRole('button', { name: 'Open the assistant' }).click();
    await p.getByRole('heading', { name: /Assistant/ }).first().waitFor();
    // Posted while Alice is away from the channel: unread for her.
    const sent: string[] = [];
    for (let i = 0; i < 12; i++) {
      const t = i % 3 === 0 ? `The release moves to Friday because the migration is late, note ${i}.` : `Anna fixes the database migration today, item ${i}.`;
      sent.push(t);
      await post(channelId, t);
    }
    await until('the channel shows unread', async () => (await p.getByRole('link', { name: /ai-general.*unread/ }).count()) > 0);
    const input = p.getByRole('textbox', { name: 'Message', exact: true });
    // A trailing space closes the composer's #channel completion, so Enter sends.
    await input.fill(`summarize #${CHANNEL} `);
    await input.press('Enter');
    const answer = message(p, /Summary of 12 unread messages in #ai-general/);
    await answer.first().waitFor({ timeout: 30_000 }).catch(async (e) => {
      throw new Error(`${e}\nconversation: ${await timeline(p).innerText()}`);
    });
    const text = await answer.first().innerText();
    const bullets = text.split('\n').filter((l) => sent.some((s) => s.includes(l.trim())) && l.trim().length > 10);
    expect(bullets.length).toBeGreaterThan(0);
    expect(bullets.length).toBeLessThanOrEqual(5);
    await shots(p, 'ai-04-assistant');
  });

  it('fits a phone screen', async () => {
    const phone = await openPage(browser, server.url, { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    await signInUi(phone, 'alice');
    await phone.page.goto(`/c/${channelId}`);
    // Auto-translate is the user's choice on the server: this device translates too.
    await message(phone.page, 'The house is big').locator('.translation').getByText(/casa/).waitFor({ timeout: 30_000 });
    expect(await overflowX(phone.page)).toBe(0);
    await shots(phone.page, 'ai-05-phone');
    await phone.context.close();
    expect(alice.problems).toEqual([]);
  });
});
