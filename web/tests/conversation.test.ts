import { describe, expect, it } from 'vitest';
import { mergeConversation } from '../src/state/conversation';
import type { Conversation } from '../src/types';

const base: Conversation = {
  id: 'c1',
  type: 'dm',
  name: '',
  topic: '',
  visibility: 'private',
  member_count: 2,
  last_seq: 0,
  last_message_at: 0,
  created_by: 'u1',
  created_at: 1,
};

describe('mergeConversation', () => {
  it('takes a new conversation as it comes', () => {
    expect(mergeConversation(undefined, { ...base, unread_count: 0 })).toEqual({ ...base, unread_count: 0 });
  });

  it('keeps the counts of messages counted after a fetch was answered (the fetch lands last)', () => {
    // conversation.created, then message.created (counted: seq 1, unread 1), then the answer to
    // the fetch that conversation.created started, read before the message was stored.
    const counted = { ...base, last_seq: 1, last_message_at: 5, unread_count: 1, mention_count: 1, last_read_seq: 0 };
    const stale = { ...base, unread_count: 0, mention_count: 0, last_read_seq: 0 };
    const merged = mergeConversation(counted, stale);
    expect(merged.unread_count).toBe(1);
    expect(merged.mention_count).toBe(1);
    expect(merged.last_seq).toBe(1);
    expect(merged.last_message_at).toBe(5);
  });

  it('takes the server counts from a snapshot as new as what the client saw, also backwards', () => {
    const local = { ...base, last_seq: 4, unread_count: 0, last_read_seq: 4 };
    // Marked unread on another device: the marker moved back to 2.
    const fresh = { ...base, last_seq: 4, unread_count: 2, last_read_seq: 2, mention_count: 0 };
    const merged = mergeConversation(local, fresh);
    expect(merged.unread_count).toBe(2);
    expect(merged.last_read_seq).toBe(2);
  });

  it('keeps per-user fields an event does not carry', () => {
    const local = { ...base, last_seq: 3, unread_count: 2, last_read_seq: 1, role: 'owner' as const, starred: true };
    const event = { ...base, last_seq: 3, topic: 'new topic' };
    const merged = mergeConversation(local, event);
    expect(merged).toMatchObject({ topic: 'new topic', unread_count: 2, last_read_seq: 1, role: 'owner', starred: true });
  });
});
