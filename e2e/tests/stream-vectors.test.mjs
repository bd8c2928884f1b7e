// The browser's file crypto (WebCrypto AES-256-GCM driven by the core's stream layout) against
// the shared vectors written by the core's reference implementation
// (core/tests/vectors/stream.json): every record must come out byte for byte the same, open
// back to the plaintext, and a tampered record must not open.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { closeBrowser, launchBrowser, newPeer, startHelper, assertNoPageErrors } from '../lib/harness.mjs';

const VECTORS = fileURLToPath(new URL('../../core/tests/vectors/stream.json', import.meta.url));

test('WebCrypto file records match the core reference vectors byte for byte', { timeout: 90_000 }, async (t) => {
  const { cases } = JSON.parse(readFileSync(VECTORS, 'utf8'));
  assert.ok(cases.length >= 8, 'the vectors cover the edge sizes');
  const helper = await startHelper();
  let browser;
  try {
    browser = await launchBrowser();
    const peer = await newPeer(browser, `${helper.url}/`, { label: 'vectors' });
    await peer.page.waitForSelector('script[data-hush-wasm]', { state: 'attached' });
    // The exports exist before the module is initialised: wait for the app to be running.
    await peer.page.getByRole('button', { name: 'Create room' }).waitFor({ state: 'visible', timeout: 15_000 });
    // The app's own module (already loaded and initialised by the page: same URL, same instance).
    await peer.page.waitForFunction(async () => {
      const tag = document.querySelector('script[data-hush-wasm]');
      const m = await import(tag.dataset.hushJs);
      return typeof m.hush_seal_record === 'function';
    }, null, { timeout: 15_000 });
    let records = 0;
    for (const c of cases) {
      let offset = 0;
      for (const r of c.records) {
        const start = offset;
        offset += r.plaintext_len;
        const out = await peer.page.evaluate(async ({ c, r, start }) => {
          const plaintext = Uint8Array.from({ length: r.plaintext_len }, (_, i) => (start + i) % 251);
          const tag = document.querySelector('script[data-hush-wasm]');
          const m = await import(tag.dataset.hushJs);
          const bytes = (h) => new Uint8Array(h.match(/../g)?.map((x) => parseInt(x, 16)) ?? []);
          const root = bytes(c.file_root);
          const header = bytes(c.header);
          const sealed = await m.hush_seal_record(root, c.file_id, header, r.index, plaintext);
          const opened = await m.hush_open_record(root, c.file_id, header, r.index, sealed);
          const tampered = sealed.slice();
          tampered[tampered.length - 1] ^= 1;
          let tamperedOpened = true;
          try {
            await m.hush_open_record(root, c.file_id, header, r.index, tampered);
          } catch {
            tamperedOpened = false;
          }
          // Record i opened as record i+1 (reordering) must fail too, where there is one.
          let movedOpened = false;
          if (r.index + 1 < c.records.length) {
            try {
              await m.hush_open_record(root, c.file_id, header, r.index + 1, sealed);
              movedOpened = true;
            } catch {}
          }
          const toHex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, '0')).join('');
          return {
            len: sealed.length,
            sha256: toHex(await crypto.subtle.digest('SHA-256', sealed)),
            hex: sealed.length <= 1024 ? toHex(sealed) : undefined,
            openedSame: opened.length === plaintext.length && opened.every((b, i) => b === plaintext[i]),
            tamperedOpened,
            movedOpened,
          };
        }, { c, r, start });
        assert.equal(out.len, r.len, `${c.name} #${r.index}: length`);
        assert.equal(out.sha256, r.sha256, `${c.name} #${r.index}: bytes`);
        if (r.hex) assert.equal(out.hex, r.hex, `${c.name} #${r.index}: hex`);
        assert.ok(out.openedSame, `${c.name} #${r.index}: opens back to the plaintext`);
        assert.equal(out.tamperedOpened, false, `${c.name} #${r.index}: a flipped tag bit does not open`);
        assert.equal(out.movedOpened, false, `${c.name} #${r.index}: does not open in another place`);
        records++;
      }
    }
    t.diagnostic(`${cases.length} cases, ${records} records identical to the core reference`);
    assertNoPageErrors([peer]);
  } finally {
    await closeBrowser(browser);
    await helper.stop();
  }
});
