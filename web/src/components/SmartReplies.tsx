// Smart-reply chips above the composer: up to three suggestions for the latest message from
// someone else in the open conversation (GET /conversations/{id}/smart-replies). A click sends
// the suggestion as a message.
import { useEffect } from 'preact/hooks';
import { capabilities, clearSmartReplies, loadSmartReplies, smartReplies } from '../ai';
import { me, sendMessage, timelineOf } from '../state/store';

export function SmartReplies({ conversationId }: { conversationId: string }) {
  const msgs = timelineOf(conversationId).value.messages;
  const myId = me.value?.id;
  // The latest message; suggestions only when it is someone else's (and not pending).
  const last = msgs.length ? msgs[msgs.length - 1] : null;
  // The assistant's own answers need no reply suggestions.
  const bot = capabilities.value?.assistant.user_id;
  const forId = last && !last.pending && !last.deleted && last.sender_id !== myId && last.sender_id !== bot && last.text ? last.id : null;
  const enabled = !!capabilities.value?.smart_replies;
  useEffect(() => {
    if (enabled && forId) void loadSmartReplies(conversationId, forId);
  }, [enabled, conversationId, forId]);
  const s = smartReplies.value[conversationId];
  if (!enabled || !forId || s?.forId !== forId || !s.replies.length) return null;
  return (
    <div class="smart-replies" role="group" aria-label="Suggested replies">
      {s.replies.map((r) => (
        <button
          key={r}
          type="button"
          class="chip"
          aria-label={`Quick reply: ${r}`}
          onClick={() => {
            clearSmartReplies(conversationId);
            sendMessage(conversationId, r);
          }}
        >
          {r}
        </button>
      ))}
    </div>
  );
}
