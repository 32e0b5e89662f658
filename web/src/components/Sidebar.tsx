// The sidebar: the brand (the page's one <h1>), one "New…" menu, search and the quick
// switcher, then collapsible sections (channels, direct messages) with unread and mention
// counts, and the signed-in person at the bottom.
import { signal } from '@preact/signals';
import { useEffect, useRef, useState } from 'preact/hooks';
import { capabilities } from '../ai';
import { Bookmark, Bot, ChevronDown, ChevronRight, Compass, Hash, Lock, MessageSquarePlus, Plus, Search, ShieldCheck, SquarePen, TextSearch } from 'lucide-preact';
import {
  conversationName,
  currentId,
  dialog,
  getDraft,
  me,
  myPresence,
  navigate,
  panel,
  peersOf,
  presence,
  showToast,
  sortedConversations,
  startConversation,
  wsStatus,
} from '../state/store';
import type { Conversation } from '../types';
import { mentionBadge } from '../state/timeline';
import { Avatar, PRESENCE_LABEL, PresenceDot } from './Avatar';
import { switcherOpen } from './QuickSwitcher';

function badge(n: number) {
  return n > 9999 ? '9999+' : String(n);
}

function loadCollapsed(): Record<string, boolean> {
  try {
    return JSON.parse(localStorage.getItem('parley.sections') ?? '{}') as Record<string, boolean>;
  } catch {
    return {};
  }
}

const collapsed = signal<Record<string, boolean>>(loadCollapsed());

function toggleSection(key: string, was: boolean) {
  collapsed.value = { ...collapsed.value, [key]: !was };
  try {
    localStorage.setItem('parley.sections', JSON.stringify(collapsed.value));
  } catch {
    /* ignore */
  }
}

function Item({ c }: { c: Conversation }) {
  const name = conversationName(c);
  const unread = c.unread_count ?? 0;
  const active = currentId.value === c.id;
  const peers = c.type === 'channel' ? [] : peersOf(c);
  const draft = !active && getDraft(c.id) !== '';
  const mentioned = mentionBadge(c);
  return (
    <li>
      <a
        href={`/c/${encodeURIComponent(c.id)}`}
        class={`conv ${active ? 'is-active' : ''} ${unread ? 'is-unread' : ''} ${c.archived ? 'is-archived' : ''}`}
        aria-current={active ? 'page' : undefined}
        data-conversation-id={c.id}
        onClick={(e) => {
          if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return; // new tab or window
          e.preventDefault();
          navigate(c.id);
        }}
      >
        <span class="conv-icon" aria-hidden="true">
          {c.type === 'channel' ? (
            c.visibility === 'private' ? (
              <Lock size={16} />
            ) : (
              <Hash size={16} />
            )
          ) : (
            <Avatar userId={peers.length === 1 ? peers[0] : c.id} name={peers.length === 1 ? undefined : name} size={24} />
          )}
          {c.type === 'dm' && peers[0] && <PresenceDot userId={peers[0]} />}
        </span>
        <span class="conv-name">
          {c.type === 'channel' && <span class="sr-only">Channel </span>}
          {name}
          {c.type === 'dm' && peers[0] && <span class="sr-only"> ({PRESENCE_LABEL[presence.value[peers[0]] ?? 'offline']})</span>}
          {draft && <span class="sr-only">, draft</span>}
          {c.archived && <span class="sr-only">, archived</span>}
        </span>
        {draft && !unread && (
          <span class="draft-mark" aria-hidden="true" title="Draft">
            <SquarePen size={14} />
          </span>
        )}
        {unread > 0 && (
          <span class="sr-only">
            , {badge(unread)} unread{mentioned > 0 && c.type !== 'dm' ? `, ${mentioned} mentioning you` : ''}
          </span>
        )}
        {unread > 0 && (
          <span class={`badge ${mentioned > 0 ? 'is-mention' : ''}`} aria-hidden="true">
            {mentioned > 0 && c.type !== 'dm' ? `@${badge(mentioned)}` : badge(unread)}
          </span>
        )}
      </a>
    </li>
  );
}

function Section({ id, title, list, empty, foldedByDefault = false }: { id: string; title: string; list: Conversation[]; empty: string; foldedByDefault?: boolean }) {
  const isCollapsed = collapsed.value[id] ?? foldedByDefault;
  const unread = list.reduce((n, c) => n + (c.unread_count ?? 0), 0);
  // A collapsed section still shows the open conversation and the ones with news.
  const shown = isCollapsed ? list.filter((c) => (c.unread_count ?? 0) > 0 || c.id === currentId.value) : list;
  return (
    <section class="side-section" aria-labelledby={`sec-${id}`}>
      <h2 class="section-head" id={`sec-${id}`}>
        <button type="button" class="section-toggle" aria-expanded={!isCollapsed} onClick={() => toggleSection(id, isCollapsed)}>
          {isCollapsed ? <ChevronRight size={14} aria-hidden="true" /> : <ChevronDown size={14} aria-hidden="true" />}
          <span>{title}</span>
          {isCollapsed && unread > 0 && <span class="section-count">{badge(unread)}</span>}
        </button>
      </h2>
      {list.length === 0 && !isCollapsed ? (
        <p class="muted small section-empty">{empty}</p>
      ) : (
        <ul class="conv-list">
          {shown.map((c) => (
            <Item key={c.id} c={c} />
          ))}
        </ul>
      )}
    </section>
  );
}

const newMenuOpen = signal(false);

function NewMenu() {
  const ref = useRef<HTMLDivElement>(null);
  const open = newMenuOpen.value;
  useEffect(() => {
    if (!open) return;
    ref.current?.querySelector<HTMLElement>('[role="menuitem"]')?.focus();
    const onDown = (e: PointerEvent) => {
      if (!ref.current?.contains(e.target as Node)) newMenuOpen.value = false;
    };
    document.addEventListener('pointerdown', onDown, true);
    return () => document.removeEventListener('pointerdown', onDown, true);
  }, [open]);
  const pick = (d: 'new-dm' | 'new-channel' | 'browse-channels') => {
    newMenuOpen.value = false;
    dialog.value = d;
  };
  const onKey = (e: KeyboardEvent) => {
    const items = [...(ref.current?.querySelectorAll<HTMLElement>('[role="menuitem"]') ?? [])];
    const i = items.indexOf(document.activeElement as HTMLElement);
    if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      newMenuOpen.value = false;
      ref.current?.querySelector<HTMLElement>('.new-toggle')?.focus();
    } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      items[(i + (e.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length]?.focus();
    }
  };
  return (
    <div class="new-menu" ref={ref} onKeyDown={onKey}>
      <button
        type="button"
        class="icon new-toggle"
        aria-label="New…"
        title="New message, channel…"
        aria-haspopup="menu"
        aria-expanded={open}
        onClick={() => (newMenuOpen.value = !open)}
      >
        <Plus size={18} aria-hidden="true" />
      </button>
      {open && (
        <div class="menu" role="menu" aria-label="New">
          <button type="button" role="menuitem" tabIndex={-1} onClick={() => pick('new-dm')}>
            <MessageSquarePlus size={16} aria-hidden="true" /> New message
          </button>
          <button type="button" role="menuitem" tabIndex={-1} onClick={() => pick('new-channel')}>
            <Hash size={16} aria-hidden="true" /> New channel
          </button>
          <button type="button" role="menuitem" tabIndex={-1} onClick={() => pick('browse-channels')}>
            <Compass size={16} aria-hidden="true" /> Browse channels
          </button>
        </div>
      )}
    </div>
  );
}

export function Sidebar() {
  const list = sortedConversations.value;
  const u = me.value!;
  // Archived conversations go to their own section (folded unless opened); starred ones first.
  const live = list.filter((c) => !c.archived);
  const archived = list.filter((c) => c.archived);
  const starredList = live.filter((c) => c.starred);
  const channels = live.filter((c) => c.type === 'channel' && !c.starred);
  const direct = live.filter((c) => c.type !== 'channel' && !c.starred);
  const mac = typeof navigator !== 'undefined' && /Mac|iPhone|iPad/.test(navigator.platform);
  return (
    <nav class="sidebar" aria-label="Conversations">
      <header class="side-head">
        <h1 class="brand-name">Parley</h1>
        <span class={`conn is-${wsStatus.value}`} role="status" aria-label={`Connection: ${wsStatus.value}`} title={`Connection: ${wsStatus.value}`} />
        <NewMenu />
      </header>
      <div class="side-tools">
        <button type="button" class="side-search" onClick={() => (switcherOpen.value = true)} aria-keyshortcuts="Control+K Meta+K">
          <Search size={16} aria-hidden="true" />
          <span>Jump to…</span>
          <kbd>{mac ? '⌘K' : 'Ctrl+K'}</kbd>
        </button>
        <button type="button" class="icon" onClick={() => (panel.value = { kind: 'search' })} aria-label="Search messages" title="Search messages">
          <TextSearch size={18} aria-hidden="true" />
        </button>
        <button
          type="button"
          class="icon"
          onClick={() => (panel.value = panel.value?.kind === 'saved' ? null : { kind: 'saved' })}
          aria-label="Saved messages"
          title="Saved messages"
          aria-pressed={panel.value?.kind === 'saved'}
        >
          <Bookmark size={18} aria-hidden="true" />
        </button>
      </div>
      <div class="side-scroll">
        {list.length === 0 && (
          <div class="welcome-side muted small">
            <p>No conversations yet.</p>
            <p>Browse the public channels, or start a direct message with “New message”.</p>
          </div>
        )}
        {starredList.length > 0 && <Section id="starred" title="Starred" list={starredList} empty="" />}
        <Section id="channels" title="Channels" list={channels} empty="No channels yet." />
        <Section id="direct" title="Direct messages" list={direct} empty="No direct messages yet." />
        <AssistantEntry list={live} />
        {archived.length > 0 && <Section id="archived" title="Archived" list={archived} empty="" foldedByDefault />}
      </div>
      <footer class="side-foot">
        {u.role === 'admin' && (
          <button type="button" class="icon" aria-label="Admin console" title="Admin console" onClick={() => (dialog.value = 'admin')}>
            <ShieldCheck size={18} aria-hidden="true" />
          </button>
        )}
        <button type="button" class="me" onClick={() => (dialog.value = 'settings')}>
          <span class="sr-only">Profile and settings: </span>
          <span class="conv-icon">
            <Avatar userId={u.id} />
            <PresenceDot userId={u.id} />
          </span>
          <span class="me-name">
            <strong>{u.display_name}</strong>
            <span class="muted small">{myPresence.value === 'invisible' ? 'invisible' : u.status_text || `@${u.username}`}</span>
          </span>
        </button>
      </footer>
    </nav>
  );
}

/** The assistant bot in the DM list until a conversation with it exists (then it is an
 * ordinary DM there): one click opens it. */
function AssistantEntry({ list }: { list: Conversation[] }) {
  const botId = capabilities.value?.assistant.user_id;
  const [busy, setBusy] = useState(false);
  if (!botId) return null;
  const existing = list.find((c) => c.type === 'dm' && peersOf(c).includes(botId));
  if (existing) return null;
  const open = async () => {
    setBusy(true);
    try {
      const c = await startConversation([botId]);
      navigate(c.id);
    } catch (e) {
      showToast(`Could not open the assistant: ${(e as Error).message}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <ul class="conv-list assistant-entry">
      <li>
        <button type="button" class="conv assistant-open" disabled={busy} onClick={() => void open()} aria-label="Open the assistant">
          <span class="conv-icon">
            <Bot size={16} aria-hidden="true" />
          </span>
          <span class="conv-name">Assistant</span>
        </button>
      </li>
    </ul>
  );
}
