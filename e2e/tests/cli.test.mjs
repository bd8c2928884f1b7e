// The native peer (`hush`) end to end, through the real helper, inside the loopback-only
// namespace: CLI to CLI (a big file and a folder, with SHA-256s), chat both ways, the CLI with
// the browser app both ways, and the documented error exits.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync, existsSync, readdirSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { scenario, startHelper, token, waitFor, STEP_MS } from '../lib/harness.mjs';
import { EXIT, exitCode, hush, killAll } from '../lib/cli.mjs';
import { GENERATED_ROOM, joinByLink, peerItems, sendMessage, setName, waitForMessages } from '../lib/hush.mjs';
import {
  MiB,
  cardButton,
  fileCard,
  fileSha256,
  offerFiles,
  opfsSha256,
  sha256,
  tempDir,
  useSavePath,
  waitForCardState,
  waitForSaved,
  writePatternFile,
} from '../lib/files.mjs';

const TEST_MS = 300_000;
/** 100 MiB and a little: not a multiple of the record size. */
const BIG = 100 * MiB + 12_345;
const room = () => `cli test room ${token(8)}`;

/** SHA-256 of every file under `dir`, by relative path. */
function treeHashes(dir, base = dir, out = {}) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) treeHashes(p, base, out);
    else out[path.relative(base, p)] = sha256(readFileSync(p));
  }
  return out;
}

test('CLI to CLI: a 100 MiB file and a folder of nested files arrive intact', { timeout: TEST_MS }, async () => {
  const helper = await startHelper();
  const src = tempDir('hush-cli-src-');
  const dst = tempDir('hush-cli-dst-');
  try {
    const big = await writePatternFile(src.file('big.bin'), BIG);
    const tree = src.file('photos');
    mkdirSync(path.join(tree, '2024', 'summer'), { recursive: true });
    writeFileSync(path.join(tree, 'index.txt'), 'top\n');
    writeFileSync(path.join(tree, '2024', 'a.txt'), 'a\n'.repeat(1000));
    writeFileSync(path.join(tree, '2024', 'summer', 'beach.jpg'), Buffer.alloc(70_000, 7));
    writeFileSync(path.join(tree, '2024', 'summer', 'empty'), '');
    const name = room();
    const sender = hush(['send', name, big.path, tree, '--once'], { helperUrl: helper.url, name: 'laptop' });
    const receiver = hush(['receive', name, '--dir', dst.dir, '--json'], { helperUrl: helper.url, name: 'server' });
    const started = Date.now();
    assert.equal(await exitCode(receiver, 180_000), EXIT.OK, `receiver: ${receiver.stderr()}${receiver.stdout()}`);
    const ms = Date.now() - started;
    assert.equal(await exitCode(sender, 30_000), EXIT.OK, `sender exits after --once: ${sender.stderr()}`);
    assert.equal((await fileSha256(dst.file('big.bin'))).sha256, big.sha256, 'the big file matches');
    assert.deepEqual(treeHashes(path.join(dst.dir, 'photos')), treeHashes(tree), 'the folder is recreated');
    const events = receiver.stdout().trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(events.filter((e) => e.event === 'received').length, 5, 'one JSON event per file received');
    assert.ok(!readdirSync(dst.dir).some((f) => f.includes('hush-partial')), 'no temporary file is left');
    console.log(`# CLI→CLI: ${(BIG / 1e6 / (ms / 1000)).toFixed(1)} MB/s for 100 MiB including the join`);
  } finally {
    killAll();
    src.remove();
    dst.remove();
    await helper.stop();
  }
});

test('CLI to CLI: a pipe of unknown size, received on standard output', { timeout: TEST_MS }, async () => {
  const helper = await startHelper();
  try {
    // Not a multiple of the record size; then one that is (it ends with an empty record).
    for (const size of [5 * MiB + 3, 2 * 64 * 1024]) {
      const name = room();
      const data = Buffer.alloc(size);
      for (let i = 0; i + 4 <= size; i += 4096) data.writeUInt32LE((i * 2654435761) >>> 0, i);
      const sender = hush(['send', name, '-', '--stdin-name', 'backup.tar'], { helperUrl: helper.url, name: 'pipe in' });
      // A sender that exits early closes its input: its exit code says why, not EPIPE.
      sender.child.stdin.on('error', () => {});
      sender.child.stdin.end(data);
      const receiver = hush(['receive', name, '--stdout'], { helperUrl: helper.url, name: 'pipe out' });
      assert.equal(await exitCode(receiver, 60_000), EXIT.OK, `receiver: ${receiver.stderr()}\nsender: ${sender.stderr()}`);
      assert.equal(await exitCode(sender, 20_000), EXIT.OK, `the sender exits once its input was delivered: ${sender.stderr()}`);
      assert.equal(receiver.stdoutBytes().length, size);
      assert.equal(sha256(receiver.stdoutBytes()), sha256(data), 'the pipe arrives intact');
      assert.match(receiver.stderr(), /receiving backup\.tar/);
    }
  } finally {
    killAll();
    await helper.stop();
  }
});

test('CLI to CLI: a download killed half-way resumes, and a changed file starts over', { timeout: TEST_MS }, async () => {
  const helper = await startHelper();
  const src = tempDir('hush-cli-resume-src-');
  const dst = tempDir('hush-cli-resume-dst-');
  try {
    const file = await writePatternFile(src.file('video.mkv'), 60 * MiB + 1234);
    const partial = path.join(dst.dir, '.video.mkv.hush-partial');
    const name = room();
    const sender = hush(['send', name, file.path], { helperUrl: helper.url, name: 'nas' });
    /** Starts a receiver, kills it once the partial file holds `mib` MiB; returns its size. */
    const interrupt = async (mib) => {
      const r = hush(['receive', name, '--dir', dst.dir, '--json'], { helperUrl: helper.url, name: 'laptop' });
      await waitFor(() => (statSync(partial, { throwIfNoEntry: false })?.size ?? 0) >= mib * MiB, {
        timeout: 60_000,
        interval: 20,
        what: `${mib} MiB received`,
      }).catch((e) => {
        e.message += `\nreceiver: ${r.stdout()}${r.stderr()}\nsender: ${sender.stderr()}`;
        throw e;
      });
      r.kill();
      await exitCode(r, 10_000);
      return statSync(partial).size;
    };
    const held = await interrupt(20);
    assert.ok(held < file.size, 'killed before the end');
    const resumed = hush(['receive', name, '--dir', dst.dir, '--json'], { helperUrl: helper.url, name: 'laptop' });
    assert.equal(await exitCode(resumed, 120_000), EXIT.OK, resumed.stderr() + resumed.stdout());
    const events = resumed.stdout().trim().split('\n').map((l) => JSON.parse(l));
    const from = events.find((e) => e.event === 'receiving')?.resume_from;
    assert.ok(from > 0 && from <= held, `continued after ${from} of the ${held} bytes held`);
    assert.equal((await fileSha256(path.join(dst.dir, 'video.mkv'))).sha256, file.sha256, 'the resumed file matches');
    assert.ok(!existsSync(partial), 'the temporary file is gone');
    console.log(`# resumed after ${(from / MiB).toFixed(1)} MiB of ${(file.size / MiB).toFixed(1)} MiB`);

    // The sender's file changes while a download is interrupted: the receiver's bytes no longer
    // match, so the next download starts over (and gets the new content).
    const dst2 = path.join(dst.dir, 'again');
    mkdirSync(dst2);
    const partial2 = path.join(dst2, '.video.mkv.hush-partial');
    const r1 = hush(['receive', name, '--dir', dst2], { helperUrl: helper.url, name: 'laptop' });
    await waitFor(() => (statSync(partial2, { throwIfNoEntry: false })?.size ?? 0) >= 10 * MiB, { timeout: 60_000, interval: 20, what: '10 MiB received' });
    r1.kill();
    await exitCode(r1, 10_000);
    const fh = await open(file.path, 'r+');
    await fh.write(Buffer.from('changed!'), 0, 8, 100);
    await fh.close();
    const changed = await fileSha256(file.path);
    const r2 = hush(['receive', name, '--dir', dst2], { helperUrl: helper.url, name: 'laptop' });
    assert.equal(await exitCode(r2, 120_000), EXIT.OK, r2.stderr());
    assert.equal((await fileSha256(path.join(dst2, 'video.mkv'))).sha256, changed.sha256, 'the new content, whole');
    sender.kill();
  } finally {
    killAll();
    src.remove();
    dst.remove();
    await helper.stop();
  }
});

test('hush room new: a fresh name, its link and a QR code of it', { timeout: 30_000 }, async () => {
  const made = hush(['room', 'new', '--app', 'http://192.168.1.10:8080/']);
  assert.equal(await exitCode(made, 10_000), EXIT.OK, made.stderr());
  const [name, link, ...qr] = made.stdout().split('\n');
  assert.match(name, GENERATED_ROOM);
  assert.equal(link, `http://192.168.1.10:8080/#/r/${name}`);
  assert.ok(qr.filter((l) => /[█▀▄]/.test(l)).length >= 10, 'a QR code drawn in the terminal');
  const again = hush(['room', 'new', '--json']);
  assert.equal(await exitCode(again, 10_000), EXIT.OK);
  const ev = JSON.parse(again.stdout());
  assert.match(ev.name, GENERATED_ROOM);
  assert.notEqual(ev.name, name, 'every name is fresh');
});

test('CLI chat: lines go both ways and end of input leaves', { timeout: TEST_MS }, async () => {
  const helper = await startHelper();
  try {
    const name = room();
    const a = hush(['chat', name], { helperUrl: helper.url, name: 'Ann' });
    const b = hush(['chat', name], { helperUrl: helper.url, name: 'Bob' });
    await a.waitFor(/Bob joined/, 20_000, 'stderr');
    await b.waitFor(/Ann joined/, 20_000, 'stderr');
    a.write('hello from ann\n');
    await b.waitFor(/^Ann: hello from ann$/m);
    b.write('hi ann, bob here\n');
    await a.waitFor(/^Bob: hi ann, bob here$/m);
    a.end();
    assert.equal(await exitCode(a, 10_000), EXIT.OK);
    await b.waitFor(/Ann left/, 10_000, 'stderr');
    b.end();
    assert.equal(await exitCode(b, 10_000), EXIT.OK);
  } finally {
    killAll();
    await helper.stop();
  }
});

test('CLI with the browser: the browser lists it, files and chat both ways', { timeout: TEST_MS }, async () => {
  const src = tempDir('hush-cli-br-');
  try {
    await scenario('cli-browser', async (ctx) => {
      const name = room();
      const fromCli = await writePatternFile(src.file('from-cli.bin'), 3 * MiB + 777);
      const chat = hush(['chat', name], { helperUrl: ctx.url, name: 'hush on testbox' });
      const sender = hush(['send', name, fromCli.path, '--once'], { helperUrl: ctx.url, name: 'cli sender' });
      const alice = await ctx.peer('alice', undefined, { goto: false });
      await useSavePath(alice.context, 'opfs');
      await joinByLink(alice.page, ctx.url, name);
      await setName(alice.page, 'Alice');
      await waitFor(async () => {
        const names = (await peerItems(alice.page)).map((p) => p.name ?? p);
        return JSON.stringify(names).includes('hush on testbox') && JSON.stringify(names).includes('cli sender');
      }, { timeout: 30_000, what: 'the browser to list both CLI peers by name' });

      // Chat both ways.
      await chat.waitFor(/Alice joined|joined/, 20_000, 'stderr');
      await sendMessage(alice.page, 'hello terminal');
      await chat.waitFor(/^Alice: hello terminal$/m);
      chat.write('hello browser\n');
      await waitForMessages(alice.page, ['hello browser']);

      // CLI → browser.
      await waitForCardState(alice.page, 'from-cli.bin', 'offered');
      await cardButton(alice.page, 'from-cli.bin', 'Download').click();
      const [rec] = await waitForSaved(alice.page, 1);
      await waitForCardState(alice.page, 'from-cli.bin', 'verified', { timeout: 60_000 }).catch((e) => {
        // What the sending CLI said is the other half of a failed transfer.
        e.message += `\nsender stderr:\n${sender.stderr().slice(-3000)}`;
        throw e;
      });
      assert.deepEqual(await opfsSha256(alice.page, rec.opfsName), { sha256: fromCli.sha256, size: fromCli.size });
      assert.equal(await exitCode(sender, 30_000), EXIT.OK, 'the sender exits once the browser has the file');

      // A pipe (size unknown until it ends) CLI → browser.
      const piped = Buffer.alloc(MiB + 4321, 0x5a);
      const pipe = hush(['send', name, '-', '--stdin-name', 'piped.log'], { helperUrl: ctx.url, name: 'cli pipe' });
      pipe.child.stdin.on('error', () => {});
      pipe.child.stdin.end(piped);
      await waitForCardState(alice.page, 'piped.log', 'offered');
      assert.match(await fileCard(alice.page, 'piped.log').innerText(), /size unknown/);
      await cardButton(alice.page, 'piped.log', 'Download').click();
      const [, pipedRec] = await waitForSaved(alice.page, 2);
      await waitForCardState(alice.page, 'piped.log', 'verified', { timeout: 60_000 });
      assert.deepEqual(await opfsSha256(alice.page, pipedRec.opfsName), { sha256: sha256(piped), size: piped.length });
      assert.equal(await exitCode(pipe, 30_000), EXIT.OK);

      // Browser → CLI.
      const payload = Buffer.alloc(2 * MiB + 99);
      for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + 7) & 0xff;
      const dst = src.file('in');
      mkdirSync(dst);
      const receiver = hush(['receive', name, '--dir', dst], { helperUrl: ctx.url, name: 'cli receiver' });
      await offerFiles(alice.page, [{ name: 'from-browser.bin', mimeType: 'application/octet-stream', buffer: payload }]);
      assert.equal(await exitCode(receiver, 60_000), EXIT.OK, `receiver: ${receiver.stderr()}`);
      assert.equal(sha256(readFileSync(path.join(dst, 'from-browser.bin'))), sha256(payload));
      chat.end();
      assert.equal(await exitCode(chat, 10_000), EXIT.OK);
    });
  } finally {
    killAll();
    src.remove();
  }
});

test('CLI errors: the sender leaves mid-transfer, the disk fills up', { timeout: TEST_MS }, async (t) => {
  const helper = await startHelper();
  const src = tempDir('hush-cli-fail-src-');
  const dst = tempDir('hush-cli-fail-dst-');
  try {
    const file = await writePatternFile(src.file('big.bin'), 80 * MiB);
    const name = room();
    // The sender is killed once a quarter has arrived: the receiver says so and exits 6,
    // keeping what verified for a later resume.
    const sender = hush(['send', name, file.path], { helperUrl: helper.url, name: 'leaver' });
    const receiver = hush(['receive', name, '--dir', dst.dir], { helperUrl: helper.url });
    const partial = path.join(dst.dir, '.big.bin.hush-partial');
    await waitFor(() => (statSync(partial, { throwIfNoEntry: false })?.size ?? 0) >= 20 * MiB, { timeout: 60_000, interval: 20, what: '20 MiB received' });
    sender.kill();
    assert.equal(await exitCode(receiver, 60_000), EXIT.TRANSFER, receiver.stderr());
    assert.match(receiver.stderr(), /big\.bin: .*(left|interrupted)/);
    assert.ok(!existsSync(path.join(dst.dir, 'big.bin')), 'no file under its name');

    // A 4 MiB disk (a tmpfs inside the test namespace) and a 6 MiB file: exit 7.
    const small = path.join(dst.dir, 'small-disk');
    mkdirSync(small);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', small]);
    } catch (e) {
      t.skip(`cannot mount a tmpfs here (${e.message.split('\n')[0]}); run inside the e2e namespace`);
      return;
    }
    try {
      const six = await writePatternFile(src.file('six.bin'), 6 * MiB);
      const room2 = room();
      const s2 = hush(['send', room2, six.path], { helperUrl: helper.url, name: 'sender' });
      const full = hush(['receive', room2, '--dir', small], { helperUrl: helper.url });
      assert.equal(await exitCode(full, 60_000), EXIT.DISK_FULL, full.stderr());
      assert.match(full.stderr(), /the disk is full/);
      s2.kill();
    } finally {
      execFileSync('umount', [small]);
    }
  } finally {
    killAll();
    src.remove();
    dst.remove();
    await helper.stop();
  }
});

test('CLI to browser: a folder lands in the folder the browser chose, tree and all', { timeout: TEST_MS }, async () => {
  const src = tempDir('hush-cli-folder-');
  try {
    await scenario('cli-browser-folder', async (ctx) => {
      const name = room();
      const tree = src.file('notes');
      mkdirSync(path.join(tree, 'week 1', 'day'), { recursive: true });
      const files = {
        'notes/a.txt': 'alpha\n',
        'notes/week 1/b.md': '# bee\n'.repeat(50),
        'notes/week 1/day/c.bin': 'c'.repeat(70_000),
      };
      for (const [rel, body] of Object.entries(files)) writeFileSync(path.join(src.dir, rel), body);
      const sender = hush(['send', name, tree, '--once'], { helperUrl: ctx.url, name: 'cli folder' });
      const alice = await ctx.peer('alice', undefined, { goto: false });
      // The folder dialog, answered with a folder of the page's private file system; it
      // counts how often it was opened.
      await alice.context.addInitScript(`window.__pickerCalls = 0;
        window.showDirectoryPicker = async () => {
          window.__pickerCalls++;
          await new Promise((r) => setTimeout(r, 300));
          return (await navigator.storage.getDirectory()).getDirectoryHandle('picked', { create: true });
        };`);
      await joinByLink(alice.page, ctx.url, name);
      // Every file at once: the downloads share one folder dialog.
      for (const rel of Object.keys(files)) await waitForCardState(alice.page, rel, 'offered');
      for (const rel of Object.keys(files)) await cardButton(alice.page, rel, 'Download').click();
      for (const rel of Object.keys(files)) await waitForCardState(alice.page, rel, 'verified', { timeout: 60_000 });
      assert.equal(await alice.page.evaluate(() => window.__pickerCalls), 1, 'one folder dialog for the whole folder');
      const saved = await alice.page.evaluate(async (paths) => {
        const out = {};
        for (const p of paths) {
          let dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('picked');
          const parts = p.split('/');
          for (const d of parts.slice(0, -1)) dir = await dir.getDirectoryHandle(d);
          out[p] = await (await (await dir.getFileHandle(parts.at(-1))).getFile()).text();
        }
        return out;
      }, Object.keys(files));
      assert.deepEqual(saved, files, 'every file in its place in the chosen folder');
      assert.equal(await exitCode(sender, 30_000), EXIT.OK);
    });
  } finally {
    killAll();
    src.remove();
  }
});

test('browser to CLI: an interrupted download resumes from what the CLI holds', { timeout: TEST_MS }, async () => {
  const src = tempDir('hush-cli-br-resume-');
  try {
    await scenario('cli-browser-resume', async (ctx) => {
      const name = room();
      const file = await writePatternFile(src.file('talk.webm.bin'), 48 * MiB + 4321);
      const dst = src.file('in');
      mkdirSync(dst);
      const partial = path.join(dst, '.talk.webm.bin.hush-partial');
      const alice = await ctx.peer('alice', undefined, { goto: false });
      await joinByLink(alice.page, ctx.url, name);
      await offerFiles(alice.page, [file.path]);
      const first = hush(['receive', name, '--dir', dst], { helperUrl: ctx.url, name: 'phone' });
      await waitFor(() => (statSync(partial, { throwIfNoEntry: false })?.size ?? 0) >= 12 * MiB, {
        timeout: 60_000,
        interval: 20,
        what: '12 MiB received',
      });
      first.kill();
      await exitCode(first, 10_000);
      const held = statSync(partial).size;
      assert.ok(held < file.size, 'killed before the end');
      const again = hush(['receive', name, '--dir', dst, '--json'], { helperUrl: ctx.url, name: 'phone' });
      assert.equal(await exitCode(again, 120_000), EXIT.OK, again.stderr() + again.stdout());
      const events = again.stdout().trim().split('\n').map((l) => JSON.parse(l));
      const from = events.find((e) => e.event === 'receiving')?.resume_from;
      assert.ok(from > 0 && from <= held, `continued after ${from} of the ${held} bytes held`);
      assert.equal((await fileSha256(path.join(dst, 'talk.webm.bin'))).sha256, file.sha256, 'the resumed file matches');
      console.log(`# browser→CLI resumed after ${(from / MiB).toFixed(1)} of ${(file.size / MiB).toFixed(1)} MiB`);
    });
  } finally {
    killAll();
    src.remove();
  }
});

test('CLI errors: wrong room, empty room, no tracker, existing target, too many files', { timeout: TEST_MS }, async () => {
  const helper = await startHelper();
  const dir = tempDir('hush-cli-err-');
  try {
    // No tracker reachable (nothing listens on port 9 here).
    const dead = hush(['receive', room(), '--dir', dir.dir, '--tracker', 'ws://127.0.0.1:9/announce', '--wait', '20']);
    assert.equal(await exitCode(dead, 20_000), EXIT.NO_TRACKER, dead.stderr());
    assert.match(dead.stderr(), /no tracker could be reached/);

    // A wrong room name is an empty room: the sender's files never show up.
    const name = room();
    writeFileSync(dir.file('doc.txt'), 'the original\n');
    const sender = hush(['send', name, dir.file('doc.txt')], { helperUrl: helper.url, name: 'sender' });
    const wrong = hush(['receive', `${name} typo`, '--dir', dir.dir, '--wait', '4'], { helperUrl: helper.url });
    assert.equal(await exitCode(wrong, 30_000), EXIT.NOBODY, wrong.stderr());
    assert.match(wrong.stderr(), /nobody joined within 4 s: check the room name/);

    // The right name, but the file exists: refused, the original untouched, no partial file.
    const exists = hush(['receive', name, '--dir', dir.dir, '--wait', '20'], { helperUrl: helper.url });
    assert.equal(await exitCode(exists, 30_000), EXIT.EXISTS, exists.stderr());
    assert.match(exists.stderr(), /doc\.txt exists; not overwritten/);
    assert.equal(readFileSync(dir.file('doc.txt'), 'utf8'), 'the original\n');
    assert.ok(!readdirSync(dir.dir).some((f) => f.includes('hush-partial')));

    // --overwrite replaces it (with the same bytes here, through a full transfer).
    writeFileSync(dir.file('other.txt'), 'x');
    const over = hush(['receive', name, '--dir', dir.dir, '--overwrite', '--only', 'doc.*'], { helperUrl: helper.url });
    assert.equal(await exitCode(over, 30_000), EXIT.OK, over.stderr());
    assert.equal(readFileSync(dir.file('doc.txt'), 'utf8'), 'the original\n');
    sender.kill();

    // Nobody at all in the room before --wait runs out.
    const empty = hush(['receive', room(), '--dir', dir.dir, '--wait', '2'], { helperUrl: helper.url });
    assert.equal(await exitCode(empty, 20_000), EXIT.NOBODY);
    assert.ok(existsSync(dir.file('doc.txt')));

    // A folder of more files than a receiver takes from one sender is refused whole, before
    // joining, with the way out, rather than arriving incomplete.
    const many = path.join(dir.dir, 'many');
    mkdirSync(many);
    for (let i = 0; i <= 256; i++) writeFileSync(path.join(many, `f${i}`), '');
    const tooMany = hush(['send', room(), many], { helperUrl: helper.url });
    assert.equal(await exitCode(tooMany, 20_000), EXIT.USAGE, tooMany.stderr());
    assert.match(tooMany.stderr(), /more than 256 files to send.*tar c DIR \| hush send ROOM -/s);
  } finally {
    killAll();
    dir.remove();
    await helper.stop();
  }
});
