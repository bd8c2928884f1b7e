// `make bench`: runs the benchmark scripts (through e2e/run.sh, in the loopback-only
// namespace), then prints one table of every figure they recorded (e2e/lib/figures.mjs)
// beside its baseline and target, writes it to e2e/results/bench.json, and says how busy the
// rest of the machine was meanwhile: every figure of a run on a shared machine is only as good
// as the quiet around it.
//
// Usage: node e2e/lib/bench-run.mjs e2e/bench/A.mjs e2e/bench/B.mjs …

import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, RESULTS } from './harness.mjs';
import { FIGURES_FILE } from './figures.mjs';
import { CLK_TCK } from './procs.mjs';

/** Busy and total CPU time of the whole machine so far (seconds), from /proc/stat. */
function machineCpu() {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = cpu;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy: busy / CLK_TCK, total: (busy + idle + iowait) / CLK_TCK };
}

/** CPU seconds of this process and of every descendant it has reaped (the benchmarks'). */
function ownTreeCpu() {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  return (f[11] + f[12] + f[13] + f[14]) / CLK_TCK;
}

/** Other processes' load above which a benchmark's figures are marked as taken under load. */
const BUSY_CORES = 0.2;

/** Runs one benchmark file; returns its exit code and the machine's load meanwhile. */
async function runOne(file) {
  const t0 = performance.now();
  const m0 = machineCpu();
  const own0 = ownTreeCpu();
  const code = await new Promise((resolve) => {
    const child = spawn(path.join(ROOT, 'e2e', 'run.sh'), ['--bench', file], { cwd: ROOT, stdio: 'inherit' });
    child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0)));
  });
  const wall = (performance.now() - t0) / 1000;
  const ours = ownTreeCpu() - own0;
  const others = Math.max(0, machineCpu().busy - m0.busy - ours);
  return { code, wall, ours, others };
}

const files = process.argv.slice(2);
rmSync(FIGURES_FILE, { force: true });
const load = {};
let code = 0;
for (const file of files) {
  const r = await runOne(file);
  load[path.basename(file, '.mjs')] = r;
  code ||= r.code;
}
const wall = Object.values(load).reduce((s, r) => s + r.wall, 0);
const ours = Object.values(load).reduce((s, r) => s + r.ours, 0);
const others = Object.values(load).reduce((s, r) => s + r.others, 0);
const busy = (bench) => load[bench] && load[bench].others / load[bench].wall > BUSY_CORES;

const figures = existsSync(FIGURES_FILE)
  ? readFileSync(FIGURES_FILE, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
  : [];
const fmt = (x, d = 2) => (Number.isFinite(x) ? (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(d)) : '—');
const header = ['benchmark', 'figure', 'value', 'baseline (same run)', 'ratio', 'target', 'met'];
const rows = figures.map((f) => [
  f.bench + (busy(f.bench) ? ' *' : ''),
  f.name + (f.note ? ` (${f.note})` : ''),
  `${fmt(f.value)} ${f.unit}`,
  f.baseline === undefined ? '—' : `${fmt(f.baseline)} ${f.unit}${f.baselineName ? ` ${f.baselineName}` : ''}`,
  f.ratio === undefined ? '—' : `${fmt(f.ratio)}×${f.spread ? ` (${f.spread})` : ''}`,
  f.target ?? '—',
  f.met === undefined ? '—' : f.met ? 'yes' : 'no',
]);
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
console.log(`\n== make bench: every figure (${figures.length})`);
console.log(line(header));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const r of rows) console.log(line(r));
const cores = os.cpus().length;
const machine = {
  cores,
  wallSeconds: wall,
  benchCpuSeconds: ours,
  otherCpuSeconds: others,
  perBenchmark: load,
};
console.log(
  `\nmachine: ${cores} cores; the benchmarks used ${fmt(ours, 0)} CPU-s over ${fmt(wall, 0)} s; ` +
    `other processes used ${fmt(others, 0)} CPU-s meanwhile (${fmt(others / wall)} cores on average).`,
);
for (const [bench, r] of Object.entries(load)) {
  const cores = r.others / r.wall;
  console.log(
    `  ${bench}: ${fmt(r.wall, 0)} s, other processes ${fmt(cores)} cores on average` +
      (cores > BUSY_CORES ? ' (* taken under load from elsewhere: compare its ratios, not its absolute figures)' : ''),
  );
}
const out = path.join(RESULTS, 'bench.json');
writeFileSync(out, `${JSON.stringify({ at: new Date().toISOString(), machine, figures }, null, 2)}\n`);
console.log(`figures written to ${path.relative(ROOT, out)}`);
process.exit(code);
