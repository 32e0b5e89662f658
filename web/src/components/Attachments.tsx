// A message's files and link previews: images inline (their box reserved from the size the
// server measured, so the timeline does not jump when they load), other files as cards with a
// download button, link previews as cards under the text, and the image viewer (lightbox).
import { signal } from '@preact/signals';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import {
  ChevronLeft,
  ChevronRight,
  Download,
  File as FileIcon,
  FileArchive,
  FileAudio,
  FileCode,
  FileImage,
  FileSpreadsheet,
  FileText,
  FileVideo,
  Presentation,
  X,
} from 'lucide-preact';
import { downloadFile, fileLinks, linkFor } from '../downloads';
import { fileKind, fitBox, formatBytes, hostOf, isInlineImage, previewImageSource, typeLabel, type FileKind } from '../files';
import { showToast } from '../state/store';
import type { ClientMessage, FileObject, LinkPreview } from '../types';

const ICONS: Record<FileKind, typeof FileIcon> = {
  image: FileImage,
  video: FileVideo,
  audio: FileAudio,
  pdf: FileText,
  archive: FileArchive,
  spreadsheet: FileSpreadsheet,
  presentation: Presentation,
  document: FileText,
  code: FileCode,
  text: FileText,
  file: FileIcon,
};

/** The type icon of a file, in a coloured tile (the colour says the kind at a glance). */
export function FileTypeIcon({ type, name, size = 40 }: { type: string; name: string; size?: number }) {
  const kind = fileKind(type, name);
  const Icon = ICONS[kind];
  return (
    <span class={`file-icon is-${kind} ${size <= 32 ? 'is-small' : ''}`} aria-hidden="true">
      <Icon size={size <= 32 ? 18 : 22} />
    </span>
  );
}

/** The image viewer: the images of one message, the one shown, and what had the focus. */
export const lightbox = signal<{ files: FileObject[]; index: number; opener: HTMLElement | null } | null>(null);

function useSignedUrl(id: string, thumb: boolean): [string | null, () => void] {
  const pick = (l: { url: string; thumbnail_url?: string } | null) => (l ? (thumb ? l.thumbnail_url ?? l.url : l.url) : null);
  const [src, setSrc] = useState<string | null>(() => pick(fileLinks.peek(id)));
  const [tries, setTries] = useState(0);
  useEffect(() => {
    let live = true;
    linkFor(id)
      .then((l) => live && setSrc(pick(l)))
      .catch(() => {});
    return () => {
      live = false;
    };
  }, [id, tries]);
  // A failed load (an expired link, a server restart): ask for a fresh link, twice at most.
  const retry = () => {
    if (tries >= 2) return;
    fileLinks.invalidate(id);
    setTries(tries + 1);
  };
  return [src, retry];
}

function boxStyle(f: FileObject, maxW: number, maxH: number): JSX.CSSProperties {
  const b = fitBox(f.width ?? 0, f.height ?? 0, maxW, maxH);
  // Width and aspect ratio, not height: on a narrow screen max-width shrinks the box and the
  // height follows, still reserved before the image loads.
  return { width: `${b.width}px`, aspectRatio: `${b.width} / ${b.height}` };
}

function InlineImage({ f, onOpen, many }: { f: FileObject; onOpen: (el: HTMLElement) => void; many: boolean }) {
  const [src, retry] = useSignedUrl(f.id, true);
  const [loaded, setLoaded] = useState(false);
  const b = fitBox(f.width ?? 0, f.height ?? 0, many ? 240 : 400, many ? 240 : 300);
  return (
    <button type="button" class={`att-image ${loaded ? 'is-loaded' : ''}`} style={boxStyle(f, many ? 240 : 400, many ? 240 : 300)} aria-label={`View image ${f.name}`} title={f.name} onClick={(e) => onOpen(e.currentTarget)}>
      {src && <img src={src} alt="" width={b.width} height={b.height} decoding="async" loading="lazy" onLoad={() => setLoaded(true)} onError={retry} />}
    </button>
  );
}

function FileCard({ f }: { f: FileObject }) {
  const [busy, setBusy] = useState(false);
  const download = async () => {
    setBusy(true);
    try {
      await downloadFile(f);
    } catch (e) {
      showToast(`Could not download ${f.name}: ${(e as Error).message}`);
    } finally {
      setBusy(false);
    }
  };
  const meta = [typeLabel(f.content_type, f.name), formatBytes(f.size)].filter(Boolean).join(' · ');
  return (
    <div class="file-card">
      <FileTypeIcon type={f.content_type} name={f.name} />
      <div class="file-card-text">
        <span class="file-name" title={f.name}>
          {f.name}
        </span>
        <span class="file-meta">{meta}</span>
      </div>
      <button type="button" class="icon file-dl" aria-label={`Download ${f.name}`} title="Download" disabled={busy} onClick={() => void download()}>
        <Download size={18} aria-hidden="true" />
      </button>
    </div>
  );
}

/** Voice messages and other recordings: a player, and the transcript under it once the server
 * has made one. */
function AudioCard({ f }: { f: FileObject }) {
  const [src, retry] = useSignedUrl(f.id, false);
  return (
    <div class="audio-card">
      <audio controls preload="metadata" src={src ?? undefined} aria-label={`Play ${f.name}`} onError={retry} />
      {f.transcript && (
        <p class="transcript" aria-label="Transcript">
          {f.transcript.text || <em>No words recognised.</em>}
        </p>
      )}
    </div>
  );
}

export function isAudio(f: FileObject): boolean {
  return f.content_type.startsWith('audio/') || !!f.transcript || ((f.content_type === 'video/webm' || f.content_type === 'video/ogg') && /^voice-/.test(f.name));
}

function PreviewImage({ url }: { url: string }) {
  const src = previewImageSource(url, location.origin);
  const [fileSrc] = useSignedUrl(src?.kind === 'file' ? src.id : '', src?.kind === 'file' && src.thumb);
  const [failed, setFailed] = useState(false);
  if (!src || failed) return null;
  const s = src.kind === 'file' ? fileSrc : src.url;
  if (!s) return <span class="preview-image" aria-hidden="true" />;
  return (
    <span class="preview-image" aria-hidden="true">
      <img src={s} alt="" loading="lazy" decoding="async" onError={() => setFailed(true)} />
    </span>
  );
}

function PreviewCard({ p }: { p: LinkPreview }) {
  const site = p.site_name || hostOf(p.url);
  const title = p.title || p.url;
  return (
    <div class="preview-card">
      <div class="preview-text">
        {site && <span class="preview-site">{site}</span>}
        <a class="preview-title" href={p.url} target="_blank" rel="noopener noreferrer nofollow">
          {title}
        </a>
        {p.description && <p class="preview-desc">{p.description}</p>}
      </div>
      {p.image_url && <PreviewImage url={p.image_url} />}
    </div>
  );
}

export function Previews({ m }: { m: ClientMessage }) {
  const list = (m.previews ?? []).filter((p) => p && typeof p.url === 'string' && /^https?:\/\//i.test(p.url) && (p.title || p.description));
  if (!list.length || m.deleted) return null;
  return (
    <div class="previews">
      {list.slice(0, 5).map((p) => (
        <PreviewCard key={p.url} p={p} />
      ))}
    </div>
  );
}

export function Attachments({ m }: { m: ClientMessage }) {
  const all = (m.attachments ?? []).filter((f) => f && typeof f.id === 'string');
  if (!all.length || m.deleted) return null;
  const images = all.filter(isInlineImage);
  const others = all.filter((f) => !isInlineImage(f));
  return (
    <div class="attachments">
      {images.length > 0 && (
        <div class={`att-images ${images.length > 1 ? 'is-many' : ''}`}>
          {images.map((f, i) => (
            <InlineImage key={f.id} f={f} many={images.length > 1} onOpen={(el) => (lightbox.value = { files: images, index: i, opener: el })} />
          ))}
        </div>
      )}
      {others.map((f) => (isAudio(f) ? <AudioCard key={f.id} f={f} /> : <FileCard key={f.id} f={f} />))}
    </div>
  );
}

/** Names of a message's files, for its accessible name ("2 files: a.png, b.pdf"). */
export function attachmentSummary(m: ClientMessage): string {
  const a = m.attachments ?? [];
  if (!a.length) return '';
  return `${a.length === 1 ? '1 file' : `${a.length} files`}: ${a.map((f) => f.name).join(', ')}`;
}

/** The image viewer: Escape closes (the focus goes back to the image), ← and → move between
 * the images of the message, Download saves the original. */
export function Lightbox() {
  const lb = lightbox.value;
  const ref = useRef<HTMLDialogElement>(null);
  const opener = useRef<HTMLElement | null>(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    opener.current = lb?.opener ?? null;
    if (!d.open) d.showModal();
    d.querySelector<HTMLElement>('.lightbox-close')?.focus();
    const onCancel = (e: Event) => {
      e.preventDefault();
      close();
    };
    d.addEventListener('cancel', onCancel);
    return () => d.removeEventListener('cancel', onCancel);
  }, [!!lb]);
  if (!lb) return null;
  const f = lb.files[lb.index];
  const n = lb.files.length;
  const go = (delta: number) => {
    if (n < 2) return;
    lightbox.value = { ...lb, index: (lb.index + delta + n) % n };
  };
  function close() {
    const back = opener.current;
    ref.current?.close();
    lightbox.value = null;
    requestAnimationFrame(() => back?.isConnected && back.focus());
  }
  return (
    <dialog
      ref={ref}
      class="lightbox"
      aria-label={`Image ${f.name}`}
      onKeyDown={(e) => {
        if (e.key === 'ArrowRight') {
          e.preventDefault();
          go(1);
        } else if (e.key === 'ArrowLeft') {
          e.preventDefault();
          go(-1);
        }
      }}
      onClick={(e) => {
        // A click on the backdrop (the dialog itself, around the image) closes.
        if (e.target === e.currentTarget || (e.target as HTMLElement).classList.contains('lightbox-stage')) close();
      }}
    >
      <header class="lightbox-bar">
        <div class="lightbox-title">
          <strong title={f.name}>{f.name}</strong>
          <span class="lightbox-meta">
            {formatBytes(f.size)}
            {f.width && f.height ? ` · ${f.width} × ${f.height}` : ''}
            {n > 1 ? ` · ${lb.index + 1} of ${n}` : ''}
          </span>
        </div>
        <button type="button" class="icon lightbox-btn" aria-label={`Download ${f.name}`} title="Download" onClick={() => void downloadFile(f).catch((e) => showToast(`Could not download: ${(e as Error).message}`))}>
          <Download size={20} aria-hidden="true" />
        </button>
        <button type="button" class="icon lightbox-btn lightbox-close" aria-label="Close image viewer" title="Close (Esc)" onClick={close}>
          <X size={20} aria-hidden="true" />
        </button>
      </header>
      <div class="lightbox-stage">
        {n > 1 && (
          <button type="button" class="icon lightbox-nav is-prev" aria-label="Previous image" title="Previous (←)" onClick={() => go(-1)}>
            <ChevronLeft size={28} aria-hidden="true" />
          </button>
        )}
        <LightboxImage key={f.id} f={f} />
        {n > 1 && (
          <button type="button" class="icon lightbox-nav is-next" aria-label="Next image" title="Next (→)" onClick={() => go(1)}>
            <ChevronRight size={28} aria-hidden="true" />
          </button>
        )}
      </div>
    </dialog>
  );
}

/** The image's box in the viewer: its own size, shrunk to the stage (the bar and margins off
 * the viewport's height), keeping its aspect ratio. */
function frameStyle(f: FileObject): JSX.CSSProperties {
  if (!f.width || !f.height) return { width: 'min(100%, 900px)', aspectRatio: '4 / 3' };
  const r = f.width / f.height;
  return { width: `min(100%, ${f.width}px, calc((100dvh - 96px) * ${r.toFixed(5)}))`, aspectRatio: `${f.width} / ${f.height}` };
}

function LightboxImage({ f }: { f: FileObject }) {
  const [src, retry] = useSignedUrl(f.id, false);
  const [thumb] = useSignedUrl(f.id, true);
  const [loaded, setLoaded] = useState(false);
  return (
    <figure class="lightbox-figure">
      <div class="lightbox-frame" style={frameStyle(f)}>
        {thumb && !loaded && <img class="lightbox-img is-placeholder" src={thumb} alt="" />}
        {src && <img class={`lightbox-img ${loaded ? '' : 'is-loading'}`} src={src} alt={f.name} width={f.width} height={f.height} onLoad={() => setLoaded(true)} onError={retry} />}
      </div>
    </figure>
  );
}
