// Web Push on this device: permission, the PushManager subscription registered with the server
// (POST /push/subscriptions with the server's VAPID key), and what a notification click asks
// for (the service worker posts {type: "open-conversation"} to a window, or opens
// /c/ID). Permission is asked only when the user chooses to enable notifications
// (settings, or the banner shown after their first message), never on load.
import { signal } from '@preact/signals';
import { api } from './api';

export interface NotificationSettings {
  push: 'all' | 'mentions' | 'none';
  email: 'all' | 'mentions' | 'none';
  email_delay_minutes: number;
  quiet_hours: { start: string; end: string; tz: string } | null;
  keywords: string[];
  push_previews: boolean;
}

export interface PushDevice {
  id: string;
  endpoint: string;
  device_name: string;
  enabled: boolean;
  created_at: number;
}

export interface ConversationNotificationSettings {
  level: 'default' | 'all' | 'mentions' | 'none';
  muted_until: number | null;
}

const SUB_KEY = 'parley.push.subscription';
const BANNER_KEY = 'parley.push.banner-dismissed';

export const pushState = signal<'unsupported' | 'denied' | 'off' | 'on'>(initialState());
/** The banner that offers notifications after the user's first message. */
export const pushBanner = signal(false);

function initialState(): 'unsupported' | 'denied' | 'off' | 'on' {
  if (typeof window === 'undefined' || !('serviceWorker' in navigator) || !('PushManager' in window) || !('Notification' in window))
    return 'unsupported';
  if (Notification.permission === 'denied') return 'denied';
  return Notification.permission === 'granted' && localStorage.getItem(SUB_KEY) ? 'on' : 'off';
}

function b64urlToBytes(s: string): Uint8Array<ArrayBuffer> {
  const pad = '='.repeat((4 - (s.length % 4)) % 4);
  const bin = atob((s + pad).replace(/-/g, '+').replace(/_/g, '/'));
  const out = new Uint8Array(new ArrayBuffer(bin.length));
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function bytesToB64url(buf: ArrayBuffer | null): string {
  if (!buf) return '';
  let s = '';
  for (const b of new Uint8Array(buf)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** A short name for this browser in the devices list. */
export function deviceName(ua = navigator.userAgent): string {
  const browser = /Edg\//.test(ua) ? 'Edge' : /Firefox\//.test(ua) ? 'Firefox' : /Chrome\//.test(ua) ? 'Chrome' : /Safari\//.test(ua) ? 'Safari' : 'Browser';
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Mac OS X/.test(ua) ? 'macOS' : /Windows/.test(ua) ? 'Windows' : /Linux/.test(ua) ? 'Linux' : '';
  return os ? `${browser} on ${os}` : browser;
}

/** Asks for permission (a user gesture must lead here), subscribes and registers the device. */
export async function enablePush(): Promise<void> {
  if (pushState.value === 'unsupported') throw new Error('This browser cannot show notifications');
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') {
    pushState.value = permission === 'denied' ? 'denied' : 'off';
    throw new Error('Notifications were not allowed');
  }
  const reg = await navigator.serviceWorker.ready;
  const { public_key } = await api<{ public_key: string }>('/push/vapid-key');
  let sub = await reg.pushManager.getSubscription();
  if (sub) {
    const current = bytesToB64url(sub.options.applicationServerKey);
    if (current && current !== public_key) {
      await sub.unsubscribe();
      sub = null;
    }
  }
  if (!sub) sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: b64urlToBytes(public_key) });
  const device = await api<PushDevice>('/push/subscriptions', {
    method: 'POST',
    body: {
      endpoint: sub.endpoint,
      keys: { p256dh: bytesToB64url(sub.getKey('p256dh')), auth: bytesToB64url(sub.getKey('auth')) },
      device_name: deviceName(),
    },
  });
  localStorage.setItem(SUB_KEY, device.id);
  pushState.value = 'on';
  pushBanner.value = false;
}

/** Removes this device's subscription (here and on the server). */
export async function disablePush(): Promise<void> {
  const id = localStorage.getItem(SUB_KEY);
  localStorage.removeItem(SUB_KEY);
  pushState.value = 'off';
  if (id) await api(`/push/subscriptions/${encodeURIComponent(id)}`, { method: 'DELETE' }).catch(() => {});
  const reg = await navigator.serviceWorker?.getRegistration();
  const sub = await reg?.pushManager.getSubscription();
  await sub?.unsubscribe();
}

export function thisDeviceId(): string | null {
  return localStorage.getItem(SUB_KEY);
}

/** After a message the user sent: offer notifications once, unless they were dismissed. */
export function offerPushAfterSend() {
  if (pushState.value === 'off' && Notification.permission === 'default' && !localStorage.getItem(BANNER_KEY)) pushBanner.value = true;
}

export function dismissPushBanner() {
  localStorage.setItem(BANNER_KEY, '1');
  pushBanner.value = false;
}

/** Where a notification click sends an open window: the service worker posts a message (a
 * window it opens itself starts at /c/ID, which the router handles). */
export function listenForNotificationClicks(open: (conversationId: string) => void) {
  navigator.serviceWorker?.addEventListener('message', (e: MessageEvent) => {
    const d = e.data as { type?: string; conversation_id?: string } | null;
    if (d?.type === 'open-conversation' && d.conversation_id) open(d.conversation_id);
  });
}

/** "22:00" style, for <input type="time">. */
export function validTime(t: string): boolean {
  return /^([01]\d|2[0-3]):[0-5]\d$/.test(t);
}

/** muted_until for "mute for" choices; null = not muted. */
export function muteUntil(choice: string, now = Date.now()): number | null {
  const hours: Record<string, number> = { '1h': 1, '8h': 8, '24h': 24, '7d': 168 };
  if (choice === 'forever') return 4102444800000;  // 2100-01-01
  if (choice in hours) return now + hours[choice] * 3600_000;
  return null;
}
