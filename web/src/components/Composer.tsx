// The message box: Enter sends, Shift+Enter adds a line, drafts are kept per conversation
// (and per thread), typing is announced at most every 3 s. Typing `@` suggests people (members
// of the conversation first, then the directory); `:` and two letters suggest emoji by name; `/`
// at the start of the text suggests the server's slash commands.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { Bold, Code, Hash, Italic, Link, List, ListOrdered, Paperclip, Quote, Smile, SquareSlash, Strikethrough } from 'lucide-preact';
import { api, enc } from '../api';
import { fuzzyScore } from '../format';
import { conversations, getDraft, loadMembers, me, members, notifyTyping, openEmojiPicker, rememberUsers, sendMessage, setDraft, showToast, timelineOf, users } from '../state/store';
import { addFiles, allUploaded, pendingFiles, takeFiles } from '../uploads';
import { MAX_ATTACHMENTS, pastedName } from '../files';
import { AttachmentTray } from './AttachmentTray';
import { VoiceRecorder } from './VoiceRecorder';
import type { Conversation, User } from '../types';
import { Avatar } from './Avatar';
import { loadEmoji } from './EmojiPicker';
import { editingId } from './MessageItem';
import { scrollToLatest } from './Timeline';

const MAX = 16_000;

type Suggestion =
  | { kind: 'user'; u: User; member: boolean }
  | { kind: 'emoji'; u: string; code: string; label: string }
  | { kind: 'channel'; c: Conversation; joined: boolean }
  | { kind: 'command'; trigger: string };

interface Trigger {
  kind: '@' | ':' | '#' | '/';
  query: string;
  start: number; // index of the trigger character
}

/** The `@name` or `:code` being typed just before the caret, if any. */
export function findTrigger(text: string, caret: number): Trigger | null {
  const before = text.slice(0, caret);
  // A command is the first word of the message.
  const slash = /^\/([A-Za-z0-9_-]{0,32})$/.exec(before);
  if (slash) return { kind: '/', query: slash[1].toLowerCase(), start: 0 };
  const at = /(^|[\s(])@([\p{L}\p{N}._-]{0,32})$/u.exec(before);
  if (at) return { kind: '@', query: at[2], start: caret - at[2].length - 1 };
  const hash = /(^|[\s(])#([\p{L}\p{N}_-]{0,80})$/u.exec(before);
  if (hash) return { kind: '#', query: hash[2], start: caret - hash[2].length - 1 };
  const colon = /(^|[\s(]):([a-z0-9_+-]{2,30})$/.exec(before);
  if (colon) return { kind: ':', query: colon[2], start: caret - colon[2].length - 1 };
  return null;
}

let composerSeq = 0;

export function Composer(props: { conversationId: string; threadRootId?: string; label: string; placeholder: string; autoFocus?: boolean }) {
  const key = props.threadRootId ? `thread.${props.threadRootId}` : props.conversationId;
  const [text, setText] = useState(() => getDraft(key));
  const [trigger, setTrigger] = useState<Trigger | null>(null);
  const [sel, setSel] = useState(0);
  const [directory, setDirectory] = useState<User[]>([]);
  const [emoji, setEmoji] = useState<Suggestion[]>([]);
  const ref = useRef<HTMLTextAreaElement>(null);
  const idBase = useMemo(() => `cmp${++composerSeq}`, []);

  const resize = () => {
    const el = ref.current;
    if (!el) return;
    el.style.height = 'auto';
    el.style.height = `${Math.min(el.scrollHeight, 200)}px`;
  };
  useEffect(() => {
    resize();
    // Never from inside an open dialog: a composer that mounts late (its conversation's data
    // arriving after the user already pressed Ctrl+K) must not take the keys typed there.
    const inDialog = document.activeElement?.closest('dialog, [role="dialog"], [aria-modal="true"]');
    if (props.autoFocus && !inDialog && matchMedia('(pointer: fine)').matches) ref.current?.focus();
  }, []);

  // People: the conversation's members are loaded once a mention starts.
  const memberIds = members.value[props.conversationId];
  useEffect(() => {
    if (trigger?.kind === '@' && !memberIds) void loadMembers(props.conversationId).catch(() => {});
  }, [trigger?.kind, memberIds]);
  useEffect(() => {
    if (trigger?.kind !== '@') return;
    const t = setTimeout(() => {
      api<{ users: User[] }>(`/users?limit=10${trigger.query ? `&q=${enc(trigger.query)}` : ''}`)
        .then((r) => {
          rememberUsers(r.users);
          setDirectory(r.users);
        })
        .catch(() => setDirectory([]));
    }, 100);
    return () => clearTimeout(t);
  }, [trigger?.kind, trigger?.query]);
  useEffect(() => {
    if (trigger?.kind !== ':') return;
    let live = true;
    void loadEmoji().then((m) => {
      if (live) setEmoji(m.searchEmoji(trigger.query, 8).map((e) => ({ kind: 'emoji', u: e.u, code: e.codes[0] ?? e.label.replace(/\s+/g, '_'), label: e.label })));
    });
    return () => {
      live = false;
    };
  }, [trigger?.kind, trigger?.query]);

  // Slash commands: the server's list, loaded when a message starts with "/".
  const [commands, setCommands] = useState<string[] | null>(null);
  useEffect(() => {
    if (trigger?.kind !== '/' || commands) return;
    api<{ commands: { trigger: string }[] }>('/commands')
      .then((r) => setCommands(r.commands.map((c) => c.trigger.replace(/^\//, ''))))
      .catch(() => setCommands([]));
  }, [trigger?.kind, commands]);

  // Channels: the ones I am in first, then public ones from the directory.
  const [publicChannels, setPublicChannels] = useState<Conversation[]>([]);
  useEffect(() => {
    if (trigger?.kind !== '#') return;
    const t = setTimeout(() => {
      api<{ channels: Conversation[] }>(`/channels?limit=20${trigger.query ? `&q=${enc(trigger.query)}` : ''}`)
        .then((r) => setPublicChannels(r.channels))
        .catch(() => setPublicChannels([]));
    }, 100);
    return () => clearTimeout(t);
  }, [trigger?.kind, trigger?.query]);

  const suggestions = useMemo<Suggestion[]>(() => {
    if (!trigger) return [];
    if (trigger.kind === ':') return emoji;
    if (trigger.kind === '/')
      return (commands ?? [])
        .filter((c) => c.startsWith(trigger.query))
        .slice(0, 8)
        .map((c) => ({ kind: 'command', trigger: c }));
    if (trigger.kind === '#') {
      const q = trigger.query;
      const out: (Suggestion & { s: number })[] = [];
      const seen = new Set<string>();
      for (const c of Object.values(conversations.value)) {
        if (c.type !== 'channel') continue;
        const s = q ? fuzzyScore(q, c.name) : 1;
        if (s > 0) out.push({ kind: 'channel', c, joined: true, s: s + 1000 });
        seen.add(c.id);
      }
      for (const c of publicChannels) {
        if (seen.has(c.id)) continue;
        const s = q ? fuzzyScore(q, c.name) : 1;
        if (s > 0) out.push({ kind: 'channel', c, joined: false, s });
      }
      return out.sort((a, b) => b.s - a.s).slice(0, 8);
    }
    const q = trigger.query;
    const mine = me.value?.id;
    const inConv = new Set(memberIds ?? []);
    const score = (u: User) => (q ? Math.max(fuzzyScore(q, u.username), fuzzyScore(q, u.display_name || '')) : 1);
    const out: (Suggestion & { s: number })[] = [];
    for (const id of inConv) {
      const u = users.value[id];
      if (!u || id === mine) continue;
      const s = score(u);
      if (s > 0) out.push({ kind: 'user', u, member: true, s: s + 1000 });
    }
    for (const u of directory) {
      if (inConv.has(u.id) || u.id === mine) continue;
      const s = score(u);
      if (s > 0) out.push({ kind: 'user', u, member: false, s });
    }
    return out.sort((a, b) => b.s - a.s).slice(0, 8);
  }, [trigger, memberIds, directory, emoji, users.value, publicChannels, conversations.value, commands]);

  useEffect(() => setSel(0), [trigger?.kind, trigger?.query]);
  const open = !!trigger && suggestions.length > 0;

  const updateTrigger = () => {
    const el = ref.current;
    if (!el) return;
    setTrigger(el.selectionStart === el.selectionEnd ? findTrigger(el.value, el.selectionStart) : null);
  };

  const replaceRange = (start: number, end: number, insert: string) => {
    const next = text.slice(0, start) + insert + text.slice(end);
    setText(next);
    setDraft(key, next);
    const caret = start + insert.length;
    requestAnimationFrame(() => {
      const el = ref.current;
      if (!el) return;
      el.focus();
      el.setSelectionRange(caret, caret);
      resize();
    });
  };

  const accept = (s: Suggestion | undefined) => {
    const el = ref.current;
    if (!s || !trigger || !el) return;
    const insert =
      s.kind === 'user' ? `@${s.u.username} ` : s.kind === 'channel' ? `#${s.c.name} ` : s.kind === 'command' ? `/${s.trigger} ` : `${s.u} `;
    replaceRange(trigger.start, el.selectionStart, insert);
    setTrigger(null);
  };

  /** Markdown around the selection (or the word at the caret), or before each selected line. */
  const format = (kind: 'b' | 'i' | 's' | 'code' | 'link' | 'ul' | 'ol' | 'quote') => {
    const el = ref.current;
    if (!el) return;
    let a = el.selectionStart;
    let b = el.selectionEnd;
    if (kind === 'ul' || kind === 'ol' || kind === 'quote') {
      a = text.lastIndexOf('\n', a - 1) + 1;
      const lines = text.slice(a, b).split('\n');
      const out = lines.map((l, i) => (kind === 'ul' ? '- ' : kind === 'ol' ? `${i + 1}. ` : '> ') + l).join('\n');
      replaceRange(a, b, out);
      return;
    }
    const wrap = { b: ['**', '**'], i: ['_', '_'], s: ['~~', '~~'], code: ['`', '`'], link: ['[', '](https://)'] }[kind];
    const inner = text.slice(a, b);
    const next = text.slice(0, a) + wrap[0] + inner + wrap[1] + text.slice(b);
    setText(next);
    setDraft(key, next);
    requestAnimationFrame(() => {
      el.focus();
      if (kind === 'link' && inner) el.setSelectionRange(a + inner.length + 3, a + inner.length + 3 + 8);
      else el.setSelectionRange(a + wrap[0].length, a + wrap[0].length + inner.length);
    });
  };

  const files = pendingFiles.value[key] ?? [];
  const uploading = files.length > 0 && !allUploaded(files);
  const [note, setNote] = useState('');
  const fileInput = useRef<HTMLInputElement>(null);
  const attach = (list: File[]) => {
    if (!list.length) return;
    const left = addFiles(key, list);
    if (left) showToast(left);
  };

  const submit = () => {
    const t = text.trim();
    if (t.length > MAX || (!t && !files.length)) return;
    if (uploading) {
      setNote(files.some((f) => f.status === 'error') ? 'Remove the files that failed to upload, then send.' : 'Still uploading. The message can go once the files are up.');
      return;
    }
    setNote('');
    const atts = takeFiles(key);
    sendMessage(props.conversationId, t, props.threadRootId ?? null, atts);
    setText('');
    setDraft(key, '');
    setTrigger(null);
    if (!props.threadRootId) scrollToLatest.value++;
    requestAnimationFrame(resize);
  };

  useEffect(() => {
    if (!uploading) setNote('');
  }, [uploading]);
  const over = text.trim().length > MAX;
  const canSend = (!!text.trim() || files.length > 0) && !over && !uploading;
  const listId = `${idBase}-list`;
  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
      onDragOver={(e) => {
        if (!e.dataTransfer?.types.includes('Files')) return;
        e.preventDefault();
        e.dataTransfer.dropEffect = 'copy';
      }}
      onDrop={(e) => {
        // Handled here (this box's files); the conversation around only hides its overlay.
        if (!e.dataTransfer?.files.length) return;
        e.preventDefault();
        attach([...e.dataTransfer.files]);
      }}
    >
      {open && (
        <ul class="suggest" id={listId} role="listbox" aria-label={trigger!.kind === '@' ? 'People' : trigger!.kind === '#' ? 'Channels' : trigger!.kind === '/' ? 'Commands' : 'Emoji'}>
          {suggestions.map((s, i) => (
            <li
              key={s.kind === 'user' ? s.u.id : s.kind === 'channel' ? s.c.id : s.kind === 'command' ? `/${s.trigger}` : s.u}
              id={`${idBase}-${i}`}
              role="option"
              aria-selected={i === sel}
              class={`suggest-row ${i === sel ? 'is-selected' : ''}`}
              onMouseDown={(e) => {
                e.preventDefault(); // keep the focus in the box
                accept(s);
              }}
            >
              {s.kind === 'command' ? (
                <>
                  <SquareSlash size={16} aria-hidden="true" />
                  <strong>/{s.trigger}</strong>
                </>
              ) : s.kind === 'channel' ? (
                <>
                  <Hash size={16} aria-hidden="true" />
                  <strong>{s.c.name}</strong>
                  {!s.joined && <span class="muted small suggest-note">not joined</span>}
                </>
              ) : s.kind === 'user' ? (
                <>
                  <Avatar userId={s.u.id} size={24} />
                  <strong>{s.u.display_name || s.u.username}</strong>
                  <span class="muted small">@{s.u.username}</span>
                  {!s.member && <span class="muted small suggest-note">not in this conversation</span>}
                </>
              ) : (
                <>
                  <span class="suggest-emoji" aria-hidden="true">
                    {s.u}
                  </span>
                  <span>:{s.code}:</span>
                  <span class="muted small">{s.label}</span>
                </>
              )}
            </li>
          ))}
        </ul>
      )}
      {files.length > 0 && <AttachmentTray composerKey={key} files={files} />}
      <div class="format-bar" role="toolbar" aria-label="Formatting">
        {(
          [
            ['b', Bold, 'Bold (Ctrl+B)'],
            ['i', Italic, 'Italic (Ctrl+I)'],
            ['s', Strikethrough, 'Strikethrough'],
            ['code', Code, 'Code'],
            ['link', Link, 'Link'],
            ['ul', List, 'Bulleted list'],
            ['ol', ListOrdered, 'Numbered list'],
            ['quote', Quote, 'Quote'],
          ] as const
        ).map(([k, Icon, label]) => (
          <button key={k} type="button" class="icon" tabIndex={-1} aria-label={label} title={label} onMouseDown={(e) => e.preventDefault()} onClick={() => format(k)}>
            <Icon size={15} aria-hidden="true" />
          </button>
        ))}
      </div>
      <textarea
        ref={ref}
        aria-label={props.label}
        placeholder={props.placeholder}
        rows={1}
        value={text}
        aria-invalid={over}
        aria-controls={open ? listId : undefined}
        aria-autocomplete={open ? 'list' : undefined}
        aria-activedescendant={open ? `${idBase}-${sel}` : undefined}
        onInput={(e) => {
          const v = e.currentTarget.value;
          setText(v);
          setDraft(key, v);
          if (v.trim()) notifyTyping(props.conversationId);
          resize();
          updateTrigger();
        }}
        onClick={updateTrigger}
        onPaste={(e) => {
          // Images from the clipboard (a screenshot) become attachments; text pastes as text.
          const cd = e.clipboardData;
          const pasted = cd ? [...cd.files] : [];
          if (!pasted.length || cd!.types.includes('text/plain')) return;
          e.preventDefault();
          // Browsers call every clipboard image "image.png": name it by the time instead.
          const now = new Date();
          attach(pasted.map((f) => (!f.name || /^image\.\w+$/i.test(f.name) ? new File([f], pastedName(f.type || 'image/png', now), { type: f.type || 'image/png' }) : f)));
        }}
        onBlur={(e) => {
          // Focus leaving the page (another window) keeps the list; leaving the box for
          // something else on the page closes it.
          const to = e.relatedTarget as Node | null;
          if (to && !e.currentTarget.form?.contains(to)) setTrigger(null);
        }}
        onKeyDown={(e) => {
          if (open) {
            if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
              e.preventDefault();
              const n = suggestions.length;
              setSel((s) => (s + (e.key === 'ArrowDown' ? 1 : n - 1)) % n);
              return;
            }
            if ((e.key === 'Enter' || e.key === 'Tab') && !e.shiftKey && !e.isComposing) {
              e.preventDefault();
              accept(suggestions[sel]);
              return;
            }
            if (e.key === 'Escape') {
              e.preventDefault();
              e.stopPropagation();
              setTrigger(null);
              return;
            }
          }
          if ((e.ctrlKey || e.metaKey) && !e.shiftKey && !e.altKey && (e.key === 'b' || e.key === 'i')) {
            e.preventDefault();
            format(e.key);
            return;
          }
          if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            submit();
          } else if (e.key === 'ArrowUp' && !text && !props.threadRootId) {
            // Up in an empty box edits your last message.
            const mine = timelineOf(props.conversationId)
              .value.messages.filter((m) => m.sender_id === me.value?.id && !m.pending && !m.deleted && !m.thread_root_id)
              .pop();
            if (mine) {
              e.preventDefault();
              editingId.value = mine.id;
            }
          }
        }}
        onKeyUp={(e) => {
          if (e.key === 'ArrowLeft' || e.key === 'ArrowRight' || e.key === 'Home' || e.key === 'End') updateTrigger();
        }}
      />
      <input
        ref={fileInput}
        type="file"
        multiple
        hidden
        tabIndex={-1}
        aria-hidden="true"
        onChange={(e) => {
          const input = e.currentTarget;
          attach([...(input.files ?? [])]);
          input.value = '';
          ref.current?.focus();
        }}
      />
      <button
        type="button"
        class="icon attach-toggle"
        aria-label="Attach files"
        title={`Attach files (up to ${MAX_ATTACHMENTS})`}
        disabled={files.length >= MAX_ATTACHMENTS}
        onClick={() => fileInput.current?.click()}
      >
        <Paperclip size={20} aria-hidden="true" />
      </button>
      <VoiceRecorder disabled={files.length >= MAX_ATTACHMENTS} onRecorded={(f) => attach([f])} />
      <button
        type="button"
        class="icon emoji-toggle"
        aria-label="Insert emoji"
        title="Emoji"
        onClick={() => {
          const el = ref.current;
          const at = el ? el.selectionStart : text.length;
          const end = el ? el.selectionEnd : text.length;
          openEmojiPicker({ kind: 'composer', insert: (u) => replaceRange(at, end, u) });
        }}
      >
        <Smile size={20} aria-hidden="true" />
      </button>
      <button type="submit" class="primary send" aria-label="Send" disabled={!canSend}>
        Send
      </button>
      {note && (
        <p class="composer-note small" role="status">
          {note}
        </p>
      )}
      {over && (
        <p class="error small" role="alert">
          At most {MAX.toLocaleString()} characters ({text.trim().length.toLocaleString()} now).
        </p>
      )}
    </form>
  );
}
