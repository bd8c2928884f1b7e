// Browser end-to-end tests of the app as an installable web app: its manifest and service
// worker pass Chromium's own installability check, and once loaded it starts with the
// network gone. Every await is bounded (see ../lib/harness.mjs).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { assertNoPageErrors, BROWSER_ARGS, CHROMIUM, RESULTS, scenario, sleep, STEP_MS, waitFor, withTimeout } from '../lib/harness.mjs';
import jsQR from 'jsqr';
import { createButton, createRoom, sendMessage, waitInRoom, waitOnLanding } from '../lib/hush.mjs';

const TEST_MS = 120_000;

test('the app is installable and starts offline from its cached shell; room data is never cached', { timeout: TEST_MS }, async () => {
  await scenario('installable-offline', async (ctx) => {
    // Installability needs a profile on disk (Chromium never offers installs in incognito).
    const profile = mkdtempSync(path.join(os.tmpdir(), 'hush-pwa-'));
    const context = await withTimeout(
      chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: BROWSER_ARGS }),
      35_000,
      'persistent Chromium',
    );
    const page = context.pages()[0] ?? (await context.newPage());
    const peer = { label: 'pwa', page, errors: [], logs: [] };
    page.on('pageerror', (err) => peer.errors.push(`[pageerror] ${err.message}`));
    ctx.peers.push(peer);
    try {
      await withTimeout(page.goto(ctx.url, { waitUntil: 'load' }), 20_000, 'open the app');
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
    } finally {
      await withTimeout(context.close(), 10_000, 'close persistent Chromium').catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    }
  });
});

test('the room\'s QR code decodes to its link', { timeout: TEST_MS }, async () => {
  await scenario('room-qr', async (ctx) => {
    const peer = await ctx.peer('qr');
    const room = await createRoom(peer.page);
    await waitInRoom(peer.page);
    await peer.page.getByRole('button', { name: 'QR code' }).click();
    const dialog = peer.page.getByRole('dialog', { name: 'Room link QR code' });
    const svg = dialog.getByRole('img', { name: 'QR code of the room link' });
    await svg.waitFor({ state: 'visible', timeout: STEP_MS });
    // Rasterise the SVG in the page, decode it here.
    const { width, height, data } = await svg.evaluate(async (el) => {
      const size = 400;
      const url = URL.createObjectURL(new Blob([el.outerHTML], { type: 'image/svg+xml' }));
      const img = new Image(size, size);
      await new Promise((resolve, reject) => { img.onload = resolve; img.onerror = reject; img.src = url; });
      const canvas = document.createElement('canvas');
      canvas.width = canvas.height = size;
      const g = canvas.getContext('2d');
      g.drawImage(img, 0, 0, size, size);
      URL.revokeObjectURL(url);
      return { width: size, height: size, data: Array.from(g.getImageData(0, 0, size, size).data) };
    });
    const code = jsQR(Uint8ClampedArray.from(data), width, height);
    assert.ok(code, 'the QR code decodes');
    assert.equal(code.data, `${ctx.url}/#/r/${room}`);
    await dialog.getByRole('button', { name: 'Close' }).click();
    await dialog.waitFor({ state: 'hidden', timeout: STEP_MS });
    assertNoPageErrors([peer]);
  });
});

test('on a phone-sized screen the sidebar is a drawer; the theme can be switched; phone and desktop screenshots, light and dark, do not overflow; the screen stays awake during a call', { timeout: TEST_MS }, async () => {
  await scenario('mobile-theme-wakelock', async (ctx) => {
    const peer = await ctx.peer('phone', undefined, { goto: false });
    const { page } = peer;
    await page.setViewportSize({ width: 390, height: 780 });
    // Record wake-lock requests and releases (headless Chromium has no screen to keep on).
    await page.addInitScript(() => {
      window.__locks = { requested: 0, released: 0 };
      Object.defineProperty(navigator, 'wakeLock', {
        configurable: true,
        value: {
          request: async () => {
            window.__locks.requested++;
            return { release: async () => { window.__locks.released++; } };
          },
        },
      });
    });
    await withTimeout(page.goto(ctx.url, { waitUntil: 'load' }), 20_000, 'open the app');
    await createRoom(page);
    await waitInRoom(page);

    // The drawer: the sidebar is off screen until "People" opens it.
    const nameBox = page.getByRole('textbox', { name: 'Your name' });
    assert.equal(await nameBox.isVisible(), false, 'the sidebar starts closed');
    const people = page.getByRole('button', { name: /^People \(\d+\)$/ });
    await people.click();
    await nameBox.waitFor({ state: 'visible', timeout: STEP_MS });
    assert.equal(await people.getAttribute('aria-expanded'), 'true');
    await page.mouse.click(380, 400); // the backdrop, right of the drawer
    await nameBox.waitFor({ state: 'hidden', timeout: STEP_MS });
    const composer = await page.getByRole('textbox', { name: 'Message' }).boundingBox();
    assert.ok(composer && composer.y + composer.height <= 780, `the composer is on screen: ${JSON.stringify(composer)}`);

    // Theme: the system's by default; light and dark picked by hand change the colours and
    // are remembered.
    const theme = page.getByRole('combobox', { name: 'Theme' });
    const bg = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.equal(await theme.inputValue(), 'system');
    await theme.selectOption('light');
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'light');
    const light = await bg();
    await theme.selectOption('dark');
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
    assert.notEqual(await bg(), light, 'dark looks different');
    assert.equal(await page.evaluate(() => localStorage.getItem('hush.theme')), 'dark', 'remembered');

    // Phone and desktop, light and dark: saved for people to look at, and nothing wider than
    // the screen.
    await sendMessage(page, `A long line ${'x'.repeat(300)} and a [link](https://example.org)`);
    await sendMessage(page, '```\n' + 'a very long line of code '.repeat(20) + '\n```');
    for (const [w, h] of [[390, 844], [1280, 800]]) {
      await page.setViewportSize({ width: w, height: h });
      for (const t of ['light', 'dark']) {
        await theme.selectOption(t);
        await sleep(200);
        await page.screenshot({ path: path.join(RESULTS, `room-${w}x${h}-${t}.png`) });
        const { overflow, wide } = await page.evaluate(() => ({
          overflow: document.documentElement.scrollWidth - window.innerWidth,
          // What sticks out, to say where to look.
          wide: [...document.querySelectorAll('body *')]
            .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1 && el.checkVisibility())
            .slice(0, 5)
            .map((el) => `${el.tagName.toLowerCase()}.${el.className}`),
        }));
        assert.ok(overflow <= 0, `no horizontal overflow at ${w}×${h} ${t}: ${overflow}px (${wide.join(', ')})`);
      }
    }
    await theme.selectOption('system');
    await page.setViewportSize({ width: 390, height: 780 });

    // Wake lock: taken when the microphone goes on, released when it goes off.
    const mic = page.getByRole('button', { name: 'Microphone', exact: true });
    await mic.click();
    await waitFor(async () => (await page.evaluate(() => window.__locks.requested)) >= 1, { timeout: STEP_MS, what: 'a wake lock during the call' });
    await mic.click();
    await waitFor(async () => (await page.evaluate(() => window.__locks.released)) >= 1, { timeout: STEP_MS, what: 'the wake lock released after the call' });
    assertNoPageErrors([peer]);
  });
});
