// Performance: a 10,000-message channel scrolled from the newest message to the very first.
// Long tasks (main-thread work over 50 ms) are observed in the page with the Performance API
// while older pages load and the window slides, and printed. E2E_WEB_ROOT=<another dist> runs
// the same against another build (a baseline).
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { apiCall, launch, openPage, registerUser, Server, signInUi, until } from './harness';

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
  const long = await p.evaluate(() => (window as unknown as { __long: number[] }).__long);
  const dom = await log.locator('li.msg').count();
  console.log(
    `scrolled ${N} messages to the top in ${took} ms (${steps} steps); long tasks: ${long.length}` +
      (long.length ? ` (max ${Math.max(...long).toFixed(0)} ms, ${long.map((d) => d.toFixed(0)).join(', ')})` : '') +
      `; messages in the DOM: ${dom}`,
  );
  await log.locator('li.msg', { hasText: 'Message 00001' }).waitFor();
  expect(dom).toBeLessThanOrEqual(200);
  // The target is no long task at all; a build machine busy with other work (the CI box
  // compiling C++ on two cores) cannot show that, so by default only a gross regression fails
  // and PERF_STRICT=1 holds the target.
  if (process.env.PERF_STRICT === '1') expect(long).toEqual([]);
  else expect(Math.max(0, ...long)).toBeLessThan(1000);
  expect(w.problems).toEqual([]);
}, 600_000);
