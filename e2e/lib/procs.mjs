// Processes from /proc, for the benchmarks: which processes exist, their parents, command lines
// and CPU time.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Kernel clock ticks per second (the unit of CPU times in /proc). */
export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** Every process: pid → { ppid, cmdline (NUL-separated), argv0, ticks (utime+stime) }. */
export function processTable() {
  const table = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after "(comm)": state ppid … utime(14) stime(15) → indices 11 and 12 here.
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      table.set(Number(entry), {
        ppid: Number(f[1]),
        cmdline,
        argv0: cmdline.split('\0')[0],
        ticks: Number(f[11]) + Number(f[12]),
      });
    } catch {
      /* gone meanwhile */
    }
  }
  return table;
}

/** One process's resident memory (bytes) and CPU time so far (µs, user + system). */
export function procStats(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { rss: rssKb * 1024, cpuUs: ((Number(f[11]) + Number(f[12])) / CLK_TCK) * 1e6 };
}
