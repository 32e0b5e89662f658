import { Archive, ArrowLeft, Bell, Ellipsis, Hash, Lock, Pin, Settings, Star, Upload, Users } from 'lucide-preact';
import { plural } from '../format';
import { conversationName, conversations, currentId, dialog, joinChannel, navigate, panel, peersOf, pins, setArchived, showToast, toggleStar, typing, userName, users } from '../state/store';
import type { Conversation } from '../types';
import { useEffect, useRef, useState } from 'preact/hooks';
import { addFiles } from '../uploads';
import { api } from '../api';
import { PresenceDot } from './Avatar';
import { CallButtons } from './Calls';
import { Composer } from './Composer';
import { SmartReplies } from './SmartReplies';
import { capabilities, loadAutoTranslate } from '../ai';
import { Timeline } from './Timeline';
import { MenuButton, type MenuItem } from './MenuButton';

const clipName = (s: string) => (s.length > 40 ? `${s.slice(0, 39)}…` : s);

function TypingLine({ id }: { id: string }) {
  const who = Object.keys(typing.value[id] ?? {});
  void users.value;
  const text =
    who.length === 0
      ? ''
      : who.length === 1
        ? `${userName(who[0])} is typing…`
        : who.length === 2
          ? `${userName(who[0])} and ${userName(who[1])} are typing…`
          : 'Several people are typing…';
  return (
    <div class="typing" aria-live="polite">
      {text}
    </div>
  );
}

export function ConversationView({ conv }: { conv: Conversation }) {
  const name = conversationName(conv);
  const peers = conv.type === 'dm' ? peersOf(conv) : [];
  const pinCount = (pins.value[conv.id] ?? []).length;
  const isStarred = !!conv.starred;
  // On a phone the sidebar is hidden: the back button says when news waits elsewhere.
  const otherUnread = Object.values(conversations.value).reduce((n, c) => n + (c.id === conv.id ? 0 : c.unread_count ?? 0), 0);
  const p = panel.value;
  // Files dragged over the conversation: an overlay says where they go; dropped, they join the
  // message being written.
  const [dragging, setDragging] = useState(false);
  const depth = useRef(0);
  const hasFiles = (e: DragEvent) => !!e.dataTransfer?.types.includes('Files');
  const target = conv.type === 'channel' ? `#${name}` : name;
  // Whether the user turned auto-translate on here (their choice, kept on the server).
  const translates = !!capabilities.value?.translate.pairs.length;
  useEffect(() => {
    if (translates) void loadAutoTranslate(conv.id);
  }, [conv.id, translates]);
  return (
    <section
      class="conversation"
      aria-label={`Conversation ${name}`}
      onDragEnter={(e) => {
        if (!hasFiles(e)) return;
        e.preventDefault();
        depth.current++;
        setDragging(true);
      }}
      onDragLeave={(e) => {
        if (!hasFiles(e)) return;
        depth.current = Math.max(0, depth.current - 1);
        if (!depth.current) setDragging(false);
      }}
      onDragOver={(e) => {
        if (!hasFiles(e)) return;
        e.preventDefault();
        e.dataTransfer!.dropEffect = 'copy';
      }}
      onDrop={(e) => {
        depth.current = 0;
        setDragging(false);
        if (e.defaultPrevented || !e.dataTransfer?.files.length) return;
        e.preventDefault();
        const left = addFiles(conv.id, [...e.dataTransfer.files]);
        if (left) showToast(left);
      }}
    >
      {dragging && (
        <div class="drop-zone" aria-hidden="true">
          <div class="drop-card">
            <Upload size={28} aria-hidden="true" />
            <strong>Drop files to share</strong>
            <span>They go with your next message in {clipName(target)}</span>
          </div>
        </div>
      )}
      <header class="conv-head">
        <button type="button" class="icon back" aria-label="Back to conversations" onClick={() => navigate(null)}>
          <ArrowLeft size={18} aria-hidden="true" />
          {otherUnread > 0 && <span class="badge back-badge">{otherUnread > 99 ? '99+' : otherUnread}</span>}
        </button>
        <div class="title">
          <h2>
            {conv.type === 'channel' ? <span class="title-icon" aria-hidden="true">{conv.visibility === 'private' ? <Lock size={16} /> : <Hash size={16} />}</span> : null}
            {name}
            {peers[0] && <PresenceDot userId={peers[0]} />}
          </h2>
          {conv.topic && <p class="topic muted small">{conv.topic}</p>}
          {conv.type === 'dm' && peers[0] && users.value[peers[0]]?.status_text && <p class="topic muted small">{users.value[peers[0]].status_text}</p>}
        </div>
        <div class="head-actions">
          {!conv.archived && <CallButtons conv={conv} />}
          {/* On a phone these go into the "More" menu (styles.css), the calls stay out. */}
          <div class="head-secondary">
          <button
            type="button"
            class="icon"
            aria-label={isStarred ? 'Unstar conversation' : 'Star conversation'}
            title={isStarred ? 'Unstar' : 'Star'}
            aria-pressed={isStarred}
            onClick={() => toggleStar(conv.id)}
          >
            <Star size={18} aria-hidden="true" class={isStarred ? 'is-starred' : ''} />
          </button>
          <button
            type="button"
            class="small head-btn"
            title="Pinned messages"
            aria-pressed={p?.kind === 'pins'}
            onClick={() => (panel.value = p?.kind === 'pins' ? null : { kind: 'pins', conversationId: conv.id })}
          >
            <Pin size={16} aria-hidden="true" />
            <span class="sr-only">Pinned messages ({pinCount})</span>
            {pinCount > 0 && <span aria-hidden="true">{pinCount}</span>}
          </button>
          <button
            type="button"
            class="small head-btn"
            title="Members"
            aria-pressed={p?.kind === 'members'}
            onClick={() => (panel.value = p?.kind === 'members' ? null : { kind: 'members', conversationId: conv.id })}
          >
            <Users size={16} aria-hidden="true" />
            <span class="sr-only">Members ({plural(conv.member_count, 'member')})</span>
            <span aria-hidden="true">{conv.member_count}</span>
          </button>
          <button type="button" class="icon" aria-label="Notification settings for this conversation" title="Notifications" onClick={() => (dialog.value = 'conversation-notifications')}>
            <Bell size={18} aria-hidden="true" />
          </button>
          {conv.type !== 'dm' && (
            <button type="button" class="icon" aria-label="Conversation settings" title="Settings" onClick={() => (dialog.value = 'channel-settings')}>
              <Settings size={18} aria-hidden="true" />
            </button>
          )}
          </div>
          <MenuButton class="head-more" label="More" title="More actions" menuLabel="Conversation actions" icon={<Ellipsis size={18} aria-hidden="true" />} items={moreItems(conv, pinCount)} />
        </div>
      </header>
      <Timeline key={conv.id} conv={conv} />
      <TypingLine id={conv.id} />
      {conv.archived ? (
        <ArchivedBanner conv={conv} />
      ) : (
        <>
        <SmartReplies conversationId={conv.id} />
        <Composer
          key={conv.id}
          conversationId={conv.id}
          label="Message"
          placeholder={clipName(conv.type === 'channel' ? `Message #${conv.name}` : `Message ${name}`)}
          autoFocus
        />
        </>
      )}
    </section>
  );
}

/** The header's actions that a phone shows in the "More" menu. */
function moreItems(conv: Conversation, pinCount: number): MenuItem[] {
  const p = panel.value;
  const toggle = (kind: 'pins' | 'members') => (panel.value = p?.kind === kind ? null : { kind, conversationId: conv.id });
  const items: MenuItem[] = [
    { label: 'Starred', checked: !!conv.starred, icon: <Star size={16} aria-hidden="true" />, onSelect: () => toggleStar(conv.id) },
    { label: `Pinned messages (${pinCount})`, icon: <Pin size={16} aria-hidden="true" />, onSelect: () => toggle('pins') },
    { label: `Members (${conv.member_count})`, icon: <Users size={16} aria-hidden="true" />, onSelect: () => toggle('members') },
    { label: 'Notification settings', icon: <Bell size={16} aria-hidden="true" />, onSelect: () => (dialog.value = 'conversation-notifications') },
  ];
  if (conv.type !== 'dm') items.push({ label: 'Conversation settings', icon: <Settings size={16} aria-hidden="true" />, onSelect: () => (dialog.value = 'channel-settings') });
  return items;
}

/** In place of the composer in an archived conversation; admins can unarchive from here. */
function ArchivedBanner({ conv }: { conv: Conversation }) {
  const [busy, setBusy] = useState(false);
  const canManage = conv.role === 'owner' || conv.role === 'admin';
  const unarchive = async () => {
    setBusy(true);
    try {
      await setArchived(conv.id, false);
    } catch (e) {
      showToast(`Could not unarchive: ${(e as Error).message}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="archived-banner" role="status">
      <Archive size={18} aria-hidden="true" />
      <span>
        <strong>This {conv.type === 'channel' ? 'channel' : 'conversation'} is archived.</strong> You can read it, but not post.
      </span>
      {canManage && (
        <button type="button" class="small" disabled={busy} onClick={() => void unarchive()}>
          Unarchive
        </button>
      )}
    </div>
  );
}

/** The first screen: a welcome, suggested public channels to join, and how to start a DM. */
export function EmptyView() {
  const [suggested, setSuggested] = useState<Conversation[] | null>(null);
  useEffect(() => {
    api<{ channels: Conversation[] }>('/channels?limit=20')
      .then((r) => setSuggested(r.channels.filter((c) => !c.archived).sort((a, b) => b.member_count - a.member_count)))
      .catch(() => setSuggested([]));
  }, []);
  const isNew = Object.keys(conversations.value).length === 0;
  // Filtered here, not when fetched: after a reload the list can arrive before my conversations.
  const shown = (suggested ?? []).filter((c) => !conversations.value[c.id]).slice(0, 5);
  return (
    <section class="conversation empty-state" aria-labelledby="welcome-h">
      <div class="welcome">
        <h2 id="welcome-h">{isNew ? 'Welcome to Parley' : 'Pick a conversation'}</h2>
        <p class="muted">
          Open a conversation on the left, or press <kbd>Ctrl</kbd> + <kbd>K</kbd> to jump to one. Press <kbd>?</kbd> for all shortcuts.
        </p>
        {shown.length > 0 && (
          <section class="suggested" aria-labelledby="suggested-h">
            <h3 id="suggested-h">Channels you could join</h3>
            <ul class="channel-list">
              {shown.map((c) => (
                <li key={c.id}>
                  <div>
                    <strong>#{c.name}</strong> <span class="muted small">{plural(c.member_count, 'member')}</span>
                    {c.topic && <p class="muted small">{c.topic}</p>}
                  </div>
                  <button
                    type="button"
                    class="primary"
                    aria-label={`Join #${c.name}`}
                    onClick={() =>
                      joinChannel(c.id)
                        .then(() => navigate(c.id))
                        .catch((e) => showToast(`Could not join: ${(e as Error).message}`))
                    }
                  >
                    Join
                  </button>
                </li>
              ))}
            </ul>
          </section>
        )}
        <div class="row welcome-actions">
          <button type="button" onClick={() => (dialog.value = 'new-dm')}>
            Start a direct message
          </button>
          <button type="button" onClick={() => (dialog.value = 'browse-channels')}>
            Browse channels
          </button>
          <button type="button" onClick={() => (dialog.value = 'new-channel')}>
            Create a channel
          </button>
        </div>
      </div>
    </section>
  );
}

export function currentIsOpen() {
  return currentId.value !== null;
}
