// Pure formatting helpers (no DOM, no signals): times, day separators, counts, error text,
// avatar colours. Unit-tested in tests/format.test.ts.

// Intl formatters are costly to build (toLocale*String builds one per call): one per locale
// and style, reused. A timeline renders hundreds of times per scroll.
const formatters = new Map<string, Intl.DateTimeFormat>();
function fmt(locale: string | undefined, style: 'clock' | 'date' | 'full', opts: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const key = `${locale ?? ''}|${style}`;
  let f = formatters.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(locale, opts);
    formatters.set(key, f);
  }
  return f;
}

/** The clock time of a message, e.g. "1:05 AM" or "01:05" by locale; never cut short. */
export function formatClock(ms: number, locale?: string): string {
  return fmt(locale, 'clock', { hour: 'numeric', minute: '2-digit' }).format(ms);
}

/** Date and time in full (a tooltip). */
export function formatFull(ms: number, locale?: string): string {
  return fmt(locale, 'full', { dateStyle: 'full', timeStyle: 'short' }).format(ms);
}

/** Time for a message header: the clock today, else the date and the clock. */
export function formatTime(ms: number, now = Date.now(), locale?: string): string {
  const clock = formatClock(ms, locale);
  if (dayKey(ms) === dayKey(now)) return clock;
  return `${fmt(locale, 'date', { month: 'short', day: 'numeric' }).format(ms)} ${clock}`;
}

/** A local calendar day as a number (for comparing days across DST changes). */
export function dayKey(ms: number): number {
  const d = new Date(ms);
  return d.getFullYear() * 10000 + (d.getMonth() + 1) * 100 + d.getDate();
}

/** The label of a day separator: "Today", "Yesterday", a weekday this week, else a date. */
export function dayLabel(ms: number, now = Date.now(), locale?: string): string {
  const d = new Date(ms);
  const today = new Date(now);
  if (dayKey(ms) === dayKey(now)) return 'Today';
  const y = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (dayKey(ms) === dayKey(y.getTime())) return 'Yesterday';
  const sameYear = d.getFullYear() === today.getFullYear();
  return d.toLocaleDateString(locale, { weekday: 'long', month: 'long', day: 'numeric', ...(sameYear ? {} : { year: 'numeric' }) });
}

/** "1 member", "2 members". */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}

/** One of 8 colours, from the user id: stable whatever the display name becomes. */
export function avatarHue(id: string): number {
  let h = 2166136261;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619) >>> 0;
  return h % 8;
}

export interface ErrorLike {
  status?: number;
  code?: string;
  message?: string;
  field?: string;
}

function sentence(s: string): string {
  const t = s.trim();
  if (!t) return t;
  const first = t[0].toUpperCase() + t.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

/** Text for an error shown to a person: known codes in plain words, else the server's message
 * as a sentence (capitalised, with a full stop), never a bare lowercase code. */
export function friendlyError(e: ErrorLike, context: 'sign-in' | 'sign-up' | 'other' = 'other'): string {
  switch (e.code) {
    case 'network':
      return 'The server cannot be reached. Check your connection and try again.';
    case 'unauthorized':
      return context === 'sign-in' ? 'Wrong username or password.' : 'Your session has ended. Sign in again.';
    case 'conflict':
      return context === 'sign-up' ? 'That username is taken. Try another one.' : sentence(e.message || 'That conflicts with the current state');
    case 'rate_limited':
      return 'Too many attempts. Wait a moment and try again.';
    case 'internal':
      return 'Something went wrong on the server. Try again.';
  }
  if (e.code === 'validation_failed' && e.field === 'username' && context !== 'other')
    return 'Usernames are 3 to 32 characters: lowercase letters, digits, dots, dashes and underscores.';
  if (e.code === 'validation_failed' && e.field === 'password' && context !== 'other') return 'Passwords are at least 8 characters.';
  return sentence(e.message || 'Something went wrong');
}

/** Text for the sso_error (and reason) the server's sign-on callback sends the browser back with. */
export function ssoErrorText(code: string, reason: string): string {
  if (code === 'provider_unavailable') return 'The sign-in provider cannot be reached. Try again later.';
  if (code === 'sign_in_refused') {
    if (reason === 'state' || reason === 'binding') return 'That sign-in expired or was started elsewhere. Start again.';
    if (reason === 'provider') return 'The sign-in provider did not sign you in.';
    return 'The sign-in provider’s answer could not be trusted, so you were not signed in.';
  }
  if (code === 'account_unavailable') return 'No account could be made for you. Ask an administrator.';
  return 'Single sign-on did not work. Try again.';
}

/** Markdown syntax taken out of a search snippet, so it reads as the message does. Keeps the
 * \uE000/\uE001 marks (the highlight) where they are. */
export function stripMarkdown(s: string): string {
  return s
    .replace(/```[^\n]*\n?/g, '')
    .replace(/\[([^\]]*)\]\([^)\s]*\)/g, '$1')
    .replace(/(\*\*|__|~~)(?=\S)([\s\S]*?\S)\1/g, '$2')
    .replace(/(^|[\s(])[*_](?=\S)([^*_\n]*?\S)[*_](?=$|[\s).,!?:;])/g, '$1$2')
    .replace(/`([^`\n]*)`/g, '$1')
    .replace(/^\s{0,3}(?:>\s?|#{1,6}\s+|[-*+]\s+(?=\S))/gm, '');
}

/** Fuzzy match for the quick switcher and mentions: 0 when the query's letters do not all
 * appear in order; higher for a prefix, word starts and consecutive runs, and shorter names. */
export function fuzzyScore(query: string, name: string): number {
  const q = query.toLowerCase().replace(/^[#@]/, '');
  const n = name.toLowerCase();
  if (!q) return 1;
  if (n.startsWith(q)) return 100 - n.length / 100;
  const at = n.indexOf(q);
  if (at >= 0) return (/[\s._-]/.test(n[at - 1] ?? ' ') ? 80 : 60) - n.length / 100;
  let score = 0;
  let j = 0;
  let run = 0;
  for (let i = 0; i < n.length && j < q.length; i++) {
    if (n[i] === q[j]) {
      run++;
      score += 1 + run + (i === 0 || /[\s._-]/.test(n[i - 1]) ? 3 : 0);
      j++;
    } else run = 0;
  }
  if (j < q.length) return 0;
  return Math.min(59, score) - n.length / 100;
}

/** Undoes the HTML escaping of a search highlight (the text is then shown as text). */
export function unescapeHtml(s: string): string {
  return s.replace(/&(lt|gt|amp|quot|#39|#x27|apos);/g, (_, e: string) =>
    e === 'lt' ? '<' : e === 'gt' ? '>' : e === 'amp' ? '&' : e === 'quot' ? '"' : "'",
  );
}

/** The clock time in a time zone ("14:05"), or "" when the zone is unknown to this browser. */
export function localTimeIn(timeZone: string, ms = Date.now(), locale?: string): string {
  if (!timeZone) return '';
  try {
    return new Intl.DateTimeFormat(locale, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone }).format(ms);
  } catch {
    return '';
  }
}

/** Whether this browser knows a time zone name. */
export function isTimeZone(name: string): boolean {
  if (!name) return false;
  try {
    new Intl.DateTimeFormat(undefined, { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** The time zones to offer: the browser's list (with UTC), the current choice kept even when
 * the browser does not list it. */
export function timeZoneOptions(current = ''): string[] {
  let list: string[] = [];
  try {
    list = (Intl as unknown as { supportedValuesOf?: (k: string) => string[] }).supportedValuesOf?.('timeZone') ?? [];
  } catch {
    list = [];
  }
  const all = new Set(list);
  all.add('UTC');
  if (current) all.add(current);
  return [...all].sort((a, b) => a.localeCompare(b));
}

/** This device's time zone ("" when the browser does not say). */
export function deviceTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone ?? '';
  } catch {
    return '';
  }
}
