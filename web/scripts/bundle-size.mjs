// Prints the size of what the first page load fetches (the scripts and styles index.html
// names, gzipped) and of each lazy chunk; fails the build when the initial JS is over budget.
import { readFileSync, readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';

const BUDGET_KB = 150;
const dist = new URL('../dist/', import.meta.url).pathname;
const html = readFileSync(join(dist, 'index.html'), 'utf8');
const initial = new Set([...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]));
const kb = (n) => (n / 1024).toFixed(1);
let js = 0;
let css = 0;
const rows = [];
for (const f of readdirSync(join(dist, 'assets'))) {
  if (!/\.(js|css)$/.test(f)) continue;
  const buf = readFileSync(join(dist, 'assets', f));
  const gz = gzipSync(buf, { level: 9 }).length;
  const first = initial.has(`assets/${f}`);
  if (first && f.endsWith('.js')) js += gz;
  if (first && f.endsWith('.css')) css += gz;
  rows.push(`  ${first ? 'initial' : 'lazy   '}  ${f.padEnd(34)} ${kb(buf.length).padStart(7)} kB  ${kb(gz).padStart(6)} kB gzip`);
}
console.log(`bundle size:\n${rows.sort().join('\n')}`);
console.log(`initial load: ${kb(js)} kB JS + ${kb(css)} kB CSS gzipped (JS budget ${BUDGET_KB} kB)`);
if (js / 1024 > BUDGET_KB) {
  console.error(`bundle-size: the initial JS is ${kb(js)} kB gzipped, over the ${BUDGET_KB} kB budget`);
  process.exit(1);
}
