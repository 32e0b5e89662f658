// Pure functions over a conversation's list of messages: ordering, dedupe and merging of
// confirmed messages, pending sends, catch-up pages and events. No signals, no I/O: the store
// calls these and tests exercise them directly.
import type { ClientMessage, Conversation, Message, Reaction } from '../types';

/** Confirmed messages come first, ascending by seq; pending ones follow in the order sent. */
export function compareMessages(a: ClientMessage, b: ClientMessage): number {
  const ap = a.pending ? 1 : 0;
  const bp = b.pending ? 1 : 0;
  if (ap !== bp) return ap - bp;
  if (ap) return a.created_at - b.created_at;
  return a.seq - b.seq;
}

function sameSend(a: ClientMessage, b: Message): boolean {
  return (
    a.client_msg_id !== '' &&
    a.client_msg_id === b.client_msg_id &&
    a.sender_id === b.sender_id &&
    a.conversation_id === b.conversation_id
  );
}

/** Keeps reactions when an update carries none (message.updated has no reactions). */
function replace(old: ClientMessage, next: Message): ClientMessage {
  const merged: ClientMessage = { ...next };
  if (!('reactions' in next) || !Array.isArray(next.reactions)) merged.reactions = old.reactions ?? [];
  if (next.deleted) merged.reactions = [];
  // Link previews arrive later (message.updated): a copy fetched before them (a late page)
  // does not take them away again, unless the text changed since.
  if (!next.previews?.length && old.previews?.length && !next.deleted && (old.edited_at ?? 0) === (next.edited_at ?? 0)) merged.previews = old.previews;
  // An older copy (a late catch-up page) never undoes an edit or a delete.
  if (!old.pending && old.deleted && !next.deleted) return old;
  if (!old.pending && (old.edited_at ?? 0) > (next.edited_at ?? 0)) return { ...merged, text: old.text, edited_at: old.edited_at };
  delete merged.pending;
  return merged;
}

/**
 * Merges confirmed messages (a history page, a catch-up page, or one event) into a list.
 * The same id replaces the held copy; a pending message with the same client_msg_id (same
 * sender, same conversation) is replaced by its confirmation. The result is sorted and
 * free of duplicates. The input list is not modified.
 */
export function mergeMessages(list: readonly ClientMessage[], incoming: readonly Message[]): ClientMessage[] {
  if (incoming.length === 0) return list as ClientMessage[];
  const out = list.slice();
  // Few incoming (an event, an answer): scan from the end, where new messages land. Many (a
  // page): index the list once.
  let byId: Map<string, number> | null = null;
  if (incoming.length > 8) {
    byId = new Map();
    out.forEach((m, i) => byId!.set(m.id, i));
  }
  const indexOf = (id: string): number => {
    if (byId) return byId.get(id) ?? -1;
    for (let i = out.length - 1; i >= 0; i--) if (out[i].id === id) return i;
    return -1;
  };
  // Pending messages sit at the end of a sorted list.
  const pendingIdx = new Map<string, number>();
  for (let i = out.length - 1; i >= 0 && out[i].pending; i--) pendingIdx.set(out[i].client_msg_id, i);
  let sorted = true;
  for (const m of incoming) {
    const at = indexOf(m.id);
    if (at >= 0) {
      out[at] = replace(out[at], m);
      continue;
    }
    const pendingAt = pendingIdx.get(m.client_msg_id) ?? -1;
    if (pendingAt >= 0 && sameSend(out[pendingAt], m)) {
      pendingIdx.delete(m.client_msg_id);
      byId?.delete(out[pendingAt].id);
      out[pendingAt] = replace(out[pendingAt], m);
      byId?.set(m.id, pendingAt);
      sorted = false;
      continue;
    }
    const last = out.length ? out[out.length - 1] : undefined;
    if (last && (last.pending || last.seq > m.seq)) sorted = false;
    byId?.set(m.id, out.length);
    out.push({ ...m });
  }
  if (!sorted) out.sort(compareMessages);
  return out;
}

/** Adds a message being sent (it shows at once, marked as sending). */
export function addPending(list: readonly ClientMessage[], m: ClientMessage): ClientMessage[] {
  if (list.some((x) => x.client_msg_id === m.client_msg_id && x.sender_id === m.sender_id)) return list as ClientMessage[];
  return [...list, { ...m, pending: 'sending' }];
}

export function setPendingState(
  list: readonly ClientMessage[],
  clientMsgId: string,
  state: 'sending' | 'failed',
): ClientMessage[] {
  return list.map((m) => (m.pending && m.client_msg_id === clientMsgId ? { ...m, pending: state } : m));
}

export function removePending(list: readonly ClientMessage[], clientMsgId: string): ClientMessage[] {
  return list.filter((m) => !(m.pending && m.client_msg_id === clientMsgId));
}

/** Highest confirmed seq held; 0 when none. */
export function lastSeq(list: readonly ClientMessage[]): number {
  for (let i = list.length - 1; i >= 0; i--) if (!list[i].pending) return list[i].seq;
  return 0;
}

/** Lowest confirmed seq held; 0 when none. */
export function firstSeq(list: readonly ClientMessage[]): number {
  for (const m of list) if (!m.pending) return m.seq;
  return 0;
}

/** True when the confirmed messages have no hole in their seqs. */
export function isContiguous(list: readonly ClientMessage[]): boolean {
  let prev = -1;
  for (const m of list) {
    if (m.pending) continue;
    if (prev >= 0 && m.seq !== prev + 1) return false;
    prev = m.seq;
  }
  return true;
}

/** message.updated: data is the message without reactions. */
export function applyUpdate(list: readonly ClientMessage[], m: Message): ClientMessage[] {
  const at = list.findIndex((x) => x.id === m.id);
  if (at < 0) return list as ClientMessage[];
  const out = list.slice();
  out[at] = { ...out[at], ...m, reactions: m.deleted ? [] : (m.reactions ?? out[at].reactions) };
  return out;
}

/** message.deleted: keeps id and seq; empties text and reactions. */
export function applyDelete(list: readonly ClientMessage[], id: string): ClientMessage[] {
  const at = list.findIndex((x) => x.id === id);
  if (at < 0) return list as ClientMessage[];
  const out = list.slice();
  out[at] = { ...out[at], text: '', reactions: [], deleted: true };
  return out;
}

/** messages.expired: retention removed these messages; they leave the timeline entirely. */
export function applyExpired(list: readonly ClientMessage[], ids: readonly string[]): ClientMessage[] {
  const gone = new Set(ids);
  if (!list.some((m) => gone.has(m.id))) return list as ClientMessage[];
  return list.filter((m) => !gone.has(m.id));
}

/**
 * Applies one reaction change to a reaction list. `mine` says whether the change is the
 * caller's own; it is skipped when already reflected (an optimistic change, then its event).
 */
export function changeReactions(reactions: readonly Reaction[], emoji: string, added: boolean, mine: boolean): Reaction[] {
  const at = reactions.findIndex((r) => r.emoji === emoji);
  const cur = at >= 0 ? reactions[at] : undefined;
  if (mine && cur && cur.me === added) return reactions as Reaction[];
  if (mine && !cur && !added) return reactions as Reaction[];
  const out = reactions.slice();
  if (added) {
    if (cur) out[at] = { emoji, count: cur.count + 1, me: cur.me || mine };
    else out.push({ emoji, count: 1, me: mine });
  } else if (cur) {
    const count = cur.count - 1;
    if (count <= 0) out.splice(at, 1);
    else out[at] = { emoji, count, me: mine ? false : cur.me };
  }
  return out;
}

export function applyReaction(
  list: readonly ClientMessage[],
  messageId: string,
  emoji: string,
  added: boolean,
  mine: boolean,
): ClientMessage[] {
  const at = list.findIndex((x) => x.id === messageId);
  if (at < 0) return list as ClientMessage[];
  const next = changeReactions(list[at].reactions, emoji, added, mine);
  if (next === list[at].reactions) return list as ClientMessage[];
  const out = list.slice();
  out[at] = { ...out[at], reactions: next };
  return out;
}

/** A new reply raises its root's reply_count (once per reply id). */
export function bumpReplyCount(list: readonly ClientMessage[], rootId: string): ClientMessage[] {
  const at = list.findIndex((x) => x.id === rootId);
  if (at < 0) return list as ClientMessage[];
  const out = list.slice();
  out[at] = { ...out[at], reply_count: out[at].reply_count + 1 };
  return out;
}

/** Messages of the main timeline: not thread replies. */
export function topLevel(list: readonly ClientMessage[]): ClientMessage[] {
  return list.filter((m) => !m.thread_root_id);
}

/** The seq of the first message after lastRead not sent by me; null when none. */
export function firstUnreadSeq(list: readonly ClientMessage[], lastRead: number, me: string): number | null {
  for (const m of list) {
    if (!m.pending && m.seq > lastRead && m.sender_id !== me && !m.thread_root_id) return m.seq;
  }
  return null;
}

/** Orders conversations most recent first: last message, else creation. */
export function sortConversations<T extends { last_message_at: number; created_at: number; id: string }>(list: readonly T[]): T[] {
  return list.slice().sort((a, b) => {
    const ta = a.last_message_at || a.created_at;
    const tb = b.last_message_at || b.created_at;
    return tb - ta || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
  });
}

/** A client_msg_id: unique per send, printable ASCII, at most 64 characters. */
export function newClientMsgId(): string {
  const c = globalThis.crypto;
  if (c && 'randomUUID' in c) return c.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

/** Whether a message mentions a user, as the server worked it out (`mentions`, `mention_all`);
 * never their own message. */
export function mentionsUser(m: Pick<Message, 'sender_id' | 'mentions' | 'mention_all'>, userId: string | undefined): boolean {
  if (!userId || m.sender_id === userId) return false;
  return !!m.mention_all || (m.mentions ?? []).includes(userId);
}

/** A conversation's badge: a DM counts every unread message as a mention; elsewhere the
 * mention count (never more than the unread count). */
export function mentionBadge(c: Pick<Conversation, 'type' | 'unread_count' | 'mention_count'>): number {
  const unread = c.unread_count ?? 0;
  return c.type === 'dm' ? unread : Math.min(unread, c.mention_count ?? 0);
}

/** Where a sliding window of `size` items over `len` moves next when the reader nears one of
 * its ends: `step` items back (dir -1) or on (dir +1), but never so far that items on screen
 * (indices `firstShown`..`lastShown`, when known) or within `margin` of them leave the window:
 * taking out what the reader looks at would make the view jump. Returns the new start, or
 * null when the window cannot move. */
export function slideStart(
  dir: -1 | 1,
  o: { start: number; len: number; size: number; step: number; margin: number; firstShown?: number; lastShown?: number },
): number | null {
  const maxStart = Math.max(0, o.len - o.size);
  let next: number;
  if (dir < 0) {
    next = Math.max(0, o.start - o.step);
    // The window's new end must stay past the last message on screen.
    if (o.lastShown !== undefined) next = Math.max(next, o.lastShown + o.margin + 1 - o.size);
    next = Math.min(next, maxStart);
    return next < o.start ? next : null;
  }
  next = Math.min(maxStart, o.start + o.step);
  if (o.firstShown !== undefined) next = Math.min(next, o.firstShown - o.margin);
  next = Math.max(0, next);
  return next > o.start ? next : null;
}
