// Web Push end to end through a real push service stand-in (web-push-testing, started by
// scripts/push-service.sh on loopback): Bob turns notifications on, and his browser's
// PushManager is answered with a subscription the stand-in issued (headless Chromium has no push
// service of its own). Alice mentions him while his tab is in the background; the server
// encrypts and sends the push to the stand-in, which checks the VAPID signature and decrypts it;
// the test reads it back from the stand-in and hands it to Bob's service worker as a push
// service would (CDP ServiceWorker.deliverPushMessage); the service worker shows the
// notification, and clicking it opens the conversation.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { apiCall, launch, openPage, overflowX, registerUser, Server, shot, signInUi, until, WEB, type Watched } from './harness';

const pushScript = resolve(WEB, '../scripts/push-service.sh');
const pushEnv = { ...process.env, PARLEY_PUSH_DIR: mkdtempSync(join(tmpdir(), 'parley-e2e-push-')), PARLEY_PUSH_PORT: '58190' };
let pushService = '';

/** A request to the push service stand-in; its answers are {data: ...}. */
async function standIn<T>(path: string, body: unknown): Promise<T> {
  const r = await fetch(pushService + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!r.ok) throw new Error(`push service ${path}: ${r.status} ${await r.text()}`);
  return ((await r.json()) as { data: T }).data;
}

const server = new Server();
let browser: Browser;
let bob: Watched;

beforeAll(async () => {
  const started = spawnSync(pushScript, ['start'], { encoding: 'utf8', env: pushEnv });
  if (started.status !== 0) throw new Error(`scripts/push-service.sh: ${started.stderr}`);
  pushService = started.stdout.trim();
  await server.start();
  browser = await launch();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server.stop();
  spawnSync(pushScript, ['stop'], { env: pushEnv });
});

describe('notifications', () => {
  it('pushes a mention to a background tab, and the click opens the conversation', async () => {
    const alice = await registerUser(server.url, 'alice_n');
    const bobUser = await registerUser(server.url, 'bob_n');
    const channel = await apiCall<{ id: string }>(server.url, '/conversations', {
      method: 'POST',
      token: alice.access_token,
      body: { type: 'channel', name: 'launch', visibility: 'public' },
    });
    await apiCall(server.url, `/conversations/${channel.id}/join`, { method: 'POST', token: bobUser.access_token });

    bob = await openPage(browser, server.url);
    await bob.context.grantPermissions(['notifications'], { origin: server.url });
    // The push service registers the subscription for the server's VAPID key; the browser's
    // PushManager hands it to the app.
    const { public_key } = await apiCall<{ public_key: string }>(server.url, '/push/vapid-key', { token: bobUser.access_token });
    const issued = await standIn<{ endpoint: string; keys: { p256dh: string; auth: string }; clientHash: string }>('/subscribe', { applicationServerKey: public_key });
    // It names itself "localhost"; the server takes plain http only to an allow-listed address.
    const endpoint = issued.endpoint.replace(/^http:\/\/localhost/, 'http://127.0.0.1');
    await bob.context.addInitScript(
      ({ endpoint, p256dh, auth }) => {
        const key = (s: string) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0)).buffer;
        let sub: unknown = null;
        const make = (appKey: ArrayBuffer | null) => ({
          endpoint,
          options: { applicationServerKey: appKey, userVisibleOnly: true },
          getKey: (n: string) => (n === 'p256dh' ? key(p256dh) : key(auth)),
          unsubscribe: async () => ((sub = null), true),
          toJSON: () => ({ endpoint, keys: { p256dh, auth } }),
        });
        PushManager.prototype.subscribe = async function (o?: PushSubscriptionOptionsInit) {
          sub = make((o?.applicationServerKey as ArrayBuffer) ?? null);
          return sub as PushSubscription;
        };
        PushManager.prototype.getSubscription = async function () {
          return sub as PushSubscription | null;
        };
      },
      { endpoint, p256dh: issued.keys.p256dh, auth: issued.keys.auth },
    );
    await signInUi(bob, 'bob_n');
    await bob.page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
    // Bob turns notifications on from the settings (never asked on load).
    await bob.page.getByRole('button', { name: /Profile and settings/ }).click();
    await bob.page.getByRole('button', { name: 'Turn on notifications on this device' }).click();
    await bob.page.getByRole('button', { name: 'Turn off notifications on this device' }).waitFor();
    // The settings section on desktop and phone, light and dark: nothing wider than the screen.
    for (const [w, h, name] of [[1280, 800, 'desktop'], [390, 844, 'phone']] as const) {
      await bob.page.setViewportSize({ width: w, height: h });
      for (const scheme of ['light', 'dark'] as const) {
        await bob.page.emulateMedia({ colorScheme: scheme });
        await bob.page.getByRole('heading', { name: 'Notifications' }).scrollIntoViewIfNeeded();
        await shot(bob.page, `notifications-settings-${name}-${scheme}`);
        expect(await overflowX(bob.page)).toBe(0);
      }
    }
    await bob.page.setViewportSize({ width: 1280, height: 800 });
    await bob.page.emulateMedia({ colorScheme: 'light' });
    const subs = await apiCall<{ subscriptions: { endpoint: string }[] }>(server.url, '/push/subscriptions', { token: bobUser.access_token });
    expect(subs.subscriptions.map((s) => s.endpoint)).toEqual([endpoint]);
    await bob.page.keyboard.press('Escape');

    // Bob's tab goes to the background: another tab comes to the front.
    const other = await bob.context.newPage();
    await other.goto('about:blank');
    await other.bringToFront();

    await apiCall(server.url, `/conversations/${channel.id}/messages`, {
      method: 'POST',
      token: alice.access_token,
      body: { text: '@bob_n the launch is at noon', client_msg_id: 'n1' },
    });
    // The stand-in accepted it (VAPID checked) and decrypted it.
    let delivered: string[] = [];
    await until('the push at the push service', async () => {
      delivered = (await standIn<{ messages: string[] }>('/get-notifications', { clientHash: issued.clientHash })).messages;
      return delivered.length >= 1;
    }).catch((e) => {
      throw new Error(`${e.message}\n${server.output.slice(-3000)}`);
    });
    expect(delivered).toHaveLength(1);
    const payload = JSON.parse(delivered[0]);
    expect(payload).toMatchObject({ conversation_id: channel.id, body: '@bob_n the launch is at noon' });
    expect(payload.title).toContain('alice_n');

    // The push service delivers it to Bob's service worker.
    const cdp = await bob.context.newCDPSession(bob.page);
    const registrations: { registrationId: string; scopeURL: string }[] = [];
    cdp.on('ServiceWorker.workerRegistrationUpdated', (e: { registrations: { registrationId: string; scopeURL: string }[] }) => registrations.push(...e.registrations));
    await cdp.send('ServiceWorker.enable');
    await until('the service worker registration', async () => registrations.length > 0);
    await cdp.send('ServiceWorker.deliverPushMessage', {
      origin: server.url,
      registrationId: registrations[0].registrationId,
      data: JSON.stringify(payload),
    });
    let shown: { title: string; body: string }[] = [];
    await until('the notification', async () => {
      shown = await bob.page.evaluate(async () =>
        (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => ({ title: n.title, body: n.body })),
      );
      return shown.length === 1;
    }).catch(async (e) => {
      const state = await bob.context.serviceWorkers()[0]?.evaluate(async () => {
        const scope = self as unknown as ServiceWorkerGlobalScope;
        const wins = await scope.clients.matchAll({ type: 'window', includeUncontrolled: true });
        return JSON.stringify(wins.map((w) => ({ url: w.url, focused: w.focused, vis: w.visibilityState })));
      });
      throw new Error(`${e.message}: windows ${state}; registrations ${JSON.stringify(registrations)}`);
    });
    expect(shown[0].title).toContain('alice_n');
    expect(shown[0].body).toBe('@bob_n the launch is at noon');

    // A click on it: the service worker focuses Bob's app and opens the channel.
    const sw = bob.context.serviceWorkers()[0];
    expect(sw).toBeTruthy();
    await sw.evaluate(async () => {
      const scope = self as unknown as ServiceWorkerGlobalScope;
      const [n] = await scope.registration.getNotifications();
      scope.dispatchEvent(new NotificationEvent('notificationclick', { notification: n }));
    });
    await until('the conversation opened', async () => bob.page.url().endsWith(`/c/${channel.id}`));
    await bob.page.getByRole('heading', { name: /launch/ }).first().waitFor();
    // The per-conversation dialog: level and mute.
    await bob.page.getByRole('button', { name: 'Notification settings for this conversation' }).click();
    await bob.page.getByRole('combobox', { name: 'Mute' }).selectOption('8h');
    await until('the mute saved', async () => {
      const s = await apiCall<{ muted_until: number | null }>(server.url, `/conversations/${channel.id}/notification-settings`, { token: bobUser.access_token });
      return (s.muted_until ?? 0) > Date.now();
    });
    await shot(bob.page, 'notifications-conversation-desktop-light');
    expect(bob.problems).toEqual([]);
  }, 120_000);
});
