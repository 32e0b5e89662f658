// A small markdown subset parsed into a tree of plain data: **bold**, *italics* / _italics_,
// ~~strikethrough~~, `code`, ```code blocks```, [links](https://…), bare http(s) links,
// @mentions, > quotes, # headings (three levels) and - / 1. lists. The tree is
// rendered with Preact elements and text nodes only (components/Markdown.tsx), so no text ever
// becomes HTML. Links are limited to http, https and mailto.

export type Inline =
  | { t: 'text'; v: string }
  | { t: 'code'; v: string }
  | { t: 'b'; c: Inline[] }
  | { t: 'i'; c: Inline[] }
  | { t: 's'; c: Inline[] }
  | { t: 'mention'; v: string }
  | { t: 'channel'; v: string }
  | { t: 'link'; href: string; c: Inline[] }
  | { t: 'br' };

export type Block =
  | { t: 'p'; c: Inline[] }
  | { t: 'quote'; c: Block[] }
  | { t: 'pre'; v: string }
  | { t: 'h'; level: 1 | 2 | 3; c: Inline[] }
  | { t: 'list'; ordered: boolean; start: number; items: Inline[][] };

const LIST_ITEM = /^\s{0,3}([-*+]|(\d{1,9})[.)])\s+(.*)$/;

const SAFE_URL = /^(https?:\/\/|mailto:)[^\s<>"]+$/i;

export function safeHref(url: string): string | null {
  return SAFE_URL.test(url) ? url : null;
}

export function parseMarkdown(src: string): Block[] {
  const lines = src.replace(/\r\n?/g, '\n').split('\n');
  const blocks: Block[] = [];
  let para: string[] = [];
  const flush = () => {
    if (para.length) {
      blocks.push({ t: 'p', c: parseInline(para.join('\n')) });
      para = [];
    }
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (/^```/.test(line)) {
      const body: string[] = [];
      let j = i + 1;
      while (j < lines.length && !/^```\s*$/.test(lines[j])) body.push(lines[j++]);
      if (j < lines.length) {
        flush();
        const first = line.slice(3);
        blocks.push({ t: 'pre', v: (first.trim() && !/^[\w+-]+$/.test(first.trim()) ? [first, ...body] : body).join('\n') });
        i = j;
        continue;
      }
    }
    if (/^>\s?/.test(line)) {
      flush();
      const quoted: string[] = [];
      while (i < lines.length && /^>\s?/.test(lines[i])) quoted.push(lines[i++].replace(/^>\s?/, ''));
      i--;
      blocks.push({ t: 'quote', c: parseMarkdown(quoted.join('\n')) });
      continue;
    }
    const h = /^(#{1,3})\s+(.+?)\s*#*\s*$/.exec(line);
    if (h) {
      flush();
      blocks.push({ t: 'h', level: h[1].length as 1 | 2 | 3, c: parseInline(h[2]) });
      continue;
    }
    const li = LIST_ITEM.exec(line);
    if (li) {
      flush();
      const ordered = li[2] !== undefined;
      const items: Inline[][] = [];
      const start = ordered ? Number(li[2]) : 1;
      while (i < lines.length) {
        const m = LIST_ITEM.exec(lines[i]);
        if (!m || (m[2] !== undefined) !== ordered) break;
        items.push(parseInline(m[3]));
        i++;
      }
      i--;
      blocks.push({ t: 'list', ordered, start, items });
      continue;
    }
    if (line.trim() === '') {
      flush();
      continue;
    }
    para.push(line);
  }
  flush();
  return blocks;
}

const URL_RE = /https?:\/\/[^\s<>"]*[^\s<>".,;:!?)\]'}]/y;

export function parseInline(s: string): Inline[] {
  const out: Inline[] = [];
  let text = '';
  const push = (n: Inline) => {
    if (text) out.push({ t: 'text', v: text });
    text = '';
    out.push(n);
  };
  let i = 0;
  while (i < s.length) {
    const ch = s[i];
    if (ch === '\\' && i + 1 < s.length && /[\\`*_[\]()>~@#-]/.test(s[i + 1])) {
      text += s[i + 1];
      i += 2;
      continue;
    }
    if (ch === '\n') {
      push({ t: 'br' });
      i++;
      continue;
    }
    if (ch === '`') {
      const end = s.indexOf('`', i + 1);
      if (end > i + 1) {
        push({ t: 'code', v: s.slice(i + 1, end) });
        i = end + 1;
        continue;
      }
    }
    if (ch === '*' && s[i + 1] === '*') {
      const end = s.indexOf('**', i + 2);
      if (end > i + 2 && s[i + 2] !== ' ') {
        push({ t: 'b', c: parseInline(s.slice(i + 2, end)) });
        i = end + 2;
        continue;
      }
    }
    if (ch === '~' && s[i + 1] === '~') {
      const end = s.indexOf('~~', i + 2);
      if (end > i + 2 && s[i + 2] !== ' ' && s[end - 1] !== ' ') {
        push({ t: 's', c: parseInline(s.slice(i + 2, end)) });
        i = end + 2;
        continue;
      }
    }
    if (ch === '@' && (i === 0 || !/[\w.@]/.test(s[i - 1]))) {
      const m = /^@([a-z0-9._-]{3,32})/i.exec(s.slice(i, i + 34));
      if (m) {
        const name = m[1].replace(/[._-]+$/, '');
        if (name.length >= 3) {
          push({ t: 'mention', v: name.toLowerCase() });
          i += name.length + 1;
          continue;
        }
      }
    }
    if (ch === '#' && (i === 0 || !/[\w&#/]/.test(s[i - 1]))) {
      const m = /^#([\p{L}\p{N}_-]{1,80})/u.exec(s.slice(i, i + 82));
      if (m && !/^\d+$/.test(m[1])) {
        push({ t: 'channel', v: m[1] });
        i += m[0].length;
        continue;
      }
    }
    if ((ch === '*' || ch === '_') && s[i + 1] !== ch && s[i + 1] !== ' ' && s[i + 1] !== undefined) {
      // _ only at a word boundary, so snake_case_names stay as they are.
      const boundaryOk = ch === '*' || i === 0 || !/\w/.test(s[i - 1]);
      let end = s.indexOf(ch, i + 1);
      while (end > 0 && ch === '*' && s[end + 1] === '*') end = s.indexOf(ch, end + 2);
      const closeOk = end > i + 1 && s[end - 1] !== ' ' && (ch === '*' || end + 1 >= s.length || !/\w/.test(s[end + 1]));
      if (boundaryOk && closeOk) {
        push({ t: 'i', c: parseInline(s.slice(i + 1, end)) });
        i = end + 1;
        continue;
      }
    }
    if (ch === '[') {
      const close = s.indexOf('](', i + 1);
      const nl = s.indexOf('\n', i);
      if (close > i && (nl < 0 || nl > close)) {
        const end = s.indexOf(')', close + 2);
        const href = end > 0 ? safeHref(s.slice(close + 2, end)) : null;
        if (href) {
          push({ t: 'link', href, c: parseInline(s.slice(i + 1, close)) });
          i = end + 1;
          continue;
        }
      }
    }
    if ((ch === 'h' || ch === 'H') && (i === 0 || !/\w/.test(s[i - 1]))) {
      URL_RE.lastIndex = i;
      const m = URL_RE.exec(s);
      if (m) {
        push({ t: 'link', href: m[0], c: [{ t: 'text', v: m[0] }] });
        i += m[0].length;
        continue;
      }
    }
    text += ch;
    i++;
  }
  if (text) out.push({ t: 'text', v: text });
  return out;
}

/** Plain text of a message (notifications, previews): the markup removed. */
export function plainText(blocks: Block[]): string {
  const inl = (c: Inline[]): string =>
    c.map((n) => (n.t === 'text' || n.t === 'code' ? n.v : n.t === 'mention' ? `@${n.v}` : n.t === 'channel' ? `#${n.v}` : n.t === 'br' ? ' ' : 'c' in n ? inl(n.c) : '')).join('');
  return blocks
    .map((b) => (b.t === 'p' || b.t === 'h' ? inl(b.c) : b.t === 'pre' ? b.v : b.t === 'list' ? b.items.map(inl).join(' ') : plainText(b.c)))
    .join(' ');
}
