import { describe, expect, it } from 'vitest';
import { chartBars, isoDay } from '../src/components/admin/analyticsChart';

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
});
