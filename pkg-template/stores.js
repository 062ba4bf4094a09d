// Token stores: where sessions of one account share their token (and a lease for the handshake)
// across processes. Every store has the same four async operations on opaque string keys and
// values; entries expire after ttlMs. This file is the one source: scripts/build-pkg.mjs writes
// its CommonJS twin (stores.cjs) for the Node entry. fileStore is Node only (file-store.cjs).
import { IbkrAuthError } from './errors.js';

/** Throws INVALID_ARGUMENT unless the key is a string. */
function checkKey(store, key) {
  if (typeof key !== 'string') throw new IbkrAuthError('INVALID_ARGUMENT', `the token store (${store}): the key must be a string, got ${typeof key}.`);
}

/** Throws INVALID_ARGUMENT unless the key and value are strings and o.ttlMs a positive number. */
function checkEntry(store, key, value, o) {
  checkKey(store, key);
  if (typeof value !== 'string') throw new IbkrAuthError('INVALID_ARGUMENT', `the token store (${store}): the value must be a string, got ${typeof value}.`);
  const ttl = o?.ttlMs;
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0) {
    throw new IbkrAuthError('INVALID_ARGUMENT', `the token store (${store}): ttlMs must be a positive number of milliseconds ({ ttlMs }), got ${JSON.stringify(ttl) ?? String(ttl)}.`);
  }
}

/** A backend failure, as the session expects it: NETWORK, naming the store. */
function storeFailure(store, e) {
  if (e instanceof IbkrAuthError) return e;
  return new IbkrAuthError('NETWORK', `the token store (${store}) failed: ${e?.message ?? String(e)}`, { cause: e });
}

/** Runs `fn`, turning any backend failure into a NETWORK IbkrAuthError. */
async function backend(store, fn) {
  try {
    return await fn();
  } catch (e) {
    throw storeFailure(store, e);
  }
}

const live = (entry, now) => entry !== undefined && entry !== null && typeof entry.v === 'string' && typeof entry.exp === 'number' && now < entry.exp;

// ---- memory ---------------------------------------------------------------------------------

/**
 * A store in this process's memory: sessions of one process share it (no other process sees it).
 * setIfAbsent is atomic: its check and its write run without an await between them.
 * @param {{ clock?: () => number }} [o]
 */
export function memoryStore(o = {}) {
  const clock = o?.clock ?? Date.now;
  if (typeof clock !== 'function') throw new IbkrAuthError('INVALID_ARGUMENT', 'memoryStore: `clock` must be a function returning milliseconds since the epoch (default Date.now).');
  const entries = new Map();
  let writes = 0;
  const put = (key, value, ttlMs) => {
    const now = clock();
    entries.set(key, { v: value, exp: now + ttlMs });
    // Expired entries are dropped when read; every 256 writes, all of them.
    if (++writes % 256 === 0) for (const [k, e] of entries) if (!live(e, now)) entries.delete(k);
  };
  return {
    async get(key) {
      checkKey('memory', key);
      const e = entries.get(key);
      if (live(e, clock())) return e.v;
      entries.delete(key);
      return null;
    },
    async set(key, value, o) {
      checkEntry('memory', key, value, o);
      put(key, value, o.ttlMs);
    },
    async setIfAbsent(key, value, o) {
      checkEntry('memory', key, value, o);
      if (live(entries.get(key), clock())) return false;
      put(key, value, o.ttlMs);
      return true;
    },
    async delete(key) {
      checkKey('memory', key);
      entries.delete(key);
    },
  };
}

// ---- Redis ----------------------------------------------------------------------------------

/**
 * A store in Redis, through the client the caller made and connected: `redis` (node-redis) or
 * `ioredis`. Raw commands only (GET, SET … PX, SET … NX PX, DEL), so both kinds work the same;
 * setIfAbsent is Redis's atomic SET NX. Keys are prefixed (default "ibkr-auth:").
 * @param {unknown} client
 * @param {{ prefix?: string }} [o]
 */
export function redisStore(client, o = {}) {
  let command;
  if (client && typeof client.call === 'function') {
    // ioredis (and its Cluster): call(name, ...args). Checked first: ioredis also has a
    // sendCommand, which takes a Command object rather than an array.
    command = (args) => client.call(...args);
  } else if (client && typeof client.sendCommand === 'function') {
    // node-redis v4/v5: sendCommand(['NAME', ...args]).
    command = (args) => client.sendCommand(args);
  } else {
    throw new IbkrAuthError('INVALID_ARGUMENT', 'redisStore needs a connected Redis client: one from `redis` (createClient(), then await client.connect()) '
      + `or from \`ioredis\` (new Redis(url)); got ${client === null ? 'null' : typeof client}.`);
  }
  const prefix = o?.prefix ?? 'ibkr-auth:';
  if (typeof prefix !== 'string') throw new IbkrAuthError('INVALID_ARGUMENT', 'redisStore: `prefix` must be a string (default "ibkr-auth:").');
  const text = (r) => (r === null || r === undefined ? null : String(r));
  const px = (o) => String(Math.max(1, Math.ceil(o.ttlMs)));
  return {
    async get(key) {
      checkKey('redis', key);
      return backend('redis', async () => text(await command(['GET', prefix + key])));
    },
    async set(key, value, o) {
      checkEntry('redis', key, value, o);
      await backend('redis', () => command(['SET', prefix + key, value, 'PX', px(o)]));
    },
    async setIfAbsent(key, value, o) {
      checkEntry('redis', key, value, o);
      return backend('redis', async () => text(await command(['SET', prefix + key, value, 'NX', 'PX', px(o)])) === 'OK');
    },
    async delete(key) {
      checkKey('redis', key);
      await backend('redis', () => command(['DEL', prefix + key]));
    },
  };
}

// ---- Cloudflare Workers KV ------------------------------------------------------------------

const KV_MIN_TTL_S = 60;

/**
 * A store in a Workers KV namespace. KV keeps an entry at least 60 s, so each value is wrapped
 * as {"v": value, "exp": expiry in ms} and an entry past its exp reads as absent. KV is
 * eventually consistent and has no compare-and-set: setIfAbsent is a get then a put, NOT atomic
 * (two locations may both win it). For exactly one handshake per fleet, use durableObjectStore.
 * @param {unknown} namespace a KV namespace binding (env.MY_KV)
 */
export function kvStore(namespace) {
  const kv = namespace;
  if (!kv || typeof kv.get !== 'function' || typeof kv.put !== 'function' || typeof kv.delete !== 'function') {
    throw new IbkrAuthError('INVALID_ARGUMENT', 'kvStore needs a Workers KV namespace binding (env.<BINDING> from a [[kv_namespaces]] entry in wrangler.toml), '
      + `got ${kv === null ? 'null' : typeof kv}.`);
  }
  const read = async (key) => {
    const raw = await kv.get(key);
    if (raw === null || raw === undefined) return null;
    try {
      const e = JSON.parse(raw);
      return live(e, Date.now()) ? e.v : null;
    } catch {
      return null; // not ours, or corrupt: absent
    }
  };
  const write = (key, value, ttlMs) => kv.put(key, JSON.stringify({ v: value, exp: Date.now() + ttlMs }), {
    expirationTtl: Math.max(KV_MIN_TTL_S, Math.ceil(ttlMs / 1000) + 1),
  });
  return {
    async get(key) {
      checkKey('kv', key);
      return backend('kv', () => read(key));
    },
    async set(key, value, o) {
      checkEntry('kv', key, value, o);
      await backend('kv', () => write(key, value, o.ttlMs));
    },
    async setIfAbsent(key, value, o) {
      checkEntry('kv', key, value, o);
      return backend('kv', async () => {
        if ((await read(key)) !== null) return false;
        await write(key, value, o.ttlMs);
        return true;
      });
    },
    async delete(key) {
      checkKey('kv', key);
      await backend('kv', () => kv.delete(key));
    },
  };
}

// ---- Cloudflare Durable Object --------------------------------------------------------------

const DO_URL = 'https://token-store/op';

/**
 * A store in one Durable Object (class TokenStoreObject, re-exported from your Worker), named
 * `name` (default "ibkr-auth"). One object runs one request at a time over its own storage, so
 * setIfAbsent is atomic: one handshake per fleet.
 * @param {unknown} namespace a Durable Object namespace binding (env.TOKEN_STORE)
 * @param {{ name?: string }} [o]
 */
export function durableObjectStore(namespace, o = {}) {
  const ns = namespace;
  if (!ns || typeof ns.idFromName !== 'function' || typeof ns.get !== 'function') {
    throw new IbkrAuthError('INVALID_ARGUMENT', 'durableObjectStore needs a Durable Object namespace binding (env.<BINDING>) whose class is '
      + `TokenStoreObject (export { TokenStoreObject } from 'ibkr-auth' in your Worker), got ${ns === null ? 'null' : typeof ns}.`);
  }
  const name = o?.name ?? 'ibkr-auth';
  if (typeof name !== 'string' || name === '') throw new IbkrAuthError('INVALID_ARGUMENT', 'durableObjectStore: `name` must be a non-empty string (default "ibkr-auth").');
  const call = (body) => backend('durable object', async () => {
    // A stub per call: stubs are cheap, and one made in another request's context is not reused.
    const stub = ns.get(ns.idFromName(name));
    const res = await stub.fetch(DO_URL, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const text = await res.text();
    if (!res.ok) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
    return JSON.parse(text);
  });
  return {
    async get(key) {
      checkKey('durable object', key);
      const r = await call({ op: 'get', key });
      return typeof r.value === 'string' ? r.value : null;
    },
    async set(key, value, o) {
      checkEntry('durable object', key, value, o);
      await call({ op: 'set', key, value, ttlMs: o.ttlMs });
    },
    async setIfAbsent(key, value, o) {
      checkEntry('durable object', key, value, o);
      return (await call({ op: 'setIfAbsent', key, value, ttlMs: o.ttlMs })).set === true;
    },
    async delete(key) {
      checkKey('durable object', key);
      await call({ op: 'delete', key });
    },
  };
}

const json = (body, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

/**
 * The Durable Object behind durableObjectStore. Re-export it from your Worker and bind it:
 * `export { TokenStoreObject } from 'ibkr-auth';` plus a durable_objects binding (and a
 * migration) naming the class TokenStoreObject. Entries are kept as {v, exp} in its storage.
 * Operations run one at a time, in order (a queue inside the object, beside the runtime's input
 * gates), so setIfAbsent's read and write cannot interleave with another request's.
 */
export class TokenStoreObject {
  constructor(state, env) {
    this.storage = state.storage;
    this.env = env;
    this.queue = Promise.resolve();
  }

  async fetch(request) {
    let m;
    try {
      m = await request.json();
    } catch {
      return json({ error: 'the body must be JSON: { op, key, value?, ttlMs? }' }, 400);
    }
    const ops = ['get', 'set', 'setIfAbsent', 'delete'];
    if (!m || !ops.includes(m.op) || typeof m.key !== 'string') return json({ error: `op must be one of ${ops.join(', ')} and key a string` }, 400);
    if ((m.op === 'set' || m.op === 'setIfAbsent') && (typeof m.value !== 'string' || typeof m.ttlMs !== 'number' || !(m.ttlMs > 0) || !Number.isFinite(m.ttlMs))) {
      return json({ error: 'set and setIfAbsent need a string value and a positive ttlMs' }, 400);
    }
    const run = this.queue.then(() => this.apply(m));
    this.queue = run.catch(() => {});
    try {
      return json(await run);
    } catch (e) {
      return json({ error: `storage failed: ${e?.message ?? String(e)}` }, 500);
    }
  }

  /** @private one operation, never concurrent with another (see fetch) */
  async apply({ op, key, value, ttlMs }) {
    const s = this.storage;
    switch (op) {
      case 'get': {
        const e = await s.get(key);
        if (live(e, Date.now())) return { value: e.v };
        if (e !== undefined) await s.delete(key);
        return { value: null };
      }
      case 'set':
        await s.put(key, { v: value, exp: Date.now() + ttlMs });
        return { ok: true };
      case 'setIfAbsent': {
        if (live(await s.get(key), Date.now())) return { set: false };
        await s.put(key, { v: value, exp: Date.now() + ttlMs });
        return { set: true };
      }
      default:
        await s.delete(key);
        return { ok: true };
    }
  }
}
