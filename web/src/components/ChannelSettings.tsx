// A channel's (or group's) settings: name and topic (owners and admins), members with their
// roles, making admins (the owner), removing members (owners and admins), archiving (owners
// and admins, channels only) and leaving.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, enc } from '../api';
import { friendlyError, plural } from '../format';
import { conversationName, current, dialog, loadMembers, me, setArchived, showToast } from '../state/store';
import { LeaveConversation } from './LeaveConversation';
import { autoTranslate, capabilities, languageName, loadAutoTranslate, setAutoTranslate } from '../ai';
import type { Member } from '../types';
import { Avatar, PresenceDot } from './Avatar';
import { Modal } from './Dialog';

export function ChannelSettingsDialog() {
  const conv = current.value;
  const [name, setName] = useState(conv?.name ?? '');
  const [topic, setTopic] = useState(conv?.topic ?? '');
  const [list, setList] = useState<Member[] | null>(null);
  const [msg, setMsg] = useState('');
  const [error, setError] = useState('');
  const close = () => (dialog.value = null);
  const reload = () => conv && loadMembers(conv.id).then(setList).catch(() => setList([]));
  useEffect(() => {
    void reload();
  }, [conv?.id]);
  if (!conv) return null;
  const myRole = list?.find((m) => m.user_id === me.value?.id)?.role ?? conv.role ?? 'member';
  const canManage = myRole === 'owner' || myRole === 'admin';
  const save = async (e: Event) => {
    e.preventDefault();
    setMsg('');
    setError('');
    try {
      const body: Record<string, string> = { topic: topic.trim() };
      if (conv.type === 'channel' || name.trim()) body.name = name.trim();
      await api(`/conversations/${enc(conv.id)}`, { method: 'PATCH', body });
      setMsg('Saved.');
    } catch (err) {
      setError(err instanceof ApiError && err.code === 'conflict' ? 'A channel with that name already exists.' : friendlyError(err as ApiError));
    }
  };
  const setRole = async (m: Member, role: 'admin' | 'member') => {
    try {
      await api(`/conversations/${enc(conv.id)}/members/${enc(m.user_id)}`, { method: 'PATCH', body: { role } });
      void reload();
    } catch (err) {
      showToast(`Could not change the role: ${friendlyError(err as ApiError)}`);
    }
  };
  const remove = async (m: Member) => {
    try {
      await api(`/conversations/${enc(conv.id)}/members/${enc(m.user_id)}`, { method: 'DELETE' });
      void reload();
    } catch (err) {
      showToast(`Could not remove: ${friendlyError(err as ApiError)}`);
    }
  };
  const title = conv.type === 'channel' ? `#${conv.name}` : conversationName(conv);
  return (
    <Modal title={`Settings for ${title}`} onClose={close} wide>
      <div class="settings">
        <form class="stack" onSubmit={save} aria-labelledby="about-h">
          <h3 id="about-h">About</h3>
          <label>
            {conv.type === 'channel' ? 'Channel name' : 'Group name'}
            <input required={conv.type === 'channel'} maxLength={80} value={name} disabled={!canManage} onInput={(e) => setName(e.currentTarget.value)} />
          </label>
          <label>
            Topic
            <input maxLength={250} value={topic} disabled={!canManage} onInput={(e) => setTopic(e.currentTarget.value)} />
          </label>
          {error && (
            <p class="error" role="alert">
              {error}
            </p>
          )}
          {canManage ? (
            <div class="row">
              <button type="submit" class="primary">
                Save
              </button>
              <span role="status" class="muted small">
                {msg}
              </span>
            </div>
          ) : (
            <p class="muted small">Only the owner and admins can change these.</p>
          )}
        </form>
        <AutoTranslate conversationId={conv.id} />
        <section class="stack" aria-labelledby="members-h">
          <h3 id="members-h">{list ? plural(list.length, 'member') : 'Members'}</h3>
          <ul class="member-list">
            {(list ?? []).map((m) => {
              const isMe = m.user_id === me.value?.id;
              return (
                <li key={m.user_id}>
                  <Avatar userId={m.user_id} size={24} />
                  <span class="member-name">
                    {m.user?.display_name ?? m.user_id} <span class="muted small">@{m.user?.username}</span>
                  </span>
                  <PresenceDot userId={m.user_id} />
                  <span class="tag">{m.role}</span>
                  {myRole === 'owner' && !isMe && m.role !== 'owner' && (
                    <button type="button" class="small" onClick={() => void setRole(m, m.role === 'admin' ? 'member' : 'admin')}>
                      {m.role === 'admin' ? 'Make member' : 'Make admin'}
                    </button>
                  )}
                  {canManage && !isMe && m.role !== 'owner' && (
                    <button type="button" class="small danger" aria-label={`Remove ${m.user?.display_name ?? ''}`} onClick={() => void remove(m)}>
                      Remove
                    </button>
                  )}
                </li>
              );
            })}
          </ul>
        </section>
        {conv.type !== 'dm' && <RetentionSection id={conv.id} canManage={canManage} />}
        {canManage && conv.type === 'channel' && <ArchiveSection archived={!!conv.archived} id={conv.id} title={title} />}
        <section class="stack">
          <LeaveConversation conv={conv} onLeave={close} />
        </section>
      </div>
    </Modal>
  );
}

/** Archive (with a confirmation) or unarchive a channel. */
function ArchiveSection({ id, archived, title }: { id: string; archived: boolean; title: string }) {
  const [confirm, setConfirm] = useState(false);
  const [busy, setBusy] = useState(false);
  const run = async (on: boolean) => {
    setBusy(true);
    try {
      await setArchived(id, on);
      setConfirm(false);
      showToast(on ? `${title} is archived.` : `${title} is active again.`);
    } catch (err) {
      showToast(`Could not ${on ? 'archive' : 'unarchive'}: ${friendlyError(err as ApiError)}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="stack" aria-labelledby="archive-h">
      <h3 id="archive-h">Archive</h3>
      {archived ? (
        <>
          <p class="muted small">This channel is archived: it can be read and searched, but nobody can post, edit, react or join.</p>
          <div class="row">
            <button type="button" disabled={busy} onClick={() => void run(false)}>
              Unarchive channel
            </button>
          </div>
        </>
      ) : !confirm ? (
        <div class="row">
          <button type="button" onClick={() => setConfirm(true)}>
            Archive channel
          </button>
        </div>
      ) : (
        <div class="confirm-leave" role="alertdialog" aria-label={`Archive ${title}?`}>
          <p>
            Archive <strong>{title}</strong>? Its messages stay readable, but nobody can post, edit, react or join until it is unarchived.
          </p>
          <div class="row">
            <button type="button" class="danger" disabled={busy} onClick={() => void run(true)}>
              Archive
            </button>
            <button type="button" onClick={() => setConfirm(false)}>
              Cancel
            </button>
          </div>
        </div>
      )}
    </section>
  );
}

interface Retention {
  days: number | null;
  global_days: number | null;
  effective_days: number | null;
}

/** How long messages and files are kept here: the owners and admins choose, within the
 * server's own limit. */
function RetentionSection({ id, canManage }: { id: string; canManage: boolean }) {
  const [r, setR] = useState<Retention | null>(null);
  const [days, setDays] = useState('');
  const [msg, setMsg] = useState('');
  const [error, setError] = useState('');
  useEffect(() => {
    api<Retention>(`/conversations/${enc(id)}/retention`)
      .then((v) => {
        setR(v);
        setDays(v.days ? String(v.days) : '');
      })
      .catch(() => setR(null));
  }, [id]);
  const save = async (e: Event) => {
    e.preventDefault();
    setMsg('');
    setError('');
    try {
      const v = await api<Retention>(`/conversations/${enc(id)}/retention`, {
        method: 'PUT',
        body: { days: days.trim() ? Number(days) : null },
      });
      setR(v);
      setMsg('Saved.');
    } catch (err) {
      setError(friendlyError(err as ApiError));
    }
  };
  if (!r) return null;
  const effective = r.effective_days ? `Messages and files older than ${plural(r.effective_days, 'day')} are deleted.` : 'Messages and files are kept forever.';
  return (
    <form class="stack" onSubmit={save} aria-labelledby="retention-h">
      <h3 id="retention-h">Retention</h3>
      <p class="muted small">
        {effective}
        {r.global_days ? ` The server keeps at most ${plural(r.global_days, 'day')}.` : ''}
      </p>
      {canManage && (
        <>
          <label>
            Delete messages older than (days; empty keeps them)
            <input type="number" min={1} max={r.global_days ?? undefined} inputMode="numeric" value={days} onInput={(e) => setDays(e.currentTarget.value)} aria-label="Retention in days" />
          </label>
          {error && (
            <p class="error" role="alert">
              {error}
            </p>
          )}
          <div class="row">
            <button type="submit">Save retention</button>
            <span role="status" class="muted small">
              {msg}
            </span>
          </div>
        </>
      )}
    </form>
  );
}

/** The user's own auto-translate choice for this conversation: messages from others are shown
 * with their translation into the user's language (profile setting). */
function AutoTranslate({ conversationId }: { conversationId: string }) {
  useEffect(() => {
    void loadAutoTranslate(conversationId);
  }, [conversationId]);
  const [busy, setBusy] = useState(false);
  if (!capabilities.value?.translate.pairs.length) return null;
  const on = !!autoTranslate.value[conversationId];
  const lang = me.value?.language;
  return (
    <section class="stack" aria-labelledby="translate-h">
      <h3 id="translate-h">Translation</h3>
      <label class="check">
        <input
          type="checkbox"
          checked={on}
          disabled={busy}
          aria-label="Auto-translate messages"
          onChange={async (e) => {
            const want = e.currentTarget.checked;
            setBusy(true);
            try {
              await setAutoTranslate(conversationId, want);
            } catch (err) {
              showToast(`Could not change auto-translate: ${friendlyError(err as ApiError)}`);
            } finally {
              setBusy(false);
            }
          }}
        />
        Auto-translate messages into {languageName(lang || 'en')}
      </label>
      <p class="muted small">Only for you. Translation runs on this server. Change your language in your profile settings.</p>
    </section>
  );
}
