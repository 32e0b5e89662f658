// Application state as signals, and the actions that change it. Message-list logic lives in
// timeline.ts (pure, unit-tested); this file does the I/O and the event plumbing.
import { loadCapabilities, resetAi } from '../ai';
import { batch, computed, signal, type Signal } from '@preact/signals';
import { api, ApiError, clearTokens, enc, hasSession, login, logout, refresh, register, setSignedOutHandler, ssoExchange } from '../api';
import { offerPushAfterSend } from '../notifications';
import { Socket, type WsEvent, type WsStatus } from '../ws';
import type { ChosenPresence, ClientMessage, Conversation, FileObject, Member, Message, Presence, PresenceStatus, User } from '../types';
import { clearAllUploads } from '../uploads';
import { fileLinks } from '../downloads';
import * as T from './timeline';
import { mergeConversation } from './conversation';
import { withPresence } from './presence';
import { withReauthUsing } from '../security';
import { friendlyError, ssoErrorText } from '../format';

export interface TimelineState {
  messages: ClientMessage[];
  hasOlder: boolean;
  loaded: boolean;
  loading: boolean;
  error?: string;
}

export interface ThreadState {
  messages: ClientMessage[];
  loaded: boolean;
}

export type Panel =
  | { kind: 'thread'; rootId: string; conversationId: string }
  | { kind: 'search' }
  | { kind: 'pins'; conversationId: string }
  | { kind: 'members'; conversationId: string }
  | { kind: 'saved' }
  | null;

export type Dialog =
  | 'new-channel'
  | 'browse-channels'
  | 'new-dm'
  | 'settings'
  | 'profile'
  | 'shortcuts'
  | 'channel-settings'
  | 'admin'
  | 'conversation-notifications'
  | null;

const PAGE = 50;
const CATCHUP_PAGE = 200;

// ---- signals ------------------------------------------------------------------------------

export const authState = signal<'loading' | 'signed-out' | 'signed-in'>('loading');
export const me = signal<User | null>(null);
export const wsStatus = signal<WsStatus>('connecting');
/** True once a connection was ready at least once (the offline banner waits for it). */
export const everConnected = signal(false);
export const conversations = signal<Record<string, Conversation>>({});
export const users = signal<Record<string, User>>({});
export const presence = signal<Record<string, PresenceStatus>>({});
export const myPresence = signal<ChosenPresence>('online');
export const members = signal<Record<string, string[]>>({});
export const typing = signal<Record<string, Record<string, number>>>({});
export const currentId = signal<string | null>(null);
export const panel = signal<Panel>(null);
export const dialog = signal<Dialog>(null);
export const pins = signal<Record<string, ClientMessage[]>>({});
export const highlightId = signal<string | null>(null);
/** The read marker captured when a conversation was opened: the divider goes after it. */
export const dividerSeq = signal<Record<string, number>>({});
export const toast = signal<string | null>(null);
/** What the emoji picker is open for: a reaction to a message, or the composer's text. */
export type EmojiTarget = { kind: 'reaction'; message: ClientMessage } | { kind: 'composer'; insert: (emoji: string) => void };
export const emojiTarget = signal<EmojiTarget | null>(null);
/** 2FA state as this browser knows it: from the last sign-in (a code was asked or not), set-up
 * and turning off. null: unknown (the API has no read of it). */
export const totpEnabled = signal<boolean | null>(null);
/** An open "confirm it's you" request (the server said `reauth_required`): resolved with true
 * after a successful `POST /auth/reauth`, false when the person cancels. */
export const reauthPrompt = signal<{ resolve: (ok: boolean) => void } | null>(null);

/** Saved messages (`GET /users/me/saved`), most recently saved first; live via `saved.updated`. */
export const saved = signal<Message[]>([]);
/** Whether the saved list has been read (the panel says "Loading…" until then). */
export const savedLoaded = signal(false);
export const savedIds = computed(() => new Set(saved.value.map((m) => m.id)));

/** Reads the saved list (every page, at most 1,000 messages: the marks in the timeline need
 * the ids). Called at sign-in and after each reconnect (events missed while away). */
export async function loadSaved() {
  const all: Message[] = [];
  let cursor: string | undefined;
  try {
    for (let i = 0; i < 10; i++) {
      const r = await api<{ messages: Message[]; next_cursor?: string }>(`/users/me/saved?limit=100${cursor ? `&cursor=${enc(cursor)}` : ''}`);
      all.push(...r.messages);
      if (!r.next_cursor || !r.messages.length) break;
      cursor = r.next_cursor;
    }
    senders(all);
    saved.value = all;
    savedLoaded.value = true;
  } catch {
    /* the panel offers a retry by reopening */
  }
}

function setSavedLocally(m: Message | null, id: string, on: boolean) {
  if (!on) saved.value = saved.value.filter((x) => x.id !== id);
  else if (m && !saved.value.some((x) => x.id === id)) saved.value = [m, ...saved.value];
}

/** Save or unsave a message (`PUT|DELETE /messages/{id}/saved`), shown at once. */
export async function toggleSaved(m: Message) {
  const on = !savedIds.value.has(m.id);
  setSavedLocally(m, m.id, on);
  try {
    await api(`/messages/${enc(m.id)}/saved`, { method: on ? 'PUT' : 'DELETE' });
    // The other tabs share this session: told directly too, in case the server's event skips it.
    tabs.post({ type: 'saved', message_id: m.id, conversation_id: m.conversation_id, saved: on });
  } catch (e) {
    setSavedLocally(m, m.id, !on);
    showToast(`Could not ${on ? 'save' : 'unsave'} the message: ${errorText(e)}`);
  }
}

/** `saved.updated` (any of my sessions): the list follows. */
async function onSavedEvent(d: { message_id: string; conversation_id: string; saved: boolean }) {
  if (!d.saved) return setSavedLocally(null, d.message_id, false);
  if (savedIds.value.has(d.message_id)) return;
  const m = await ensureMessage(d.message_id);
  if (m) setSavedLocally(m, d.message_id, true);
}

/** Star or unstar a conversation (`PUT|DELETE /conversations/{id}/star`), shown at once;
 * the other tabs and devices follow through `star.updated`. */
export async function toggleStar(id: string) {
  const on = !conversations.value[id]?.starred;
  patchConversation(id, () => ({ starred: on }));
  try {
    await api(`/conversations/${enc(id)}/star`, { method: on ? 'PUT' : 'DELETE' });
    tabs.post({ type: 'star', conversation_id: id, starred: on });
  } catch (e) {
    patchConversation(id, () => ({ starred: !on }));
    showToast(`Could not ${on ? 'star' : 'unstar'} the conversation: ${errorText(e)}`);
  }
}

/** Archive or unarchive a channel (owners and admins): read-only for everyone while archived. */
export async function setArchived(id: string, archived: boolean) {
  const c = await api<Conversation>(`/conversations/${enc(id)}/${archived ? 'archive' : 'unarchive'}`, { method: 'POST' });
  putConversation({ archived, ...c });
}

/** Whether a message mentions me, as the server worked it out (`mentions`, `mention_all`). */
export function mentionsMe(m: Message): boolean {
  return T.mentionsUser(m, me.value?.id);
}

export function openEmojiPicker(t: EmojiTarget) {
  emojiTarget.value = t;
}

const timelines = new Map<string, Signal<TimelineState>>();
const threads = new Map<string, Signal<ThreadState>>();

export function timelineOf(id: string): Signal<TimelineState> {
  let s = timelines.get(id);
  if (!s) {
    s = signal<TimelineState>({ messages: [], hasOlder: true, loaded: false, loading: false });
    timelines.set(id, s);
  }
  return s;
}

export function threadOf(rootId: string): Signal<ThreadState> {
  let s = threads.get(rootId);
  if (!s) {
    s = signal<ThreadState>({ messages: [], loaded: false });
    threads.set(rootId, s);
  }
  return s;
}

export const sortedConversations = computed(() => T.sortConversations(Object.values(conversations.value)));
export const current = computed(() => (currentId.value ? conversations.value[currentId.value] ?? null : null));

export function showToast(text: string) {
  toast.value = text;
  setTimeout(() => {
    if (toast.value === text) toast.value = null;
  }, 5000);
}

function errorText(e: unknown): string {
  return e instanceof ApiError ? e.message : e instanceof Error ? e.message : String(e);
}

// ---- names --------------------------------------------------------------------------------

export function userName(id: string): string {
  const u = users.value[id];
  return u ? u.display_name || u.username : '…';
}

/** The other members of a DM or group (me excluded, except in a note-to-self DM). */
export function peersOf(c: Conversation): string[] {
  const ids = members.value[c.id] ?? [];
  const mine = me.value?.id;
  const others = ids.filter((x) => x !== mine);
  return others.length ? others : ids;
}

export function conversationName(c: Conversation): string {
  if (c.type === 'channel') return c.name;
  if (c.type === 'group' && c.name) return c.name;
  const peers = peersOf(c);
  if (!peers.length) return c.type === 'dm' ? 'Direct message' : 'Group';
  return peers.map(userName).join(', ');
}

// ---- users and presence -------------------------------------------------------------------

const userFetches = new Map<string, Promise<void>>();

export function rememberUsers(list: User[]) {
  if (!list.length) return;
  const next = { ...users.value };
  for (const u of list) next[u.id] = u;
  users.value = next;
}

export async function ensureUsers(ids: string[]) {
  const missing = [...new Set(ids)].filter((id) => id && !users.value[id] && !userFetches.has(id));
  await Promise.all(
    missing.map((id) => {
      const p = api<User>(`/users/${enc(id)}`)
        .then((u) => rememberUsers([u]))
        .catch(() => {})
        .finally(() => userFetches.delete(id));
      userFetches.set(id, p);
      return p;
    }),
  );
}

/** Reads a user again (a profile card opening: the time zone, photo and status as they are). */
export async function refreshUser(id: string) {
  try {
    rememberUsers([await api<User>(`/users/${enc(id)}`)]);
  } catch {
    /* the held copy stays */
  }
}

export async function loadPresence(ids: string[]) {
  const uniq = [...new Set(ids)].filter(Boolean);
  for (let i = 0; i < uniq.length; i += 200) {
    try {
      const r = await api<{ presence: Presence[] }>(`/presence?user_ids=${uniq.slice(i, i + 200).map(enc).join(',')}`);
      presence.value = withPresence(presence.value, r.presence);
    } catch {
      /* presence is best effort */
    }
  }
}

export async function setMyPresence(status: ChosenPresence) {
  const prev = myPresence.value;
  myPresence.value = status;
  try {
    const p = await api<Presence>('/users/me/presence', { method: 'PUT', body: { status } });
    presence.value = withPresence(presence.value, [p]);
    localStorage.setItem('parley.presence', status);
  } catch (e) {
    myPresence.value = prev;
    showToast(`Could not set presence: ${errorText(e)}`);
  }
}

export async function updateProfile(fields: { display_name?: string; status_text?: string; timezone?: string; language?: string }) {
  const u = await api<User>('/users/me', { method: 'PATCH', body: fields });
  me.value = u;
  rememberUsers([u]);
}

/** Sets my avatar to an uploaded image (`PUT /users/me/avatar`), or removes it (null). */
export async function setAvatar(fileId: string | null) {
  const u = fileId
    ? await api<User>('/users/me/avatar', { method: 'PUT', body: { file_id: fileId } })
    : await api<User>('/users/me/avatar', { method: 'DELETE' });
  me.value = u;
  rememberUsers([u]);
}

// ---- conversations ------------------------------------------------------------------------

function putConversation(c: Conversation) {
  conversations.value = { ...conversations.value, [c.id]: mergeConversation(conversations.value[c.id], c) };
}

function patchConversation(id: string, f: (c: Conversation) => Partial<Conversation>) {
  const c = conversations.value[id];
  if (!c) return;
  const next = { ...c, ...f(c) };
  if (!next.unread_count && next.mention_count) next.mention_count = 0;
  conversations.value = { ...conversations.value, [id]: next };
}

async function listAllConversations(): Promise<Conversation[]> {
  const all: Conversation[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 50; i++) {
    const r = await api<{ conversations: Conversation[]; next_cursor?: string }>(
      `/conversations?limit=200${cursor ? `&cursor=${enc(cursor)}` : ''}`,
    );
    all.push(...r.conversations);
    if (!r.next_cursor) break;
    cursor = r.next_cursor;
  }
  return all;
}

export async function loadMembers(id: string): Promise<Member[]> {
  const all: Member[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 20; i++) {
    const r = await api<{ members: Member[]; next_cursor?: string }>(
      `/conversations/${enc(id)}/members?limit=200${cursor ? `&cursor=${enc(cursor)}` : ''}`,
    );
    all.push(...r.members);
    if (!r.next_cursor) break;
    cursor = r.next_cursor;
  }
  rememberUsers(all.map((m) => m.user).filter(Boolean));
  members.value = { ...members.value, [id]: all.map((m) => m.user_id) };
  return all;
}

async function loadPeers(list: Conversation[]) {
  const small = list.filter((c) => c.type !== 'channel' && !members.value[c.id]);
  await Promise.all(small.map((c) => loadMembers(c.id).catch(() => {})));
  const ids = list.filter((c) => c.type !== 'channel').flatMap((c) => members.value[c.id] ?? []);
  if (me.value) ids.push(me.value.id);
  await loadPresence(ids);
}

export async function fetchConversation(id: string): Promise<Conversation | null> {
  try {
    const c = await api<Conversation>(`/conversations/${enc(id)}`);
    putConversation(c);
    if (c.type !== 'channel' && !members.value[c.id]) await loadPeers([c]);
    return c;
  } catch {
    return null;
  }
}

export async function createChannel(name: string, topic: string, visibility: 'public' | 'private'): Promise<Conversation> {
  const c = await api<Conversation>('/conversations', { method: 'POST', body: { type: 'channel', name, topic, visibility } });
  putConversation({ unread_count: 0, last_read_seq: 0, ...c });
  return c;
}

export async function startConversation(userIds: string[], name?: string): Promise<Conversation> {
  const body = userIds.length === 1 ? { type: 'dm', member_ids: userIds } : { type: 'group', member_ids: userIds, name: name || undefined };
  const c = await api<Conversation>('/conversations', { method: 'POST', body });
  putConversation({ unread_count: 0, last_read_seq: 0, ...c });
  await loadPeers([c]);
  return c;
}

/** Joining a channel: its history is context, not news, so the read marker moves to the end
 * (here and on the server) and nothing shows as new. */
export async function joinChannel(id: string): Promise<Conversation> {
  const c = await api<Conversation>(`/conversations/${enc(id)}/join`, { method: 'POST' });
  putConversation({ ...c, unread_count: 0, last_read_seq: c.last_seq });
  if (c.last_seq > 0)
    await api<{ last_read_seq: number; unread_count: number }>(`/conversations/${enc(id)}/read`, { method: 'POST', body: { seq: c.last_seq } })
      .then((r) => patchConversation(id, () => readAnswer(r)))
      .catch(() => {});
  return conversations.value[id] ?? c;
}

export async function leaveConversation(id: string) {
  await api(`/conversations/${enc(id)}/leave`, { method: 'POST' });
  removeConversation(id);
}

function removeConversation(id: string) {
  const next = { ...conversations.value };
  delete next[id];
  conversations.value = next;
  timelines.delete(id);
  if (currentId.value === id) navigate(null);
}

// ---- navigation ---------------------------------------------------------------------------

export function navigate(id: string | null, replace = false) {
  const path = id ? `/c/${enc(id)}` : '/';
  if (location.pathname !== path) {
    if (replace) history.replaceState(null, '', path);
    else history.pushState(null, '', path);
  }
  openConversation(id);
}

export function permalinkPath(m: { conversation_id: string; id: string }): string {
  return `/c/${enc(m.conversation_id)}/m/${enc(m.id)}`;
}

export async function copyPermalink(m: Message) {
  const url = new URL(permalinkPath(m), location.origin).href;
  try {
    await navigator.clipboard.writeText(url);
    showToast('Link copied.');
  } catch {
    showToast(url);
  }
}

/** Opens a message by id (a permalink): its conversation, scrolled to it and highlighted. */
export async function openMessageById(id: string) {
  try {
    const m = await api<Message>(`/messages/${enc(id)}`);
    senders([m]);
    await jumpTo(m);
  } catch {
    showToast('That message is not available.');
  }
}

export function routeFromLocation() {
  const m = /^\/c\/([^/]+)(?:\/m\/([^/]+))?\/?$/.exec(location.pathname);
  openConversation(m ? decodeURIComponent(m[1]) : null);
  if (m?.[2]) void openMessageById(decodeURIComponent(m[2]));
}

export function openConversation(id: string | null) {
  if (currentId.value === id) return;
  holdUnread.clear();
  batch(() => {
    currentId.value = id;
    const p = panel.value;
    if (p && p.kind !== 'search' && p.kind !== 'saved') panel.value = null;
    if (id) {
      const c = conversations.value[id];
      const lr = c?.last_read_seq ?? 0;
      const unread = !!c && (c.unread_count ?? 0) > 0;
      dividerSeq.value = { ...dividerSeq.value, [id]: unread ? lr : Number.MAX_SAFE_INTEGER };
      // With unread messages the view opens at the first of them, not at the bottom: nothing
      // is marked read until the reader reaches the end.
      atBottom.value = !unread;
    }
  });
  if (!id) return;
  if (!conversations.value[id]) void fetchConversation(id);
  const tl = timelineOf(id);
  if (!tl.value.loaded && !tl.value.loading) void loadLatest(id);
  void loadPins(id);
}

// ---- messages -----------------------------------------------------------------------------

function senders(list: Message[]) {
  void ensureUsers(list.map((m) => m.sender_id));
}

export async function loadLatest(id: string) {
  const tl = timelineOf(id);
  tl.value = { ...tl.value, loading: true, error: undefined };
  try {
    const r = await api<{ messages: Message[]; has_more: boolean }>(`/conversations/${enc(id)}/messages?limit=${PAGE}`);
    senders(r.messages);
    const hadAny = tl.value.loaded;
    tl.value = {
      ...tl.value,
      messages: T.mergeMessages(tl.value.messages, r.messages),
      hasOlder: hadAny ? tl.value.hasOlder : r.has_more,
      loaded: true,
      loading: false,
    };
    // A page merged into an older held range may leave a hole: fill it from the held end.
    if (hadAny && !T.isContiguous(tl.value.messages)) await fillGaps(id);
    markReadIfViewing(id);
  } catch (e) {
    tl.value = { ...tl.value, loading: false, error: errorText(e) };
  }
}

async function fillGaps(id: string) {
  const tl = timelineOf(id);
  const list = tl.value.messages.filter((m) => !m.pending);
  for (let i = 1; i < list.length; i++) {
    if (list[i].seq !== list[i - 1].seq + 1) {
      await fetchAfter(id, list[i - 1].seq, list[i].seq);
    }
  }
}

export async function loadOlder(id: string): Promise<void> {
  const tl = timelineOf(id);
  const s = tl.value;
  if (s.loading || !s.hasOlder || !s.loaded) return;
  const before = T.firstSeq(s.messages);
  if (before <= 1 && s.messages.length) {
    tl.value = { ...s, hasOlder: false };
    return;
  }
  tl.value = { ...s, loading: true };
  try {
    const q = before ? `before_seq=${before}&` : '';
    const r = await api<{ messages: Message[]; has_more: boolean }>(`/conversations/${enc(id)}/messages?${q}limit=${PAGE}`);
    senders(r.messages);
    tl.value = { ...tl.value, messages: T.mergeMessages(tl.value.messages, r.messages), hasOlder: r.has_more, loading: false };
  } catch (e) {
    tl.value = { ...tl.value, loading: false, error: errorText(e) };
  }
}

const afterFetches = new Map<string, Promise<void>>();

/** Fetches everything after `after` (up to `until`, exclusive, when given) and merges it. */
export function fetchAfter(id: string, after: number, until?: number): Promise<void> {
  const key = `${id}:${after}:${until ?? ''}`;
  const running = afterFetches.get(key);
  if (running) return running;
  const p = (async () => {
    let from = after;
    for (let i = 0; i < 1000; i++) {
      const r = await api<{ messages: Message[]; has_more: boolean }>(
        `/conversations/${enc(id)}/messages?after_seq=${from}&limit=${CATCHUP_PAGE}`,
      );
      senders(r.messages);
      const tl = timelineOf(id);
      tl.value = { ...tl.value, messages: T.mergeMessages(tl.value.messages, r.messages) };
      for (const m of r.messages) if (m.thread_root_id) mergeIntoThread(m);
      if (!r.has_more || !r.messages.length) break;
      from = r.messages[r.messages.length - 1].seq;
      if (until !== undefined && from >= until - 1) break;
    }
  })().finally(() => afterFetches.delete(key));
  afterFetches.set(key, p);
  return p;
}

function mergeIntoThread(m: Message) {
  const th = threads.get(m.thread_root_id!);
  if (th && th.value.loaded) th.value = { ...th.value, messages: T.mergeMessages(th.value.messages, [m]) };
}

export async function loadThread(rootId: string) {
  const th = threadOf(rootId);
  try {
    let after = 0;
    let all: Message[] = [];
    for (let i = 0; i < 100; i++) {
      const r = await api<{ messages: Message[]; has_more: boolean }>(`/messages/${enc(rootId)}/replies?after_seq=${after}&limit=200`);
      all = all.concat(r.messages);
      if (!r.has_more || !r.messages.length) break;
      after = r.messages[r.messages.length - 1].seq;
    }
    senders(all);
    th.value = { messages: T.mergeMessages(th.value.messages, all), loaded: true };
  } catch (e) {
    showToast(`Could not load the thread: ${errorText(e)}`);
  }
}

export async function ensureMessage(id: string): Promise<Message | null> {
  for (const tl of timelines.values()) {
    const m = tl.value.messages.find((x) => x.id === id);
    if (m) return m;
  }
  try {
    const m = await api<Message>(`/messages/${enc(id)}`);
    senders([m]);
    return m;
  } catch {
    return null;
  }
}

export function openThread(conversationId: string, rootId: string) {
  panel.value = { kind: 'thread', rootId, conversationId };
  void loadThread(rootId);
}

function updateEverywhere(f: (list: ClientMessage[]) => ClientMessage[], conversationId: string) {
  const tl = timelines.get(conversationId);
  if (tl) {
    const next = f(tl.value.messages);
    if (next !== tl.value.messages) tl.value = { ...tl.value, messages: next };
  }
  for (const th of threads.values()) {
    if (!th.value.messages.length || th.value.messages[0].conversation_id !== conversationId) continue;
    const next = f(th.value.messages);
    if (next !== th.value.messages) th.value = { ...th.value, messages: next };
  }
  const p = pins.value[conversationId];
  if (p) {
    const next = f(p);
    if (next !== p) pins.value = { ...pins.value, [conversationId]: next };
  }
}

function pendingMessage(conversationId: string, text: string, threadRootId: string | null, attachments: FileObject[]): ClientMessage {
  const cmid = T.newClientMsgId();
  return {
    id: `local:${cmid}`,
    conversation_id: conversationId,
    seq: 0,
    sender_id: me.value!.id,
    text,
    client_msg_id: cmid,
    thread_root_id: threadRootId,
    reply_count: 0,
    reactions: [],
    attachments,
    created_at: Date.now(),
    edited_at: null,
    deleted: false,
    pending: 'sending',
  };
}

/** Optimistic send: the message shows at once; the server's answer (or event) replaces it.
 * Attachments are files already uploaded (their ids go with the message). */
export function sendMessage(conversationId: string, text: string, threadRootId: string | null = null, attachments: FileObject[] = []) {
  const p = pendingMessage(conversationId, text, threadRootId, attachments);
  const tl = timelineOf(conversationId);
  tl.value = { ...tl.value, messages: T.addPending(tl.value.messages, p) };
  if (threadRootId) {
    const th = threadOf(threadRootId);
    th.value = { ...th.value, messages: T.addPending(th.value.messages, p) };
  }
  void deliver(p);
  offerPushAfterSend();
}

/** After a reconnect: every send that failed goes again (same client_msg_id, so the server
 * keeps one copy whatever happened to the first try). */
export function retryFailedSends() {
  const seen = new Set<string>();
  for (const tl of timelines.values())
    for (const m of tl.value.messages)
      if (m.pending === 'failed' && !seen.has(m.client_msg_id)) {
        seen.add(m.client_msg_id);
        retrySend(m);
      }
}

export function retrySend(m: ClientMessage) {
  updatePending(m, 'sending');
  void deliver(m);
}

export function discardSend(m: ClientMessage) {
  const tl = timelineOf(m.conversation_id);
  tl.value = { ...tl.value, messages: T.removePending(tl.value.messages, m.client_msg_id) };
  if (m.thread_root_id) {
    const th = threadOf(m.thread_root_id);
    th.value = { ...th.value, messages: T.removePending(th.value.messages, m.client_msg_id) };
  }
}

function updatePending(m: ClientMessage, state: 'sending' | 'failed') {
  const tl = timelineOf(m.conversation_id);
  tl.value = { ...tl.value, messages: T.setPendingState(tl.value.messages, m.client_msg_id, state) };
  if (m.thread_root_id) {
    const th = threadOf(m.thread_root_id);
    th.value = { ...th.value, messages: T.setPendingState(th.value.messages, m.client_msg_id, state) };
  }
}

/** A slash command's answer (docs/bots.md): the text a "/trigger" message got instead of being
 * posted. */
export interface CommandAnswer {
  command: { trigger: string; text: string; visibility: 'ephemeral' | 'in_channel' };
  message?: Message;
}

async function deliver(p: ClientMessage) {
  try {
    const m = await api<Message | CommandAnswer>(`/conversations/${enc(p.conversation_id)}/messages`, {
      method: 'POST',
      body: {
        text: p.text,
        client_msg_id: p.client_msg_id,
        thread_root_id: p.thread_root_id ?? undefined,
        attachments: p.attachments?.length ? p.attachments.map((f) => f.id) : undefined,
      },
    });
    if ('command' in m) {
      // Nothing was posted under the command's text: the answer replaces it, shown to the caller
      // only (ephemeral) or posted in the conversation (in_channel).
      discardSend(p);
      if (m.message) onMessage(m.message);
      else showToast(`${m.command.trigger}: ${m.command.text}`);
      return;
    }
    onMessage(m);
  } catch (e) {
    updatePending(p, 'failed');
    if (e instanceof ApiError && e.status !== 0) showToast(`Message not sent: ${e.message}`);
  }
}

export async function editMessage(m: ClientMessage, text: string) {
  const updated = await api<Message>(`/messages/${enc(m.id)}`, { method: 'PATCH', body: { text } });
  updateEverywhere((l) => T.applyUpdate(l, updated), m.conversation_id);
}

export async function deleteMessage(m: ClientMessage) {
  await api(`/messages/${enc(m.id)}`, { method: 'DELETE' });
  updateEverywhere((l) => T.applyDelete(l, m.id), m.conversation_id);
}

export async function toggleReaction(m: ClientMessage, emoji: string) {
  const had = m.reactions.some((r) => r.emoji === emoji && r.me);
  updateEverywhere((l) => T.applyReaction(l, m.id, emoji, !had, true), m.conversation_id);
  try {
    await api(`/messages/${enc(m.id)}/reactions/${enc(emoji)}`, { method: had ? 'DELETE' : 'PUT' });
  } catch (e) {
    updateEverywhere((l) => T.applyReaction(l, m.id, emoji, had, true), m.conversation_id);
    showToast(`Reaction failed: ${errorText(e)}`);
  }
}

export async function loadPins(conversationId: string) {
  try {
    const r = await api<{ messages: Message[] }>(`/conversations/${enc(conversationId)}/pins`);
    senders(r.messages);
    pins.value = { ...pins.value, [conversationId]: r.messages };
  } catch {
    /* pins are best effort */
  }
}

export async function setPinned(m: ClientMessage, pinned: boolean) {
  await api(`/conversations/${enc(m.conversation_id)}/pins/${enc(m.id)}`, { method: pinned ? 'PUT' : 'DELETE' });
  await loadPins(m.conversation_id);
}

const pinReloads = new Map<string, ReturnType<typeof setTimeout>>();

/** pin.added / pin.removed: the list is re-read (it carries the messages), once per burst. */
function onPinEvent(conversationId: string) {
  if (!conversations.value[conversationId]) return;
  clearTimeout(pinReloads.get(conversationId));
  pinReloads.set(
    conversationId,
    setTimeout(() => {
      pinReloads.delete(conversationId);
      void loadPins(conversationId);
    }, 50),
  );
}

export function isPinned(m: ClientMessage): boolean {
  return (pins.value[m.conversation_id] ?? []).some((p) => p.id === m.id);
}

// ---- read state ---------------------------------------------------------------------------

/** Set by the timeline: whether the reader is at the bottom of the open conversation. */
export const atBottom = signal(true);

function viewing(id: string): boolean {
  return currentId.value === id && document.visibilityState === 'visible' && atBottom.value;
}

export function markReadIfViewing(id: string) {
  if (!viewing(id) || holdUnread.has(id)) return;
  markRead(id);
}

/** Conversations marked unread while open: not marked read again until left and reopened. */
const holdUnread = new Set<string>();

/** The counts a `/read` or `/unread` answer (or a `read.updated` event) carries. */
function readAnswer(r: { last_read_seq: number; unread_count?: number; mention_count?: number }): Partial<Conversation> {
  const out: Partial<Conversation> = { last_read_seq: r.last_read_seq };
  if (typeof r.unread_count === 'number') out.unread_count = r.unread_count;
  if (typeof r.mention_count === 'number') out.mention_count = r.mention_count;
  return out;
}

/** "Mark as unread" on a message: the server's read marker goes back to just before it
 * (`POST …/unread`), so the conversation shows as unread from there on every device. */
export async function markUnreadFrom(m: Message) {
  const id = m.conversation_id;
  const seq = m.seq - 1;
  const before = conversations.value[id];
  holdUnread.add(id);
  patchConversation(id, (c) => ({ last_read_seq: seq, unread_count: Math.max(1, c.unread_count ?? 0) }));
  dividerSeq.value = { ...dividerSeq.value, [id]: seq };
  try {
    const r = await api<{ conversation_id: string; last_read_seq: number; unread_count: number; mention_count?: number }>(
      `/conversations/${enc(id)}/unread`,
      { method: 'POST', body: { seq: m.seq } },
    );
    patchConversation(id, () => readAnswer(r));
    tabs.post({ type: 'unread', conversation_id: id, last_read_seq: r.last_read_seq, unread_count: r.unread_count, mention_count: r.mention_count });
  } catch (e) {
    holdUnread.delete(id);
    if (before) patchConversation(id, () => ({ last_read_seq: before.last_read_seq, unread_count: before.unread_count, mention_count: before.mention_count }));
    showToast(`Could not mark as unread: ${errorText(e)}`);
  }
}

/** Marks a conversation read up to its newest held message (the bar's "Mark as read"). */
export function markRead(id: string) {
  const c = conversations.value[id];
  const seq = Math.max(T.lastSeq(timelineOf(id).value.messages), c?.last_seq ?? 0);
  if (!c || !seq) return;
  if ((c.last_read_seq ?? 0) >= seq && !(c.unread_count ?? 0)) return;
  patchConversation(id, () => ({ last_read_seq: Math.max(seq, c.last_read_seq ?? 0), unread_count: 0, mention_count: 0 }));
  tabs.post({ type: 'read', conversation_id: id, last_read_seq: seq, unread_count: 0 });
  api<{ last_read_seq: number; unread_count: number; mention_count?: number }>(`/conversations/${enc(id)}/read`, { method: 'POST', body: { seq } })
    .then((r) => {
      patchConversation(id, () => readAnswer(r));
      tabs.post({ type: 'read', conversation_id: id, last_read_seq: r.last_read_seq, unread_count: r.unread_count });
    })
    .catch(() => {});
}

/** A read marker moved in another tab of this browser (the server tells only other sessions). */
function onReadElsewhere(id: string, lastRead: number, unread: number) {
  const c = conversations.value[id];
  if (!c || (c.last_read_seq ?? 0) > lastRead) return;
  patchConversation(id, () => ({ last_read_seq: lastRead, unread_count: unread }));
}

// ---- other tabs of this browser --------------------------------------------------------------

type TabMessage =
  | { type: 'read'; conversation_id: string; last_read_seq: number; unread_count: number }
  | { type: 'unread'; conversation_id: string; last_read_seq: number; unread_count: number; mention_count?: number }
  | { type: 'star'; conversation_id: string; starred: boolean }
  | { type: 'saved'; message_id: string; conversation_id: string; saved: boolean }
  | { type: 'signed-out' };

/** The tabs of one browser share a session (one refresh token), so the server sees them as
 * one: a BroadcastChannel carries what it cannot (read markers, sign-out) between them. */
const tabs = (() => {
  let ch: BroadcastChannel | null = null;
  try {
    ch = typeof BroadcastChannel === 'undefined' ? null : new BroadcastChannel('parley');
  } catch {
    ch = null;
  }
  ch?.addEventListener('message', (e: MessageEvent<TabMessage>) => {
    const d = e.data;
    if (authState.value !== 'signed-in') return;
    if (d.type === 'read') onReadElsewhere(d.conversation_id, d.last_read_seq, d.unread_count);
    else if (d.type === 'unread') patchConversation(d.conversation_id, () => readAnswer(d));
    else if (d.type === 'star') patchConversation(d.conversation_id, () => ({ starred: d.starred }));
    else if (d.type === 'saved') void onSavedEvent(d);
    else if (d.type === 'signed-out') {
      signedOut(false);
      history.replaceState(null, '', '/');
    }
  });
  return { post: (m: TabMessage) => ch?.postMessage(m) };
})();

// ---- typing -------------------------------------------------------------------------------

const lastTypingSent = new Map<string, number>();

export function notifyTyping(conversationId: string) {
  const now = Date.now();
  if (now - (lastTypingSent.get(conversationId) ?? 0) < 3000) return;
  if (socket.send({ type: 'typing', conversation_id: conversationId })) lastTypingSent.set(conversationId, now);
}

function setTyping(conversationId: string, userId: string, until: number | null) {
  const conv = { ...(typing.value[conversationId] ?? {}) };
  if (until === null) {
    if (!(userId in conv)) return;
    delete conv[userId];
  } else conv[userId] = until;
  typing.value = { ...typing.value, [conversationId]: conv };
}

setInterval(() => {
  const now = Date.now();
  for (const [cid, who] of Object.entries(typing.value))
    for (const [uid, until] of Object.entries(who)) if (until < now) setTyping(cid, uid, null);
}, 1000);

// ---- drafts -------------------------------------------------------------------------------

function draftKey(id: string) {
  return `parley.draft.${me.value?.id ?? ''}.${id}`;
}

export function getDraft(id: string): string {
  try {
    return localStorage.getItem(draftKey(id)) ?? '';
  } catch {
    return '';
  }
}

export function setDraft(id: string, text: string) {
  try {
    if (text) localStorage.setItem(draftKey(id), text);
    else localStorage.removeItem(draftKey(id));
  } catch {
    /* ignore */
  }
}

// ---- events -------------------------------------------------------------------------------

function onMessage(m: Message) {
  senders([m]);
  const c = conversations.value[m.conversation_id];
  // A conversation fetched after this message was stored already counts it as unread.
  const counted = !!c && m.seq <= c.last_seq;
  if (!c) {
    void fetchConversation(m.conversation_id);
  } else {
    patchConversation(m.conversation_id, (c) => ({
      last_seq: Math.max(c.last_seq, m.seq),
      last_message_at: Math.max(c.last_message_at, m.created_at),
    }));
  }
  const tl = timelines.get(m.conversation_id);
  let isNew = true;
  if (tl && tl.value.loaded) {
    const held = T.lastSeq(tl.value.messages);
    isNew = !tl.value.messages.some((x) => x.id === m.id);
    tl.value = { ...tl.value, messages: T.mergeMessages(tl.value.messages, [m]) };
    // A gap (missed events): fetch what lies between.
    if (held && m.seq > held + 1) void fetchAfter(m.conversation_id, held, m.seq);
  }
  if (m.thread_root_id) {
    const th = threads.get(m.thread_root_id);
    if (th && th.value.messages.some((x) => x.id === m.id)) isNew = false;
    mergeIntoThread(m);
    if (isNew) updateEverywhere((l) => T.bumpReplyCount(l, m.thread_root_id!), m.conversation_id);
  }
  setTyping(m.conversation_id, m.sender_id, null);
  if (m.sender_id !== me.value?.id && isNew && c && !counted) {
    if (viewing(m.conversation_id)) markReadIfViewing(m.conversation_id);
    else if (!m.thread_root_id && m.seq > (conversations.value[m.conversation_id]?.last_read_seq ?? 0)) {
      const mentioned = mentionsMe(m);
      patchConversation(m.conversation_id, (c) => ({
        unread_count: (c.unread_count ?? 0) + 1,
        mention_count: (c.mention_count ?? 0) + (mentioned ? 1 : 0),
      }));
    }
  }
}

// Other parts of the app that follow server events and connections (calls.ts), without the
// store knowing them.
const eventListeners: ((e: WsEvent) => void)[] = [];
const readyListeners: (() => void)[] = [];
export function onServerEvent(f: (e: WsEvent) => void) {
  eventListeners.push(f);
}
export function onSocketReady(f: () => void) {
  readyListeners.push(f);
}
/** This sign-in's session id (from `ready`): a call participant is a user's session. */
export const sessionId = signal<string | null>(null);

function handleEvent(e: WsEvent) {
  const d = e.data;
  for (const f of eventListeners) f(e);
  switch (e.event) {
    case 'message.created':
      onMessage(d as Message);
      break;
    case 'message.updated':
      updateEverywhere((l) => T.applyUpdate(l, d as Message), d.conversation_id);
      break;
    case 'message.deleted':
      updateEverywhere((l) => T.applyDelete(l, d.id), d.conversation_id);
      break;
    case 'messages.expired':
      updateEverywhere((l) => T.applyExpired(l, d.message_ids as string[]), d.conversation_id);
      break;
    case 'reaction.added':
    case 'reaction.removed':
      updateEverywhere(
        (l) => T.applyReaction(l, d.message_id, d.emoji, e.event === 'reaction.added', d.user_id === me.value?.id),
        d.conversation_id,
      );
      break;
    case 'conversation.created':
      putConversation(d as Conversation);
      void fetchConversation(d.id);
      break;
    case 'conversation.updated':
      putConversation(d as Conversation);
      break;
    case 'member.joined':
    case 'member.left': {
      const cid = d.conversation_id ?? d.conversation?.id;
      const uid = d.user_id ?? d.member?.user_id;
      if (e.event === 'member.left' && uid && uid === me.value?.id) {
        if (cid) removeConversation(cid);
        break;
      }
      if (cid) {
        if (members.value[cid]) void loadMembers(cid).catch(() => {});
        void fetchConversation(cid);
      }
      break;
    }
    case 'read.updated':
      // The marker may move backwards ("Mark as unread" elsewhere): the server's word goes,
      // and the counts are re-read with the conversation.
      patchConversation(d.conversation_id, () => readAnswer(d));
      void fetchConversation(d.conversation_id);
      break;
    case 'star.updated':
      patchConversation(d.conversation_id, () => ({ starred: !!d.starred }));
      break;
    case 'saved.updated':
      void onSavedEvent(d);
      break;
    case 'pin.added':
    case 'pin.removed': {
      // Shown at once from the event; the list (with the message) is re-read behind it.
      const list = pins.value[d.conversation_id];
      if (list && e.event === 'pin.removed') pins.value = { ...pins.value, [d.conversation_id]: list.filter((m) => m.id !== d.message_id) };
      if (list && e.event === 'pin.added' && !list.some((m) => m.id === d.message_id)) {
        const held = timelines.get(d.conversation_id)?.value.messages.find((m) => m.id === d.message_id);
        if (held) pins.value = { ...pins.value, [d.conversation_id]: [held, ...list] };
      }
      onPinEvent(d.conversation_id);
      break;
    }
    case 'typing':
      if (d.user_id !== me.value?.id) {
        void ensureUsers([d.user_id]);
        setTyping(d.conversation_id, d.user_id, Date.now() + 6000);
      }
      break;
    case 'presence.changed':
      presence.value = withPresence(presence.value, [d]);
      break;
    case 'presence.batch': // several contacts' changes in one frame (many connecting at once)
      presence.value = withPresence(presence.value, Array.isArray(d.presence) ? d.presence : []);
      break;
    case 'user.updated':
      rememberUsers([d as User]);
      // The event is the profile others see: my own settings (language) are not in it.
      if (d.id === me.value?.id) me.value = { ...(d as User), language: me.value?.language };
      break;
  }
}

// ---- connection and catch-up --------------------------------------------------------------

let syncing: Promise<void> | null = null;
let syncAgain = false;

/** After each `ready`: relist conversations and fetch what moved past what is held. */
export function catchUp(): Promise<void> {
  if (syncing) {
    syncAgain = true;
    return syncing;
  }
  syncing = (async () => {
    do {
      syncAgain = false;
      const list = await listAllConversations();
      const next: Record<string, Conversation> = {};
      for (const c of list) next[c.id] = c;
      conversations.value = next;
      const work: Promise<unknown>[] = [loadPeers(list), loadSaved()];
      for (const c of list) {
        const tl = timelines.get(c.id);
        if (!tl || !tl.value.loaded) continue;
        const held = T.lastSeq(tl.value.messages);
        if (c.last_seq > held) work.push(fetchAfter(c.id, held));
      }
      // Edits, deletes and reactions missed while away: refresh the open conversation's page.
      if (currentId.value && next[currentId.value] && timelines.get(currentId.value)?.value.loaded) work.push(loadLatest(currentId.value));
      for (const [rootId, th] of threads) if (th.value.loaded) work.push(loadThread(rootId));
      await Promise.all(work.map((p) => p.catch(() => {})));
      if (currentId.value) markReadIfViewing(currentId.value);
    } while (syncAgain);
  })()
    .catch(() => {})
    .finally(() => {
      syncing = null;
    });
  return syncing;
}

export const socket = new Socket({
  onStatus: (s) => {
    wsStatus.value = s;
  },
  onReady: (info) => {
    sessionId.value = info.session_id;
    for (const f of readyListeners) f();
    everConnected.value = true;
    void catchUp().then(retryFailedSends);
    const chosen = myPresence.value;
    if (chosen !== 'online') void api('/users/me/presence', { method: 'PUT', body: { status: chosen } }).catch(() => {});
  },
  onEvent: handleEvent,
  onAuthLost: () => signedOut(),
});

document.addEventListener('visibilitychange', () => {
  if (currentId.value) markReadIfViewing(currentId.value);
});

// ---- auth ---------------------------------------------------------------------------------

function resetState() {
  batch(() => {
    me.value = null;
    conversations.value = {};
    users.value = {};
    presence.value = {};
    members.value = {};
    typing.value = {};
    pins.value = {};
    currentId.value = null;
    panel.value = null;
    dialog.value = null;
    everConnected.value = false;
    dividerSeq.value = {};
    highlightId.value = null;
    toast.value = null;
    emojiTarget.value = null;
    totpEnabled.value = null;
    reauthPrompt.value?.resolve(false);
    reauthPrompt.value = null;
    atBottom.value = true;
    saved.value = [];
    savedLoaded.value = false;
  });
  timelines.clear();
  threads.clear();
  userFetches.clear();
  clearAllUploads();
  fileLinks.clear();
  lastTypingSent.clear();
  for (const t of pinReloads.values()) clearTimeout(t);
  pinReloads.clear();
}

/** Keys this app keeps across sign-outs: device preferences, nothing about the account. */
const DEVICE_KEYS = new Set(['parley.theme']);

/** Everything the app stored for the account goes at sign-out: drafts, presence choice,
 * recent emoji, any cache under our names (localStorage, sessionStorage, IndexedDB, caches
 * other than the app shell, which holds no user data). */
export async function clearStoredData() {
  for (const store of [localStorage, sessionStorage]) {
    try {
      for (let i = store.length - 1; i >= 0; i--) {
        const k = store.key(i);
        if (k && k.startsWith('parley.') && !DEVICE_KEYS.has(k)) store.removeItem(k);
      }
    } catch {
      /* storage unavailable */
    }
  }
  try {
    const dbs = (await indexedDB.databases?.()) ?? [];
    await Promise.all(dbs.filter((d) => d.name?.startsWith('parley')).map((d) => new Promise((r) => {
      const req = indexedDB.deleteDatabase(d.name!);
      req.onsuccess = req.onerror = req.onblocked = () => r(null);
    })));
  } catch {
    /* no IndexedDB */
  }
  try {
    const keys = (await globalThis.caches?.keys()) ?? [];
    await Promise.all(keys.filter((k) => k.startsWith('parley-data')).map((k) => caches.delete(k)));
  } catch {
    /* no Cache API */
  }
}

function signedOut(tellOtherTabs = true) {
  resetAi();
  socket.stop();
  clearTokens();
  resetState();
  void clearStoredData();
  if (tellOtherTabs) tabs.post({ type: 'signed-out' });
  authState.value = 'signed-out';
}

setSignedOutHandler(() => {
  if (authState.value === 'signed-in') signedOut();
});

async function startSession(u: User) {
  me.value = u;
  rememberUsers([u]);
  try {
    const t = localStorage.getItem(`parley.totp.${u.id}`);
    totpEnabled.value = t === 'on' ? true : t === 'off' ? false : null;
  } catch {
    totpEnabled.value = null;
  }
  const chosen = localStorage.getItem('parley.presence') as ChosenPresence | null;
  myPresence.value = chosen && ['online', 'away', 'dnd', 'invisible'].includes(chosen) ? chosen : 'online';
  authState.value = 'signed-in';
  void loadCapabilities();
  socket.start();
  try {
    await catchUp();
  } finally {
    routeFromLocation();
  }
}

/** Why the last single sign-on did not sign in ("" when it did, or none was tried). */
export const ssoError = signal('');

/** Back from the server's sign-on callback: `?sso=done` means a one-time cookie waits to be
 * exchanged for tokens; `?sso_error=` says why not. The query is taken out of the address. */
async function finishSingleSignOn(): Promise<boolean> {
  const q = new URLSearchParams(location.search);
  const done = q.get('sso') === 'done';
  const failed = q.get('sso_error');
  if (!done && !failed) return false;
  history.replaceState(null, '', location.pathname + location.hash);
  if (failed) {
    ssoError.value = ssoErrorText(failed, q.get('reason') ?? '');
    return false;
  }
  try {
    const a = await ssoExchange();
    await startSession(a.user);
    return true;
  } catch (e) {
    ssoError.value =
      e instanceof ApiError && e.code === 'deactivated'
        ? 'This account has been deactivated by an administrator.'
        : e instanceof ApiError && e.code === 'unauthorized'
          ? 'That sign-in expired. Start again.'
          : friendlyError(e as ApiError);
    return false;
  }
}

export async function restoreSession() {
  if (await finishSingleSignOn()) return;
  if (!hasSession()) {
    authState.value = 'signed-out';
    return;
  }
  try {
    if (!(await refresh())) {
      authState.value = 'signed-out';
      return;
    }
    await startSession(await api<User>('/users/me'));
  } catch {
    // Server unreachable: keep the refresh token, and try again shortly.
    authState.value = 'loading';
    setTimeout(restoreSession, 3000);
  }
}

export function rememberTotp(on: boolean) {
  totpEnabled.value = on;
  try {
    if (me.value) localStorage.setItem(`parley.totp.${me.value.id}`, on ? 'on' : 'off');
  } catch {
    /* ignore */
  }
}

export async function signIn(username: string, password: string, totp?: string) {
  const a = await login(username, password, totp);
  await startSession(a.user);
  // A sign-in that needed no code says 2FA is off; one that did, that it is on.
  rememberTotp(!!totp);
}

export async function signUp(
  username: string,
  password: string,
  displayName?: string,
  extra: { email?: string; invite_token?: string } = {},
) {
  const a = await register(username, password, displayName, extra);
  await startSession(a.user);
  rememberTotp(false);
}

export async function signOut() {
  try {
    await logout();
  } catch {
    /* signed out locally anyway */
  }
  signedOut();
  history.replaceState(null, '', '/');
}

// ---- account security ---------------------------------------------------------------------

let pendingReauth: Promise<boolean> | null = null;

/** Opens the re-auth dialog (one at a time: concurrent asks share it). */
function askReauth(): Promise<boolean> {
  if (!pendingReauth) {
    pendingReauth = new Promise<boolean>((resolve) => {
      reauthPrompt.value = {
        resolve: (ok) => {
          reauthPrompt.value = null;
          pendingReauth = null;
          resolve(ok);
        },
      };
    });
  }
  return pendingReauth;
}

/** Runs a sensitive action; on 403 `reauth_required` asks for the password (or a code) and
 * retries it once. Rejects with `ReauthCancelled` when the person cancels. */
export function withReauth<T>(action: () => Promise<T>): Promise<T> {
  return withReauthUsing(action, askReauth);
}

/** `POST /auth/reauth`: the session counts as freshly authenticated for 10 minutes. */
export async function reauthenticate(body: { password: string } | { totp_code: string }): Promise<void> {
  await api('/auth/reauth', { method: 'POST', body });
}

/** `POST /auth/password`: every other session ends; this one stays. */
export async function changePassword(current_password: string, new_password: string): Promise<void> {
  await api('/auth/password', { method: 'POST', body: { current_password, new_password } });
}

/** `POST /auth/logout-all`, then the same local sign-out as `signOut` (stored data cleared). */
export async function signOutEverywhere(): Promise<void> {
  await api('/auth/logout-all', { method: 'POST' });
  signedOut();
  history.replaceState(null, '', '/');
}

// ---- jump to a message --------------------------------------------------------------------

/** Opens a message's conversation with the message loaded, scrolled to and highlighted. */
export async function jumpTo(m: Message) {
  if (currentId.value !== m.conversation_id) navigate(m.conversation_id);
  if (m.thread_root_id) {
    openThread(m.conversation_id, m.thread_root_id);
    highlightId.value = m.id;
    return;
  }
  const tl = timelineOf(m.conversation_id);
  for (let i = 0; i < 200; i++) {
    const s = tl.value;
    if (s.loaded && !s.loading && (T.firstSeq(s.messages) <= m.seq || !s.hasOlder)) break;
    if (s.loaded && !s.loading) await loadOlder(m.conversation_id);
    else await new Promise((r) => setTimeout(r, 50));
  }
  highlightId.value = m.id;
}
