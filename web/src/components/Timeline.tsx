// The message list of a conversation. It renders a sliding window of at most WINDOW messages
// (so thousands stay cheap), moves the window as the reader scrolls, loads older history at
// the top, and keeps what the reader looks at in place when content changes above it.
import { signal } from '@preact/signals';
import type { VNode } from 'preact';
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { atBottom, conversations, dividerSeq, highlightId, loadOlder, markRead, markReadIfViewing, me, timelineOf } from '../state/store';
import { dayKey, dayLabel, plural } from '../format';
import * as T from '../state/timeline';
import { slideStart } from '../state/timeline';
import type { ClientMessage, Conversation } from '../types';
import { MessageItem } from './MessageItem';

// 100, not 150: each slide of the window lays the whole window out again, and that layout
// was most of the long tasks while scrolling 10,000 messages (e2e/perf.e2e.ts: 68 long tasks
// with 150, 25 with 100, same machine and load).
const WINDOW = 100;
const STEP = 50;
/** Messages kept in the window past those on screen when it slides. */
const MARGIN = 10;
const EDGE = 600;

/** Bumped to ask the open timeline to scroll to the newest message (after a send). */
export const scrollToLatest = signal(0);

interface Win {
  stick: boolean;
  firstKey: string | null;
}

interface Anchor {
  id: string;
  offset: number;
}

/** The messages in the view: indices of the first and last `li[data-mid]` that show, found
 * by binary search (their tops grow in document order), so a few layout reads, not one per
 * message. Called where the layout is clean (scroll events, before a render reaches the DOM). */
function inView(el: HTMLElement): { nodes: NodeListOf<HTMLElement>; first: number; last: number } | null {
  const nodes = el.querySelectorAll<HTMLElement>('li[data-mid]');
  if (!nodes.length) return null;
  const top = el.scrollTop;
  const bottom = top + el.clientHeight;
  // First whose bottom is below the top edge; last whose top is above the bottom edge.
  let lo = 0;
  let hi = nodes.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (nodes[mid].offsetTop + nodes[mid].offsetHeight > top) hi = mid;
    else lo = mid + 1;
  }
  const first = lo;
  hi = nodes.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (nodes[mid].offsetTop < bottom) lo = mid;
    else hi = mid - 1;
  }
  return { nodes, first, last: Math.max(first, lo) };
}

/** The message at the top of the view and its offset from the top edge, to put it back there
 * after the window slides or history arrives above it. */
function captureAnchor(el: HTMLElement | null): Anchor | null {
  if (!el) return null;
  const v = inView(el);
  if (!v) return null;
  const n = v.nodes[v.first];
  return { id: n.dataset.mid!, offset: n.offsetTop - el.scrollTop };
}

export function groupStarts(items: readonly ClientMessage[], i: number): boolean {
  if (i === 0) return true;
  const a = items[i - 1];
  const b = items[i];
  return a.sender_id !== b.sender_id || b.created_at - a.created_at > 5 * 60_000 || a.deleted !== b.deleted || dayKey(a.created_at) !== dayKey(b.created_at);
}

/** Opening with unread messages loads back to the first of them, at most this many. */
const MAX_UNREAD_LOAD = 2000;

/** Roving tabindex: inside the list only the active message's own controls are tab stops.
 * Touches only what is a tab stop and should not be (one selector query, no per-message
 * walk: this runs after every render of a window of messages), then the active one. */
const FOCUSABLE = ['a[href]', 'button', 'pre', 'textarea'];
const STOPS = ['li.msg', ...FOCUSABLE.map((f) => `li.msg ${f}`)].map((x) => `${x}:not([tabindex="-1"])`).join(', ');
function rove(root: HTMLElement, activeId: string | null) {
  for (const el of root.querySelectorAll<HTMLElement>(STOPS)) {
    const li = el.matches('li.msg') ? el : el.closest<HTMLElement>('li.msg');
    if (li?.dataset.mid !== activeId) el.tabIndex = -1;
  }
  if (!activeId) return;
  const li = root.querySelector<HTMLElement>(`li.msg[data-mid="${CSS.escape(activeId)}"]`);
  if (!li) return;
  if (li.tabIndex !== 0) li.tabIndex = 0;
  for (const el of li.querySelectorAll<HTMLElement>(FOCUSABLE.join(', '))) if (el.tabIndex !== 0) el.tabIndex = 0;
}

/** The last of the given elements in document order. */
export function lastInOrder<T extends Node>(nodes: Iterable<T>): T | null {
  let last: T | null = null;
  for (const n of nodes) if (!last || last.compareDocumentPosition(n) & Node.DOCUMENT_POSITION_FOLLOWING) last = n;
  return last;
}

export function Timeline({ conv }: { conv: Conversation }) {
  const tl = timelineOf(conv.id).value;
  const items = useMemo(() => T.topLevel(tl.messages), [tl.messages]);
  const scroller = useRef<HTMLDivElement>(null);
  const [win, setWin] = useState<Win>({ stick: true, firstKey: null });
  const anchor = useRef<Anchor | null>(null);
  const target = highlightId.value;

  let start: number;
  let end: number;
  if (win.stick || !win.firstKey) {
    end = items.length;
    start = Math.max(0, end - WINDOW);
  } else {
    start = items.findIndex((m) => m.id === win.firstKey);
    if (start < 0) start = Math.max(0, items.length - WINDOW);
    end = Math.min(items.length, start + WINDOW);
  }
  // Keeping what the reader looks at in place when the window slides or history arrives:
  // the message at the top of the view is read before this render reaches the DOM and put
  // back in the layout effect below (the browser's own scroll anchoring is off: .timeline has
  // `overflow-anchor: none`, so the two never both move the view; docs/web.md).
  anchor.current = win.stick ? null : captureAnchor(scroller.current);

  const divider = dividerSeq.value[conv.id] ?? Number.MAX_SAFE_INTEGER;
  const firstUnread = T.firstUnreadSeq(items, divider, me.value?.id ?? '');
  const unreadCount = conversations.value[conv.id]?.unread_count ?? 0;

  // Landing: with unread messages the view opens at the first of them (loading older pages
  // back to it), with the divider near the top. Until then nothing is marked read.
  const landed = useRef(divider === Number.MAX_SAFE_INTEGER);
  const scrollTo = useRef<string | null>(null);
  useEffect(() => {
    if (landed.current || !tl.loaded) return;
    const first = T.firstSeq(items);
    if (items.length && first > divider + 1 && tl.hasOlder && items.length < MAX_UNREAD_LOAD) {
      if (!tl.loading) void loadOlder(conv.id);
      return;
    }
    landed.current = true;
    const idx = firstUnread === null ? -1 : items.findIndex((m) => m.seq === firstUnread);
    if (idx < 0) {
      setWin({ stick: true, firstKey: null });
      check();
      return;
    }
    scrollTo.current = items[idx].id;
    setWin({ stick: false, firstKey: items[Math.max(0, Math.min(idx - 20, items.length - WINDOW))].id });
  }, [tl.loaded, tl.loading, items]);

  const jumpToUnread = () => {
    const idx = firstUnread === null ? -1 : items.findIndex((m) => m.seq === firstUnread);
    if (idx < 0) return;
    scrollTo.current = items[idx].id;
    setWin({ stick: false, firstKey: items[Math.max(0, Math.min(idx - 20, items.length - WINDOW))].id });
  };

  // Roving tabindex: one message is the list's tab stop: the one last focused, else the last
  // one on screen (kept up to date as the reader scrolls); arrows move between messages.
  // Kept in a ref and applied to the DOM directly: moving it needs no render.
  const activeRef = useRef<string | null>(null);

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const to = scrollTo.current;
    if (to) {
      const node = el.querySelector<HTMLElement>(`li[data-mid="${CSS.escape(to)}"]`);
      if (node) {
        scrollTo.current = null;
        const sep = node.previousElementSibling?.classList.contains('unread-line') ? (node.previousElementSibling as HTMLElement) : node;
        el.scrollTop = Math.max(0, sep.offsetTop - 48);
        lastTop.current = el.scrollTop;
        // No scroll event when nothing moved (all of it fits): look at where the reader is now.
        requestAnimationFrame(() => checkRef.current());
        return;
      }
    }
    if (win.stick) {
      el.scrollTop = el.scrollHeight;
      lastTop.current = el.scrollTop;
      return;
    }
    const a = anchor.current;
    if (!a) return;
    anchor.current = null;
    const node = el.querySelector<HTMLElement>(`li[data-mid="${CSS.escape(a.id)}"]`);
    if (node) {
      const delta = node.offsetTop - el.scrollTop - a.offset;
      if (Math.abs(delta) >= 1) el.scrollTop += delta;
      lastTop.current = el.scrollTop;
    }
  });

  // Keep the bottom in view while stuck to it, when the pane resizes (composer grows, phone
  // keyboard opens).
  useEffect(() => {
    const el = scroller.current;
    if (!el || typeof ResizeObserver === 'undefined') return;
    const ro = new ResizeObserver(() => {
      if (!winRef.current.stick) return;
      el.scrollTop = el.scrollHeight;
      lastTop.current = el.scrollTop;
    });
    ro.observe(el);
    // And when the messages change height (one laid out for real after an estimate, an image
    // that arrives).
    const list = el.querySelector('ol.messages');
    if (list) ro.observe(list);
    return () => ro.disconnect();
  }, []);

  // The messages on screen, kept by an IntersectionObserver (no layout read while scrolling):
  // the last of them is the list's tab stop while the reader scrolls, so tabbing in never
  // jumps away from what is on screen. New and removed messages are (un)observed as the
  // window slides.
  useEffect(() => {
    const el = scroller.current;
    const list = el?.querySelector('ol.messages');
    if (!el || !list || typeof IntersectionObserver === 'undefined') return;
    const shown = new Set<Element>();
    const io = new IntersectionObserver(
      (entries) => {
        for (const e of entries) {
          if (e.isIntersecting && e.target.isConnected) shown.add(e.target);
          else shown.delete(e.target);
        }
        if (el.contains(document.activeElement)) return;
        const id = (lastInOrder(shown) as HTMLElement | null)?.dataset.mid;
        if (id && id !== activeRef.current) {
          activeRef.current = id;
          rove(el, id);
        }
      },
      // "On screen": some of it above the last 8 px of the view.
      { root: el, rootMargin: '0px 0px -8px 0px' },
    );
    const watch = (n: Node) => n instanceof HTMLElement && n.matches('li[data-mid]') && io.observe(n);
    list.childNodes.forEach(watch);
    const mo = new MutationObserver((records) => {
      for (const r of records) {
        r.addedNodes.forEach(watch);
        r.removedNodes.forEach((n) => {
          if (n instanceof Element) {
            io.unobserve(n);
            shown.delete(n);
          }
        });
      }
    });
    mo.observe(list, { childList: true });
    return () => {
      mo.disconnect();
      io.disconnect();
    };
  }, []);
  const winRef = useRef(win);
  winRef.current = win;

  useEffect(() => {
    if (scrollToLatest.value) setWin({ stick: true, firstKey: null });
  }, [scrollToLatest.value]);

  // Jump to a message (search, pins): put it in the window, centre it, flash it. Once.
  const handled = useRef<string | null>(null);
  useEffect(() => {
    if (!target) {
      handled.current = null;
      return;
    }
    if (handled.current === target) return;
    const idx = items.findIndex((m) => m.id === target);
    if (idx < 0) return;
    if (idx < start || idx >= end) {
      const s = Math.max(0, Math.min(idx - 40, items.length - WINDOW));
      setWin({ stick: false, firstKey: items[s].id });
      return;
    }
    const node = scroller.current?.querySelector<HTMLElement>(`li[data-mid="${CSS.escape(target)}"]`);
    if (!node) return;
    handled.current = target;
    if (win.stick) setWin({ stick: false, firstKey: items[start]?.id ?? null });
    node.scrollIntoView({ block: 'center' });
    node.focus({ preventScroll: true });
    setTimeout(() => {
      if (highlightId.value === target) highlightId.value = null;
    }, 4000);
  }, [target, items, start, end]);

  // The window's next position: a step, less where that would take out messages on screen
  // (short messages: a step can be more than the distance from the view to the window's end).
  function slide() {
    const v = scroller.current ? inView(scroller.current) : null;
    // The list's messages are the window's, in order: node i is items[start + i].
    return { start, len: items.length, size: WINDOW, step: STEP, margin: MARGIN, firstShown: v ? start + v.first : undefined, lastShown: v ? start + v.last : undefined };
  }

  const checkRef = useRef(() => {});
  checkRef.current = check;
  // Where the view was when last looked at: the window slides only the way the reader scrolls,
  // never on the scroll that putting the view back after a slide makes (short messages: a
  // step back can leave the view near the window's other end, and it would slide back).
  const lastTop = useRef(0);
  function check(e?: Event) {
    const el = scroller.current;
    if (!el) return;
    const moved = el.scrollTop - lastTop.current;
    lastTop.current = el.scrollTop;
    const fromScroll = !!e;
    const back = !fromScroll || moved < 0;
    const on = !fromScroll || moved > 0;
    if (!landed.current) return;
    const fromBottom = el.scrollHeight - el.scrollTop - el.clientHeight;
    if (el.scrollTop < EDGE) {
      const to = start > 0 && back ? slideStart(-1, slide()) : null;
      if (to !== null) {
        setWin({ stick: false, firstKey: items[to].id });
        return;
      }
      if (tl.hasOlder && !tl.loading && tl.loaded) {
        if (win.stick && items.length) setWin({ stick: false, firstKey: items[start].id });
        void loadOlder(conv.id);
      }
    }
    const next = on && fromBottom < EDGE && end < items.length ? slideStart(1, slide()) : null;
    if (next !== null) {
      setWin({ stick: false, firstKey: items[next].id });
      return;
    }
    const bottom = end >= items.length && fromBottom < 48;
    if (bottom !== win.stick) setWin({ stick: bottom, firstKey: bottom ? null : items[start]?.id ?? null });
    if (atBottom.value !== bottom) atBottom.value = bottom;
    if (bottom) markReadIfViewing(conv.id);
  }

  // After older history arrives the reader may still be near the top: keep going.
  useEffect(() => {
    if (!win.stick) check();
  }, [items.length, tl.loading]);

  useEffect(() => {
    if (!landed.current) return;
    atBottom.value = true;
    markReadIfViewing(conv.id);
  }, []);

  // Keyboard: ↑/↓ move between messages (Tab then reaches the focused message's actions),
  // Home/End jump to the first/last one shown, Escape goes back to the composer.
  const onKeyDown = (e: KeyboardEvent) => {
    const el = scroller.current;
    if (!el || (e.target as HTMLElement).closest('textarea, input')) return;
    const nodes = Array.from(el.querySelectorAll<HTMLElement>('li[data-mid]'));
    if (!nodes.length) return;
    const at = nodes.indexOf((e.target as HTMLElement).closest('li[data-mid]') as HTMLElement);
    let next = -1;
    if (e.key === 'ArrowDown') next = at < 0 ? nodes.length - 1 : Math.min(nodes.length - 1, at + 1);
    else if (e.key === 'ArrowUp') next = at < 0 ? nodes.length - 1 : Math.max(0, at - 1);
    else if (e.key === 'Home' && at >= 0) next = 0;
    else if (e.key === 'End' && at >= 0) next = nodes.length - 1;
    else if (e.key === 'Escape' && at >= 0) {
      document.querySelector<HTMLTextAreaElement>('.conversation .composer textarea')?.focus();
      return;
    }
    if (next < 0) return;
    e.preventDefault();
    nodes[next].focus({ preventScroll: true });
    nodes[next].scrollIntoView({ block: 'nearest' });
  };

  const visible = items.slice(start, end);
  const newer = items.length - end;
  const held = activeRef.current;
  const stop = held && visible.some((m) => m.id === held) ? held : visible.length ? visible[visible.length - 1].id : null;
  useLayoutEffect(() => {
    activeRef.current = stop;
    if (scroller.current) rove(scroller.current, stop);
  });
  const now = Date.now();
  // One flat list of keyed rows. (Not an array per message: Preact matches nested arrays by
  // position, so every slide of the window re-created every message of it, and the browser
  // lost what it anchors the view to.)
  const rows: VNode[] = [];
  visible.forEach((m, i) => {
    const idx = start + i;
    if (idx === 0 || dayKey(items[idx - 1].created_at) !== dayKey(m.created_at)) {
      const day = dayLabel(m.created_at, now);
      rows.push(
        <li key={`day:${dayKey(m.created_at)}`} class="day-line">
          <div role="separator" aria-label={day}>
            <span>{day}</span>
          </div>
        </li>,
      );
    }
    if (firstUnread !== null && m.seq === firstUnread)
      rows.push(
        <li key="divider" class="unread-line">
          <div role="separator" aria-label="New messages">
            <span>New messages</span>
          </div>
        </li>,
      );
    rows.push(
      <MessageItem
        key={m.client_msg_id && m.sender_id === me.value?.id ? `c:${m.client_msg_id}` : m.id}
        m={m}
        showHeader={groupStarts(items, idx)}
        highlighted={m.id === target}
        tabStop={m.id === stop}
      />,
    );
  });
  return (
    <div class="timeline-wrap">
      <div
        class="timeline"
        ref={scroller}
        onScroll={(e) => check(e)}
        role="log"
        aria-label={`Messages in ${conv.type === 'channel' ? '#' + conv.name : 'this conversation'}`}
        aria-busy={tl.loading}
        tabIndex={visible.length ? -1 : 0}
        onKeyDown={onKeyDown}
        onFocusIn={(e) => {
          const el = scroller.current;
          const li = (e.target as HTMLElement).closest<HTMLElement>('li.msg');
          if (!el || !li?.dataset.mid) return;
          activeRef.current = li.dataset.mid;
          rove(el, li.dataset.mid);
          // The focused message builds its toolbar now: include it once it is there.
          requestAnimationFrame(() => scroller.current && rove(scroller.current, activeRef.current));
        }}
      >
        {start === 0 && tl.loaded && !tl.hasOlder && (
          <div class="timeline-start">
            <p class="muted">This is the very beginning of the conversation.</p>
          </div>
        )}
        {(tl.loading || (start === 0 && tl.hasOlder && tl.loaded)) && (
          <div class="loading-older" aria-live="polite">
            {tl.loading ? 'Loading…' : ''}
          </div>
        )}
        {tl.error && !tl.loading && (
          <p class="error" role="alert">
            Could not load messages: {tl.error}
          </p>
        )}
        <ol class="messages">
          {rows}
        </ol>
        {tl.loaded && items.length === 0 && <p class="empty muted">No messages yet. Say hello!</p>}
      </div>
      {unreadCount > 0 && landed.current && (
        <div class="unread-bar" role="status">
          <span>{plural(unreadCount, 'new message')}</span>
          <span aria-hidden="true">·</span>
          <button type="button" class="link" onClick={jumpToUnread} disabled={firstUnread === null}>
            Jump
          </button>
          <span aria-hidden="true">·</span>
          <button type="button" class="link" onClick={() => markRead(conv.id)}>
            Mark as read
          </button>
        </div>
      )}
      {!win.stick && (newer > 0 || !atBottom.value) && (
        <button type="button" class="jump-latest" onClick={() => setWin({ stick: true, firstKey: null })}>
          {newer > 0 ? `Jump to latest (${newer} newer)` : 'Jump to latest'}
        </button>
      )}
    </div>
  );
}
