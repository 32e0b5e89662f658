// Ctrl/⌘+K: a keyboard-only switcher over conversations and people. Type to filter (fuzzy:
// the letters in order, word starts and runs score higher), ↑/↓ to choose, Enter to open;
// a person without a DM yet gets one.
import { signal } from '@preact/signals';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { Hash, Lock } from 'lucide-preact';
import { api, enc } from '../api';
import { fuzzyScore } from '../format';
import { conversationName, conversations, me, navigate, peersOf, rememberUsers, showToast, sortedConversations, startConversation } from '../state/store';
import type { Conversation, User } from '../types';
import { Avatar } from './Avatar';
import { Modal } from './Dialog';

export const switcherOpen = signal(false);

type Row = { kind: 'conv'; c: Conversation; name: string; score: number } | { kind: 'user'; u: User; name: string; score: number };

export function QuickSwitcher() {
  const [q, setQ] = useState('');
  const [sel, setSel] = useState(0);
  const [people, setPeople] = useState<User[]>([]);
  const listRef = useRef<HTMLUListElement>(null);
  const close = () => (switcherOpen.value = false);

  // The directory answers prefixes; fuzzy matching needs names to match against: the first
  // page of the directory once, plus the prefix matches of what is typed.
  const [everyone, setEveryone] = useState<User[]>([]);
  useEffect(() => {
    api<{ users: User[] }>('/users?limit=200')
      .then((r) => {
        rememberUsers(r.users);
        setEveryone(r.users);
      })
      .catch(() => {});
  }, []);
  useEffect(() => {
    if (!q.trim()) return setPeople([]);
    const t = setTimeout(() => {
      api<{ users: User[] }>(`/users?limit=20&q=${enc(q.trim().replace(/^@/, ''))}`)
        .then((r) => {
          rememberUsers(r.users);
          setPeople(r.users);
        })
        .catch(() => setPeople([]));
    }, 120);
    return () => clearTimeout(t);
  }, [q]);

  const rows = useMemo<Row[]>(() => {
    const query = q.trim();
    const convs: Row[] = [];
    for (const c of sortedConversations.value) {
      const name = conversationName(c);
      const score = query ? fuzzyScore(query, name) : 1;
      if (score > 0) convs.push({ kind: 'conv', c, name, score: score + ((c.unread_count ?? 0) > 0 ? 0.5 : 0) });
    }
    // People who already have a DM with me are reached through it.
    const dmPeers = new Set(
      Object.values(conversations.value)
        .filter((c) => c.type === 'dm')
        .flatMap((c) => peersOf(c)),
    );
    const users: Row[] = [];
    const pool = new Map<string, User>();
    for (const u of [...everyone, ...people]) pool.set(u.id, u);
    for (const u of pool.values()) {
      if (u.id === me.value?.id || dmPeers.has(u.id)) continue;
      const name = u.display_name || u.username;
      const score = query ? Math.max(fuzzyScore(query, name), fuzzyScore(query, u.username)) : 0.5;
      if (score > 0) users.push({ kind: 'user', u, name, score });
    }
    const all = [...convs, ...users];
    if (query) all.sort((a, b) => b.score - a.score);
    return all.slice(0, 30);
  }, [q, people, everyone, sortedConversations.value]);

  useEffect(() => setSel(0), [q]);
  useEffect(() => {
    listRef.current?.querySelector<HTMLElement>(`[data-index="${sel}"]`)?.scrollIntoView({ block: 'nearest' });
  }, [sel]);

  const open = async (r: Row | undefined) => {
    if (!r) return;
    close();
    if (r.kind === 'conv') return navigate(r.c.id);
    try {
      const c = await startConversation([r.u.id]);
      navigate(c.id);
    } catch (e) {
      showToast(`Could not open the conversation: ${(e as Error).message}`);
    }
  };

  const onKey = (e: KeyboardEvent) => {
    if (e.key === 'ArrowDown') {
      e.preventDefault();
      setSel((s) => Math.min(rows.length - 1, s + 1));
    } else if (e.key === 'ArrowUp') {
      e.preventDefault();
      setSel((s) => Math.max(0, s - 1));
    } else if (e.key === 'Enter' && !e.isComposing) {
      e.preventDefault();
      void open(rows[sel]);
    }
  };

  const activeId = rows[sel] ? `qs-${sel}` : undefined;
  return (
    <Modal title="Jump to a conversation" onClose={close}>
      <div class="switcher">
        <input
          type="text"
          role="combobox"
          aria-label="Conversation or person"
          aria-expanded="true"
          aria-controls="qs-list"
          aria-activedescendant={activeId}
          aria-autocomplete="list"
          placeholder="Conversation or person"
          value={q}
          autoFocus
          onInput={(e) => setQ(e.currentTarget.value)}
          onKeyDown={onKey}
        />
        <ul id="qs-list" role="listbox" aria-label="Matches" ref={listRef} class="switcher-list">
          {rows.map((r, i) => (
            <li
              key={r.kind === 'conv' ? r.c.id : `u:${r.u.id}`}
              id={`qs-${i}`}
              data-index={i}
              role="option"
              aria-selected={i === sel}
              class={`switcher-row ${i === sel ? 'is-selected' : ''}`}
              onMouseMove={() => i !== sel && setSel(i)}
              onClick={() => void open(r)}
            >
              <span class="conv-icon" aria-hidden="true">
                {r.kind === 'conv' && r.c.type === 'channel' ? (
                  r.c.visibility === 'private' ? (
                    <Lock size={16} />
                  ) : (
                    <Hash size={16} />
                  )
                ) : r.kind === 'conv' ? (
                  <Avatar userId={peersOf(r.c).length === 1 ? peersOf(r.c)[0] : r.c.id} name={peersOf(r.c).length === 1 ? undefined : r.name} size={24} />
                ) : (
                  <Avatar userId={r.u.id} size={24} />
                )}
              </span>
              <span class="conv-name">{r.name}</span>
              {r.kind === 'user' && <span class="muted small">@{r.u.username} · new message</span>}
              {r.kind === 'conv' && (r.c.unread_count ?? 0) > 0 && <span class="badge">{r.c.unread_count}</span>}
            </li>
          ))}
        </ul>
        {rows.length === 0 && <p class="muted switcher-empty">Nothing matches “{q}”.</p>}
        <p class="muted small switcher-help">↑↓ to choose · Enter to open · Esc to close</p>
      </div>
    </Modal>
  );
}
