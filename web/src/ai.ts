// AI on the premises (docs/ai.md): what the server's engines can do, translations of messages
// (on demand, and automatically in conversations where the user turned auto-translate on),
// smart-reply suggestions for the open conversation, and the assistant's user id.
import { signal } from '@preact/signals';
import { api, ApiError, enc } from './api';
import type { Message } from './types';

export interface Capabilities {
  translate: { pairs: string[] };
  transcribe: { languages: string[] };
  smart_replies: boolean;
  sentiment: boolean;
  assistant: { user_id: string };
  external_engines: string[];
}

export interface Translation {
  text: string;
  from: string;
  to: string;
  engine: string;
}

/** Per message: its translation, whether it is shown, or the error. */
export interface TranslationState {
  status: 'loading' | 'done' | 'error';
  result?: Translation;
  error?: string;
  shown: boolean;
}

export const capabilities = signal<Capabilities | null>(null);
export const translations = signal<Record<string, TranslationState>>({});
/** conversation id -> whether auto-translate is on (for the signed-in user). */
export const autoTranslate = signal<Record<string, boolean>>({});
/** conversation id -> the suggestions for its latest message from someone else. */
export const smartReplies = signal<Record<string, { forId: string; replies: string[] }>>({});

const LANGUAGE_NAMES: Record<string, string> = {
  en: 'English',
  es: 'Spanish',
  ca: 'Catalan',
  fr: 'French',
  pt: 'Portuguese',
  de: 'German',
  it: 'Italian',
  nl: 'Dutch',
  gl: 'Galician',
};

export function languageName(code: string): string {
  return LANGUAGE_NAMES[code] ?? code;
}

/** Every language some installed pair translates into, for the profile's language picker. */
export function targetLanguages(c: Capabilities | null): string[] {
  const out = new Set<string>(['en']);
  for (const p of c?.translate.pairs ?? []) out.add(p.split('-')[1]);
  return [...out].sort();
}

export async function loadCapabilities() {
  try {
    capabilities.value = await api<Capabilities>('/ai/capabilities');
  } catch {
    capabilities.value = null;
  }
}

export function resetAi() {
  capabilities.value = null;
  translations.value = {};
  autoTranslate.value = {};
  smartReplies.value = {};
}

function setTranslation(id: string, s: TranslationState) {
  translations.value = { ...translations.value, [id]: s };
}

/** Translate (or show again) a message into the user's language. quiet: no error shown (auto). */
export async function translateMessage(m: Message, quiet = false) {
  const cur = translations.value[m.id];
  if (cur?.status === 'done') {
    setTranslation(m.id, { ...cur, shown: true });
    return;
  }
  if (cur?.status === 'loading') return;
  setTranslation(m.id, { status: 'loading', shown: true });
  try {
    const result = await api<Translation>(`/messages/${enc(m.id)}/translate`, { method: 'POST', body: {} });
    // Already in the reader's language: nothing to show.
    if (result.engine === 'none' && quiet) {
      const { [m.id]: _, ...rest } = translations.value;
      translations.value = rest;
      return;
    }
    setTranslation(m.id, { status: 'done', result, shown: true });
  } catch (e) {
    if (quiet) {
      const { [m.id]: _, ...rest } = translations.value;
      translations.value = rest;
      return;
    }
    setTranslation(m.id, { status: 'error', error: e instanceof ApiError ? e.message : 'Translation failed', shown: true });
  }
}

export function showOriginal(id: string) {
  const cur = translations.value[id];
  if (cur) setTranslation(id, { ...cur, shown: false });
}

// Automatic translations go one at a time, so opening a busy conversation does not spend the
// user's AI quota in one burst.
const autoQueue: Message[] = [];
let autoRunning = false;
export function autoTranslateMessage(m: Message) {
  if (translations.value[m.id] || autoQueue.some((q) => q.id === m.id)) return;
  autoQueue.push(m);
  if (autoRunning) return;
  autoRunning = true;
  void (async () => {
    while (autoQueue.length) await translateMessage(autoQueue.shift()!, true);
    autoRunning = false;
  })();
}

export async function loadAutoTranslate(conversationId: string) {
  if (conversationId in autoTranslate.value) return;
  try {
    const r = await api<{ enabled: boolean }>(`/conversations/${enc(conversationId)}/auto-translate`);
    autoTranslate.value = { ...autoTranslate.value, [conversationId]: r.enabled };
  } catch {
    /* not a member any more, or AI off: leave it unset */
  }
}

export async function setAutoTranslate(conversationId: string, enabled: boolean) {
  const r = await api<{ enabled: boolean }>(`/conversations/${enc(conversationId)}/auto-translate`, { method: 'PUT', body: { enabled } });
  autoTranslate.value = { ...autoTranslate.value, [conversationId]: r.enabled };
}

/** Suggestions for the latest message from someone else (forId), fetched once per message. */
export async function loadSmartReplies(conversationId: string, forId: string) {
  const cur = smartReplies.value[conversationId];
  if (cur?.forId === forId) return;
  smartReplies.value = { ...smartReplies.value, [conversationId]: { forId, replies: [] } };
  try {
    const r = await api<{ replies: string[] }>(`/conversations/${enc(conversationId)}/smart-replies`);
    if (smartReplies.value[conversationId]?.forId === forId)
      smartReplies.value = { ...smartReplies.value, [conversationId]: { forId, replies: r.replies } };
  } catch {
    /* suggestions are optional: quota or engine trouble shows nothing */
  }
}

export function clearSmartReplies(conversationId: string) {
  const cur = smartReplies.value[conversationId];
  if (cur) smartReplies.value = { ...smartReplies.value, [conversationId]: { ...cur, replies: [] } };
}
