// One message: author, time, text (markdown subset), reactions, thread link and actions.
import { signal } from '@preact/signals';
import { memo } from 'preact/compat';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import {
  conversations,
  deleteMessage,
  discardSend,
  editMessage,
  isPinned,
  savedIds,
  toggleSaved,
  markUnreadFrom,
  copyPermalink,
  openEmojiPicker,
  me,
  openThread,
  retrySend,
  setPinned,
  showToast,
  toggleReaction,
  userName,
} from '../state/store';
import type { ClientMessage } from '../types';
import { autoTranslate, autoTranslateMessage, capabilities, languageName, showOriginal, translateMessage, translations } from '../ai';
import { Bookmark, BookmarkCheck, EyeOff, Languages, Link, MessageSquareReply, Pencil, Pin, PinOff, Plus, SmilePlus, Trash2 } from 'lucide-preact';
import { formatClock, formatFull, formatTime, plural } from '../format';
import { Attachments, attachmentSummary, Previews } from './Attachments';
import { Avatar } from './Avatar';
import { Markdown } from './Markdown';
import { ProfileTrigger } from './Profile';

export const QUICK_EMOJI = ['👍', '❤️', '😂', '🎉', '😮', '👀'];

/** The message being edited (one at a time, anywhere). */
export const editingId = signal<string | null>(null);

/** Ends an edit and puts focus back on the message, so keyboard users stay where they were. */
export function endEdit(id: string) {
  editingId.value = null;
  requestAnimationFrame(() => document.querySelector<HTMLElement>(`li[data-mid="${CSS.escape(id)}"]`)?.focus({ preventScroll: true }));
}

export { formatTime };

function EditBox({ m }: { m: ClientMessage }) {
  const [text, setText] = useState(m.text);
  const [busy, setBusy] = useState(false);
  const ref = useRef<HTMLTextAreaElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (el) {
      el.focus();
      el.setSelectionRange(el.value.length, el.value.length);
    }
  }, []);
  const save = async () => {
    const t = text.trim();
    if (!t || t === m.text) {
      endEdit(m.id);
      return;
    }
    setBusy(true);
    try {
      await editMessage(m, t);
      endEdit(m.id);
    } catch (e) {
      showToast(`Could not edit: ${(e as Error).message}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form
      class="edit"
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
    >
      <textarea
        aria-label="Edit message"
        value={text}
        rows={Math.min(8, text.split('\n').length + 1)}
        ref={ref}
        onInput={(e) => setText(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            void save();
          } else if (e.key === 'Escape') {
            e.stopPropagation();
            endEdit(m.id);
          }
        }}
      />
      <div class="row">
        <button type="submit" class="primary small" disabled={busy}>
          Save
        </button>
        <button type="button" class="small" onClick={() => endEdit(m.id)}>
          Cancel
        </button>
        <span class="muted small">Enter to save, Escape to cancel</span>
      </div>
    </form>
  );
}

function Reactions({ m }: { m: ClientMessage }) {
  if (!m.reactions.length) return null;
  return (
    <div class="reactions" role="group" aria-label="Reactions">
      {m.reactions.map((r) => (
        <button
          key={r.emoji}
          type="button"
          class={`reaction ${r.me ? 'is-mine' : ''}`}
          aria-pressed={r.me}
          aria-label={`${r.emoji} ${r.count}${r.me ? ', remove your reaction' : ', react with ' + r.emoji}`}
          onClick={() => void toggleReaction(m, r.emoji)}
        >
          <span aria-hidden="true">{r.emoji}</span> <span class="count">{r.count}</span>
        </button>
      ))}
    </div>
  );
}

/** A message's translation under its text: who translated it, and a way back to the original. */
function TranslationBlock({ m }: { m: ClientMessage }) {
  const t = translations.value[m.id];
  if (!t || !t.shown) return null;
  if (t.status === 'loading') return <p class="translation muted small" aria-live="polite">Translating…</p>;
  if (t.status === 'error')
    return (
      <p class="translation is-error small" role="status">
        Not translated: {t.error}{' '}
        <button type="button" class="link small" onClick={() => showOriginal(m.id)}>
          Dismiss
        </button>
      </p>
    );
  const r = t.result!;
  return (
    <div class="translation" lang={r.to} aria-label={`Translation from ${languageName(r.from)}`}>
      <div class="text">
        <Markdown text={r.text} />
      </div>
      <p class="muted small">
        {r.engine === 'none' ? `Already in ${languageName(r.to)}` : `Translated from ${languageName(r.from)} to ${languageName(r.to)}`} ·{' '}
        <button type="button" class="link small" onClick={() => showOriginal(m.id)}>
          Hide translation
        </button>
      </p>
    </div>
  );
}

interface Props {
  m: ClientMessage;
  showHeader: boolean;
  inThread?: boolean;
  highlighted?: boolean;
  /** The message that is the list's one tab stop (roving tabindex). */
  tabStop?: boolean;
}

/** The reaction picker of one message: closes on Escape (focus back to its button) and on a
 * click or tap anywhere outside it. */
function ReactionPicker({ m, onClose }: { m: ClientMessage; onClose: (refocus: boolean) => void }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    ref.current?.querySelector<HTMLElement>('button')?.focus();
    const onDown = (e: PointerEvent) => {
      const t = e.target as Node;
      if (ref.current?.contains(t) || ref.current?.parentElement?.querySelector('[data-picker-toggle]')?.contains(t)) return;
      onClose(false);
    };
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        e.stopPropagation();
        onClose(true);
      }
    };
    document.addEventListener('pointerdown', onDown, true);
    document.addEventListener('keydown', onKey, true);
    return () => {
      document.removeEventListener('pointerdown', onDown, true);
      document.removeEventListener('keydown', onKey, true);
    };
  }, []);
  return (
    <div class="picker" role="group" aria-label="Pick a reaction" ref={ref}>
      {QUICK_EMOJI.map((e) => (
        <button
          key={e}
          type="button"
          class="icon"
          aria-label={`React with ${e}`}
          onClick={() => {
            onClose(true);
            void toggleReaction(m, e);
          }}
        >
          {e}
        </button>
      ))}
      <button type="button" class="icon" aria-label="More emoji" title="More emoji" onClick={() => {
        onClose(false);
        openEmojiPicker({ kind: 'reaction', message: m });
      }}>
        <Plus size={16} aria-hidden="true" />
      </button>
    </div>
  );
}

export const MessageItem = memo(function MessageItem({ m, showHeader, inThread, highlighted, tabStop }: Props) {
  const [picker, setPicker] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const toggleRef = useRef<HTMLButtonElement>(null);
  const mine = m.sender_id === me.value?.id;
  const conv = conversations.value[m.conversation_id];
  const canDelete = mine || conv?.role === 'owner' || conv?.role === 'admin';
  // An archived conversation is read-only: no reacting, pinning or editing.
  const archived = !!conv?.archived;
  const editing = editingId.value === m.id;
  const name = userName(m.sender_id);
  const pinned = !m.pending && isPinned(m);
  const isSaved = savedIds.value.has(m.id);
  const time = formatTime(m.created_at);
  // The actions toolbar is built when the message is first hovered or focused (most never
  // are): far fewer nodes per message while scrolling through thousands.
  const [armed, setArmed] = useState(false);
  // In the roving list only the active message's controls are tab stops (a thread: all).
  const ti = tabStop === false ? -1 : 0;
  const liRef = useRef<HTMLLIElement>(null);
  // The toolbar appears after the list last set its tab stops: when this message is the
  // list's stop (or holds the focus), its new buttons are tab stops too.
  useLayoutEffect(() => {
    const li = liRef.current;
    if (!armed || tabStop === undefined || !li) return;
    const on = li.tabIndex === 0 || li.contains(document.activeElement);
    for (const b of li.querySelectorAll<HTMLElement>('.actions button')) b.tabIndex = on ? 0 : -1;
  }, [armed]);
  const arm = () => {
    if (!armed) setArmed(true);
  };
  const canTranslate = !!capabilities.value?.translate.pairs.length && !m.deleted && !m.pending && !!m.text;
  const auto = !!autoTranslate.value[m.conversation_id];
  useEffect(() => {
    if (auto && canTranslate && !mine) autoTranslateMessage(m);
  }, [auto, canTranslate, mine, m.id]);
  const files = m.deleted ? '' : attachmentSummary(m);
  const said = m.deleted ? 'This message was deleted.' : m.text.length > 300 ? `${m.text.slice(0, 300)}…` : m.text;
  const plain = files ? (said ? `${said} (${files})` : files) : said;

  const cls = ['msg', showHeader ? 'is-first' : 'is-cont', m.pending ? `is-pending is-${m.pending}` : '', highlighted ? 'is-highlight' : '', m.deleted ? 'is-deleted' : '', pinned ? 'is-pinned' : '']
    .filter(Boolean)
    .join(' ');

  return (
    <li
      ref={liRef}
      class={cls}
      data-mid={m.id}
      data-seq={m.seq}
      tabIndex={tabStop ? 0 : -1}
      aria-label={`${name}, ${time}${pinned ? ', pinned' : ''}: ${plain}`}
      onPointerEnter={arm}
      onFocusIn={arm}
      onTouchStart={arm}
    >
      <div class="gutter">
        {showHeader ? (
          <ProfileTrigger userId={m.sender_id}>
            <Avatar userId={m.sender_id} />
          </ProfileTrigger>
        ) : (
          <time class="hover-time" dateTime={new Date(m.created_at).toISOString()}>
            {formatClock(m.created_at)}
          </time>
        )}
      </div>
      <div class="body">
        {showHeader && (
          <div class="meta">
            <ProfileTrigger userId={m.sender_id}>
              <strong class="author">{name}</strong>
            </ProfileTrigger>
            <time dateTime={new Date(m.created_at).toISOString()} title={formatFull(m.created_at)}>
              {time}
            </time>
            {pinned && (
              <span class="pin-mark" title="Pinned">
                <Pin size={12} aria-hidden="true" /> pinned
              </span>
            )}
          </div>
        )}
        {!showHeader && pinned && (
          <span class="pin-mark is-inline" title="Pinned">
            <Pin size={12} aria-hidden="true" /> pinned
          </span>
        )}
        {m.deleted ? (
          <p class="tombstone">This message was deleted.</p>
        ) : editing ? (
          <EditBox m={m} />
        ) : m.text || !m.attachments?.length ? (
          <div class="text">
            <Markdown text={m.text} />
            {m.edited_at && <span class="edited muted small"> (edited)</span>}
          </div>
        ) : null}
        {!editing && !m.deleted && <TranslationBlock m={m} />}
        {!editing && <Previews m={m} />}
        <Attachments m={m} />
        {m.pending === 'sending' && <span class="muted small status">Sending…</span>}
        {m.pending === 'failed' && (
          <div class="send-failed" role="alert">
            <span>Not sent.</span>
            <button type="button" class="small" onClick={() => retrySend(m)}>
              Retry
            </button>
            <button type="button" class="small" onClick={() => discardSend(m)}>
              Discard
            </button>
          </div>
        )}
        {!m.deleted && <Reactions m={m} />}
        {!inThread && m.reply_count > 0 && (
          <button type="button" class="link thread-link" onClick={() => openThread(m.conversation_id, m.id)}>
            {plural(m.reply_count, 'reply', 'replies')}
          </button>
        )}
        {confirmDelete && (
          <div class="confirm" role="alertdialog" aria-label="Delete this message?">
            <span>Delete this message?</span>
            <button
              type="button"
              class="danger small"
              onClick={() => {
                setConfirmDelete(false);
                deleteMessage(m).catch((e) => showToast(`Could not delete: ${(e as Error).message}`));
              }}
            >
              Delete
            </button>
            <button type="button" class="small" onClick={() => setConfirmDelete(false)}>
              Cancel
            </button>
          </div>
        )}
      </div>
      {(armed || picker) && !m.pending && !m.deleted && !editing && (
        <div class="actions" role="toolbar" aria-label="Message actions">
          {!archived && (
          <button
            type="button"
            tabIndex={ti}
            class="icon"
            aria-label="Add reaction"
            title="Add reaction"
            aria-expanded={picker}
            data-picker-toggle
            ref={toggleRef}
            onClick={() => setPicker(!picker)}
          >
            <SmilePlus size={16} aria-hidden="true" />
          </button>
          )}
          {!inThread && (
            <button type="button" tabIndex={ti} class="icon" aria-label="Reply in thread" title="Reply in thread" onClick={() => openThread(m.conversation_id, m.id)}>
              <MessageSquareReply size={16} aria-hidden="true" />
            </button>
          )}
          {!inThread && !archived && (
            <button
              type="button"
              tabIndex={ti}
              class="icon"
              aria-label={pinned ? 'Unpin message' : 'Pin message'}
              title={pinned ? 'Unpin' : 'Pin'}
              onClick={() => setPinned(m, !pinned).catch((e) => showToast(`Could not pin: ${(e as Error).message}`))}
            >
              {pinned ? <PinOff size={16} aria-hidden="true" /> : <Pin size={16} aria-hidden="true" />}
            </button>
          )}
          {canTranslate && (
            <button type="button" tabIndex={ti} class="icon" aria-label="Translate message" title="Translate" onClick={() => void translateMessage(m)}>
              <Languages size={16} aria-hidden="true" />
            </button>
          )}
          <button type="button" tabIndex={ti} class="icon" aria-label="Copy link to message" title="Copy link" onClick={() => void copyPermalink(m)}>
            <Link size={16} aria-hidden="true" />
          </button>
          <button
            type="button"
            tabIndex={ti}
            class="icon"
            aria-label={isSaved ? 'Remove from saved' : 'Save message'}
            title={isSaved ? 'Remove from saved' : 'Save for later'}
            onClick={() => void toggleSaved(m)}
          >
            {isSaved ? <BookmarkCheck size={16} aria-hidden="true" /> : <Bookmark size={16} aria-hidden="true" />}
          </button>
          {!mine && !inThread && (
            <button type="button" tabIndex={ti} class="icon" aria-label="Mark unread" title="Mark unread from here" onClick={() => void markUnreadFrom(m)}>
              <EyeOff size={16} aria-hidden="true" />
            </button>
          )}
          {mine && !archived && (
            <button type="button" tabIndex={ti} class="icon" aria-label="Edit message" title="Edit" onClick={() => (editingId.value = m.id)}>
              <Pencil size={16} aria-hidden="true" />
            </button>
          )}
          {canDelete && (
            <button type="button" tabIndex={ti} class="icon" aria-label="Delete message" title="Delete" onClick={() => setConfirmDelete(true)}>
              <Trash2 size={16} aria-hidden="true" />
            </button>
          )}
          {picker && (
            <ReactionPicker
              m={m}
              onClose={(refocus) => {
                setPicker(false);
                if (refocus) toggleRef.current?.focus();
              }}
            />
          )}
        </div>
      )}
    </li>
  );
});
