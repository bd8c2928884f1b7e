// Benchmark: the honest members' chat while a hostile member attacks.
//
// Runs e2e/tests/hostile.test.mjs HOSTILE_RUNS times (default 5): each run is fresh browsers, a
// fresh helper and the rogue tracker's Mallory flooding both honest pages (file offers to one
// first, chat at 100× the rate limit to the other first, then garbage). Each run measures Hank
// → Vera chat delay (Enter pressed → text shown) for 60 messages just before the attack and 60
// during it. One run's p99 is its slowest message, so the figure pools every run: p99 during
// the attack ÷ p99 just before it (target ≤ 1.2×, issue "Hardening").
//
// HOSTILE_BASELINE_DIST=<dir> also runs another build of the app (e.g. the previous commit's
// dist/), alternating run by run, and prints its pooled figures beside this build's.

import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { RESULTS, ROOT } from '../lib/harness.mjs';
import { figure } from '../lib/figures.mjs';
import { pct } from '../lib/chat-delay.mjs';

const RUNS = Number(process.env.HOSTILE_RUNS ?? 5);
const DELAYS = path.join(RESULTS, 'hostile-delays.jsonl');

const BASELINE = process.env.HOSTILE_BASELINE_DIST;
const builds = [{ name: 'this build', env: {}, file: DELAYS }];
if (BASELINE) builds.push({ name: `baseline (${BASELINE})`, env: { HUSH_DIST: BASELINE }, file: path.join(RESULTS, 'hostile-delays-baseline.jsonl') });

let failed = 0;
for (const b of builds) rmSync(b.file, { force: true });
for (let i = 0; i < RUNS; i++) {
  for (const b of builds) {
    const code = await new Promise((resolve) => {
      const child = spawn(process.execPath, ['--test', '--test-reporter=dot', path.join(ROOT, 'e2e', 'tests', 'hostile.test.mjs')], {
        cwd: ROOT,
        env: { ...process.env, ...b.env, HOSTILE_DELAYS: b.file },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      child.on('exit', (c) => resolve(c ?? 1));
    });
    if (code !== 0) failed++;
  }
}
const results = builds.map((b) => {
  const runs = readFileSync(b.file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const all = (k) => runs.flatMap((r) => r[k]);
  const [before, during] = [all('before').filter(Number.isFinite), all('during').filter(Number.isFinite)];
  const lost = all('before').length + all('during').length - before.length - during.length;
  const line = (name, xs) => `    ${name.padEnd(14)} p50 ${pct(xs, 50).toFixed(0)} ms, p95 ${pct(xs, 95).toFixed(0)} ms, p99 ${pct(xs, 99).toFixed(0)} ms, max ${Math.max(...xs).toFixed(0)} ms (${xs.length} messages)`;
  const ratio = pct(during, 99) / pct(before, 99);
  console.log(`  ${b.name}: ${runs.length} runs, ${lost} messages lost`);
  console.log(line('before attack', before));
  console.log(line('during attack', during));
  console.log(`    p99 during ÷ before: ${ratio.toFixed(2)}× (target ≤ 1.2×); per run: ${runs.map((r) => (pct(r.during, 99) / pct(r.before, 99)).toFixed(2)).join(', ')}`);
  return { runs, before, during, ratio };
});
console.log(`hostile member: Hank → Vera chat delay (${failed} runs failed a check)`);
const [ours] = results;
figure({
  bench: 'hostile', name: 'chat p99 during a hostile member\'s attack', value: pct(ours.during, 99), unit: 'ms',
  baseline: pct(ours.before, 99), baselineName: 'just before the attack', ratio: ours.ratio, target: '≤ 1.2×', met: ours.ratio <= 1.2,
  note: `${ours.runs.length} runs pooled, ${ours.before.length} + ${ours.during.length} messages`,
});
process.exit(failed === RUNS * builds.length ? 1 : 0);
