// Parley service worker: the app shell (index.html and its hashed assets) loads offline.
// Navigations go to the network first and fall back to the cached shell; /assets/* are
// immutable (hashed names), so they are served from the cache first. The API is never cached.
const CACHE = 'parley-shell-v1';
const STATIC = ['/manifest.webmanifest', '/icons/icon.svg', '/icons/icon-192.png', '/icons/icon-512.png'];

async function cacheShell() {
  const cache = await caches.open(CACHE);
  const res = await fetch('/', { cache: 'no-cache' });
  if (!res.ok) throw new Error('shell: ' + res.status);
  const html = await res.clone().text();
  await cache.put('/', res);
  const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]);
  await cache.addAll([...new Set([...assets, ...STATIC])]);
}

self.addEventListener('install', (event) => {
  event.waitUntil(cacheShell().then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.startsWith('/api/') || url.pathname === '/metrics') return;

  if (req.mode === 'navigate') {
    event.respondWith(
      fetch(req)
        .then((res) => {
          if (res.ok) {
            const copy = res.clone();
            caches.open(CACHE).then((c) => c.put('/', copy));
          }
          return res;
        })
        .catch(() => caches.match('/').then((r) => r || new Response('Offline', { status: 503 }))),
    );
    return;
  }

  if (url.pathname.startsWith('/assets/')) {
    event.respondWith(
      caches.match(req).then(
        (hit) =>
          hit ||
          fetch(req).then((res) => {
            if (res.ok) {
              const copy = res.clone();
              caches.open(CACHE).then((c) => c.put(req, copy));
            }
            return res;
          }),
      ),
    );
    return;
  }

  // Everything else (icons, manifest): the cache, refreshed in the background.
  event.respondWith(
    caches.match(req).then((hit) => {
      const net = fetch(req)
        .then((res) => {
          if (res.ok) {
            const copy = res.clone();
            caches.open(CACHE).then((c) => c.put(req, copy));
          }
          return res;
        })
        .catch(() => hit || new Response('', { status: 504 }));
      return hit || net;
    }),
  );
});

// Web Push: the server sends {conversation_id, message_id, title, body} (RFC 8291-encrypted;
// the browser decrypts it). Shown unless a focused, visible window shows that conversation;
// one notification per conversation (tag), replaced by the newest.
self.addEventListener('push', (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = {};
  }
  const conversation = typeof data.conversation_id === 'string' ? data.conversation_id : '';
  event.waitUntil(
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((wins) => {
      // Someone looking at that very conversation sees the message arrive there.
      const path = conversation ? `/c/${encodeURIComponent(conversation)}` : '';
      const looking = !!path && wins.some((w) => w.focused && w.visibilityState === 'visible' && new URL(w.url).pathname === path);
      if (looking) return undefined;
      return self.registration.showNotification(data.title || 'Parley', {
        body: data.body || 'New message',
        tag: conversation ? `conversation-${conversation}` : 'parley',
        renotify: true,
        icon: '/icons/icon-192.png',
        badge: '/icons/icon-192.png',
        data: { conversation_id: conversation, message_id: data.message_id || '' },
      });
    }),
  );
});

// A click opens (or focuses) the app on that conversation.
self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const conversation = (event.notification.data && event.notification.data.conversation_id) || '';
  const target = conversation ? `/c/${encodeURIComponent(conversation)}` : '/';
  const work = self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((wins) => {
    const win = wins.find((w) => new URL(w.url).origin === self.location.origin);
    if (win) {
      win.postMessage({ type: 'open-conversation', conversation_id: conversation });
      return win.focus().catch(() => win);
    }
    return self.clients.openWindow(target);
  });
  // waitUntil throws for an event the browser did not dispatch (a test's synthetic click).
  try {
    event.waitUntil(work);
  } catch {
    /* the work still runs */
  }
});
