// User profile popovers: a click on a name or avatar shows the person's name, status and
// presence, with a "Message" button that opens (or creates) the DM.
import { signal } from '@preact/signals';
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { Clock, MessageSquare, X } from 'lucide-preact';
import { me, refreshUser, navigate, presence, showToast, startConversation, users } from '../state/store';
import { Avatar, PRESENCE_LABEL, PresenceDot } from './Avatar';
import { localTimeIn } from '../format';

/** "14:05 local time", kept current while the card is open. */
function LocalTime({ timeZone }: { timeZone: string }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 15_000);
    return () => clearInterval(t);
  }, []);
  const time = localTimeIn(timeZone, now);
  if (!time) return null;
  return (
    <p class="small local-time" title={timeZone.replace(/_/g, ' ')}>
      <Clock size={14} aria-hidden="true" /> {time} local time
    </p>
  );
}

interface Open {
  userId: string;
  x: number;
  y: number;
  from: HTMLElement | null;
}

export const profileCard = signal<Open | null>(null);

export function ProfileTrigger({ userId, children }: { userId: string; children: ComponentChildren }) {
  return (
    <button
      type="button"
      class="profile-trigger"
      aria-label={`Profile of ${users.value[userId]?.display_name ?? 'this person'}`}
      aria-haspopup="dialog"
      onClick={(e) => {
        const el = e.currentTarget as HTMLElement;
        const r = el.getBoundingClientRect();
        void refreshUser(userId); // the time zone, photo and status as they are now
        profileCard.value = { userId, x: r.left, y: r.bottom + 4, from: el };
      }}
    >
      {children}
    </button>
  );
}

export function ProfileCard() {
  const open = profileCard.value;
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    ref.current?.querySelector<HTMLElement>('button.primary, button')?.focus();
    const close = (refocus: boolean) => {
      const from = profileCard.value?.from;
      profileCard.value = null;
      if (refocus) from?.focus();
    };
    const onDown = (e: PointerEvent) => {
      if (!ref.current?.contains(e.target as Node)) close(false);
    };
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        e.stopPropagation();
        close(true);
      }
    };
    document.addEventListener('pointerdown', onDown, true);
    document.addEventListener('keydown', onKey, true);
    return () => {
      document.removeEventListener('pointerdown', onDown, true);
      document.removeEventListener('keydown', onKey, true);
    };
  }, [open?.userId, open?.from]);
  useEffect(() => {
    // Keep the card on screen (CSSOM writes are allowed by the CSP; style attributes are not).
    const el = ref.current;
    if (!el || !open) return;
    const w = el.offsetWidth;
    const h = el.offsetHeight;
    el.style.left = `${Math.max(8, Math.min(open.x, innerWidth - w - 8))}px`;
    el.style.top = `${Math.max(8, open.y + h > innerHeight - 8 ? open.y - h - 40 : open.y)}px`;
  });
  if (!open) return null;
  const u = users.value[open.userId];
  const status = presence.value[open.userId] ?? 'offline';
  const isMe = open.userId === me.value?.id;
  const message = async () => {
    profileCard.value = null;
    try {
      const c = await startConversation([open.userId]);
      navigate(c.id);
    } catch (e) {
      showToast(`Could not open the conversation: ${(e as Error).message}`);
    }
  };
  return (
    <div class="profile-card" role="dialog" aria-label={`Profile of ${u?.display_name ?? '…'}`} ref={ref}>
      <div class="profile-top">
        <Avatar userId={open.userId} size={40} />
        <div class="profile-names">
          <strong>{u?.display_name ?? '…'}</strong>
          <span class="muted small">@{u?.username ?? ''}</span>
        </div>
        <button type="button" class="icon" aria-label="Close profile" onClick={() => (profileCard.value = null)}>
          <X size={16} aria-hidden="true" />
        </button>
      </div>
      <p class="small">
        <PresenceDot userId={open.userId} /> {PRESENCE_LABEL[status]}
      </p>
      {u?.status_text && <p class="small">{u.status_text}</p>}
      {u?.timezone && <LocalTime timeZone={u.timezone} />}
      {!isMe && (
        <button type="button" class="primary" onClick={() => void message()}>
          <MessageSquare size={16} aria-hidden="true" /> Message
        </button>
      )}
    </div>
  );
}
