// The man-in-the-middle drill through real WebRTC: a relay that knows the room name (as if
// the link had leaked to a tracker's operator) answers both honest peers' offers itself, so
// each browser's DTLS connection ends at the relay (cli/examples/rogue_tracker.rs).
//   Variant A: the relay forwards every frame untouched, hellos included: both browsers must
//   refuse it and say why, and list nobody.
//   Variant B: the relay puts a native peer of its own in front of each browser, each named
//   like the other browser and signing its own hellos: both browsers list "the other", and
//   only the codes tell: they must differ.
// Each variant runs RUNS times, with fresh browser contexts and a fresh room each run.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ROOT, STEP_MS, assertNoPageErrors, scenario, token } from '../lib/harness.mjs';
import { joinByLink, peerItems, peersList, setName, verifyCodes, waitForPeers } from '../lib/hush.mjs';
import { hush, killAll, spawnTool } from '../lib/cli.mjs';

const RUNS = Number(process.env.MITM_RUNS ?? 20);
const RELAY_BIN = path.join(ROOT, 'target', 'release', 'examples', 'rogue_tracker');
const TEST_MS = 60_000 + RUNS * 30_000;

/** Starts the relay in `mode`; resolves with it and the tracker URL it serves. */
async function startRelay(mode) {
  const relay = spawnTool(RELAY_BIN, ['--mode', mode]);
  const line = await relay.waitFor(/listening (\d+)/, STEP_MS);
  return { relay, tracker: `ws://127.0.0.1:${line.split(' ')[1]}/announce` };
}

/** A room name nobody else uses, told to the relay before anyone joins. */
async function newRun(relay, run) {
  const room = `drill-${token(12)}`;
  relay.write(`room ${room}\n`);
  await relay.waitFor(new RegExp(`ready ${run}\\b`), STEP_MS);
  return room;
}

const refusal = (page) => page.getByText(/Refused a peer\b.*: someone is in the middle/);

test(`MITM drill, variant A: ${RUNS} relays forwarding hellos untouched are refused by both browsers`, { timeout: TEST_MS }, async () => {
  const { relay, tracker } = await startRelay('forward');
  try {
    await scenario('mitm-forward', async (ctx) => {
      let detected = 0;
      for (let run = 1; run <= RUNS; run++) {
        const room = await newRun(relay, run);
        const alice = await ctx.peer(`alice-${run}`, undefined, { goto: false });
        const bob = await ctx.peer(`bob-${run}`, undefined, { goto: false });
        await joinByLink(alice.page, ctx.url, room);
        await joinByLink(bob.page, ctx.url, room);
        // The relay really is in the middle: it answered both and carried frames both ways
        // (the relay makes its legs again from fresh offers when they do not open: allow one
        // such retry).
        for (const step of ['answered', 'forwarded']) {
          await relay.waitFor(new RegExp(`${step} ${run}\\.0`), 40_000);
          await relay.waitFor(new RegExp(`${step} ${run}\\.1`), 40_000);
        }
        let refusedBoth = true;
        for (const p of [alice.page, bob.page]) {
          const seen = await refusal(p).first().waitFor({ timeout: 20_000 }).then(() => true, () => false);
          refusedBoth &&= seen;
        }
        const listed = (await peerItems(alice.page)).length + (await peerItems(bob.page)).length;
        if (refusedBoth && listed === 0) detected++;
        else {
          const notices = await Promise.all([alice.page, bob.page].map((p) => p.getByRole('region', { name: 'Notices' }).innerText().catch(() => '')));
          console.log(`run ${run}: refused by both ${refusedBoth}, peers listed ${listed}; notices: ${JSON.stringify(notices)}`);
        }
        assertNoPageErrors([alice, bob]);
        await alice.close();
        await bob.close();
      }
      console.log(`MITM drill through WebRTC, variant A (hellos forwarded): ${detected}/${RUNS} detected`);
      assert.equal(detected, RUNS);
    }, { helperArgs: ['--tracker', tracker] });
  } finally {
    relay.kill();
  }
});


test(`MITM drill, variant B: ${RUNS} relays signing their own hellos show each browser other codes`, { timeout: TEST_MS }, async () => {
  const { relay, tracker } = await startRelay('pairs');
  const relayUrl = tracker.replace(/^ws/, 'http').replace(/\/announce$/, '');
  try {
    await scenario('mitm-own-hellos', async (ctx) => {
      let detected = 0;
      for (let run = 1; run <= RUNS; run++) {
        const room = await newRun(relay, run);
        // Pairs by arrival: alice with the relay's "Bob", the relay's "Alice" with bob.
        const alice = await ctx.peer(`alice-${run}`, undefined, { goto: false });
        await joinByLink(alice.page, ctx.url, room);
        await setName(alice.page, 'Alice');
        await relay.waitFor(new RegExp(`peer ${run}\\.0`), 20_000);
        const fakeBob = hush(['chat', room], { helperUrl: relayUrl, name: 'Bob' });
        await relay.waitFor(new RegExp(`peer ${run}\\.1`), 20_000);
        const bob = await ctx.peer(`bob-${run}`, undefined, { goto: false });
        await joinByLink(bob.page, ctx.url, room);
        await setName(bob.page, 'Bob');
        await relay.waitFor(new RegExp(`peer ${run}\\.2`), 20_000);
        const fakeAlice = hush(['chat', room], { helperUrl: relayUrl, name: 'Alice' });
        await waitForPeers(alice.page, ['Bob']);
        await waitForPeers(bob.page, ['Alice']);

        // Alice verifies "Bob"; the relay starts the same towards bob as "Alice".
        const entry = peersList(alice.page).getByRole('listitem').filter({ hasText: 'Bob' });
        await entry.getByRole('button', { name: 'Verify', exact: true }).click();
        const seenByAlice = await verifyCodes(alice.page, 'Bob');
        await fakeBob.waitFor(/do they see these\?/, STEP_MS, 'stderr');
        fakeAlice.write('/verify Bob\n');
        const seenByBob = await verifyCodes(bob.page, 'Alice');
        const differ = seenByAlice.words.join() !== seenByBob.words.join() && seenByAlice.number !== seenByBob.number;
        if (differ) detected++;
        else console.log(`run ${run}: both saw ${seenByAlice.words.join(' ')} ${seenByAlice.number}`);
        // Telling it shows the warning and the way out.
        await seenByAlice.dialog.getByRole('button', { name: "They don't match", exact: true }).click();
        await alice.page.getByRole('button', { name: 'Disconnect', exact: true }).waitFor({ timeout: STEP_MS });
        assertNoPageErrors([alice, bob]);
        fakeBob.kill();
        fakeAlice.kill();
        await alice.close();
        await bob.close();
      }
      console.log(`MITM drill through WebRTC, variant B (own hellos): ${detected}/${RUNS} detected`);
      assert.equal(detected, RUNS);
    }, { helperArgs: ['--tracker', tracker] });
  } finally {
    killAll();
  }
});
