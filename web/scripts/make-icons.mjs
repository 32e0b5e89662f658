// Writes public/icons/icon-{192,512}.png (and the maskable one): a speech bubble on the brand
// colour, drawn pixel by pixel so no image tool is needed. Run once; the output is committed.
import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc = (buf) => {
  let c = 0xffffffff;
  for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};
const chunk = (type, data) => {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type), data]);
  const c = Buffer.alloc(4);
  c.writeUInt32BE(crc(td));
  return Buffer.concat([len, td, c]);
};

function icon(size, maskable) {
  const px = Buffer.alloc(size * (size * 4 + 1));
  const bg = [0x4f, 0x46, 0xe5];
  const r = maskable ? 0 : size * 0.2; // rounded corners unless maskable (the OS masks it)
  const inset = maskable ? size * 0.2 : size * 0.18;
  for (let y = 0; y < size; y++) {
    px[y * (size * 4 + 1)] = 0;
    for (let x = 0; x < size; x++) {
      const o = y * (size * 4 + 1) + 1 + x * 4;
      // rounded square
      const dx = Math.max(r - x, x - (size - 1 - r), 0);
      const dy = Math.max(r - y, y - (size - 1 - r), 0);
      const inside = dx * dx + dy * dy <= r * r;
      // bubble: an ellipse plus a tail
      const cx = size / 2, cy = size * 0.47;
      const rx = size / 2 - inset, ry = (size / 2 - inset) * 0.78;
      const e = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1;
      const tx = x - (cx - rx * 0.45), ty = y - (cy + ry * 0.6);
      const tail = ty >= 0 && ty < size * 0.16 && tx >= -ty * 0.2 && tx <= size * 0.16 - ty * 1.0;
      const white = e || tail;
      const c = !inside ? [0, 0, 0, 0] : white ? [255, 255, 255, 255] : [...bg, 255];
      px[o] = c[0]; px[o + 1] = c[1]; px[o + 2] = c[2]; px[o + 3] = c[3];
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; ihdr[9] = 6; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(px, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const dir = new URL('../public/icons/', import.meta.url);
writeFileSync(new URL('icon-192.png', dir), icon(192, false));
writeFileSync(new URL('icon-512.png', dir), icon(512, false));
writeFileSync(new URL('icon-maskable-512.png', dir), icon(512, true));
