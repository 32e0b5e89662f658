// Pure geometry of the analytics chart (unit-tested in tests/analytics.test.ts): one bar per day
// scaled to the busiest day, and a dot per day for active users on the same scale of their own.

export interface DayCount {
  date: string;
  active_users: number;
  messages: number;
  new_users: number;
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
