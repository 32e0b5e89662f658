import { describe, expect, it } from 'vitest';
import {
  addPending,
  applyDelete,
  applyExpired,
  applyReaction,
  applyUpdate,
  bumpReplyCount,
  changeReactions,
  firstSeq,
  firstUnreadSeq,
  isContiguous,
  lastSeq,
  mergeMessages,
  removePending,
  setPendingState,
  sortConversations,
  topLevel,
} from '../src/state/timeline';
import type { ClientMessage, Message } from '../src/types';

let now = 1_700_000_000_000;
function msg(seq: number, over: Partial<Message> = {}): Message {
  return {
    id: `m${seq}`,
    conversation_id: 'c1',
    seq,
    sender_id: 'bob',
    text: `message ${seq}`,
    client_msg_id: `cm${seq}`,
    thread_root_id: null,
    reply_count: 0,
    reactions: [],
    attachments: [],
    created_at: now + seq * 1000,
    edited_at: null,
    deleted: false,
    ...over,
  };
}
function pending(cmid: string, text = 'hi', over: Partial<ClientMessage> = {}): ClientMessage {
  return { ...msg(0), id: `local:${cmid}`, seq: 0, sender_id: 'alice', client_msg_id: cmid, text, created_at: ++now, pending: 'sending', ...over };
}
const seqs = (l: ClientMessage[]) => l.map((m) => (m.pending ? `p:${m.client_msg_id}` : m.seq));

describe('ordering', () => {
  it('sorts merged messages ascending by seq whatever the arrival order', () => {
    const l = mergeMessages([], [msg(5), msg(2), msg(9), msg(1)]);
    expect(seqs(l)).toEqual([1, 2, 5, 9]);
  });

  it('inserts a late, older message in its place', () => {
    let l = mergeMessages([], [msg(1), msg(2), msg(4)]);
    l = mergeMessages(l, [msg(3)]);
    expect(seqs(l)).toEqual([1, 2, 3, 4]);
  });

  it('keeps pending messages after every confirmed one, in the order sent', () => {
    let l = mergeMessages([], [msg(1), msg(2)]);
    l = addPending(l, pending('a'));
    l = addPending(l, pending('b'));
    l = mergeMessages(l, [msg(3)]);
    expect(seqs(l)).toEqual([1, 2, 3, 'p:a', 'p:b']);
  });

  it('sorts conversations most recent first, falling back to creation time', () => {
    const c = (id: string, last: number, created: number) => ({ id, last_message_at: last, created_at: created });
    const out = sortConversations([c('a', 10, 1), c('b', 0, 30), c('c', 20, 2)]);
    expect(out.map((x) => x.id)).toEqual(['b', 'c', 'a']);
  });
});

describe('dedupe by id and client_msg_id', () => {
  it('does not duplicate a message delivered twice (event and HTTP answer)', () => {
    let l = mergeMessages([], [msg(1)]);
    l = mergeMessages(l, [msg(1)]);
    l = mergeMessages(l, [msg(1), msg(1)]);
    expect(l).toHaveLength(1);
  });

  it('replaces the pending copy with its confirmation (same client_msg_id and sender)', () => {
    let l = mergeMessages([], [msg(1)]);
    l = addPending(l, pending('x', 'hello'));
    const confirmed = msg(2, { id: 'real2', sender_id: 'alice', client_msg_id: 'x', text: 'hello' });
    l = mergeMessages(l, [confirmed]);
    expect(seqs(l)).toEqual([1, 2]);
    expect(l[1].id).toBe('real2');
    expect(l[1].pending).toBeUndefined();
    // The HTTP answer arriving after the event changes nothing.
    l = mergeMessages(l, [confirmed]);
    expect(l).toHaveLength(2);
  });

  it('does not match a pending message against another sender with the same client_msg_id', () => {
    let l = addPending([], pending('x'));
    l = mergeMessages(l, [msg(1, { client_msg_id: 'x', sender_id: 'bob' })]);
    expect(seqs(l)).toEqual([1, 'p:x']);
  });

  it('confirms a pending message that is not the last one, and re-sorts', () => {
    let l = addPending([], pending('a'));
    l = addPending(l, pending('b'));
    l = mergeMessages(l, [msg(7, { id: 'rb', sender_id: 'alice', client_msg_id: 'b' })]);
    expect(seqs(l)).toEqual([7, 'p:a']);
  });

  it('adds a pending message once even if sent twice with the same client_msg_id', () => {
    let l = addPending([], pending('a'));
    l = addPending(l, pending('a'));
    expect(l).toHaveLength(1);
  });

  it('marks a failed send, retries and discards it', () => {
    let l = addPending([], pending('a'));
    l = setPendingState(l, 'a', 'failed');
    expect(l[0].pending).toBe('failed');
    l = setPendingState(l, 'a', 'sending');
    expect(l[0].pending).toBe('sending');
    expect(removePending(l, 'a')).toEqual([]);
  });
});

describe('merging catch-up pages', () => {
  it('merges overlapping pages into one gap-free run', () => {
    let l = mergeMessages([], [1, 2, 3, 4, 5].map((s) => msg(s)));
    l = mergeMessages(l, [4, 5, 6, 7].map((s) => msg(s)));
    l = mergeMessages(l, [7, 8].map((s) => msg(s)));
    expect(seqs(l)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(isContiguous(l)).toBe(true);
    expect(firstSeq(l)).toBe(1);
    expect(lastSeq(l)).toBe(8);
  });

  it('prepends an older history page', () => {
    let l = mergeMessages([], [51, 52, 53].map((s) => msg(s)));
    l = mergeMessages(l, [48, 49, 50].map((s) => msg(s)));
    expect(seqs(l)).toEqual([48, 49, 50, 51, 52, 53]);
  });

  it('detects a hole left by a missed event', () => {
    const l = mergeMessages([], [msg(1), msg(2), msg(5)]);
    expect(isContiguous(l)).toBe(false);
    expect(isContiguous(mergeMessages(l, [msg(3), msg(4)]))).toBe(true);
  });

  it('confirms pending messages found in a catch-up page after a reconnect', () => {
    let l = mergeMessages([], [msg(1)]);
    l = addPending(l, pending('a', 'sent before the drop'));
    l = setPendingState(l, 'a', 'failed');
    const page = [msg(2), msg(3, { id: 'ra', sender_id: 'alice', client_msg_id: 'a', text: 'sent before the drop' }), msg(4)];
    l = mergeMessages(l, page);
    expect(seqs(l)).toEqual([1, 2, 3, 4]);
    expect(l.some((m) => m.pending)).toBe(false);
  });

  it('a stale copy in a late page does not undo an edit or a delete', () => {
    let l = mergeMessages([], [msg(1), msg(2)]);
    l = applyUpdate(l, msg(1, { text: 'edited', edited_at: now + 99_000 }));
    l = applyDelete(l, 'm2');
    l = mergeMessages(l, [msg(1), msg(2)]);
    expect(l[0].text).toBe('edited');
    expect(l[1].deleted).toBe(true);
    expect(l[1].text).toBe('');
  });

  it('expired messages leave the list and the rest stays contiguous', () => {
    const l = mergeMessages([], [msg(1), msg(2), msg(3)]);
    const after = applyExpired(l, ['m1', 'm2', 'unknown']);
    expect(seqs(after)).toEqual([3]);
    expect(isContiguous(after)).toBe(true);
    expect(applyExpired(after, ['m9'])).toBe(after);
  });

  it('lastSeq ignores pending messages; empty lists give 0', () => {
    expect(lastSeq([])).toBe(0);
    expect(firstSeq([])).toBe(0);
    const l = addPending(mergeMessages([], [msg(3)]), pending('z'));
    expect(lastSeq(l)).toBe(3);
  });

  it('does not modify the list it was given', () => {
    const l = mergeMessages([], [msg(1)]);
    const copy = JSON.stringify(l);
    mergeMessages(l, [msg(2), msg(1, { text: 'x' })]);
    expect(JSON.stringify(l)).toBe(copy);
  });

  it('handles thousands of messages quickly', () => {
    const many = Array.from({ length: 5000 }, (_, i) => msg(i + 1));
    const t0 = performance.now();
    let l = mergeMessages([], many.slice(2500));
    l = mergeMessages(l, many.slice(0, 2600));
    for (let i = 5001; i <= 5100; i++) l = mergeMessages(l, [msg(i)]);
    expect(l).toHaveLength(5100);
    expect(isContiguous(l)).toBe(true);
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});

describe('events', () => {
  it('message.updated keeps reactions it does not carry', () => {
    let l = mergeMessages([], [msg(1, { reactions: [{ emoji: '👍', count: 2, me: true }] })]);
    const { reactions: _r, ...noReactions } = msg(1, { text: 'new', edited_at: now });
    l = applyUpdate(l, noReactions as Message);
    expect(l[0].text).toBe('new');
    expect(l[0].reactions).toEqual([{ emoji: '👍', count: 2, me: true }]);
  });

  it('message.deleted keeps id and seq, empties text and reactions', () => {
    let l = mergeMessages([], [msg(1, { reactions: [{ emoji: '👍', count: 1, me: false }] })]);
    l = applyDelete(l, 'm1');
    expect(l[0]).toMatchObject({ id: 'm1', seq: 1, text: '', deleted: true, reactions: [] });
  });

  it('reactions: an optimistic change and then its own event count once', () => {
    let l = mergeMessages([], [msg(1)]);
    l = applyReaction(l, 'm1', '🎉', true, true); // optimistic
    l = applyReaction(l, 'm1', '🎉', true, true); // reaction.added event for me
    expect(l[0].reactions).toEqual([{ emoji: '🎉', count: 1, me: true }]);
    l = applyReaction(l, 'm1', '🎉', true, false); // someone else
    expect(l[0].reactions).toEqual([{ emoji: '🎉', count: 2, me: true }]);
    l = applyReaction(l, 'm1', '🎉', false, true);
    l = applyReaction(l, 'm1', '🎉', false, true);
    expect(l[0].reactions).toEqual([{ emoji: '🎉', count: 1, me: false }]);
    l = applyReaction(l, 'm1', '🎉', false, false);
    expect(l[0].reactions).toEqual([]);
  });

  it('a removal of an absent reaction changes nothing', () => {
    expect(changeReactions([], '👍', false, false)).toEqual([]);
    expect(changeReactions([], '👍', false, true)).toEqual([]);
  });

  it('bumps the root reply count; topLevel hides replies', () => {
    let l = mergeMessages([], [msg(1), msg(2, { thread_root_id: 'm1' })]);
    l = bumpReplyCount(l, 'm1');
    expect(l[0].reply_count).toBe(1);
    expect(topLevel(l).map((m) => m.id)).toEqual(['m1']);
  });

  it('finds the first unread message not sent by me', () => {
    const l = mergeMessages([], [msg(1), msg(2, { sender_id: 'alice' }), msg(3), msg(4)]);
    expect(firstUnreadSeq(l, 1, 'alice')).toBe(3);
    expect(firstUnreadSeq(l, 4, 'alice')).toBeNull();
  });
});

describe('attachments and link previews', () => {
  const file = { id: 'f1', name: 'a.png', size: 10, content_type: 'image/png', url: '/api/v1/files/f1', width: 4, height: 3 };
  const preview = { url: 'https://example.com/', title: 'Example', description: 'An example' };

  it('a pending send with files is replaced by the stored message and its file objects', () => {
    const p = pending('c1', '', { attachments: [{ ...file, thumbnail_url: undefined }] });
    const out = mergeMessages([msg(1), p], [msg(2, { sender_id: 'alice', client_msg_id: 'c1', text: '', attachments: [{ ...file, thumbnail_url: '/api/v1/files/f1/thumbnail' }] })]);
    expect(seqs(out)).toEqual([1, 2]);
    expect(out[1].attachments[0].thumbnail_url).toBe('/api/v1/files/f1/thumbnail');
  });

  it('message.updated brings previews; a late copy without them does not take them away', () => {
    let list: ClientMessage[] = [msg(1, { text: 'see https://example.com/' })];
    list = applyUpdate(list, { ...msg(1, { text: 'see https://example.com/' }), previews: [preview] });
    expect(list[0].previews).toEqual([preview]);
    list = mergeMessages(list, [msg(1, { text: 'see https://example.com/', previews: [] })]);
    expect(list[0].previews).toEqual([preview]);
  });

  it('an edit (a newer text) may drop the previews', () => {
    let list: ClientMessage[] = [msg(1, { text: 'see https://example.com/', previews: [preview] })];
    list = mergeMessages(list, [msg(1, { text: 'never mind', edited_at: 5, previews: [] })]);
    expect(list[0].previews).toEqual([]);
  });
});

import { mentionBadge, mentionsUser } from '../src/state/timeline';

describe('mentions from the server (mentions, mention_all, mention_count)', () => {
  it('a message mentions the users it names, or everyone, never its sender', () => {
    expect(mentionsUser({ sender_id: 'a', mentions: ['b'], mention_all: false }, 'b')).toBe(true);
    expect(mentionsUser({ sender_id: 'a', mentions: ['b'], mention_all: false }, 'c')).toBe(false);
    expect(mentionsUser({ sender_id: 'a', mentions: [], mention_all: true }, 'c')).toBe(true);
    expect(mentionsUser({ sender_id: 'a', mentions: ['a'], mention_all: true }, 'a')).toBe(false);
    expect(mentionsUser({ sender_id: 'a' }, 'b')).toBe(false);
    expect(mentionsUser({ sender_id: 'a', mentions: ['b'] }, undefined)).toBe(false);
  });
  it('the badge: a DM counts every unread message; elsewhere the mentions, capped by unread', () => {
    expect(mentionBadge({ type: 'dm', unread_count: 3, mention_count: 0 })).toBe(3);
    expect(mentionBadge({ type: 'channel', unread_count: 3, mention_count: 1 })).toBe(1);
    expect(mentionBadge({ type: 'channel', unread_count: 0, mention_count: 2 })).toBe(0);
    expect(mentionBadge({ type: 'group', unread_count: 5 })).toBe(0);
  });
});

import { slideStart } from '../src/state/timeline';

describe('slideStart: the window slides without taking out what is on screen', () => {
  const base = { len: 1000, size: 100, step: 50, margin: 10 };
  it('moves a step back or on when the view is in the middle of the window', () => {
    expect(slideStart(-1, { ...base, start: 500, firstShown: 505, lastShown: 520 })).toBe(450);
    expect(slideStart(1, { ...base, start: 500, firstShown: 580, lastShown: 595 })).toBe(550);
  });
  it('moves less when a full step would drop messages on screen', () => {
    // On: the first message shown (index 540) and 10 before it stay in.
    expect(slideStart(1, { ...base, start: 500, firstShown: 540, lastShown: 560 })).toBe(530);
    // Back: the window must still reach 10 past the last one shown (index 570).
    expect(slideStart(-1, { ...base, start: 500, firstShown: 501, lastShown: 570 })).toBe(481);
  });
  it('does not move when the view spans the window, or at either end', () => {
    expect(slideStart(1, { ...base, start: 500, firstShown: 505, lastShown: 599 })).toBeNull();
    expect(slideStart(-1, { ...base, start: 500, firstShown: 500, lastShown: 595 })).toBeNull();
    expect(slideStart(-1, { ...base, start: 0 })).toBeNull();
    expect(slideStart(1, { ...base, start: 900 })).toBeNull();
  });
  it('without knowing what is on screen, a full step clamped to the ends', () => {
    expect(slideStart(-1, { ...base, start: 30 })).toBe(0);
    expect(slideStart(1, { ...base, start: 880 })).toBe(900);
    expect(slideStart(1, { ...base, len: 60, start: 0 })).toBeNull();
  });
});
