// Web Push end to end: Bob turns notifications on (the browser's PushManager answered by a
// stand-in subscription whose endpoint is the test's push receiver on loopback, since headless
// Chromium has no push service), Alice mentions him while his tab is in the background, the
// server encrypts and sends the push, the test decrypts it (RFC 8291, node's crypto) and hands
// it to Bob's service worker as the push service would (CDP ServiceWorker.deliverPushMessage);
// the service worker shows the notification, and clicking it opens the conversation.
import { createDecipheriv, createECDH, hkdfSync, randomBytes } from 'node:crypto';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { apiCall, launch, openPage, overflowX, registerUser, Server, shot, signInUi, until, type Watched } from './harness';

const b64url = (b: Buffer) => b.toString('base64url');

/** The browser's side of a push subscription (what Chromium would keep). */
const ua = createECDH('prime256v1');
ua.generateKeys();
const uaPublic = ua.getPublicKey();
const authSecret = randomBytes(16);

function decrypt(body: Buffer): string {
  const salt = body.subarray(0, 16);
  const idlen = body[20];
  const asPublic = body.subarray(21, 21 + idlen);
  const record = body.subarray(21 + idlen);
  const ecdh = ua.computeSecret(asPublic);
  const info = Buffer.concat([Buffer.from('WebPush: info\0'), uaPublic, asPublic]);
  const ikm = Buffer.from(hkdfSync('sha256', ecdh, authSecret, info, 32));
  const cek = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
  const nonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
  const d = createDecipheriv('aes-128-gcm', cek, nonce);
  d.setAuthTag(record.subarray(record.length - 16));
  const plain = Buffer.concat([d.update(record.subarray(0, record.length - 16)), d.final()]);
  let end = plain.length;
  while (end > 0 && plain[end - 1] === 0) end--;
  if (plain[end - 1] !== 2) throw new Error('no last-record delimiter');
  return plain.subarray(0, end - 1).toString('utf8');
}

const server = new Server();
let browser: Browser;
let receiver: HttpServer;
const pushes: Buffer[] = [];
let endpoint = '';
let bob: Watched;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      pushes.push(Buffer.concat(chunks));
      res.writeHead(201).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/push/bob`;
  await server.start();
  browser = await launch();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server.stop();
  receiver?.close();
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
    // The stand-in for the browser's push service registration.
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
      { endpoint, p256dh: b64url(uaPublic), auth: b64url(authSecret) },
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
    await until('the push at the receiver', async () => pushes.length >= 1).catch((e) => {
      throw new Error(`${e.message}\n${server.output.slice(-3000)}`);
    });
    const payload = JSON.parse(decrypt(pushes[0]));
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
