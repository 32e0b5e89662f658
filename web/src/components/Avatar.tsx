import { presence } from '../state/store';
import type { PresenceStatus } from '../types';

export const PRESENCE_LABEL: Record<PresenceStatus, string> = { online: 'Online', away: 'Away', dnd: 'Do not disturb', offline: 'Offline' };

export function PresenceDot({ userId }: { userId: string }) {
  const s = presence.value[userId] ?? 'offline';
  return <span class={`dot ${s}`} role="img" aria-label={PRESENCE_LABEL[s]} title={PRESENCE_LABEL[s]} />;
}

export function Avatar({ name, size = 32 }: { name: string; size?: number }) {
  const letter = (name.trim()[0] ?? '?').toUpperCase();
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return (
    <span class={`avatar hue-${h % 8} s${size}`} aria-hidden="true">
      {letter}
    </span>
  );
}
