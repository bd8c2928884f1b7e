// Bad input and failures: a peer that sends garbage, a tracker that dies and comes back, a
// connection that can only go through a TURN relay (coturn), a tab that joins and leaves 200
// times (no connection may stay open), and a browser killed mid-call and mid-transfer. Each
// test runs real Chromium pages against the real helper, inside the loopback-only namespace
// of e2e/run.sh.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  assertNoPageErrors,
  closeBrowser,
  launchBrowser,
  newPeer,
  saveDiagnostics,
  scenario,
  sleep,
  startHelper,
  startTurn,
  STEP_MS,
  token,
  waitFor,
  withTimeout,
} from '../lib/harness.mjs';
import {
  cameraButton,
  createRoom,
  instrumentPeerConnections,
  joinByForm,
  joinByLink,
  leaveRoom,
  mediaTile,
  peerItems,
  sendMessage,
  setName,
  setToggle,
  waitForMessages,
  waitForPeerCount,
  waitForPeers,
  waitForTileVideo,
  waitJoinedSwarm,
} from '../lib/hush.mjs';
import {
  MiB,
  cardButton,
  fileCard,
  makePng,
  offerFiles,
  tempDir,
  useSavePath,
  waitForCardState,
  waitForProgress,
  writePatternFile,
} from '../lib/files.mjs';

const TEST_MS = 120_000;
/** How long the helper stays down in the restart test. */
const RESTART_MS = 8_000;
/** The most offers a peer holds out for newcomers (core/src/room/mod.rs `MAX_OFFERS`). */
const MAX_OFFERS = 8;

/**
 * Makes a page hostile: once `window.__hostile` is set, every data-channel send becomes a burst
 * of random bytes. The page runs the real app; only its outgoing frames are garbage.
 */
const HOSTILE_SCRIPT = `
  window.__hostile = false;
  const realSend = RTCDataChannel.prototype.send;
  RTCDataChannel.prototype.send = function (data) {
    if (!window.__hostile) return realSend.call(this, data);
    for (let i = 0; i < 4; i++) {
      const junk = new Uint8Array(40 + i);
      crypto.getRandomValues(junk);
      try { realSend.call(this, junk); } catch (e) { /* channel closing */ }
    }
  };
`;

/** The page stays responsive: a trivial script round trip completes quickly. */
async function assertResponsive(page, what) {
  const t0 = Date.now();
  await withTimeout(page.evaluate(() => 1 + 1), 2_000, `${what}: page responsive`);
  assert.ok(Date.now() - t0 < 2_000, `${what}: page answered in ${Date.now() - t0} ms`);
}

test('a peer sending malformed frames is dropped and counted; the rest of the room goes on', { timeout: TEST_MS }, async () => {
  await scenario('hostile-peer', async (ctx) => {
    const victim = await ctx.peer('victim');
    const room = await createRoom(victim.page);
    await setName(victim.page, 'Vera');
    const honest = await ctx.peer('honest', ctx.url, { goto: false });
    await joinByLink(honest.page, ctx.url, room);
    await setName(honest.page, 'Hank');
    const hostile = await ctx.peer('hostile', ctx.url, { goto: false });
    await hostile.context.addInitScript(HOSTILE_SCRIPT);
    await joinByLink(hostile.page, ctx.url, room);
    await setName(hostile.page, 'Mallory');
    await waitForPeers(victim.page, ['Hank', 'Mallory']);
    await waitForPeers(honest.page, ['Vera', 'Mallory']);

    await hostile.page.evaluate(() => (window.__hostile = true));
    // Heartbeats (every second) now carry garbage; a message makes more right away.
    await sendMessage(hostile.page, `garbage-${token()}`);

    for (const p of [victim, honest]) {
      await waitForPeers(p.page, [p === victim ? 'Hank' : 'Vera'], 10_000);
      const notices = await p.page.getByRole('region', { name: 'Notices' }).innerText();
      assert.match(notices, /Mallory was disconnected: sent malformed data/);
      assert.match(notices, /\d+ malformed message\(s\) dropped/);
    }
    // The room goes on: the honest pair still chats, and the dropped peer does not come back
    // through its re-announces.
    const text = `still-here-${token()}`;
    await sendMessage(honest.page, text);
    await waitForMessages(victim.page, [text]);
    await new Promise((r) => setTimeout(r, 3_000));
    assert.ok(!(await peerItems(victim.page)).some((i) => i.includes('Mallory')), 'Mallory stays out');
    await assertResponsive(victim.page, 'victim');
  });
});

/** Indices (in PC_TRACKER_SCRIPT's list) of the page's connected RTCPeerConnections. */
const connectedIndices = (page) =>
  page.evaluate(() => window.__pcs.flatMap((pc, i) => (pc.connectionState === 'connected' ? [i] : [])));

test('a tracker that goes down is retried without freezing the page, live connections stay, and a newcomer gets in after its return', { timeout: TEST_MS }, async (t) => {
  let helper = await startHelper();
  const listen = new URL(helper.url).host;
  let browser;
  const peers = [];
  try {
    browser = await launchBrowser();
    const a = await newPeer(browser, helper.url, { label: 'a', goto: false });
    await instrumentPeerConnections(a.context);
    await a.page.goto(helper.url);
    peers.push(a);
    const room = await createRoom(a.page);
    await setName(a.page, 'Ann');
    const b = await newPeer(browser, helper.url, { label: 'b', goto: false });
    peers.push(b);
    await joinByLink(b.page, helper.url, room);
    await setName(b.page, 'Ben');
    await waitForPeers(a.page, ['Ben']);
    const before = await connectedIndices(a.page);
    assert.equal(before.length, 1, 'Ann has one connection, to Ben');

    await helper.stop();
    const stopped = performance.now();
    const trackers = a.page.getByRole('list', { name: 'Trackers' });
    await waitFor(async () => /unreachable, retrying/.test(await trackers.innerText()), {
      timeout: 10_000,
      what: 'the tracker to show as unreachable',
    });
    // Peers already connected do not need the tracker.
    const text = `no-tracker-${token()}`;
    await sendMessage(b.page, text);
    await waitForMessages(a.page, [text]);
    await assertResponsive(a.page, 'a while the tracker is down');

    // A restart: the helper comes back on the same address after RESTART_MS (a deploy), and
    // a newcomer joins at once.
    await sleep(Math.max(0, RESTART_MS - (performance.now() - stopped)));
    helper = await startHelper({ listen });
    const back = performance.now();
    const c = await newPeer(browser, helper.url, { label: 'c', goto: false });
    peers.push(c);
    await joinByLink(c.page, helper.url, room);
    await setName(c.page, 'Cat');
    await waitForPeers(c.page, ['Ann', 'Ben'], 40_000);
    t.diagnostic(
      `helper down ${Math.round((back - stopped) / 1000)} s; the newcomer reached both ` +
        `${Math.round(performance.now() - back)} ms after the helper's return`,
    );
    await waitForPeers(a.page, ['Ben', 'Cat']);
    await waitJoinedSwarm(a.page, 40_000);
    await waitJoinedSwarm(b.page, 40_000);
    // Zero dropped: Ann's connection to Ben is the same one, still connected.
    const after = await connectedIndices(a.page);
    assert.ok(after.includes(before[0]), `the connection from before the restart is still up (${before} → ${after})`);
    const notices = await a.page.getByRole('region', { name: 'Notices' }).innerText({ timeout: 1_000 }).catch(() => '');
    assert.ok(!/Ben (left|was disconnected)/.test(notices), `Ben never left Ann's room: ${notices}`);
  } catch (err) {
    const file = saveDiagnostics('tracker-restart', peers, helper);
    err.message += file ? `\ndiagnostics: ${file}` : '';
    throw err;
  } finally {
    await closeBrowser(browser);
    await helper.stop();
  }
});

test('with a relay-only policy two peers connect through coturn, show "relayed", and a file goes through the relay too', { timeout: TEST_MS }, async () => {
  const turn = await startTurn();
  try {
    await scenario(
      'turn-relay',
      async (ctx) => {
        const a = await ctx.peer('a');
        const room = await createRoom(a.page);
        await setName(a.page, 'Rita');
        const b = await ctx.peer('b', ctx.url, { goto: false });
        await instrumentPeerConnections(b.context);
        await joinByLink(b.page, ctx.url, room);
        await setName(b.page, 'Rolf');
        const [itemA] = await waitForPeers(a.page, ['Rolf'], 20_000);
        const [itemB] = await waitForPeers(b.page, ['Rita'], 20_000);
        assert.match(itemA, /relayed/);
        assert.match(itemB, /relayed/);
        const text = `via-turn-${token()}`;
        await sendMessage(a.page, text);
        await waitForMessages(b.page, [text]);
        // A file travels on a connection of its own, which must find the relay too.
        const png = makePng(64, 48);
        const photo = { name: 'relayed.png', mimeType: 'image/png', buffer: png };
        await offerFiles(a.page, [photo]);
        await waitForCardState(b.page, photo.name, 'offered');
        await cardButton(b.page, photo.name, 'Download').click();
        await waitForCardState(b.page, photo.name, 'verified', { timeout: 30_000 });
        const img = fileCard(b.page, photo.name).getByRole('img', { name: photo.name, exact: true });
        const size = await waitFor(
          () => img.evaluate((i) => i.complete && i.naturalWidth > 0 && [i.naturalWidth, i.naturalHeight]),
          { what: 'the relayed PNG to load' },
        );
        assert.deepEqual(size, [64, 48], 'the PNG arrived whole through the relay');
        // Every connection the receiver made, the file's included, was held to the relay.
        const policies = await b.page.evaluate(() => window.__pcs.map((pc) => pc.getConfiguration().iceTransportPolicy));
        assert.ok(policies.length >= 2, `a connection for chat and one for the file: ${JSON.stringify(policies)}`);
        assert.deepEqual([...new Set(policies)], ['relay'], `every connection is relay-only: ${JSON.stringify(policies)}`);
      },
      { helperArgs: ['--turn-url', turn.url, '--turn-secret-file', turn.secretFile, '--relay-only'] },
    );
  } catch (err) {
    err.message += `\ncoturn output:\n${turn.output().slice(-3000)}`;
    throw err;
  } finally {
    await turn.stop();
  }
});

test('eight peers joining one after another all connect to each other (follow-up announces)', { timeout: 180_000 }, async (t) => {
  // The first announce carries 5 offers; a room of 8 needs the follow-ups to reach everyone.
  const PEERS = 8;
  await scenario('eight-peers', async (ctx) => {
    const first = await ctx.peer('p1');
    const room = await createRoom(first.page);
    const peers = [first];
    for (let i = 2; i <= PEERS; i++) {
      const p = await ctx.peer(`p${i}`, ctx.url, { goto: false });
      await joinByLink(p.page, ctx.url, room);
      peers.push(p);
    }
    const start = Date.now();
    await Promise.all(peers.map((p) => waitForPeerCount(p.page, PEERS - 1, 60_000)));
    t.diagnostic(`full mesh of ${PEERS} after the last join: ${Date.now() - start} ms`);
    const text = `to-all-${token()}`;
    await sendMessage(peers[PEERS - 1].page, text);
    await Promise.all(peers.slice(0, -1).map((p) => waitForMessages(p.page, [text])));
  });
});

/**
 * Counts the page's RTCPeerConnections through weak references: holding them all (as
 * PC_TRACKER_SCRIPT does for statistics) would keep every closed one alive, and Chromium
 * refuses a page's 501st live connection. A connection the app forgot without closing stays
 * alive (Chromium keeps it for its pending activity) and is counted.
 */
const WEAK_PC_COUNTER = `(() => {
  const Orig = window.RTCPeerConnection;
  if (!Orig || window.__pcRefs) return;
  window.__pcRefs = [];
  window.RTCPeerConnection = class RTCPeerConnection extends Orig {
    constructor(...args) {
      super(...args);
      window.__pcRefs.push(new WeakRef(this));
    }
  };
})();`;

/** RTCPeerConnections of the page that were never closed. */
const openConnections = (page) =>
  page.evaluate(() => window.__pcRefs.map((r) => r.deref()).filter((pc) => pc && pc.signalingState !== 'closed').length);

test('joining and leaving 200 times in one tab leaves no connection open, on either side', { timeout: 900_000 }, async (t) => {
  const CYCLES = Number(process.env.JOIN_LEAVE_CYCLES ?? 200);
  await scenario('join-leave-leak', async (ctx) => {
    const stay = await ctx.peer('stay', ctx.url, { goto: false });
    await stay.context.addInitScript(WEAK_PC_COUNTER);
    await stay.page.goto(ctx.url);
    const room = await createRoom(stay.page);
    await setName(stay.page, 'Stella');
    const visitor = await ctx.peer('visitor', ctx.url, { goto: false });
    await visitor.context.addInitScript(WEAK_PC_COUNTER);
    await visitor.page.goto(ctx.url);
    const start = Date.now();
    for (let i = 1; i <= CYCLES; i++) {
      // Each visit really connects before it leaves; the page is never reloaded.
      await joinByForm(visitor.page, room);
      await waitForPeers(visitor.page, ['Stella']).catch((e) => {
        e.message += ` (visit ${i})`;
        throw e;
      });
      await leaveRoom(visitor.page);
    }
    const made = await visitor.page.evaluate(() => window.__pcRefs.length);
    t.diagnostic(`${CYCLES} visits in ${Math.round((Date.now() - start) / 1000)} s; the visitor made ${made} connections`);
    assert.ok(made >= CYCLES, `every visit made a connection (${made})`);
    // The visitor's page closes every connection it made; the staying peer keeps only the
    // offers it holds out for newcomers, whatever the number of visits.
    await waitFor(async () => (await openConnections(visitor.page)) === 0, {
      timeout: 15_000,
      what: 'the visitor to have no open RTCPeerConnection after leaving',
    });
    await waitFor(async () => (await peerItems(stay.page)).length === 0, {
      timeout: 15_000,
      what: 'the staying peer to list nobody',
    });
    let open;
    await waitFor(async () => (open = await openConnections(stay.page)) <= MAX_OFFERS, {
      timeout: 15_000,
      what: `the staying peer to hold at most ${MAX_OFFERS} open connections (its offers)`,
    }).catch((e) => {
      e.message += `: ${open} open`;
      throw e;
    });
    const total = await stay.page.evaluate(() => window.__pcRefs.length);
    t.diagnostic(`the staying peer made ${total} connections; ${open} open at the end`);
    assertNoPageErrors([stay, visitor]);
  });
});

/** Every process whose command line holds `tag` (a switch only one test browser was given). */
function processesTagged(tag) {
  const pids = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(tag)) pids.push(Number(pid));
    } catch {
      /* gone meanwhile */
    }
  }
  return pids;
}

/** Connections of the page that are neither closed nor offers still waiting for an answer. */
const liveConnections = (page) =>
  page.evaluate(() =>
    (window.__pcs ?? []).filter((pc) => pc.signalingState !== 'closed' && pc.signalingState !== 'have-local-offer').length,
  );

test('a browser killed mid-call and mid-transfer is cleaned up by the others within 10 s', { timeout: 240_000 }, async (t) => {
  const CLEANUP_MS = 10_000;
  const tmp = tempDir();
  const tag = `--hush-test-victim=${token()}`;
  let victimBrowser;
  try {
    const big = await writePatternFile(tmp.file('big.bin'), 256 * MiB);
    big.name = path.basename(big.path);
    await scenario('killed-peer', async (ctx) => {
      victimBrowser = await launchBrowser({ args: [tag] });
      const victim = await newPeer(victimBrowser, ctx.url, { label: 'victim' });
      ctx.peers.push(victim);
      const room = await createRoom(victim.page);
      await setName(victim.page, 'Vic');
      const stayers = [];
      for (const [label, name] of [['bob', 'Bob'], ['carol', 'Carol']]) {
        const p = await ctx.peer(label, ctx.url, { goto: false });
        await instrumentPeerConnections(p.context);
        await useSavePath(p.context, 'opfs');
        await joinByLink(p.page, ctx.url, room);
        await setName(p.page, name);
        stayers.push({ ...p, name });
      }
      const [bob, carol] = stayers;
      await waitForPeers(victim.page, ['Bob', 'Carol']);
      await waitForPeers(bob.page, ['Vic', 'Carol']);
      await waitForPeers(carol.page, ['Vic', 'Bob']);

      // Mid-call: Vic's and Bob's cameras reach the others.
      await setToggle(cameraButton(victim.page), true);
      await setToggle(cameraButton(bob.page), true);
      await waitForTileVideo(bob.page, 'Vic');
      await waitForTileVideo(carol.page, 'Vic');
      await waitForTileVideo(carol.page, 'Bob');
      // Mid-transfer: Bob is downloading a big file from Vic.
      await offerFiles(victim.page, [big.path]);
      await cardButton(bob.page, big.name, 'Download').click();
      await waitForProgress(bob.page, big.name, 5);

      const pids = processesTagged(tag);
      assert.ok(pids.length > 0, 'the victim browser process is found');
      const killed = performance.now();
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      victimBrowser = undefined;

      const gone = async (page) =>
        !(await peerItems(page)).some((i) => i.includes('Vic')) && (await mediaTile(page, 'Vic').count()) === 0;
      for (const s of stayers) {
        await waitFor(() => gone(s.page), {
          timeout: CLEANUP_MS,
          what: `${s.name}: Vic gone from "Peers" and from the call within ${CLEANUP_MS} ms`,
        });
        t.diagnostic(`${s.name}: Vic gone ${Math.round(performance.now() - killed)} ms after the kill`);
      }
      await waitForCardState(bob.page, big.name, 'failed', {
        timeout: Math.max(1, CLEANUP_MS - (performance.now() - killed)),
        failOn: ['verified'],
      });
      t.diagnostic(`Bob: the download failed ${Math.round(performance.now() - killed)} ms after the kill`);
      // Each stayer keeps one live connection (to the other), the call between them goes on.
      for (const s of stayers) {
        let live;
        await waitFor(async () => (live = await liveConnections(s.page)) === 1, {
          timeout: STEP_MS,
          what: `${s.name}: one live RTCPeerConnection left`,
        }).catch((e) => {
          e.message += `: ${live} live`;
          throw e;
        });
      }
      await waitForTileVideo(carol.page, 'Bob');
      const text = `after-the-kill-${token()}`;
      await sendMessage(bob.page, text);
      await waitForMessages(carol.page, [text]);
      assertNoPageErrors(stayers);
    });
  } finally {
    await closeBrowser(victimBrowser);
    tmp.remove();
  }
});
