// Performance: a 10,000-message channel scrolled from the newest message to the very first.
// Long tasks (main-thread work over 50 ms) are observed in the page with the Performance API
// while older pages load and the window slides, and printed. E2E_WEB_ROOT=<another dist> runs
// the same against another build (a baseline).
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { apiCall, launch, openPage, registerUser, Server, signInUi, until } from './harness';

/** Main-thread figures from a Chromium trace of the scroll: each task's thread (CPU) time, not
 * only its wall time, so a busy machine that takes the CPU away from the browser does not count
 * against the page. Returns a line to print. */
function traceFigures(json: string): string {
  const events = (JSON.parse(json) as { traceEvents: { name: string; ph: string; pid: number; tid: number; dur?: number; tdur?: number; args?: { name?: string } }[] }).traceEvents;
  const mains = new Set(events.filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain').map((e) => `${e.pid}:${e.tid}`));
  const byThread = new Map<string, typeof events>();
  for (const e of events) {
    const k = `${e.pid}:${e.tid}`;
    if (e.ph !== 'X' || !mains.has(k)) continue;
    if (!byThread.has(k)) byThread.set(k, []);
    byThread.get(k)!.push(e);
  }
  // The page's renderer: the main thread with the most work.
  const main = [...byThread.values()].sort((a, b) => b.length - a.length)[0] ?? [];
  const ms = (us = 0) => us / 1000;
  const tasks = main.filter((e) => e.name === 'RunTask');
  const cpu = tasks.map((e) => ms(e.tdur ?? e.dur));
  const wall = tasks.map((e) => ms(e.dur));
  const sum = (name: string) => main.filter((e) => e.name === name).reduce((n, e) => n + ms(e.tdur ?? e.dur), 0);
  const over = cpu.filter((d) => d > 50);
  return (
    `trace: ${tasks.length} tasks, main-thread CPU ${cpu.reduce((a, b) => a + b, 0).toFixed(0)} ms; tasks over 50 ms of CPU: ${over.length}` +
    ` (max CPU ${Math.max(0, ...cpu).toFixed(0)} ms, max wall ${Math.max(0, ...wall).toFixed(0)} ms);` +
    ` style ${sum('UpdateLayoutTree').toFixed(0)} ms, layout ${sum('Layout').toFixed(0)} ms, script ${sum('FunctionCall').toFixed(0)} ms, paint ${sum('Paint').toFixed(0)} ms`
  );
}

const N = 10_000;
const server = new Server();
let browser: Browser;

beforeAll(async () => {
  await server.start();
  browser = await launch();
});

afterAll(async () => {
  await browser?.close();
  await server.stop();
  server.cleanup();
});

it(`a ${N.toLocaleString('en')}-message channel scrolls to the top without long tasks over 50 ms`, async () => {
  const u = await registerUser(server.url, 'perf', 'Perf');
  const ch = await apiCall(server.url, '/conversations', { method: 'POST', token: u.access_token, body: { type: 'channel', name: 'ten-thousand' } });
  let next = 1;
  const t0 = Date.now();
  const worker = async () => {
    for (let i = next++; i <= N; i = next++)
      await apiCall(server.url, `/conversations/${ch.id}/messages`, {
        method: 'POST',
        token: u.access_token,
        body: { text: `Message ${String(i).padStart(5, '0')} ${i % 7 === 0 ? 'with **bold**, `code` and a https://example.com/link' : 'plain text'}`, client_msg_id: `p${i}` },
      });
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  console.log(`posted ${N} messages in ${Date.now() - t0} ms`);

  const w = await openPage(browser, server.url, { viewport: { width: 1280, height: 800 } });
  const p = w.page;
  await signInUi(w, 'perf');
  await p.getByRole('navigation', { name: 'Conversations' }).getByRole('link', { name: /ten-thousand/ }).click();
  const log = p.getByRole('log');
  await log.locator('li.msg', { hasText: `Message ${String(N).padStart(5, '0')}` }).waitFor();
  await p.evaluate(() => {
    const w = window as unknown as { __long: number[] };
    w.__long = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) w.__long.push(e.duration);
    }).observe({ type: 'longtask', buffered: false });
  });
  // PERF_PROFILE=<file>: a CPU profile of the scroll too (best with a build without --minify).
  const cdp = process.env.PERF_PROFILE ? await w.context.newCDPSession(p) : null;
  if (cdp) {
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
    await cdp.send('Profiler.start');
  }
  await browser.startTracing(p, { categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'toplevel'] });
  const start = Date.now();
  let steps = 0;
  await until(
    'the beginning of the history',
    async () => {
      // Scroll as a reader flinging upwards would: a screen at a time, a frame apart.
      await log.evaluate((el) => new Promise<void>((r) => requestAnimationFrame(() => ((el.scrollTop = Math.max(0, el.scrollTop - 1600)), r()))));
      steps++;
      // A CSS query, not a text search: the probe must not be the page's main work.
      return p.locator('.timeline-start').isVisible();
    },
    300_000,
  );
  const took = Date.now() - start;
  const traced = (await browser.stopTracing()).toString();
  if (cdp) writeFileSync(process.env.PERF_PROFILE!, JSON.stringify((await cdp.send('Profiler.stop')).profile));
  if (process.env.PERF_TRACE_FILE) writeFileSync(process.env.PERF_TRACE_FILE, traced);
  const trace = traceFigures(traced);
  const long = await p.evaluate(() => (window as unknown as { __long: number[] }).__long);
  const dom = await log.locator('li.msg').count();
  console.log(
    `scrolled ${N} messages to the top in ${took} ms (${steps} steps); long tasks: ${long.length}` +
      (long.length ? ` (max ${Math.max(...long).toFixed(0)} ms, ${long.map((d) => d.toFixed(0)).join(', ')})` : '') +
      `; messages in the DOM: ${dom}`,
  );
  console.log(trace);
  await log.locator('li.msg', { hasText: 'Message 00001' }).waitFor();
  expect(dom).toBeLessThanOrEqual(200);

  // The view stays still while the window slides: read a few hundred pixels at a time, down and
  // back up (several slides each way), the message at the top of the view must move by exactly
  // the distance scrolled, whatever was added or removed above it in between.
  const jumps: number[] = [];
  let lost = 0;
  for (const dir of [1, -1])
    for (let i = 0; i < 80; i++) {
      const r = await log.evaluate(
        (el, dir) =>
          new Promise<number | null>((done) =>
            requestAnimationFrame(() => {
              // A message a little above the middle of the view: on screen before and after.
              const top = el.getBoundingClientRect().top + el.clientHeight / 2 - 150;
              const ref = [...el.querySelectorAll<HTMLElement>('li[data-mid]')].find((n) => n.getBoundingClientRect().top >= top);
              if (!ref) return done(null);
              const was = ref.getBoundingClientRect().top;
              const from = el.scrollTop;
              el.scrollTop = from + dir * 300;
              const moved = el.scrollTop - from;
              // Two frames: the scroll event, the slide it causes, its layout.
              requestAnimationFrame(() =>
                requestAnimationFrame(() => done(ref.isConnected ? ref.getBoundingClientRect().top - (was - moved) : null)),
              );
            }),
          ),
        dir,
      );
      if (r !== null) jumps.push(Math.round(r));
      else lost++;
    }
  const worst = Math.max(0, ...jumps.map(Math.abs));
  console.log(`view movement beyond the scroll, over ${jumps.length} steps down and up (${lost} without a reference): max ${worst} px` + (worst ? ` (${jumps.filter((j) => j).join(', ')})` : ''));
  expect(worst).toBeLessThanOrEqual(2);
  // The target is no long task at all; a build machine busy with other work (the CI box
  // compiling C++ on two cores) cannot show that, so by default only a gross regression fails
  // and PERF_STRICT=1 holds the target.
  if (process.env.PERF_STRICT === '1') expect(long).toEqual([]);
  else expect(Math.max(0, ...long)).toBeLessThan(1000);
  expect(w.problems).toEqual([]);
}, 600_000);
