import { describe, expect, it } from 'vitest';
import { withPresence } from '../src/state/presence';

describe('withPresence', () => {
  it('applies a batch in order, the later update for a user winning', () => {
    const before = { a: 'offline' as const };
    const after = withPresence(before, [
      { user_id: 'a', status: 'online' },
      { user_id: 'b', status: 'away' },
      { user_id: 'a', status: 'dnd' },
    ]);
    expect(after).toEqual({ a: 'dnd', b: 'away' });
    expect(before).toEqual({ a: 'offline' });
  });

  it('keeps the same object when nothing shows a change', () => {
    const before = { a: 'online' as const };
    expect(withPresence(before, [{ user_id: 'a', status: 'online' }])).toBe(before);
    expect(withPresence(before, [])).toBe(before);
  });

  it('skips entries without a user id or with an unknown status', () => {
    const after = withPresence({}, [
      { status: 'online' },
      { user_id: 'x', status: 'invisible' as never },
      null as never,
      { user_id: 'y', status: 'away' },
    ]);
    expect(after).toEqual({ y: 'away' });
  });
});
