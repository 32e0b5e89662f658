// The favicon with a badge: the app icon, and a red dot with the unread count when there is
// news (drawn on a canvas; a data: URL, which the CSP's img-src allows).
const BASE = '/icons/icon.svg';
let img: HTMLImageElement | null = null;
let shown = -1;

function link(): HTMLLinkElement {
  let l = document.querySelector<HTMLLinkElement>('link[rel="icon"]');
  if (!l) {
    l = document.createElement('link');
    l.rel = 'icon';
    document.head.appendChild(l);
  }
  return l;
}

export function setFaviconCount(n: number) {
  if (n === shown) return;
  shown = n;
  const l = link();
  if (n <= 0) {
    l.type = 'image/svg+xml';
    l.href = BASE;
    return;
  }
  const draw = () => {
    if (shown !== n) return;
    const c = document.createElement('canvas');
    c.width = c.height = 64;
    const g = c.getContext('2d');
    if (!g) return;
    if (img?.complete && img.naturalWidth) g.drawImage(img, 0, 0, 64, 64);
    g.fillStyle = '#d92d20';
    g.beginPath();
    g.arc(44, 20, 20, 0, Math.PI * 2);
    g.fill();
    g.fillStyle = '#fff';
    g.font = `bold ${n > 99 ? 18 : n > 9 ? 22 : 28}px system-ui, sans-serif`;
    g.textAlign = 'center';
    g.textBaseline = 'middle';
    g.fillText(n > 99 ? '99+' : String(n), 44, 21);
    l.type = 'image/png';
    l.href = c.toDataURL('image/png');
  };
  if (!img) {
    img = new Image();
    img.onload = draw;
    img.onerror = draw;
    img.src = BASE;
  } else draw();
}
