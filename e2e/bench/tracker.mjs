// Benchmark: the helper's tracker under load, beside the reference WebTorrent tracker
// (`bittorrent-tracker`) in the same run.
//
// For each tracker and each size (1,000 sockets in 100 swarms, then 10,000 in 1,000), a fresh
// tracker process is started and this load generator (loopback only, bounded in count and
// time) opens the sockets from many 127.x.y.z source addresses (the helper counts sockets per
// address), joins each to its swarm, then has every socket announce one offer for each other
// member and answer every offer it receives. It prints, per tracker and size:
// - memory per connection: the tracker process's resident memory after the joins, minus
//   before any socket, divided by the sockets; and the same after the relay phase, once every
//   socket has sent and received announces carrying offers (buffers grown to what real
//   clients send);
// - CPU µs per relayed message: the tracker's user + system CPU over the offer/answer phase,
//   divided by the offers and answers delivered;
// - p50 / p99 relay latency of offers (sent → received by the member the tracker chose);
// - lost: offers and answers sent that never arrived, and sockets that failed or closed.
// Figures only: it exits 1 only if a tracker could not be started.
//
// TRACKER_LOAD_SIZES="1000x100,10000x1000" overrides the sizes (sockets x swarms).

import WebSocket from 'ws';
import { sleep, startHelper, startReferenceTracker } from '../lib/harness.mjs';
import { procStats } from '../lib/procs.mjs';
import { answerFor, id20, joinOnOpen, parseMessage, sourceAddress } from '../lib/tracker-client.mjs';
import { figure } from '../lib/figures.mjs';

const SIZES = (process.env.TRACKER_LOAD_SIZES ?? '1000x100,10000x1000')
  .split(',')
  .map((s) => s.split('x').map(Number));
/** Sockets being opened at once. */
const OPEN_CONCURRENCY = 200;
/** Bytes of padding in each offer and answer, about a sealed data-channel SDP. */
const SDP_BYTES = 700;
/** How long a phase may take before what has not arrived counts as lost. */
const PHASE_MS = 60_000;

const pad = 'x'.repeat(SDP_BYTES);


async function startOurs() {
  const helper = await startHelper();
  return { url: `${helper.url.replace(/^http/, 'ws')}/announce`, pid: helper.process.pid, stop: helper.stop };
}

function pct(xs, p) {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

async function load(tracker, sockets, swarms) {
  const members = Math.ceil(sockets / swarms);
  const clients = [];
  let failed = 0;
  const latencies = [];
  let offersGot = 0;
  let answersGot = 0;
  let joined = 0;
  const onMessage = (c, data) => {
    const msg = parseMessage(data);
    if (!msg) return;
    if (msg.offer) {
      offersGot++;
      const sent = Number(msg.offer.sdp.split('|')[0]);
      latencies.push(performance.now() - sent);
      c.ws.send(answerFor(msg, c.peer, `${performance.now()}|${pad}`));
    } else if (msg.answer) {
      answersGot++;
    } else if (msg.interval !== undefined && !c.joined) {
      c.joined = true;
      joined++;
    }
  };
  const before = procStats(tracker.pid);
  // Join: every socket announces without offers.
  for (let i = 0; i < sockets; i += OPEN_CONCURRENCY) {
    const batch = [];
    for (let j = i; j < Math.min(sockets, i + OPEN_CONCURRENCY); j++) {
      const localAddress = sourceAddress(j);
      const c = { hash: id20('swarm', j % swarms), peer: id20('p', j), joined: false };
      c.ws = new WebSocket(tracker.url, { localAddress, perMessageDeflate: false });
      c.ws.on('message', (d) => onMessage(c, d.toString()));
      c.ws.on('error', () => {});
      c.ws.on('close', () => {
        if (!c.done) failed++;
      });
      clients.push(c);
      batch.push(joinOnOpen(c.ws, c.hash, c.peer));
    }
    await Promise.all(batch);
  }
  const deadline = performance.now() + PHASE_MS;
  while (joined < sockets - failed && performance.now() < deadline) await sleep(50);
  await sleep(500);
  const afterJoin = procStats(tracker.pid);
  // Relay: each socket offers to every other member once; each offer is answered.
  const offersPer = members - 1;
  const open = clients.filter((c) => c.ws.readyState === WebSocket.OPEN);
  for (const c of open) {
    const offers = [];
    for (let k = 0; k < offersPer; k++) {
      offers.push({ offer_id: id20(`o${k}_`, clients.indexOf(c)), offer: { type: 'offer', sdp: `${performance.now()}|${pad}` } });
    }
    c.ws.send(JSON.stringify({
      action: 'announce', info_hash: c.hash, peer_id: c.peer, numwant: offersPer,
      uploaded: 0, downloaded: 0, left: 0, offers,
    }));
  }
  const expected = open.length * offersPer;
  const relayDeadline = performance.now() + PHASE_MS;
  while ((offersGot < expected || answersGot < offersGot) && performance.now() < relayDeadline) await sleep(50);
  await sleep(300);
  const afterRelay = procStats(tracker.pid);
  for (const c of clients) {
    c.done = true;
    c.ws.terminate();
  }
  const relayed = offersGot + answersGot;
  return {
    sockets,
    swarms,
    memPerConn: (afterJoin.rss - before.rss) / sockets,
    memAfterRelay: (afterRelay.rss - before.rss) / sockets,
    cpuPerMsg: relayed ? (afterRelay.cpuUs - afterJoin.cpuUs) / relayed : NaN,
    p50: pct(latencies, 50),
    p99: pct(latencies, 99),
    lostOffers: expected - offersGot,
    lostAnswers: offersGot - answersGot,
    failed,
  };
}

const results = [];
for (const [name, start] of [['helper', startOurs], ['bittorrent-tracker', startReferenceTracker]]) {
  for (const [sockets, swarms] of SIZES) {
    const tracker = await start();
    try {
      const r = await load(tracker, sockets, swarms);
      results.push({ name, ...r });
      console.log(`${name} ${sockets} sockets / ${swarms} swarms: ${JSON.stringify(r)}`);
    } finally {
      await tracker.stop();
    }
  }
}
console.log('');
console.log('| tracker | sockets / swarms | memory per conn (joined / after relay) | CPU per relayed msg | relay p50 / p99 | lost offers / answers | failed sockets |');
console.log('|---|---|---|---|---|---|---|');
const f = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '—');
for (const r of results) {
  console.log(`| ${r.name} | ${r.sockets} / ${r.swarms} | ${f(r.memPerConn / 1024, 1)} / ${f(r.memAfterRelay / 1024, 1)} KiB | ${f(r.cpuPerMsg, 1)} µs | ${f(r.p50, 1)} / ${f(r.p99, 1)} ms | ${r.lostOffers} / ${r.lostAnswers} | ${r.failed} |`);
}
for (const [sockets, swarms] of SIZES) {
  const ours = results.find((r) => r.name === 'helper' && r.sockets === sockets);
  const ref = results.find((r) => r.name === 'bittorrent-tracker' && r.sockets === sockets);
  if (ours && ref) {
    console.log(`${sockets} sockets: helper / reference: memory per connection ${f(ours.memPerConn / ref.memPerConn, 2)}× (after relay ${f(ours.memAfterRelay / ref.memAfterRelay, 2)}×), CPU per message ${f(ours.cpuPerMsg / ref.cpuPerMsg, 2)}×`);
    const mem = ours.memPerConn / ref.memPerConn;
    const cpu = ours.cpuPerMsg / ref.cpuPerMsg;
    const base = { bench: 'tracker', baselineName: 'bittorrent-tracker' };
    figure({ ...base, name: `helper memory per socket, ${sockets} sockets`, value: ours.memPerConn / 1024, unit: 'KiB', baseline: ref.memPerConn / 1024, ratio: mem, target: '≤ 0.3×', met: mem <= 0.3 });
    const memRelay = ours.memAfterRelay / ref.memAfterRelay;
    figure({ ...base, name: `helper memory per socket after the relay, ${sockets} sockets`, value: ours.memAfterRelay / 1024, unit: 'KiB', baseline: ref.memAfterRelay / 1024, ratio: memRelay, target: '≤ 0.3×', met: memRelay <= 0.3 });
    figure({ ...base, name: `helper CPU per relayed message, ${sockets} sockets`, value: ours.cpuPerMsg, unit: 'µs', baseline: ref.cpuPerMsg, ratio: cpu, target: '≤ 0.5×', met: cpu <= 0.5 });
  }
}
