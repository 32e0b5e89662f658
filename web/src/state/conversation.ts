// Pure merging of what the client knows of a conversation with a newer copy: an event's shared
// object (no per-user fields) or the server's answer to a fetch. No signals, no I/O.
import type { Conversation } from '../types';

export function mergeConversation(old: Conversation | undefined, c: Conversation): Conversation {
  if (!old) return c;
  // A snapshot read before messages this client has already counted (a fetch answered just
  // before a message.created that arrived first) must not take their unread counts back.
  const behind = (c.last_seq ?? 0) < old.last_seq;
  return {
    ...old,
    ...c,
    unread_count: behind ? old.unread_count : c.unread_count ?? old.unread_count,
    mention_count: behind ? old.mention_count : c.mention_count ?? old.mention_count,
    last_read_seq: behind ? old.last_read_seq : c.last_read_seq ?? old.last_read_seq,
    role: c.role ?? old.role,
    starred: c.starred ?? old.starred,
    last_seq: Math.max(c.last_seq ?? 0, old.last_seq),
    last_message_at: Math.max(c.last_message_at ?? 0, old.last_message_at),
  };
}
