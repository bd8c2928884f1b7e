// Helpers for file-transfer tests and benchmarks, written against the app's file UI contract:
//
// Room:    file input "Send files" (<input type=file multiple>), checkbox "View once" (applies to
//          the files sent after it is ticked).
// Offers:  in the log "Messages", one element of role "article" named "File <displayed name>"
//          per offer, with data-state: offered | transferring | verified | failed | cancelled |
//          withdrawn | viewed, and "sending" for one's own offer. It shows the displayed
//          (sanitized) name, size, type and sender. Buttons: "Download" (offered, failed,
//          cancelled), "Cancel" (transferring), "Withdraw" (sender). While transferring: a
//          <progress> "Transfer progress" and "42% · 12.3 MB/s · 8 s left". On the sender's
//          card, a list "Transfers" with one item per receiver ("<peer name>: …%", "Verified",
//          "cancelled", "failed…", "opened"). Done: the text "Verified". Failure: "Failed: …".
//          Inline images: <img alt="<displayed name>"> once verified (never SVG or HTML).
//          View once: the text "View once"; once verified the content with a "Close" button;
//          after "Close": data-state "viewed", the text "Viewed", no img, no "Download".
// Saving:  showSaveFilePicker({ suggestedName }) + createWritable() (write/close/abort) where
//          it exists, else a download streamed by the app's service worker (a `download` event).
//
// Save paths are chosen per browser context with an init script (test instrumentation, not an
// app change): SAVE_SW_SCRIPT removes showSaveFilePicker; SAVE_OPFS_SCRIPT replaces it with one
// that saves into the Origin Private File System and records every call in window.__savedFiles.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import { CONNECT_MS, STEP_MS, closeBrowser, launchBrowser, newPeer, scenario, sleep, token, waitFor, withTimeout } from './harness.mjs';
import { createRoom, joinByLink, messagesLog, setName, waitForPeers } from './hush.mjs';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

// ---------------------------------------------------------------------------------------------
// Locators

export const sendFilesInput = (page) => page.getByLabel('Send files', { exact: true });
export const viewOnceBox = (page) => page.getByRole('checkbox', { name: 'View once', exact: true });
/** The card of the offer displayed as `name`, in the "Messages" log. */
export const fileCard = (page, name) =>
  messagesLog(page).getByRole('article', { name: `File ${name}`, exact: true });
/** Every file card in the log. */
export const fileCards = (page) => messagesLog(page).getByRole('article', { name: /^File / });
export const cardButton = (page, name, button) =>
  fileCard(page, name).getByRole('button', { name: button, exact: true });
export const transfersList = (page, name) =>
  fileCard(page, name).getByRole('list', { name: 'Transfers' });

/** Characters a displayed or saved name must never contain: controls, bidi controls, separators. */
export const UNSAFE_NAME_CHARS = /[\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069\/\\]/u;
/** Characters no text shown from peer data may contain: controls and bidi controls. */
export const UNSAFE_TEXT_CHARS = /[\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/u;
/** Each character of `s` matching `re` (default: UNSAFE_NAME_CHARS), as U+XXXX (for messages). */
export const unsafeChars = (s, re = UNSAFE_NAME_CHARS) =>
  [...String(s)].filter((c) => re.test(c)).map((c) => `U+${c.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}`);

// ---------------------------------------------------------------------------------------------
// Card state

/**
 * Everything a test may want to know about a card, read in one go (undefined if absent):
 * { label, state, text, progress: {value, max, label} | null, buttons: [names], imgs: [{alt,
 * src, complete, naturalWidth}], embeds: [tags of object/iframe/embed/video/audio/svg], transfers:
 * [item texts] }.
 */
export async function cardSnapshot(page, name) {
  const card = fileCard(page, name);
  if ((await card.count()) === 0) return undefined;
  return card.first().evaluate(snapshotOf, undefined, { timeout: STEP_MS });
}

/** Snapshots of every file card in the log, in document order. */
export async function allCards(page) {
  const cards = fileCards(page);
  const n = await cards.count();
  const out = [];
  for (let i = 0; i < n; i++) out.push(await cards.nth(i).evaluate(snapshotOf, undefined, { timeout: STEP_MS }));
  return out;
}

/** Runs in the page: one card → plain data. Self-contained (it is also passed as a string). */
function snapshotOf(el) {
  const labelOf = (e) => {
    const by = (e.getAttribute('aria-labelledby') ?? '')
      .split(/\s+/)
      .filter(Boolean)
      .map((id) => document.getElementById(id)?.textContent ?? '')
      .join(' ');
    return e.getAttribute('aria-label') ?? (by || (e.textContent ?? '').trim());
  };
  // The card's own bar ("Transfer progress"), not a receiver's bar in the sender's "Transfers".
  const bars = [...el.querySelectorAll('progress, [role="progressbar"]')];
  const progress = bars.find((b) => labelOf(b) === 'Transfer progress') ?? bars.find((b) => !b.closest('ul, ol, [role="list"]')) ?? null;
  const transfers = [...el.querySelectorAll('ul, ol, [role="list"]')].find((l) => /transfers/i.test(labelOf(l)));
  return {
    label: el.getAttribute('aria-label') ?? labelOf(el),
    state: el.getAttribute('data-state'),
    text: el.innerText,
    progress: progress
      ? {
          value: Number(progress.getAttribute('value') ?? progress.getAttribute('aria-valuenow') ?? progress.value ?? 0),
          max: Number(progress.getAttribute('max') ?? progress.getAttribute('aria-valuemax') ?? progress.max ?? 1),
          label: labelOf(progress),
        }
      : null,
    buttons: [...el.querySelectorAll('button, [role="button"]')].map((b) => (b.getAttribute('aria-label') ?? b.textContent).trim()),
    links: [...el.querySelectorAll('a[href]')].map((a) => ({ text: a.textContent.trim(), href: a.href, download: a.getAttribute('download') })),
    imgs: [...el.querySelectorAll('img')].map((i) => ({ alt: i.alt, src: i.src, complete: i.complete, naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight })),
    embeds: [...el.querySelectorAll('object, iframe, embed, video, audio, svg, picture, canvas')].map((e) => e.tagName.toLowerCase()),
    transfers: transfers ? [...transfers.querySelectorAll('li, [role="listitem"]')].map((li) => li.innerText.trim()) : null,
  };
}

/** The percentage a snapshot's progress bar shows (NaN without one). */
export const percentOf = (snap) =>
  snap?.progress && snap.progress.max > 0 ? (100 * snap.progress.value) / snap.progress.max : NaN;

/**
 * Waits until the card `name` has data-state in `want` (a string or an array). Fails at once
 * when it reaches a state of `failOn` (default: failed, cancelled, withdrawn, viewed — minus
 * `want`), with the card's text. `onPoll(snapshot)` sees every snapshot (e.g. to record
 * progress). Returns the last snapshot.
 */
export async function waitForCardState(page, name, want, { timeout = CONNECT_MS, failOn, onPoll, interval = 100 } = {}) {
  const wanted = [want].flat();
  const fatalStates = (failOn ?? ['failed', 'cancelled', 'withdrawn', 'viewed']).filter((s) => !wanted.includes(s));
  let snap;
  let fatal;
  try {
    const result = await waitFor(
      async () => {
        snap = await cardSnapshot(page, name);
        if (snap && onPoll) onPoll(snap);
        if (snap && fatalStates.includes(snap.state)) {
          fatal = new Error(`card "File ${name}" reached data-state="${snap.state}" instead of ${wanted.join('|')}`);
          return true; // ends the wait; thrown below
        }
        return snap && wanted.includes(snap.state) && snap;
      },
      { timeout, interval, what: `card "File ${name}" to reach data-state ${wanted.join('|')}` },
    );
    if (fatal) throw fatal;
    return result;
  } catch (err) {
    err.message += `; card: ${describe(snap)}`;
    throw err;
  }
}

/** A short human description of a snapshot, for assertion messages. */
export function describe(snap) {
  if (!snap) return 'absent';
  const p = snap.progress ? ` progress ${snap.progress.value}/${snap.progress.max}` : '';
  return `[${snap.state}]${p} ${JSON.stringify(snap.text?.replace(/\s+/g, ' ').slice(0, 300))}` +
    (snap.transfers ? ` transfers ${JSON.stringify(snap.transfers)}` : '');
}

/**
 * Waits until a card is transferring with at least `percent` % on its progress bar (the bar
 * "Transfer progress" must be there). Fails at once if it ends (verified, failed…) first: the
 * caller wanted to act mid-transfer. Returns the snapshot.
 */
export async function waitForProgress(page, name, percent, { timeout = 120_000 } = {}) {
  let snap;
  let fatal;
  try {
    return await waitFor(
      async () => {
        snap = await cardSnapshot(page, name);
        if (snap && !['offered', 'transferring'].includes(snap.state)) {
          fatal = new Error(`card "File ${name}" reached data-state="${snap.state}" before ${percent}% was seen`);
          return true; // ends the wait; thrown below
        }
        return snap?.state === 'transferring' && percentOf(snap) >= percent && snap;
      },
      { timeout, interval: 50, what: `card "File ${name}" to be transferring at ≥ ${percent}%` },
    ).then((v) => {
      if (fatal) throw fatal;
      return v;
    });
  } catch (err) {
    err.message += `; card: ${describe(snap)}`;
    throw err;
  }
}

/**
 * Waits until the sender's card `name` lists, in "Transfers", an item starting with
 * `peerName` whose text matches `re` (one item per receiver is the contract; if an app listed
 * each attempt, any of them counts). Returns the item's text.
 */
export async function waitForTransferItem(page, name, peerName, re, timeout = CONNECT_MS) {
  let snap;
  try {
    return await waitFor(
      async () => {
        snap = await cardSnapshot(page, name);
        return snap?.transfers?.find((t) => t.startsWith(peerName) && re.test(t));
      },
      { timeout, interval: 100, what: `"${name}" Transfers item of ${peerName} to match ${re}` },
    );
  } catch (err) {
    err.message += `; sender card: ${describe(snap)}`;
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Save paths (init scripts)

/**
 * Forces the service-worker download path: no File System Access save picker, and no folder
 * picker either (a file shown with a path is then saved under its own name, as in browsers
 * without showDirectoryPicker; the folder path has its own test with a stubbed picker).
 */
export const SAVE_SW_SCRIPT = `(() => {
  for (const name of ['showSaveFilePicker', 'showDirectoryPicker']) {
    delete window[name];
    try { delete Window.prototype[name]; } catch {}
  }
})();`;

/**
 * Replaces showSaveFilePicker with one that saves into OPFS under a name of ours
 * ("hush-save-<n>", so any suggested name works) and records each call in window.__savedFiles:
 * { suggestedName, opfsName, writes, bytes, closed, aborted, error }. The handle and writable
 * are the real OPFS objects; only their methods are observed.
 */
export const SAVE_OPFS_SCRIPT = `(() => {
  if (window.__savedFiles) return;
  // Every file through the save picker, one at a time (see SAVE_SW_SCRIPT).
  delete window.showDirectoryPicker;
  try { delete Window.prototype.showDirectoryPicker; } catch {}
  const saved = (window.__savedFiles = []);
  const picker = async function showSaveFilePicker(options = {}) {
    const rec = { suggestedName: options?.suggestedName ?? null, opfsName: 'hush-save-' + saved.length,
      writes: 0, bytes: 0, closed: false, aborted: false, error: null, at: performance.now() };
    saved.push(rec);
    const root = await navigator.storage.getDirectory();
    const handle = await root.getFileHandle(rec.opfsName, { create: true });
    const createWritable = handle.createWritable;
    Object.defineProperty(handle, 'createWritable', { configurable: true, value: async function (...args) {
      const w = await createWritable.apply(this, args);
      const write = w.write, close = w.close, abort = w.abort;
      Object.defineProperty(w, 'write', { configurable: true, value: function (chunk, ...rest) {
        rec.writes++;
        rec.bytes += chunk?.byteLength ?? chunk?.size ?? chunk?.data?.byteLength ?? 0;
        return write.call(this, chunk, ...rest);
      } });
      Object.defineProperty(w, 'close', { configurable: true, value: function (...rest) {
        return close.apply(this, rest).then((v) => { rec.closed = true; return v; }, (e) => { rec.error = String(e); throw e; });
      } });
      Object.defineProperty(w, 'abort', { configurable: true, value: function (...rest) {
        rec.aborted = true;
        return abort.apply(this, rest);
      } });
      return w;
    } });
    return handle;
  };
  Object.defineProperty(window, 'showSaveFilePicker', { configurable: true, writable: true, value: picker });
})();`;

/** Sets a context's save path: 'sw' (service-worker download) or 'opfs' (stubbed FS Access). */
export async function useSavePath(context, save) {
  if (!save) return;
  const script = { sw: SAVE_SW_SCRIPT, opfs: SAVE_OPFS_SCRIPT }[save];
  assert.ok(script, `unknown save path ${save}`);
  await withTimeout(context.addInitScript(script), STEP_MS, `init script for save path ${save}`);
}

/** What the page's stubbed save picker recorded (SAVE_OPFS_SCRIPT). */
export async function savedFiles(page) {
  return withTimeout(page.evaluate(() => window.__savedFiles ?? null), STEP_MS, 'reading __savedFiles');
}

/** Waits until the stubbed picker was asked for `count` files; returns the records. */
export async function waitForSaved(page, count, timeout = CONNECT_MS) {
  let recs;
  try {
    return await waitFor(async () => (recs = await savedFiles(page))?.length >= count && recs, {
      timeout,
      what: `${count} call(s) of the stubbed showSaveFilePicker`,
    });
  } catch (err) {
    err.message += `; __savedFiles: ${JSON.stringify(recs)}`;
    throw err;
  }
}

/** { exists, size } of an OPFS file of the page's origin. */
export async function opfsStat(page, name) {
  return withTimeout(
    page.evaluate(async (name) => {
      const root = await navigator.storage.getDirectory();
      try {
        const file = await (await root.getFileHandle(name)).getFile();
        return { exists: true, size: file.size };
      } catch (err) {
        if (err?.name === 'NotFoundError') return { exists: false, size: 0 };
        throw err;
      }
    }, name),
    STEP_MS,
    `stat of OPFS file ${name}`,
  );
}

/** Every OPFS entry of the page's origin: [{ name, kind, size }]. */
export async function opfsList(page) {
  return withTimeout(
    page.evaluate(async () => {
      const out = [];
      const root = await navigator.storage.getDirectory();
      for await (const [name, h] of root.entries()) {
        out.push({ name, kind: h.kind, size: h.kind === 'file' ? (await h.getFile()).size : null });
      }
      return out;
    }),
    STEP_MS,
    'listing OPFS',
  );
}

/** Deletes an OPFS file (ignores a missing one). */
export async function opfsRemove(page, name) {
  await withTimeout(
    page.evaluate(async (name) => {
      const root = await navigator.storage.getDirectory();
      await root.removeEntry(name).catch(() => {});
    }, name),
    STEP_MS,
    `removing OPFS file ${name}`,
  );
}

/**
 * SHA-256 (hex) and size of an OPFS file, read in `slice`-byte pieces sent to node as base64
 * and hashed here incrementally (crypto.subtle has no incremental digest): memory stays bounded
 * whatever the size.
 */
export async function opfsSha256(page, name, { slice = 8 * MiB } = {}) {
  const { size } = await opfsStat(page, name);
  const hash = createHash('sha256');
  for (let offset = 0; offset < size; offset += slice) {
    const b64 = await withTimeout(
      page.evaluate(
        async ({ name, offset, slice }) => {
          const root = await navigator.storage.getDirectory();
          const file = await (await root.getFileHandle(name)).getFile();
          const bytes = new Uint8Array(await file.slice(offset, offset + slice).arrayBuffer());
          if (bytes.toBase64) return bytes.toBase64();
          let bin = '';
          for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
          return btoa(bin);
        },
        { name, offset, slice },
      ),
      30_000,
      `reading OPFS ${name} at ${offset}`,
    );
    hash.update(Buffer.from(b64, 'base64'));
  }
  return { sha256: hash.digest('hex'), size };
}

/** SHA-256 (hex) and size of a local file, streamed. */
export async function fileSha256(file) {
  const hash = createHash('sha256');
  let size = 0;
  await new Promise((resolve, reject) => {
    createReadStream(file, { highWaterMark: 4 * MiB })
      .on('data', (chunk) => {
        size += chunk.length;
        hash.update(chunk);
      })
      .on('end', resolve)
      .on('error', reject);
  });
  return { sha256: hash.digest('hex'), size };
}

export const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

// ---------------------------------------------------------------------------------------------
// Downloads (service-worker path)

/** Collects every `download` event of `page` into the returned array. */
export function collectDownloads(page) {
  const downloads = [];
  page.on('download', (d) => downloads.push(d));
  return downloads;
}

/** Waits until `downloads` (from collectDownloads) holds `count` entries; returns them. */
export async function waitForDownloads(downloads, count, timeout = CONNECT_MS) {
  await waitFor(() => downloads.length >= count, {
    timeout,
    what: `${count} download event(s) (have ${downloads.length}: ${downloads.map((d) => d.suggestedFilename()).join(', ')})`,
  });
  return downloads;
}

/**
 * How a download ended, within `timeout`: { outcome: 'completed', path } | { outcome:
 * 'failed', failure } | { outcome: 'pending' } (still running when the wait ended).
 */
export async function downloadOutcome(download, timeout = 15_000) {
  try {
    const failure = await withTimeout(download.failure(), timeout, 'download to end');
    if (failure !== null) return { outcome: 'failed', failure };
    return { outcome: 'completed', path: await withTimeout(download.path(), STEP_MS, 'download path') };
  } catch (err) {
    if (/timed out/.test(err.message)) return { outcome: 'pending' };
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Generated files

/** A fresh temporary directory and its remover. */
export function tempDir(prefix = 'hush-files-') {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, file: (name) => path.join(dir, name), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Writes `size` bytes of pseudo-random content fast: one random 1 MiB block repeated, with each
 * block's index written into its first 8 bytes (so no two blocks are equal and a reordered or
 * repeated block changes the hash). Returns { path, size, sha256 }.
 */
export async function writePatternFile(file, size) {
  const block = randomBytes(MiB);
  const hash = createHash('sha256');
  const fh = await open(file, 'w');
  try {
    for (let offset = 0, index = 0n; offset < size; offset += MiB, index++) {
      block.writeBigUInt64LE(index, 0);
      const piece = offset + MiB <= size ? block : block.subarray(0, size - offset);
      hash.update(piece);
      await fh.write(piece, 0, piece.length, offset);
    }
  } finally {
    await fh.close();
  }
  return { path: file, size, sha256: hash.digest('hex') };
}

/** A sparse file of `size` zero bytes (instant, takes no disk). Returns { path, size }. */
export async function writeSparseFile(file, size) {
  const fh = await open(file, 'w');
  try {
    await fh.truncate(size);
  } finally {
    await fh.close();
  }
  return { path: file, size };
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A valid RGB PNG of `width`×`height`: a gradient, so every pixel is defined. */
export function makePng(width = 64, height = 48) {
  const row = 1 + width * 3;
  const raw = Buffer.alloc(row * height);
  for (let y = 0; y < height; y++) {
    raw[y * row] = 0; // filter: none
    for (let x = 0; x < width; x++) {
      const p = y * row + 1 + x * 3;
      raw[p] = (x * 255) / Math.max(1, width - 1);
      raw[p + 1] = (y * 255) / Math.max(1, height - 1);
      raw[p + 2] = 128;
    }
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** An SVG that would run script and show a red square if it were ever rendered as a document. */
export function makeSvg() {
  return Buffer.from(
    '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40" onload="top.__svgRan=1">' +
      '<script>top.__svgRan=1</script><rect width="40" height="40" fill="red"/></svg>',
  );
}

// ---------------------------------------------------------------------------------------------
// Rooms

/**
 * Where the peers of a file test run: 'per-peer' (the default: one Chromium each, like separate
 * machines) or 'shared' (one Chromium, one context per peer, like the chat tests;
 * HUSH_E2E_FILES_BROWSERS=shared). Shared is the harsher setting: every peer's UDP and every
 * save goes through one browser and one network-service process, which on 2 cores delayed
 * heartbeats enough (before frames on a transfer's channel counted as hearing from the peer)
 * that peers were dropped as silent mid-transfer.
 */
export const FILE_BROWSERS = process.env.HUSH_E2E_FILES_BROWSERS ?? 'per-peer';

/**
 * Puts one peer per spec ({ label, save: 'sw' | 'opfs' | undefined }) into one fresh room: the
 * first creates it, the others open its link. Save paths are set before any page loads. Each
 * member: { peer, page, name, save, downloads } (downloads: every `download` event so far).
 * Waits for the full mesh in "Peers". With `browsers: 'per-peer'` every peer after the first
 * gets its own Chromium, kept in `ctx.extraBrowsers` (fileScenario closes them).
 */
export async function fileRoom(ctx, specs, { browsers = FILE_BROWSERS } = {}) {
  const members = [];
  let room;
  for (const spec of specs) {
    let peer;
    if (browsers === 'per-peer' && members.length > 0) {
      const browser = await launchBrowser();
      (ctx.extraBrowsers ??= []).push(browser);
      peer = await newPeer(browser, undefined, { label: spec.label, goto: false });
      ctx.peers.push(peer);
    } else {
      peer = await ctx.peer(spec.label, undefined, { goto: false });
    }
    await useSavePath(peer.context, spec.save);
    const downloads = collectDownloads(peer.page);
    if (!room) {
      await withTimeout(peer.page.goto(ctx.url, { waitUntil: 'load' }), 20_000, `${spec.label}: open ${ctx.url}`);
      room = await createRoom(peer.page);
    } else {
      await joinByLink(peer.page, ctx.url, room);
    }
    members.push({ peer, page: peer.page, name: `${spec.label}-${token(3)}`, save: spec.save, downloads });
  }
  await Promise.all(members.map((m) => setName(m.page, m.name)));
  await Promise.all(members.map((m) => waitForPeers(m.page, members.filter((o) => o !== m).map((o) => o.name))));
  return { room, members };
}

/**
 * scenario() with a file room of `specs` (see fileRoom): `body(ctx, room)`. Closes the extra
 * browsers of a per-peer room whatever happens.
 */
export async function fileScenario(name, specs, body, opts = {}) {
  let ctxRef;
  try {
    return await scenario(name, async (ctx) => {
      ctxRef = ctx;
      return body(ctx, await fileRoom(ctx, specs, opts));
    });
  } finally {
    for (const b of ctxRef?.extraBrowsers ?? []) await closeBrowser(b);
  }
}

/** Offers files through "Send files" (paths, or { name, mimeType, buffer } payloads). */
export async function offerFiles(page, files, { viewOnce = false } = {}) {
  if (viewOnce) await viewOnceBox(page).check();
  await sendFilesInput(page).setInputFiles(files, { timeout: STEP_MS });
}

/** MB/s (10^6 bytes per second), as the app shows it. */
export const mbps = (bytes, ms) => bytes / 1e6 / (ms / 1000);

export { sleep };
