// kvStore and durableObjectStore inside workerd, through miniflare (on loopback): a Worker that
// imports the package's workerd entry, re-exports TokenStoreObject as its Durable Object class,
// runs the conformance checks against its KV namespace and Durable Object bindings and answers
// with the results as JSON.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Miniflare, convertV4MiniflareOptions } from 'miniflare';
import { packageModules } from './worker-modules.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkg = path.join(here, '../../pkg');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ibkr-auth-stores-worker-'));

// The package's ESM files and its .wasm (worker-modules.mjs) are the Worker's modules, beside the
// worker and the checks.
fs.copyFileSync(path.join(here, 'conformance.mjs'), path.join(dir, 'conformance.mjs'));
fs.writeFileSync(path.join(dir, 'worker.js'), `
import { kvStore, durableObjectStore, TokenStoreObject, IbkrAuthError } from './ibkr-auth/workerd.js';
import { runStoreChecks } from './conformance.mjs';
export { TokenStoreObject };

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const REAL_TIME = { advance: sleep, ttlMs: 200, slackMs: 200, realTime: true };
let n = 0;

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    switch (url.pathname) {
      case '/do':
        // Each check on its own object, 20 concurrent setIfAbsent in the race.
        return Response.json(await runStoreChecks(() => durableObjectStore(env.STORE, { name: 'conformance-' + (n += 1) }), { ...REAL_TIME, concurrency: 20 }));
      case '/do-lease': {
        // One setIfAbsent per request: the race between requests (separate invocations).
        const store = durableObjectStore(env.STORE, { name: 'leases' });
        return Response.json({ set: await store.setIfAbsent(url.searchParams.get('key'), url.searchParams.get('id'), { ttlMs: 60000 }) });
      }
      case '/do-get':
        return Response.json({ value: await durableObjectStore(env.STORE, { name: 'leases' }).get(url.searchParams.get('key')) });
      case '/kv':
        // KV is not atomic: no race check (concurrency 0).
        return Response.json(await runStoreChecks(() => kvStore(env.KV), { ...REAL_TIME, concurrency: 0 }));
      case '/kv-wrapper': {
        const s = kvStore(env.KV);
        const key = 'wrapper/' + Date.now();
        await s.set(key, 'v', { ttlMs: 200 });
        const raw = JSON.parse(await env.KV.get(key));
        const listed = (await env.KV.list({ prefix: key })).keys[0];
        const before = await s.get(key);
        await sleep(400);
        const afterGet = await s.get(key);
        const rawAfter = await env.KV.get(key);
        const relet = await s.setIfAbsent(key, 'w', { ttlMs: 60000 });
        return Response.json({ raw, now: Date.now(), expiration: listed?.expiration ?? null, before, afterGet, rawStillThere: rawAfter !== null, relet, final: await s.get(key) });
      }
      case '/invalid': {
        const codes = [];
        for (const f of [() => kvStore({}), () => kvStore(undefined), () => durableObjectStore(env.KV), () => durableObjectStore(env.STORE, { name: '' })]) {
          try { f(); codes.push('none'); } catch (e) { codes.push(e instanceof IbkrAuthError ? e.code : String(e)); }
        }
        return Response.json(codes);
      }
      default:
        return new Response('not found', { status: 404 });
    }
  },
};
`);

const modules = [
  { type: 'ESModule', path: path.join(dir, 'worker.js') },
  { type: 'ESModule', path: path.join(dir, 'conformance.mjs') },
  ...packageModules(pkg, dir, 'ibkr-auth'),
];

let mf;
before(async () => {
  mf = new Miniflare(convertV4MiniflareOptions({
    modules,
    modulesRoot: dir,
    compatibilityDate: '2025-01-01',
    kvNamespaces: ['KV'],
    durableObjects: { STORE: 'TokenStoreObject' },
  }));
  await mf.ready;
});
after(async () => {
  await mf?.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

const get = async (p) => {
  const res = await mf.dispatchFetch(`http://localhost${p}`);
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return JSON.parse(text);
};

async function reportChecks(t, results) {
  assert.ok(results.length >= 8, `only ${results.length} checks ran`);
  for (const r of results) await t.test(r.name, () => assert.ok(r.ok, r.error));
}

test('durableObjectStore (TokenStoreObject) in workerd: the conformance checks, 20 concurrent setIfAbsent → one winner', async (t) => {
  const results = await get('/do');
  assert.ok(results.some((r) => r.name.startsWith('20 concurrent')), 'the race ran');
  await reportChecks(t, results);
});

test('durableObjectStore: 20 requests racing setIfAbsent on one key → exactly one true', async () => {
  const key = `lease-${Date.now()}`;
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => get(`/do-lease?key=${key}&id=racer-${i}`)));
  const winners = results.flatMap((r, i) => (r.set === true ? [i] : []));
  assert.equal(winners.length, 1, JSON.stringify(results));
  assert.deepEqual(await get(`/do-get?key=${key}`), { value: `racer-${winners[0]}` });
});

test('kvStore in workerd: the conformance checks (no race check: KV is not atomic)', async (t) => {
  await reportChecks(t, await get('/kv'));
});

test('kvStore: values are wrapped {v, exp}; KV keeps them ≥ 60 s, the wrapper expires them at ttlMs', async () => {
  const r = await get('/kv-wrapper');
  assert.equal(r.raw.v, 'v');
  assert.ok(r.raw.exp > r.now - 1000 && r.raw.exp <= r.now, `exp is about 200 ms after the put: ${r.raw.exp} vs now ${r.now}`);
  // KV's expiration is in whole seconds: put time (exp - 200 ms) + 60 s, rounded down.
  assert.ok(Number.isInteger(r.expiration), `KV lists the key's expiration: ${r.expiration}`);
  assert.ok(r.expiration * 1000 >= r.raw.exp - 200 + 59_000, `expirationTtl is at least 60 s: ${r.expiration} vs exp ${r.raw.exp}`);
  assert.equal(r.before, 'v');
  assert.equal(r.afterGet, null, 'expired by the wrapper');
  assert.equal(r.rawStillThere, true, 'while KV itself still holds it');
  assert.equal(r.relet, true, 'an expired entry is absent for setIfAbsent');
  assert.equal(r.final, 'w');
});

test('kvStore and durableObjectStore: a wrong binding throws INVALID_ARGUMENT', async () => {
  assert.deepEqual(await get('/invalid'), ['INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT']);
});
