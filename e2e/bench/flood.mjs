// Benchmark: a flooding client against the helper's tracker, and what it costs everyone else.
//
// A fresh helper carries FLOOD_BACKGROUND (1,000) joined sockets in 100 swarms and
// FLOOD_PROBES (50) pairs of probe sockets, each pair a swarm of its own, in which each
// socket offers to its partner every PROBE_MS and answers every offer (well inside the
// helper's rate limit). The relay latency of those offers (sent → received by the partner)
// is what "other clients" see.
//
// Windows of WINDOW_MS alternate, ROUNDS times: quiet; the flood aimed at a second helper
// process (the machine's floor: the flooder and a helper busy with it take their share of
// this 2-core machine, but the probes' helper is untouched); the flood aimed at the probes'
// helper. The flooder is a separate process (so it does not share this generator's event
// loop) and one client: it opens a socket, sends announces as fast as the socket takes them
// until the helper closes it (1008, rate limit), and reconnects at once, for the whole
// window. The figure is the probes' p99 with the flood on their helper ÷ with it elsewhere
// (target ≤ 1.2×), beside the quiet p99, how many times the flooder was cut off and how many
// frames it sent.
// Loopback only, bounded in count and time. Figures only.

import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { sleep, startHelper } from '../lib/harness.mjs';
import { figure } from '../lib/figures.mjs';
import { pct } from '../lib/chat-delay.mjs';
import { answerFor, id20, joinOnOpen, parseMessage, sourceAddress } from '../lib/tracker-client.mjs';

const BACKGROUND = Number(process.env.FLOOD_BACKGROUND ?? 1000);
const BACKGROUND_SWARMS = 100;
const PROBES = Number(process.env.FLOOD_PROBES ?? 50);
/** How often each probe socket offers to its partner: with the answers, 8 frames a second,
 * under the helper's 20 per second. */
const PROBE_MS = 250;
const WINDOW_MS = Number(process.env.FLOOD_WINDOW_MS ?? 5000);
const ROUNDS = Number(process.env.FLOOD_ROUNDS ?? 3);
const OPEN_CONCURRENCY = 200;
/** Bytes of padding in each probe offer, about a sealed data-channel SDP. */
const SDP_BYTES = 700;
/** Frames the flooder sends per turn of its event loop. */
const BURST = 256;
/** The flooder's own address, apart from everyone else's. */
const FLOODER_ADDRESS = '127.254.0.9';

const pad = 'x'.repeat(SDP_BYTES);

// The flooder, run as a child process: floods until told to stop, then reports.
if (process.argv[2] === '--flooder') {
  const url = process.argv[3];
  let running = true;
  let frames = 0;
  let cutOff = 0;
  let connections = 0;
  const frame = JSON.stringify({
    action: 'announce', info_hash: id20('flood', 0), peer_id: id20('flooder', 0), numwant: 0,
    uploaded: 0, downloaded: 0, left: 0, pad: 'y'.repeat(512),
  });
  let current;
  process.on('message', (m) => {
    if (m !== 'stop') return;
    running = false;
    current?.terminate();
  });
  while (running) {
    await new Promise((resolve) => {
      const ws = new WebSocket(url, { localAddress: FLOODER_ADDRESS, perMessageDeflate: false });
      current = ws;
      const blast = () => {
        // As fast as the socket takes them: a burst per turn of the event loop (which must
        // turn to see the close), none while a megabyte waits to be written.
        for (let i = 0; i < BURST && running && ws.readyState === WebSocket.OPEN && ws.bufferedAmount < 1 << 20; i++) {
          ws.send(frame);
          frames++;
        }
        if (running && ws.readyState === WebSocket.OPEN) setImmediate(blast);
        else if (!running) ws.terminate();
      };
      ws.on('open', blast);
      ws.on('close', (code) => {
        connections++;
        if (code === 1008) cutOff++;
        resolve();
      });
      ws.on('error', () => {});
    });
  }
  // Exit only once the report is out: a message sent just before exiting can be lost.
  process.send({ frames, cutOff, connections }, () => process.exit(0));
}

const helper = await startHelper();
const url = `${helper.url.replace(/^http/, 'ws')}/announce`;
// The floor: the same flood aimed at another helper process on this machine costs the probes
// the machine's share (the flooder's and that helper's CPU) without touching their helper.
const otherHelper = await startHelper();
const otherUrl = `${otherHelper.url.replace(/^http/, 'ws')}/announce`;
const sockets = [];
try {
  // Background: joined, idle sockets.
  for (let i = 0; i < BACKGROUND; i += OPEN_CONCURRENCY) {
    await Promise.all(
      Array.from({ length: Math.min(OPEN_CONCURRENCY, BACKGROUND - i) }, (_, k) => {
        const n = i + k;
        const ws = new WebSocket(url, { localAddress: sourceAddress(n), perMessageDeflate: false });
        ws.on('error', () => {});
        sockets.push(ws);
        return joinOnOpen(ws, id20('bg', n % BACKGROUND_SWARMS), id20('b', n));
      }),
    );
  }

  // Probes: pairs that offer to each other.
  const window = { latencies: null };
  let probeClosed = 0;
  const probes = [];
  for (let p = 0; p < PROBES * 2; p++) {
    const n = BACKGROUND + p;
    const c = { hash: id20('probe', Math.floor(p / 2)), peer: id20('q', p), seq: 0 };
    c.ws = new WebSocket(url, { localAddress: sourceAddress(n), perMessageDeflate: false });
    c.ws.on('error', () => {});
    c.ws.on('close', () => probeClosed++);
    c.ws.on('message', (d) => {
      const msg = parseMessage(d.toString());
      if (msg?.offer) {
        const sent = Number(msg.offer.sdp.split('|')[0]);
        window.latencies?.push(performance.now() - sent);
        c.ws.send(answerFor(msg, c.peer, pad));
      }
    });
    probes.push(c);
    sockets.push(c.ws);
  }
  await Promise.all(probes.map((c) => joinOnOpen(c.ws, c.hash, c.peer)));
  await sleep(500);
  const offer = (c) => {
    if (c.ws.readyState !== WebSocket.OPEN) return;
    c.seq++;
    c.ws.send(JSON.stringify({
      action: 'announce', info_hash: c.hash, peer_id: c.peer, numwant: 1,
      uploaded: 0, downloaded: 0, left: 0,
      offers: [{ offer_id: id20(`o${c.seq}_`, c.seq), offer: { type: 'offer', sdp: `${performance.now()}|${pad}` } }],
    }));
  };
  // Spread the probes' offers evenly over each PROBE_MS.
  const timers = probes.map((c, i) => setTimeout(() => {
    c.timer = setInterval(() => offer(c), PROBE_MS);
  }, (i * PROBE_MS) / probes.length));

  /** One flood window: the flooder floods `target` while the probes' latencies go to `into`. */
  const floodWindow = async (target, into) => {
    const child = fork(fileURLToPath(import.meta.url), ['--flooder', target], { stdio: 'inherit' });
    const report = new Promise((resolve) => child.once('message', resolve));
    await sleep(300); // the flooder is up and flooding before the window opens
    window.latencies = into;
    await sleep(WINDOW_MS);
    window.latencies = null;
    child.send('stop');
    const got = await Promise.race([report, sleep(10_000).then(() => ({ frames: NaN, cutOff: NaN, connections: NaN }))]);
    child.kill();
    await sleep(1000); // let the machine settle before the next window
    return got;
  };
  const quiet = [];
  const elsewhere = [];
  const flooded = [];
  const ours = { cutOff: 0, frames: 0, connections: 0 };
  const other = { cutOff: 0, frames: 0, connections: 0 };
  const add = (sum, got) => {
    sum.cutOff += got.cutOff;
    sum.frames += got.frames;
    sum.connections += got.connections;
  };
  await sleep(1000);
  for (let r = 0; r < ROUNDS; r++) {
    window.latencies = quiet;
    await sleep(WINDOW_MS);
    window.latencies = null;
    add(other, await floodWindow(otherUrl, elsewhere));
    add(ours, await floodWindow(url, flooded));
  }
  timers.forEach(clearTimeout);
  probes.forEach((c) => clearInterval(c.timer));

  const q99 = pct(quiet, 99);
  const e99 = pct(elsewhere, 99);
  const f99 = pct(flooded, 99);
  const ratio = f99 / e99;
  console.log(`probe relay latency (offers: ${quiet.length} quiet, ${elsewhere.length} flood elsewhere, ${flooded.length} flood here):`);
  console.log(`  quiet                       p50 ${pct(quiet, 50).toFixed(2)} ms, p99 ${q99.toFixed(2)} ms`);
  console.log(`  flooder on another helper   p50 ${pct(elsewhere, 50).toFixed(2)} ms, p99 ${e99.toFixed(2)} ms  (the machine's floor under the flood)`);
  console.log(`  flooder on this helper      p50 ${pct(flooded, 50).toFixed(2)} ms, p99 ${f99.toFixed(2)} ms`);
  console.log(`  p99 flood here ÷ flood elsewhere: ${ratio.toFixed(2)}× (target ≤ 1.2×); ÷ quiet: ${(f99 / q99).toFixed(2)}×`);
  console.log(`  the flooder connected ${ours.connections} times here, sent ${ours.frames} frames, and read the 1008 close ${ours.cutOff} times (the helper stops listening after 16 KiB of a closed socket's flood, so most were reset); elsewhere: ${other.connections}, ${other.frames}, ${other.cutOff}; probe sockets closed: ${probeClosed}`);
  figure({
    bench: 'flood', name: 'helper relay p99 of other clients while one floods', value: f99, unit: 'ms',
    baseline: e99, baselineName: 'same flood on another helper', ratio, target: '≤ 1.2×', met: ratio <= 1.2,
    note: `quiet p99 ${q99.toFixed(2)} ms; flooder cut off ${ours.connections} times, ${ours.frames} frames`,
  });
} finally {
  for (const ws of sockets) ws.terminate();
  await helper.stop();
  await otherHelper.stop();
}
