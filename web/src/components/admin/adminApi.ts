// The admin API's shapes and calls (docs/api.md, "Administration"). Pure wrappers over api():
// every route answers 403 `forbidden` to non-admins, which the console never shows them anyway.
import { api, enc } from '../../api';

export interface AdminUser {
  id: string;
  username: string;
  display_name: string;
  avatar_url: string;
  role: 'user' | 'admin';
  email: string | null;
  deactivated: boolean;
  deactivated_at: number | null;
  totp_enabled: boolean;
  created_at: number;
}

export interface AdminChannel {
  id: string;
  name: string;
  topic: string;
  visibility: 'public' | 'private';
  member_count: number;
  archived: boolean;
  owner_id: string | null;
  last_message_at: number;
}

export type RegistrationMode = 'open' | 'invite_only' | 'closed';

export interface ServerSettings {
  registration: RegistrationMode;
  allowed_email_domains: string[];
}

export interface Invite {
  id: string;
  created_by: string;
  created_at: number;
  expires_at: number | null;
  max_uses: number;
  uses: number;
  revoked_at: number | null;
}

export interface AuditEvent {
  id: string;
  at: number;
  actor_id: string | null;
  action: string;
  target: string;
  ip: string;
}


function query(params: Record<string, string | undefined>): string {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${k}=${enc(v!)}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

export const adminApi = {
  users: (q: string, cursor?: string) =>
    api<{ users: AdminUser[]; next_cursor?: string }>(`/admin/users${query({ q, cursor, limit: '25' })}`),
  deactivate: (id: string) => api<AdminUser>(`/admin/users/${enc(id)}/deactivate`, { method: 'POST' }),
  reactivate: (id: string) => api<AdminUser>(`/admin/users/${enc(id)}/reactivate`, { method: 'POST' }),
  reset2fa: (id: string) => api<void>(`/admin/users/${enc(id)}/reset-2fa`, { method: 'POST' }),
  signOut: (id: string) => api<{ sessions_ended: number }>(`/admin/users/${enc(id)}/sign-out`, { method: 'POST' }),
  setRole: (id: string, role: 'user' | 'admin') =>
    api<AdminUser>(`/admin/users/${enc(id)}/role`, { method: 'PUT', body: { role } }),
  channels: (q: string, cursor?: string) =>
    api<{ channels: AdminChannel[]; next_cursor?: string }>(`/admin/channels${query({ q, cursor, limit: '25' })}`),
  archive: (id: string, archived: boolean) =>
    api<AdminChannel>(`/admin/channels/${enc(id)}/${archived ? 'archive' : 'unarchive'}`, { method: 'POST' }),
  setOwner: (id: string, user_id: string) =>
    api<AdminChannel>(`/admin/channels/${enc(id)}/owner`, { method: 'PUT', body: { user_id } }),
  settings: () => api<ServerSettings>('/admin/settings'),
  updateSettings: (patch: Partial<ServerSettings>) => api<ServerSettings>('/admin/settings', { method: 'PATCH', body: patch }),
  invites: () => api<{ invites: Invite[] }>('/admin/invites'),
  createInvite: (expires_in: number | null, max_uses: number) =>
    api<{ invite: Invite; token: string }>('/admin/invites', {
      method: 'POST',
      body: { expires_in: expires_in ?? undefined, max_uses },
    }),
  revokeInvite: (id: string) => api<void>(`/admin/invites/${enc(id)}`, { method: 'DELETE' }),
  audit: (actor: string, action: string, cursor?: string) =>
    api<{ events: AuditEvent[]; next_cursor?: string }>(`/admin/audit${query({ actor, action, cursor, limit: '50' })}`),
};

/** The link a new member opens: the token rides in the fragment, which browsers never send to
 * the server (so it stays out of access logs and Referer headers). */
export function inviteLink(token: string, origin = location.origin): string {
  return `${origin}/#invite=${encodeURIComponent(token)}`;
}

/** The invite token of a URL fragment ("#invite=..."), or null. */
export function inviteFromHash(hash: string): string | null {
  const m = /^#invite=([A-Za-z0-9_%-]{8,200})$/.exec(hash);
  return m ? decodeURIComponent(m[1]) : null;
}

/** Domains typed one per line or comma-separated, trimmed, lower-cased, without blanks. */
export function parseDomains(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((d) => d.trim().toLowerCase().replace(/^@/, ''))
    .filter(Boolean);
}

/** "user:01H..." and friends, for people: the kind and the id apart. */
export function describeTarget(target: string): { kind: string; id: string; rest: string } {
  const space = target.indexOf(' ');
  const head = space < 0 ? target : target.slice(0, space);
  const rest = space < 0 ? '' : target.slice(space + 1);
  const colon = head.indexOf(':');
  return colon < 0 ? { kind: '', id: head, rest } : { kind: head.slice(0, colon), id: head.slice(colon + 1), rest };
}
