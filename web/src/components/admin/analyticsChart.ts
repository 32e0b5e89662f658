// Pure geometry of the analytics charts (unit-tested in tests/analytics.test.ts): one bar per day
// scaled to the busiest day, and a dot per day for active users on the same scale of their own;
// stacked bars of messages by conversation type; the formatting of response times.

export interface DayCount {
  date: string;
  active_users: number;
  messages: number;
  new_users: number;
  dm_messages?: number;
  group_messages?: number;
  channel_messages?: number;
  dm_responses?: number;
  dm_first_response_median_ms?: number | null;
  calls?: number;
  call_seconds?: number;
  files?: number;
}

export const TYPES = ['dm', 'group', 'channel'] as const;
export type ConversationKind = (typeof TYPES)[number];

export interface Segment {
  date: string;
  kind: ConversationKind;
  count: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** One stacked bar per day: DM at the bottom, then group, then channel, scaled to the busiest day. */
export function stackedBars(days: readonly DayCount[], width: number, height: number): Segment[] {
  if (days.length === 0) return [];
  const count = (d: DayCount, k: ConversationKind) => d[`${k}_messages`] ?? 0;
  const total = (d: DayCount) => TYPES.reduce((n, k) => n + count(d, k), 0);
  const max = Math.max(1, ...days.map(total));
  const slot = width / days.length;
  const barWidth = Math.max(1, slot * 0.7);
  const out: Segment[] = [];
  days.forEach((d, i) => {
    let top = height;
    for (const kind of TYPES) {
      const n = count(d, kind);
      if (n === 0) continue;
      const h = (n / max) * (height - 4);
      top -= h;
      out.push({ date: d.date, kind, count: n, x: i * slot + (slot - barWidth) / 2, y: top, width: barWidth, height: h });
    }
  });
  return out;
}

/** A response time for people: "45 s", "3 min", "2.5 h", "1.2 d"; an en dash for none. */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '–';
  const s = ms / 1000;
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86_400) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86_400).toFixed(1)} d`;
}

export interface Bar {
  date: string;
  messages: number;
  active: number;
  x: number;
  y: number;
  width: number;
  height: number;
  activeY: number;
}

export function chartBars(days: readonly DayCount[], width: number, height: number): Bar[] {
  if (days.length === 0) return [];
  const maxMessages = Math.max(1, ...days.map((d) => d.messages));
  const maxActive = Math.max(1, ...days.map((d) => d.active_users));
  const slot = width / days.length;
  const barWidth = Math.max(1, slot * 0.7);
  return days.map((d, i) => {
    const h = (d.messages / maxMessages) * (height - 4);
    return {
      date: d.date,
      messages: d.messages,
      active: d.active_users,
      x: i * slot + (slot - barWidth) / 2,
      y: height - h,
      width: barWidth,
      height: h,
      activeY: height - (d.active_users / maxActive) * (height - 4),
    };
  });
}

/** YYYY-MM-DD of a time, in UTC (the server's days are UTC). */
export function isoDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
