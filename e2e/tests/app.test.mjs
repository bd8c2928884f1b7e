// Browser end-to-end tests of the app as an installable web app: its manifest and service
// worker pass Chromium's own installability check, and once loaded it starts with the
// network gone. Every await is bounded (see ../lib/harness.mjs).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertNoPageErrors, scenario, STEP_MS, waitFor, withTimeout } from '../lib/harness.mjs';
import { createButton, waitOnLanding } from '../lib/hush.mjs';

const TEST_MS = 120_000;

test('the app is installable and starts offline from its cached shell; room data is never cached', { timeout: TEST_MS }, async () => {
  await scenario('installable-offline', async (ctx) => {
    const peer = await ctx.peer('pwa');
    const { page } = peer;
    await waitOnLanding(page);
    // The worker controls the page once it has activated (it claims open pages).
    await withTimeout(page.evaluate(() => navigator.serviceWorker.ready.then(() => true)), STEP_MS, 'service worker ready');
    await waitFor(() => page.evaluate(() => !!navigator.serviceWorker.controller), { timeout: STEP_MS, what: 'the page is controlled by the worker' });
    // Chromium's own verdict (the one behind its install prompt and Lighthouse's audit).
    const cdp = await page.context().newCDPSession(page);
    const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
    assert.deepEqual(installabilityErrors, [], `installability errors: ${JSON.stringify(installabilityErrors)}`);
    const manifest = await cdp.send('Page.getAppManifest');
    assert.ok(manifest.data?.includes('"display": "standalone"'), 'the manifest asks for a standalone window');

    // Reload once under the worker so every shell file went through it, then go offline.
    await withTimeout(page.reload({ waitUntil: 'load' }), 20_000, 'reload');
    await waitOnLanding(page);
    await page.context().setOffline(true);
    await withTimeout(page.reload({ waitUntil: 'load' }), 20_000, 'offline reload');
    await waitOnLanding(page);
    await createButton(page).waitFor({ state: 'visible', timeout: STEP_MS });

    // The cache holds the shell and nothing else.
    const cached = await page.evaluate(async () => {
      const out = [];
      for (const name of await caches.keys()) {
        const cache = await caches.open(name);
        for (const req of await cache.keys()) out.push(new URL(req.url).pathname);
      }
      return out;
    });
    assert.ok(cached.some((p) => p.endsWith('.wasm')), `the wasm is cached: ${cached}`);
    for (const p of cached) assert.match(p, /^\/(|index\.html|[\w.-]+\.(js|wasm|css|svg|png|webmanifest)|config\.json)$/, `only shell files are cached: ${p}`);
    await page.context().setOffline(false);
    assertNoPageErrors([{ ...peer, errors: peer.errors.filter((e) => !/ERR_INTERNET_DISCONNECTED|Failed to fetch|net::/.test(e)) }]);
  });
});
