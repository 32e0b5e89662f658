// Files are read with the bearer token, which an <img> or a download link cannot send: the
// app asks for a short-lived signed URL (`GET /files/{id}/link`) and caches it per file until
// shortly before it expires (files.ts: LinkCache).
import { api, enc, getAccessToken } from './api';
import { LinkCache, type FileLink } from './files';
import type { FileObject } from './types';

export const fileLinks = new LinkCache((id) => api<{ url: string; expires_at: number; thumbnail_url?: string }>(`/files/${enc(id)}/link`));

export function linkFor(id: string): Promise<FileLink> {
  return fileLinks.get(id);
}

/** Saves a file under its name (the signed URL is same-origin, so `download` names it). */
export async function downloadFile(f: Pick<FileObject, 'id' | 'name'>): Promise<void> {
  const l = await linkFor(f.id);
  const a = document.createElement('a');
  a.href = l.url;
  a.download = f.name;
  a.rel = 'noopener';
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
}

/** Saves an API answer that needs the bearer token (a CSV, an export archive) as a file: a
 * plain link cannot carry the token, so it is fetched and handed to the browser as a blob. */
export async function saveAuthed(path: string, filename: string): Promise<void> {
  const token = await getAccessToken();
  const res = await fetch(`/api/v1${path}`, { headers: { Authorization: `Bearer ${token}` } });
  if (!res.ok) throw new Error(`the download failed (${res.status})`);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.click();
  window.setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
