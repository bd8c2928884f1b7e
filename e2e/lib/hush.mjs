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

/** Opens `<url>/#/r/<room>` directly, which joins the room. */
export async function joinByLink(page, url, room) {
  await withTimeout(
    page.goto(`${url}/#/r/${encodeURIComponent(room)}`, { waitUntil: 'load' }),
    20_000,
    `open room link ${room}`,
  );
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
