#!/usr/bin/env node
// Runs the end-to-end tests (e2e/*.e2e.ts, with Vitest as the runner) against the real parley
// binary and Debian's Chromium; with --bench, the browser-driven benchmarks (e2e/*.bench.ts)
// instead. Skips with one line when Chromium is not installed.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const chromium = process.env.CHROMIUM ?? '/usr/bin/chromium';
const bin = resolve(process.env.PARLEY_BIN ?? resolve(web, '../build/parley'));

if (!existsSync(chromium)) {
  console.log(`e2e: skipped (no Chromium at ${chromium}; apt-get install chromium)`);
  process.exit(0);
}
if (!existsSync(bin)) {
  console.error(`e2e: no parley binary at ${bin} (build it, or set PARLEY_BIN)`);
  process.exit(1);
}
if (!existsSync(resolve(web, 'dist/index.html'))) {
  const b = spawnSync('npm', ['run', '--silent', 'build'], { cwd: web, stdio: 'inherit' });
  if (b.status !== 0) process.exit(b.status ?? 1);
}
const bench = process.argv.includes('--bench');
const args = process.argv.slice(2).filter((a) => a !== '--bench');
const r = spawnSync(
  process.execPath,
  [resolve(web, 'node_modules/vitest/vitest.mjs'), 'run', '--config', bench ? 'e2e/vitest.bench.config.ts' : 'e2e/vitest.config.ts', ...args],
  { cwd: web, stdio: 'inherit', env: { ...process.env, CHROMIUM: chromium, PARLEY_BIN: bin } },
);
process.exit(r.status ?? 1);
