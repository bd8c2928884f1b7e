// The app without the helper: dist/ served by a plain static file server, peers meeting
// through the reference WebTorrent tracker (the `bittorrent-tracker` package that public
// WebTorrent trackers run). This is the "any static host + public trackers" deployment, on
// loopback.
import { test } from 'node:test';
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import Server from 'bittorrent-tracker/server';
import { DIST, assertNoPageErrors, closeBrowser, launchBrowser, newPeer, saveDiagnostics, token, withTimeout } from '../lib/harness.mjs';
import { createRoom, joinByLink, sendMessage, setName, waitForMessages, waitForPeers } from '../lib/hush.mjs';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
  '.css': 'text/css',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
};

/** A static host for dist/ whose config.json lists only `trackerUrl` and no ICE servers. */
async function startStaticHost(trackerUrl) {
  const server = http.createServer(async (req, res) => {
    const pathname = new URL(req.url, 'http://x').pathname;
    if (pathname === '/config.json') {
      res.writeHead(200, { 'content-type': TYPES['.json'] });
      res.end(JSON.stringify({ trackers: [trackerUrl], iceServers: [] }));
      return;
    }
    const rel = pathname === '/' ? 'index.html' : pathname.slice(1);
    const file = path.join(DIST, path.normalize(rel));
    if (!file.startsWith(DIST)) {
      res.writeHead(403).end();
      return;
    }
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    stop: () => new Promise((resolve) => server.close(resolve)),
  };
}

async function startReferenceTracker() {
  const tracker = new Server({ udp: false, http: false, ws: true, stats: false });
  await withTimeout(new Promise((resolve) => tracker.listen(0, '127.0.0.1', resolve)), 5_000, 'tracker listen');
  return {
    url: `ws://127.0.0.1:${tracker.http.address().port}`,
    stop: () => new Promise((resolve) => tracker.close(resolve)),
  };
}

test('on a plain static host, peers meet through the reference WebTorrent tracker and chat', { timeout: 90_000 }, async () => {
  const tracker = await startReferenceTracker();
  const host = await startStaticHost(tracker.url);
  let browser;
  const peers = [];
  try {
    browser = await launchBrowser();
    const a = await newPeer(browser, host.url, { label: 'a' });
    peers.push(a);
    const room = await createRoom(a.page);
    await setName(a.page, 'Ada');
    const b = await newPeer(browser, host.url, { label: 'b', goto: false });
    peers.push(b);
    await joinByLink(b.page, host.url, room);
    await setName(b.page, 'Bob');
    await waitForPeers(a.page, ['Bob']);
    await waitForPeers(b.page, ['Ada']);
    const text = `through-webtorrent-${token()}`;
    await sendMessage(b.page, text, { enter: true });
    await waitForMessages(a.page, [text]);
    assertNoPageErrors(peers);
  } catch (err) {
    const file = saveDiagnostics('interop-webtorrent', peers);
    err.message += file ? `\ndiagnostics: ${file}` : '';
    throw err;
  } finally {
    await closeBrowser(browser);
    await host.stop();
    await tracker.stop();
  }
});
