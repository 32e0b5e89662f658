// The emoji data set (emojibase-data: Unicode's CLDR names and tags, GitHub shortcodes),
// loaded on demand in its own chunk, with search and recently used emoji.
import data from 'emojibase-data/en/compact.json';
import github from 'emojibase-data/en/shortcodes/github.json';

export interface Emoji {
  u: string;
  label: string;
  group: number;
  codes: string[];
  tags: string[];
}

export const GROUPS = ['Smileys', 'People', 'Components', 'Animals & nature', 'Food & drink', 'Travel & places', 'Activities', 'Objects', 'Symbols', 'Flags'];

const codesOf = github as Record<string, string | string[]>;

export const EMOJI: Emoji[] = (data as { hexcode: string; label: string; unicode: string; group?: number; order?: number; tags?: string[] }[])
  .filter((e) => e.group !== undefined && e.group !== 2)
  .sort((a, b) => (a.order ?? 0) - (b.order ?? 0))
  .map((e) => {
    const c = codesOf[e.hexcode];
    return { u: e.unicode, label: e.label, group: e.group!, codes: c ? (Array.isArray(c) ? c : [c]) : [], tags: e.tags ?? [] };
  });

/** Emoji whose shortcode, name or tags match, best first: shortcode prefix, name prefix, then
 * words and tags. */
export function searchEmoji(query: string, limit = 60): Emoji[] {
  const q = query.toLowerCase().replace(/^:/, '').trim();
  if (!q) return EMOJI.slice(0, limit);
  const scored: [number, Emoji][] = [];
  for (const e of EMOJI) {
    let s = 0;
    if (e.codes.some((c) => c === q)) s = 100;
    else if (e.codes.some((c) => c.startsWith(q))) s = 80;
    else if (e.label.startsWith(q)) s = 70;
    else if (e.label.split(/[\s:-]+/).some((w) => w.startsWith(q))) s = 50;
    else if (e.tags.some((t) => t.startsWith(q))) s = 30;
    else if (e.codes.some((c) => c.includes(q))) s = 20;
    if (s) scored.push([s, e]);
  }
  return scored.sort((a, b) => b[0] - a[0]).slice(0, limit).map(([, e]) => e);
}

const RECENT_KEY = 'parley.emoji.recent';

export function recentEmoji(): string[] {
  try {
    const v = JSON.parse(localStorage.getItem(RECENT_KEY) ?? '[]');
    return Array.isArray(v) ? v.filter((x) => typeof x === 'string').slice(0, 24) : [];
  } catch {
    return [];
  }
}

export function useEmoji(u: string) {
  try {
    localStorage.setItem(RECENT_KEY, JSON.stringify([u, ...recentEmoji().filter((x) => x !== u)].slice(0, 24)));
  } catch {
    /* ignore */
  }
}
