// Hush's service worker. It does two things:
//
// 1. It keeps the app shell (the page, its script, wasm, styles, icons and config.json) in a
//    cache, so the app starts without a network and can then reach a helper on the LAN. The
//    shell is fetched from the network first and the cache answers only when the network
//    cannot; nothing else is ever cached: no room data, no download, no API reply.
//
// 2. It streams a received file to the browser's download manager, so a file of any size goes
//    to disk as it arrives, without ever being whole in memory, in browsers without the File
//    System Access API.
//
// The page decrypts each record and hands the plaintext over a MessageChannel:
//   page → worker  { type: 'hush-download', id, name, size }  with the channel's port
//   worker → page  'ready'     the download is registered: the page may now point the hidden
//                              frame at it (the frame's request and this message travel on
//                              different paths, so the page must not race ahead)
//                  'started'   the download began (the hidden frame reached us)
//                  'cancelled' the user cancelled it in the browser's download UI
//   page → worker  Uint8Array chunks, then 'end' (complete) or 'abort' (failed: the browser
//                  drops the partial download)

'use strict';

const PREFIX = '_hush/dl/';
/// A download the page announced but never started is forgotten after this long.
const UNCLAIMED_MS = 60_000;

const pending = new Map();

const SHELL_CACHE = 'hush-shell-v1';
/// What a shell request may be: the page itself, or a file of the app's build.
const SHELL_FILE = /^(|index\.html|[\w.-]+\.(?:js|wasm|css|svg|png|webmanifest)|config\.json)$/;

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== SHELL_CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

/**
 * Network first, then the cached copy. A good answer goes to the page at once and refreshes
 * the cache behind it (the page never waits for the cache write).
 */
async function shell(event) {
  const request = event.request;
  try {
    const response = await fetch(request);
    if (response.ok && response.type === 'basic') {
      const copy = response.clone();
      const write = caches.open(SHELL_CACHE).then((cache) => cache.put(request, copy)).catch(() => {});
      // Keeps the worker alive for the write; the write goes on even where that is refused.
      try { event.waitUntil(write); } catch {}
    }
    return response;
  } catch (err) {
    const cached = await caches.match(request, { ignoreSearch: true, cacheName: SHELL_CACHE });
    if (cached) return cached;
    throw err;
  }
}

self.addEventListener('message', (event) => {
  const msg = event.data;
  if (!msg || msg.type !== 'hush-download' || !event.ports[0]) return;
  if (typeof msg.id !== 'string' || !/^[0-9a-z]{8,64}$/.test(msg.id)) return;
  const entry = { port: event.ports[0], name: String(msg.name), size: Number(msg.size) };
  pending.set(msg.id, entry);
  entry.port.postMessage('ready');
  setTimeout(() => {
    if (pending.get(msg.id) === entry) {
      pending.delete(msg.id);
      entry.port.close();
    }
  }, UNCLAIMED_MS);
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  const scope = new URL(self.registration.scope);
  if (url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname)) return;
  const path = url.pathname.slice(scope.pathname.length);
  if (!path.startsWith(PREFIX)) {
    if (event.request.method === 'GET' && SHELL_FILE.test(path)) event.respondWith(shell(event));
    return;
  }
  const id = url.pathname.slice(scope.pathname.length + PREFIX.length);
  const entry = pending.get(id);
  if (!entry) {
    event.respondWith(new Response('This download is no longer available.', { status: 404 }));
    return;
  }
  pending.delete(id);
  const { port, name, size } = entry;
  const body = new ReadableStream({
    start(controller) {
      port.onmessage = (e) => {
        const d = e.data;
        if (d instanceof Uint8Array) {
          controller.enqueue(d);
        } else if (d === 'end') {
          controller.close();
          port.close();
        } else if (d === 'abort') {
          controller.error(new Error('transfer failed'));
          port.close();
        }
      };
      port.postMessage('started');
    },
    cancel() {
      port.postMessage('cancelled');
      port.close();
    },
  });
  const headers = new Headers({
    'Content-Type': 'application/octet-stream',
    // The page already sanitized the name; encoding it keeps any character intact and inert.
    'Content-Disposition': `attachment; filename*=UTF-8''${encodeURIComponent(name)}`,
    'X-Content-Type-Options': 'nosniff',
  });
  if (Number.isSafeInteger(size) && size >= 0) headers.set('Content-Length', String(size));
  event.respondWith(new Response(body, { headers }));
});
