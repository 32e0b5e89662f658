// The files waiting to go with the next message, above the message box: each with its type (or
// a small preview), name, size, upload progress and a remove button (which stops the upload).
import { CircleAlert, WifiOff, X } from 'lucide-preact';
import { formatBytes, typeLabel } from '../files';
import { removeFile, type PendingFile } from '../uploads';
import { FileTypeIcon } from './Attachments';

function Item({ composerKey, p }: { composerKey: string; p: PendingFile }) {
  const pct = p.size > 0 ? Math.min(100, Math.floor((p.sent / p.size) * 100)) : p.status === 'done' ? 100 : 0;
  const busy = p.status === 'uploading' || p.status === 'waiting';
  let status: string;
  if (p.status === 'done') status = `${typeLabel(p.type, p.name)} · ${formatBytes(p.size)}`;
  else if (p.status === 'waiting') status = `Connection lost · resumes at ${pct}%`;
  else if (p.status === 'error') status = p.error ?? 'Upload failed';
  else status = `${pct}% · ${formatBytes(p.sent)} of ${formatBytes(p.size)}`;
  return (
    <li class={`tray-item is-${p.status}`}>
      {p.thumb ? (
        <span class="tray-thumb" aria-hidden="true">
          <img src={p.thumb} alt="" />
        </span>
      ) : (
        <FileTypeIcon type={p.type} name={p.name} size={32} />
      )}
      <div class="tray-text">
        <span class="tray-name" title={p.name}>
          {p.name}
        </span>
        <span class="tray-status" role={p.status === 'error' ? 'alert' : undefined}>
          {p.status === 'error' && <CircleAlert size={13} aria-hidden="true" />}
          {p.status === 'waiting' && <WifiOff size={13} aria-hidden="true" />}
          <span>{status}</span>
        </span>
        {busy && (
          <div
            class="tray-progress"
            role="progressbar"
            aria-label={`Uploading ${p.name}`}
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={pct}
            aria-valuetext={`${pct}%`}
          >
            <div class="tray-bar" style={{ width: `${pct}%` }} />
          </div>
        )}
      </div>
      <button
        type="button"
        class="icon tray-remove"
        aria-label={busy ? `Cancel upload of ${p.name}` : `Remove ${p.name}`}
        title={busy ? 'Cancel upload' : 'Remove'}
        onClick={(e) => {
          // Keep the focus in the tray (the next item's button), else in the message box.
          const li = e.currentTarget.closest('li');
          const next = (li?.nextElementSibling ?? li?.previousElementSibling)?.querySelector<HTMLElement>('.tray-remove');
          const box = e.currentTarget.closest('form')?.querySelector<HTMLElement>('textarea');
          removeFile(composerKey, p.key);
          requestAnimationFrame(() => (next?.isConnected ? next : box)?.focus());
        }}
      >
        <X size={16} aria-hidden="true" />
      </button>
    </li>
  );
}

export function AttachmentTray({ composerKey, files }: { composerKey: string; files: PendingFile[] }) {
  const up = files.filter((f) => f.status === 'uploading' || f.status === 'waiting').length;
  return (
    <div class="tray">
      <ul class="tray-list" aria-label={`Attachments (${files.length})`}>
        {files.map((p) => (
          <Item key={p.key} composerKey={composerKey} p={p} />
        ))}
      </ul>
      <span class="sr-only" aria-live="polite">
        {up ? `Uploading ${up === 1 ? '1 file' : `${up} files`}` : 'All files uploaded'}
      </span>
    </div>
  );
}
