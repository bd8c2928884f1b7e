// Browser end-to-end tests of audio, video and screen sharing over the WebRTC mesh. Chromium's
// fake devices (flags in ../lib/harness.mjs) give every page a 640×480 camera, a microphone and a
// 1280×720 screen. Every connection a page opens is tracked (instrumentPeerConnections, an init
// script added before the page navigates) so the tests can read its RTP statistics and check
// that frames and packets really flow, not only that tiles exist.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertNoPageErrors, scenario, sleep, token, waitFor } from '../lib/harness.mjs';
import {
  cameraButton,
  createRoom,
  inboundGrowth,
  instrumentPeerConnections,
  joinByLink,
  mediaSnapshot,
  mediaTile,
  micButton,
  peerItem,
  rtpStats,
  screenButton,
  setName,
  setToggle,
  tilePlayback,
  waitForNoTile,
  waitForPeerState,
  waitForPeers,
  waitForTileVideo,
  waitPressed,
} from '../lib/hush.mjs';

/** Bound for one whole test. */
const TEST_MS = 180_000;
/** Bound for one media state to be reached (a tile, a video size, a Peers item). */
const MEDIA_MS = 20_000;
/** A tile whose camera was switched off must be gone from the others' pages within this. */
const TILE_GONE_MS = 3_000;
/** Gap between the two statistics samples that must show frames/packets arriving. */
const SAMPLE_GAP_MS = 1_000;

/**
 * Opens one instrumented page per label in one room: the first creates it, the others open its
 * link. Each gets a distinct display name; every page waits for the full mesh in "Peers".
 * `room` + `into`: join that existing room, whose members are `into` (for a late joiner).
 * `initScript`: more test instrumentation, added before the page navigates.
 */
async function meshRoom(ctx, labels, { room, into = [], initScript } = {}) {
  const members = [];
  for (const label of labels) {
    const peer = await ctx.peer(label, ctx.url, { goto: false });
    await instrumentPeerConnections(peer.context);
    if (initScript) await peer.context.addInitScript(initScript);
    if (!room) {
      await peer.page.goto(ctx.url, { waitUntil: 'load', timeout: 20_000 });
      room = await createRoom(peer.page);
    } else {
      await joinByLink(peer.page, ctx.url, room);
    }
    // Capitalised and unique, so no name is a substring of another or of "You".
    const name = `${label[0].toUpperCase()}${label.slice(1)}${token(2)}`;
    members.push({ peer, page: peer.page, name, label });
  }
  await Promise.all(members.map((m) => setName(m.page, m.name)));
  const all = [...into, ...members];
  await Promise.all(all.map((m) => waitForPeers(m.page, all.filter((o) => o !== m).map((o) => o.name))));
  return { room, members };
}


/**
 * Samples every receiver and sender twice, SAMPLE_GAP_MS apart, and asserts that at each
 * receiver the `field` counter of the `kind` streams coming from each sender grew (streams are
 * attributed to senders by SSRC: the sender's outbound SSRC is the receiver's inbound SSRC).
 * Returns the growth per receiver and sender, for diagnostics.
 */
async function assertFlowing(receivers, senders, { kind, field }) {
  const everyone = [...new Set([...receivers, ...senders])];
  const before = new Map(await Promise.all(everyone.map(async (m) => [m, await rtpStats(m.page)])));
  await sleep(SAMPLE_GAP_MS);
  const after = new Map(await Promise.all(everyone.map(async (m) => [m, await rtpStats(m.page)])));
  const seen = [];
  for (const r of receivers) {
    for (const s of senders) {
      if (s === r) continue;
      const { growth, streams } = inboundGrowth(before.get(r), after.get(r), {
        kind,
        field,
        senderStats: after.get(s),
      });
      seen.push(`${r.name}←${s.name}: +${growth} ${field} over ${streams} stream(s)`);
      assert.ok(
        streams > 0 && growth > 0,
        `${r.name}: inbound ${kind} ${field} from ${s.name} grows over ${SAMPLE_GAP_MS} ms ` +
          `(grew ${growth} over ${streams} matching stream(s)); ` +
          `${r.name} inbound: ${JSON.stringify(Object.values(after.get(r).inbound))}; ` +
          `${s.name} outbound: ${JSON.stringify(Object.values(after.get(s).outbound))}`,
      );
    }
  }
  return seen;
}

/** The local page's own video tiles ("You (camera)", "You (screen)") that show video. */
async function ownVideoTiles(page) {
  const snap = await mediaSnapshot(page);
  return (snap.tiles ?? []).filter((t) => /^You \(/.test(t.label ?? '') && (t.video?.width ?? 0) > 0);
}

test('three peers, two cameras on: each sees the others\' video and frames keep arriving', { timeout: TEST_MS }, async (t) => {
  await scenario('media-cameras', async (ctx) => {
    const { members } = await meshRoom(ctx, ['alice', 'bob', 'carol']);
    const [alice, bob, carol] = members;
    const cams = [alice, bob];

    await Promise.all(cams.map((m) => setToggle(cameraButton(m.page), true)));
    assert.equal(await cameraButton(carol.page).getAttribute('aria-pressed'), 'false', "carol's camera stays off");

    for (const viewer of members) {
      for (const cam of cams) {
        if (cam === viewer) continue;
        const size = await waitForTileVideo(viewer.page, cam.name, 'camera', { timeout: MEDIA_MS });
        t.diagnostic(`${viewer.name} shows ${cam.name} (camera) at ${size.width}×${size.height}`);
        const tile = mediaTile(viewer.page, cam.name, 'camera');
        assert.equal(await tile.locator('video').count(), 1, `${viewer.name}: the tile of ${cam.name} holds one <video>`);
        await tile.getByRole('slider', { name: `Volume for ${cam.name}` }).waitFor({ state: 'attached', timeout: 5_000 });
        await tile.getByRole('button', { name: 'Pin' }).waitFor({ state: 'attached', timeout: 5_000 });
        await tile.getByRole('button', { name: 'Full screen' }).waitFor({ state: 'attached', timeout: 5_000 });
      }
    }
    // Nobody shows a camera tile of carol, whose camera and microphone are off.
    for (const viewer of [alice, bob]) {
      assert.equal(await mediaTile(viewer.page, carol.name, 'camera').count(), 0, `${viewer.name} has no tile of ${carol.name}`);
    }

    const flow = await assertFlowing(members, cams, { kind: 'video', field: 'framesDecoded' });
    for (const line of flow) t.diagnostic(line);

    // Own previews: the two with a camera on see themselves; carol has no own video tile.
    for (const cam of cams) {
      await waitForTileVideo(cam.page, 'You', 'camera', { timeout: MEDIA_MS });
    }
    assert.equal(await mediaTile(carol.page, 'You', 'camera').count(), 0, `${carol.name} has no "You (camera)" tile`);
    assert.deepEqual(await ownVideoTiles(carol.page), [], `${carol.name} has no own video tile at all`);

    // "Peers" says who has the camera on.
    for (const viewer of members) {
      for (const other of members.filter((o) => o !== viewer)) {
        const re = cams.includes(other) ? /\bcamera on\b/i : /\bcamera off\b/i;
        await waitForPeerState(viewer.page, other.name, re, MEDIA_MS);
      }
    }
    assertNoPageErrors(ctx.peers);
  });
});

test('a microphone on at one peer: the other two receive its audio and list it "mic on"', { timeout: TEST_MS }, async (t) => {
  await scenario('media-microphone', async (ctx) => {
    const { members } = await meshRoom(ctx, ['alice', 'bob', 'carol']);
    const [alice, bob, carol] = members;
    const listeners = [bob, carol];

    for (const m of listeners) await waitForPeerState(m.page, alice.name, /\bmic off\b/i, MEDIA_MS);
    await setToggle(micButton(alice.page), true);
    for (const m of listeners) {
      const item = await waitForPeerState(m.page, alice.name, /\bmic on\b/i, MEDIA_MS);
      t.diagnostic(`${m.name} lists ${JSON.stringify(item)}`);
      // Microphone on, camera off: the "(camera)" tile exists and carries the audio.
      await mediaTile(m.page, alice.name, 'camera').waitFor({ state: 'attached', timeout: MEDIA_MS });
    }

    // Packets take a moment to start after the track is negotiated: wait until any arrive,
    // then require growth between two samples.
    for (const m of listeners) {
      await waitFor(async () => {
        const s = await rtpStats(m.page);
        return Object.values(s.inbound).some((e) => e.kind === 'audio' && e.packetsReceived > 0);
      }, { timeout: MEDIA_MS, what: `${m.name} to receive audio packets` });
    }
    const flow = await assertFlowing(listeners, [alice], { kind: 'audio', field: 'packetsReceived' });
    for (const line of flow) t.diagnostic(line);

    // The tile's <video> plays that audio: its stream holds a live audio track and it runs.
    for (const m of listeners) {
      let state;
      try {
        await waitFor(
          async () => (state = await tilePlayback(m.page, alice.name, 'camera')).tracks?.includes('audio:live') && !state.paused,
          { timeout: MEDIA_MS, what: `${m.name}: the tile of ${alice.name} to play a live audio track` },
        );
      } catch (err) {
        err.message += `; its <video> was ${JSON.stringify(state)}`;
        throw err;
      }
      t.diagnostic(`${m.name}: the tile of ${alice.name} plays ${JSON.stringify(state)}`);
    }

    // Whether the fake microphone's beeps light up "speaking" is reported, not asserted.
    const speaking = await waitFor(
      async () => /\bspeaking\b/.test((await mediaTile(bob.page, alice.name, 'camera').getAttribute('class')) ?? ''),
      { timeout: 5_000, what: 'speaking' },
    ).then(() => true, () => false);
    t.diagnostic(`${bob.name}: the tile of ${alice.name} had class "speaking" within 5 s: ${speaking}`);

    assert.match((await peerItem(carol.page, bob.name)) ?? '', /\bmic off\b/i, `${carol.name} still lists ${bob.name} "mic off"`);
    assertNoPageErrors(ctx.peers);
  });
});

test('a shared screen shows at the others as "<name> (screen)" at screen resolution', { timeout: TEST_MS }, async (t) => {
  await scenario('media-screen', async (ctx) => {
    const { members } = await meshRoom(ctx, ['alice', 'bob', 'carol']);
    const [alice, bob, carol] = members;

    await setToggle(screenButton(alice.page), true);
    for (const m of [bob, carol]) {
      // The fake screen is 1280×720; the fake camera 640×480: wider than 640 means the screen.
      const size = await waitForTileVideo(m.page, alice.name, 'screen', { minWidth: 640, timeout: MEDIA_MS });
      t.diagnostic(`${m.name} shows ${alice.name} (screen) at ${size.width}×${size.height}`);
    }
    await waitForTileVideo(alice.page, 'You', 'screen', { timeout: MEDIA_MS });
    const flow = await assertFlowing([bob, carol], [alice], { kind: 'video', field: 'framesDecoded' });
    for (const line of flow) t.diagnostic(line);

    // Stopping the share removes the screen tile everywhere.
    await setToggle(screenButton(alice.page), false);
    for (const m of [bob, carol]) await waitForNoTile(m.page, alice.name, 'screen', MEDIA_MS);
    await waitForNoTile(alice.page, 'You', 'screen', MEDIA_MS);
    assertNoPageErrors(ctx.peers);
  });
});

test(`switching the camera off removes its tile at the others within ${TILE_GONE_MS} ms`, { timeout: TEST_MS }, async (t) => {
  await scenario('media-camera-off', async (ctx) => {
    const { members } = await meshRoom(ctx, ['alice', 'bob', 'carol']);
    const [alice, bob, carol] = members;

    await setToggle(cameraButton(alice.page), true);
    for (const m of [bob, carol]) await waitForTileVideo(m.page, alice.name, 'camera', { timeout: MEDIA_MS });

    const start = performance.now();
    await cameraButton(alice.page).click();
    const took = await Promise.all(
      [bob, carol].map(async (m) => {
        await waitForNoTile(m.page, alice.name, 'camera', MEDIA_MS);
        return performance.now() - start;
      }),
    );
    const line = `camera-off tile removal: ${took.map((ms) => `${ms.toFixed(0)} ms`).join(', ')} (${bob.name}, ${carol.name})`;
    t.diagnostic(line);
    console.log(line);
    await waitPressed(cameraButton(alice.page), false, 5_000);
    for (const [i, ms] of took.entries()) {
      assert.ok(ms < TILE_GONE_MS, `${[bob, carol][i].name} removed the tile after ${ms.toFixed(0)} ms (limit ${TILE_GONE_MS})`);
    }
    await waitForNoTile(alice.page, 'You', 'camera', MEDIA_MS);
    for (const m of [bob, carol]) await waitForPeerState(m.page, alice.name, /\bcamera off\b/i, MEDIA_MS);

    // Switched on again (no glare: only alice renegotiates), the video comes back everywhere.
    await setToggle(cameraButton(alice.page), true);
    for (const m of [bob, carol]) {
      await waitForTileVideo(m.page, alice.name, 'camera', { timeout: MEDIA_MS }).catch((err) => {
        err.message = `after switching the camera on again: ${err.message}`;
        throw err;
      });
    }
    await assertFlowing([bob, carol], [alice], { kind: 'video', field: 'framesDecoded' });
    assertNoPageErrors(ctx.peers);
  });
});

/**
 * Counts offer collisions (test instrumentation, for diagnostics only): a remote offer applied
 * while the connection has its own offer out, and explicit rollbacks.
 */
const GLARE_PROBE_SCRIPT = `
  window.__glare = { collisions: 0, rollbacks: 0 };
  const proto = RTCPeerConnection.prototype;
  const srd = proto.setRemoteDescription;
  proto.setRemoteDescription = function (d, ...rest) {
    if (d && d.type === 'offer' && this.signalingState === 'have-local-offer') window.__glare.collisions++;
    return srd.call(this, d, ...rest);
  };
  const sld = proto.setLocalDescription;
  proto.setLocalDescription = function (d, ...rest) {
    if (d && d.type === 'rollback') window.__glare.rollbacks++;
    return sld.call(this, d, ...rest);
  };
`;

test('glare: two peers switching cameras on at the same moment both get through, 3 times', { timeout: TEST_MS }, async (t) => {
  await scenario('media-glare', async (ctx) => {
    const { members } = await meshRoom(ctx, ['alice', 'bob'], { initScript: GLARE_PROBE_SCRIPT });
    const [alice, bob] = members;

    for (let round = 1; round <= 3; round++) {
      const start = performance.now();
      // Both clicks at once: both sides renegotiate at the same time.
      await Promise.all(members.map((m) => cameraButton(m.page).click()));
      await Promise.all(members.map((m) => waitPressed(cameraButton(m.page), true)));
      const sizes = await Promise.all([
        waitForTileVideo(alice.page, bob.name, 'camera', { timeout: MEDIA_MS }).catch((err) => {
          err.message = `round ${round}: ${err.message}`;
          throw err;
        }),
        waitForTileVideo(bob.page, alice.name, 'camera', { timeout: MEDIA_MS }).catch((err) => {
          err.message = `round ${round}: ${err.message}`;
          throw err;
        }),
      ]);
      t.diagnostic(
        `round ${round}: both videos shown after ${(performance.now() - start).toFixed(0)} ms ` +
          `(${sizes.map((s) => `${s.width}×${s.height}`).join(', ')})`,
      );
      await assertFlowing(members, members, { kind: 'video', field: 'framesDecoded' });

      // Off again, also at the same moment, and wait until each side's tile of the other is gone.
      await Promise.all(members.map((m) => cameraButton(m.page).click()));
      await Promise.all(members.map((m) => waitPressed(cameraButton(m.page), false)));
      await Promise.all([
        waitForNoTile(alice.page, bob.name, 'camera', MEDIA_MS),
        waitForNoTile(bob.page, alice.name, 'camera', MEDIA_MS),
      ]);
    }
    const glare = await Promise.all(members.map((m) => m.page.evaluate(() => window.__glare)));
    t.diagnostic(`offer collisions seen (polite side applies the remote offer): ${JSON.stringify(glare)}`);
    // The data channel survived the renegotiations: the two still list each other.
    await waitForPeers(alice.page, [bob.name], 5_000);
    await waitForPeers(bob.page, [alice.name], 5_000);
    assertNoPageErrors(ctx.peers);
  });
});

test('a fourth peer joining after two cameras are on receives both videos', { timeout: TEST_MS }, async (t) => {
  await scenario('media-late-joiner', async (ctx) => {
    const { room, members } = await meshRoom(ctx, ['alice', 'bob', 'carol']);
    const [alice, bob, carol] = members;
    const cams = [alice, bob];
    await Promise.all(cams.map((m) => setToggle(cameraButton(m.page), true)));
    await waitForTileVideo(carol.page, alice.name, 'camera', { timeout: MEDIA_MS });
    await waitForTileVideo(carol.page, bob.name, 'camera', { timeout: MEDIA_MS });

    const { members: [dave] } = await meshRoom(ctx, ['dave'], { room, into: members });
    for (const cam of cams) {
      const size = await waitForTileVideo(dave.page, cam.name, 'camera', { timeout: MEDIA_MS });
      t.diagnostic(`${dave.name} (late) shows ${cam.name} (camera) at ${size.width}×${size.height}`);
      await waitForPeerState(dave.page, cam.name, /\bcamera on\b/i, MEDIA_MS);
    }
    assert.equal(await mediaTile(dave.page, carol.name, 'camera').count(), 0, `${dave.name} has no tile of ${carol.name}`);
    const flow = await assertFlowing([dave], cams, { kind: 'video', field: 'framesDecoded' });
    for (const line of flow) t.diagnostic(line);
    // The earlier members still receive each other after the newcomer's negotiation.
    await assertFlowing([carol], cams, { kind: 'video', field: 'framesDecoded' });
    // And dave (camera off) shows up nowhere as a tile.
    for (const m of members) assert.equal(await mediaTile(m.page, dave.name, 'camera').count(), 0);
    assertNoPageErrors(ctx.peers);
  });
});

test('with more people than the mesh carries video for, a status says it "works best with up to"', { timeout: TEST_MS }, async (t) => {
  await scenario('media-mesh-limit', async (ctx) => {
    const { members } = await meshRoom(ctx, ['alice', 'bob', 'carol', 'dave', 'erin', 'fred']);
    await setToggle(cameraButton(members[0].page), true);
    for (const m of members) {
      const status = m.page.getByRole('status').filter({ hasText: /works best with up to/i });
      await status.first().waitFor({ state: 'visible', timeout: MEDIA_MS }).catch(async (err) => {
        err.message += `; ${m.name}'s alerts/statuses: ${JSON.stringify((await mediaSnapshot(m.page)).alerts)}`;
        throw err;
      });
      if (m === members[0]) t.diagnostic(`${m.name}: ${await status.first().innerText()}`);
    }
    assertNoPageErrors(ctx.peers);
  });
});

/** Makes getUserMedia fail as when the user denies the camera and microphone. */
const DENY_MEDIA_SCRIPT = `
  if (navigator.mediaDevices) {
    navigator.mediaDevices.getUserMedia = () =>
      Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
  }
`;

test('a denied camera shows an alert in plain words and the toggle stays off', { timeout: TEST_MS }, async (t) => {
  await scenario('media-denied', async (ctx) => {
    const peer = await ctx.peer('denied', ctx.url, { goto: false });
    await peer.context.addInitScript(DENY_MEDIA_SCRIPT);
    await peer.page.goto(ctx.url, { waitUntil: 'load', timeout: 20_000 });
    await createRoom(peer.page);
    await cameraButton(peer.page).click();
    const alert = peer.page.getByRole('alert').filter({ hasText: /\S/ }).first();
    await alert.waitFor({ state: 'visible', timeout: MEDIA_MS });
    const text = (await alert.innerText()).trim();
    t.diagnostic(`alert: ${JSON.stringify(text)}`);
    assert.doesNotMatch(text, /NotAllowedError|DOMException|\[object|undefined|JsValue/, 'the alert is in plain words, not an exception dump');
    assert.match(text, /camera|permission|allow|denied|blocked/i, 'the alert says what went wrong');
    await waitPressed(cameraButton(peer.page), false, 5_000);
    assert.equal(await mediaTile(peer.page, 'You', 'camera').count(), 0, 'no own camera tile');
    assertNoPageErrors(ctx.peers);
  });
});

test('switching the microphone mid-call replaces the track without renegotiating', { timeout: TEST_MS }, async (t) => {
  await scenario('media-device-switch', async (ctx) => {
    const { members } = await meshRoom(ctx, ['alice', 'bob']);
    const [alice, bob] = members;
    await setToggle(micButton(alice.page), true);
    await waitForPeerState(bob.page, alice.name, /mic on/);
    // "mic on" arrives before the first RTP packet: the stream must already flow, or the
    // "before" sample below has no inbound stream to compare with.
    await waitFor(async () => {
      const s = await rtpStats(bob.page);
      return Object.values(s.inbound).some((e) => e.kind === 'audio' && e.packetsReceived > 0);
    }, { timeout: 10_000, what: 'bob to receive audio packets' });

    const picker = alice.page.getByRole('combobox', { name: 'Microphone device' });
    await picker.waitFor({ timeout: 10_000 });
    const options = await picker
      .locator('option')
      .evaluateAll((os) => os.map((o) => ({ value: o.value, label: o.textContent.trim() })));
    // What alice's connection sends, and what bob's connection was last negotiated with.
    const sentLabels = () =>
      alice.page.evaluate(() =>
        window.__pcs
          .filter((pc) => pc.connectionState === 'connected')
          .flatMap((pc) => pc.getSenders())
          .filter((s) => s.track && s.track.kind === 'audio')
          .map((s) => s.track.label),
      );
    const remoteSdps = () =>
      bob.page.evaluate(() =>
        window.__pcs.filter((pc) => pc.connectionState === 'connected').map((pc) => pc.remoteDescription?.sdp),
      );
    const before = await sentLabels();
    const target = options.find((o) => !/^(default|communications)$/.test(o.value) && !before.includes(o.label));
    assert.ok(target, `another microphone to pick: options ${JSON.stringify(options)}, sending ${JSON.stringify(before)}`);
    const sdpBefore = await remoteSdps();
    const statsBefore = await rtpStats(bob.page);

    await picker.selectOption(target.value);
    await waitFor(async () => (await sentLabels()).includes(target.label), {
      timeout: 10_000,
      what: `alice to send "${target.label}"`,
    });
    await sleep(1_500);
    const statsAfter = await rtpStats(bob.page);
    // The same inbound stream (same SSRC) keeps flowing, and nothing was renegotiated.
    const { growth, streams } = inboundGrowth(statsBefore, statsAfter, { kind: 'audio', field: 'packetsReceived' });
    t.diagnostic(`after switching to "${target.label}": ${growth} audio packets in ~1.5 s on ${streams} stream(s)`);
    assert.ok(streams >= 1 && growth > 20, `audio keeps arriving on the same stream: ${growth} packets`);
    assert.deepEqual(await remoteSdps(), sdpBefore, 'no renegotiation happened');
    assertNoPageErrors(ctx.peers);
  });
});
