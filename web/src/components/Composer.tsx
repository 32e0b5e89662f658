// The message box: Enter sends, Shift+Enter adds a line, drafts are kept per conversation
// (and per thread), typing is announced at most every 3 s.
import { useEffect, useRef, useState } from 'preact/hooks';
import { getDraft, me, notifyTyping, sendMessage, setDraft, timelineOf } from '../state/store';
import { editingId } from './MessageItem';
import { scrollToLatest } from './Timeline';

const MAX = 16_000;

export function Composer(props: { conversationId: string; threadRootId?: string; label: string; placeholder: string; autoFocus?: boolean }) {
  const key = props.threadRootId ? `thread.${props.threadRootId}` : props.conversationId;
  const [text, setText] = useState(() => getDraft(key));
  const ref = useRef<HTMLTextAreaElement>(null);

  const resize = () => {
    const el = ref.current;
    if (!el) return;
    el.style.height = 'auto';
    el.style.height = `${Math.min(el.scrollHeight, 200)}px`;
  };
  useEffect(() => {
    resize();
    if (props.autoFocus && matchMedia('(pointer: fine)').matches) ref.current?.focus();
  }, []);

  const submit = () => {
    const t = text.trim();
    if (!t || t.length > MAX) return;
    sendMessage(props.conversationId, t, props.threadRootId ?? null);
    setText('');
    setDraft(key, '');
    if (!props.threadRootId) scrollToLatest.value++;
    requestAnimationFrame(resize);
  };

  const over = text.trim().length > MAX;
  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      <textarea
        ref={ref}
        aria-label={props.label}
        placeholder={props.placeholder}
        rows={1}
        value={text}
        aria-invalid={over}
        onInput={(e) => {
          const v = e.currentTarget.value;
          setText(v);
          setDraft(key, v);
          if (v.trim()) notifyTyping(props.conversationId);
          resize();
        }}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            submit();
          } else if (e.key === 'ArrowUp' && !text && !props.threadRootId) {
            // Up in an empty box edits your last message.
            const mine = timelineOf(props.conversationId)
              .value.messages.filter((m) => m.sender_id === me.value?.id && !m.pending && !m.deleted && !m.thread_root_id)
              .pop();
            if (mine) {
              e.preventDefault();
              editingId.value = mine.id;
            }
          }
        }}
      />
      <button type="submit" class="primary send" aria-label="Send" disabled={!text.trim() || over}>
        Send
      </button>
      {over && (
        <p class="error small" role="alert">
          At most {MAX.toLocaleString()} characters ({text.trim().length.toLocaleString()} now).
        </p>
      )}
    </form>
  );
}
