// Benchmark: the native peer (`hush`), CLI to CLI through the real helper on loopback.
//
//   1. Goodput: BENCH_CLI_MIB (256) MiB from `hush send` to `hush receive --dir` (the file
//      written, every record verified, renamed into place), timed from the receiver's
//      "receiving" event to its "received" event (--json), beside a raw TCP copy of the same
//      bytes in the same run (node: file → socket → file on 127.0.0.1, no crypto), run before
//      and after; the ratio is to the mean of the two (target ≥ 0.5×). The time from starting
//      the receiver to its exit (join included) is printed too.
//      Beside them, the floor of the native stack itself: a bare webrtc-rs data channel between
//      two peer connections on 127.0.0.1 (cli/examples/bare_channel.rs: the same settings, no
//      crypto of ours, no disk), and Hush's ratio to it; then the same split over two processes
//      with the sockets `hush` binds, as between two `hush`.
//   3. With browsers (BENCH_CLI_BROWSER_MIB, 128 MiB, each browser freshly launched, saving to
//      its private file system): browser → browser, CLI → browser and browser → CLI in the same
//      run, each timed from the click on "Download" (or the CLI's "receiving") to the file
//      verified on disk.
//   2. Memory: the receiving CLI's peak RSS (VmHWM) for a 256 MiB and a 4 GiB file: it must not
//      grow with the size of the file.
//
// Sources are sparse files (content does not matter: every record is encrypted); everything
// generated is deleted at the end. Figures only, never a pass or fail on thresholds.

import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { execFileSync } from 'node:child_process';
import { ROOT, closeBrowser, launchBrowser, newPeer, startHelper, token } from '../lib/harness.mjs';
import { joinByLink } from '../lib/hush.mjs';
import { cardButton, offerFiles, useSavePath, waitForCardState } from '../lib/files.mjs';
import { exitCode, hush } from '../lib/cli.mjs';
import { MiB, writeSparseFile } from '../lib/files.mjs';
import { figure } from '../lib/figures.mjs';

const SIZE = Number(process.env.BENCH_CLI_MIB ?? 256) * MiB;
const BIG = Number(process.env.BENCH_CLI_BIG_MIB ?? 4096) * MiB;
const BROWSER_SIZE = Number(process.env.BENCH_CLI_BROWSER_MIB ?? 128) * MiB;
const dir = mkdtempSync(path.join(os.tmpdir(), 'hush-bench-cli-'));
const mbps = (bytes, ms) => bytes / 1e6 / (ms / 1000);

/** Copies `src` to `dst` over a TCP connection on 127.0.0.1; milliseconds. */
async function tcpCopy(src, dst) {
  const server = net.createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  const started = performance.now();
  const received = new Promise((resolve, reject) => {
    server.once('connection', (sock) => pipeline(sock, createWriteStream(dst)).then(resolve, reject));
  });
  const sock = net.connect(port, '127.0.0.1');
  await pipeline(createReadStream(src, { highWaterMark: 1024 * 1024 }), sock);
  await received;
  const ms = performance.now() - started;
  server.close();
  rmSync(dst, { force: true });
  return ms;
}

/** Peak RSS (VmHWM, KiB) of `pid`, polled until it exits. */
function watchPeak(pid) {
  let peak = 0;
  const timer = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) peak = Math.max(peak, Number(m[1]));
    } catch {
      /* exited */
    }
  }, 50);
  return () => {
    clearInterval(timer);
    return peak;
  };
}

/** One CLI → CLI transfer of `file`; { ms (receiving → received), totalMs, peakKiB }. */
async function cliTransfer(helper, file, size) {
  const room = `bench cli ${token(8)}`;
  const out = path.join(dir, `in-${token(4)}`);
  const sender = hush(['send', room, file, '--once'], { helperUrl: helper.url, name: 'bench sender' });
  const started = performance.now();
  const receiver = hush(['receive', room, '--dir', out, '--json'], { helperUrl: helper.url, name: 'bench receiver' });
  const peak = watchPeak(receiver.child.pid);
  let t0;
  let t1;
  receiver.child.stdout.on('data', () => {
    const now = performance.now();
    if (t0 === undefined && receiver.stdout().includes('"event":"receiving"')) t0 = now;
    if (t1 === undefined && receiver.stdout().includes('"event":"received"')) t1 = now;
  });
  const code = await exitCode(receiver, 600_000);
  const totalMs = performance.now() - started;
  const peakKiB = peak();
  await exitCode(sender, 60_000).catch(() => sender.kill());
  const got = statSync(path.join(out, path.basename(file)), { throwIfNoEntry: false })?.size;
  rmSync(out, { recursive: true, force: true });
  if (code !== 0 || got !== size || t0 === undefined || t1 === undefined) {
    throw new Error(`transfer failed (exit ${code}, ${got} bytes): ${receiver.stderr()}${receiver.stdout().slice(-500)}`);
  }
  return { ms: t1 - t0, totalMs, peakKiB };
}

/**
 * MB/s of a bare webrtc-rs data channel moving `size` bytes (the native stack's floor): in one
 * process by default; `env` can put the receiver in a second process with the CLI's sockets.
 */
function bareChannel(size, env = {}) {
  const bin = path.join(ROOT, 'target', 'release', 'examples', 'bare_channel');
  const out = execFileSync(bin, { env: { ...process.env, BARE_MIB: String(Math.round(size / MiB)), ...env }, timeout: 600_000 });
  return JSON.parse(out.toString().trim().split('\n').pop()).mbps;
}

const helper = await startHelper();
try {
  const src = path.join(dir, 'src.bin');
  await writeSparseFile(src, SIZE);
  const tcpBefore = await tcpCopy(src, path.join(dir, 'tcp.bin'));
  const bareBefore = bareChannel(SIZE);
  const run = await cliTransfer(helper, src, SIZE);
  const bareAfter = bareChannel(SIZE);
  const tcpAfter = await tcpCopy(src, path.join(dir, 'tcp.bin'));
  const bare = (bareBefore + bareAfter) / 2;
  const tcp = (mbps(SIZE, tcpBefore) + mbps(SIZE, tcpAfter)) / 2;
  const hushMbps = mbps(SIZE, run.ms);
  console.log(`CLI→CLI ${SIZE / MiB} MiB: hush ${hushMbps.toFixed(1)} MB/s (${mbps(SIZE, run.totalMs).toFixed(1)} MB/s from start to exit, join included)`);
  console.log(`  raw TCP copy on 127.0.0.1: ${mbps(SIZE, tcpBefore).toFixed(1)} before, ${mbps(SIZE, tcpAfter).toFixed(1)} after`);
  console.log(`  ratio hush / raw TCP: ${(hushMbps / tcp).toFixed(2)}× (target ≥ 0.5×)`);
  figure({ bench: 'cli', name: `CLI → CLI goodput, ${SIZE / MiB} MiB`, value: hushMbps, unit: 'MB/s', baseline: tcp, baselineName: 'raw TCP', ratio: hushMbps / tcp, target: '≥ 0.5×', met: hushMbps / tcp >= 0.5 });
  console.log(`  bare webrtc-rs data channel (the native stack's floor): ${bareBefore.toFixed(1)} before, ${bareAfter.toFixed(1)} after; hush / bare: ${(hushMbps / bare).toFixed(2)}×`);
  // As between two `hush`: the receiver in another process, the wildcard and loopback bound.
  const twoProcesses = bareChannel(SIZE, { BARE_PROCESSES: '2', BARE_ADDRS: '0.0.0.0:0,127.0.0.1:0' });
  console.log(`  bare channel across two processes with the CLI's sockets: ${twoProcesses.toFixed(1)}; hush / it: ${(hushMbps / twoProcesses).toFixed(2)}×`);
  rmSync(src, { force: true });

  const big = path.join(dir, 'big.bin');
  await writeSparseFile(big, BIG);
  const bigRun = await cliTransfer(helper, big, BIG);
  rmSync(big, { force: true });
  console.log(`receiving CLI peak RSS: ${(run.peakKiB / 1024).toFixed(1)} MiB for ${SIZE / MiB} MiB, ${(bigRun.peakKiB / 1024).toFixed(1)} MiB for ${BIG / MiB} MiB (${mbps(BIG, bigRun.ms).toFixed(1)} MB/s)`);
  console.log(`  growth: ${((bigRun.peakKiB - run.peakKiB) / 1024).toFixed(1)} MiB`);
  // 3. With browsers, each freshly launched.
  const file = path.join(dir, 'browser.bin');
  await writeSparseFile(file, BROWSER_SIZE);
  const fresh = async (label) => {
    const browser = await launchBrowser();
    const peer = await newPeer(browser, undefined, { label, goto: false });
    await useSavePath(peer.context, 'opfs');
    return { browser, peer };
  };
  /** A browser downloads `name` offered in `room`: ms from the click to verified. */
  const browserGets = async (peer, name) => {
    await waitForCardState(peer.page, name, 'offered', { timeout: 60_000 });
    const t0 = performance.now();
    await cardButton(peer.page, name, 'Download').click();
    await waitForCardState(peer.page, name, 'verified', { timeout: 600_000, interval: 20 });
    return performance.now() - t0;
  };
  const figures = {};
  {
    const room = `bench b2b ${token(6)}`;
    const a = await fresh('alice');
    const b = await fresh('bob');
    await joinByLink(a.peer.page, helper.url, room);
    await joinByLink(b.peer.page, helper.url, room);
    await offerFiles(a.peer.page, [file]);
    figures.b2b = mbps(BROWSER_SIZE, await browserGets(b.peer, 'browser.bin'));
    await closeBrowser(a.browser);
    await closeBrowser(b.browser);
  }
  {
    const room = `bench c2b ${token(6)}`;
    const sender = hush(['send', room, file], { helperUrl: helper.url, name: 'bench cli' });
    const b = await fresh('bob');
    await joinByLink(b.peer.page, helper.url, room);
    figures.c2b = mbps(BROWSER_SIZE, await browserGets(b.peer, 'browser.bin'));
    sender.kill();
    await closeBrowser(b.browser);
  }
  {
    const room = `bench b2c ${token(6)}`;
    const a = await fresh('alice');
    await joinByLink(a.peer.page, helper.url, room);
    await offerFiles(a.peer.page, [file]);
    const out = path.join(dir, 'from-browser');
    const receiver = hush(['receive', room, '--dir', out, '--json'], { helperUrl: helper.url, name: 'bench cli' });
    let t0;
    let t1;
    receiver.child.stdout.on('data', () => {
      const now = performance.now();
      if (t0 === undefined && receiver.stdout().includes('"event":"receiving"')) t0 = now;
      if (t1 === undefined && receiver.stdout().includes('"event":"received"')) t1 = now;
    });
    const code = await exitCode(receiver, 600_000);
    if (code !== 0 || t0 === undefined || t1 === undefined) throw new Error(`browser → CLI failed: ${receiver.stderr()}`);
    figures.b2c = mbps(BROWSER_SIZE, t1 - t0);
    rmSync(out, { recursive: true, force: true });
    await closeBrowser(a.browser);
  }
  rmSync(file, { force: true });
  console.log(`with browsers, ${BROWSER_SIZE / MiB} MiB: browser → browser ${figures.b2b.toFixed(1)} MB/s; CLI → browser ${figures.c2b.toFixed(1)} MB/s (${(figures.c2b / figures.b2b).toFixed(2)}×); browser → CLI ${figures.b2c.toFixed(1)} MB/s (${(figures.b2c / figures.b2b).toFixed(2)}×)`);
  console.log(JSON.stringify({ bench: 'cli-browser', size: BROWSER_SIZE, ...figures }));

  console.log(JSON.stringify({ bench: 'cli', size: SIZE, hushMbps, tcpMbps: tcp, ratio: hushMbps / tcp, bareMbps: bare, ratioBare: hushMbps / bare, peakSmallKiB: run.peakKiB, peakBigKiB: bigRun.peakKiB }));
} finally {
  await helper.stop();
  rmSync(dir, { recursive: true, force: true });
}
