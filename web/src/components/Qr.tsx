// A QR code drawn locally as SVG rectangles: the otpauth URI (it holds the TOTP secret) never
// leaves the browser.
import QRCode from 'qrcode';

export function Qr({ text, label }: { text: string; label: string }) {
  const qr = QRCode.create(text, { errorCorrectionLevel: 'M' });
  const n = qr.modules.size;
  const m = 4; // quiet zone
  let d = '';
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) if (qr.modules.get(r, c)) d += `M${c + m} ${r + m}h1v1h-1z`;
  return (
    <svg class="qr" viewBox={`0 0 ${n + 2 * m} ${n + 2 * m}`} role="img" aria-label={label} shape-rendering="crispEdges">
      <rect width="100%" height="100%" fill="#fff" />
      <path d={d} fill="#000" />
    </svg>
  );
}
