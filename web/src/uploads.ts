// Attachments being prepared in a composer: each file goes up with tus (resumable uploads at
// /api/v1/uploads, tus-js-client loaded on first use) while the person writes. Kept per
// composer (a conversation or a thread), so switching conversations keeps them, as drafts are.
import { signal } from '@preact/signals';
import { api, getAccessToken, refresh } from './api';
import { MAX_ATTACHMENTS, pastedName, uploadErrorText, uploadPath } from './files';
import type { FileObject } from './types';
import type { DetailedError, HttpRequest, HttpResponse, Upload } from 'tus-js-client';

export interface PendingFile {
  /** Local id of this attachment. */
  key: string;
  name: string;
  size: number;
  type: string;
  status: 'uploading' | 'waiting' | 'done' | 'error';
  /** Bytes the server has (or that went out). */
  sent: number;
  error?: string;
  file?: FileObject;
  /** A small preview (data: URL: the CSP allows `data:` images, not `blob:`). */
  thumb?: string;
  width?: number;
  height?: number;
}

/** Attachments per composer key (the conversation id, or `thread.<root id>`). */
export const pendingFiles = signal<Record<string, PendingFile[]>>({});

const CHUNK = 8 * 1024 * 1024;
const RETRY_DELAYS = [0, 1000, 3000, 5000, 10_000, 20_000];
const THUMB = 112;

interface Running {
  upload: Upload | null;
  source: File;
  composerKey: string;
  aborted: boolean;
  resumeTimer?: ReturnType<typeof setTimeout>;
  lastPaint: number;
}
const running = new Map<string, Running>();

let seq = 0;
let tusModule: Promise<typeof import('tus-js-client')> | null = null;
function loadTus() {
  tusModule ??= import('tus-js-client');
  return tusModule;
}

function patch(composerKey: string, key: string, f: (p: PendingFile) => Partial<PendingFile>) {
  const list = pendingFiles.value[composerKey];
  if (!list) return;
  const at = list.findIndex((p) => p.key === key);
  if (at < 0) return;
  const next = list.slice();
  next[at] = { ...next[at], ...f(next[at]) };
  pendingFiles.value = { ...pendingFiles.value, [composerKey]: next };
}

export function filesOf(composerKey: string): PendingFile[] {
  return pendingFiles.value[composerKey] ?? [];
}

/** Ready to send: at least one attachment and all of them uploaded. */
export function allUploaded(list: readonly PendingFile[]): boolean {
  return list.every((p) => p.status === 'done' && !!p.file);
}

/**
 * Adds files to a composer and starts uploading them. Returns a sentence when some were left
 * out (over the limit of 10), else null.
 */
export function addFiles(composerKey: string, files: readonly File[]): string | null {
  const held = filesOf(composerKey);
  const room = MAX_ATTACHMENTS - held.length;
  const take = files.slice(0, Math.max(0, room));
  const added: PendingFile[] = take.map((f) => ({
    key: `up${++seq}`,
    name: f.name || pastedName(f.type || 'image/png', new Date()),
    size: f.size,
    type: f.type || 'application/octet-stream',
    status: 'uploading',
    sent: 0,
  }));
  if (added.length) pendingFiles.value = { ...pendingFiles.value, [composerKey]: [...held, ...added] };
  added.forEach((p, i) => {
    const source = take[i];
    running.set(p.key, { upload: null, source, composerKey, aborted: false, lastPaint: 0 });
    void start(composerKey, p, source);
    if (p.type.startsWith('image/') && source.size < 30_000_000) void preview(composerKey, p.key, source);
  });
  const left = files.length - take.length;
  if (left > 0) return `At most ${MAX_ATTACHMENTS} attachments per message: ${left === 1 ? '1 file was' : `${left} files were`} left out.`;
  return null;
}

/** A small data: URL thumbnail and the image's size, drawn locally (never uploaded). */
async function preview(composerKey: string, key: string, source: Blob) {
  try {
    const bmp = await createImageBitmap(source);
    const s = Math.min(1, THUMB / Math.max(bmp.width, bmp.height));
    const c = document.createElement('canvas');
    c.width = Math.max(1, Math.round(bmp.width * s));
    c.height = Math.max(1, Math.round(bmp.height * s));
    c.getContext('2d')?.drawImage(bmp, 0, 0, c.width, c.height);
    const thumb = c.toDataURL('image/png');
    patch(composerKey, key, () => ({ thumb, width: bmp.width, height: bmp.height }));
    bmp.close();
  } catch {
    /* not decodable here: the type icon shows instead */
  }
}

async function start(composerKey: string, p: PendingFile, source: File) {
  const r = running.get(p.key);
  if (!r) return;
  let tus: typeof import('tus-js-client');
  try {
    tus = await loadTus();
  } catch {
    patch(composerKey, p.key, () => ({ status: 'error', error: 'The uploader could not be loaded. Reload the page.' }));
    return;
  }
  if (r.aborted) return;
  let fileId: string | null = null;
  let mustRefresh = false;
  const upload = new tus.Upload(source, {
    endpoint: new URL('/api/v1/uploads', location.origin).href,
    metadata: { filename: p.name, filetype: p.type },
    chunkSize: CHUNK,
    retryDelays: RETRY_DELAYS,
    // Resuming is within this page (the File is gone after a reload): nothing in localStorage.
    storeFingerprintForResuming: false,
    removeFingerprintOnSuccess: true,
    onBeforeRequest: async (req: HttpRequest) => {
      if (mustRefresh) {
        mustRefresh = false;
        await refresh().catch(() => false);
      }
      const t = await getAccessToken();
      if (t) req.setHeader('Authorization', `Bearer ${t}`);
    },
    onAfterResponse: (_req: HttpRequest, res: HttpResponse) => {
      const id = res.getHeader('Parley-File-Id');
      if (id) fileId = id;
    },
    onShouldRetry: (err: DetailedError) => {
      const status = err.originalResponse?.getStatus() ?? 0;
      if (status === 401) {
        mustRefresh = true;
        return true;
      }
      if (status === 409 || status === 423) return true;
      if (status >= 400 && status < 500) return false;
      // Offline: no point trying now; onError waits for the network to come back.
      return navigator.onLine !== false;
    },
    onProgress: (sent: number) => {
      const now = performance.now();
      if (now - r.lastPaint < 80 && sent < p.size) return;
      r.lastPaint = now;
      patch(composerKey, p.key, (x) => (x.status === 'uploading' || x.status === 'waiting' ? { sent, status: 'uploading' } : {}));
    },
    onSuccess: (payload?: { lastResponse?: HttpResponse }) => {
      fileId ??= payload?.lastResponse?.getHeader('Parley-File-Id') ?? null;
      void finish(composerKey, p, upload, fileId);
    },
    onError: (err: Error) => {
      if (r.aborted) return;
      const res = (err as DetailedError).originalResponse ?? null;
      const status = res?.getStatus() ?? 0;
      if (status === 0 || status >= 500) {
        // A network drop (or a server restart): wait, then resume from the server's offset.
        patch(composerKey, p.key, () => ({ status: 'waiting' }));
        waitAndResume(p.key);
        return;
      }
      patch(composerKey, p.key, () => ({ status: 'error', error: uploadErrorText(status, res?.getBody()) }));
    },
  });
  r.upload = upload;
  upload.start();
}

function waitAndResume(key: string) {
  const r = running.get(key);
  if (!r || r.aborted) return;
  let waited = 0;
  const go = () => {
    window.removeEventListener('online', go);
    clearTimeout(r.resumeTimer);
    if (r.aborted || !r.upload) return;
    r.upload.start();
  };
  // Back online (the event), or checked every 2 s: `online` does not fire when only the
  // server went away, and a server that is down gets a try every 5 s or so.
  const poll = () => {
    waited += 2000;
    if (navigator.onLine !== false && waited >= 4000) go();
    else r.resumeTimer = setTimeout(poll, 2000);
  };
  window.addEventListener('online', go);
  r.resumeTimer = setTimeout(poll, 2000);
}

async function finish(composerKey: string, p: PendingFile, upload: Upload, fileId: string | null) {
  const r = running.get(p.key);
  if (!r || r.aborted) return;
  const path = uploadPath(upload.url);
  let file: FileObject | null = null;
  // The finished upload's file object (size, type, image size, thumbnail); the header's id
  // alone is enough if this read fails.
  for (let i = 0; i < 3 && path && !file; i++) {
    try {
      file = (await api<{ file: FileObject }>(path)).file ?? null;
    } catch {
      await new Promise((res) => setTimeout(res, 300 * (i + 1)));
    }
  }
  if (r.aborted) return;
  if (!file && fileId) {
    const cur = filesOf(composerKey).find((x) => x.key === p.key);
    file = { id: fileId, name: p.name, size: p.size, content_type: p.type, url: `/api/v1/files/${encodeURIComponent(fileId)}`, width: cur?.width, height: cur?.height };
  }
  running.delete(p.key);
  if (!file) {
    patch(composerKey, p.key, () => ({ status: 'error', error: 'The upload finished but the server did not say which file it made.' }));
    return;
  }
  patch(composerKey, p.key, () => ({ status: 'done', sent: p.size, file }));
}

/** Removes an attachment; an upload still running is stopped and deleted on the server. */
export function removeFile(composerKey: string, key: string) {
  const r = running.get(key);
  if (r) {
    r.aborted = true;
    clearTimeout(r.resumeTimer);
    void r.upload?.abort(true).catch(() => {});
    running.delete(key);
  }
  const list = filesOf(composerKey).filter((p) => p.key !== key);
  const next = { ...pendingFiles.value };
  if (list.length) next[composerKey] = list;
  else delete next[composerKey];
  pendingFiles.value = next;
}

/** On send: the uploaded files, in order; the composer's list is emptied. */
export function takeFiles(composerKey: string): FileObject[] {
  const list = filesOf(composerKey);
  const out = list.filter((p) => p.status === 'done' && p.file).map((p) => p.file!);
  const next = { ...pendingFiles.value };
  delete next[composerKey];
  pendingFiles.value = next;
  return out;
}

/** Sign-out: every upload stops (and is deleted on the server while the token still works). */
export function clearAllUploads() {
  for (const r of running.values()) {
    r.aborted = true;
    clearTimeout(r.resumeTimer);
    void r.upload?.abort(true).catch(() => {});
  }
  running.clear();
  pendingFiles.value = {};
}
