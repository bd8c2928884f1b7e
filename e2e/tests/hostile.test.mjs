// A hostile room member, brought by a tracker that knows the room name
// (cli/examples/rogue_tracker.rs --mode hostile). "Mallory" says a valid hello, then sends
// each honest browser 5,000 file offers and valid chat at 100× the rate limit (the first
// browser the offers first, the second the chat first; then garbage, if still connected);
// "Ghost" connects and never says hello. Only they are dropped, each
// with its reason shown; the honest pair's chat keeps flowing (its delay during the attack is
// printed beside the same measured just before), the pages stay responsive and their memory
// bounded. HOSTILE_ATTACK="attack offers" (or chat, garbage) runs one phase alone.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, STEP_MS, assertNoPageErrors, scenario, token, waitFor, withTimeout } from '../lib/harness.mjs';
import { joinByLink, logText, peerItems, sendMessage, setName, waitForMessages, waitForPeers } from '../lib/hush.mjs';
import { fileCards } from '../lib/files.mjs';
import { chatRun, pct } from '../lib/chat-delay.mjs';
import { spawnTool } from '../lib/cli.mjs';

const ROGUE_BIN = path.join(ROOT, 'target', 'release', 'examples', 'rogue_tracker');
/** Chat messages measured before and during the attack. */
const CHAT_MESSAGES = 60;
/** Most of Mallory's flood a page may show: the app's burst (10) and slack (10), and a second
 * at the rate (10) before the flood has it dropped. */
const MAX_FLOOD_SHOWN = 10 + 10 + 10;
/** File offers Mallory makes, and the most the app keeps from one peer (core::transfer). */
const FLOOD_OFFERS = 5_000;
const MAX_OFFERS_PER_PEER = 256;
/** Growth of a page's JS heap the attack may cause. */
const MAX_HEAP_GROWTH = 64 * 1024 * 1024;

const heap = (page) => page.evaluate(() => performance.memory?.usedJSHeapSize ?? NaN);

test('a hostile member flooding valid chat, file offers and garbage, and one that never says hello, are dropped alone', { timeout: 240_000 }, async (t) => {
  const rogue = spawnTool(ROGUE_BIN, ['--mode', 'hostile']);
  try {
    const port = (await rogue.waitFor(/listening (\d+)/, STEP_MS)).split(' ')[1];
    await scenario('hostile-member', async (ctx) => {
      const room = `hostile-${token(12)}`;
      rogue.write(`room ${room}\n`);
      await rogue.waitFor(/ready 1\b/, STEP_MS);
      const members = [];
      for (const name of ['Vera', 'Hank']) {
        const peer = await ctx.peer(name.toLowerCase(), undefined, { goto: false });
        await joinByLink(peer.page, ctx.url, room);
        await setName(peer.page, name);
        members.push({ ...peer, name });
      }
      const [vera, hank] = members;
      await waitForPeers(vera.page, ['Hank', 'Mallory']);
      await waitForPeers(hank.page, ['Vera', 'Mallory']);
      await rogue.waitFor(/hello 1\.0/, STEP_MS);
      await rogue.waitFor(/hello 1\.1/, STEP_MS);

      // Ghost never says hello: refused once the handshake times out, never listed.
      for (const m of members) {
        await m.page.getByText(/Refused a peer\b.*: the handshake did not complete/).first().waitFor({ timeout: 20_000 });
      }

      const heapBefore = await Promise.all(members.map((m) => heap(m.page)));
      const before = await chatRun(hank, vera, { min: CHAT_MESSAGES });
      rogue.write(`${process.env.HOSTILE_ATTACK ?? 'attack'}\n`);
      const during = await chatRun(hank, vera, { min: CHAT_MESSAGES });
      const p99 = (rows) => pct(rows.map((r) => r.delay), 99);
      // e2e/bench/hostile.mjs pools the delays of several runs.
      if (process.env.HOSTILE_DELAYS) {
        const delays = (rows) => rows.map((r) => r.delay);
        appendFileSync(process.env.HOSTILE_DELAYS, `${JSON.stringify({ before: delays(before), during: delays(during) })}\n`);
      }
      t.diagnostic(
        `Hank → Vera chat p99: ${p99(before).toFixed(0)} ms before the attack, ${p99(during).toFixed(0)} ms during it ` +
          `(${(p99(during) / p99(before)).toFixed(2)}×; p50 ${pct(before.map((r) => r.delay), 50).toFixed(0)} → ${pct(during.map((r) => r.delay), 50).toFixed(0)} ms)`,
      );

      const attacked = await Promise.all([0, 1].map((i) => rogue.waitFor(new RegExp(`attacked 1\\.${i} \\d+`), 60_000)));
      t.diagnostic(`Mallory sent ${attacked.map((a) => a.split(' ')[2]).join(' and ')} frames`);

      // Each flood alone has Mallory dropped: the offers past the per-peer cap, or the chat.
      const reasons = { offers: /Mallory was disconnected: offered more than 256 files at once/, chat: /Mallory was disconnected: sent messages far too fast/ };
      const seen = new Set();
      for (const m of members) {
        const other = m === vera ? 'Hank' : 'Vera';
        await waitForPeers(m.page, [other], 20_000);
        const notices = await m.page.getByRole('region', { name: 'Notices' }).innerText();
        const why = Object.keys(reasons).find((k) => reasons[k].test(notices));
        if (!process.env.HOSTILE_ATTACK) assert.ok(why, `${m.name}: says why Mallory was dropped: ${notices}`);
        else assert.match(notices, /Mallory was disconnected: \S/, `${m.name}: says why Mallory was dropped: ${notices}`);
        seen.add(why);
        // The flood was held to the rate limit, and the offers went with their sender.
        const shown = (await logText(m.page)).match(/flood \d+/g)?.length ?? 0;
        t.diagnostic(`${m.name}: ${shown} of Mallory's flood shown; notices: ${notices.replace(/\s+/g, ' ')}`);
        assert.ok(shown <= MAX_FLOOD_SHOWN, `${m.name}: at most ${MAX_FLOOD_SHOWN} flood lines shown (${shown})`);
        // Its offers were capped on arrival and went with it: none can be downloaded.
        let states = [];
        await waitFor(async () => {
          states = await fileCards(m.page).evaluateAll((els) => els.map((e) => e.getAttribute('data-state')));
          return states.every((st) => st === 'withdrawn');
        }, { timeout: STEP_MS, what: `${m.name}: every file card of Mallory's withdrawn` }).catch((e) => {
          e.message += `: ${JSON.stringify([...new Set(states)])}`;
          throw e;
        });
        t.diagnostic(`${m.name}: ${states.length} of Mallory's ${FLOOD_OFFERS} file offers shown, all withdrawn`);
        assert.ok(states.length <= MAX_OFFERS_PER_PEER, `${m.name}: at most ${MAX_OFFERS_PER_PEER} offers kept (${states.length})`);
        // Nobody scrolled: however fast lines came in, the log still follows the newest.
        assert.equal(await m.page.getByRole('button', { name: 'New messages' }).count(), 0, `${m.name}: the log still follows`);
        const t0 = Date.now();
        await withTimeout(m.page.evaluate(() => 1), 2_000, `${m.name}: page responsive`);
        assert.ok(Date.now() - t0 < 2_000);
      }
      if (!process.env.HOSTILE_ATTACK) assert.deepEqual([...seen].sort(), ['chat', 'offers'], 'one browser dropped Mallory for its offers, the other for its chat');
      const heapAfter = await Promise.all(members.map((m) => heap(m.page)));
      members.forEach((m, i) => {
        const growth = heapAfter[i] - heapBefore[i];
        t.diagnostic(`${m.name}: JS heap ${(heapBefore[i] / 2 ** 20).toFixed(1)} → ${(heapAfter[i] / 2 ** 20).toFixed(1)} MiB`);
        assert.ok(!(growth > MAX_HEAP_GROWTH), `${m.name}: the heap grew ${growth} bytes`);
      });

      // The honest pair lost nothing and still talks both ways.
      for (const [what, rows] of [['before', before], ['during', during]]) {
        const lost = rows.filter((r) => !Number.isFinite(r.delay)).length;
        assert.equal(lost, 0, `every message ${what} the attack arrived`);
      }
      const text = `after-${token()}`;
      await sendMessage(vera.page, text);
      await waitForMessages(hank.page, [text]);
      for (const m of members) assert.ok(!(await peerItems(m.page)).some((i) => i.includes('Mallory')), `${m.name}: Mallory stays out`);
      assertNoPageErrors(members);
    }, { helperArgs: ['--tracker', `ws://127.0.0.1:${port}/announce`] });
  } finally {
    rogue.kill();
  }
});
