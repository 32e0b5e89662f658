// A three-party call through Janus (VideoRoom, a throw-away one from scripts/janus.sh) between
// three browsers with fake media: each page publishes to the room and decodes the two others.
// Skipped, with a line saying so, where Janus is not installed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { apiCall, launch, openPage, registerUser, Server, shot, signInUi, until, WEB, type Watched } from './harness';

const server = new Server();
const janusDir = join(mkdtempSync(join(tmpdir(), 'parley-e2e-janus-')), 'janus');
const janusScript = resolve(WEB, '../scripts/janus.sh');
let janus = '';
let browser: Browser;
const pages: Watched[] = [];
let group = '';

type Stats = { call: string | null; liveLocalTracks: number; peers: { peer: string; audioBytesIn: number; videoBytesIn: number; framesDecoded: number }[] };
const stats = (p: Page) => p.evaluate(() => (window as any).__parleyCallStats() as Promise<Stats>);

beforeAll(async () => {
  const started = spawnSync(janusScript, ['start', janusDir], { encoding: 'utf8', env: { ...process.env, JANUS_ADMIN_KEY: 'e2e-janus-admin' } });
  if (started.status !== 0) {
    console.log(`group call e2e: skipped (${started.stderr.trim()})`);
    return;
  }
  janus = started.stdout.trim();
  server.extraArgs = ['--janus-url', janus, '--janus-admin-key', 'e2e-janus-admin'];
  await server.start();
  const stamp = Date.now() % 100000;
  const users = [];
  for (const n of ['ann', 'ben', 'cat']) users.push({ name: `${n}${stamp}`, ...(await registerUser(server.url, `${n}${stamp}`)) });
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
  if (janus) spawnSync(janusScript, ['stop', janusDir]);
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
    // Everyone hangs up: the media stops everywhere.
    for (const w of pages) await w.page.getByRole('region', { name: /^Call with/ }).getByRole('button', { name: 'Hang up' }).click().catch(() => {});
    for (const w of pages) await until('media stopped', async () => (await stats(w.page)).liveLocalTracks === 0);
    expect(pages.flatMap((w) => w.problems)).toEqual([]);
  });
});
