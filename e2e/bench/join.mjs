// Benchmark: joining a room, from pressing "Join room" to the first peer listed.
//
// Every run uses a freshly launched Chromium (no warm caches, nothing else open) and a fresh
// helper: a host creates a room and waits until it is in the swarm, then a guest types the room
// name and presses "Join room"; the time is taken inside the guest's page, from the click to the
// "Peers" list showing the host. Prints p50, p95, min and max over JOIN_RUNS runs (default 20),
// with the helper as the tracker and with the reference WebTorrent tracker (bittorrent-tracker,
// the app served by the helper and pointed at it), alternating run by run.
//
// JOIN_BASELINE_DIST=<dir> also measures another build of the app (e.g. the previous commit's
// dist/) in the same run, alternating run by run so both see the same machine, and prints the
// ratio of the medians. Figures only: it exits 1 only if a join could not be measured at all.

import { closeBrowser, launchBrowser, newPeer, startHelper, startReferenceTracker, DIST } from '../lib/harness.mjs';
import { figure } from '../lib/figures.mjs';
import { clickAndTimePeers, createRoom, joinButton, roomNameBox, waitJoinedSwarm, waitOnLanding } from '../lib/hush.mjs';

const RUNS = Number(process.env.JOIN_RUNS ?? 20);
const BASELINE = process.env.JOIN_BASELINE_DIST;
/** A join slower than this is reported as failed rather than waited for. */
const JOIN_LIMIT_MS = 20_000;

const builds = [
  { name: 'this build, helper', dist: DIST, times: [] },
  { name: 'this build, reference tracker', dist: DIST, reference: true, times: [] },
];
if (BASELINE) builds.push({ name: `baseline (${BASELINE}), helper`, dist: BASELINE, times: [] });

async function oneJoin(dist, reference) {
  const tracker = reference ? await startReferenceTracker() : undefined;
  const helper = await startHelper({ dist, args: tracker ? ['--tracker', tracker.url] : [] });
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
    await tracker?.stop();
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
      const ms = await oneJoin(b.dist, b.reference);
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
  if (b.dist !== DIST) continue;
  const [p50, p95] = [pct(b.times, 50), pct(b.times, 95)];
  const note = `${b.times.length} runs`;
  figure({ bench: 'join', name: `join p50, ${b.name.replace('this build, ', '')}`, value: p50, unit: 'ms', target: '≤ 250 ms', met: p50 <= 250, note });
  figure({ bench: 'join', name: `join p95, ${b.name.replace('this build, ', '')}`, value: p95, unit: 'ms', target: '≤ 400 ms', met: p95 <= 400, note });
}
const baseline = builds.find((b) => b.dist !== DIST);
if (baseline && baseline.times.length && builds[0].times.length) {
  const ratio = pct(builds[0].times, 50) / pct(baseline.times, 50);
  console.log(`\nmedian join with the helper, this build / baseline: ${ratio.toFixed(2)}×`);
}
if (builds.some((b) => !b.times.length)) process.exit(1);
if (failures) console.log(`${failures} join(s) failed`);
