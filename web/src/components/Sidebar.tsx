// Conversations most recent first, with unread badges and presence dots.
import {
  conversationName,
  currentId,
  dialog,
  me,
  myPresence,
  navigate,
  panel,
  peersOf,
  presence,
  sortedConversations,
  wsStatus,
} from '../state/store';
import type { Conversation } from '../types';
import { Avatar, PRESENCE_LABEL, PresenceDot } from './Avatar';

function badge(n: number) {
  return n > 9999 ? '9999+' : String(n);
}

function Item({ c }: { c: Conversation }) {
  const name = conversationName(c);
  const unread = c.unread_count ?? 0;
  const active = currentId.value === c.id;
  const peers = c.type === 'channel' ? [] : peersOf(c);
  return (
    <li>
      <a
        href={`/c/${encodeURIComponent(c.id)}`}
        class={`conv ${active ? 'is-active' : ''} ${unread ? 'is-unread' : ''}`}
        aria-current={active ? 'page' : undefined}
        aria-label={`${c.type === 'channel' ? 'Channel ' : ''}${name}${c.type === 'dm' && peers[0] ? ` (${PRESENCE_LABEL[presence.value[peers[0]] ?? 'offline']})` : ''}${unread ? `, ${badge(unread)} unread` : ''}`}
        data-conversation-id={c.id}
        onClick={(e) => {
          e.preventDefault();
          navigate(c.id);
        }}
      >
        <span class="conv-icon" aria-hidden="true">
          {c.type === 'channel' ? (c.visibility === 'private' ? '🔒' : '#') : <Avatar userId={peers.length === 1 ? peers[0] : c.id} name={peers.length === 1 ? undefined : name} size={24} />}
          {c.type === 'dm' && peers[0] && <PresenceDot userId={peers[0]} />}
        </span>
        <span class="conv-name">{name}</span>
        {unread > 0 && (
          <span class="badge" aria-hidden="true">
            {badge(unread)}
          </span>
        )}
      </a>
    </li>
  );
}

export function Sidebar() {
  const list = sortedConversations.value;
  const u = me.value!;
  return (
    <nav class="sidebar" aria-label="Conversations">
      <header class="side-head">
        <button type="button" class="me" aria-label="Profile and settings" onClick={() => (dialog.value = 'settings')}>
          <span class="conv-icon">
            <Avatar userId={u.id} />
            <PresenceDot userId={u.id} />
          </span>
          <span class="me-name">
            <strong>{u.display_name}</strong>
            <span class="muted small">{myPresence.value === 'invisible' ? 'invisible' : u.status_text || `@${u.username}`}</span>
          </span>
        </button>
        <span class={`conn is-${wsStatus.value}`} role="status" aria-label={`Connection: ${wsStatus.value}`} title={`Connection: ${wsStatus.value}`} />
      </header>
      <div class="side-actions">
        <button type="button" onClick={() => (dialog.value = 'new-dm')} aria-label="New message" title="Start a DM or group">
          ✎ New message
        </button>
        <button type="button" onClick={() => (dialog.value = 'new-channel')} aria-label="New channel" title="Create a channel">
          + Channel
        </button>
        <button type="button" onClick={() => (dialog.value = 'browse-channels')} aria-label="Browse channels" title="Browse public channels">
          # Browse
        </button>
        <button type="button" onClick={() => (panel.value = { kind: 'search' })} aria-label="Search messages" title="Search (Ctrl+K)">
          ⌕ Search
        </button>
      </div>
      {list.length === 0 ? (
        <p class="empty muted">No conversations yet. Start a DM or create a channel.</p>
      ) : (
        <ul class="conv-list">
          {list.map((c) => (
            <Item key={c.id} c={c} />
          ))}
        </ul>
      )}
    </nav>
  );
}
