// Benchmark: rooms spread over several helpers that share no state (`--trackers-per-room K`).
//
// SPREAD_HELPERS (4) helper processes; SPREAD_ROOMS (100,000) simulated rooms, each joined by
// one member at the SPREAD_K (2) helpers the engine's own rule picks for it
// (`core/examples/tracker_choice.rs`, rendezvous hashing on the room's rendezvous id). Members
// multiplex up to 16 rooms per socket (as WebTorrent clients multiplex torrents), from many
// 127.x.y.z addresses (each helper allows 32 sockets per address). Then SPREAD_PAIRED (2,000)
// of those rooms get a second member, which makes the same choice and offers to the first
// through each of the room's helpers; every offer must arrive and be answered, which only
// happens if both members picked the same helpers.
//
// Prints, per helper: rooms it carries, sockets, resident memory; the spread (busiest helper ÷
// the mean, 1.00 is perfectly even; each carries K/N of the rooms); offers lost. Loopback only,
// bounded in count and time. Figures only: exits 1 only if the run could not be made.

import { execFileSync } from 'node:child_process';
import path from 'node:path';
import WebSocket from 'ws';
import { ROOT, sleep, startHelper } from '../lib/harness.mjs';
import { figure } from '../lib/figures.mjs';
import { procStats } from '../lib/procs.mjs';
import { answerFor, id20, joinMessage, parseMessage, sourceAddress } from '../lib/tracker-client.mjs';

const HELPERS = Number(process.env.SPREAD_HELPERS ?? 4);
const ROOMS = Number(process.env.SPREAD_ROOMS ?? 100_000);
const K = Number(process.env.SPREAD_K ?? 2);
const PAIRED = Math.min(ROOMS, Number(process.env.SPREAD_PAIRED ?? 2_000));
/** Rooms one member socket joins (the helper allows 16 per socket). */
const ROOMS_PER_SOCKET = 16;
/** Sockets being opened at once. */
const OPEN_CONCURRENCY = 200;
/** How long a phase may take before what has not arrived counts as lost. */
const PHASE_MS = 120_000;
const CHOICE_BIN = path.join(ROOT, 'target', 'release', 'examples', 'tracker_choice');

const rssOf = (pid) => procStats(pid).rss;
const MiB = 1024 * 1024;

/** Opens `groups.length` sockets to `url`, each announcing the rooms of its group as `peer`. */
async function openMembers(url, groups, onMessage, addressBase) {
  const sockets = [];
  let failed = 0;
  for (let i = 0; i < groups.length; i += OPEN_CONCURRENCY) {
    const batch = groups.slice(i, i + OPEN_CONCURRENCY).map((g, j) => {
      const n = addressBase + i + j;
      const s = { ...g, joined: 0 };
      s.ws = new WebSocket(url, { localAddress: sourceAddress(n, 3), perMessageDeflate: false });
      s.ws.on('message', (d) => onMessage(s, d.toString()));
      s.ws.on('error', () => {});
      sockets.push(s);
      return new Promise((resolve) => {
        s.ws.once('open', () => {
          for (const m of s.messages) s.ws.send(JSON.stringify(m));
          resolve();
        });
        s.ws.once('error', () => {
          failed++;
          resolve();
        });
      });
    });
    await Promise.all(batch);
  }
  return { sockets, failed };
}

const helpers = [];
try {
  for (let i = 0; i < HELPERS; i++) {
    const h = await startHelper();
    helpers.push({ h, url: `${h.url.replace(/^http/, 'ws')}/announce`, pid: h.process.pid });
  }
  const urls = helpers.map((h) => h.url);
  const rooms = Array.from({ length: ROOMS }, (_, i) => id20('room', i));
  const t0 = performance.now();
  const choices = execFileSync(CHOICE_BIN, [String(K), ...urls], { input: rooms.join('\n') + '\n', maxBuffer: 64 * MiB })
    .toString()
    .trim()
    .split('\n')
    .map((l) => l.split(' ').map(Number));
  console.log(`rooms spread over ${HELPERS} helpers, ${K} per room: ${ROOMS} rooms placed by the engine's rule in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  // Phase 1: one member per room, at each of the room's helpers.
  const before = helpers.map((h) => rssOf(h.pid));
  let joinedTotal = 0;
  const onFirst = (s, data) => {
    const msg = parseMessage(data);
    if (msg?.offer) {
      s.ws.send(answerFor(msg, s.peer, 'answer'));
    } else if (msg?.interval !== undefined) {
      s.joined++;
      joinedTotal++;
    }
  };
  const perHelper = helpers.map(() => []);
  choices.forEach((chosen, room) => chosen.forEach((h) => perHelper[h].push(room)));
  let socketCount = 0;
  let failedTotal = 0;
  for (const [hi, list] of perHelper.entries()) {
    const groups = [];
    for (let i = 0; i < list.length; i += ROOMS_PER_SOCKET) {
      const peer = id20(`a${hi}_`, groups.length);
      const mine = list.slice(i, i + ROOMS_PER_SOCKET);
      groups.push({
        peer,
        messages: mine.map((r) => joinMessage(rooms[r], peer)),
      });
    }
    const { sockets, failed } = await openMembers(helpers[hi].url, groups, onFirst, 0);
    helpers[hi].sockets = sockets;
    helpers[hi].rooms = list.length;
    socketCount += sockets.length;
    failedTotal += failed;
  }
  const expectedJoins = choices.reduce((s, c) => s + c.length, 0);
  const deadline = performance.now() + PHASE_MS;
  while (joinedTotal < expectedJoins && performance.now() < deadline) await sleep(100);
  await sleep(500);
  const after = helpers.map((h) => rssOf(h.pid));

  // Phase 2: a second member in PAIRED rooms offers through each of the room's helpers.
  let offersSent = 0;
  let answersGot = 0;
  const onSecond = (s, data) => {
    if (parseMessage(data)?.answer) answersGot++;
  };
  for (const [hi] of helpers.entries()) {
    const paired = perHelper[hi].filter((r) => r < PAIRED);
    const groups = [];
    for (let i = 0; i < paired.length; i += ROOMS_PER_SOCKET) {
      const peer = id20(`b${hi}_`, groups.length);
      const mine = paired.slice(i, i + ROOMS_PER_SOCKET);
      offersSent += mine.length;
      groups.push({
        peer,
        messages: mine.map((r) => ({
          action: 'announce', info_hash: rooms[r], peer_id: peer, numwant: 1, uploaded: 0, downloaded: 0, left: 0,
          offers: [{ offer_id: id20('o', r), offer: { type: 'offer', sdp: 'offer' } }],
        })),
      });
    }
    const { sockets } = await openMembers(helpers[hi].url, groups, onSecond, 100_000);
    helpers[hi].second = sockets;
  }
  const relayDeadline = performance.now() + PHASE_MS;
  while (answersGot < offersSent && performance.now() < relayDeadline) await sleep(100);

  const counts = helpers.map((h) => h.rooms);
  const mean = counts.reduce((s, x) => s + x, 0) / counts.length;
  const spread = Math.max(...counts) / mean;
  console.log('');
  console.log('| helper | rooms carried | share | sockets | RSS growth | per room |');
  console.log('|---|---|---|---|---|---|');
  for (const [i, h] of helpers.entries()) {
    const grew = after[i] - before[i];
    console.log(
      `| ${i + 1} | ${h.rooms} | ${(h.rooms / ROOMS).toFixed(3)} (K/N = ${(K / HELPERS).toFixed(3)}) | ${h.sockets.length} | ` +
        `${(grew / MiB).toFixed(1)} MiB | ${(grew / h.rooms).toFixed(0)} B |`,
    );
  }
  console.log(
    `\n${ROOMS} rooms, ${expectedJoins} memberships over ${socketCount} sockets (${failedTotal} failed); joined ${joinedTotal}; ` +
      `busiest helper ÷ mean ${spread.toFixed(3)}; paired rooms: ${offersSent} offers through the rooms' helpers, ${answersGot} answered, ` +
      `${offersSent - answersGot} lost`,
  );
  figure({ bench: 'spread', name: `${ROOMS} rooms over ${HELPERS} helpers (k = ${K}): busiest helper ÷ mean`, value: spread, unit: '', target: 'each carries k/N', note: `${expectedJoins - joinedTotal} joins missing` });
  figure({ bench: 'spread', name: 'offers lost between members that chose their helpers alone', value: offersSent - answersGot, unit: '', baseline: offersSent, baselineName: 'sent', target: '0', met: offersSent === answersGot });
} finally {
  for (const h of helpers) {
    for (const s of [...(h.sockets ?? []), ...(h.second ?? [])]) s.ws.terminate();
    await h.h.stop();
  }
}
