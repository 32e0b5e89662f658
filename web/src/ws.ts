// The real-time connection: /api/v1/ws, a hello frame with the access token first, pings at
// the server's heartbeat, and automatic reconnect with exponential backoff and full jitter.
// After every `ready` the store catches up over HTTP (after_seq), so a drop loses nothing.
import { getAccessToken, refresh } from './api';

export type WsStatus = 'connecting' | 'online' | 'offline';

export interface WsEvent {
  type: 'event';
  event: string;
  data: any;
}

export interface SocketHandlers {
  onStatus(s: WsStatus): void;
  onReady(info: { user_id: string; session_id: string }): void;
  onEvent(e: WsEvent): void;
  onAuthLost(): void;
}

/** Backoff before attempt n (0-based): full jitter over min(cap, base * 2^n), at least min. */
export function backoffDelay(attempt: number, random: () => number = Math.random, base = 500, cap = 15_000, min = 250): number {
  const ceiling = Math.min(cap, base * 2 ** Math.min(attempt, 16));
  return Math.max(min, Math.round(ceiling * random()));
}

export class Socket {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private lastFrameAt = 0;
  private stopped = true;
  private ready = false;
  private reqSeq = 0;
  private waiting = new Map<string, { resolve: (v: any) => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout> }>();

  constructor(private h: SocketHandlers) {}

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener('online', this.onBrowserOnline);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener('online', this.onBrowserOnline);
    this.clearTimers();
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000);
    this.ready = false;
    this.failWaiting('closed');
  }

  get isReady() {
    return this.ready;
  }

  private onBrowserOnline = () => {
    if (!this.ready && !this.stopped) {
      this.attempt = 0;
      this.reconnectNow();
    }
  };

  private reconnectNow() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.ws) return;
    this.connect();
  }

  private clearTimers() {
    if (this.timer) clearTimeout(this.timer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.timer = null;
    this.pingTimer = null;
  }

  private failWaiting(reason: string) {
    for (const [, w] of this.waiting) {
      clearTimeout(w.timer);
      w.reject(new Error(reason));
    }
    this.waiting.clear();
  }

  private async connect() {
    this.h.onStatus('connecting');
    let token: string | null = null;
    try {
      token = await getAccessToken();
    } catch {
      // The server cannot be reached (or answered 5xx) while refreshing: try again later.
      return this.scheduleReconnect(false);
    }
    if (this.stopped) return;
    if (!token) return this.h.onAuthLost(); // the refresh answered 401: the session is over
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${proto}//${location.host}/api/v1/ws`);
    this.ws = ws;
    let gotReady = false;
    ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', token }));
    ws.onmessage = (ev) => {
      this.lastFrameAt = Date.now();
      let f: any;
      try {
        f = JSON.parse(ev.data as string);
      } catch {
        return;
      }
      if (f.type === 'ready') {
        gotReady = true;
        this.ready = true;
        this.attempt = 0;
        this.startPings(typeof f.heartbeat_ms === 'number' ? f.heartbeat_ms : 30_000);
        this.h.onStatus('online');
        this.h.onReady({ user_id: f.user_id, session_id: f.session_id });
      } else if (f.type === 'event') {
        this.h.onEvent(f as WsEvent);
      } else if ((f.type === 'ack' || f.type === 'error' || f.type === 'pong') && f.req !== undefined) {
        const w = this.waiting.get(String(f.req));
        if (w) {
          this.waiting.delete(String(f.req));
          clearTimeout(w.timer);
          if (f.type === 'error') w.reject(Object.assign(new Error(f.error?.message ?? 'error'), { code: f.error?.code }));
          else w.resolve(f);
        }
      }
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.ready = false;
      if (this.pingTimer) clearInterval(this.pingTimer);
      this.pingTimer = null;
      this.failWaiting('disconnected');
      if (this.stopped) return;
      this.h.onStatus('offline');
      if (ev.code === 4001) {
        // Token refused or session revoked: one refresh decides which.
        refresh()
          .then((ok) => {
            if (this.stopped) return;
            if (ok) this.scheduleReconnect(gotReady);
            else this.h.onAuthLost();
          })
          .catch(() => this.scheduleReconnect(false));
        return;
      }
      this.scheduleReconnect(gotReady);
    };
    ws.onerror = () => {
      /* onclose follows */
    };
  }

  private scheduleReconnect(wasReady: boolean) {
    if (this.stopped) return;
    this.h.onStatus('offline');
    if (wasReady) this.attempt = 0;
    const delay = backoffDelay(this.attempt++);
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, delay);
  }

  private startPings(heartbeat: number) {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.lastFrameAt = Date.now();
    const every = Math.max(5_000, Math.min(heartbeat, 30_000));
    this.pingTimer = setInterval(() => {
      const ws = this.ws;
      if (!ws) return;
      // No frame at all for two intervals: the link is dead even if the socket looks open.
      if (Date.now() - this.lastFrameAt > every * 2 + 5_000) {
        ws.close();
        ws.onclose?.(new CloseEvent('close', { code: 1006 }));
        return;
      }
      this.send({ type: 'ping' });
    }, every);
  }

  /** Sends a frame; false when not connected. */
  send(frame: object): boolean {
    if (!this.ws || !this.ready || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /** Sends a frame with a req and waits for its ack/error. */
  request<T = any>(frame: object, timeoutMs = 10_000): Promise<T> {
    const req = String(++this.reqSeq);
    return new Promise<T>((resolve, reject) => {
      if (!this.send({ ...frame, req })) return reject(new Error('not connected'));
      const timer = setTimeout(() => {
        this.waiting.delete(req);
        reject(new Error('timeout'));
      }, timeoutMs);
      this.waiting.set(req, { resolve, reject, timer });
    });
  }
}
