// Browser end-to-end tests of peer-to-peer file transfer, through the real helper, each peer in
// its own Chromium (see FILE_BROWSERS). The UI contract is described in ../lib/files.mjs.
// Every test starts its own helper and browsers; every await is bounded. Receivers save either
// through the service worker (SAVE_SW_SCRIPT removes showSaveFilePicker: Playwright sees a
// `download`) or through the File System Access API stubbed onto OPFS (SAVE_OPFS_SCRIPT:
// window.__savedFiles records each save); what was saved is hashed and compared to the source.
//
// HUSH_E2E_BIG_MIB sets the size of the big generated file (default 200 MiB).
// HUSH_E2E_FILES_BROWSERS: 'per-peer' (default; one Chromium per peer) or 'shared' (one Chromium,
// a context per peer): see FILE_BROWSERS in ../lib/files.mjs.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { assertNoPageErrors, sleep, STEP_MS, waitFor, withTimeout } from '../lib/harness.mjs';
import { peerItems, sendMessage, waitForMessages } from '../lib/hush.mjs';
import {
  MiB,
  allCards,
  cardButton,
  cardSnapshot,
  describe,
  downloadOutcome,
  fileCard,
  fileCards,
  fileScenario,
  FILE_BROWSERS,
  fileSha256,
  makePng,
  makeSvg,
  mbps,
  offerFiles,
  opfsSha256,
  opfsStat,
  percentOf,
  savedFiles,
  sha256,
  tempDir,
  unsafeChars,
  UNSAFE_TEXT_CHARS,
  waitForCardState,
  waitForDownloads,
  waitForProgress,
  waitForSaved,
  waitForTransferItem,
  writePatternFile,
} from '../lib/files.mjs';

/** Bound for one whole test. */
const TEST_MS = 300_000;
/** Bound for transfers of the big file to complete (two at once, on a loaded 2-core machine). */
const TRANSFER_MS = 180_000;
/** A receiver cancels, or the sender leaves, once this much of the big file arrived. */
const MID_PERCENT = 10;
/** How long a download that should have failed gets to end before it counts as "never completed". */
const DOWNLOAD_END_MS = 15_000;
/** A transfer whose sender left fails within this (the app's idle timeout is 30 s). */
const LEFT_FAIL_MS = 45_000;
const BIG_BYTES = Number(process.env.HUSH_E2E_BIG_MIB ?? 200) * MiB;
/** Not a multiple of any record or chunk size. */
const SMALL_BYTES = 3 * MiB + 12_345;

/** A sender, a receiver saving through the service worker, one saving through the save picker. */
const SENDER_SW_OPFS = [{ label: 'alice' }, { label: 'bob', save: 'sw' }, { label: 'carol', save: 'opfs' }];

let tmp;
let big;
let small;

before(async () => {
  tmp = tempDir();
  big = { ...(await writePatternFile(tmp.file(`big-${BIG_BYTES / MiB}MiB.bin`), BIG_BYTES)) };
  small = { ...(await writePatternFile(tmp.file('small-3MiB.bin'), SMALL_BYTES)) };
  for (const f of [big, small]) f.name = path.basename(f.path);
});

after(() => tmp?.remove());

/** Strings the card may use to show `bytes` (binary or decimal units, or plain bytes). */
function sizeTexts(bytes) {
  const out = [String(bytes), bytes.toLocaleString('en-US')];
  for (const [div, unit] of [[1024, 'KiB'], [MiB, 'MiB'], [1024 * MiB, 'GiB'], [1e3, 'KB'], [1e3, 'kB'], [1e6, 'MB'], [1e9, 'GB']]) {
    const v = bytes / div;
    if (v >= 1 && v < 10_000) for (const d of [0, 1, 2]) out.push(`${v.toFixed(d)} ${unit}`, `${v.toFixed(d)}${unit}`);
  }
  return out;
}
const showsSize = (text, bytes) => sizeTexts(bytes).some((s) => text.replace(/[\s\u00a0\u202f]+/g, ' ').includes(s));

/** Checks the offer as a receiver first sees it; returns the snapshot. */
async function expectOffered(member, file, sender) {
  const snap = await waitForCardState(member.page, file.name, 'offered');
  assert.ok(snap.text.includes(file.name), `${member.name}: the card shows the name: ${describe(snap)}`);
  assert.ok(snap.text.includes(sender.name), `${member.name}: the card shows the sender ${sender.name}: ${describe(snap)}`);
  assert.ok(showsSize(snap.text, file.size), `${member.name}: the card shows the size of ${file.size} B: ${describe(snap)}`);
  assert.ok(snap.buttons.includes('Download'), `${member.name}: an offered card has "Download": ${describe(snap)}`);
  return snap;
}

/** Checks a running transfer's card: the "Transfer progress" bar and a percentage. */
function checkProgressSnapshot(member, name, snap) {
  assert.equal(snap.progress?.label, 'Transfer progress', `${member.name}: a transferring card has a <progress> named "Transfer progress": ${describe(snap)}`);
  assert.match(snap.text, /\d+\s?%/, `${member.name}: a transferring card shows a percentage: ${describe(snap)}`);
  assert.ok(snap.buttons.includes('Cancel'), `${member.name}: a transferring card has "Cancel": ${describe(snap)}`);
  assert.ok(percentOf(snap) >= 0 && percentOf(snap) <= 100, `${member.name}: progress within 0–100 %: ${describe(snap)}`);
}

/** Asserts the SW-path download `d` did not complete (failed, or still pending after a while). */
async function expectNoCompletedDownload(member, d, t) {
  const end = await downloadOutcome(d, DOWNLOAD_END_MS);
  t.diagnostic(`${member.name} (service worker): the download of ${d.suggestedFilename()} ended ${end.outcome}${end.failure ? ` (${end.failure})` : ''}`);
  assert.notEqual(end.outcome, 'completed', `${member.name}: an interrupted transfer must not complete its download (saved at ${end.path})`);
}

/** Asserts the OPFS-path save `rec` was aborted and left nothing. */
async function expectNothingSaved(member, rec, t) {
  assert.ok(rec, `${member.name}: the stubbed save picker was called`);
  let now;
  await waitFor(async () => (now = (await savedFiles(member.page))[rec.index]).aborted || now.closed, {
    timeout: STEP_MS,
    what: `${member.name}: the writable of ${rec.opfsName} to be aborted`,
  }).catch(() => {});
  const stat = await opfsStat(member.page, rec.opfsName);
  t.diagnostic(`${member.name} (OPFS): ${JSON.stringify(now)}; file ${JSON.stringify(stat)}`);
  assert.equal(now.closed, false, `${member.name}: the writable of an interrupted transfer is never closed (close() would keep it)`);
  assert.equal(now.aborted, true, `${member.name}: the writable of an interrupted transfer is aborted`);
  assert.ok(!stat.exists || stat.size === 0, `${member.name}: nothing of the interrupted file remains (${JSON.stringify(stat)})`);
}

const withIndex = (recs) => recs.map((r, index) => ({ ...r, index }));

test('two files offered at once reach two receivers intact, one through the service worker, one through File System Access', { timeout: TEST_MS }, async (t) => {
  await fileScenario('files-two-receivers', SENDER_SW_OPFS, async (ctx, { members }) => {
    const [alice, bob, carol] = members;
    const receivers = [bob, carol];
    const files = [big, small];

    await offerFiles(alice.page, files.map((f) => f.path));
    for (const f of files) {
      const own = await waitForCardState(alice.page, f.name, 'sending', { timeout: STEP_MS });
      assert.ok(own.buttons.includes('Withdraw'), `the sender's own card has "Withdraw": ${describe(own)}`);
    }
    for (const r of receivers) for (const f of files) await expectOffered(r, f, alice);

    const runs = receivers.flatMap((r) => files.map((f) => ({ r, f, transferring: [] })));
    const t0 = performance.now();
    // Receivers at once, but one click at a time per page: two concurrent clicks on one page
    // interleave their mouse events.
    await Promise.all(receivers.map(async (r) => {
      for (const f of files) await cardButton(r.page, f.name, 'Download').click();
    }));
    await Promise.all(
      runs.map(async (run) => {
        await waitForCardState(run.r.page, run.f.name, 'verified', {
          timeout: TRANSFER_MS,
          interval: 250,
          // Checked afterwards: an exception here would only make the wait retry.
          onPoll: (snap) => snap.state === 'transferring' && run.transferring.push(snap),
        });
        run.ms = performance.now() - t0;
      }),
    );
    const totalMs = performance.now() - t0;
    t.diagnostic(`peers in ${FILE_BROWSERS === 'shared' ? 'one shared Chromium' : 'one Chromium each'}`);

    for (const run of runs) {
      const snap = await cardSnapshot(run.r.page, run.f.name);
      assert.match(snap.text, /Verified/, `${run.r.name}: a verified card says "Verified": ${describe(snap)}`);
      t.diagnostic(`${run.r.name} (${run.r.save}) ${run.f.name}: ${run.f.size} B verified ${(run.ms / 1000).toFixed(1)} s after "Download" (${mbps(run.f.size, run.ms).toFixed(1)} MB/s; seen transferring ${run.transferring.length}×)`);
      for (const snap of run.transferring) checkProgressSnapshot(run.r, run.f.name, snap);
    }
    for (const r of receivers) {
      const run = runs.find((x) => x.r === r && x.f === big);
      assert.ok(run.transferring.length > 0, `${r.name}: the big file's card was seen transferring`);
    }
    const bytes = runs.reduce((a, run) => a + run.f.size, 0);
    t.diagnostic(`all four transfers: ${bytes} B in ${(totalMs / 1000).toFixed(1)} s = ${mbps(bytes, totalMs).toFixed(1)} MB/s in total`);

    for (const f of files) {
      for (const r of receivers) await waitForTransferItem(alice.page, f.name, r.name, /Verified/i);
    }

    // Service-worker path: one download per file, complete, equal to the source.
    await waitForDownloads(bob.downloads, 2, STEP_MS);
    assert.equal(bob.downloads.length, 2, `${bob.name}: exactly one download per file`);
    for (const f of files) {
      const d = bob.downloads.find((x) => x.suggestedFilename() === f.name);
      assert.ok(d, `${bob.name}: a download named ${f.name} (got ${bob.downloads.map((x) => x.suggestedFilename())})`);
      const end = await downloadOutcome(d, 30_000);
      assert.equal(end.outcome, 'completed', `${bob.name}: the download of ${f.name} completed: ${JSON.stringify(end)}`);
      const got = await fileSha256(end.path);
      assert.deepEqual(got, { sha256: f.sha256, size: f.size }, `${bob.name}: the downloaded ${f.name} equals the source`);
    }

    // File System Access path: one save per file, closed, equal to the source.
    const saved = withIndex(await waitForSaved(carol.page, 2, STEP_MS));
    assert.equal(saved.length, 2, `${carol.name}: exactly one save per file: ${JSON.stringify(saved)}`);
    for (const f of files) {
      const rec = saved.find((s) => s.suggestedName === f.name);
      assert.ok(rec, `${carol.name}: showSaveFilePicker was asked for ${f.name}: ${JSON.stringify(saved)}`);
      assert.ok(rec.closed && !rec.aborted, `${carol.name}: the writable of ${f.name} was closed, not aborted: ${JSON.stringify(rec)}`);
      const hashStart = performance.now();
      const got = await opfsSha256(carol.page, rec.opfsName);
      t.diagnostic(`${carol.name}: read back ${f.name} from OPFS in ${((performance.now() - hashStart) / 1000).toFixed(1)} s`);
      assert.deepEqual(got, { sha256: f.sha256, size: f.size }, `${carol.name}: the saved ${f.name} equals the source`);
    }
    assert.equal(carol.downloads.length, 0, `${carol.name}: with a save picker there is no browser download`);
    assertNoPageErrors(ctx.peers);
  });
});

/** `alice` offers the big file and every receiver downloads it; resolves with their progress once each is MID_PERCENT in. */
async function bigDownloadsUnderWay(alice, receivers) {
  await offerFiles(alice.page, [big.path]);
  for (const r of receivers) await expectOffered(r, big, alice);
  await Promise.all(receivers.map((r) => cardButton(r.page, big.name, 'Download').click()));
  return Promise.all(receivers.map((r) => waitForProgress(r.page, big.name, MID_PERCENT, { timeout: TRANSFER_MS })));
}

test('cancelling half-way leaves no file, and the file can then be downloaded in full', { timeout: TEST_MS }, async (t) => {
  await fileScenario('files-cancel', SENDER_SW_OPFS, async (ctx, { members }) => {
    const [alice, bob, carol] = members;
    const receivers = [bob, carol];

    const at = await bigDownloadsUnderWay(alice, receivers);
    await Promise.all(receivers.map((r) => cardButton(r.page, big.name, 'Cancel').click()));
    for (const [i, r] of receivers.entries()) {
      checkProgressSnapshot(r, big.name, at[i]);
      const snap = await waitForCardState(r.page, big.name, 'cancelled', { timeout: STEP_MS, failOn: ['verified', 'failed'] });
      t.diagnostic(`${r.name} (${r.save}) cancelled at ${percentOf(at[i]).toFixed(0)} %`);
      assert.ok(snap.buttons.includes('Download'), `${r.name}: a cancelled card offers "Download" again: ${describe(snap)}`);
      assert.ok(!snap.buttons.includes('Cancel'), `${r.name}: a cancelled card has no "Cancel": ${describe(snap)}`);
    }
    // Nothing partial remains, on either path.
    await waitForDownloads(bob.downloads, 1, STEP_MS);
    await expectNoCompletedDownload(bob, bob.downloads[0], t);
    const [rec] = withIndex(await waitForSaved(carol.page, 1, STEP_MS));
    assert.equal(rec.suggestedName, big.name, `${carol.name}: the picker was asked for ${big.name}`);
    await expectNothingSaved(carol, rec, t);
    // The sender tells a cancel from a failure.
    for (const r of receivers) await waitForTransferItem(alice.page, big.name, r.name, /cancel/i);

    // Downloading again works to completion, and saves the whole file.
    const t0 = performance.now();
    await cardButton(carol.page, big.name, 'Download').click();
    await waitForCardState(carol.page, big.name, 'verified', { timeout: TRANSFER_MS, interval: 250 });
    t.diagnostic(`${carol.name}: the second download took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const saved = withIndex(await waitForSaved(carol.page, 2, STEP_MS));
    assert.equal(saved.length, 2, `${carol.name}: one more save for the second download: ${JSON.stringify(saved)}`);
    assert.ok(saved[1].closed && !saved[1].aborted, `${carol.name}: the second save was closed: ${JSON.stringify(saved[1])}`);
    assert.deepEqual(await opfsSha256(carol.page, saved[1].opfsName), { sha256: big.sha256, size: big.size }, `${carol.name}: the second download equals the source`);
    const first = await opfsStat(carol.page, saved[0].opfsName);
    assert.ok(!first.exists || first.size === 0, `${carol.name}: the cancelled save is still empty: ${JSON.stringify(first)}`);
    await waitForTransferItem(alice.page, big.name, carol.name, /Verified/i);
    assert.equal(bob.downloads.length, 1, `${bob.name}: no other download began`);
    assertNoPageErrors(ctx.peers);
  });
});

test('a view-once image is shown once, then gone on both sides', { timeout: TEST_MS }, async () => {
  await fileScenario('files-view-once', [{ label: 'alice' }, { label: 'bob', save: 'opfs' }], async (ctx, { members }) => {
    const [alice, bob] = members;
    const png = makePng(64, 48);
    const file = { name: 'secret.png', mimeType: 'image/png', buffer: png, size: png.length };

    await offerFiles(alice.page, [file], { viewOnce: true });
    const own = await waitForCardState(alice.page, file.name, 'sending', { timeout: STEP_MS });
    assert.match(own.text, /View once/, `the sender's card says "View once": ${describe(own)}`);
    const offered = await expectOffered(bob, file, alice);
    assert.match(offered.text, /View once/, `the receiver's card says "View once": ${describe(offered)}`);
    assert.equal(offered.imgs.length, 0, 'nothing is shown before "Download"');

    await cardButton(bob.page, file.name, 'Download').click();
    await waitForCardState(bob.page, file.name, 'verified', { timeout: 60_000 });
    const img = fileCard(bob.page, file.name).getByRole('img', { name: file.name, exact: true });
    await img.waitFor({ state: 'visible', timeout: STEP_MS });
    const shown = await waitFor(
      () => img.evaluate((i) => i.complete && i.naturalWidth > 0 && { w: i.naturalWidth, h: i.naturalHeight, src: i.src }),
      { timeout: STEP_MS, what: 'the view-once image to load' },
    );
    assert.deepEqual([shown.w, shown.h], [64, 48], 'the image decodes at its real size');
    const closeButton = cardButton(bob.page, file.name, 'Close');
    await closeButton.waitFor({ state: 'visible', timeout: STEP_MS });

    await closeButton.click();
    const viewed = await waitForCardState(bob.page, file.name, 'viewed', { timeout: STEP_MS });
    assert.match(viewed.text, /Viewed/, `a closed view-once card says "Viewed": ${describe(viewed)}`);
    assert.equal(viewed.imgs.length, 0, `no image remains: ${JSON.stringify(viewed.imgs)}`);
    assert.deepEqual(viewed.embeds, [], 'no media element remains');
    assert.ok(!viewed.buttons.includes('Download'), `no "Download" after viewing: ${describe(viewed)}`);
    assert.equal(viewed.links.length, 0, `no "Save" or other link after viewing: ${JSON.stringify(viewed.links)}`);
    // The content is gone from memory too: its blob: URL no longer resolves.
    const stillThere = await withTimeout(
      bob.page.evaluate((src) => fetch(src).then((r) => r.ok, () => false), shown.src),
      STEP_MS,
      'fetching the closed image URL',
    );
    assert.equal(stillThere, false, `the image's ${shown.src.slice(0, 5)} URL is revoked after "Close"`);
    assert.equal(await bob.page.getByRole('img', { name: file.name }).count(), 0, 'the image is nowhere on the page');

    await waitForTransferItem(alice.page, file.name, bob.name, /opened/i);
    assert.deepEqual(await savedFiles(bob.page), [], 'a view-once file is never offered to the save picker');
    assert.equal(bob.downloads.length, 0, 'a view-once file is never downloaded');
    assertNoPageErrors(ctx.peers);
  });
});

test('hostile file names are shown and saved harmlessly', { timeout: TEST_MS }, async (t) => {
  await fileScenario('files-hostile-names', SENDER_SW_OPFS, async (ctx, { members }) => {
    const [alice, bob, carol] = members;
    const names = [
      'evil\u202Egnp.exe',
      '..\\..\\Windows\\System32\\x\u0007y\u0000z.txt',
      '../../.ssh/authorized_keys',
      'a\u2066b\u2069c\u200Fd\u202Ae\u202Cf\nnew\rline\u001B[31m.txt',
    ];
    const files = names.map((name, i) => {
      const buffer = Buffer.from(`hostile file ${i}: ${JSON.stringify(name)}\n`.repeat(100 + i));
      return { name, mimeType: 'application/octet-stream', buffer, size: buffer.length, sha256: sha256(buffer) };
    });
    await offerFiles(alice.page, files);

    for (const r of [bob, carol]) {
      let cards = [];
      await waitFor(async () => (cards = await allCards(r.page)).length >= files.length, {
        timeout: 30_000,
        what: `${r.name}: ${files.length} file cards (have ${cards.length})`,
      });
      assert.equal(cards.length, files.length, `${r.name}: one card per offer: ${cards.map(describe)}`);
      const shown = cards.map((c) => c.label.replace(/^File /, ''));
      t.diagnostic(`${r.name} shows ${JSON.stringify(shown)}`);
      for (const [i, c] of cards.entries()) {
        assert.ok(shown[i].trim().length > 0, `${r.name}: a displayed name is never empty: ${describe(c)}`);
        // A name is shown as a relative path (a folder's files keep their place): every
        // component is clean, none climbs or is empty, and nothing is absolute.
        for (const part of shown[i].split('/')) {
          assert.deepEqual(unsafeChars(part), [], `${r.name}: displayed name ${JSON.stringify(shown[i])} is clean`);
          assert.ok(part.trim() !== '' && part !== '..' && part !== '.', `${r.name}: ${JSON.stringify(shown[i])} has no empty or parent component`);
        }
        // Layout puts newlines and tabs between blocks, and the type has a '/': only controls
        // and bidi controls are checked in the whole text.
        assert.deepEqual(unsafeChars(c.text.replace(/[\n\t]/g, ' '), UNSAFE_TEXT_CHARS), [], `${r.name}: the card's text is clean: ${JSON.stringify(c.text)}`);
        assert.equal(c.state, 'offered', `${r.name}: ${describe(c)}`);
        assert.ok(files.some((f) => showsSize(c.text, f.size)), `${r.name}: the card shows one of the sizes: ${describe(c)}`);
      }
      assert.equal(new Set(shown).size, shown.length, `${r.name}: the displayed names are distinct (the test relies on it): ${JSON.stringify(shown)}`);
      r.shown = shown;
      for (let i = 0; i < cards.length; i++) await fileCards(r.page).nth(i).getByRole('button', { name: 'Download', exact: true }).click();
    }
    for (const r of [bob, carol]) {
      for (const name of r.shown) await waitForCardState(r.page, name, 'verified', { timeout: 60_000 });
    }

    const seen = (who, name, sha) => {
      assert.deepEqual(unsafeChars(name), [], `${who}: saved name ${JSON.stringify(name)} is clean`);
      assert.ok(name.length > 0 && !/^\.+$/.test(name), `${who}: saved name ${JSON.stringify(name)} is a plain name`);
      const f = files.find((x) => x.sha256 === sha);
      assert.ok(f, `${who}: the content saved as ${JSON.stringify(name)} is one of the offered files`);
      return f;
    };
    await waitForDownloads(bob.downloads, files.length, STEP_MS);
    const viaSw = new Set();
    for (const d of bob.downloads) {
      const end = await downloadOutcome(d, 30_000);
      assert.equal(end.outcome, 'completed', `${bob.name}: download ${JSON.stringify(d.suggestedFilename())}: ${JSON.stringify(end)}`);
      viaSw.add(seen(bob.name, d.suggestedFilename(), (await fileSha256(end.path)).sha256));
    }
    const saved = withIndex(await waitForSaved(carol.page, files.length, STEP_MS));
    const viaFs = new Set();
    for (const rec of saved) {
      assert.ok(rec.closed, `${carol.name}: save ${JSON.stringify(rec)} closed`);
      viaFs.add(seen(carol.name, rec.suggestedName, (await opfsSha256(carol.page, rec.opfsName)).sha256));
    }
    t.diagnostic(`saved as ${JSON.stringify(bob.downloads.map((d) => d.suggestedFilename()))} (service worker) and ${JSON.stringify(saved.map((s) => s.suggestedName))} (save picker)`);
    assert.equal(viaSw.size, files.length, `${bob.name}: every file arrived intact`);
    assert.equal(viaFs.size, files.length, `${carol.name}: every file arrived intact`);
    assertNoPageErrors(ctx.peers);
  });
});

test('a PNG is shown inline; an SVG and an HTML file are not, even after download', { timeout: TEST_MS }, async () => {
  await fileScenario('files-inline', [{ label: 'alice' }, { label: 'bob', save: 'sw' }], async (ctx, { members }) => {
    const [alice, bob] = members;
    const png = makePng(64, 48);
    const svg = makeSvg();
    // Script that would mark the app's page if the file were ever rendered in one of its frames.
    const html = Buffer.from('<!doctype html><script>top.__htmlRan=1</script><h1>not inline</h1>');
    const photo = { name: 'photo.png', mimeType: 'image/png', buffer: png, size: png.length };
    const drawing = { name: 'drawing.svg', mimeType: 'image/svg+xml', buffer: svg, size: svg.length };
    const page = { name: 'page.html', mimeType: 'text/html', buffer: html, size: html.length };
    const active = [drawing, page];
    await offerFiles(alice.page, [photo, ...active]);
    for (const f of [photo, ...active]) {
      const snap = await expectOffered(bob, f, alice);
      assert.deepEqual([snap.imgs, snap.embeds], [[], []], `nothing of ${f.name} is shown before "Download"`);
    }
    const typeShown = await cardSnapshot(bob.page, photo.name);
    assert.match(typeShown.text, /image\/png|PNG/i, `the card shows the type: ${describe(typeShown)}`);

    for (const f of [photo, ...active]) await cardButton(bob.page, f.name, 'Download').click();
    for (const f of [photo, ...active]) await waitForCardState(bob.page, f.name, 'verified', { timeout: 60_000 });

    const img = fileCard(bob.page, photo.name).getByRole('img', { name: photo.name, exact: true });
    await img.waitFor({ state: 'visible', timeout: STEP_MS });
    const size = await waitFor(
      () => img.evaluate((i) => i.complete && i.naturalWidth > 0 && [i.naturalWidth, i.naturalHeight]),
      { timeout: STEP_MS, what: 'the inline PNG to load' },
    );
    assert.deepEqual(size, [64, 48], 'the inline PNG decodes at its real size');

    // The active formats are saved like any file (here through the service worker), never shown.
    await waitForDownloads(bob.downloads, active.length, STEP_MS);
    for (const f of active) {
      const card = await cardSnapshot(bob.page, f.name);
      assert.deepEqual(card.imgs, [], `${f.name} is not shown as an image: ${JSON.stringify(card.imgs)}`);
      assert.deepEqual(card.embeds, [], `${f.name} is not embedded: ${JSON.stringify(card.embeds)}`);
      const d = bob.downloads.find((x) => x.suggestedFilename() === f.name);
      assert.ok(d, `${f.name} was saved as a file: ${bob.downloads.map((x) => x.suggestedFilename())}`);
      const end = await downloadOutcome(d, 30_000);
      assert.equal(end.outcome, 'completed', `${f.name}: ${JSON.stringify(end)}`);
      assert.equal((await fileSha256(end.path)).sha256, sha256(f.buffer), `the saved ${f.name} equals the source`);
    }
    await sleep(1_000); // a document rendered by mistake would have run its script by now
    const anywhere = await bob.page.evaluate(() => ({
      svgRan: window.__svgRan ?? null,
      htmlRan: window.__htmlRan ?? null,
      imgs: [...document.querySelectorAll('img')].map((i) => i.alt),
      embeds: [...document.querySelectorAll('object, embed')].map((e) => e.getAttribute('data') ?? e.getAttribute('src')),
    }));
    assert.deepEqual([anywhere.svgRan, anywhere.htmlRan], [null, null], `neither the SVG nor the HTML ran: ${JSON.stringify(anywhere)}`);
    for (const f of active) assert.ok(!anywhere.imgs.includes(f.name), `no image of ${f.name} anywhere: ${JSON.stringify(anywhere)}`);
    assert.deepEqual(anywhere.embeds, [], `nothing is embedded anywhere: ${JSON.stringify(anywhere)}`);
    assert.deepEqual(bob.downloads.map((x) => x.suggestedFilename()).sort(), active.map((f) => f.name).sort(), 'the inline PNG is not written to disk');

    // A long chat afterwards: the log keeps only its newest lines in the page, but the cards of
    // files received stay, outcome and all.
    const lines = Array.from({ length: 55 }, (_, i) => `after-${i}`);
    for (const line of lines) {
      await sendMessage(alice.page, line);
      await sleep(120); // under the chat rate limit
    }
    await waitForMessages(bob.page, [lines.at(-1)]);
    await bob.page.getByRole('button', { name: /^Show earlier messages \(\d+\)$/ }).waitFor({ timeout: STEP_MS });
    assert.equal(await bob.page.getByText(lines[0], { exact: true }).count(), 0, 'the oldest line left the page');
    for (const f of [photo, ...active]) {
      const snap = await cardSnapshot(bob.page, f.name);
      assert.equal(snap?.state, 'verified', `${f.name} keeps its card: ${describe(snap)}`);
    }
    assertNoPageErrors(ctx.peers);
  });
});

test('a sender leaving mid-transfer fails the transfer and leaves no file', { timeout: TEST_MS }, async (t) => {
  await fileScenario('files-sender-leaves', SENDER_SW_OPFS, async (ctx, { members }) => {
    const [alice, bob, carol] = members;
    const receivers = [bob, carol];
    await bigDownloadsUnderWay(alice, receivers);

    const left = performance.now();
    await withTimeout(alice.page.close(), STEP_MS, 'closing the sender page');
    for (const r of receivers) {
      const snap = await waitForCardState(r.page, big.name, 'failed', {
        timeout: LEFT_FAIL_MS,
        failOn: ['verified', 'cancelled', 'withdrawn', 'offered', 'viewed'],
      });
      t.diagnostic(`${r.name} (${r.save}): failed ${((performance.now() - left) / 1000).toFixed(1)} s after the sender left: ${JSON.stringify(snap.text.replace(/\s+/g, ' '))}`);
      assert.match(snap.text, /Failed:/, `${r.name}: the card says "Failed:": ${describe(snap)}`);
      assert.match(snap.text, /\bleft\b|interrupt/i, `${r.name}: the reason says the sender left or the transfer was interrupted: ${describe(snap)}`);
      assert.equal(snap.progress, null, `${r.name}: no progress bar on a failed card: ${describe(snap)}`);
      await waitFor(async () => !(await peerItems(r.page)).some((p) => p.includes(alice.name)), {
        timeout: STEP_MS,
        what: `${r.name}: the sender to be gone from "Peers"`,
      });
    }
    await waitForDownloads(bob.downloads, 1, STEP_MS);
    await expectNoCompletedDownload(bob, bob.downloads[0], t);
    const [rec] = withIndex(await waitForSaved(carol.page, 1, STEP_MS));
    await expectNothingSaved(carol, rec, t);
    assertNoPageErrors(ctx.peers.filter((p) => p !== alice.peer));
  });
});
