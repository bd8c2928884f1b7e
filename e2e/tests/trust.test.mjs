// Browser end-to-end tests of identity: fingerprints beside names, comparing codes, the
// verified badge, and a peer that comes back with a new key. Real helper, real Chromium, one
// browser context per person.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { STEP_MS, assertNoPageErrors, scenario, token, waitFor } from '../lib/harness.mjs';
import { createRoom, joinByForm, joinByLink, leaveRoom, peerItems, peersList, setName, verifyCodes, waitForPeers } from '../lib/hush.mjs';
import { EXIT, exitCode, hush, killAll } from '../lib/cli.mjs';

const TEST_MS = 180_000;

/** The "Peers" entry naming `name`. */
const entry = (page, name) => peersList(page).getByRole('listitem').filter({ hasText: name });


/** Our own fingerprint as the sidebar shows it. */
const myFingerprint = async (page) =>
  (await page.getByLabel('Your fingerprint').innerText()).trim();

/**
 * `a` verifies `b`: both see the same seven emoji and number, both press "They match", and
 * each then shows the other verified, its dialog closed.
 */
async function verifyBoth(a, an, b, bn) {
  await entry(a, bn).getByRole('button', { name: 'Verify', exact: true }).click();
  const ca = await verifyCodes(a, bn);
  const cb = await verifyCodes(b, an);
  assert.deepEqual(ca.words, cb.words, 'the same emoji, in the same order');
  assert.equal(ca.number, cb.number);
  assert.match(ca.number, /^\d{3} \d{3}$/);
  await ca.dialog.getByRole('button', { name: 'They match', exact: true }).click();
  await cb.dialog.getByRole('button', { name: 'They match', exact: true }).click();
  for (const [page, other] of [[a, bn], [b, an]]) {
    await entry(page, other).getByText('verified', { exact: true }).waitFor({ timeout: STEP_MS });
    await page.getByRole('dialog', { name: `Verify ${other}` }).waitFor({ state: 'detached', timeout: STEP_MS });
  }
}

/** Alice creates a room, Bob joins it; both named, each listing the other. */
async function twoPeers(ctx) {
  const alice = await ctx.peer('alice');
  const bob = await ctx.peer('bob');
  const room = await createRoom(alice.page);
  await joinByForm(bob.page, room);
  const [an, bn] = [`alice-${token(3)}`, `bob-${token(3)}`];
  await setName(alice.page, an);
  await setName(bob.page, bn);
  await waitForPeers(alice.page, [bn]);
  await waitForPeers(bob.page, [an]);
  return { alice, bob, room, an, bn };
}

test('two peers compare equal codes, both get the badge, a new key loses it', { timeout: TEST_MS }, async () => {
  await scenario('verify-peers', async (ctx) => {
    const { alice, bob, room, an, bn } = await twoPeers(ctx);

    // Each side shows the other's fingerprint, the one the other shows as its own.
    const [afp, bfp] = [await myFingerprint(alice.page), await myFingerprint(bob.page)];
    assert.match(afp, /^[0-9A-Z]{4}-[0-9A-Z]{4}$/);
    assert.notEqual(afp, bfp);
    await waitFor(async () => (await entry(bob.page, an).innerText()).includes(afp), {
      timeout: STEP_MS,
      what: `bob's entry for alice to show ${afp}`,
    });
    assert.match(await entry(alice.page, bn).innerText(), new RegExp(bfp));

    // Alice starts; both see the same seven emoji and number, and both get the badge.
    await verifyBoth(alice.page, an, bob.page, bn);

    // Bob comes back: a new session, a new key, the same name. Alice is told; no badge.
    await leaveRoom(bob.page);
    await joinByForm(bob.page, room);
    await waitForPeers(alice.page, [bn]);
    const bfp2 = await myFingerprint(bob.page);
    assert.notEqual(bfp2, bfp, 'a new session has a new key');
    await waitFor(async () => (await entry(alice.page, bn).innerText()).includes(bfp2), {
      timeout: STEP_MS,
      what: `alice's entry for bob to show the new fingerprint ${bfp2}`,
    });
    assert.equal(await entry(alice.page, bn).getByText('verified', { exact: true }).count(), 0);
    const notices = await alice.page.getByRole('region', { name: 'Notices' }).innerText();
    assert.match(notices, new RegExp(`${bn} has a new identity key`));
    assertNoPageErrors([alice, bob]);
  });
});

test('"They don\'t match" warns both sides and offers to disconnect', { timeout: TEST_MS }, async () => {
  await scenario('verify-mismatch', async (ctx) => {
    const { alice, bob, room, an, bn } = await twoPeers(ctx);

    await entry(bob.page, an).getByRole('button', { name: 'Verify', exact: true }).click();
    const a = await verifyCodes(alice.page, bn);
    await verifyCodes(bob.page, an);
    await a.dialog.getByRole('button', { name: "They don't match", exact: true }).click();
    for (const [page, other] of [[alice.page, bn], [bob.page, an]]) {
      const alert = page.getByRole('dialog', { name: `Verify ${other}` }).getByRole('alert');
      await alert.waitFor({ timeout: STEP_MS });
      assert.match(await alert.innerText(), /Verification failed/);
      assert.equal(await entry(page, other).getByText('verified', { exact: true }).count(), 0);
    }
    // Alice disconnects bob: he is gone from her list and does not come back.
    await alice.page.getByRole('button', { name: 'Disconnect', exact: true }).click();
    await waitForPeers(alice.page, []);
    assertNoPageErrors([alice, bob]);
  });
});

test('a locked room: a newcomer waits, a member admits it; another is denied and gets no chat', { timeout: TEST_MS }, async () => {
  await scenario('lock-admit-deny', async (ctx) => {
    const { alice, bob, room, an, bn } = await twoPeers(ctx);
    const [cn, dn] = [`carol-${token(3)}`, `dave-${token(3)}`];

    // Alice locks; both see it announced, and the button turns into "Unlock room".
    await alice.page.getByRole('button', { name: 'Lock room', exact: true }).click();
    await alice.page.getByRole('button', { name: 'Unlock room', exact: true }).waitFor({ timeout: STEP_MS });
    await waitFor(async () => (await bob.page.getByRole('log', { name: 'Messages' }).innerText()).includes(`${an} locked the room`), {
      timeout: STEP_MS,
      what: 'bob to see that alice locked the room',
    });
    await bob.page.getByRole('button', { name: 'Unlock room', exact: true }).waitFor({ timeout: STEP_MS });

    // Carol comes: she waits; both members are asked; bob admits her.
    const carol = await ctx.peer('carol');
    await joinByForm(carol.page, room);
    await setName(carol.page, cn);
    await carol.page.getByRole('status').filter({ hasText: 'Waiting to be let in' }).waitFor({ timeout: 20_000 });
    for (const page of [alice.page, bob.page]) {
      await page.getByRole('dialog', { name: 'Join request' }).waitFor({ timeout: 20_000 });
    }
    assert.equal(await alice.page.getByRole('list', { name: 'Peers' }).getByRole('listitem').count(), 1, 'carol is not listed before she is admitted');
    await bob.page.getByRole('dialog', { name: 'Join request' }).getByRole('button', { name: 'Admit', exact: true }).click();
    await waitForPeers(alice.page, [bn, cn]);
    await waitForPeers(bob.page, [an, cn]);
    await waitForPeers(carol.page, [an, bn]);
    await alice.page.getByRole('dialog', { name: 'Join request' }).waitFor({ state: 'detached', timeout: STEP_MS });
    assert.equal(await carol.page.getByText('Waiting to be let in').count(), 0);

    // Dave comes and is denied by alice: he is told, listed nowhere, and hears no chat.
    const dave = await ctx.peer('dave');
    await joinByForm(dave.page, room);
    await setName(dave.page, dn);
    await alice.page.getByRole('dialog', { name: 'Join request' }).waitFor({ timeout: 20_000 });
    await alice.page.getByRole('dialog', { name: 'Join request' }).getByRole('button', { name: 'Deny', exact: true }).click();
    await dave.page.getByRole('alert').filter({ hasText: 'You were not let in' }).waitFor({ timeout: STEP_MS });
    const secret = `members only ${token()}`;
    await alice.page.getByRole('textbox', { name: 'Message' }).fill(secret);
    await alice.page.getByRole('button', { name: 'Send', exact: true }).click();
    await waitFor(async () => (await carol.page.getByRole('log', { name: 'Messages' }).innerText()).includes(secret), {
      timeout: STEP_MS,
      what: 'carol (admitted) to get the message',
    });
    await new Promise((r) => setTimeout(r, 1_000));
    const daveLog = await dave.page.getByRole('log', { name: 'Messages' }).innerText().catch(() => '');
    assert.ok(!daveLog.includes(secret), 'the denied newcomer gets no chat');
    for (const page of [alice.page, bob.page, carol.page]) {
      const items = await page.getByRole('list', { name: 'Peers' }).getByRole('listitem').allInnerTexts();
      assert.ok(!items.some((i) => i.includes(dn)), `dave is listed nowhere: ${items}`);
    }
    assertNoPageErrors([alice, bob, carol, dave]);
  });
});

test('devices that keep their identity recognise each other as verified in a new room', { timeout: TEST_MS }, async () => {
  await scenario('remembered-devices', async (ctx) => {
    const { alice, bob, room, an, bn } = await twoPeers(ctx);
    for (const p of [alice.page, bob.page]) {
      await p.getByRole('checkbox', { name: "Keep this device's identity" }).check();
    }
    const kept = await myFingerprint(alice.page);
    await verifyBoth(alice.page, an, bob.page, bn);

    // Another room, another day: both are verified from the start, as remembered devices.
    await leaveRoom(alice.page);
    await leaveRoom(bob.page);
    const room2 = await createRoom(alice.page);
    assert.notEqual(room2, room);
    await joinByForm(bob.page, room2);
    await waitForPeers(alice.page, [bn]);
    await waitForPeers(bob.page, [an]);
    assert.equal(await myFingerprint(alice.page), kept, 'the kept identity is used again');
    for (const [page, other] of [[alice.page, bn], [bob.page, an]]) {
      await entry(page, other).getByText('verified', { exact: true }).waitFor({ timeout: STEP_MS });
      assert.match(await entry(page, other).innerText(), /your device/);
    }
    // "Forget this device" removes it: the badge goes.
    await entry(alice.page, bn).getByRole('button', { name: 'Forget this device', exact: true }).click();
    await waitFor(async () => (await entry(alice.page, bn).getByText('verified', { exact: true }).count()) === 0, {
      timeout: STEP_MS,
      what: 'the badge to go once the device is forgotten',
    });
    assertNoPageErrors([alice, bob]);
  });
});

test('the native peer takes part in the same hello: it shows the same codes, and the browser sees it verified', { timeout: TEST_MS }, async () => {
  try {
    await scenario('cli-verify', async (ctx) => {
      const name = `cli verify room ${token(8)}`;
      const chat = hush(['chat', name], { helperUrl: ctx.url, name: 'hush on testbox' });
      const alice = await ctx.peer('alice', undefined, { goto: false });
      await joinByLink(alice.page, ctx.url, name);
      await setName(alice.page, 'Alice');
      await waitFor(async () => JSON.stringify(await peerItems(alice.page)).includes('hush on testbox'), {
        timeout: 30_000,
        what: 'the browser to list the CLI peer',
      });
      // The CLI prints the browser's fingerprint, which the browser shows as its own.
      const fp = await myFingerprint(alice.page);
      await chat.waitFor(new RegExp(`'s key: ${fp}`), 20_000, 'stderr');

      chat.write('/verify Alice\n');
      const b = await verifyCodes(alice.page, 'hush on testbox');
      const printed = await chat.waitFor(/do they see these\?\n.*\n\s*\d{6}/, STEP_MS, 'stderr');
      const [, emojiLine, numberLine] = printed.split('\n');
      const words = emojiLine.trim().split(/ {2}/).map((p) => p.slice(p.indexOf(' ') + 1));
      assert.deepEqual(words, b.words, 'the CLI prints the emoji the browser shows');
      assert.equal(numberLine.trim(), b.number.replace(' ', ''));

      await b.dialog.getByRole('button', { name: 'They match', exact: true }).click();
      chat.write('/match\n');
      await chat.waitFor(/Alice is verified/, STEP_MS, 'stderr');
      await entry(alice.page, 'hush on testbox').getByText('verified', { exact: true }).waitFor({ timeout: STEP_MS });

      // The CLI locks the room and lets a newcomer in.
      chat.write('/lock\n');
      await alice.page.getByRole('button', { name: 'Unlock room', exact: true }).waitFor({ timeout: STEP_MS });
      const bob = await ctx.peer('bob', undefined, { goto: false });
      await joinByLink(bob.page, ctx.url, name);
      await bob.page.getByRole('status').filter({ hasText: 'Waiting to be let in' }).waitFor({ timeout: 20_000 });
      const knock = await chat.waitFor(/(\S.*) \([0-9A-Z]{4}-[0-9A-Z]{4}\) wants to join/, 20_000, 'stderr');
      const bobName = knock.replace(/ \([0-9A-Z]{4}-[0-9A-Z]{4}\) wants to join$/, '').replace(/^.*hush: /, '');
      chat.write(`/admit ${bobName}\n`);
      await waitFor(async () => JSON.stringify(await peerItems(bob.page)).includes('hush on testbox'), {
        timeout: STEP_MS,
        what: 'the admitted newcomer to list the CLI peer',
      });
      chat.end();
      assert.equal(await exitCode(chat, 10_000), EXIT.OK);
      assertNoPageErrors([alice, bob]);
    });
  } finally {
    killAll();
  }
});
