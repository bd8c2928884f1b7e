// Browser end-to-end tests of rooms and chat, through the real helper, in separate browser
// contexts per peer (separate storage and identity, like separate people). Every test starts
// its own helper and browser; every await is bounded (see ../lib/harness.mjs).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { assertNoPageErrors, CONNECT_MS, DIST, RESULTS, STEP_MS, scenario, sleep, token, waitFor, withTimeout } from '../lib/harness.mjs';
import {
  GENERATED_ROOM,
  clickAndTimePeers,
  copyLinkButton,
  createRoom,
  dumpStorage,
  entryFor,
  joinButton,
  joinByForm,
  joinByLink,
  leaveRoom,
  logText,
  messageBox,
  peerItems,
  preJoinButton,
  roomNameBox,
  sendButton,
  sendMessage,
  setName,
  waitForMessages,
  waitForPeerCount,
  waitForPeers,
  waitInRoom,
  waitJoinedSwarm,
  waitOnLanding,
} from '../lib/hush.mjs';

/** Bound for one whole test (a test that takes longer has hung somewhere). */
const TEST_MS = 180_000;
/** Removing a closed peer must take less than this (DESIGN: a peer that leaves disappears). */
const LEAVE_DETECT_MS = 5_000;
/** Join-latency runs, and the sanity bound for one join (the target is < 0.5 s). */
const JOIN_RUNS = 10;
const JOIN_SANITY_MS = 15_000;
/** How long to watch for something that must not happen (a peer or message leaking across rooms). */
const QUIET_MS = 3_000;

/**
 * Puts one peer per label into one room: the first creates it with "Create room", the others
 * alternate between typing the name + "Join room" and opening the room link directly. Each sets
 * a distinct display name, then every page waits for the full mesh in "Peers".
 */
async function mesh(ctx, labels) {
  const members = [];
  const first = await ctx.peer(labels[0]);
  const room = await createRoom(first.page);
  assert.match(room, GENERATED_ROOM, 'a created room name is 12 lowercase words joined by "-"');
  members.push({ peer: first, page: first.page, name: `${labels[0]}-${token(3)}` });
  for (const [i, label] of labels.slice(1).entries()) {
    let peer;
    if (i % 2 === 0) {
      peer = await ctx.peer(label);
      await joinByForm(peer.page, room);
    } else {
      peer = await ctx.peer(label, undefined, { goto: false });
      await joinByLink(peer.page, ctx.url, room);
    }
    members.push({ peer, page: peer.page, name: `${label}-${token(3)}` });
  }
  await Promise.all(members.map((m) => setName(m.page, m.name)));
  await Promise.all(
    members.map((m) =>
      waitForPeers(
        m.page,
        members.filter((o) => o !== m).map((o) => o.name),
      ),
    ),
  );
  return { room, members };
}


const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

test('three peers see each other by name and chat, per-sender order preserved', { timeout: TEST_MS }, async () => {
  await scenario('three-peer-chat', async (ctx) => {
    const { members } = await mesh(ctx, ['alice', 'bob', 'carol']);

    for (const m of members) {
      const items = await peerItems(m.page);
      for (const item of items) assert.match(item, /\bdirect\b/i, `${m.name}: loopback peers are direct (no TURN here): ${item}`);
      await copyLinkButton(m.page).waitFor({ state: 'visible' });
    }

    // Three quick messages from each sender, all senders at once: Send button, then Enter.
    const sent = new Map(members.map((m) => [m, [1, 2, 3].map((i) => `${m.name} says ${i} ${token()}`)]));
    await Promise.all(
      members.map(async (m) => {
        const [one, two, three] = sent.get(m);
        await sendMessage(m.page, one);
        await sendMessage(m.page, two, { enter: true });
        await sendMessage(m.page, three, { enter: true });
      }),
    );

    for (const receiver of members) {
      const others = members.filter((m) => m !== receiver);
      const expected = others.flatMap((m) => sent.get(m));
      const text = await waitForMessages(receiver.page, expected);
      for (const sender of others) {
        const positions = sent.get(sender).map((t) => text.indexOf(t));
        assert.deepEqual(
          positions,
          [...positions].sort((a, b) => a - b),
          `${receiver.name} shows ${sender.name}'s messages in the order sent`,
        );
        const entry = await entryFor(receiver.page, sent.get(sender)[0], sender.name);
        assert.ok(entry, `${receiver.name}: the entry of "${sent.get(sender)[0]}" shows the sender's name and a time`);
      }
    }
    assertNoPageErrors(ctx.peers);
  });
});

test('a peer in another room sees none of them and none see it', { timeout: TEST_MS }, async () => {
  await scenario('room-isolation', async (ctx) => {
    const { room, members } = await mesh(ctx, ['alice', 'bob', 'carol']);

    const loner = await ctx.peer('dave');
    const otherRoom = await createRoom(loner.page);
    const lonerName = `dave-${token(3)}`;
    await setName(loner.page, lonerName);

    const inside = `inside ${token()}`;
    const outside = `outside ${token()}`;
    await sendMessage(members[0].page, inside);
    await sendMessage(loner.page, outside);
    await waitForMessages(members[1].page, [inside]);
    await sleep(QUIET_MS);

    assert.notEqual(otherRoom, room, 'the fourth peer is in a different room');
    assert.deepEqual(await peerItems(loner.page), [], 'the peer in the other room lists nobody');
    assert.ok(!(await logText(loner.page)).includes(inside), "the other room's log never shows this room's message");
    for (const m of members) {
      const items = await peerItems(m.page);
      assert.equal(items.length, 2, `${m.name} still lists exactly the two others: ${JSON.stringify(items)}`);
      assert.ok(!items.some((i) => i.includes(lonerName)), `${m.name} does not list the peer of the other room`);
      assert.ok(!(await logText(m.page)).includes(outside), `${m.name} never sees the other room's message`);
    }
    assertNoPageErrors(ctx.peers);
  });
});

test(`closing a page removes it from the others' "Peers" within ${LEAVE_DETECT_MS} ms`, { timeout: TEST_MS }, async (t) => {
  await scenario('close-detect', async (ctx) => {
    const { members } = await mesh(ctx, ['alice', 'bob', 'carol']);
    const [stay1, stay2, leaver] = members;

    const start = performance.now();
    await withTimeout(leaver.page.close(), 10_000, 'page.close()');
    const [took1, took2] = await Promise.all(
      [stay1, stay2].map(async (m) => {
        await waitForPeerCount(m.page, 1, LEAVE_DETECT_MS * 3);
        return performance.now() - start;
      }),
    );
    t.diagnostic(`closed peer removed after ${took1.toFixed(0)} ms and ${took2.toFixed(0)} ms`);
    for (const [m, took] of [[stay1, took1], [stay2, took2]]) {
      assert.ok(took < LEAVE_DETECT_MS, `${m.name} removed the closed peer after ${took.toFixed(0)} ms (limit ${LEAVE_DETECT_MS})`);
      await waitForPeers(m.page, [members.find((o) => o !== m && o !== leaver).name], 1_000);
    }
    assertNoPageErrors(ctx.peers.filter((p) => p !== leaver.peer));
  });
});

test('after "Leave room" no message text remains in any browser storage', { timeout: TEST_MS }, async () => {
  await scenario('leave-no-trace', async (ctx) => {
    const { room, members } = await mesh(ctx, ['alice', 'bob']);
    const [alice, bob] = members;
    const fromAlice = [`secret ${token()}`, `secret ${token()}`];
    const fromBob = [`secret ${token()}`, `secret ${token()}`];
    await sendMessage(alice.page, fromAlice[0]);
    await sendMessage(alice.page, fromAlice[1], { enter: true });
    await sendMessage(bob.page, fromBob[0]);
    await sendMessage(bob.page, fromBob[1], { enter: true });
    await waitForMessages(alice.page, fromBob);
    await waitForMessages(bob.page, fromAlice);
    const texts = [...fromAlice, ...fromBob];

    // DESIGN §5: messages, files and keys never touch any storage, not even while in the room.
    const during = await dumpStorage(bob.page);
    for (const text of texts) {
      assert.ok(!during.text.includes(text), `while in the room, storage holds no message text: ${during.text}`);
    }

    await leaveRoom(alice.page);
    const after = await dumpStorage(alice.page);
    for (const text of texts) {
      assert.ok(!after.text.includes(text), `after leaving, storage holds no message text "${text}": ${after.text}`);
    }
    // The room name is the room secret (DESIGN §3); after leaving nothing may keep it.
    assert.ok(!after.text.includes(room), `after leaving, storage holds no room name: ${after.text}`);
    // Allowed: a settings entry with the display name. Nothing else is asserted about it.
    assertNoPageErrors(ctx.peers);
  });
});

test('a message over the length limit is not sent and stays in the box, with the reason shown', { timeout: TEST_MS }, async () => {
  await scenario('overlong-message', async (ctx) => {
    const { members: [a, b] } = await mesh(ctx, ['long-a', 'long-b']);
    // One byte over the 16 KiB limit: refused before anything is sent, and nothing is lost.
    const long = 'x'.repeat(16 * 1024 + 1);
    const box = messageBox(a.page);
    await box.fill(long);
    await sendButton(a.page).click();
    await a.page.getByRole('alert').filter({ hasText: /longer than 16 KiB/ }).waitFor({ state: 'visible', timeout: 5_000 });
    assert.equal(await box.inputValue(), long, 'the draft is kept');
    // Shortened, it goes out, and the peer gets exactly that.
    const ok = `fits-${token()}`;
    await box.fill(ok);
    await sendButton(a.page).click();
    await waitForMessages(b.page, [ok]);
    assert.equal(await box.inputValue(), '', 'a sent draft is cleared');
    const seen = await logText(b.page);
    assert.ok(!seen.includes('xxxxxxxxxxxxxxxx'), 'the overlong text never reached the peer');
    assertNoPageErrors(ctx.peers);
  });
});

/** The "Typing" status line's text. */
const typingText = (page) => page.getByRole('status', { name: 'Typing' }).innerText();

/** Waits until `page`'s "Typing" line matches `re`. */
async function waitTyping(page, re, timeout = 10_000) {
  await waitFor(async () => re.test(await typingText(page)), { timeout, what: `"Typing" to match ${re}` });
}

test('typing shows at the others and clears on send; a direct message reaches only its peer, marked private on both sides', { timeout: TEST_MS }, async () => {
  await scenario('typing-and-direct', async (ctx) => {
    const { members: [a, b, c] } = await mesh(ctx, ['dm-a', 'dm-b', 'dm-c']);
    const box = messageBox(a.page);

    // Typing without sending: both others see it; sending clears it.
    await box.fill(`draft ${token()}`);
    await box.press('Space');
    for (const o of [b, c]) await waitTyping(o.page, new RegExp(`${a.name} is typing`));
    const open = `open-${token()}`;
    await box.fill(open);
    await box.press('Enter');
    await waitForMessages(b.page, [open]);
    await waitTyping(b.page, /^\s*$/);

    // A private message to b: b sees it marked private, a sees whom it went to, c never sees it.
    await a.page
      .getByRole('list', { name: 'Peers' })
      .getByRole('listitem')
      .filter({ hasText: b.name })
      .getByRole('button', { name: 'Message privately' })
      .click();
    await a.page.getByText(`Private to ${b.name}`).waitFor({ state: 'visible', timeout: 5_000 });
    const secret = `secret-${token()}`;
    await sendMessage(a.page, secret, { enter: true });
    await waitForMessages(b.page, [secret]);
    const atB = await b.page.getByRole('listitem').filter({ hasText: secret }).innerText();
    assert.match(atB, new RegExp(`${a.name}[\\s\\S]*privately`), `b's entry shows sender and "privately": ${atB}`);
    const atA = await a.page.getByRole('listitem').filter({ hasText: secret }).innerText();
    assert.match(atA, new RegExp(`privately to ${b.name}`), `a's entry shows whom it went to: ${atA}`);

    // Back to everyone: the next message reaches c, and c (which gets a's messages in order on
    // one channel) never showed the private one.
    await a.page.getByRole('button', { name: 'Write to everyone' }).click();
    const after = `after-${token()}`;
    await sendMessage(a.page, after, { enter: true });
    await waitForMessages(c.page, [after]);
    await waitForMessages(b.page, [after]);
    assert.ok(!(await logText(c.page)).includes(secret), 'the third peer never sees the private message');
    const afterAtB = await b.page.getByRole('listitem').filter({ hasText: after }).innerText();
    assert.doesNotMatch(afterAtB, /privately/, 'a message to everyone is not marked private');

    // Sharing typing turned off: the others no longer see it.
    await a.page.getByRole('checkbox', { name: "Show others when I'm typing" }).uncheck();
    await box.fill(`quiet ${token()}`);
    await box.press('Space');
    await sleep(QUIET_MS);
    assert.equal((await typingText(b.page)).trim(), '', 'typing is not shown while sharing is off');
    assertNoPageErrors(ctx.peers);
  });
});

test('sending faster than the rate limit is refused with the reason, the draft kept, and nothing lost', { timeout: TEST_MS }, async () => {
  await scenario('chat-rate-limit', async (ctx) => {
    const { members: [a, b] } = await mesh(ctx, ['rate-a', 'rate-b']);
    const tag = token();
    // Type-and-Enter as fast as the page handles it, until a draft stays in the box.
    const { sent, kept } = await a.page.getByRole('textbox', { name: 'Message' }).evaluate(async (box, tag) => {
      const tick = () => new Promise((r) => setTimeout(r, 0));
      const sent = [];
      for (let i = 0; i < 60; i++) {
        const text = `fast-${tag}-${i}`;
        box.value = text;
        box.dispatchEvent(new InputEvent('input', { bubbles: true }));
        await tick();
        box.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true, cancelable: true }));
        await tick();
        if (box.value !== '') return { sent, kept: text };
        sent.push(text);
      }
      return { sent, kept: null };
    }, tag);
    assert.ok(kept, `a burst of ${sent.length} messages never met the limit`);
    assert.ok(sent.length >= 10, `the first 10 of a burst go out (${sent.length} did)`);
    await a.page.getByRole('alert').filter({ hasText: /too fast/i }).waitFor({ state: 'visible', timeout: 5_000 });
    assert.equal(await messageBox(a.page).inputValue(), kept, 'the refused draft stays in the box');
    // Everything that was sent arrives; a moment later the kept draft goes too.
    await waitForMessages(b.page, sent);
    await sleep(1_500);
    await sendButton(a.page).click();
    await waitForMessages(b.page, [kept]);
    assert.equal(await messageBox(a.page).inputValue(), '', 'sent, the box clears');
    assert.ok(!(await logText(b.page)).includes('too fast'), 'an honest sender is never dropped by its peer');
    assertNoPageErrors(ctx.peers);
  });
});

test('a hidden tab counts unread messages in its title; a reader scrolled up gets a "New messages" button instead of a jump', { timeout: TEST_MS }, async () => {
  await scenario('unread-and-scroll', async (ctx) => {
    const { members: [a, b] } = await mesh(ctx, ['unread-a', 'unread-b']);
    const setHidden = (hidden) =>
      a.page.evaluate((hidden) => {
        Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });
        document.dispatchEvent(new Event('visibilitychange'));
      }, hidden);
    // Alerts are off until turned on; permission is asked only when notifications are.
    await a.page.evaluate(() => {
      window.__alerts = { asked: 0, shown: [], tones: 0 };
      window.Notification = class {
        static permission = 'default';
        static async requestPermission() { window.__alerts.asked++; window.Notification.permission = 'granted'; return 'granted'; }
        constructor(title, opts) { window.__alerts.shown.push({ title, body: opts?.body }); }
      };
      window.AudioContext = class {
        constructor() { window.__alerts.tones++; this.currentTime = 0; this.destination = {}; }
        createOscillator() { return { frequency: {}, connect() {}, start() {}, stop() {} }; }
        createGain() { return { gain: {}, connect() {} }; }
        close() {}
      };
    });
    const alerts = () => a.page.evaluate(() => window.__alerts);
    assert.equal((await alerts()).asked, 0, 'nothing asked up front');
    await a.page.getByRole('checkbox', { name: 'Sound for new messages' }).check();
    await a.page.getByRole('checkbox', { name: 'Desktop notifications' }).check();
    await waitFor(async () => (await alerts()).asked === 1, { timeout: 5_000, what: 'permission asked once' });
    assert.ok(await a.page.getByRole('checkbox', { name: 'Desktop notifications' }).isChecked());
    await setHidden(true);
    const unread = [1, 2].map((i) => `unread-${i}-${token()}`);
    for (const t of unread) await sendMessage(b.page, t);
    await waitForMessages(a.page, unread);
    await waitFor(async () => (await a.page.title()) === '(2) Hush', { timeout: 5_000, what: 'title "(2) Hush"' });
    const seen = await alerts();
    assert.ok(seen.tones >= 1, 'a tone played');
    assert.ok(seen.shown.length >= 1, 'a notification was shown');
    for (const n of seen.shown) {
      assert.equal(n.body, `New message from ${b.name}`);
      assert.ok(!unread.some((t) => JSON.stringify(n).includes(t)), 'a notification never shows the message');
    }
    await setHidden(false);
    await waitFor(async () => (await a.page.title()) === 'Hush', { timeout: 5_000, what: 'title back to "Hush"' });

    // Enough tall messages to scroll, then the reader scrolls up and a new one arrives.
    const tall = Array.from({ length: 8 }, (_, i) => `tall-${i}-${token()}\n${'line\n'.repeat(12)}end`);
    for (const t of tall) await sendMessage(b.page, t);
    await waitForMessages(a.page, tall.map((t) => t.split('\n')[0]));
    const log = a.page.getByRole('log', { name: 'Messages' });
    await log.evaluate((el) => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); });
    const late = `late-${token()}`;
    await sendMessage(b.page, late);
    await waitForMessages(a.page, [late]);
    const button = a.page.getByRole('button', { name: 'New messages' });
    await button.waitFor({ state: 'visible', timeout: 5_000 });
    assert.ok((await log.evaluate((el) => el.scrollTop)) < 50, 'the reader stays where they were');
    await button.click();
    await waitFor(async () => log.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight < 50), { timeout: 5_000, what: 'the log at the bottom' });
    await button.waitFor({ state: 'hidden', timeout: 5_000 });
    assertNoPageErrors(ctx.peers);
  });
});

test('a long log keeps its newest lines in the page; scrolling back brings earlier ones, which stay while new ones arrive', { timeout: TEST_MS }, async () => {
  await scenario('log-window', async (ctx) => {
    const { members: [a, b] } = await mesh(ctx, ['window-a', 'window-b']);
    const tag = token();
    const texts = Array.from({ length: 70 }, (_, i) => `w${i}-${tag}`);
    // Paced under the rate limit (ten a second).
    for (const t of texts) {
      await sendMessage(b.page, t);
      await sleep(120);
    }
    await waitForMessages(a.page, [texts.at(-1)]);
    const log = a.page.getByRole('log', { name: 'Messages' });
    const lines = () => log.locator('li.msg').count();
    const has = async (t) => (await log.getByText(t, { exact: true }).count()) > 0;
    assert.ok((await lines()) <= 50, `at most 50 lines in the page, not ${await lines()}`);
    assert.ok(!(await has(texts[0])), 'the oldest message is out of the page');
    await log.getByRole('button', { name: /^Show earlier messages \(\d+\)$/ }).waitFor({ timeout: STEP_MS });

    // Scrolling to the top brings the earlier lines in.
    const toTop = () => log.evaluate((el) => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); });
    await waitFor(async () => (await toTop(), has(texts[0])), { timeout: STEP_MS, what: 'the first message back in the page' });

    // A new message while reading back: the lines being read stay; "New messages" offers the way down.
    const late = `late-${token()}`;
    await sendMessage(b.page, late);
    await waitForMessages(a.page, [late]);
    const button = a.page.getByRole('button', { name: 'New messages' });
    await button.waitFor({ state: 'visible', timeout: STEP_MS });
    assert.ok(await has(texts[0]), 'the first message stays while it is being read');
    await button.click();
    await waitFor(async () => !(await has(texts[0])) && (await lines()) <= 50, { timeout: STEP_MS, what: 'back at the bottom, the newest lines alone' });
    assertNoPageErrors(ctx.peers);
  });
});

test('self-destruct makes messages vanish from all three screens, and a view-once message is covered, revealed once, then gone, its sender told who saw it', { timeout: TEST_MS }, async () => {
  await scenario('self-destruct-and-view-once', async (ctx) => {
    const { members: [a, b, c] } = await mesh(ctx, ['vanish-a', 'vanish-b', 'vanish-c']);
    const gone = (page, text, timeout) =>
      waitFor(async () => !(await logText(page)).includes(text), { timeout, what: `"${text}" to vanish` });

    // a sets a 30 s timer: announced everywhere, the others' selectors follow.
    await a.page.getByRole('combobox', { name: 'Self-destruct' }).selectOption({ label: '30 seconds' });
    await waitForMessages(a.page, ['You set messages to vanish after 30 seconds']);
    for (const m of [b, c]) {
      await waitForMessages(m.page, [`${a.name} set messages to vanish after 30 seconds`]);
      assert.equal(await m.page.getByRole('combobox', { name: 'Self-destruct' }).inputValue(), '30000');
    }
    const brief = `brief-${token()}`;
    const sentAt = Date.now();
    await sendMessage(a.page, brief);
    await waitForMessages(b.page, [brief]);
    await waitForMessages(c.page, [brief]);
    for (const m of [a, b, c]) {
      const entry = await m.page.getByRole('listitem').filter({ hasText: brief }).innerText();
      assert.match(entry, /vanishes in 0:[0-3]\d/, `${m.name} shows the countdown: ${entry}`);
    }

    // b turns it off: the next message stays.
    await b.page.getByRole('combobox', { name: 'Self-destruct' }).selectOption({ label: 'Off' });
    await waitForMessages(a.page, [`${b.name} turned vanishing messages off`]);
    const stays = `stays-${token()}`;
    await sendMessage(a.page, stays);
    await waitForMessages(b.page, [stays]);

    // View once: covered at b until revealed; a learns who saw it; gone from b soon after.
    // The one "View once" checkbox beside the composer applies to messages as to files.
    const once = a.page.getByRole('checkbox', { name: 'View once', exact: true });
    await once.check();
    const peek = `peek-${token()}`;
    await sendMessage(a.page, peek);
    await once.uncheck();
    await waitForMessages(a.page, ['not viewed yet']);
    const reveal = b.page.getByRole('button', { name: 'Reveal' });
    await reveal.waitFor({ state: 'visible', timeout: CONNECT_MS });
    assert.ok(!(await logText(b.page)).includes(peek), 'covered: the text is not on screen before it is revealed');
    await reveal.click();
    await waitForMessages(b.page, [peek]);
    await waitForMessages(a.page, [`viewed by ${b.name}`]);
    await gone(b.page, peek, 20_000);
    assert.equal(await b.page.getByRole('button', { name: 'Reveal' }).count(), 0, 'nothing left to reveal');

    // The timed message vanishes from both screens 30 s after it was sent; the later one stays.
    await gone(a.page, brief, Math.max(0, sentAt + 30_000 - Date.now()) + 8_000);
    await gone(b.page, brief, 8_000);
    await gone(c.page, brief, 8_000);
    for (const m of [a, b, c]) assert.ok((await logText(m.page)).includes(stays), `${m.name} keeps the message sent with the timer off`);
    assertNoPageErrors(ctx.peers);
  });
});

test('a room link opens on a screen with the room\'s short label, a name field and "Join": nothing connects before Join', { timeout: TEST_MS }, async () => {
  await scenario('pre-join', async (ctx) => {
    const host = await ctx.peer('host');
    const room = await createRoom(host.page);
    await waitInRoom(host.page); // the creator goes straight in
    const guest = await ctx.peer('guest', undefined, { goto: false });
    // Count every socket and peer connection the page makes.
    await guest.page.addInitScript(() => {
      window.__made = { ws: 0, pc: 0 };
      const wrap = (name, key) => {
        const Orig = window[name];
        window[name] = new Proxy(Orig, { construct(t, args) { window.__made[key]++; return Reflect.construct(t, args); } });
      };
      wrap('WebSocket', 'ws');
      wrap('RTCPeerConnection', 'pc');
    });
    await withTimeout(guest.page.goto(`${ctx.url}/#/r/${encodeURIComponent(room)}`, { waitUntil: 'load' }), 20_000, 'open the link');
    await preJoinButton(guest.page).waitFor({ state: 'visible', timeout: STEP_MS });
    const label = await guest.page.locator('code.room-name').innerText();
    assert.equal(label, `${room.split('-').slice(0, 2).join('-')}-…`, 'the short label, not the whole name');
    assert.ok(!(await guest.page.content()).includes(room), 'the full room name is not shown');
    await sleep(QUIET_MS);
    assert.deepEqual(await guest.page.evaluate(() => window.__made), { ws: 0, pc: 0 }, 'no socket, no peer connection before Join');
    assert.equal((await peerItems(host.page)).length, 0, 'the room does not see the guest yet');
    const name = `guest-${token(3)}`;
    await guest.page.getByRole('textbox', { name: 'Your name' }).fill(name);
    await preJoinButton(guest.page).click();
    await waitInRoom(guest.page);
    await waitForPeers(host.page, [name]);
    const made = await guest.page.evaluate(() => window.__made);
    assert.ok(made.ws > 0 && made.pc > 0, `after Join it connects: ${JSON.stringify(made)}`);
    assertNoPageErrors(ctx.peers);
  });
});

/**
 * Serves `dist/` as a plain static host does (no security headers, unlike the helper), with
 * `config.json` replaced by `config` when given. Returns { url, close }.
 */
async function staticHost(config) {
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css', '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png' };
  const server = http.createServer((req, res) => {
    const name = decodeURIComponent(new URL(req.url, 'http://x').pathname).replace(/^\/+/, '') || 'index.html';
    if (config && name === 'config.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify(config));
    }
    const file = path.join(DIST, path.normalize(name));
    if (!file.startsWith(DIST) || !existsSync(file)) {
      res.writeHead(404);
      return res.end();
    }
    res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    // The browser keeps connections alive: end them, or close() waits for them forever.
    close: () => new Promise((r) => { server.close(r); server.closeAllConnections(); }),
  };
}

test('inside another page\'s frame the app refuses to run and offers its own tab, unless config.json allows embedding; the helper forbids framing outright', { timeout: TEST_MS }, async () => {
  await scenario('framed', async (ctx) => {
    const plain = await staticHost();
    const embeddable = await staticHost({ trackers: ['ws://127.0.0.1:9/announce'], allowEmbedding: true });
    try {
      const framer = await ctx.peer('framer', undefined, { goto: false });
      const frameIn = async (src) => {
        await framer.page.setContent(`<iframe id="f" title="framed" src="${src}" style="width:600px;height:400px"></iframe>`);
        return framer.page.frameLocator('#f');
      };
      // A static host without headers: the app itself refuses.
      let frame = await frameIn(`${plain.url}/#/r/some-room`);
      await frame.getByRole('alert').filter({ hasText: 'Hush runs in its own tab' }).waitFor({ state: 'visible', timeout: STEP_MS });
      const link = frame.getByRole('link', { name: 'Open Hush in a new tab' });
      assert.equal(await link.getAttribute('target'), '_blank');
      assert.equal(await frame.getByRole('button', { name: 'Join', exact: true }).count(), 0, 'no app inside the frame');
      // Embedding allowed by config.json: the app runs in the frame (its pre-join screen).
      frame = await frameIn(`${embeddable.url}/#/r/some-room`);
      await frame.getByRole('button', { name: 'Join', exact: true }).waitFor({ state: 'visible', timeout: STEP_MS });
      // The helper's own pages may not be framed at all (frame-ancestors 'none').
      frame = await frameIn(`${ctx.url}/#/r/some-room`);
      await sleep(1_000);
      assert.equal(await frame.getByRole('button', { name: 'Join', exact: true }).count(), 0, 'the helper is never framed');
    } finally {
      await plain.close();
      await embeddable.close();
    }
  });
});

test('markdown renders as elements: safe links open in a new tab, raw HTML and unsafe links stay text, images are never loaded, code blocks copy', { timeout: TEST_MS }, async () => {
  await scenario('markdown', async (ctx) => {
    const { members: [a, b] } = await mesh(ctx, ['md-a', 'md-b']);
    const tag = token();
    const md = [
      `**bold-${tag}** _it_ ~~gone~~ \`span\` [site](https://example.org/${tag}) [bad](javascript:alert(1)) <b>raw-${tag}</b>`,
      '',
      '![cat](https://example.org/cat.png) see https://example.com/bare',
      '',
      '```',
      `let x = "${tag}";`,
      '```',
      '',
      // Hostile: none of it may run, load or become an element.
      '<img src=x onerror="window.__xss=1"> <svg onload="window.__xss=2"></svg> <iframe src="javascript:window.__xss=3"></iframe>',
      '[e](&#106;avascript:window.__xss=4) [d](data:text/html,<script>window.__xss=5</script>) [m](JaVaScRiPt:window.__xss=6) <javascript:window.__xss=7>',
      '<a href="javascript:window.__xss=8" onclick="window.__xss=9">a</a> \u202Eevil\u202C',
    ].join('\n');
    await messageBox(a.page).fill(md);
    await sendButton(a.page).click();
    await waitForMessages(b.page, [`bold-${tag}`]);
    const entry = b.page.getByRole('log', { name: 'Messages' }).getByRole('listitem').filter({ hasText: `bold-${tag}` });
    assert.equal(await entry.locator('strong').innerText(), `bold-${tag}`);
    assert.equal(await entry.locator('em').innerText(), 'it');
    assert.equal(await entry.locator('del').innerText(), 'gone');
    const links = await entry.locator('a').evaluateAll((as) => as.map((x) => ({ href: x.getAttribute('href'), target: x.target, rel: x.rel, text: x.textContent })));
    assert.deepEqual(
      links.map((l) => l.href),
      [`https://example.org/${tag}`, 'https://example.org/cat.png', 'https://example.com/bare'],
      'only the safe addresses are links (the image as a link to it)',
    );
    for (const l of links) {
      assert.equal(l.target, '_blank');
      assert.equal(l.rel, 'noopener noreferrer');
    }
    const text = await entry.innerText();
    assert.ok(text.includes(`<b>raw-${tag}</b>`), 'raw HTML shows as text');
    assert.ok(text.includes('[bad](javascript:alert(1))') || text.includes('bad'), 'the unsafe link stays text');
    assert.equal(await entry.locator('b, img, script, svg, iframe, [onerror], [onload], [onclick]').count(), 0, 'no element from raw HTML, no image');
    assert.ok(text.includes('<iframe src="javascript:window.__xss=3"></iframe>'), 'raw HTML shows as the text it is');
    assert.ok(!text.includes('\u202E'), 'bidi overrides are removed');
    await sleep(500);
    assert.equal(await b.page.evaluate(() => window.__xss), undefined, 'nothing ran');
    assert.equal(await entry.locator('pre code').innerText(), `let x = "${tag}";\n`);
    await b.page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: ctx.url });
    await entry.getByRole('button', { name: 'Copy code' }).click();
    await entry.getByRole('button', { name: 'Copied' }).waitFor({ state: 'visible', timeout: STEP_MS });
    assert.equal(await b.page.evaluate(() => navigator.clipboard.readText()), `let x = "${tag}";\n`);
    assertNoPageErrors(ctx.peers);
  });
});

test(`join latency over ${JOIN_RUNS} runs (measurement)`, { timeout: 300_000 }, async (t) => {
  await scenario('join-latency', async (ctx) => {
    const times = [];
    for (let run = 1; run <= JOIN_RUNS; run++) {
      const host = await ctx.peer(`host${run}`);
      const room = await createRoom(host.page);
      // The figure is the guest's join: the host is already in the swarm, as in real use.
      await waitJoinedSwarm(host.page);
      const guest = await ctx.peer(`guest${run}`);
      await waitOnLanding(guest.page);
      await roomNameBox(guest.page).fill(room);
      const { ms: took, inPage, outerMs } = await clickAndTimePeers(guest.page, joinButton(guest.page), 1, JOIN_SANITY_MS);
      times.push(took);
      t.diagnostic(`run ${run}: ${took.toFixed(0)} ms (${inPage ? 'in-page' : 'test-side'}; test-side ${outerMs.toFixed(0)} ms)`);
      await Promise.all([host.close(), guest.close()]);
    }
    const summary = {
      runs: times.length,
      median_ms: Math.round(median(times)),
      min_ms: Math.round(Math.min(...times)),
      max_ms: Math.round(Math.max(...times)),
      all_ms: times.map(Math.round),
    };
    const line = `join latency: median ${summary.median_ms} ms, min ${summary.min_ms} ms, max ${summary.max_ms} ms over ${summary.runs} runs`;
    t.diagnostic(line);
    console.log(line);
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(path.join(RESULTS, 'join-latency.json'), JSON.stringify(summary, null, 2) + '\n');
    for (const took of times) assert.ok(took < JOIN_SANITY_MS, `a join took ${took.toFixed(0)} ms`);
  });
});

test('a short custom room name is flagged as weak', { timeout: TEST_MS }, async () => {
  await scenario('weak-name', async (ctx) => {
    const peer = await ctx.peer('weak');
    await waitOnLanding(peer.page);
    await roomNameBox(peer.page).fill('cats');
    await joinButton(peer.page).click();
    // A weak name is not joined on the first press: the page says why and asks again.
    const warning = peer.page.getByRole('alert').filter({ hasText: /weak/i });
    await warning.waitFor({ state: 'visible', timeout: 10_000 });
    assert.match(await warning.textContent(), /tracker/i, 'it says what a tracker could do');
    assert.ok(!/#\/r\//.test(peer.page.url()), 'still on the landing page');
    // Twelve copies of one list word are just as weak as one.
    await roomNameBox(peer.page).fill(Array(12).fill('kite').join(' '));
    await joinButton(peer.page).click();
    await warning.waitFor({ state: 'visible', timeout: 10_000 });
    await peer.page.getByRole('button', { name: 'Join anyway' }).click();
    await waitInRoom(peer.page);
    assertNoPageErrors(ctx.peers);
  });
});
