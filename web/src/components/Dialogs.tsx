// Create a channel, browse and join public channels, start a DM or group.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, enc } from '../api';
import { conversations, createChannel, dialog, joinChannel, me, navigate, startConversation } from '../state/store';
import type { Conversation, User } from '../types';
import { plural } from '../format';
import { Modal } from './Dialog';

const close = () => (dialog.value = null);

function errText(e: unknown) {
  return e instanceof ApiError ? e.message : String(e);
}

export function NewChannelDialog() {
  const [name, setName] = useState('');
  const [topic, setTopic] = useState('');
  const [priv, setPriv] = useState(false);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      const c = await createChannel(name.trim(), topic.trim(), priv ? 'private' : 'public');
      close();
      navigate(c.id);
    } catch (err) {
      setError(err instanceof ApiError && err.code === 'conflict' ? 'A channel with that name already exists.' : errText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal title="Create a channel" onClose={close}>
      <form onSubmit={submit} class="stack">
        <label>
          Channel name
          <input required maxLength={80} value={name} onInput={(e) => setName(e.currentTarget.value)} autoFocus />
        </label>
        <label>
          Topic <span class="muted">(optional)</span>
          <input maxLength={250} value={topic} onInput={(e) => setTopic(e.currentTarget.value)} />
        </label>
        <label class="check">
          <input type="checkbox" checked={priv} onChange={(e) => setPriv(e.currentTarget.checked)} /> Private (invite only)
        </label>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy || !name.trim()}>
          Create channel
        </button>
      </form>
    </Modal>
  );
}

export function BrowseChannelsDialog() {
  const [q, setQ] = useState('');
  const [list, setList] = useState<Conversation[] | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    const t = setTimeout(() => {
      api<{ channels: Conversation[] }>(`/channels?limit=100${q.trim() ? `&q=${enc(q.trim())}` : ''}`)
        .then((r) => setList(r.channels))
        .catch((e) => setError(errText(e)));
    }, 150);
    return () => clearTimeout(t);
  }, [q]);
  const join = async (c: Conversation) => {
    try {
      if (!conversations.value[c.id]) await joinChannel(c.id);
      close();
      navigate(c.id);
    } catch (e) {
      setError(errText(e));
    }
  };
  return (
    <Modal title="Browse channels" onClose={close} wide>
      <label class="block">
        Find a channel
        <input type="search" value={q} onInput={(e) => setQ(e.currentTarget.value)} autoFocus />
      </label>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {list && list.length === 0 && <p class="muted">No public channels{q ? ' match' : ' yet'}.</p>}
      <ul class="channel-list">
        {(list ?? []).map((c) => {
          const joined = !!conversations.value[c.id];
          return (
            <li key={c.id}>
              <div>
                <strong># {c.name}</strong> <span class="muted small">{plural(c.member_count, 'member')}</span>
                {c.topic && <p class="muted small">{c.topic}</p>}
              </div>
              <button type="button" class={joined ? '' : 'primary'} onClick={() => void join(c)} aria-label={joined ? `Open #${c.name}` : `Join #${c.name}`}>
                {joined ? 'Open' : 'Join'}
              </button>
            </li>
          );
        })}
      </ul>
    </Modal>
  );
}

export function NewDmDialog() {
  const [q, setQ] = useState('');
  const [found, setFound] = useState<User[]>([]);
  const [picked, setPicked] = useState<User[]>([]);
  const [name, setName] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    const t = setTimeout(() => {
      api<{ users: User[] }>(`/users?limit=20${q.trim() ? `&q=${enc(q.trim())}` : ''}`)
        .then((r) => setFound(r.users.filter((u) => u.id !== me.value?.id)))
        .catch((e) => setError(errText(e)));
    }, 150);
    return () => clearTimeout(t);
  }, [q]);
  const toggle = (u: User) => setPicked(picked.some((p) => p.id === u.id) ? picked.filter((p) => p.id !== u.id) : [...picked, u]);
  const start = async () => {
    setBusy(true);
    setError('');
    try {
      const c = await startConversation(
        picked.map((p) => p.id),
        name.trim(),
      );
      close();
      navigate(c.id);
    } catch (e) {
      setError(errText(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal title="New message" onClose={close}>
      <div class="stack">
        <label>
          Search people
          <input type="search" value={q} onInput={(e) => setQ(e.currentTarget.value)} autoFocus placeholder="Name or username" />
        </label>
        {picked.length > 0 && (
          <p class="chips" aria-label="Selected people">
            {picked.map((u) => (
              <button type="button" key={u.id} class="chip" onClick={() => toggle(u)} aria-label={`Remove ${u.display_name}`}>
                {u.display_name} ×
              </button>
            ))}
          </p>
        )}
        {found.length === 0 && <p class="muted people-empty">No one found.</p>}
        {found.length > 0 && (
          <ul class="people" role="listbox" aria-label="People" aria-multiselectable="true">
            {found.map((u) => {
              const sel = picked.some((p) => p.id === u.id);
              return (
                <li
                  key={u.id}
                  role="option"
                  aria-selected={sel}
                  tabIndex={0}
                  class={`person ${sel ? 'is-selected' : ''}`}
                  onClick={() => toggle(u)}
                  onKeyDown={(e) => {
                    if (e.key === 'Enter' || e.key === ' ') {
                      e.preventDefault();
                      toggle(u);
                    }
                  }}
                >
                  {u.display_name} <span class="muted">@{u.username}</span>
                </li>
              );
            })}
          </ul>
        )}
        {picked.length > 1 && (
          <label>
            Group name <span class="muted">(optional)</span>
            <input maxLength={80} value={name} onInput={(e) => setName(e.currentTarget.value)} />
          </label>
        )}
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="button" class="primary" disabled={busy || picked.length === 0} onClick={() => void start()}>
          {picked.length > 1 ? 'Start group' : 'Start conversation'}
        </button>
      </div>
    </Modal>
  );
}
