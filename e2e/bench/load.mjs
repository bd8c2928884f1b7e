// Benchmark: the first page load, as a first-time visitor's browser fetches it.
//
// A fresh headless Chromium opens the app from the helper and waits for the landing page. Every
// URL the page loaded (the document and its resources, from the Resource Timing API, plus the
// service worker's script if the app registered one) is then fetched again from this process
// and compressed with gzip -9, the way a host that compresses its responses would send it. It
// prints each file's raw and gzip size, the total against DESIGN's ≤ 250 KiB, and the time from
// navigation to the landing page's "Create room" button being ready. Figures only: it exits 1
// only if the page could not be loaded at all.

import { gzipSync } from 'node:zlib';
import { closeBrowser, launchBrowser, startHelper, withTimeout } from '../lib/harness.mjs';
import { waitOnLanding } from '../lib/hush.mjs';
import { figure } from '../lib/figures.mjs';

const TARGET_KIB = 250;
const KiB = 1024;

let helper;
let browser;
let failed = false;
try {
  helper = await startHelper();
  browser = await launchBrowser();
  const page = await browser.newPage();
  const t0 = performance.now();
  await withTimeout(page.goto(helper.url, { waitUntil: 'load' }), 20_000, 'open the app');
  await waitOnLanding(page);
  const readyMs = performance.now() - t0;
  // Let a service worker registration finish, so its script counts too.
  const urls = await page.evaluate(async () => {
    const list = [location.href, ...performance.getEntriesByType('resource').map((e) => e.name)];
    const reg = await Promise.race([
      navigator.serviceWorker?.getRegistration().catch(() => undefined),
      new Promise((resolve) => setTimeout(resolve, 2_000)),
    ]);
    const sw = reg?.active ?? reg?.installing ?? reg?.waiting;
    if (sw) list.push(sw.scriptURL);
    return [...new Set(list)];
  });
  let raw = 0;
  let gz = 0;
  const rows = [];
  for (const url of urls) {
    if (!url.startsWith(helper.url)) continue; // only what the app's own host serves
    const res = await fetch(url);
    const body = Buffer.from(await res.arrayBuffer());
    const z = gzipSync(body, { level: 9 }).length;
    raw += body.length;
    gz += z;
    rows.push([new URL(url).pathname, body.length, z]);
  }
  console.log('first page load (a fresh browser, from the helper):');
  for (const [p, r, z] of rows.sort((a, b) => b[2] - a[2])) {
    console.log(`  ${p.padEnd(44)} ${String(r).padStart(9)} B raw ${String(z).padStart(9)} B gzip -9`);
  }
  console.log(
    `first page load: ${rows.length} requests, ${raw} B raw, ${gz} B = ${(gz / KiB).toFixed(1)} KiB gzip -9 ` +
      `(target ≤ ${TARGET_KIB} KiB: ${gz <= TARGET_KIB * KiB ? 'within' : 'over'}); ` +
      `landing page ready ${readyMs.toFixed(0)} ms after navigation`,
  );
  figure({ bench: 'load', name: 'first page load, gzip -9', value: gz / KiB, unit: 'KiB', target: `≤ ${TARGET_KIB} KiB`, met: gz <= TARGET_KIB * KiB });
} catch (err) {
  failed = true;
  console.log(`first page load: FAILED: ${String(err?.message ?? err).slice(0, 1500)}`);
} finally {
  await closeBrowser(browser);
  await helper?.stop();
}
process.exit(failed ? 1 : 0);
