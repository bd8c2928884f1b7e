// The figures `make bench` ends with: each benchmark records its headline figures here, beside
// the baseline measured in the same run and the target, and `e2e/lib/bench-run.mjs` prints them
// as one table (and writes them to e2e/results/bench.json) once every benchmark has run.

import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { RESULTS } from './harness.mjs';

/** One JSON object per line, one line per figure, appended by the benchmarks of one run. */
export const FIGURES_FILE = path.join(RESULTS, 'bench-figures.jsonl');

/**
 * Records one figure.
 * @param {{bench: string, name: string, value: number, unit: string,
 *   baseline?: number, baselineName?: string, ratio?: number, spread?: string,
 *   target?: string, met?: boolean, note?: string}} f
 *   `ratio`: value ÷ baseline (or as the benchmark defines it); `met`: whether the target holds.
 */
export function figure(f) {
  mkdirSync(RESULTS, { recursive: true });
  appendFileSync(FIGURES_FILE, `${JSON.stringify(f)}\n`);
}
