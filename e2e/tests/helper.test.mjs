// Smoke test of the harness and the helper: the binary starts on 127.0.0.1:0, prints its URL,
// serves the built app with a Content-Security-Policy, and serves /config.json.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeBrowser, launchBrowser, newPeer, startHelper, withTimeout } from '../lib/harness.mjs';

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
