// Chat delay as a person sees it: from pressing Enter in one page to the text showing in
// another (both pages' clocks are the same machine's), measured in the pages themselves.

import { sleep, token, waitFor } from './harness.mjs';
import { messageBox } from './hush.mjs';

/** A message every this often (or as fast as typing goes, if slower). */
export const CHAT_EVERY_MS = 100;
/** Most messages one run sends. */
export const CHAT_MAX = 400;

/** The p-th percentile of `xs` (nearest rank), NaN when empty. */
export function pct(xs, p) {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/**
 * Sends a chat message every CHAT_EVERY_MS (or as fast as typing goes, if slower) from `sender`
 * until at least `min` were sent and `until()` is true (at most CHAT_MAX), then returns each
 * message's { text, sentAt, delay } (delay: ms until it showed at the receiver, NaN if never).
 */
export async function chatRun(sender, receiver, { min = 50, until = () => true } = {}) {
  const tag = token(3);
  await sender.page.evaluate((tag) => {
    window.__sent = {};
    document.addEventListener('keydown', (e) => {
      const v = e.target?.value;
      if (e.key === 'Enter' && typeof v === 'string' && v.startsWith(`ping-${tag}-`)) window.__sent[v] = performance.timeOrigin + performance.now();
    }, true);
  }, tag);
  await receiver.page.evaluate((tag) => {
    window.__seen = {};
    const re = new RegExp(`ping-${tag}-\\d+`, 'g');
    const scan = (text) => {
      const now = performance.timeOrigin + performance.now();
      for (const m of text.matchAll(re)) window.__seen[m[0]] ??= now;
    };
    // A message is a line added to the log, its text in place by the time the observer runs
    // (after the render). Watching only the log's own lines keeps the instrument cheap while
    // something else (a flood of file cards) changes the page a lot.
    const log = document.querySelector('[role="log"][aria-label="Messages"]');
    if (!log) throw new Error('chatRun: the receiver has no Messages log');
    new MutationObserver((records) => {
      for (const r of records) for (const n of r.addedNodes) scan(n.textContent ?? '');
    }).observe(log, { childList: true });
  }, tag);
  const box = messageBox(sender.page);
  const texts = [];
  for (let i = 0; texts.length < CHAT_MAX && (texts.length < min || !(await until())); i++) {
    const t = performance.now();
    const text = `ping-${tag}-${i}`;
    await box.fill(text);
    await box.press('Enter');
    texts.push(text);
    await sleep(Math.max(0, CHAT_EVERY_MS - (performance.now() - t)));
  }
  await waitFor(async () => {
    const seen = await receiver.page.evaluate(() => Object.keys(window.__seen).length);
    return seen >= texts.length;
  }, { timeout: 30_000, what: 'every chat message to arrive' }).catch(() => {});
  const sent = await sender.page.evaluate(() => window.__sent);
  const seen = await receiver.page.evaluate(() => window.__seen);
  return texts.map((t) => ({ text: t, sentAt: sent[t], delay: seen[t] !== undefined && sent[t] !== undefined ? seen[t] - sent[t] : NaN }));
}

