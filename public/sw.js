// Hush's service worker. It does one thing: stream a received file to the browser's download
// manager, so a file of any size goes to disk as it arrives, without ever being whole in
// memory, in browsers without the File System Access API. It caches nothing and answers no
// other request.
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

self.addEventListener('install', () => self.skipWaiting());

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
  if (url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname + PREFIX)) return;
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
