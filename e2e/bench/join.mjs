// Benchmark: joining a room, from pressing "Join room" to the first peer listed.
//
// Every run uses a freshly launched Chromium (no warm caches, nothing else open) and a fresh
// helper: a host creates a room and waits until it is in the swarm, then a guest types the room
// name and presses "Join room"; the time is taken inside the guest's page, from the click to the
// "Peers" list showing the host. Prints p50, p95, min and max over JOIN_RUNS runs (default 20).
//
// JOIN_BASELINE_DIST=<dir> also measures another build of the app (e.g. the previous commit's
// dist/) in the same run, alternating run by run so both see the same machine, and prints the
// ratio of the medians. Figures only: it exits 1 only if a join could not be measured at all.

import { closeBrowser, launchBrowser, newPeer, startHelper, DIST } from '../lib/harness.mjs';
import { clickAndTimePeers, createRoom, joinButton, roomNameBox, waitJoinedSwarm, waitOnLanding } from '../lib/hush.mjs';

const RUNS = Number(process.env.JOIN_RUNS ?? 20);
const BASELINE = process.env.JOIN_BASELINE_DIST;
/** A join slower than this is reported as failed rather than waited for. */
const JOIN_LIMIT_MS = 20_000;

const builds = [{ name: 'this build', dist: DIST, times: [] }];
if (BASELINE) builds.push({ name: `baseline (${BASELINE})`, dist: BASELINE, times: [] });

async function oneJoin(dist) {
  const helper = await startHelper({ dist });
  const browser = await launchBrowser();
  try {
    const host = await newPeer(browser, helper.url, { label: 'host' });
    const room = await createRoom(host.page);
    // The figure is the guest's join: the host is already in the swarm, as in real use.
    await waitJoinedSwarm(host.page);
    const guest = await newPeer(browser, helper.url, { label: 'guest' });
    await waitOnLanding(guest.page);
    await roomNameBox(guest.page).fill(room);
    const { ms } = await clickAndTimePeers(guest.page, joinButton(guest.page), 1, JOIN_LIMIT_MS);
    return ms;
  } finally {
    await closeBrowser(browser);
    await helper.stop();
  }
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

let failures = 0;
for (let run = 1; run <= RUNS; run++) {
  for (const b of builds) {
    try {
      const ms = await oneJoin(b.dist);
      b.times.push(ms);
      console.log(`run ${run} ${b.name}: ${ms.toFixed(0)} ms`);
    } catch (err) {
      failures++;
      console.log(`run ${run} ${b.name}: failed: ${err.message.split('\n')[0]}`);
    }
  }
}
console.log('');
console.log('| build | runs | p50 ms | p95 ms | min ms | max ms |');
console.log('|---|---|---|---|---|---|');
for (const b of builds) {
  if (!b.times.length) continue;
  const f = (x) => x.toFixed(0);
  console.log(`| ${b.name} | ${b.times.length} | ${f(pct(b.times, 50))} | ${f(pct(b.times, 95))} | ${f(Math.min(...b.times))} | ${f(Math.max(...b.times))} |`);
}
if (builds.length === 2 && builds.every((b) => b.times.length)) {
  const ratio = pct(builds[0].times, 50) / pct(builds[1].times, 50);
  console.log(`\nmedian join, this build / baseline: ${ratio.toFixed(2)}×`);
}
if (builds.some((b) => !b.times.length)) process.exit(1);
if (failures) console.log(`${failures} join(s) failed`);
