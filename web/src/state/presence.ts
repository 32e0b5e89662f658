// Pure merging of presence updates (GET /presence, presence.changed, presence.batch) into what
// the client shows. No signals, no I/O.
import type { Presence, PresenceStatus } from '../types';

const statuses: ReadonlySet<string> = new Set<PresenceStatus>(['online', 'away', 'dnd', 'offline']);

/** The shown statuses with these updates applied in order (a later one for a user wins); an
 *  entry without a user id or with a status this client does not know is skipped. Returns the
 *  same object when nothing changed, so a signal holding it does not redraw. */
export function withPresence(
  current: Record<string, PresenceStatus>,
  updates: readonly Partial<Presence>[],
): Record<string, PresenceStatus> {
  let next: Record<string, PresenceStatus> | null = null;
  for (const p of updates) {
    if (typeof p?.user_id !== 'string' || !statuses.has(p.status as string)) continue;
    if ((next ?? current)[p.user_id] === p.status) continue;
    next ??= { ...current };
    next[p.user_id] = p.status as PresenceStatus;
  }
  return next ?? current;
}
