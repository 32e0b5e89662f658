// HTTP client for /api/v1: JSON in and out, the bearer token added, one refresh and retry on
// an expired access token. Tokens: the access token lives in memory only; the refresh token in
// localStorage (so a reload stays signed in). Tokens never go into URLs.
import type { AuthAnswer, TokenPair } from './types';

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public field?: string,
  ) {
    super(message);
  }
}

const REFRESH_KEY = 'parley.refresh_token';

let accessToken: string | null = null;
let accessExpiresAt = 0;
let refreshing: Promise<boolean> | null = null;
let onSignedOut: () => void = () => {};

export function setSignedOutHandler(f: () => void) {
  onSignedOut = f;
}

export function storedRefreshToken(): string | null {
  try {
    return localStorage.getItem(REFRESH_KEY);
  } catch {
    return null;
  }
}

export function setTokens(t: TokenPair) {
  accessToken = t.access_token;
  accessExpiresAt = Date.now() + t.expires_in * 1000;
  try {
    localStorage.setItem(REFRESH_KEY, t.refresh_token);
  } catch {
    /* private mode: the session lasts as long as the tab */
  }
}

export function clearTokens() {
  accessToken = null;
  accessExpiresAt = 0;
  try {
    localStorage.removeItem(REFRESH_KEY);
  } catch {
    /* ignore */
  }
}

export function hasSession(): boolean {
  return accessToken !== null || storedRefreshToken() !== null;
}

async function doRefresh(): Promise<boolean> {
  const rt = storedRefreshToken();
  if (!rt) return false;
  let res: Response;
  try {
    res = await fetch('/api/v1/auth/refresh', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refresh_token: rt }),
    });
  } catch {
    throw new ApiError(0, 'network', 'The server cannot be reached');
  }
  if (res.status === 401) {
    clearTokens();
    return false;
  }
  if (!res.ok) throw new ApiError(res.status, 'refresh_failed', 'Could not refresh the session');
  setTokens((await res.json()) as TokenPair);
  return true;
}

/**
 * Refreshes once at a time. Refresh tokens rotate (a reused one ends the session), so tabs
 * sharing localStorage take a Web Lock and read the newest token inside it.
 */
export function refresh(): Promise<boolean> {
  if (!refreshing) {
    const locks = (navigator as Navigator & { locks?: LockManager }).locks;
    const run = locks ? locks.request('parley-refresh', doRefresh) : doRefresh();
    refreshing = (run as Promise<boolean>).finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

/** A valid access token, refreshed when missing or about to expire; null when signed out. */
export async function getAccessToken(): Promise<string | null> {
  if (accessToken && Date.now() < accessExpiresAt - 30_000) return accessToken;
  if (await refresh()) return accessToken;
  return accessToken;
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  auth?: boolean;
  signal?: AbortSignal;
}

export async function api<T = unknown>(path: string, opts: RequestOptions = {}): Promise<T> {
  const { method = 'GET', body, auth = true, signal } = opts;
  for (let attempt = 0; attempt < 2; attempt++) {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (auth) {
      const t = await getAccessToken();
      if (!t) {
        onSignedOut();
        throw new ApiError(401, 'unauthorized', 'Signed out');
      }
      headers.Authorization = `Bearer ${t}`;
    }
    let res: Response;
    try {
      res = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
    } catch (e) {
      if ((e as Error).name === 'AbortError') throw e;
      throw new ApiError(0, 'network', 'The server cannot be reached');
    }
    if (res.status === 401 && auth && attempt === 0) {
      accessToken = null;
      if (await refresh()) continue;
      onSignedOut();
    }
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    let data: unknown = undefined;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON */
    }
    if (!res.ok) {
      const err = (data as { error?: { code?: string; message?: string; field?: string } } | undefined)?.error;
      throw new ApiError(res.status, err?.code ?? 'http_' + res.status, err?.message ?? res.statusText, err?.field);
    }
    return data as T;
  }
  throw new ApiError(401, 'unauthorized', 'Signed out');
}

export function deviceName(): string {
  const ua = navigator.userAgent;
  const browser = /Firefox\//.test(ua) ? 'Firefox' : /Edg\//.test(ua) ? 'Edge' : /Chrom(e|ium)\//.test(ua) ? 'Chrome' : /Safari\//.test(ua) ? 'Safari' : 'Browser';
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Mac OS/.test(ua) ? 'macOS' : /Windows/.test(ua) ? 'Windows' : /Linux/.test(ua) ? 'Linux' : '';
  return os ? `${browser} on ${os}` : browser;
}

export async function login(username: string, password: string, totp_code?: string): Promise<AuthAnswer> {
  const a = await api<AuthAnswer>('/auth/login', {
    method: 'POST',
    auth: false,
    body: { username, password, totp_code: totp_code || undefined, device_name: deviceName() },
  });
  setTokens(a);
  return a;
}

export async function register(
  username: string,
  password: string,
  display_name?: string,
  extra: { email?: string; invite_token?: string } = {},
): Promise<AuthAnswer> {
  const a = await api<AuthAnswer>('/auth/register', {
    method: 'POST',
    auth: false,
    body: { username, password, display_name: display_name || undefined, device_name: deviceName(), ...extra },
  });
  setTokens(a);
  return a;
}

/** A sign-in method the sign-in page offers (GET /auth/providers). */
export interface SsoProvider {
  name: string;
  display_name: string;
  start_url: string;
}
export interface SignInOptions {
  providers: SsoProvider[];
  password_login: boolean;
}

export async function signInOptions(): Promise<SignInOptions> {
  return api<SignInOptions>('/auth/providers', { auth: false });
}

/** Finishes a single sign-on: the server's callback left a one-time HttpOnly cookie (never a
 * token in the URL); this same-origin POST sends it and gets the tokens back. */
export async function ssoExchange(): Promise<AuthAnswer> {
  const a = await api<AuthAnswer>('/auth/oidc/exchange', {
    method: 'POST',
    auth: false,
    body: { device_name: deviceName() },
  });
  setTokens(a);
  return a;
}

export async function logout(): Promise<void> {
  try {
    await api('/auth/logout', { method: 'POST' });
  } finally {
    clearTokens();
  }
}

export const enc = encodeURIComponent;
