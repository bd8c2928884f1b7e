// Smoke test of the harness and the helper: the binary starts on 127.0.0.1:0, prints its URL,
// serves the built app with a Content-Security-Policy, and serves /config.json.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeBrowser, launchBrowser, newPeer, startHelper, withTimeout } from '../lib/harness.mjs';
import { createRoom, joinByLink, waitForPeerCount } from '../lib/hush.mjs';

const FETCH_MS = 5_000;

async function get(url) {
  return withTimeout(fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(FETCH_MS) }), FETCH_MS + 500, `GET ${url}`);
}

test('helper starts, serves / with a CSP header and /config.json', { timeout: 60_000 }, async () => {
  const helper = await startHelper();
  try {
    assert.match(helper.url, /^http:\/\/127\.0\.0\.1:\d+$/, 'the helper prints its real bound port');

    const index = await get(`${helper.url}/`);
    assert.equal(index.status, 200, 'GET / is 200');
    const csp = index.headers.get('content-security-policy');
    assert.ok(csp, 'GET / carries a Content-Security-Policy header');
    const html = await withTimeout(index.text(), FETCH_MS, 'read /');
    assert.match(html, /<title>Hush<\/title>/, 'GET / is the built index.html');

    const config = await get(`${helper.url}/config.json`);
    assert.equal(config.status, 200, 'GET /config.json is 200');
    const json = JSON.parse(await withTimeout(config.text(), FETCH_MS, 'read /config.json'));
    assert.ok(Array.isArray(json.trackers) && json.trackers.length > 0, 'config.json lists trackers');
  } finally {
    await helper.stop();
  }
});

test('the page loads in Chromium without CSP violations or page errors', { timeout: 60_000 }, async () => {
  const helper = await startHelper();
  let browser;
  try {
    browser = await launchBrowser();
    const peer = await newPeer(browser, `${helper.url}/`, { label: 'smoke' });
    assert.equal(await peer.page.title(), 'Hush');
    // Let the module loader fetch and instantiate the wasm.
    await peer.page.waitForLoadState('networkidle', { timeout: 15_000 }).catch(() => {});
    const blocked = peer.errors.filter((e) => /Content Security Policy|Refused to/i.test(e));
    assert.deepEqual(blocked, [], 'no resource was refused by the CSP');
    const crashes = peer.errors.filter((e) => e.startsWith('[pageerror]'));
    assert.deepEqual(crashes, [], 'no uncaught page error');
    // The app travels compressed: the wasm's bytes on the wire are well under its size.
    const wasm = await peer.page.evaluate(() =>
      performance.getEntriesByType('resource')
        .filter((e) => e.name.endsWith('.wasm'))
        .map((e) => ({ encoded: e.encodedBodySize, decoded: e.decodedBodySize })),
    );
    assert.equal(wasm.length, 1, `one wasm fetched: ${JSON.stringify(wasm)}`);
    assert.ok(wasm[0].encoded > 0 && wasm[0].encoded < wasm[0].decoded * 0.6, `wasm compressed: ${JSON.stringify(wasm[0])}`);
  } finally {
    await closeBrowser(browser);
    await helper.stop();
  }
});

test('three helpers share the rooms: each room uses the two its rendezvous id picks, and its members meet there', { timeout: 90_000 }, async () => {
  // Fixed ports inside the test's own network namespace: every helper must list all three.
  const ports = [18_081, 18_082, 18_083];
  const trackers = ports.map((p) => `ws://127.0.0.1:${p}/announce`);
  const args = [...trackers.flatMap((t) => ['--tracker', t]), '--trackers-per-room', '2'];
  const helpers = [];
  let browser;
  try {
    for (const p of ports) helpers.push(await startHelper({ listen: `127.0.0.1:${p}`, args }));
    browser = await launchBrowser();
    // The page comes from the first helper; the room's trackers from the rendezvous id.
    const a = await newPeer(browser, helpers[0].url, { label: 'a' });
    const room = await createRoom(a.page);
    const b = await newPeer(browser, helpers[0].url, { label: 'b', goto: false });
    await joinByLink(b.page, helpers[2].url, room);
    await waitForPeerCount(a.page, 1);
    await waitForPeerCount(b.page, 1);
    // Each page shows the two trackers its room uses, the same two.
    const shown = async (page) => {
      const list = page.getByRole('list', { name: 'Trackers' });
      return (await list.innerText()).match(/ws:\/\/127\.0\.0\.1:\d+\/announce/g)?.sort() ?? [];
    };
    const [ta, tb] = [await shown(a.page), await shown(b.page)];
    assert.equal(ta.length, 2, `the room uses two of the three trackers: ${ta}`);
    assert.deepEqual(ta, tb, 'both members picked the same two');
  } finally {
    await closeBrowser(browser);
    for (const h of helpers) await h.stop();
  }
});
