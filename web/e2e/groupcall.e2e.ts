// A three-party call through Janus (VideoRoom, a throw-away one from scripts/janus.sh) between
// three browsers with fake media: each page publishes to the room and decodes the two others;
// the group's owner mutes one participant and removes another.
// Skipped, with a line saying so, where Janus is not installed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { apiCall, launch, openPage, registerUser, Server, startJanus, stopJanus, shot, signInUi, until, type Watched } from './harness';

const server = new Server();
const janusDir = join(mkdtempSync(join(tmpdir(), 'parley-e2e-janus-')), 'janus');
let janus = '';
let browser: Browser;
const pages: Watched[] = [];
let group = '';
const names: string[] = [];
const ids: string[] = [];
const tokens: string[] = [];

type Stats = { call: string | null; liveLocalTracks: number; peers: { peer: string; audioBytesIn: number; videoBytesIn: number; framesDecoded: number }[] };
const stats = (p: Page) => p.evaluate(() => (window as any).__parleyCallStats() as Promise<Stats>);

beforeAll(async () => {
  janus = startJanus(janusDir, 'e2e-janus-admin', 'group call e2e') ?? '';
  if (!janus) return;
  server.extraArgs = ['--janus-url', janus, '--janus-admin-key', 'e2e-janus-admin', '--janus-recordings', join(janusDir, 'recordings')];
  await server.start();
  const stamp = Date.now() % 100000;
  const users = [];
  for (const n of ['ann', 'ben', 'cat']) {
    names.push(`${n}${stamp}`);
    const r = await registerUser(server.url, `${n}${stamp}`);
    tokens.push(r.access_token);
    users.push({ name: `${n}${stamp}`, ...r });
    ids.push(r.user.id);
  }
  group = (await apiCall<{ id: string }>(server.url, '/conversations', { method: 'POST', token: users[0].access_token, body: { type: 'group', member_ids: [users[1].user.id, users[2].user.id] } })).id;
  browser = await launch();
  for (const u of users) {
    const w = await openPage(browser, server.url);
    await signInUi(w, u.name);
    await w.page.goto(`/c/${group}`);
    await w.page.getByRole('button', { name: 'Start video call' }).waitFor();
    pages.push(w);
  }
});

afterAll(async () => {
  await browser?.close();
  await server.stop();
  server.cleanup();
  if (janus) stopJanus(janusDir);
});

describe.sequential('group call through Janus', () => {
  it('three people: each page decodes the two others', async (ctx) => {
    if (!janus) ctx.skip();
    const [ann, ben, cat] = pages;
    await ann.page.getByRole('button', { name: 'Start video call' }).click();
    for (const w of [ben, cat]) {
      const ring = w.page.getByRole('alertdialog');
      await ring.waitFor({ timeout: 15_000 });
      await ring.getByRole('button', { name: 'Accept', exact: true }).click();
    }
    for (const [i, w] of pages.entries())
      await until(
        `page ${i} decodes the two others`,
        async () => {
          const s = await stats(w.page);
          return s.peers.length === 2 && s.peers.every((p) => p.audioBytesIn > 0 && p.videoBytesIn > 0 && p.framesDecoded > 5);
        },
        45_000,
      );
    await ann.page.getByRole('region', { name: /^Call with/ }).getByRole('figure').nth(2).waitFor();
    await shot(ann.page, 'call-group-desktop-light');
  }, 120_000);

  it("the group's owner mutes one participant and removes another; hang up stops the media", async (ctx) => {
    if (!janus) ctx.skip();
    const [ann, ben, cat] = pages;
    const stage = ann.page.getByRole('region', { name: /^Call with/ });
    // Ben's audio as Ann receives it through Janus, in bytes so far.
    const benAtAnn = async () => (await stats(ann.page)).peers.find((p) => p.peer.startsWith(`${ids[1]}:`))?.audioBytesIn ?? -1;
    const grows = async () => {
      const before = await benAtAnn();
      await new Promise((r) => setTimeout(r, 2_000));
      return (await benAtAnn()) > before;
    };
    expect(await grows()).toBe(true);
    await stage.getByRole('button', { name: new RegExp(`^Mute ${names[1]}`) }).click();
    await ben.page.getByRole('button', { name: 'Unmute microphone' }).waitFor();
    // Held back at the SFU, not only by Ben's client (a disabled track still sends silence
    // packets, which Janus would forward): nothing more of Ben's audio reaches Ann.
    await until('the SFU holds back the audio of the muted participant', async () => !(await grows()), 20_000);
    // Ben turns his microphone on again himself: his audio flows again.
    await ben.page.getByRole('button', { name: 'Unmute microphone' }).click();
    await until("Ben's audio reaches Ann again", grows, 20_000);
    await stage.getByRole('button', { name: new RegExp(`^Remove ${names[2]} from the call`) }).click();
    await until('cat is out of the call, her media stopped', async () => {
      const s = await stats(cat.page);
      return s.call === null && s.liveLocalTracks === 0;
    });
    await until('ann and ben see each other only', async () => (await stats(ann.page)).peers.length === 1 && (await stats(ben.page)).peers.length === 1);
    // Ann hangs up: one person is left, so the call ends and the media stops everywhere.
    await stage.getByRole('button', { name: 'Hang up' }).click();
    for (const w of pages) await until('media stopped', async () => (await stats(w.page)).liveLocalTracks === 0 && (await stats(w.page)).peers.length === 0);
    expect(pages.flatMap((w) => w.problems)).toEqual([]);
  }, 120_000);

  it('a 10 s recording: everyone sees it recording; the posted file plays for 8 to 12 s (ffprobe)', async (ctx) => {
    if (!janus) ctx.skip();
    const [ann, ben, cat] = pages;
    await ann.page.getByRole('button', { name: 'Start video call' }).click();
    const ring = ben.page.getByRole('alertdialog');
    await ring.waitFor({ timeout: 15_000 });
    await ring.getByRole('button', { name: 'Accept', exact: true }).click();
    await cat.page.getByRole('alertdialog').getByRole('button', { name: 'Decline' }).click();
    for (const w of [ann, ben])
      await until('media flows', async () => {
        const s = await stats(w.page);
        return s.peers.length === 1 && s.peers[0].framesDecoded > 5;
      }, 45_000);
    const stage = ann.page.getByRole('region', { name: /^Call with/ });
    await stage.getByRole('button', { name: 'Start recording' }).click();
    await until('recording shows', async () => ben.page.getByRole('region', { name: /^Call with/ }).getByText('Recording', { exact: true }).isVisible());
    await shot(ben.page, 'call-recording-desktop-light');
    await new Promise((r) => setTimeout(r, 10_000));
    await stage.getByRole('button', { name: 'Stop recording' }).click();
    await ann.page.getByRole('log').locator('li.msg').filter({ hasText: 'Call recording' }).first().waitFor({ timeout: 60_000 });
    const page = await apiCall<{ messages: { text: string; attachments: { id: string; content_type: string }[] }[] }>(server.url, `/conversations/${group}/messages`, { token: tokens[1] });
    const posted = page.messages.find((m) => m.text.includes('Call recording'));
    expect(posted?.attachments.length).toBe(1);
    const res = await fetch(`${server.url}/api/v1/files/${posted!.attachments[0].id}`, { headers: { Authorization: `Bearer ${tokens[1]}` } });
    expect(res.status).toBe(200);
    const file = join(mkdtempSync(join(tmpdir(), 'parley-rec-')), 'call.webm');
    writeFileSync(file, Buffer.from(await res.arrayBuffer()));
    const probe = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file], { encoding: 'utf8' });
    const seconds = Number(probe.stdout.trim());
    expect(seconds).toBeGreaterThanOrEqual(8);
    expect(seconds).toBeLessThanOrEqual(12);
    // Both videos, side by side in the grid (tiles of 640 x 360), and the mixed audio.
    const streams = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type,width,height', '-of', 'csv=p=0', file], { encoding: 'utf8' }).stdout;
    expect(streams).toMatch(/video,1280,360/);
    expect(streams).toMatch(/audio/);
    await stage.getByRole('button', { name: 'Hang up' }).click();
    for (const w of [ann, ben]) await until('media stopped', async () => (await stats(w.page)).liveLocalTracks === 0);
  }, 150_000);
});
