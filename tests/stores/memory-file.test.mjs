// memoryStore and fileStore: the conformance checks on a controlled clock, and for the file its
// mode, its atomic writes (a killed writer leaves a valid file), its lock file (stale locks taken
// over, live ones waited for) and several processes racing for one lease.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { memoryStore, fileStore, IbkrAuthError } from '../../pkg/node.mjs';
import { checkStore } from './conformance.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkgUrl = pathToFileURL(path.join(here, '../../pkg/node.cjs')).href;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ibkr-auth-stores-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function controlledClock() {
  let now = 1_700_000_000_000;
  return { clock: () => now, advance: async (ms) => { now += ms; } };
}

let files = 0;
const newFile = () => path.join(dir, `store-${(files += 1)}.json`);

/** Runs a Node script (ESM) in a child process; resolves with its exit code, signal and output. */
function run(source, { killAfterMs } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', source], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', reject);
    if (killAfterMs) setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('close', (code, signal) => resolve({ code, signal, out, err, pid: child.pid }));
  });
}

test('memoryStore: the conformance checks', async (t) => {
  const c = controlledClock();
  const store = memoryStore({ clock: c.clock });
  await checkStore(t, () => store, { advance: c.advance });
});

test('memoryStore: separate stores do not share entries', async () => {
  const a = memoryStore();
  const b = memoryStore();
  await a.set('k', 'v', { ttlMs: 10_000 });
  assert.equal(await b.get('k'), null);
});

test('fileStore: the conformance checks', async (t) => {
  const c = controlledClock();
  const file = newFile();
  await checkStore(t, () => fileStore(file, { clock: c.clock }), { advance: c.advance });
  assert.equal(fs.existsSync(`${file}.lock`), false, 'the lock file is removed after use');
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith(path.basename(file)) && f !== path.basename(file)), [], 'no temporary files are left');
});

test('fileStore: two stores on one file see each other\'s entries', async () => {
  const file = newFile();
  await fileStore(file).set('k', 'v', { ttlMs: 10_000 });
  assert.equal(await fileStore(file).get('k'), 'v');
  assert.equal(await fileStore(file).setIfAbsent('k', 'w', { ttlMs: 10_000 }), false);
});

test('fileStore: the file has mode 0600, and stays valid JSON', async () => {
  const file = newFile();
  const s = fileStore(file);
  await s.set('a', 'b', { ttlMs: 10_000 });
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  await s.set('c', 'd', { ttlMs: 10_000 });
  assert.equal(fs.statSync(file).mode & 0o777, 0o600, 'after a rewrite too');
  const data = JSON.parse(fs.readFileSync(file, 'utf8'));
  assert.deepEqual(Object.keys(data.entries).sort(), ['a', 'c']);
});

test('fileStore: bad arguments throw INVALID_ARGUMENT', () => {
  for (const bad of [undefined, '', 42]) {
    assert.throws(() => fileStore(bad), (e) => e instanceof IbkrAuthError && e.code === 'INVALID_ARGUMENT' && /path/.test(e.message));
  }
});

test('fileStore: a file system failure rejects with NETWORK, naming the store', async () => {
  const s = fileStore(path.join(dir, 'no-such-directory', 'store.json'));
  await assert.rejects(s.set('k', 'v', { ttlMs: 1000 }), (e) => e instanceof IbkrAuthError && e.code === 'NETWORK' && /the token store \(file\) failed: ENOENT/.test(e.message));
});

test('fileStore: a writer killed mid-write leaves a valid file; its leftovers are ignored', async () => {
  const file = newFile();
  await fileStore(file).set('before', 'kept', { ttlMs: 600_000 });
  // A process that rewrites the file as fast as it can, killed at an arbitrary moment.
  const r = await run(`
    const { fileStore } = (await import(${JSON.stringify(pkgUrl)})).default;
    const s = fileStore(${JSON.stringify(file)});
    process.stdout.write('started\\n');
    for (let i = 0; ; i += 1) await s.set('k' + (i % 20), 'x'.repeat(5000) + i, { ttlMs: 600_000 });
  `, { killAfterMs: 700 });
  assert.equal(r.signal, 'SIGKILL', r.err);
  assert.match(r.out, /started/);
  // Whatever it left (a temporary file, its lock), the file parses and the store works on.
  fs.writeFileSync(`${file}.99999.deadbeef.tmp`, '{"version":1,"entries":{"half');
  JSON.parse(fs.readFileSync(file, 'utf8'));
  const s = fileStore(file);
  assert.equal(await s.get('before'), 'kept');
  const t0 = Date.now();
  await s.set('after', 'ok', { ttlMs: 600_000 });
  assert.ok(Date.now() - t0 < 5000, 'a dead writer\'s lock is taken over at once');
  assert.equal(await s.get('after'), 'ok');
  assert.equal(fs.existsSync(`${file}.lock`), false);
});

test('fileStore: a lock whose process died is taken over', async () => {
  const file = newFile();
  const dead = await run('process.exit(0)');
  fs.writeFileSync(`${file}.lock`, `${dead.pid} ${Date.now()} 000000`);
  const t0 = Date.now();
  assert.equal(await fileStore(file).setIfAbsent('k', 'v', { ttlMs: 10_000 }), true);
  assert.ok(Date.now() - t0 < 2000);
  assert.equal(fs.existsSync(`${file}.lock`), false);
});

test('fileStore: a lock older than 10 s is taken over even if its process lives', async () => {
  const file = newFile();
  fs.writeFileSync(`${file}.lock`, `${process.pid} ${Date.now() - 11_000} 000000`);
  assert.equal(await fileStore(file).setIfAbsent('k', 'v', { ttlMs: 10_000 }), true);
  assert.equal(fs.existsSync(`${file}.lock`), false);
});

test('fileStore: a live lock is waited for', async () => {
  const file = newFile();
  fs.writeFileSync(`${file}.lock`, `${process.pid} ${Date.now()} 000000`);
  let done = false;
  const p = fileStore(file).set('k', 'v', { ttlMs: 10_000 }).then(() => { done = true; });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(done, false, 'set waits while the lock is held');
  fs.unlinkSync(`${file}.lock`);
  await p;
  assert.equal(await fileStore(file).get('k'), 'v');
});

test('fileStore: 4 processes racing setIfAbsent on the same keys: exactly one winner per key', async () => {
  const file = newFile();
  const keys = 10;
  const start = Date.now() + 1500; // all four start together, once loaded
  const racer = `
    const { fileStore } = (await import(${JSON.stringify(pkgUrl)})).default;
    const s = fileStore(${JSON.stringify(file)});
    await new Promise((r) => setTimeout(r, Math.max(0, ${start} - Date.now())));
    const won = [];
    for (let k = 0; k < ${keys}; k += 1) if (await s.setIfAbsent('lease-' + k, String(process.pid), { ttlMs: 60_000 })) won.push(k);
    process.stdout.write(JSON.stringify({ pid: process.pid, won }));
  `;
  const results = await Promise.all([1, 2, 3, 4].map(() => run(racer)));
  for (const r of results) assert.equal(r.code, 0, r.err);
  const outs = results.map((r) => JSON.parse(r.out));
  const store = fileStore(file);
  for (let k = 0; k < keys; k += 1) {
    const winners = outs.filter((o) => o.won.includes(k));
    assert.equal(winners.length, 1, `lease-${k}: ${winners.length} winners`);
    assert.equal(await store.get(`lease-${k}`), String(winners[0].pid), `lease-${k} holds its winner's value`);
  }
});
