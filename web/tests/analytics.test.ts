import { describe, expect, it } from 'vitest';
import { chartBars, duration, isoDay, stackedBars } from '../src/components/admin/analyticsChart';

const day = (date: string, messages: number, active_users: number) => ({ date, messages, active_users, new_users: 0 });

describe('analytics chart', () => {
  it('scales bars to the busiest day and keeps them inside the box', () => {
    const bars = chartBars([day('2026-01-01', 10, 2), day('2026-01-02', 5, 4), day('2026-01-03', 0, 0)], 300, 100);
    expect(bars).toHaveLength(3);
    expect(bars[0].height).toBeCloseTo(96);
    expect(bars[1].height).toBeCloseTo(48);
    expect(bars[2].height).toBe(0);
    for (const b of bars) {
      expect(b.x).toBeGreaterThanOrEqual(0);
      expect(b.x + b.width).toBeLessThanOrEqual(300);
      expect(b.y + b.height).toBeCloseTo(100);
    }
    expect(bars[1].activeY).toBeLessThan(bars[0].activeY);
  });
  it('draws nothing for no days, and days are UTC dates', () => {
    expect(chartBars([], 300, 100)).toEqual([]);
    expect(isoDay(Date.UTC(2026, 0, 31, 23, 59))).toBe('2026-01-31');
  });
  it('stacks DM, group and channel messages per day inside the box', () => {
    const days = [
      { ...day('2026-01-01', 6, 1), dm_messages: 1, group_messages: 2, channel_messages: 3 },
      { ...day('2026-01-02', 3, 1), dm_messages: 3, group_messages: 0, channel_messages: 0 },
      day('2026-01-03', 0, 0),
    ];
    const segs = stackedBars(days, 300, 100);
    expect(segs.map((s) => `${s.date}:${s.kind}:${s.count}`)).toEqual(['2026-01-01:dm:1', '2026-01-01:group:2', '2026-01-01:channel:3', '2026-01-02:dm:3']);
    const first = segs.filter((s) => s.date === '2026-01-01');
    expect(first.reduce((h, s) => h + s.height, 0)).toBeCloseTo(96);
    expect(first[0].y + first[0].height).toBeCloseTo(100);
    expect(first[1].y + first[1].height).toBeCloseTo(first[0].y);
    expect(segs[3].height).toBeCloseTo(48);
    expect(stackedBars([], 300, 100)).toEqual([]);
  });
  it('writes response times for people', () => {
    expect(duration(null)).toBe('–');
    expect(duration(20_000)).toBe('20 s');
    expect(duration(185_000)).toBe('3 min');
    expect(duration(2.5 * 3_600_000)).toBe('2.5 h');
    expect(duration(1.5 * 86_400_000)).toBe('1.5 d');
  });
});
