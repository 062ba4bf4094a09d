// What the module's fetch host does with answers at its edges: a response with no body stream,
// statuses in the 3xx range that are not redirects, where a redirect points, the bounds of
// maxResponseBytes, and a bad `prepareError` given to websocketClosed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IbkrSession } from '../../pkg/node.mjs';
import { newSim, rejects } from './helpers.mjs';

const session = (sim, o = {}) => IbkrSession.oauth1({ ...sim.clientConfig(), pacing: false, ...o });

/** `p`, or a rejection when it is still pending after `ms`. */
const within = (p, ms) => Promise.race([p, new Promise((_, no) => setTimeout(() => no(new Error(`still pending after ${ms} ms`)), ms).unref())]);

/** A fetch that answers `/iserver/accounts` with `answer()` and passes the rest on. */
const answering = (answer) => (url, init) => (new URL(String(url)).pathname.endsWith('/iserver/accounts') ? Promise.resolve(answer()) : fetch(url, init));

/** A response without a body stream (as some injected fetches give): only text()/arrayBuffer(). */
function streamless(bytes, { hang = false } = {}) {
  const read = () => (hang ? new Promise(() => {}) : Promise.resolve(bytes));
  const r = {
    status: 200, ok: true, type: 'basic', body: null,
    headers: new Headers({ 'content-type': 'application/json' }),
    arrayBuffer: () => read().then((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)),
    text: () => read().then((b) => new TextDecoder().decode(b)),
    clone: () => streamless(bytes, { hang }),
  };
  return r;
}

test('a response with no body stream: read within timeoutMs, up to maxResponseBytes, as strict UTF-8', async () => {
  const sim = await newSim();
  const json = new TextEncoder().encode(JSON.stringify({ accounts: ['DU1'] }));
  const ok = session(sim, { fetch: answering(() => streamless(json)) });
  assert.deepEqual((await ok.request('GET', '/iserver/accounts')).accounts, ['DU1']);

  const slow = session(sim, { timeoutMs: 200, maxRetries: 0, fetch: answering(() => streamless(json, { hang: true })) });
  await slow.liveSessionToken();
  await within(rejects(slow.request('GET', '/iserver/accounts'), 'TIMEOUT'), 10_000);

  const big = new TextEncoder().encode(JSON.stringify({ accounts: ['x'.repeat(5000)] }));
  const large = session(sim, { maxResponseBytes: 1000, fetch: answering(() => streamless(big)) });
  const e = await rejects(large.request('GET', '/iserver/accounts'), 'UNEXPECTED_RESPONSE');
  assert.match(e.message, /maxResponseBytes \(1000 bytes\)/);

  const notUtf8 = Uint8Array.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]); // {"a":"\xff"}
  const bad = session(sim, { fetch: answering(() => streamless(notUtf8)) });
  assert.match((await rejects(bad.request('GET', '/iserver/accounts'), 'UNEXPECTED_RESPONSE')).message, /not valid UTF-8/);
});

test('a 304 or a 300 is an answer, not a redirect; a 301/302/303/307/308 is', async () => {
  const sim = await newSim();
  for (const status of [300, 304]) {
    const s = session(sim, { fetch: answering(() => new Response(null, { status, headers: { location: 'https://elsewhere.example/x' } })) });
    const e = await s.request('GET', '/iserver/accounts').then(() => null, (err) => err);
    assert.doesNotMatch(String(e?.message), /redirect/, `HTTP ${status}`);
  }
  for (const status of [301, 302, 303, 307, 308]) {
    const s = session(sim, { fetch: answering(() => new Response(null, { status, headers: { location: 'https://elsewhere.example/x' } })) });
    assert.match((await rejects(s.request('GET', '/iserver/accounts'), 'HTTP_ERROR')).message, /redirect to https:\/\/elsewhere\.example /);
  }
});

test('where a redirect points: the host of a scheme-relative Location, never a user name, password, path or query', async () => {
  const sim = await newSim();
  const cases = [
    ['//other.example/x?token=abc', 'to //other.example '],
    ['https://user:pw@other.example:8443/x?token=abc', 'to https://other.example:8443 '],
    ['/v1/api/elsewhere?token=abc', 'to a path on the same host '],
  ];
  for (const [location, says] of cases) {
    const s = session(sim, { fetch: answering(() => new Response(null, { status: 302, headers: { location } })) });
    const e = await rejects(s.request('GET', '/iserver/accounts'), 'HTTP_ERROR');
    assert.ok(e.message.includes(says), e.message);
    assert.doesNotMatch(e.message, /token=|pw|user/);
  }
});

test('maxResponseBytes: at most 2^30 (1 GiB); more is INVALID_ARGUMENT', async () => {
  const sim = await newSim();
  session(sim, { maxResponseBytes: 2 ** 30 });
  for (const n of [2 ** 30 + 1, 2 ** 32, 2 ** 40]) {
    assert.throws(() => session(sim, { maxResponseBytes: n }), (e) => e.code === 'INVALID_ARGUMENT' && /maxResponseBytes/.test(e.message) && /1073741824/.test(e.message));
  }
});

test('websocketClosed: an unknown prepareError is INVALID_ARGUMENT naming it', async () => {
  const sim = await newSim();
  const s = session(sim);
  assert.equal(s.websocketClosed({ code: 1006, prepareError: 'NETWORK' }).action, 'reconnect');
  assert.throws(() => s.websocketClosed({ code: 1006, prepareError: 'NO_SUCH_CODE' }), (e) => e.code === 'INVALID_ARGUMENT' && e.message.includes('NO_SUCH_CODE'));
});
