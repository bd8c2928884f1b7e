// Bad input and failures: a peer that sends garbage, a tracker that dies and comes back, and a
// connection that can only go through a TURN relay (coturn). Each test runs real Chromium
// pages against the real helper, inside the loopback-only namespace of e2e/run.sh.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  closeBrowser,
  launchBrowser,
  newPeer,
  saveDiagnostics,
  scenario,
  startHelper,
  startTurn,
  token,
  waitFor,
  withTimeout,
} from '../lib/harness.mjs';
import {
  createRoom,
  instrumentPeerConnections,
  joinByLink,
  peerItems,
  sendMessage,
  setName,
  waitForMessages,
  waitForPeerCount,
  waitForPeers,
  waitJoinedSwarm,
} from '../lib/hush.mjs';
import { cardButton, fileCard, makePng, offerFiles, waitForCardState } from '../lib/files.mjs';

const TEST_MS = 120_000;

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

test('a tracker that goes down is retried without freezing the page, and the room reconnects', { timeout: TEST_MS }, async () => {
  let helper = await startHelper();
  const listen = new URL(helper.url).host;
  let browser;
  const peers = [];
  try {
    browser = await launchBrowser();
    const a = await newPeer(browser, helper.url, { label: 'a' });
    peers.push(a);
    const room = await createRoom(a.page);
    await setName(a.page, 'Ann');
    const b = await newPeer(browser, helper.url, { label: 'b', goto: false });
    peers.push(b);
    await joinByLink(b.page, helper.url, room);
    await setName(b.page, 'Ben');
    await waitForPeers(a.page, ['Ben']);

    await helper.stop();
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

    helper = await startHelper({ listen });
    await waitJoinedSwarm(a.page, 40_000);
    await waitJoinedSwarm(b.page, 40_000);
    // A newcomer reaches both through the restarted tracker.
    const c = await newPeer(browser, helper.url, { label: 'c', goto: false });
    peers.push(c);
    await joinByLink(c.page, helper.url, room);
    await setName(c.page, 'Cat');
    await waitForPeers(c.page, ['Ann', 'Ben']);
    await waitForPeers(a.page, ['Ben', 'Cat']);
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
