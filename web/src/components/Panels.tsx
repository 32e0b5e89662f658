// The side panel: a thread, search, pins or members.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, enc } from '../api';
import {
  conversationName,
  conversations,
  ensureUsers,
  highlightId,
  jumpTo,
  loadPins,
  loadMembers,
  me,
  panel,
  pins,
  saved,
  savedLoaded,
  loadSaved,
  showToast,
  threadOf,
  timelineOf,
  userName,
} from '../state/store';
import type { Member, Message, SearchResult, User } from '../types';
import { Avatar, PresenceDot } from './Avatar';
import { LeaveConversation } from './LeaveConversation';
import { Composer } from './Composer';
import { Highlight } from './Markdown';
import { stripMarkdown } from '../format';
import { X } from 'lucide-preact';

const clip = (s: string) => (s.length > 400 ? `${s.slice(0, 400)}…` : s);
import { formatTime, MessageItem } from './MessageItem';
import { groupStarts } from './Timeline';

function PanelFrame(props: { title: string; children: preact.ComponentChildren }) {
  return (
    <aside class="panel" aria-label={props.title}>
      <header class="panel-head">
        <h2>{props.title}</h2>
        <button type="button" class="icon" aria-label={`Close ${props.title.toLowerCase()}`} onClick={() => (panel.value = null)}>
          <X size={18} aria-hidden="true" />
        </button>
      </header>
      {props.children}
    </aside>
  );
}

export function ThreadPanel({ conversationId, rootId }: { conversationId: string; rootId: string }) {
  const fromTimeline = timelineOf(conversationId).value.messages.find((m) => m.id === rootId);
  const [root, setRoot] = useState<Message | null>(fromTimeline ?? null);
  useEffect(() => {
    if (!fromTimeline)
      void api<Message>(`/messages/${enc(rootId)}`)
        .then((m) => {
          setRoot(m);
          void ensureUsers([m.sender_id]);
        })
        .catch(() => {});
  }, [rootId]);
  const shownRoot = fromTimeline ?? root;
  const replies = threadOf(rootId).value.messages;
  const listRef = useRef<HTMLOListElement>(null);
  useEffect(() => {
    const el = listRef.current?.parentElement;
    if (el && !highlightId.value) el.scrollTop = el.scrollHeight;
  }, [replies.length]);
  useEffect(() => {
    const id = highlightId.value;
    if (!id) return;
    listRef.current?.querySelector<HTMLElement>(`li[data-mid="${CSS.escape(id)}"]`)?.scrollIntoView({ block: 'center' });
  }, [highlightId.value, replies.length]);
  return (
    <PanelFrame title="Thread">
      <div class="panel-scroll">
        {shownRoot && (
          <ol class="messages is-root">
            <MessageItem m={shownRoot} showHeader inThread />
          </ol>
        )}
        <p class="muted small replies-count">{replies.length === 1 ? '1 reply' : `${replies.length} replies`}</p>
        <ol class="messages" ref={listRef} aria-label="Replies">
          {replies.map((m, i) => (
            <MessageItem key={m.client_msg_id ? `c:${m.client_msg_id}` : m.id} m={m} showHeader={groupStarts(replies, i)} inThread highlighted={m.id === highlightId.value} />
          ))}
        </ol>
      </div>
      {shownRoot && !shownRoot.deleted && !conversations.value[conversationId]?.archived && (
        <Composer key={rootId} conversationId={conversationId} threadRootId={rootId} label="Reply" placeholder="Reply in thread…" autoFocus />
      )}
    </PanelFrame>
  );
}

export function PinsPanel({ conversationId }: { conversationId: string }) {
  const list = pins.value[conversationId] ?? [];
  useEffect(() => {
    void loadPins(conversationId); // live through pin.added / pin.removed; re-read on open
  }, [conversationId]);
  return (
    <PanelFrame title="Pinned messages">
      <div class="panel-scroll">
        {list.length === 0 && <p class="muted empty">Nothing pinned yet. Use “Pin message” in a message’s actions to pin it.</p>}
        <ul class="results">
          {list.map((m) => (
            <li key={m.id}>
              <button type="button" class="result" onClick={() => void jumpTo(m)}>
                <span class="meta">
                  <strong>{userName(m.sender_id)}</strong> <time class="muted small">{formatTime(m.created_at)}</time>
                </span>
                <span class="snippet">{m.deleted ? '(deleted)' : clip(stripMarkdown(m.text))}</span>
              </button>
            </li>
          ))}
        </ul>
      </div>
    </PanelFrame>
  );
}

export function MembersPanel({ conversationId }: { conversationId: string }) {
  const [list, setList] = useState<Member[] | null>(null);
  const [query, setQuery] = useState('');
  const [found, setFound] = useState<User[]>([]);
  const conv = conversations.value[conversationId];
  const reload = () =>
    loadMembers(conversationId)
      .then(setList)
      .catch(() => setList([]));
  useEffect(() => {
    void reload();
  }, [conversationId, conv?.member_count]);
  useEffect(() => {
    if (!query.trim()) return setFound([]);
    const t = setTimeout(() => {
      api<{ users: User[] }>(`/users?q=${enc(query.trim())}&limit=10`)
        .then((r) => setFound(r.users.filter((u) => !list?.some((m) => m.user_id === u.id))))
        .catch(() => {});
    }, 200);
    return () => clearTimeout(t);
  }, [query]);
  if (!conv) return null;
  const canAdd = conv.type !== 'dm';
  const add = async (u: User) => {
    try {
      await api(`/conversations/${enc(conversationId)}/members`, { method: 'POST', body: { user_ids: [u.id] } });
      setQuery('');
      void reload();
    } catch (e) {
      showToast(`Could not add: ${(e as Error).message}`);
    }
  };
  return (
    <PanelFrame title="Members">
      <div class="panel-scroll">
        {canAdd && (
          <label class="block">
            Add people
            <input type="search" value={query} onInput={(e) => setQuery(e.currentTarget.value)} placeholder="Search by name" />
          </label>
        )}
        {found.length > 0 && (
          <ul class="people">
            {found.map((u) => (
              <li key={u.id}>
                <button type="button" class="person" onClick={() => void add(u)} aria-label={`Add ${u.display_name}`}>
                  {u.display_name} <span class="muted">@{u.username}</span>
                </button>
              </li>
            ))}
          </ul>
        )}
        <ul class="people">
          {(list ?? []).map((m) => (
            <li key={m.user_id} class="person">
              <Avatar userId={m.user_id} size={24} />
              <PresenceDot userId={m.user_id} /> {m.user?.display_name ?? userName(m.user_id)} <span class="muted small">@{m.user?.username}</span>
              {m.role !== 'member' && <span class="tag">{m.role}</span>}
            </li>
          ))}
        </ul>
        {conv.type !== 'dm' && <LeaveConversation conv={conv} />}
      </div>
    </PanelFrame>
  );
}

export function SearchPanel() {
  const [q, setQ] = useState('');
  const [where, setWhere] = useState('');
  const [from, setFrom] = useState('');
  const [after, setAfter] = useState('');
  const [before, setBefore] = useState('');
  const [results, setResults] = useState<SearchResult[] | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const [people, setPeople] = useState<User[]>([]);
  const input = useRef<HTMLInputElement>(null);
  // On a phone the filters start folded: the search box and the results get the screen.
  const [wide] = useState(() => !matchMedia('(max-width: 720px)').matches);
  useEffect(() => input.current?.focus(), []);
  useEffect(() => {
    api<{ users: User[] }>('/users?limit=200')
      .then((r) => setPeople(r.users))
      .catch(() => {});
  }, []);
  const convs = Object.values(conversations.value);

  const run = async (e?: Event) => {
    e?.preventDefault();
    if (q.trim().length < 1) return;
    setBusy(true);
    setError('');
    const params = new URLSearchParams({ q: q.trim(), limit: '50' });
    if (where) params.set('conversation_id', where);
    if (from) params.set('sender_id', from);
    if (after) params.set('after', String(new Date(after + 'T00:00:00').getTime()));
    if (before) params.set('before', String(new Date(before + 'T23:59:59.999').getTime()));
    try {
      const r = await api<{ results: SearchResult[] }>(`/search/messages?${params}`);
      void ensureUsers(r.results.map((x) => x.message.sender_id));
      setResults(r.results);
    } catch (err) {
      setError((err as Error).message);
      setResults(null);
    } finally {
      setBusy(false);
    }
  };

  return (
    <PanelFrame title="Search">
      <form class="search-form" onSubmit={run} role="search">
        <label class="block">
          Search messages
          <input ref={input} type="search" value={q} onInput={(e) => setQ(e.currentTarget.value)} required maxLength={256} />
        </label>
        <details class="filters-box" open={wide}>
          <summary>Filters{where || from || after || before ? ' (on)' : ''}</summary>
        <div class="filters">
          <label>
            In
            <select value={where} onChange={(e) => setWhere(e.currentTarget.value)}>
              <option value="">All conversations</option>
              {convs.map((c) => (
                <option key={c.id} value={c.id}>
                  {conversationName(c)}
                </option>
              ))}
            </select>
          </label>
          <label>
            From
            <select value={from} onChange={(e) => setFrom(e.currentTarget.value)}>
              <option value="">Anyone</option>
              {me.value && <option value={me.value.id}>Me</option>}
              {people
                .filter((u) => u.id !== me.value?.id)
                .map((u) => (
                  <option key={u.id} value={u.id}>
                    {u.display_name}
                  </option>
                ))}
            </select>
          </label>
          <label>
            After
            <input type="date" value={after} onInput={(e) => setAfter(e.currentTarget.value)} />
          </label>
          <label>
            Before
            <input type="date" value={before} onInput={(e) => setBefore(e.currentTarget.value)} />
          </label>
        </div>
        </details>
        <button type="submit" class="primary" disabled={busy}>
          Search
        </button>
      </form>
      <div class="panel-scroll">
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        {results && results.length === 0 && <p class="muted empty">No messages found.</p>}
        {results && (
          <ul class="results" aria-label="Search results">
            {results.map((r) => {
              const c = conversations.value[r.message.conversation_id];
              return (
                <li key={r.message.id}>
                  <button
                    type="button"
                    class="result"
                    onClick={() => {
                      if (matchMedia('(max-width: 720px)').matches) panel.value = null;
                      void jumpTo(r.message);
                    }}
                  >
                    <span class="meta">
                      <strong>{userName(r.message.sender_id)}</strong>
                      {c && <span class="muted small"> in {c.type === 'channel' ? '#' : ''}{conversationName(c)}</span>}
                      <time class="muted small"> {formatTime(r.message.created_at)}</time>
                    </span>
                    <span class="snippet">
                      <Highlight html={r.highlight} />
                    </span>
                  </button>
                </li>
              );
            })}
          </ul>
        )}
      </div>
    </PanelFrame>
  );
}

export function SavedPanel() {
  const list = saved.value;
  useEffect(() => {
    void loadSaved(); // live through saved.updated; re-read on open
  }, []);
  return (
    <PanelFrame title="Saved messages">
      <div class="panel-scroll">
        {!savedLoaded.value && list.length === 0 && <p class="muted empty">Loading…</p>}
        {savedLoaded.value && list.length === 0 && <p class="muted empty">Nothing saved yet. Use “Save message” in a message’s actions to keep it here.</p>}
        <ul class="results" aria-label="Saved messages">
          {list.map((m) => {
            const c = conversations.value[m.conversation_id];
            return (
              <li key={m.id}>
                <button
                  type="button"
                  class="result"
                  onClick={() => {
                    if (matchMedia('(max-width: 720px)').matches) panel.value = null;
                    void jumpTo(m);
                  }}
                >
                  <span class="meta">
                    <strong>{userName(m.sender_id)}</strong>
                    {c && <span class="muted small"> in {c.type === 'channel' ? '#' : ''}{conversationName(c)}</span>}
                    <time class="muted small"> {formatTime(m.created_at)}</time>
                  </span>
                  <span class="snippet">{m.deleted ? '(deleted)' : clip(stripMarkdown(m.text))}</span>
                </button>
              </li>
            );
          })}
        </ul>
      </div>
    </PanelFrame>
  );
}

export function SidePanel() {
  const p = panel.value;
  if (!p) return null;
  if (p.kind === 'saved') return <SavedPanel />;
  if (p.kind === 'thread') return <ThreadPanel key={p.rootId} conversationId={p.conversationId} rootId={p.rootId} />;
  if (p.kind === 'pins') return <PinsPanel conversationId={p.conversationId} />;
  if (p.kind === 'members') return <MembersPanel conversationId={p.conversationId} />;
  return <SearchPanel />;
}
