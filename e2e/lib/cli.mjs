// The native peer (`hush`, target/release/hush) as a test subject: spawned with a bounded
// lifetime, its stdout and stderr kept, killed when the test process ends.

import { spawn } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ROOT, withTimeout } from './harness.mjs';

export const HUSH_BIN = process.env.HUSH_CLI ?? path.join(ROOT, 'target', 'release', 'hush');

const live = new Set();
/** Kills every `hush` process still running (call in a test's `finally`). */
export function killAll() {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
  live.clear();
}
process.on('exit', killAll);

/** Exit codes (README, "Exit codes"). */
export const EXIT = { OK: 0, FAILED: 1, USAGE: 2, NO_TRACKER: 3, NOBODY: 4, EXISTS: 5, TRANSFER: 6, DISK_FULL: 7 };

/**
 * Runs `hush args…` against the helper at `helperUrl` (its tracker), as `name`.
 * @returns {{child, stdout: () => string, stderr: () => string, write: (s: string) => void,
 *   end: () => void, exit: Promise<{code: number|null, signal: string|null}>,
 *   waitFor: (re: RegExp, ms?: number, stream?: 'stdout'|'stderr') => Promise<string>, kill: () => void}}
 */
export function hush(args, { helperUrl, name = 'cli', stdin = 'pipe', env = {} } = {}) {
  const tracker = helperUrl ? ['--tracker', `${helperUrl.replace(/^http/, 'ws')}/announce`] : [];
  return spawnTool(HUSH_BIN, [...args, ...tracker, '--name', name], { stdin, env });
}

/** Runs a native program of the repository (`hush` or a test tool) as `hush` above does. */
export function spawnTool(bin, args, { stdin = 'pipe', env = {} } = {}) {
  if (!existsSync(bin)) throw new Error(`${bin} missing (run \`make build\`)`);
  const child = spawn(bin, args, {
    cwd: ROOT,
    env: { ...process.env, XDG_CONFIG_HOME: '/nonexistent-hush-config', ...env },
    stdio: [stdin, 'pipe', 'pipe'],
  });
  live.add(child);
  let out = '';
  let err = '';
  const outChunks = [];
  // Text split across chunks is decoded whole (a QR code is multi-byte UTF-8).
  const outText = new StringDecoder('utf8');
  const waiters = new Set();
  const check = () => {
    for (const w of waiters) {
      const m = w.re.exec(w.stream === 'stderr' ? err : out);
      if (m) {
        waiters.delete(w);
        w.resolve(m[0]);
      }
    }
  };
  child.stdout.on('data', (d) => {
    outChunks.push(d);
    out += outText.write(d);
    check();
  });
  child.stderr.on('data', (d) => {
    err += d.toString('utf8');
    check();
  });
  // 'close', not 'exit': a process can exit before its last output has been read, and a
  // test that reads stdout once the exit code is known must see all of it.
  const exit = new Promise((resolve) => {
    child.once('close', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });
  return {
    child,
    stdout: () => out,
    /** Standard output as bytes (a file received with --stdout). */
    stdoutBytes: () => Buffer.concat(outChunks),
    stderr: () => err,
    write: (s) => child.stdin.write(s),
    end: () => child.stdin.end(),
    exit,
    kill: () => child.kill('SIGKILL'),
    waitFor(re, ms = 20_000, stream = 'stdout') {
      const w = { re, stream };
      const p = new Promise((resolve) => {
        w.resolve = resolve;
      });
      waiters.add(w);
      check();
      return withTimeout(p, ms, `${path.basename(bin)} ${args[0]}: ${re} on ${stream}`).catch((e) => {
        e.message += `\nstdout:\n${out.slice(-2000)}\nstderr:\n${err.slice(-2000)}`;
        throw e;
      });
    },
  };
}

/** Waits for the process to end (bounded) and returns its exit code. */
export async function exitCode(proc, ms = 60_000) {
  const { code, signal } = await withTimeout(proc.exit, ms, 'hush to exit').catch((e) => {
    proc.kill();
    e.message += `\nstdout:\n${proc.stdout().slice(-2000)}\nstderr:\n${proc.stderr().slice(-2000)}`;
    throw e;
  });
  return code ?? `signal ${signal}`;
}
