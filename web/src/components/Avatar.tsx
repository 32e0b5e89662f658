import { signal } from '@preact/signals';
import { presence, users } from '../state/store';
import { avatarHue } from '../format';
import type { PresenceStatus } from '../types';

export const PRESENCE_LABEL: Record<PresenceStatus, string> = { online: 'Online', away: 'Away', dnd: 'Do not disturb', offline: 'Offline' };

export function PresenceDot({ userId }: { userId: string }) {
  const s = presence.value[userId] ?? 'offline';
  return <span class={`dot is-${s}`} role="img" aria-label={PRESENCE_LABEL[s]} title={PRESENCE_LABEL[s]} />;
}


/** Avatar images that failed to load (gone, or not an image): the initials show instead. */
const brokenImages = signal<ReadonlySet<string>>(new Set());

/** A user's avatar: their image when they set one, else their initial on a colour of their id. */
export function Avatar({ userId, name, size = 32 }: { userId: string; name?: string; size?: 24 | 32 | 40 | 64 }) {
  const u = users.value[userId];
  const shown = name ?? (u ? u.display_name || u.username : '?');
  const letter = (shown.trim()[0] ?? '?').toUpperCase();
  const img = u?.avatar_url && /^(\/[^/]|data:image\/)/.test(u.avatar_url) ? u.avatar_url : '';
  if (img && !brokenImages.value.has(img))
    return (
      <img
        class={`avatar is-s${size}`}
        src={img}
        alt=""
        aria-hidden="true"
        width={size}
        height={size}
        loading="lazy"
        decoding="async"
        onError={() => (brokenImages.value = new Set(brokenImages.value).add(img))}
      />
    );
  return (
    <span class={`avatar hue-${avatarHue(userId)} is-s${size}`} aria-hidden="true">
      {letter}
    </span>
  );
}
