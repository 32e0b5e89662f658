// Pure helpers for files (no DOM, no signals, no I/O): sizes, the icon a file gets, the box an
// inline image takes before it loads, the signed-link cache's expiry rule, and the text of an
// upload error. Unit-tested in tests/files.test.ts.
import type { FileObject } from './types';

/** At most this many attachments per message (the server's limit too). */
export const MAX_ATTACHMENTS = 10;

/** "0 B", "999 B", "1.2 KB", "15 KB", "3.4 MB", "1.0 GB": decimal-free above 10 of a unit. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '';
  if (n < 1000) return `${Math.round(n)} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

export type FileKind = 'image' | 'video' | 'audio' | 'pdf' | 'archive' | 'spreadsheet' | 'presentation' | 'document' | 'code' | 'text' | 'file';

const BY_EXT: Record<string, FileKind> = {
  png: 'image', jpg: 'image', jpeg: 'image', gif: 'image', webp: 'image', avif: 'image', bmp: 'image', svg: 'image', heic: 'image', tif: 'image', tiff: 'image',
  mp4: 'video', mov: 'video', webm: 'video', mkv: 'video', avi: 'video', m4v: 'video',
  mp3: 'audio', wav: 'audio', ogg: 'audio', oga: 'audio', flac: 'audio', m4a: 'audio', aac: 'audio', opus: 'audio',
  pdf: 'pdf',
  zip: 'archive', gz: 'archive', tgz: 'archive', tar: 'archive', bz2: 'archive', xz: 'archive', '7z': 'archive', rar: 'archive', zst: 'archive',
  xls: 'spreadsheet', xlsx: 'spreadsheet', ods: 'spreadsheet', csv: 'spreadsheet', tsv: 'spreadsheet', numbers: 'spreadsheet',
  ppt: 'presentation', pptx: 'presentation', odp: 'presentation', key: 'presentation',
  doc: 'document', docx: 'document', odt: 'document', rtf: 'document', pages: 'document',
  js: 'code', ts: 'code', tsx: 'code', jsx: 'code', py: 'code', rb: 'code', go: 'code', rs: 'code', c: 'code', cc: 'code', cpp: 'code', h: 'code', hpp: 'code',
  java: 'code', kt: 'code', swift: 'code', sh: 'code', json: 'code', yaml: 'code', yml: 'code', toml: 'code', xml: 'code', html: 'code', css: 'code', sql: 'code',
  txt: 'text', md: 'text', log: 'text',
};

/** What icon a file gets: from its content type first, then its extension. */
export function fileKind(contentType: string | undefined, name = ''): FileKind {
  const t = (contentType ?? '').toLowerCase().split(';')[0].trim();
  if (t === 'application/pdf') return 'pdf';
  if (t.startsWith('image/')) return 'image';
  if (t.startsWith('video/')) return 'video';
  if (t.startsWith('audio/')) return 'audio';
  if (/zip|x-tar|gzip|x-7z|x-rar|x-bzip|x-xz|zstd/.test(t)) return 'archive';
  if (/spreadsheet|ms-excel|text\/csv|tab-separated/.test(t)) return 'spreadsheet';
  if (/presentation|powerpoint/.test(t)) return 'presentation';
  if (/wordprocessing|msword|opendocument\.text|rtf/.test(t)) return 'document';
  if (/json|javascript|typescript|x-python|x-sh|xml|x-c|html|css|sql|yaml|toml/.test(t)) return 'code';
  const dot = name.lastIndexOf('.');
  const ext = dot > 0 ? name.slice(dot + 1).toLowerCase() : '';
  const byExt = BY_EXT[ext];
  if (byExt) return byExt;
  if (t.startsWith('text/')) return 'text';
  return 'file';
}

/** A short label of a type, for people: "PNG image", "PDF", "ZIP archive", "File". */
export function typeLabel(contentType: string | undefined, name = ''): string {
  const kind = fileKind(contentType, name);
  const dot = name.lastIndexOf('.');
  const ext = dot > 0 && dot < name.length - 1 ? name.slice(dot + 1).toUpperCase() : '';
  switch (kind) {
    case 'pdf':
      return 'PDF';
    case 'image':
    case 'video':
    case 'audio':
    case 'archive':
      return ext && ext.length <= 5 ? `${ext} ${kind}` : kind[0].toUpperCase() + kind.slice(1);
    case 'spreadsheet':
      return 'Spreadsheet';
    case 'presentation':
      return 'Presentation';
    case 'document':
      return 'Document';
    case 'code':
    case 'text':
      return ext && ext.length <= 5 ? `${ext} file` : kind === 'code' ? 'Code' : 'Text';
    default:
      return ext && ext.length <= 5 ? `${ext} file` : 'File';
  }
}

/** Raster types a browser shows in an <img> (SVG is not shown inline: it is a document). */
const INLINE_IMAGE = new Set(['image/png', 'image/jpeg', 'image/jpg', 'image/gif', 'image/webp', 'image/avif', 'image/bmp']);

/** Whether an attachment is drawn inline as an image: a raster type whose size the server knows
 * (the box is reserved from it, so the timeline does not jump when it loads). */
export function isInlineImage(f: Pick<FileObject, 'content_type' | 'width' | 'height'>): boolean {
  return INLINE_IMAGE.has((f.content_type ?? '').toLowerCase().split(';')[0].trim()) && !!f.width && !!f.height && f.width > 0 && f.height > 0;
}

/** The size an image is drawn at: its own size scaled down (never up) to fit max, at least 1px. */
export function fitBox(width: number, height: number, maxW: number, maxH: number): { width: number; height: number } {
  if (!(width > 0) || !(height > 0)) return { width: Math.max(1, Math.round(maxW)), height: Math.max(1, Math.round(maxH)) };
  const s = Math.min(1, maxW / width, maxH / height);
  return { width: Math.max(1, Math.round(width * s)), height: Math.max(1, Math.round(height * s)) };
}

/** A signed link to a file, as `GET /files/{id}/link` answers, with when it was fetched. */
export interface FileLink {
  url: string;
  thumbnail_url?: string;
  /** ms since the epoch */
  expires_at: number;
  fetched_at: number;
}

/** `expires_at` in ms (the API's times are ms; a value in seconds is taken as seconds). */
export function expiryMs(expiresAt: number): number {
  return expiresAt > 0 && expiresAt < 1e11 ? expiresAt * 1000 : expiresAt;
}

/** A cached link is used until shortly before it expires: a fifth of its life before, between
 * 5 s and 60 s, so a page that loads it next still gets a valid one. */
export function linkUsable(l: FileLink, now: number): boolean {
  const life = l.expires_at - l.fetched_at;
  const margin = Math.min(60_000, Math.max(5_000, life / 5));
  return now < l.expires_at - margin;
}

/** Per-file signed links: cached until shortly before expiry, one request at a time per file. */
export class LinkCache {
  private links = new Map<string, FileLink>();
  private inflight = new Map<string, Promise<FileLink>>();

  constructor(
    private fetchLink: (id: string) => Promise<{ url: string; expires_at: number; thumbnail_url?: string }>,
    private now: () => number = Date.now,
  ) {}

  /** The cached link when still usable (no request). */
  peek(id: string): FileLink | null {
    const l = this.links.get(id);
    if (!l) return null;
    if (linkUsable(l, this.now())) return l;
    this.links.delete(id);
    return null;
  }

  get(id: string): Promise<FileLink> {
    const held = this.peek(id);
    if (held) return Promise.resolve(held);
    let p = this.inflight.get(id);
    if (!p) {
      const fetched_at = this.now();
      p = this.fetchLink(id)
        .then((r) => {
          const l: FileLink = { url: r.url, thumbnail_url: r.thumbnail_url, expires_at: expiryMs(r.expires_at), fetched_at };
          this.links.set(id, l);
          return l;
        })
        .finally(() => this.inflight.delete(id));
      this.inflight.set(id, p);
    }
    return p;
  }

  /** Forgets one file's link (it failed to load: expired early, or the server restarted). */
  invalidate(id: string) {
    this.links.delete(id);
  }

  clear() {
    this.links.clear();
    this.inflight.clear();
  }
}

/** The text shown for a failed upload: the server's message when it sent one (413 over the
 * size limit, `quota_exceeded`), else a plain one by status. */
export function uploadErrorText(status: number, body: string | undefined, maxBytes?: number): string {
  let msg = '';
  let code = '';
  try {
    const e = (JSON.parse(body ?? '') as { error?: { code?: string; message?: string } }).error;
    msg = e?.message ?? '';
    code = e?.code ?? '';
  } catch {
    /* not JSON */
  }
  if (msg) return msg;
  if (code === 'quota_exceeded') return 'Your storage quota is full.';
  if (status === 413) return maxBytes ? `The file is larger than the limit (${formatBytes(maxBytes)}).` : 'The file is too large.';
  if (status === 401 || status === 403) return 'Not allowed to upload. Sign in again.';
  if (status === 429) return 'Too many uploads right now. Try again shortly.';
  if (status === 0) return 'The server cannot be reached.';
  if (status >= 500) return 'The server could not store the file.';
  return `Upload failed (${status}).`;
}

/** A name for a pasted image (clipboard images are all called "image.png"). */
export function pastedName(type: string, at: Date): string {
  const ext = (type.split('/')[1] ?? 'png').replace('jpeg', 'jpg').replace(/[^a-z0-9]/gi, '') || 'png';
  const p = (n: number) => String(n).padStart(2, '0');
  return `Pasted image ${at.getFullYear()}-${p(at.getMonth() + 1)}-${p(at.getDate())} ${p(at.getHours())}.${p(at.getMinutes())}.${p(at.getSeconds())}.${ext}`;
}

/** The path under /api/v1 of an upload's URL (tus gives an absolute one), or null. */
export function uploadPath(url: string | null | undefined): string | null {
  if (!url) return null;
  const m = /\/api\/v1(\/uploads\/[^?#]+)/.exec(url);
  return m ? m[1] : null;
}

/** Where a link preview's image may come from. The page's CSP allows images from this origin
 * only, so an image elsewhere is not shown; one of our files is read through a signed link. */
export function previewImageSource(imageUrl: string | undefined, origin: string): { kind: 'file'; id: string; thumb: boolean } | { kind: 'direct'; url: string } | null {
  if (!imageUrl) return null;
  let u: URL;
  try {
    u = new URL(imageUrl, origin);
  } catch {
    return null;
  }
  if (u.origin !== origin || (u.protocol !== 'http:' && u.protocol !== 'https:')) return null;
  const m = /^\/api\/v1\/files\/([^/]+)(\/thumbnail)?$/.exec(u.pathname);
  if (m && !u.search) return { kind: 'file', id: decodeURIComponent(m[1]), thumb: !!m[2] };
  return { kind: 'direct', url: u.pathname + u.search };
}

/** The host of a URL without "www.", for a preview card without a site name. */
export function hostOf(url: string): string {
  try {
    return new URL(url).hostname.replace(/^www\./, '');
  } catch {
    return '';
  }
}
