// Calls between real browsers (Debian's Chromium with fake camera and microphone) through the
// real server and a throw-away coturn (scripts/coturn.sh): a 1:1 video call whose getStats show
// audio and video flowing and frames decoded both ways; the same call forced through TURN
// (iceTransportPolicy "relay", the selected pair a relay); decline, busy and ring timeout; hang
// up ending the media on both sides; the call screens on a desktop and a phone, light and dark.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { apiCall, launch, openPage, overflowX, registerUser, Server, shot, signInUi, until, WEB, type Watched } from './harness';

const server = new Server();
const coturnDir = join(mkdtempSync(join(tmpdir(), 'parley-e2e-coturn-')), 'turn');
const coturnScript = resolve(WEB, '../scripts/coturn.sh');
let coturn = '';
let browser: Browser;
let alice: Watched;
let bob: Watched;
let carol: Watched;
const names = { alice: `alice${Date.now() % 100000}`, bob: `bob${Date.now() % 100000}`, carol: `carol${Date.now() % 100000}` };
let tokens: Record<string, string> = {};
let ids: Record<string, string> = {};
let dmAB = '';
let dmCB = '';

type Stats = {
  call: string | null;
  liveLocalTracks: number;
  peers: { peer: string; audioBytesIn: number; videoBytesIn: number; audioBytesOut: number; videoBytesOut: number; framesDecoded: number; localCandidate: string; remoteCandidate: string; connection: string }[];
};
const stats = (p: Page) => p.evaluate(() => (window as any).__parleyCallStats() as Promise<Stats>);

async function openConversation(w: Watched, id: string) {
  await w.page.goto(`/c/${id}`);
  await w.page.getByRole('button', { name: 'Start video call' }).waitFor();
}

async function flowing(p: Page, who: string) {
  await until(
    `${who}: audio and video in and out, frames decoded`,
    async () => {
      const s = await stats(p);
      const peer = s.peers[0];
      return !!peer && peer.audioBytesIn > 0 && peer.videoBytesIn > 0 && peer.audioBytesOut > 0 && peer.videoBytesOut > 0 && peer.framesDecoded > 5;
    },
    30_000,
  );
  return (await stats(p)).peers[0];
}

async function callFromAliceToBob(media: 'video' | 'audio' = 'video') {
  await alice.page.getByRole('button', { name: media === 'video' ? 'Start video call' : 'Start audio call' }).click();
  const ring = bob.page.getByRole('alertdialog');
  await ring.waitFor({ timeout: 15_000 });
  return ring;
}

async function endedEverywhere() {
  for (const w of [alice, bob]) {
    await until('the call is over and its media stopped', async () => {
      const s = await stats(w.page);
      return s.call === null && s.peers.length === 0 && s.liveLocalTracks === 0;
    });
  }
}

beforeAll(async () => {
  const started = spawnSync(coturnScript, ['start', coturnDir], { encoding: 'utf8', env: { ...process.env, COTURN_SECRET: 'e2e-turn-secret', COTURN_PORT: '44478' } });
  if (started.status === 0) coturn = started.stdout.trim();
  else if (started.status === 3) console.log(`calls e2e: no coturn (${started.stderr.trim()}): the TURN case is skipped`);
  else throw new Error(`scripts/coturn.sh: ${started.stderr}`);
  server.extraArgs = ['--call-ring-timeout-ms', '6000'];
  if (coturn) server.extraArgs.push('--turn-secret', 'e2e-turn-secret', '--turn-urls', `turn:${coturn}?transport=udp`);
  await server.start();
  for (const n of ['alice', 'bob', 'carol'] as const) {
    const r = await registerUser(server.url, names[n]);
    tokens[n] = r.access_token;
    ids[n] = r.user.id;
  }
  dmAB = (await apiCall<{ id: string }>(server.url, '/conversations', { method: 'POST', token: tokens.alice, body: { type: 'dm', member_ids: [ids.bob] } })).id;
  dmCB = (await apiCall<{ id: string }>(server.url, '/conversations', { method: 'POST', token: tokens.carol, body: { type: 'dm', member_ids: [ids.bob] } })).id;
  browser = await launch();
  alice = await openPage(browser, server.url);
  bob = await openPage(browser, server.url);
  carol = await openPage(browser, server.url);
  await signInUi(alice, names.alice);
  await signInUi(bob, names.bob);
  await signInUi(carol, names.carol);
  await openConversation(alice, dmAB);
  await openConversation(bob, dmAB);
  await openConversation(carol, dmCB);
});

afterAll(async () => {
  await browser?.close();
  await server.stop();
  server.cleanup();
  if (coturn) spawnSync(coturnScript, ['stop', coturnDir]);
});

describe.sequential('calls', () => {
  it('a 1:1 video call: audio and video flow and frames are decoded both ways', async () => {
    const ring = await callFromAliceToBob();
    expect(await ring.textContent()).toContain('Video call');
    await shot(bob.page, 'call-incoming-desktop-light');
    await ring.getByRole('button', { name: 'Accept', exact: true }).click();
    const a = await flowing(alice.page, 'alice');
    const b = await flowing(bob.page, 'bob');
    expect(a.connection).toBe('connected');
    expect(b.framesDecoded).toBeGreaterThan(5);
    // The grid shows both, the quality bars are drawn, the mute is seen by the other side.
    await alice.page.getByRole('region', { name: /^Call with/ }).getByRole('figure').nth(1).waitFor();
    await until('quality bars', async () => (await alice.page.locator('.quality').count()) > 0);
    await shot(alice.page, 'call-stage-desktop-light');
    await alice.page.getByRole('button', { name: 'Mute microphone' }).click();
    await bob.page.getByRole('figure', { name: names.alice }).getByLabel('Microphone off').waitFor();
    await alice.page.getByRole('button', { name: 'Unmute microphone' }).click();
    // A reload rejoins the running call (same session, within the grace), and away from its
    // conversation a mini view keeps it.
    await alice.page.goto('/');
    await alice.page.getByRole('complementary', { name: /^Call with/ }).waitFor();
    await shot(alice.page, 'call-mini-desktop-light');
    await alice.page.getByRole('button', { name: 'Return to the call' }).click();
    await alice.page.getByRole('region', { name: /^Call with/ }).waitFor();
    await flowing(alice.page, 'alice back in the call');
  });

  it('hang up ends the media on both sides and leaves a call message', async () => {
    await bob.page.getByRole('region', { name: /^Call with/ }).getByRole('button', { name: 'Hang up' }).click();
    await endedEverywhere();
    await alice.page.getByRole('log').locator('li.msg').filter({ hasText: /📞 Video call · \d+:\d\d/ }).first().waitFor();
  });

  it('decline: the caller hears it and a missed call is posted', async () => {
    const ring = await callFromAliceToBob('audio');
    await ring.getByRole('button', { name: 'Decline' }).click();
    await alice.page.getByRole('alert').filter({ hasText: 'Call declined' }).waitFor();
    await endedEverywhere();
    await bob.page.getByRole('log').locator('li.msg').filter({ hasText: '📞 Missed audio call' }).first().waitFor();
  });

  it('busy: a call to someone already in one ends at once', async () => {
    const ring = await callFromAliceToBob();
    await ring.getByRole('button', { name: 'Accept', exact: true }).click();
    await flowing(bob.page, 'bob');
    await carol.page.getByRole('button', { name: 'Start video call' }).click();
    await carol.page.getByRole('alert').filter({ hasText: /busy/ }).waitFor();
    expect((await stats(carol.page)).liveLocalTracks).toBe(0);
    expect(await bob.page.getByRole('alertdialog').count()).toBe(0);
    await alice.page.getByRole('region', { name: /^Call with/ }).getByRole('button', { name: 'Hang up' }).click();
    await endedEverywhere();
  });

  it('ring timeout: nobody answers, the ringing stops on both sides', async () => {
    await callFromAliceToBob();
    await alice.page.getByRole('alert').filter({ hasText: 'No answer' }).waitFor({ timeout: 20_000 });
    await bob.page.getByRole('alertdialog').waitFor({ state: 'detached' });
    await endedEverywhere();
  });

  it('forced through TURN: the selected candidate pair is a relay', async (ctx) => {
    if (!coturn) ctx.skip();
    for (const w of [alice, bob]) await w.page.evaluate(() => localStorage.setItem('parley.call.relayOnly', '1'));
    const ring = await callFromAliceToBob();
    await ring.getByRole('button', { name: 'Accept', exact: true }).click();
    const a = await flowing(alice.page, 'alice over TURN');
    const b = await flowing(bob.page, 'bob over TURN');
    expect(a.localCandidate).toBe('relay');
    expect(b.localCandidate).toBe('relay');
    await alice.page.getByRole('region', { name: /^Call with/ }).getByRole('button', { name: 'Hang up' }).click();
    await endedEverywhere();
    for (const w of [alice, bob]) await w.page.evaluate(() => localStorage.removeItem('parley.call.relayOnly'));
  });

  it('the call screens fit a phone, light and dark', async () => {
    const phone = await openPage(browser, server.url, { viewport: { width: 390, height: 844 }, colorScheme: 'dark', hasTouch: true, isMobile: true });
    await signInUi(phone, names.bob);
    await openConversation(phone, dmAB);
    await bob.page.close();
    const ring = await (async () => {
      await alice.page.getByRole('button', { name: 'Start video call' }).click();
      const r = phone.page.getByRole('alertdialog');
      await r.waitFor({ timeout: 15_000 });
      return r;
    })();
    await shot(phone.page, 'call-incoming-phone-dark');
    expect(await overflowX(phone.page)).toBe(0);
    await ring.getByRole('button', { name: 'Accept', exact: true }).click();
    await flowing(phone.page, 'phone');
    await phone.page.getByRole('region', { name: /^Call with/ }).getByRole('figure').nth(1).waitFor();
    await shot(phone.page, 'call-stage-phone-dark');
    expect(await overflowX(phone.page)).toBe(0);
    await phone.page.emulateMedia({ colorScheme: 'light' });
    await shot(phone.page, 'call-stage-phone-light');
    await alice.page.emulateMedia({ colorScheme: 'dark' });
    await shot(alice.page, 'call-stage-desktop-dark');
    await phone.page.getByRole('region', { name: /^Call with/ }).getByRole('button', { name: 'Hang up' }).click();
    await until('alice is out of the call', async () => (await stats(alice.page)).call === null);
    expect([...alice.problems, ...phone.problems]).toEqual([]);
  });
});
