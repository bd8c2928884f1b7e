// Benchmark: the honest members' chat while a hostile member attacks.
//
// Runs e2e/tests/hostile.test.mjs HOSTILE_RUNS times (default 5): each run is fresh browsers, a
// fresh helper and the rogue tracker's Mallory flooding both honest pages (file offers to one
// first, chat at 100× the rate limit to the other first, then garbage). Each run measures Hank
// → Vera chat delay (Enter pressed → text shown) for 60 messages just before the attack and 60
// during it. One run's p99 is its slowest message, so the figure pools every run: p99 during
// the attack ÷ p99 just before it (target ≤ 1.2×, issue "Hardening").

import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { RESULTS, ROOT } from '../lib/harness.mjs';
import { figure } from '../lib/figures.mjs';
import { pct } from '../lib/chat-delay.mjs';

const RUNS = Number(process.env.HOSTILE_RUNS ?? 5);
const DELAYS = path.join(RESULTS, 'hostile-delays.jsonl');

rmSync(DELAYS, { force: true });
let failed = 0;
for (let i = 0; i < RUNS; i++) {
  const code = await new Promise((resolve) => {
    const child = spawn(process.execPath, ['--test', '--test-reporter=dot', path.join(ROOT, 'e2e', 'tests', 'hostile.test.mjs')], {
      cwd: ROOT,
      env: { ...process.env, HOSTILE_DELAYS: DELAYS },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    child.on('exit', (c) => resolve(c ?? 1));
  });
  if (code !== 0) failed++;
}
const runs = readFileSync(DELAYS, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
const pool = (k) => runs.flatMap((r) => r[k]).filter(Number.isFinite);
const lost = (k) => runs.flatMap((r) => r[k]).filter((d) => !Number.isFinite(d)).length;
const [before, during] = [pool('before'), pool('during')];
const line = (name, xs) => `  ${name.padEnd(16)} p50 ${pct(xs, 50).toFixed(0)} ms, p95 ${pct(xs, 95).toFixed(0)} ms, p99 ${pct(xs, 99).toFixed(0)} ms, max ${Math.max(...xs).toFixed(0)} ms (${xs.length} messages, ${lost(name.split(' ')[0])} lost)`;
console.log(`hostile member: Hank → Vera chat delay over ${runs.length} runs (${failed} of ${RUNS} runs failed a check)`);
console.log(line('before attack', before));
console.log(line('during attack', during));
const ratio = pct(during, 99) / pct(before, 99);
console.log(`  p99 during ÷ before: ${ratio.toFixed(2)}× (target ≤ 1.2×); per run: ${runs.map((r) => (pct(r.during, 99) / pct(r.before, 99)).toFixed(2)).join(', ')}`);
figure({
  bench: 'hostile', name: 'chat p99 during a hostile member\'s attack', value: pct(during, 99), unit: 'ms',
  baseline: pct(before, 99), baselineName: 'just before the attack', ratio, target: '≤ 1.2×', met: ratio <= 1.2,
  note: `${runs.length} runs pooled, ${before.length} + ${during.length} messages`,
});
process.exit(failed === RUNS ? 1 : 0);
