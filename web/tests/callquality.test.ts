// The call quality bars and the offer rule of calls.ts.
import { describe, expect, it } from 'vitest';
import { barsFor, offers } from '../src/callquality';

describe('barsFor', () => {
  it('a good link has four bars', () => {
    expect(barsFor({ rttMs: 40, lossPct: 0, kbps: 1200 })).toBe(4);
    expect(barsFor({ rttMs: null, lossPct: 0, kbps: 900 })).toBe(4);
  });
  it('round-trip time, loss and a silent link each take bars away', () => {
    expect(barsFor({ rttMs: 400, lossPct: 0, kbps: 900 })).toBe(3);
    expect(barsFor({ rttMs: 700, lossPct: 0, kbps: 900 })).toBe(2);
    expect(barsFor({ rttMs: 40, lossPct: 5, kbps: 900 })).toBe(3);
    expect(barsFor({ rttMs: 40, lossPct: 10, kbps: 900 })).toBe(2);
    expect(barsFor({ rttMs: 40, lossPct: 0, kbps: 2 })).toBe(3);
  });
  it('never below zero', () => {
    expect(barsFor({ rttMs: 2000, lossPct: 50, kbps: 0 })).toBe(0);
  });
});

describe('offers', () => {
  it('exactly one side of a pair offers', () => {
    const a = 'U1:S1';
    const b = 'U2:S9';
    expect(offers(a, b)).not.toBe(offers(b, a));
    expect(offers(a, b)).toBe(true);
  });
});
