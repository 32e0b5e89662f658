// The admin console (system admins only; the sidebar shows its button to them alone and the
// server refuses everyone else anyway): users (search, deactivate/reactivate with confirmation,
// reset two-factor, sign out everywhere, role), channels (archive, change owner), server settings
// (registration mode, invite links, allowed email domains) and the audit log (filters, paging).
import { useEffect, useState } from 'preact/hooks';
import type { ComponentChildren } from 'preact';
import { ApiError } from '../../api';
import { dialog, ensureUsers, me, userName, users } from '../../state/store';
import { Modal } from '../Dialog';
import { AnalyticsTab, DataTab } from './Analytics';
import {
  adminApi,
  describeTarget,
  inviteLink,
  parseDomains,
  type AdminChannel,
  type AdminUser,
  type AuditEvent,
  type Invite,
  type RegistrationMode,
  type ServerSettings,
} from './adminApi';

type Tab = 'users' | 'channels' | 'settings' | 'audit' | 'analytics' | 'data';
const TABS: { id: Tab; label: string }[] = [
  { id: 'users', label: 'Users' },
  { id: 'channels', label: 'Channels' },
  { id: 'settings', label: 'Settings' },
  { id: 'audit', label: 'Audit log' },
  { id: 'analytics', label: 'Analytics' },
  { id: 'data', label: 'Data' },
];

function errText(e: unknown) {
  return e instanceof ApiError ? e.message : String(e);
}

/** A user id as people read it: "Name (@username)" once known, the id until then. */
function who(id: string | null | undefined): string {
  if (!id) return '';
  const u = users.value[id];
  return u ? `${userName(id)} (@${u.username})` : id;
}

function when(ms: number | null) {
  return ms ? new Date(ms).toLocaleString() : '—';
}

/** A button that asks once more, in place, before it acts. */
function ConfirmButton(props: { label: string; confirm: string; onConfirm: () => Promise<void>; danger?: boolean }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  if (!asking)
    return (
      <button type="button" class={`small ${props.danger ? 'danger' : ''}`} onClick={() => setAsking(true)}>
        {props.label}
      </button>
    );
  return (
    <span class="admin-confirm" role="group" aria-label={props.confirm}>
      <span class="small">{props.confirm}</span>
      <button
        type="button"
        class={`small ${props.danger ? 'danger' : 'primary'}`}
        disabled={busy}
        onClick={async () => {
          setBusy(true);
          try {
            await props.onConfirm();
          } finally {
            setBusy(false);
            setAsking(false);
          }
        }}
      >
        Confirm
      </button>
      <button type="button" class="small" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  );
}

function Status(props: { text: string; error?: boolean }) {
  if (!props.text) return <span role="status" class="sr-only" />;
  return (
    <p role={props.error ? 'alert' : 'status'} class={props.error ? 'error small' : 'muted small'}>
      {props.text}
    </p>
  );
}

function Search(props: { label: string; value: string; onSearch: (q: string) => void }) {
  const [q, setQ] = useState(props.value);
  return (
    <form
      class="admin-search"
      role="search"
      onSubmit={(e) => {
        e.preventDefault();
        props.onSearch(q.trim());
      }}
    >
      <input type="search" aria-label={props.label} placeholder={props.label} value={q} onInput={(e) => setQ(e.currentTarget.value)} />
      <button type="submit" class="small">
        Search
      </button>
    </form>
  );
}

// ---- users ----

function UserRow(props: { user: AdminUser; onChange: (u: AdminUser) => void; say: (t: string, err?: boolean) => void }) {
  const u = props.user;
  const self = me.value?.id === u.id;
  const act = async (what: () => Promise<unknown>, done: string) => {
    try {
      const r = await what();
      if (r && typeof r === 'object' && 'id' in (r as object)) props.onChange(r as AdminUser);
      props.say(done);
    } catch (e) {
      props.say(errText(e), true);
    }
  };
  return (
    <li class="admin-item" aria-label={`@${u.username}`}>
      <div class="admin-item-head">
        <strong>{u.display_name}</strong> <span class="muted">@{u.username}</span>
        {u.role === 'admin' && <span class="admin-badge">admin</span>}
        {u.deactivated && <span class="admin-badge is-off">deactivated</span>}
        {u.totp_enabled && <span class="admin-badge">2FA</span>}
      </div>
      <div class="muted small">
        {u.email ?? 'no email'} · joined {when(u.created_at)}
        {u.deactivated ? ` · deactivated ${when(u.deactivated_at)}` : ''}
      </div>
      {!self && (
        <div class="row admin-actions">
          {u.deactivated ? (
            <ConfirmButton
              label="Reactivate"
              confirm={`Let @${u.username} sign in again?`}
              onConfirm={() => act(() => adminApi.reactivate(u.id), `@${u.username} can sign in again.`)}
            />
          ) : (
            <ConfirmButton
              danger
              label="Deactivate"
              confirm={`Deactivate @${u.username}? They are signed out everywhere at once.`}
              onConfirm={() => act(() => adminApi.deactivate(u.id), `@${u.username} is deactivated and signed out.`)}
            />
          )}
          <ConfirmButton
            label="Sign out"
            confirm={`End every session of @${u.username}?`}
            onConfirm={() =>
              act(async () => {
                const r = await adminApi.signOut(u.id);
                props.say(`${r.sessions_ended} session(s) of @${u.username} ended.`);
              }, `@${u.username} was signed out everywhere.`)
            }
          />
          {u.totp_enabled && (
            <ConfirmButton
              label="Reset 2FA"
              confirm={`Turn two-factor off for @${u.username}?`}
              onConfirm={() =>
                act(async () => {
                  await adminApi.reset2fa(u.id);
                  props.onChange({ ...u, totp_enabled: false });
                }, `Two-factor is off for @${u.username}.`)
              }
            />
          )}
          <ConfirmButton
            label={u.role === 'admin' ? 'Remove admin' : 'Make admin'}
            confirm={u.role === 'admin' ? `Take admin away from @${u.username}?` : `Make @${u.username} an admin?`}
            onConfirm={() =>
              act(() => adminApi.setRole(u.id, u.role === 'admin' ? 'user' : 'admin'), `@${u.username}’s role changed.`)
            }
          />
        </div>
      )}
    </li>
  );
}

/** A searchable, paged list of rows (users, channels): search box, status line, "load more". */
function SearchableList<T extends { id: string }>(props: {
  noun: string;
  fetch: (q: string, cursor?: string) => Promise<{ items: T[]; next_cursor?: string }>;
  row: (item: T, onChange: (next: T) => void, say: (text: string, error?: boolean) => void) => ComponentChildren;
}) {
  const [q, setQ] = useState('');
  const [items, setItems] = useState<T[]>([]);
  const [next, setNext] = useState<string | undefined>();
  const [msg, setMsg] = useState<{ text: string; error?: boolean }>({ text: '' });
  const load = async (query: string, cursor?: string) => {
    try {
      const page = await props.fetch(query, cursor);
      setItems((old) => (cursor ? [...old, ...page.items] : page.items));
      setNext(page.next_cursor);
    } catch (e) {
      setMsg({ text: errText(e), error: true });
    }
  };
  useEffect(() => void load(q), [q]);
  const title = props.noun[0].toUpperCase() + props.noun.slice(1);
  return (
    <section class="stack" aria-label={title}>
      <Search label={`Search ${props.noun}`} value={q} onSearch={setQ} />
      <Status text={msg.text} error={msg.error} />
      <ul class="admin-list">
        {items.map((item) =>
          props.row(
            item,
            (changed) => setItems((list) => list.map((x) => (x.id === changed.id ? changed : x))),
            (text, error) => setMsg({ text, error }),
          ),
        )}
      </ul>
      {items.length === 0 && <p class="muted small">No {props.noun} match.</p>}
      {next && (
        <button type="button" class="small" onClick={() => void load(q, next)}>
          Load more {props.noun}
        </button>
      )}
    </section>
  );
}

function UsersTab() {
  return (
    <SearchableList<AdminUser>
      noun="users"
      fetch={async (q, cursor) => {
        const page = await adminApi.users(q, cursor);
        return { items: page.users, next_cursor: page.next_cursor };
      }}
      row={(u, onChange, say) => <UserRow key={u.id} user={u} onChange={onChange} say={say} />}
    />
  );
}

// ---- channels ----

function ChannelRow(props: { channel: AdminChannel; onChange: (c: AdminChannel) => void; say: (t: string, err?: boolean) => void }) {
  const c = props.channel;
  const [owner, setOwner] = useState('');
  const [picking, setPicking] = useState(false);
  const change = async (e: Event) => {
    e.preventDefault();
    try {
      const page = await adminApi.users(owner.trim().replace(/^@/, ''));
      const u = page.users.find((x) => x.username === owner.trim().replace(/^@/, '').toLowerCase());
      if (!u) return props.say(`No user named ${owner}.`, true);
      props.onChange(await adminApi.setOwner(c.id, u.id));
      setPicking(false);
      setOwner('');
      props.say(`@${u.username} now owns #${c.name}.`);
    } catch (err) {
      props.say(errText(err), true);
    }
  };
  return (
    <li class="admin-item" aria-label={`#${c.name}`}>
      <div class="admin-item-head">
        <strong>#{c.name}</strong>
        <span class="admin-badge">{c.visibility}</span>
        {c.archived && <span class="admin-badge is-off">archived</span>}
      </div>
      <div class="muted small">
        {c.member_count} member(s) · owner {c.owner_id ? who(c.owner_id) : 'none'}
      </div>
      <div class="row admin-actions">
        <ConfirmButton
          danger={!c.archived}
          label={c.archived ? 'Unarchive' : 'Archive'}
          confirm={c.archived ? `Unarchive #${c.name}?` : `Archive #${c.name}? It becomes read-only.`}
          onConfirm={async () => {
            try {
              props.onChange(await adminApi.archive(c.id, !c.archived));
              props.say(`#${c.name} ${c.archived ? 'unarchived' : 'archived'}.`);
            } catch (e) {
              props.say(errText(e), true);
            }
          }}
        />
        {picking ? (
          <form class="row" onSubmit={change}>
            <input aria-label={`New owner of #${c.name} (username)`} placeholder="username" value={owner} onInput={(e) => setOwner(e.currentTarget.value)} required />
            <button type="submit" class="small primary">
              Set owner
            </button>
            <button type="button" class="small" onClick={() => setPicking(false)}>
              Cancel
            </button>
          </form>
        ) : (
          <button type="button" class="small" onClick={() => setPicking(true)}>
            Change owner
          </button>
        )}
      </div>
    </li>
  );
}

function ChannelsTab() {
  return (
    <SearchableList<AdminChannel>
      noun="channels"
      fetch={async (q, cursor) => {
        const page = await adminApi.channels(q, cursor);
        void ensureUsers(page.channels.map((c) => c.owner_id ?? '').filter(Boolean));
        return { items: page.channels, next_cursor: page.next_cursor };
      }}
      row={(c, onChange, say) => <ChannelRow key={c.id} channel={c} onChange={onChange} say={say} />}
    />
  );
}

// ---- settings and invites ----

const MODES: { id: RegistrationMode; label: string }[] = [
  { id: 'open', label: 'Open: anyone may register' },
  { id: 'invite_only', label: 'Invite only: registration needs an invite link' },
  { id: 'closed', label: 'Closed: nobody may register' },
];

function SettingsTab() {
  const [s, setS] = useState<ServerSettings | null>(null);
  const [domains, setDomains] = useState('');
  const [invites, setInvites] = useState<Invite[]>([]);
  const [hours, setHours] = useState('168');
  const [uses, setUses] = useState('1');
  const [link, setLink] = useState('');
  const [msg, setMsg] = useState<{ text: string; error?: boolean }>({ text: '' });
  const reload = async () => {
    try {
      const [st, inv] = await Promise.all([adminApi.settings(), adminApi.invites()]);
      setS(st);
      setDomains(st.allowed_email_domains.join('\n'));
      setInvites(inv.invites);
    } catch (e) {
      setMsg({ text: errText(e), error: true });
    }
  };
  useEffect(() => void reload(), []);
  if (!s) return <Status text={msg.text || 'Loading…'} error={msg.error} />;
  const save = async (patch: Partial<ServerSettings>, done: string) => {
    try {
      const ns = await adminApi.updateSettings(patch);
      setS(ns);
      setDomains(ns.allowed_email_domains.join('\n'));
      setMsg({ text: done });
    } catch (e) {
      setMsg({ text: errText(e), error: true });
    }
  };
  const create = async (e: Event) => {
    e.preventDefault();
    try {
      const h = Number(hours);
      const r = await adminApi.createInvite(h > 0 ? Math.round(h * 3600) : null, Math.max(0, Math.round(Number(uses) || 0)));
      setLink(inviteLink(r.token));
      setInvites((l) => [r.invite, ...l]);
      setMsg({ text: 'Invite link created. Copy it now: it is shown once.' });
    } catch (err) {
      setMsg({ text: errText(err), error: true });
    }
  };
  return (
    <section class="stack" aria-label="Server settings">
      <Status text={msg.text} error={msg.error} />
      <fieldset class="stack">
        <legend>Registration</legend>
        {MODES.map((m) => (
          <label key={m.id} class="check">
            <input
              type="radio"
              name="registration"
              checked={s.registration === m.id}
              onChange={() => void save({ registration: m.id }, `Registration is now ${m.id.replace('_', ' ')}.`)}
            />
            {m.label}
          </label>
        ))}
      </fieldset>
      <form
        class="stack"
        onSubmit={(e) => {
          e.preventDefault();
          void save({ allowed_email_domains: parseDomains(domains) }, 'Allowed email domains saved.');
        }}
      >
        <label>
          Allowed email domains (one per line; empty allows any)
          <textarea rows={3} value={domains} onInput={(e) => setDomains(e.currentTarget.value)} placeholder="example.com" />
        </label>
        <div class="row">
          <button type="submit" class="small primary">
            Save domains
          </button>
        </div>
      </form>
      <form class="stack" onSubmit={create} aria-label="New invite link">
        <h3>Invite links</h3>
        <div class="row">
          <label>
            Expires in (hours, 0 = never)
            <input type="number" min={0} max={8760} value={hours} onInput={(e) => setHours(e.currentTarget.value)} />
          </label>
          <label>
            Uses (0 = unlimited)
            <input type="number" min={0} max={10000} value={uses} onInput={(e) => setUses(e.currentTarget.value)} />
          </label>
        </div>
        <div class="row">
          <button type="submit" class="small primary">
            Create invite link
          </button>
        </div>
        {link && (
          <label>
            Invite link to share
            <input readOnly value={link} onFocus={(e) => e.currentTarget.select()} />
          </label>
        )}
      </form>
      <ul class="admin-list" aria-label="Invites">
        {invites.map((i) => (
          <li key={i.id} class="admin-item">
            <div class="small">
              Created {when(i.created_at)} · used {i.uses}
              {i.max_uses ? ` of ${i.max_uses}` : ' (unlimited)'} · {i.expires_at ? `expires ${when(i.expires_at)}` : 'never expires'}
              {i.revoked_at ? ' · revoked' : ''}
            </div>
            {!i.revoked_at && (
              <ConfirmButton
                danger
                label="Revoke"
                confirm="Revoke this invite?"
                onConfirm={async () => {
                  try {
                    await adminApi.revokeInvite(i.id);
                    setInvites((l) => l.map((x) => (x.id === i.id ? { ...x, revoked_at: Date.now() } : x)));
                  } catch (e) {
                    setMsg({ text: errText(e), error: true });
                  }
                }}
              />
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}

// ---- audit ----

function AuditTab() {
  const [actor, setActor] = useState('');
  const [action, setAction] = useState('');
  const [filter, setFilter] = useState({ actor: '', action: '' });
  const [events, setEvents] = useState<AuditEvent[]>([]);
  const [next, setNext] = useState<string | undefined>();
  const [msg, setMsg] = useState('');
  const load = async (cursor?: string) => {
    try {
      const page = await adminApi.audit(filter.actor, filter.action, cursor);
      setEvents((old) => (cursor ? [...old, ...page.events] : page.events));
      setNext(page.next_cursor);
      setMsg('');
      const ids = page.events.flatMap((e) => {
        const t = describeTarget(e.target);
        return [e.actor_id ?? '', t.kind === 'user' ? t.id : ''];
      });
      void ensureUsers(ids.filter(Boolean));
    } catch (e) {
      setMsg(errText(e));
    }
  };
  useEffect(() => void load(), [filter]);
  return (
    <section class="stack" aria-label="Audit log">
      <form
        class="row admin-search"
        onSubmit={(e) => {
          e.preventDefault();
          setFilter({ actor: actor.trim(), action: action.trim() });
        }}
      >
        <input aria-label="Filter by actor (user id)" placeholder="actor user id" value={actor} onInput={(e) => setActor(e.currentTarget.value)} />
        <input aria-label="Filter by action" placeholder="action, e.g. auth.sign_in" value={action} onInput={(e) => setAction(e.currentTarget.value)} list="audit-actions" />
        <datalist id="audit-actions">
          {['auth.sign_in', 'auth.sign_in_failed', 'auth.password_changed', 'auth.totp_enabled', 'auth.totp_disabled', 'auth.session_revoked', 'admin.user_deactivated', 'admin.role_changed', 'admin.settings_changed', 'admin.invite_created', 'bot.token_created', 'data.exported', 'data.retention_changed'].map((a) => (
            <option key={a} value={a} />
          ))}
        </datalist>
        <button type="submit" class="small">
          Filter
        </button>
      </form>
      <Status text={msg} error={!!msg} />
      <ul class="admin-list" aria-label="Audit events">
        {events.map((e) => {
          const t = describeTarget(e.target);
          return (
            <li key={e.id} class="admin-item">
              <div class="admin-item-head">
                <code>{e.action}</code>
                <span class="muted small">{when(e.at)}</span>
              </div>
              <div class="small admin-wrap">
                by {e.actor_id ? who(e.actor_id) : e.ip ? 'someone not signed in' : 'the command line'} · {t.kind ? `${t.kind} ` : ''}
                {t.kind === 'user' ? who(t.id) : t.id}
                {t.rest ? ` (${t.rest})` : ''} · from {e.ip || '—'}
              </div>
            </li>
          );
        })}
      </ul>
      {events.length === 0 && <p class="muted small">No events match.</p>}
      {next && (
        <button type="button" class="small" onClick={() => void load(next)}>
          Older events
        </button>
      )}
    </section>
  );
}

function Panel(props: { tab: Tab; children: ComponentChildren }) {
  return (
    <div role="tabpanel" id={`admin-panel-${props.tab}`} aria-labelledby={`admin-tab-${props.tab}`}>
      {props.children}
    </div>
  );
}

export function AdminConsole() {
  const [tab, setTab] = useState<Tab>('users');
  const onKey = (e: KeyboardEvent) => {
    if (!['ArrowRight', 'ArrowLeft', 'Home', 'End'].includes(e.key)) return;
    e.preventDefault();
    const i = TABS.findIndex((t) => t.id === tab);
    const j = e.key === 'Home' ? 0 : e.key === 'End' ? TABS.length - 1 : (i + (e.key === 'ArrowRight' ? 1 : TABS.length - 1)) % TABS.length;
    setTab(TABS[j].id);
    document.getElementById(`admin-tab-${TABS[j].id}`)?.focus();
  };
  return (
    <Modal title="Admin console" onClose={() => (dialog.value = null)} wide>
      <div class="admin">
        <div class="admin-tabs" role="tablist" aria-label="Admin sections" onKeyDown={onKey}>
          {TABS.map((t) => (
            <button
              key={t.id}
              type="button"
              role="tab"
              id={`admin-tab-${t.id}`}
              aria-selected={tab === t.id}
              aria-controls={`admin-panel-${t.id}`}
              tabIndex={tab === t.id ? 0 : -1}
              class={`admin-tab ${tab === t.id ? 'is-active' : ''}`}
              onClick={() => setTab(t.id)}
            >
              {t.label}
            </button>
          ))}
        </div>
        <Panel tab={tab}>
          {tab === 'users' && <UsersTab />}
          {tab === 'channels' && <ChannelsTab />}
          {tab === 'settings' && <SettingsTab />}
          {tab === 'audit' && <AuditTab />}
          {tab === 'analytics' && <AnalyticsTab />}
          {tab === 'data' && <DataTab />}
        </Panel>
      </div>
    </Modal>
  );
}
