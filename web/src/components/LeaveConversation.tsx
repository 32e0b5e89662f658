// "Leave channel / group" with its confirmation: one component for the members panel and the
// channel settings dialog.
import { useState } from 'preact/hooks';
import { conversationName, leaveConversation, showToast } from '../state/store';
import type { Conversation } from '../types';

export function LeaveConversation({ conv, onLeave }: { conv: Conversation; onLeave?: () => void }) {
  const [confirm, setConfirm] = useState(false);
  const what = conv.type === 'channel' ? 'channel' : 'group';
  const title = conv.type === 'channel' ? `#${conv.name}` : conversationName(conv);
  if (!confirm)
    return (
      <button type="button" class="danger" onClick={() => setConfirm(true)}>
        Leave {what}
      </button>
    );
  return (
    <div class="confirm-leave" role="alertdialog" aria-label={`Leave ${title}?`}>
      <p>
        Leave <strong>{title}</strong>?{' '}
        {conv.visibility === 'private' || conv.type === 'group' ? 'You will need to be added again to come back.' : 'You can join again from Browse channels.'}
      </p>
      <div class="row">
        <button
          type="button"
          class="danger"
          onClick={() => {
            onLeave?.();
            leaveConversation(conv.id).catch((e) => showToast(`Could not leave: ${(e as Error).message}`));
          }}
        >
          Leave
        </button>
        <button type="button" onClick={() => setConfirm(false)}>
          Cancel
        </button>
      </div>
    </div>
  );
}
