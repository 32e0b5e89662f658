import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../src/ws';

describe('reconnect backoff', () => {
  it('grows exponentially up to the cap', () => {
    const max = () => 1;
    expect(backoffDelay(0, max)).toBe(500);
    expect(backoffDelay(1, max)).toBe(1000);
    expect(backoffDelay(3, max)).toBe(4000);
    expect(backoffDelay(10, max)).toBe(15_000);
    expect(backoffDelay(1000, max)).toBe(15_000);
  });

  it('jitters over the whole range with a floor', () => {
    expect(backoffDelay(4, () => 0)).toBe(250);
    expect(backoffDelay(4, () => 0.5)).toBe(4000);
    const seen = new Set(Array.from({ length: 50 }, () => backoffDelay(5)));
    expect(seen.size).toBeGreaterThan(10);
  });
});
