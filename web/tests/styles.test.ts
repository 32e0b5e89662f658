// Bug: `.offline` (the banner) styled the offline presence dot and the connection dot into big
// ovals, and `.failed` (the "Not sent" row) styled the whole failed message. The rule now:
// a state or variant is an `is-*` / `has-*` class that only ever appears compounded with its
// component's class (`.dot.is-offline`), and a component class is never used as a modifier.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const css = readFileSync(new URL('../src/styles.css', import.meta.url), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');

function selectors(): string[] {
  const out: string[] = [];
  for (const m of css.matchAll(/([^{}]+)\{[^{}]*\}/g)) {
    const head = m[1].trim();
    if (head.startsWith('@') || /^(from|to|\d+%)$/.test(head)) continue;
    out.push(...head.split(',').map((s) => s.trim()).filter(Boolean));
  }
  return out;
}

describe('styles: class names cannot collide', () => {
  const all = selectors();
  it('parses the stylesheet', () => expect(all.length).toBeGreaterThan(100));

  it('state classes appear only compounded with a component class', () => {
    const bad: string[] = [];
    for (const sel of all)
      for (const part of sel.split(/[\s>+~]+/)) {
        const classes = [...part.matchAll(/\.([\w-]+)/g)].map((m) => m[1]);
        classes.forEach((c, i) => {
          const modifier = /^(is|has)-/.test(c);
          // `.is-x` alone (or first) would style anything in that state: not allowed.
          if (modifier && i === 0 && !/^[a-z]/.test(part)) bad.push(`${sel}: .${c} without its component`);
          // A second class that is not a state is another component's name: a clash.
          if (!modifier && i > 0) bad.push(`${sel}: .${c} used as a modifier`);
        });
      }
    expect(bad).toEqual([]);
  });

  it('the offline banner, presence dots and the failed-send row have their own names', () => {
    expect(css).not.toMatch(/(^|[\s,}])\.offline(?![\w-])/);
    expect(css).not.toMatch(/(^|[\s,}])\.failed(?![\w-])/);
    expect(css).toMatch(/\.dot\.is-offline/);
  });
});
