// Browser end-to-end tests of rooms and chat, through the real helper, in separate browser
// contexts per peer (separate storage and identity, like separate people). Every test starts
// its own helper and browser; every await is bounded (see ../lib/harness.mjs).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { assertNoPageErrors, RESULTS, scenario, sleep, token, withTimeout } from '../lib/harness.mjs';
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
