// Pure file helpers: sizes, type icons, image boxes, the signed-link cache, upload errors.
import { describe, expect, it } from 'vitest';
import {
  LinkCache,
  expiryMs,
  fileKind,
  fitBox,
  formatBytes,
  hostOf,
  isInlineImage,
  linkUsable,
  pastedName,
  previewImageSource,
  typeLabel,
  uploadErrorText,
  uploadPath,
} from '../src/files';

describe('formatBytes', () => {
  it('bytes, then KB/MB/GB with one decimal below 10', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(1000)).toBe('1.0 KB');
    expect(formatBytes(1536)).toBe('1.5 KB');
    expect(formatBytes(15 * 1024)).toBe('15 KB');
    expect(formatBytes(6 * 1024 * 1024)).toBe('6.0 MB');
    expect(formatBytes(100 * 1024 * 1024)).toBe('100 MB');
    expect(formatBytes(1024 ** 3 * 2.25)).toBe('2.3 GB');
  });
  it('never shows four digits of a unit (1000 KB is 1.0 MB)', () => {
    expect(formatBytes(1000 * 1024)).toBe('1.0 MB');
    expect(formatBytes(1023 * 1024 * 1024)).toBe('1.0 GB');
  });
  it('nothing for nonsense', () => {
    expect(formatBytes(-1)).toBe('');
    expect(formatBytes(NaN)).toBe('');
  });
});

describe('fileKind and typeLabel', () => {
  it('from the content type first', () => {
    expect(fileKind('application/pdf', 'x.bin')).toBe('pdf');
    expect(fileKind('image/png', 'a')).toBe('image');
    expect(fileKind('video/mp4')).toBe('video');
    expect(fileKind('audio/ogg; codecs=opus')).toBe('audio');
    expect(fileKind('application/zip')).toBe('archive');
    expect(fileKind('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet')).toBe('spreadsheet');
    expect(fileKind('application/vnd.openxmlformats-officedocument.presentationml.presentation')).toBe('presentation');
    expect(fileKind('application/vnd.openxmlformats-officedocument.wordprocessingml.document')).toBe('document');
    expect(fileKind('application/json')).toBe('code');
  });
  it('then the extension; text/* and unknowns last', () => {
    expect(fileKind('application/octet-stream', 'Report.PDF')).toBe('pdf');
    expect(fileKind('', 'backup.tar.gz')).toBe('archive');
    expect(fileKind('application/octet-stream', 'main.rs')).toBe('code');
    expect(fileKind('text/plain', 'notes')).toBe('text');
    expect(fileKind('application/octet-stream', 'random.bin')).toBe('file');
    expect(fileKind(undefined, '.bashrc')).toBe('file');
  });
  it('labels for people', () => {
    expect(typeLabel('application/pdf', 'a.pdf')).toBe('PDF');
    expect(typeLabel('image/png', 'cat.png')).toBe('PNG image');
    expect(typeLabel('application/zip', 'a.zip')).toBe('ZIP archive');
    expect(typeLabel('application/octet-stream', 'big.bin')).toBe('BIN file');
    expect(typeLabel('application/octet-stream', 'noext')).toBe('File');
  });
});

describe('isInlineImage', () => {
  it('raster types with a known size only', () => {
    expect(isInlineImage({ content_type: 'image/png', width: 10, height: 20 })).toBe(true);
    expect(isInlineImage({ content_type: 'image/jpeg', width: 10, height: 20 })).toBe(true);
    expect(isInlineImage({ content_type: 'image/png' })).toBe(false);
    expect(isInlineImage({ content_type: 'image/png', width: 0, height: 20 })).toBe(false);
    expect(isInlineImage({ content_type: 'image/svg+xml', width: 10, height: 10 })).toBe(false);
    expect(isInlineImage({ content_type: 'application/pdf', width: 10, height: 10 })).toBe(false);
  });
});

describe('fitBox', () => {
  it('scales down to fit, keeping the aspect ratio', () => {
    expect(fitBox(4000, 3000, 400, 300)).toEqual({ width: 400, height: 300 });
    expect(fitBox(1000, 3000, 400, 300)).toEqual({ width: 100, height: 300 });
    expect(fitBox(3000, 1000, 400, 300)).toEqual({ width: 400, height: 133 });
  });
  it('never scales up', () => {
    expect(fitBox(64, 48, 400, 300)).toEqual({ width: 64, height: 48 });
  });
  it('a thin image is at least 1px', () => {
    expect(fitBox(10000, 1, 400, 300)).toEqual({ width: 400, height: 1 });
  });
  it('the max box when the size is unknown', () => {
    expect(fitBox(0, 0, 400, 300)).toEqual({ width: 400, height: 300 });
  });
});

describe('signed-link cache', () => {
  it('expires_at in seconds is read as seconds', () => {
    expect(expiryMs(1_800_000_000)).toBe(1_800_000_000_000);
    expect(expiryMs(1_800_000_000_000)).toBe(1_800_000_000_000);
  });
  it('a link is used until shortly before it expires', () => {
    const l = { url: 'u', fetched_at: 0, expires_at: 300_000 };
    expect(linkUsable(l, 0)).toBe(true);
    expect(linkUsable(l, 239_000)).toBe(true);
    expect(linkUsable(l, 240_000)).toBe(false); // 60 s before
    const short = { url: 'u', fetched_at: 0, expires_at: 20_000 };
    expect(linkUsable(short, 14_000)).toBe(true);
    expect(linkUsable(short, 15_000)).toBe(false); // 5 s before
  });
  it('caches per file, shares one request, refetches after expiry', async () => {
    let now = 1_800_000_000_000;
    const calls: string[] = [];
    const cache = new LinkCache(async (id) => {
      calls.push(id);
      return { url: `/s/${id}?n=${calls.length}`, expires_at: now + 300_000, thumbnail_url: `/t/${id}` };
    }, () => now);
    const [a, b] = await Promise.all([cache.get('f1'), cache.get('f1')]);
    expect(a).toBe(b);
    expect(calls).toEqual(['f1']);
    expect(a.thumbnail_url).toBe('/t/f1');
    expect(cache.peek('f1')?.url).toBe('/s/f1?n=1');
    await cache.get('f2');
    expect(calls).toEqual(['f1', 'f2']);
    now += 200_000;
    expect((await cache.get('f1')).url).toBe('/s/f1?n=1');
    now += 45_000; // 55 s before expiry: too close
    expect(cache.peek('f1')).toBeNull();
    expect((await cache.get('f1')).url).toBe('/s/f1?n=3');
  });
  it('invalidate forgets one file only', async () => {
    let n = 0;
    const cache = new LinkCache(async (id) => ({ url: `/${id}/${++n}`, expires_at: Date.now() + 600_000 }));
    await cache.get('a');
    await cache.get('b');
    cache.invalidate('a');
    expect(cache.peek('a')).toBeNull();
    expect(cache.peek('b')?.url).toBe('/b/2');
    expect((await cache.get('a')).url).toBe('/a/3');
  });
  it('a failed request is not cached', async () => {
    let fail = true;
    const cache = new LinkCache(async () => {
      if (fail) throw new Error('down');
      return { url: '/ok', expires_at: Date.now() + 600_000 };
    });
    await expect(cache.get('x')).rejects.toThrow('down');
    fail = false;
    expect((await cache.get('x')).url).toBe('/ok');
  });
});

describe('upload errors', () => {
  it("shows the server's message", () => {
    expect(uploadErrorText(413, JSON.stringify({ error: { code: 'quota_exceeded', message: 'Storage quota of 10 GiB reached' } }))).toBe('Storage quota of 10 GiB reached');
    expect(uploadErrorText(413, JSON.stringify({ error: { code: 'payload_too_large', message: 'File over 100 MiB' } }))).toBe('File over 100 MiB');
  });
  it('falls back by code and status', () => {
    expect(uploadErrorText(413, JSON.stringify({ error: { code: 'quota_exceeded' } }))).toBe('Your storage quota is full.');
    expect(uploadErrorText(413, '')).toBe('The file is too large.');
    expect(uploadErrorText(413, 'nope', 100 * 1024 * 1024)).toBe('The file is larger than the limit (100 MB).');
    expect(uploadErrorText(500, undefined)).toBe('The server could not store the file.');
    expect(uploadErrorText(0, undefined)).toBe('The server cannot be reached.');
  });
});

describe('small helpers', () => {
  it('names pasted images by time', () => {
    expect(pastedName('image/png', new Date(2026, 11, 6, 8, 5, 9))).toBe('Pasted image 2026-12-06 08.05.09.png');
    expect(pastedName('image/jpeg', new Date(2026, 0, 1, 0, 0, 0))).toBe('Pasted image 2026-01-01 00.00.00.jpg');
  });
  it('finds the upload path in a tus URL', () => {
    expect(uploadPath('http://127.0.0.1:8080/api/v1/uploads/abc123')).toBe('/uploads/abc123');
    expect(uploadPath('/api/v1/uploads/abc?x=1')).toBe('/uploads/abc');
    expect(uploadPath(null)).toBeNull();
    expect(uploadPath('http://x/other')).toBeNull();
  });
  it('preview images: same origin only; our files through a signed link', () => {
    const o = 'https://chat.example';
    expect(previewImageSource('https://evil.example/a.png', o)).toBeNull();
    expect(previewImageSource('javascript:alert(1)', o)).toBeNull();
    expect(previewImageSource(undefined, o)).toBeNull();
    expect(previewImageSource('/api/v1/files/f1/thumbnail', o)).toEqual({ kind: 'file', id: 'f1', thumb: true });
    expect(previewImageSource('https://chat.example/api/v1/files/f2', o)).toEqual({ kind: 'file', id: 'f2', thumb: false });
    expect(previewImageSource('/api/v1/previews/img/9?sig=z', o)).toEqual({ kind: 'direct', url: '/api/v1/previews/img/9?sig=z' });
  });
  it('host of a URL', () => {
    expect(hostOf('https://www.example.com/x')).toBe('example.com');
    expect(hostOf('not a url')).toBe('');
  });
});
