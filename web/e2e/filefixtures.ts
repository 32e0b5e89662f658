// Files made up for the file tests: a PNG (a gradient with a few shapes, drawn here and encoded
// with zlib: no image library), a small valid PDF, random bytes, and an HTML page with
// OpenGraph tags served from loopback for link previews.
import { createServer, type Server as HttpServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { deflateSync } from 'node:zlib';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** An RGB PNG of width × height: a sky-to-sea gradient with a sun, seeded by `hue`. */
export function makePng(width: number, height: number, hue = 0): Buffer {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  const sx = width * 0.7;
  const sy = height * 0.35;
  const sr = Math.min(width, height) * 0.14;
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    raw[row] = 0;
    for (let x = 0; x < width; x++) {
      const t = y / height;
      let r: number, g: number, b: number;
      if (t < 0.62) {
        r = 255 - 120 * t + hue * 0.3;
        g = 150 + 80 * t;
        b = 120 + 130 * t;
      } else {
        const w = Math.sin(x / 14 + y / 5) * 10;
        r = 30 + w;
        g = 90 + 40 * (1 - t) + w;
        b = 150 + w;
      }
      const d = Math.hypot(x - sx, y - sy);
      if (d < sr) {
        r = 255;
        g = 214;
        b = 90;
      }
      const o = row + 1 + x * 3;
      raw[o] = Math.max(0, Math.min(255, r));
      raw[o + 1] = Math.max(0, Math.min(255, g));
      raw[o + 2] = Math.max(0, Math.min(255, b));
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** A one-page PDF with a line of text, with a correct cross-reference table. */
export function makePdf(text = 'Quarterly report'): Buffer {
  const stream = `BT /F1 24 Tf 72 720 Td (${text.replace(/[()\\]/g, '')}) Tj ET`;
  const objs = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  objs.forEach((o, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objs.length + 1}\n0000000000 65535 f \n`;
  for (const off of offsets) out += `${String(off).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objs.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

export function randomFile(bytes: number): Buffer {
  return randomBytes(bytes);
}

/** A loopback HTTP server with an article page carrying OpenGraph tags (and its image). */
export async function startPreviewSite(): Promise<{ url: string; close: () => Promise<void>; hits: () => number }> {
  let hits = 0;
  const png = makePng(600, 315, 60);
  let base = '';
  const server: HttpServer = createServer((req, res) => {
    hits++;
    if (req.url?.startsWith('/og.png')) {
      res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': png.length });
      res.end(png);
      return;
    }
    const html = `<!doctype html><html><head><meta charset="utf-8">
<title>Harbour lights: a field guide</title>
<meta property="og:site_name" content="Parley Test Gazette">
<meta property="og:title" content="Harbour lights: a field guide">
<meta property="og:description" content="Everything you wanted to know about the lights of the old harbour, from the lighthouse keepers who tended them to the ships they guided home.">
<meta property="og:image" content="${base}/og.png">
<meta property="og:url" content="${base}/article">
</head><body><h1>Harbour lights</h1><p>Text.</p></body></html>`;
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(html);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  base = `http://127.0.0.1:${port}`;
  return {
    url: `${base}/article`,
    hits: () => hits,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
