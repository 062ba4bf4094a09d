// redisStore against a real redis-server (redis-server.mjs: a free 127.0.0.1 port, no
// persistence, killed after), through both client kinds: node-redis (`redis`) and `ioredis`.
// Expiry is Redis's own (PX), so the expiry checks use short real ttls and wait a bit longer.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createClient } from 'redis';
import Redis from 'ioredis';
import { redisStore, IbkrAuthError } from '../../pkg/node.mjs';
import { checkStore } from './conformance.mjs';
import { startRedis } from './redis-server.mjs';

const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });
const TTL = { advance: sleep, ttlMs: 150, slackMs: 250, realTime: true };

let server;
const clients = [];
before(async () => { server = await startRedis(); });
after(async () => {
  for (const c of clients) { try { c.disconnect(); } catch { /* closed */ } }
  await server?.stop();
});

async function nodeRedis(port, options = {}) {
  const c = createClient({ url: `redis://127.0.0.1:${port}`, ...options });
  c.on('error', () => {}); // reported through the commands' rejections
  await c.connect();
  clients.push(c);
  return c;
}

async function ioredis(port, options = {}) {
  const c = new Redis({ port, host: '127.0.0.1', lazyConnect: true, ...options });
  c.on('error', () => {});
  await c.connect();
  clients.push(c);
  return c;
}

test('redisStore with node-redis: the conformance checks', async (t) => {
  const client = await nodeRedis(server.port);
  await checkStore(t, () => redisStore(client), TTL);
});

test('redisStore with ioredis: the conformance checks', async (t) => {
  const client = await ioredis(server.port);
  await checkStore(t, () => redisStore(client, { prefix: 'io:' }), TTL);
});

test('redisStore: keys carry the prefix (default "ibkr-auth:"), and both clients read each other', async () => {
  const a = await nodeRedis(server.port);
  const b = await ioredis(server.port);
  await redisStore(a).set('shared', 'v1', { ttlMs: 10_000 });
  assert.equal(await b.get('ibkr-auth:shared'), 'v1');
  assert.equal(await redisStore(b).get('shared'), 'v1');
  const pttl = await b.pttl('ibkr-auth:shared');
  assert.ok(pttl > 9000 && pttl <= 10_000, `PX was set: ${pttl}`);
  await redisStore(b, { prefix: 'other:' }).set('shared', 'v2', { ttlMs: 10_000 });
  assert.equal(await redisStore(a).get('shared'), 'v1', 'another prefix is another key');
  assert.equal(await a.get('other:shared'), 'v2');
});

test('redisStore: anything but a client throws INVALID_ARGUMENT saying what to pass', () => {
  for (const bad of [undefined, null, {}, 'redis://localhost', { get() {}, set() {} }]) {
    assert.throws(() => redisStore(bad), (e) => e instanceof IbkrAuthError && e.code === 'INVALID_ARGUMENT' && /`redis`.*`ioredis`/.test(e.message));
  }
  assert.throws(() => redisStore({ call() {} }, { prefix: 42 }), (e) => e.code === 'INVALID_ARGUMENT');
});

/** Each call must reject with NETWORK, naming the store, within `ms`. */
async function assertDown(store, ms) {
  for (const call of [() => store.get('k'), () => store.set('k', 'v', { ttlMs: 1000 }), () => store.setIfAbsent('k', 'v', { ttlMs: 1000 }), () => store.delete('k')]) {
    const t0 = Date.now();
    const timeout = sleep(ms).then(() => { throw new Error(`no answer within ${ms} ms`); });
    await assert.rejects(Promise.race([call(), timeout]),
      (e) => e instanceof IbkrAuthError && e.code === 'NETWORK' && /^the token store \(redis\) failed: /.test(e.message));
    assert.ok(Date.now() - t0 < ms);
  }
}

test('redisStore: Redis down → NETWORK rejections, in bounded time (node-redis and ioredis)', async () => {
  const down = await startRedis();
  // Commands fail at once while disconnected (no offline queue), as a user who wants a fast
  // fallback configures; with the default queue, the session's storeTimeoutMs bounds the wait.
  const a = await nodeRedis(down.port, { disableOfflineQueue: true, socket: { reconnectStrategy: () => 200 } });
  const b = await ioredis(down.port, { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 200 });
  await redisStore(a).set('k', 'v', { ttlMs: 1000 });
  await redisStore(b).set('k', 'v', { ttlMs: 1000 });
  await down.stop();
  await sleep(200); // both clients notice the closed connection
  await assertDown(redisStore(a), 3000);
  await assertDown(redisStore(b), 3000);
});
