// Pure helpers of calls.ts, unit-tested: the quality bars of a link and who offers in a pair.

export interface LinkSample {
  rttMs: number | null;
  lossPct: number;
  kbps: number;
}

/** 0 (bad) to 4 (good): round-trip time over 300/600 ms, loss over 2/8 %, a near-silent link. */
export function barsFor(q: LinkSample): number {
  let bars = 4;
  if (q.rttMs !== null) bars -= q.rttMs > 600 ? 2 : q.rttMs > 300 ? 1 : 0;
  bars -= q.lossPct > 8 ? 2 : q.lossPct > 2 ? 1 : 0;
  if (q.kbps < 8) bars -= 1;
  return Math.max(0, bars);
}

/** Of two participants ("user:session" keys), the one that makes the offer: the first in sort
 * order, so both sides agree and offers never cross. */
export function offers(mine: string, theirs: string): boolean {
  return mine < theirs;
}
