// Firefox ESR and Chromium in one room, through the real helper: chat and files both ways,
// and a call with both cameras. Runs in its own namespace with a test veth pair
// (e2e/run.sh): Firefox gathers no ICE candidates on loopback alone. Every await is bounded (see ../lib/harness.mjs).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import {
  CONNECT_MS,
  STEP_MS,
  closeBrowser,
  launchBrowser,
  newPeer,
  saveDiagnostics,
  saveScreenshots,
  startHelper,
  token,
  waitFor,
  withTimeout,
} from '../lib/harness.mjs';
import { createRoom, sendMessage, setName, waitForMessages, waitForPeers } from '../lib/hush.mjs';
import { cardButton, fileCard, sha256, tempDir, useSavePath, waitForCardState, writePatternFile, MiB, opfsSha256, waitForSaved } from '../lib/files.mjs';
import { clickButton, firefoxLog, launchFirefox, sendFromFirefox } from '../lib/firefox.mjs';

const TEST_MS = 300_000;
const FILE_BYTES = 3 * MiB + 17;

test('Firefox ESR and Chromium in one room: chat and files both ways, each camera shown in the other browser', { timeout: TEST_MS }, async () => {
  const helper = await startHelper();
  // Chromium's host candidates plain (not mDNS names), as Firefox's are.
  const chromium = await launchBrowser({ args: ['--disable-features=WebRtcHideLocalIpsWithMdns'] });
  const downloadDir = tempDir('hush-ff-downloads-');
  const downloads = downloadDir.dir;
  const ff = await launchFirefox({ downloads });
  const peers = [];
  try {
    const c = await newPeer(chromium, helper.url, { label: 'chromium', goto: false });
    peers.push(c);
    await useSavePath(c.context, 'opfs');
    await withTimeout(c.page.goto(helper.url, { waitUntil: 'load' }), 20_000, 'chromium: open the app');
    const room = await createRoom(c.page);
    const cName = `chromium-${token(3)}`;
    await setName(c.page, cName);

    const f = await ff.page(`${helper.url}/#/r/${encodeURIComponent(room)}`);
    await clickButton(f, 'Join');
    const fName = await waitFor(
      () => f.evaluate(() => document.querySelector('#my-name')?.value || false),
      { timeout: CONNECT_MS, what: 'Firefox in the room' },
    );
    await waitForPeers(c.page, [fName]);
    await waitFor(async () => (await f.evaluate(() => document.body.innerText)).includes(cName), {
      timeout: CONNECT_MS,
      what: 'Firefox lists Chromium',
    });

    // Chat both ways.
    const toFirefox = `to-firefox-${token()}`;
    await sendMessage(c.page, toFirefox);
    await waitFor(async () => (await firefoxLog(f)).includes(toFirefox), { timeout: CONNECT_MS, what: 'the message in Firefox' });
    const toChromium = `to-chromium-${token()}`;
    await sendFromFirefox(f, toChromium);
    await waitForMessages(c.page, [toChromium]);

    // A file from Firefox to Chromium, verified by its hash.
    const files = tempDir('hush-ff-files-');
    const up = files.file(`from-firefox-${token(3)}.bin`);
    await writePatternFile(up, FILE_BYTES);
    const input = await withTimeout(f.waitForSelector('.send-files input[type=file]'), STEP_MS, 'Firefox: Send files');
    await input.uploadFile(up);
    const upName = path.basename(up);
    await fileCard(c.page, upName).waitFor({ state: 'visible', timeout: CONNECT_MS });
    await cardButton(c.page, upName, 'Download').click();
    const [saved] = await waitForSaved(c.page, 1);
    await waitForCardState(c.page, upName, 'verified', { timeout: 120_000 });
    assert.equal((await opfsSha256(c.page, saved.opfsName)).sha256, sha256(readFileSync(up)), 'Chromium saved what Firefox sent');

    // A file from Chromium to Firefox (its download goes through the service worker).
    const down = files.file(`from-chromium-${token(3)}.bin`);
    await writePatternFile(down, FILE_BYTES);
    await c.page.getByLabel('Send files', { exact: true }).setInputFiles(down);
    const downName = path.basename(down);
    await waitFor(
      () =>
        f.evaluate((name) => {
          const card = [...document.querySelectorAll('article.file')].find((a) => a.getAttribute('aria-label') === `File ${name}`);
          const b = card && [...card.querySelectorAll('button')].find((x) => x.textContent.trim() === 'Download');
          if (!b) return false;
          b.click();
          return true;
        }, downName),
      { timeout: CONNECT_MS, what: 'Firefox: Download' },
    );
    const got = await waitFor(
      () => {
        const file = readdirSync(downloads).find((n) => n === downName);
        return file && statSync(path.join(downloads, file)).size === FILE_BYTES && path.join(downloads, file);
      },
      { timeout: 120_000, what: `${downName} complete in Firefox's downloads` },
    );
    assert.equal(sha256(readFileSync(got)), sha256(readFileSync(down)), 'Firefox saved what Chromium sent');

    // A call: Chromium's camera shows in Firefox, then Firefox's (a renegotiation Firefox
    // offers) in Chromium.
    await c.page.getByRole('button', { name: 'Camera', exact: true }).click();
    // The other's tile (its caption names it) shows video frames.
    const playing = (page, name) =>
      page.evaluate((name) => {
        const tile = [...document.querySelectorAll('.tile')].find((t) => t.querySelector('figcaption')?.textContent.includes(name));
        const v = tile?.querySelector('video');
        return !!v && v.videoWidth > 0 && v.readyState >= 2;
      }, name);
    await waitFor(() => playing(f, cName), { timeout: CONNECT_MS, what: "Chromium's video playing in Firefox" });
    await clickButton(f, 'Camera');
    await waitFor(() => playing(c.page, fName), { timeout: CONNECT_MS, what: "Firefox's video playing in Chromium" });
    await waitFor(() => playing(f, cName), { timeout: STEP_MS, what: "Chromium's video still playing in Firefox" });
    assert.deepEqual(ff.errors.filter((e) => !/NS_BINDING_ABORTED|favicon/.test(e)), [], 'no errors in Firefox');
  } catch (err) {
    await saveScreenshots('firefox', peers);
    saveDiagnostics('firefox', peers, helper);
    err.message += ff.errors.length ? `\nFirefox errors:\n  ${ff.errors.slice(0, 20).join('\n  ')}` : '';
    throw err;
  } finally {
    await ff.close();
    downloadDir.remove();
    await closeBrowser(chromium);
    await helper.stop();
  }
});
