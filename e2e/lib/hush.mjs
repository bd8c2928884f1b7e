// Page helpers written against the app's accessibility contract (DESIGN.md §5): every control
// is found by role and accessible name, the way a screen-reader user would find it.
//
// Landing: textbox "Room name", buttons "Create room" and "Join room".
// Room:    textbox "Your name", list "Peers" (remote peers only, each item holds the display
//          name and "direct" or "relayed"), log "Messages", textbox "Message", button "Send",
//          button "Copy link", button "Leave room".

import { CONNECT_MS, STEP_MS, waitFor, withTimeout } from './harness.mjs';

/** A generated room name: 12 lowercase words joined by '-'. */
export const GENERATED_ROOM = /^[a-z]+(?:-[a-z]+){11}$/;

// Names match as Playwright does by default (case-insensitive substring), so a list named
// "Peers (2)" is the "Peers" list. Only "Send" is exact: "Send files" must not match it.
export const roomNameBox = (page) => page.getByRole('textbox', { name: 'Room name' });
export const createButton = (page) => page.getByRole('button', { name: 'Create room' });
export const joinButton = (page) => page.getByRole('button', { name: 'Join room' });
export const yourNameBox = (page) => page.getByRole('textbox', { name: 'Your name' });
export const peersList = (page) => page.getByRole('list', { name: 'Peers' });
export const messagesLog = (page) => page.getByRole('log', { name: 'Messages' });
export const messageBox = (page) => page.getByRole('textbox', { name: 'Message' });
export const sendButton = (page) => page.getByRole('button', { name: 'Send', exact: true });
export const leaveButton = (page) => page.getByRole('button', { name: 'Leave room' });
export const copyLinkButton = (page) => page.getByRole('button', { name: 'Copy link' });

/** The room name in the page's URL fragment (`#/r/<name>`), or undefined. */
export function roomFromUrl(page) {
  const hash = new URL(page.url()).hash;
  const match = /^#\/r\/(.+)$/.exec(hash);
  return match ? decodeURIComponent(match[1]) : undefined;
}

/** Waits until the room view is up (the message box is the room's landmark control). */
export async function waitInRoom(page, timeout = CONNECT_MS) {
  await messageBox(page).waitFor({ state: 'visible', timeout });
}

/** Waits until the landing view is up. */
export async function waitOnLanding(page, timeout = STEP_MS) {
  await roomNameBox(page).waitFor({ state: 'visible', timeout });
}

/** On the landing page: "Create room"; returns the generated room name from the URL. */
export async function createRoom(page) {
  await waitOnLanding(page);
  await createButton(page).click();
  const room = await waitFor(() => roomFromUrl(page), {
    timeout: STEP_MS,
    what: 'the URL to become #/r/<name> after "Create room"',
  });
  await waitInRoom(page);
  return room;
}

/**
 * Waits until every tracker in the room's "Trackers" list says "connected": the tracker has
 * answered our announce, so we are in the swarm and other peers can reach us.
 */
export async function waitJoinedSwarm(page, timeout = CONNECT_MS) {
  const statuses = page.getByRole('list', { name: 'Trackers' }).locator('.status');
  await waitFor(async () => {
    const all = await statuses.allInnerTexts();
    return all.length > 0 && all.every((s) => s.trim() === 'connected');
  }, { timeout, what: 'every tracker to say "connected"' });
}

/** On the landing page: type `room` into "Room name" and click "Join room". */
export async function joinByForm(page, room) {
  await waitOnLanding(page);
  await roomNameBox(page).fill(room);
  await joinButton(page).click();
  await waitInRoom(page);
}

/** The pre-join screen's "Join" button (a room link opens on it). */
export const preJoinButton = (page) => page.getByRole('button', { name: 'Join', exact: true });

/** Opens `<url>/#/r/<room>` directly and presses "Join" on the screen it opens on. */
export async function joinByLink(page, url, room) {
  await withTimeout(
    page.goto(`${url}/#/r/${encodeURIComponent(room)}`, { waitUntil: 'load' }),
    20_000,
    `open room link ${room}`,
  );
  await preJoinButton(page).click();
  await waitInRoom(page);
}

/** Sets the display name ("Your name") and commits it by leaving the field (Tab). */
export async function setName(page, name) {
  const box = yourNameBox(page);
  await box.fill(name);
  await box.press('Tab');
  let value;
  try {
    await waitFor(async () => (value = await box.inputValue()) === name, {
      timeout: STEP_MS,
      what: `"Your name" to hold ${name} after fill + Tab`,
    });
  } catch (err) {
    err.message += `; it holds ${JSON.stringify(value)} (typed text was replaced)`;
    throw err;
  }
}

/** Text of every item of the "Peers" list (empty when the list is absent or empty). */
export async function peerItems(page) {
  const list = peersList(page);
  if ((await list.count()) === 0) return [];
  return list.getByRole('listitem').allInnerTexts();
}

/**
 * Waits until "Peers" lists exactly `names` (in any order), each item naming its peer and
 * saying "direct" or "relayed". Returns the items' texts.
 */
export async function waitForPeers(page, names, timeout = CONNECT_MS) {
  let items = [];
  try {
    return await waitFor(
      async () => {
        items = await peerItems(page);
        if (items.length !== names.length) return false;
        const ok = names.every((name) =>
          items.some((item) => item.includes(name) && /\b(direct|relayed)\b/i.test(item)),
        );
        return ok && items;
      },
      { timeout, interval: 25, what: `"Peers" to list exactly [${names.join(', ')}]` },
    );
  } catch (err) {
    err.message += `; "Peers" had ${JSON.stringify(items)}`;
    throw err;
  }
}

/** Waits until "Peers" has exactly `count` items; resolves with the time it took (ms). */
export async function waitForPeerCount(page, count, timeout = CONNECT_MS) {
  const start = performance.now();
  await waitFor(async () => (await peerItems(page)).length === count, {
    timeout,
    interval: 10,
    what: `"Peers" to have ${count} item(s)`,
  });
  return performance.now() - start;
}

/**
 * Clicks `button` and measures, inside the page, the time until the "Peers" list first has
 * `count` items: an in-page click listener and MutationObserver take both timestamps, so the
 * figure carries no test-driver polling delay. Playwright's own view is the authority on
 * whether the state was reached; if the page navigated (losing the in-page probe) the time
 * measured from the test side is returned instead.
 * @returns {Promise<{ms: number, inPage: boolean}>}
 */
export async function clickAndTimePeers(page, button, count, timeout = CONNECT_MS) {
  await button.evaluate((btn, want) => {
    // The same matching as the locators: the accessible name contains "peers".
    const names = (el) => [
      el.getAttribute('aria-label') ?? '',
      ...(el.getAttribute('aria-labelledby') ?? '')
        .split(/\s+/)
        .map((id) => document.getElementById(id)?.textContent ?? ''),
    ];
    const items = () => {
      for (const list of document.querySelectorAll('ul, ol, [role="list"]')) {
        if (!names(list).some((n) => /peers/i.test(n))) continue;
        return list.querySelectorAll('li, [role="listitem"]').length;
      }
      return 0;
    };
    window.__hushProbe = { clickAt: undefined, reachedAt: undefined };
    btn.addEventListener('click', () => (window.__hushProbe.clickAt ??= performance.now()), { capture: true, once: true });
    const observer = new MutationObserver(() => {
      if (window.__hushProbe.clickAt !== undefined && items() === want) {
        window.__hushProbe.reachedAt = performance.now();
        observer.disconnect();
      }
    });
    observer.observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
  }, count);
  const start = performance.now();
  await button.click();
  await waitForPeerCount(page, count, timeout);
  const outer = performance.now() - start;
  const probe = await page.evaluate(() => window.__hushProbe).catch(() => undefined);
  if (probe?.clickAt !== undefined && probe?.reachedAt !== undefined) {
    return { ms: probe.reachedAt - probe.clickAt, inPage: true, outerMs: outer };
  }
  return { ms: outer, inPage: false, outerMs: outer };
}

/** Types `text` into "Message" and sends it with the Send button, or Enter when `enter`. */
export async function sendMessage(page, text, { enter = false } = {}) {
  const box = messageBox(page);
  await box.fill(text);
  if (enter) await box.press('Enter');
  else await sendButton(page).click();
}

/** The full text of the "Messages" log. */
export async function logText(page) {
  const log = messagesLog(page);
  if ((await log.count()) === 0) return '';
  return log.innerText();
}

/** Waits until the "Messages" log contains every one of `texts`. */
export async function waitForMessages(page, texts, timeout = CONNECT_MS) {
  let text = '';
  try {
    await waitFor(
      async () => {
        text = await logText(page);
        return texts.every((t) => text.includes(t));
      },
      { timeout, interval: 25, what: `messages ${JSON.stringify(texts)} in the log` },
    );
  } catch (err) {
    err.message += `; log was ${JSON.stringify(text.slice(-2000))}`;
    throw err;
  }
  return text;
}

/**
 * The text of the log entry that holds `message`: the innermost element containing it, widened
 * towards the log until it also shows the sender's name and a time (so a layout that puts name
 * and time in a header beside the body still counts). Undefined when no such entry exists.
 */
export async function entryFor(page, message, sender) {
  return messagesLog(page).evaluate(
    (log, { message, sender }) => {
      // No word boundaries: a name and a time may touch in innerText ("Wren702:41"). Test
      // names and texts contain no ':', so any h:mm is the entry's time.
      const time = /\d{1,2}:\d{2}/;
      const walker = document.createTreeWalker(log, NodeFilter.SHOW_ELEMENT);
      let innermost;
      for (let el = walker.nextNode(); el; el = walker.nextNode()) {
        if (el.textContent.includes(message)) innermost = el;
      }
      for (let el = innermost; el && el !== log; el = el.parentElement) {
        const text = el.innerText ?? el.textContent;
        if (text.includes(sender) && time.test(text)) return text;
      }
      return undefined;
    },
    { message, sender },
  );
}

/** Clicks "Leave room" and waits for the landing page (hash empty or `#/`). */
export async function leaveRoom(page) {
  await leaveButton(page).click();
  await waitFor(() => ['', '#', '#/'].includes(new URL(page.url()).hash), {
    timeout: STEP_MS,
    what: 'the URL fragment to become empty or #/ after "Leave room"',
  });
  await waitOnLanding(page);
}

/**
 * Everything the page can persist: localStorage and sessionStorage (keys and values),
 * IndexedDB database names and their records, Cache Storage names and request URLs, cookies.
 */
export async function dumpStorage(page) {
  return withTimeout(
    page.evaluate(async () => {
      const bounded = (promise, ms) =>
        Promise.race([promise, new Promise((resolve) => setTimeout(() => resolve('<timeout>'), ms))]);
      const storage = (s) => Object.fromEntries(Object.keys(s).map((k) => [k, s.getItem(k)]));
      const out = {
        localStorage: storage(localStorage),
        sessionStorage: storage(sessionStorage),
        cookie: document.cookie,
        indexedDB: {},
        caches: {},
      };
      const dbs = (await bounded(indexedDB.databases(), 3000)) ?? [];
      for (const { name } of Array.isArray(dbs) ? dbs : []) {
        out.indexedDB[name] = await bounded(
          new Promise((resolve) => {
            const req = indexedDB.open(name);
            req.onerror = () => resolve(`<open failed: ${req.error}>`);
            req.onsuccess = () => {
              const db = req.result;
              const stores = [...db.objectStoreNames];
              if (stores.length === 0) return db.close(), resolve({});
              const tx = db.transaction(stores, 'readonly');
              const records = {};
              for (const store of stores) {
                const all = tx.objectStore(store).getAll();
                all.onsuccess = () => {
                  records[store] = all.result;
                };
              }
              tx.oncomplete = () => (db.close(), resolve(records));
              tx.onerror = () => (db.close(), resolve(`<read failed: ${tx.error}>`));
            };
          }),
          3000,
        );
      }
      if (typeof caches !== 'undefined') {
        for (const key of await bounded(caches.keys(), 3000)) {
          const cache = await caches.open(key);
          out.caches[key] = (await cache.keys()).map((r) => r.url);
        }
      }
      // Binary records are decoded as UTF-8 so plaintext stored as bytes is found too.
      const utf8 = new TextDecoder('utf-8', { fatal: false });
      const bytes = (x) =>
        x instanceof ArrayBuffer
          ? utf8.decode(new Uint8Array(x))
          : ArrayBuffer.isView(x)
            ? utf8.decode(new Uint8Array(x.buffer, x.byteOffset, x.byteLength))
            : x;
      const safe = (v) => {
        try {
          return JSON.stringify(v, (_, x) => bytes(x));
        } catch {
          return String(v);
        }
      };
      return { ...out, text: safe(out) };
    }),
    15_000,
    'reading browser storage',
  );
}

// ---------------------------------------------------------------------------------------------
// Media (audio, video, screen sharing). Contract:
// Room toolbar: toggle buttons "Microphone", "Camera", "Share screen" (aria-pressed "true"/"false");
//   comboboxes "Microphone device", "Camera device", "Speaker device" (where setSinkId exists).
// Region "Media": one tile per live stream, a <figure role="group"> named "<name> (camera)" or
//   "<name> (screen)" ("You (…)" for one's own), holding one <video>; remote tiles carry a
//   slider "Volume for <name>" and buttons "Pin" and "Full screen"; class "speaking" while the
//   peer speaks. "Peers" items say "mic on"/"mic off" and "camera on"/"camera off".

export const micButton = (page) => page.getByRole('button', { name: 'Microphone', exact: true });
export const cameraButton = (page) => page.getByRole('button', { name: 'Camera', exact: true });
export const screenButton = (page) => page.getByRole('button', { name: 'Share screen', exact: true });
export const mediaRegion = (page) => page.getByRole('region', { name: 'Media' });

/** The tile of `name`'s `kind` stream ('camera' or 'screen'); `name` is "You" for one's own. */
export const mediaTile = (page, name, kind = 'camera') =>
  mediaRegion(page).getByRole('group', { name: `${name} (${kind})`, exact: true });

/** Waits until a toggle button's aria-pressed is "true" (`on`) or "false". */
export async function waitPressed(button, on, timeout = CONNECT_MS) {
  const want = on ? 'true' : 'false';
  let last;
  try {
    await waitFor(async () => (last = await button.getAttribute('aria-pressed', { timeout: STEP_MS })) === want, {
      timeout,
      what: `aria-pressed="${want}"`,
    });
  } catch (err) {
    err.message += `; aria-pressed was ${JSON.stringify(last)}`;
    throw err;
  }
}

/**
 * Clicks a media toggle unless it already is in the wanted state, then waits until its
 * aria-pressed says so. (Right after a click whose effect is pending, use waitPressed: this
 * would click again.)
 */
export async function setToggle(button, on, timeout = CONNECT_MS) {
  await button.waitFor({ state: 'visible', timeout: STEP_MS });
  if ((await button.getAttribute('aria-pressed')) !== (on ? 'true' : 'false')) await button.click();
  await waitPressed(button, on, timeout);
}

/** What the "Media" region shows: each tile's role, name, class and its video's size/state. */
export async function mediaSnapshot(page) {
  return withTimeout(
    page.evaluate(() => {
      const region = document.querySelector('[aria-label="Media"]');
      const alerts = [...document.querySelectorAll('[role="alert"], [role="status"]')].map(
        (e) => `${e.getAttribute('role')}: ${e.textContent.trim()}`,
      );
      if (!region) return { region: null, alerts };
      const tiles = [...region.querySelectorAll('figure, [role="group"]')].map((t) => {
        const v = t.querySelector('video');
        const stream = v?.srcObject;
        return {
          tag: t.tagName.toLowerCase(),
          role: t.getAttribute('role'),
          label: t.getAttribute('aria-label'),
          class: t.className,
          video: v
            ? {
                width: v.videoWidth,
                height: v.videoHeight,
                paused: v.paused,
                muted: v.muted,
                volume: v.volume,
                readyState: v.readyState,
                tracks: stream?.getTracks?.().map((tr) => `${tr.kind}:${tr.readyState}${tr.muted ? ':muted' : ''}`),
              }
            : null,
        };
      });
      return { region: region.tagName.toLowerCase(), tiles, alerts };
    }),
    STEP_MS,
    'reading the Media region',
  ).catch((err) => ({ error: err.message }));
}

/** The intrinsic size of the video in `name`'s `kind` tile (0×0 until frames are shown). */
export async function tileVideoSize(page, name, kind = 'camera') {
  return mediaTile(page, name, kind)
    .locator('video')
    .evaluate((v) => ({ width: v.videoWidth, height: v.videoHeight }), undefined, { timeout: 2_000 });
}

/**
 * Waits until `name`'s `kind` tile exists and its video has `videoWidth > minWidth`; returns
 * the size. On timeout the error carries what the Media region showed.
 */
export async function waitForTileVideo(page, name, kind = 'camera', { minWidth = 0, timeout = CONNECT_MS } = {}) {
  let size;
  try {
    return await waitFor(
      async () => {
        if ((await mediaTile(page, name, kind).count()) !== 1) return (size = undefined), false;
        size = await tileVideoSize(page, name, kind);
        return size.width > minWidth && size;
      },
      { timeout, interval: 50, what: `tile "${name} (${kind})" with videoWidth > ${minWidth}` },
    );
  } catch (err) {
    err.message += `; last size ${JSON.stringify(size)}; Media region: ${JSON.stringify(await mediaSnapshot(page))}`;
    throw err;
  }
}

/** Waits until `name`'s `kind` tile is gone; resolves with the time it took (ms). */
export async function waitForNoTile(page, name, kind = 'camera', timeout = CONNECT_MS) {
  const start = performance.now();
  try {
    await waitFor(async () => (await mediaTile(page, name, kind).count()) === 0, {
      timeout,
      interval: 20,
      what: `tile "${name} (${kind})" to disappear`,
    });
  } catch (err) {
    err.message += `; Media region: ${JSON.stringify(await mediaSnapshot(page))}`;
    throw err;
  }
  return performance.now() - start;
}

/** The "Peers" item naming `name` (undefined when absent). */
export async function peerItem(page, name) {
  return (await peerItems(page)).find((item) => item.includes(name));
}

/** Waits until the "Peers" item of `name` matches `re` (e.g. /\bmic on\b/). */
export async function waitForPeerState(page, name, re, timeout = CONNECT_MS) {
  let item;
  try {
    return await waitFor(async () => (item = await peerItem(page, name)) !== undefined && re.test(item) && item, {
      timeout,
      interval: 25,
      what: `the "Peers" item of ${name} to match ${re}`,
    });
  } catch (err) {
    err.message += `; the item was ${JSON.stringify(item)}`;
    throw err;
  }
}

/**
 * Init script (test instrumentation, not an app change): every RTCPeerConnection the page
 * creates is also pushed into `window.__pcs`. A subclass keeps `instanceof` and the prototype.
 */
export const PC_TRACKER_SCRIPT = `(() => {
  const Orig = window.RTCPeerConnection;
  if (!Orig || window.__pcs) return;
  window.__pcs = [];
  window.RTCPeerConnection = class RTCPeerConnection extends Orig {
    constructor(...args) {
      super(...args);
      window.__pcs.push(this);
    }
  };
})();`;

/** Adds PC_TRACKER_SCRIPT to a context; call it before the context's pages navigate. */
export async function instrumentPeerConnections(context) {
  await withTimeout(context.addInitScript(PC_TRACKER_SCRIPT), STEP_MS, 'adding the RTCPeerConnection tracker');
}

/**
 * RTP statistics of every connected RTCPeerConnection of the page (see PC_TRACKER_SCRIPT):
 * `{ at, pcs, inbound: {key → entry}, outbound: {key → entry} }`, keyed by
 * `<connection index>:<ssrc>` so samples taken at different times compare stream by stream
 * (a connection replaced between samples does not make a sum go backwards).
 * inbound entries: { pc, ssrc, kind, framesDecoded, framesReceived, packetsReceived, bytesReceived, frameWidth, frameHeight }
 * outbound entries: { pc, ssrc, kind, framesSent, framesEncoded, packetsSent, frameWidth, frameHeight, qualityLimitationReason }
 */
export async function rtpStats(page) {
  return withTimeout(
    page.evaluate(async () => {
      const out = { at: performance.now(), pcs: 0, inbound: {}, outbound: {} };
      const pcs = window.__pcs ?? [];
      for (const [i, pc] of pcs.entries()) {
        if (pc.connectionState !== 'connected') continue;
        out.pcs++;
        const report = await pc.getStats();
        report.forEach((s) => {
          const kind = s.kind ?? s.mediaType;
          if (s.type === 'inbound-rtp') {
            out.inbound[`${i}:${s.ssrc}`] = {
              pc: i, ssrc: s.ssrc, kind,
              framesDecoded: s.framesDecoded ?? 0,
              framesReceived: s.framesReceived ?? 0,
              packetsReceived: s.packetsReceived ?? 0,
              bytesReceived: s.bytesReceived ?? 0,
              frameWidth: s.frameWidth, frameHeight: s.frameHeight,
            };
          } else if (s.type === 'outbound-rtp') {
            out.outbound[`${i}:${s.ssrc}`] = {
              pc: i, ssrc: s.ssrc, kind,
              framesSent: s.framesSent ?? 0,
              framesEncoded: s.framesEncoded ?? 0,
              packetsSent: s.packetsSent ?? 0,
              frameWidth: s.frameWidth, frameHeight: s.frameHeight,
              qualityLimitationReason: s.qualityLimitationReason,
            };
          }
        });
      }
      return out;
    }),
    STEP_MS,
    'reading RTP statistics',
  );
}

/**
 * Sums of the page's inbound and outbound RTP counters:
 * { videoFramesDecoded, audioPacketsReceived, videoFramesSent, audioPacketsSent, pcs }.
 */
export async function inboundStats(page) {
  const s = await rtpStats(page);
  const sum = (entries, kind, field) =>
    Object.values(entries).filter((e) => e.kind === kind).reduce((a, e) => a + (e[field] ?? 0), 0);
  return {
    pcs: s.pcs,
    videoFramesDecoded: sum(s.inbound, 'video', 'framesDecoded'),
    audioPacketsReceived: sum(s.inbound, 'audio', 'packetsReceived'),
    videoFramesSent: sum(s.outbound, 'video', 'framesSent'),
    audioPacketsSent: sum(s.outbound, 'audio', 'packetsSent'),
  };
}

/**
 * How much of `field` grew between two rtpStats() samples of a receiver, counting only its
 * inbound streams of `kind` whose SSRC is one the sender (its rtpStats() sample `senderStats`)
 * sends: the growth of what came from that sender. Without `senderStats`, every stream counts.
 */
export function inboundGrowth(before, after, { kind, field, senderStats } = {}) {
  const ssrcs = senderStats
    ? new Set(Object.values(senderStats.outbound).filter((e) => e.kind === kind).map((e) => e.ssrc))
    : undefined;
  let growth = 0;
  let streams = 0;
  for (const [key, now] of Object.entries(after.inbound)) {
    if (now.kind !== kind || (ssrcs && !ssrcs.has(now.ssrc))) continue;
    const then = before.inbound[key];
    if (!then) continue;
    streams++;
    growth += (now[field] ?? 0) - (then[field] ?? 0);
  }
  return { growth, streams };
}

/**
 * What the <video> of `name`'s `kind` tile plays: { tracks: ["audio:live", …] (of its
 * srcObject; null without one), paused, muted, volume }.
 */
export async function tilePlayback(page, name, kind = 'camera') {
  return mediaTile(page, name, kind)
    .locator('video')
    .evaluate(
      (v) => ({
        tracks: v.srcObject?.getTracks?.().map((t) => `${t.kind}:${t.readyState}`) ?? null,
        paused: v.paused,
        muted: v.muted,
        volume: v.volume,
      }),
      undefined,
      { timeout: 2_000 },
    );
}

/** What a verification dialog shows: its seven emoji words and its number. */
export async function verifyCodes(page, peerName) {
  const dialog = page.getByRole('dialog', { name: `Verify ${peerName}` });
  const emoji = dialog.getByRole('group', { name: 'Security emoji' }).getByRole('img');
  await waitFor(async () => (await emoji.count()) === 7, {
    timeout: STEP_MS,
    what: `seven security emoji in "Verify ${peerName}"`,
  });
  const words = await emoji.evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')));
  const number = (await dialog.getByLabel('Security number').innerText()).trim();
  return { dialog, words, number };
}
