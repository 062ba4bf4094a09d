// A fleet: several real processes (tests/fleet/worker.mjs) share one account through a real
// `redis-server` (or a file), against the simulator, through the packed package. What counts is
// what the simulator saw: how many handshakes, inits and tickles the whole fleet made.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createClient } from 'redis';
import { generateKeys, Simulator } from '../../sim/server.mjs';
import { startRedis } from '../stores/redis-server.mjs';
import { killWorkers, startWorker } from './processes.mjs';

let redis;
let admin;
let sim;
let cfg;

before(async () => {
  redis = await startRedis();
  admin = createClient({ url: redis.url });
  admin.on('error', () => {});
  await admin.connect();
  sim = await new Simulator({ rateLimits: false }).start();
  cfg = sim.clientConfig();
});

after(async () => {
  killWorkers();
  await admin?.quit().catch(() => {});
  await redis?.stop();
  await sim?.close();
});

let prefixes = 0;
/** A store namespace of its own for each test (the account, hence its keys, is the same). */
const fresh = () => ({ kind: 'redis', url: redis.url, prefix: `t${++prefixes}:` });

/** Starts a worker process (processes.mjs); `send(cmd)` resolves to its answer. */
const worker = ({ config = cfg, store, options = {} }) => startWorker({ config, store, options });

async function fleet(n, o) {
  return Promise.all(Array.from({ length: n }, () => worker(o)));
}

/** Runs `n` concurrent calls in each worker at once; every one must succeed. */
async function callsEverywhere(ws, n, o = {}) {
  const answers = await Promise.all(ws.map((w) => w.send({ cmd: 'calls', n, ...o })));
  answers.forEach((a, i) => assert.deepEqual([a.ok, a.errors], [n, []], `worker ${i}: ${JSON.stringify(a)}`));
  return answers;
}

const handshakes = (s = sim) => s.count('handshake');

test('4 processes × 25 concurrent callers make one handshake between them (Redis)', { timeout: 90_000 }, async () => {
  const store = fresh();
  const before = handshakes();
  const ws = await fleet(4, { store });
  await callsEverywhere(ws, 25);
  assert.equal(handshakes() - before, 1);

  // The token IBKR expires: one more handshake for the whole fleet, no call fails.
  sim.expireTokens();
  await callsEverywhere(ws, 25);
  assert.equal(handshakes() - before, 2);

  // A process that joins later uses the stored token: no handshake.
  const late = await worker({ store });
  await callsEverywhere([late], 5);
  assert.equal(handshakes() - before, 2);
  await Promise.all([...ws, late].map((w) => w.exit()));
});

test('the same with a file store: 4 processes, one handshake', { timeout: 90_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ibkr-auth-fleet-'));
  const store = { kind: 'file', path: path.join(dir, 'tokens.json') };
  const before = handshakes();
  const ws = await fleet(4, { store });
  await callsEverywhere(ws, 10);
  assert.equal(handshakes() - before, 1);
  assert.equal(fs.statSync(store.path).mode & 0o777, 0o600);
  await Promise.all(ws.map((w) => w.exit()));
});

test('a process that joins later uses the stored token, and a stale 401 is a retry, not a handshake', { timeout: 90_000 }, async () => {
  const store = fresh();
  const before = handshakes();
  const [a] = await fleet(1, { store });
  await callsEverywhere([a], 3);
  const b = await worker({ store });
  await callsEverywhere([b], 3);
  assert.equal(handshakes() - before, 1, 'b adopted the stored token');

  // A scheduled refresher renews the token ahead of expiry; IBKR then refuses the old one,
  // so a and b see a 401 on the generation before: they pick up the new token, no handshake.
  const refresher = await worker({ store });
  const r = await refresher.send({ cmd: 'refresh', withinMs: 25 * 3600_000 });
  assert.ok(r.refresh, JSON.stringify(r));
  assert.equal(r.refresh.refreshed, true);
  assert.equal(handshakes() - before, 2);
  await callsEverywhere([a, b], 5);
  assert.equal(handshakes() - before, 2, 'the 401 on the old token did not start another handshake');
  // Nothing to do when the token is good for longer than asked.
  const again = await refresher.send({ cmd: 'refresh', withinMs: 3600_000 });
  assert.equal(again.refresh.refreshed, false);
  assert.equal(handshakes() - before, 2);
  await Promise.all([a, b, refresher].map((w) => w.exit()));
});

test('the lease holder killed mid-handshake: another process takes over when the lease expires', { timeout: 90_000 }, async () => {
  const slow = await new Simulator({ keys: sim.keys, rateLimits: false }).start();
  try {
    const store = fresh();
    const config = slow.clientConfig();
    slow.fault({ kind: 'delay', path: '/oauth/live_session_token', ms: 8_000 });
    const holder = await worker({ config, store, options: { storeLeaseMs: 4000 } });
    const stuck = holder.send({ cmd: 'calls', n: 1 }).catch(() => null);
    // Wait until the holder, with the lease, has sent its handshake; then kill it.
    for (let i = 0; !slow.log.some((e) => e.path.endsWith('/oauth/live_session_token')); i++) {
      assert.ok(i < 400, 'the holder never sent its handshake');
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal((await admin.keys(`${store.prefix}*:lease`)).length, 1, 'the holder has the lease');
    // Another process asks while the holder lives: it waits; then the holder dies.
    const other = await worker({ config, store, options: { storeLeaseMs: 1500, storeWaitMs: 20_000 } });
    const asked = other.send({ cmd: 'calls', n: 3 });
    await new Promise((r) => setTimeout(r, 200));
    holder.kill();
    await stuck;
    const answer = await asked;
    assert.deepEqual([answer.ok, answer.errors], [3, []], JSON.stringify(answer));
    assert.ok(answer.ms >= 1000, `it took over at once (${answer.ms} ms): it did not wait for the lease`);
    const sent = slow.log.filter((e) => e.path.endsWith('/oauth/live_session_token')).length;
    assert.equal(sent, 2, "the dead holder's handshake, then the one that took over");
    await other.exit();
  } finally {
    await slow.close();
  }
});

test('a tampered entry is ignored with a warning and replaced by a fresh handshake', { timeout: 90_000 }, async () => {
  const store = fresh();
  const before = handshakes();
  const a = await worker({ store });
  await callsEverywhere([a], 2);
  const [key] = await admin.keys(`${store.prefix}*:token`);
  const value = await admin.get(key);
  const flipped = value.slice(0, 20) + (value[20] === 'A' ? 'B' : 'A') + value.slice(21);
  await admin.set(key, flipped, { PX: 60_000 });
  const b = await worker({ store });
  const [answer] = await callsEverywhere([b], 2);
  assert.ok(answer.warnings.some((w) => /does not open with its key/.test(w)), JSON.stringify(answer.warnings));
  assert.equal(handshakes() - before, 2);
  await Promise.all([a, b].map((w) => w.exit()));
});

test('a second account on the same store never gets the first one\'s token', { timeout: 90_000 }, async () => {
  const other = await new Simulator({ keys: generateKeys(), rateLimits: false, consumerKey: 'SECONDCON' }).start();
  try {
    const store = fresh();
    const first = await worker({ store });
    await callsEverywhere([first], 2);
    const before = handshakes(other);
    const second = await worker({ config: other.clientConfig(), store });
    await callsEverywhere([second], 5);
    assert.equal(handshakes(other) - before, 1, 'the second account made its own handshake');
    const tokenKeys = await admin.keys(`${store.prefix}*:token`);
    assert.equal(tokenKeys.length, 2);
    // No key names the account; no value holds a token in the clear.
    const { token } = await first.send({ cmd: 'lst' });
    for (const k of await admin.keys(`${store.prefix}*`)) {
      assert.ok(!k.includes(cfg.consumerKey) && !k.includes(cfg.accessToken), k);
      const v = (await admin.get(k)) ?? '';
      assert.ok(!token || !v.includes(token), 'a stored value holds the LST');
    }
    await Promise.all([first, second].map((w) => w.exit()));
  } finally {
    await other.close();
  }
});

test('the brokerage session is initialised once and tickled once per interval for the fleet', { timeout: 90_000 }, async () => {
  const store = fresh();
  const ws = await fleet(3, { store });
  await callsEverywhere(ws, 1);
  const inits = sim.count('init');
  const tickles = sim.count('tickle');
  await Promise.all(ws.map((w) => w.send({ cmd: 'init' })));
  assert.equal(sim.count('init') - inits, 1, 'one ssodh/init for three processes');
  const rounds = await Promise.all(ws.map((w) => w.send({ cmd: 'keepAlive' })));
  assert.equal(sim.count('tickle') - tickles, 1, 'one tickle for three processes');
  assert.equal(rounds.filter((r) => r.keepAlive.skipped).length, 2, JSON.stringify(rounds));
  await Promise.all(ws.map((w) => w.exit()));
});

test('Redis restarted mid-run: no call fails; the fleet shares again once it is back', { timeout: 90_000 }, async () => {
  const store = fresh();
  const options = { storeTimeoutMs: 500 };
  const [a, b] = await fleet(2, { store, options });
  await callsEverywhere([a, b], 5);
  await redis.stop();
  // Tokens in hand: calls go on without the store.
  await callsEverywhere([a, b], 5);
  // A process that starts while the store is down makes its own token, with a warning.
  const c = await worker({ store, options }).catch((e) => e);
  assert.ok(!(c instanceof Error), 'a worker could not start while Redis is down');
  const [answer] = await callsEverywhere([c], 3);
  assert.ok(answer.warnings.some((w) => /token store/.test(w)), JSON.stringify(answer.warnings));
  await redis.start();
  await new Promise((r) => setTimeout(r, 6_000)); // past the 5 s a session leaves a failed store alone
  const before = handshakes();
  await callsEverywhere([a, b, c], 5);
  assert.ok(handshakes() - before <= 1, `${handshakes() - before} handshakes after the restart`);
  sim.expireTokens();
  const expired = handshakes();
  await callsEverywhere([a, b, c], 5);
  assert.equal(handshakes() - expired, 1, 'one handshake for the fleet again');
  await Promise.all([a, b, c].map((w) => w.exit()));
});
