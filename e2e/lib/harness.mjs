// Test harness for Hush's browser end-to-end tests.
//
// - startHelper(): runs the real helper binary on 127.0.0.1:0 serving dist/, returns its URL.
// - launchBrowser(): Debian's Chromium through playwright-core (Playwright never downloads one).
// - newPeer(): one browser context + page per peer, collecting console errors for diagnostics.
// - withTimeout() and the wait helpers: every await is bounded, so a hung promise fails the
//   test instead of hanging the run (e2e/run.sh adds an outer `timeout -s KILL` as well).
//
// Nothing here builds anything: `make test` builds dist/ and the helper first.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { chromium } from 'playwright-core';

process.env.PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD = '1';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const HELPER_BIN =
  process.env.HUSH_HELPER ?? path.join(ROOT, 'target', 'release', 'hush-signaling');
export const DIST = process.env.HUSH_DIST ?? path.join(ROOT, 'dist');
export const CHROMIUM = process.env.HUSH_CHROMIUM ?? '/usr/bin/chromium';
export const RESULTS = path.join(ROOT, 'e2e', 'results');

/** Default bound for one UI step (a click, a fill, a visible element). */
export const STEP_MS = 10_000;
/** Bound for reaching a state that needs the network: peers connecting, messages arriving. */
export const CONNECT_MS = 20_000;
/** How long the helper may take to print its listening line. */
const HELPER_START_MS = 15_000;
/** How long a stopping helper gets before SIGKILL. */
const HELPER_STOP_MS = 3_000;

export const BROWSER_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--allow-loopback-in-peer-connection',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
];

/** Rejects with a clear message if `promise` does not settle within `ms`. */
export function withTimeout(promise, ms, what = 'operation') {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([Promise.resolve(promise), timeout]).finally(() => clearTimeout(timer));
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `check` (sync or async) until it returns a truthy value, which is returned.
 * Each call is bounded too; the last error or value is reported on timeout.
 */
export async function waitFor(check, { timeout = CONNECT_MS, interval = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      // Each check gets a full step bound (not just what is left), so the error reported on
      // timeout is the check's own, not an artefact of a nearly expired deadline.
      const value = await withTimeout(check(), STEP_MS, what);
      if (value) return value;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${detail})`);
    }
    await sleep(interval);
  }
}

/** A random lowercase token, for unique message texts and names. */
export const token = (bytes = 6) => randomBytes(bytes).toString('hex');

// Children still running when the test process exits are killed (best effort; run.sh's PID
// namespace kills them for certain when the run ends).
const children = new Set();
process.on('exit', () => {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

/**
 * Starts the helper: `hush-signaling --listen 127.0.0.1:0 --dist dist …args`.
 * Resolves once it printed `Hush helper listening on http://<addr>`.
 * @returns {Promise<{url: string, stop: () => Promise<void>, output: () => string, process: import('node:child_process').ChildProcess}>}
 */
export async function startHelper({ args = [], dist = DIST, env = {}, listen = '127.0.0.1:0' } = {}) {
  if (!existsSync(HELPER_BIN)) {
    throw new Error(`helper binary missing: ${HELPER_BIN} (run \`make build\` first)`);
  }
  const child = spawn(HELPER_BIN, ['--listen', listen, '--dist', dist, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  let exited = false;
  const exitedPromise = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exited = true;
      children.delete(child);
      resolve({ code, signal });
    });
  });

  const url = await withTimeout(
    new Promise((resolve, reject) => {
      let buffer = '';
      const onData = (chunk) => {
        output += chunk;
        buffer += chunk;
        let newline;
        while ((newline = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          const match = /Hush helper listening on (https?:\/\/\S+)/.exec(line);
          if (match) resolve(match[1].replace(/\/+$/, ''));
        }
      };
      child.stdout.setEncoding('utf8').on('data', onData);
      child.stderr.setEncoding('utf8').on('data', (chunk) => {
        output += chunk;
      });
      child.once('error', reject);
      exitedPromise.then(({ code, signal }) =>
        reject(new Error(`helper exited (code ${code}, signal ${signal}) before listening:\n${output}`)),
      );
    }),
    HELPER_START_MS,
    'helper to print its listening line',
  ).catch((err) => {
    child.kill('SIGKILL');
    throw err;
  });

  const stop = async () => {
    if (exited) return;
    child.kill('SIGTERM');
    try {
      await withTimeout(exitedPromise, HELPER_STOP_MS, 'helper to exit');
    } catch {
      child.kill('SIGKILL');
      await withTimeout(exitedPromise, HELPER_STOP_MS, 'helper to exit after SIGKILL').catch(() => {});
    }
  };
  return { url, stop, output: () => output, process: child };
}

/** Launches the system Chromium, headless, with fake media and loopback ICE allowed. */
export async function launchBrowser({ args = [] } = {}) {
  return withTimeout(
    chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [...BROWSER_ARGS, ...args],
      timeout: 30_000,
    }),
    35_000,
    'chromium to launch',
  );
}

/** Closes a browser without ever hanging. */
export async function closeBrowser(browser) {
  if (!browser) return;
  await withTimeout(browser.close(), 10_000, 'browser.close').catch(() => {});
}

/**
 * A new peer: its own browser context (separate storage, separate identity) and one page.
 * Console errors and page errors are collected in `peer.errors` for diagnostics.
 */
export async function newPeer(browser, url, { label = 'peer', goto = true } = {}) {
  const context = await withTimeout(browser.newContext(), STEP_MS, `${label}: new context`);
  const page = await withTimeout(context.newPage(), STEP_MS, `${label}: new page`);
  page.setDefaultTimeout(STEP_MS);
  page.setDefaultNavigationTimeout(15_000);
  const errors = [];
  const logs = [];
  page.on('console', (msg) => {
    const line = `[${msg.type()}] ${msg.text()}`;
    logs.push(line);
    if (msg.type() === 'error') errors.push(line);
  });
  page.on('pageerror', (err) => {
    const line = `[pageerror] ${err.message}`;
    logs.push(line);
    errors.push(line);
  });
  page.on('crash', () => errors.push('[crash] page crashed'));
  if (goto && url) {
    await withTimeout(page.goto(url, { waitUntil: 'load' }), 20_000, `${label}: open ${url}`);
  }
  const peer = {
    label,
    context,
    page,
    errors,
    logs,
    async close() {
      await withTimeout(context.close(), 10_000, `${label}: close context`).catch(() => {});
    },
  };
  return peer;
}

/** Writes each peer's console output (and the helper's) to e2e/results/<name>.log. */
export function saveDiagnostics(name, peers = [], helper) {
  try {
    mkdirSync(RESULTS, { recursive: true });
    const parts = peers.map((p) => `=== ${p.label} (${p.page.url()})\n${p.logs.join('\n')}`);
    if (helper) parts.push(`=== helper output\n${helper.output()}`);
    const file = path.join(RESULTS, `${name.replace(/[^a-z0-9_-]+/gi, '_')}.log`);
    writeFileSync(file, parts.join('\n\n') + '\n');
    return file;
  } catch {
    return undefined;
  }
}

/** Screenshots every page into e2e/results/ (bounded; failures are ignored). */
export async function saveScreenshots(name, peers = []) {
  mkdirSync(RESULTS, { recursive: true });
  for (const p of peers) {
    const file = path.join(RESULTS, `${name.replace(/[^a-z0-9_-]+/gi, '_')}-${p.label}.png`);
    await withTimeout(p.page.screenshot({ path: file, fullPage: true }), 5_000, 'screenshot').catch(() => {});
  }
}

/**
 * Runs `body(ctx)` with a fresh helper and browser, and always cleans up: on failure it saves
 * console logs and screenshots of every peer registered through `ctx.peer()`.
 */
export async function scenario(name, body, { helperArgs = [] } = {}) {
  const helper = await startHelper({ args: helperArgs });
  let browser;
  const peers = [];
  try {
    browser = await launchBrowser();
    const ctx = {
      url: helper.url,
      helper,
      browser,
      peers,
      async peer(label, url = helper.url, opts = {}) {
        const peer = await newPeer(browser, url, { label, ...opts });
        peers.push(peer);
        return peer;
      },
    };
    return await body(ctx);
  } catch (err) {
    await saveScreenshots(name, peers.filter((p) => !p.page.isClosed()));
    const file = saveDiagnostics(name, peers, helper);
    const errs = peers.flatMap((p) => p.errors.map((e) => `${p.label}: ${e}`)).slice(0, 20);
    err.message +=
      (errs.length ? `\nbrowser errors:\n  ${errs.join('\n  ')}` : '') +
      (file ? `\ndiagnostics: ${file}` : '');
    throw err;
  } finally {
    await closeBrowser(browser);
    await helper.stop();
  }
}

/** Port coturn listens on inside the test namespace (the namespace is private to the run). */
export const TURN_PORT = 3478;

/**
 * Starts coturn on 127.0.0.1 with TURN REST auth (`use-auth-secret`), as DESIGN.md describes.
 * `--allow-loopback-peers` is for tests only: every peer here is 127.0.0.1.
 * @returns {Promise<{url: string, secret: string, stop: () => Promise<void>, output: () => string}>}
 */
export async function startTurn({ secret = 'e2e-turn-secret', realm = 'hush.test' } = {}) {
  const child = spawn('turnserver', [
    '-n', '--listening-ip=127.0.0.1', '--relay-ip=127.0.0.1', `--listening-port=${TURN_PORT}`,
    '--use-auth-secret', `--static-auth-secret=${secret}`, `--realm=${realm}`,
    '--no-tls', '--no-dtls', '--no-cli', '--allow-loopback-peers', '--fingerprint',
    '--min-port=49160', '--max-port=49260', '--log-file=stdout',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (c) => (output += c));
  child.stderr.setEncoding('utf8').on('data', (c) => (output += c));
  const exited = new Promise((resolve) => child.once('exit', () => { children.delete(child); resolve(); }));
  await withTimeout(new Promise((resolve, reject) => {
    const check = setInterval(() => {
      if (/listener opened on|Total (UDP|General) servers/i.test(output)) { clearInterval(check); resolve(); }
    }, 50);
    child.once('error', (e) => { clearInterval(check); reject(e); });
    exited.then(() => { clearInterval(check); reject(new Error(`turnserver exited:\n${output}`)); });
  }), HELPER_START_MS, 'turnserver to listen');
  // The helper reads the secret from a file (never a flag), as a deployment would.
  const secretDir = mkdtempSync(path.join(tmpdir(), 'hush-turn-'));
  const secretFile = path.join(secretDir, 'turn-secret');
  writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
  return {
    url: `turn:127.0.0.1:${TURN_PORT}`,
    secret,
    secretFile,
    output: () => output,
    async stop() {
      rmSync(secretDir, { recursive: true, force: true });
      child.kill('SIGTERM');
      await withTimeout(exited, HELPER_STOP_MS, 'turnserver to exit').catch(() => child.kill('SIGKILL'));
    },
  };
}

/** Asserts that no page of `peers` threw an uncaught error or crashed. */
export function assertNoPageErrors(peers) {
  const crashes = peers.flatMap((p) =>
    p.errors.filter((e) => /^\[(pageerror|crash)\]/.test(e)).map((e) => `${p.label}: ${e}`),
  );
  assert.deepEqual(crashes, [], 'no uncaught page error or crash');
}

/**
 * Starts the reference WebTorrent tracker (`bittorrent-tracker`, e2e/lib/reference-tracker.mjs)
 * in a process of its own on 127.0.0.1, so its CPU and memory can be told apart.
 * @returns {Promise<{url: string, pid: number, stop: () => Promise<void>}>}
 */
export async function startReferenceTracker() {
  const child = spawn(process.execPath, [path.join(ROOT, 'e2e', 'lib', 'reference-tracker.mjs')], {
    cwd: path.join(ROOT, 'e2e'),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await withTimeout(
    new Promise((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (d) => {
        const m = /listening on (\d+)/.exec(d);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', () => reject(new Error('reference tracker exited')));
    }),
    10_000,
    'reference tracker to listen',
  );
  return {
    url: `ws://127.0.0.1:${port}`,
    pid: child.pid,
    stop: async () => {
      child.kill('SIGKILL');
      await sleep(200);
    },
  };
}
