// Concurrent group calls through Janus on one node: calls of three people each (Chromium pages
// with fake camera and microphone, video calls), added one at a time. After each, every page must
// still decode the two others; then Janus's and Parley's CPU are sampled over a window and the
// CPU per call is printed with the machine. The browsers run on the same cores and cost far more
// than the SFU, so they, not Janus, decide how many calls this machine holds: the figure to carry
// to a bigger machine is Janus's CPU per call. Run by `make bench` (skipped without Janus).
import { mkdtempSync, readFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { apiCall, launch, openPage, registerUser, Server, startJanus, stopJanus, signInUi, until } from './harness';

const MAX_CALLS = Number(process.env.BENCH_SFU_CALLS ?? 4);
const WINDOW_MS = 5_000;
const server = new Server();
const janusDir = join(mkdtempSync(join(tmpdir(), 'parley-bench-janus-')), 'janus');
let janus = '';
let browser: Browser;

type Stats = { call: string | null; peers: { audioBytesIn: number; framesDecoded: number }[] };
const stats = (p: Page) => p.evaluate(() => (window as any).__parleyCallStats() as Promise<Stats>);

/** User plus system CPU seconds of a process, from /proc. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

beforeAll(async () => {
  janus = startJanus(janusDir, 'bench-janus-admin', 'sfu calls bench') ?? '';
  if (!janus) return;
  server.extraArgs = ['--janus-url', janus, '--janus-admin-key', 'bench-janus-admin'];
  await server.start();
  browser = await launch();
});

afterAll(async () => {
  await browser?.close();
  await server.stop();
  server.cleanup();
  if (janus) stopJanus(janusDir);
});

describe('group calls through Janus, held at once', () => {
  it('adds three-person video calls until one no longer decodes', async (ctx) => {
    if (!janus) ctx.skip();
    const janusPid = Number(readFileSync(join(janusDir, 'janus.pid'), 'utf8'));
    const parleyPid = server.proc!.pid!;
    const rows: string[] = [];
    const calls: Page[][] = [];
    for (let n = 1; n <= MAX_CALLS; n++) {
      const stamp = `${n}${Date.now() % 100000}`;
      const people = [];
      for (const who of ['a', 'b', 'c']) people.push({ name: `sfub${who}${stamp}`, ...(await registerUser(server.url, `sfub${who}${stamp}`)) });
      const group = (await apiCall<{ id: string }>(server.url, '/conversations', { method: 'POST', token: people[0].access_token, body: { type: 'group', member_ids: [people[1].user.id, people[2].user.id] } })).id;
      const pages: Page[] = [];
      for (const u of people) {
        const w = await openPage(browser, server.url, { viewport: { width: 640, height: 480 } });
        await signInUi(w, u.name);
        await w.page.goto(`/c/${group}`);
        await w.page.getByRole('button', { name: 'Start video call' }).waitFor();
        pages.push(w.page);
      }
      const setupStart = Date.now();
      await pages[0].getByRole('button', { name: 'Start video call' }).click();
      for (const p of pages.slice(1)) {
        const ring = p.getByRole('alertdialog');
        await ring.waitFor({ timeout: 30_000 });
        await ring.getByRole('button', { name: 'Accept', exact: true }).click();
      }
      calls.push(pages);
      let decoding = true;
      try {
        for (const p of pages)
          await until('decodes the two others', async () => {
            const s = await stats(p);
            return s.peers.length === 2 && s.peers.every((x) => x.framesDecoded > 5 && x.audioBytesIn > 0);
          }, 60_000);
      } catch {
        decoding = false;
      }
      const setupMs = Date.now() - setupStart;
      // Every call so far still decoding: frames keep coming on every page.
      const before = await Promise.all(calls.flat().map(async (p) => (await stats(p)).peers.map((x) => x.framesDecoded)));
      const j0 = cpuSeconds(janusPid), p0 = cpuSeconds(parleyPid), t0 = Date.now();
      await new Promise((r) => setTimeout(r, WINDOW_MS));
      const secs = (Date.now() - t0) / 1000;
      const janusCpu = (cpuSeconds(janusPid) - j0) / secs, parleyCpu = (cpuSeconds(parleyPid) - p0) / secs;
      const after = await Promise.all(calls.flat().map(async (p) => (await stats(p)).peers.map((x) => x.framesDecoded)));
      const flowing = after.every((fr, i) => fr.length === 2 && fr.every((f, k) => f > (before[i][k] ?? 0)));
      // The media rate the CPU was measured at: the browsers share the cores and their encoders
      // slow down as the machine fills.
      const streams = after.flatMap((fr, i) => fr.map((f, k) => f - (before[i][k] ?? 0)));
      const fps = streams.reduce((a, b) => a + b, 0) / Math.max(1, streams.length) / secs;
      rows.push(
        `| ${n} | ${decoding && flowing ? 'yes' : 'NO'} | ${fps.toFixed(1)} | ${(setupMs / 1000).toFixed(1)} s | ${(janusCpu * 100).toFixed(1)} % | ${((janusCpu * 1000) / n).toFixed(1)} ms/s | ${(parleyCpu * 100).toFixed(1)} % | ${loadavg()[0].toFixed(1)} |`,
      );
      if (!(decoding && flowing)) break;
    }
    console.log(`\nmachine: ${cpus()[0]?.model ?? '?'}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB; browsers, Janus and Parley share the cores`);
    console.log('| calls (3 people, video) | all decoding | video frames/s per stream | last call set-up | Janus CPU | Janus CPU per call | Parley CPU | load |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const r of rows) console.log(r);
  });
});
