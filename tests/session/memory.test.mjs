// Secrets are wiped from the module's memory: after sessions of both kinds have run against the
// simulator (keys read, the access token secret decrypted, a handshake, signed calls, a bearer
// token) and have been dropped, the WebAssembly linear memory holds none of the keys' text or
// numbers (in either byte order: big-integer limbs are little-endian), the prepend, the live
// session token or the bearer token. It fails as soon as any buffer that held one of them is
// freed unwiped, by our code or by a crate (it did, before the allocator cleared freed blocks:
// `rsa` leaves copies of a key's primes).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';

import { instances, release } from '../common/wasm-instances.mjs';
const { IbkrSession, decryptAccessTokenSecret, dhRandom } = await import('../../pkg/node.mjs');
release();
const { newSim } = await import('./helpers.mjs');

const memory = () => {
  assert.equal(instances.length, 1, 'the package instantiated its module once');
  return Buffer.from(instances[0].exports.memory.buffer);
};

/** Where `needle` occurs in the module's memory (as bytes, and reversed: little-endian limbs). */
function findIn(mem, needle) {
  const reversed = Buffer.from(needle).reverse();
  return [mem.indexOf(needle), mem.indexOf(reversed)].filter((i) => i >= 0);
}

/** 16-byte pieces from the start, middle and end of a secret number (big-endian). */
function pieces(buf) {
  if (buf.length <= 24) return [buf];
  const mid = Math.floor(buf.length / 2) - 8;
  return [buf.subarray(2, 18), buf.subarray(mid, mid + 16), buf.subarray(buf.length - 18, buf.length - 2)];
}

/** The private numbers of an RSA key (d, p, q, dp, dq, qinv) and lines of its PEM text. */
function keySecrets(pem, name) {
  const jwk = crypto.createPrivateKey(pem).export({ format: 'jwk' });
  const out = [];
  for (const k of ['d', 'p', 'q', 'dp', 'dq', 'qi']) {
    for (const p of pieces(Buffer.from(jwk[k], 'base64url'))) out.push([`${name}.${k}`, p]);
  }
  const lines = pem.split('\n').filter((l) => /^[A-Za-z0-9+/]{64}$/.test(l));
  for (const i of [3, Math.floor(lines.length / 2), lines.length - 2]) out.push([`${name} PEM line ${i}`, Buffer.from(lines[i])]);
  return out;
}

test('no key, prepend, live session token or bearer token is left in wasm memory once sessions are dropped', async () => {
  const prepend = crypto.randomBytes(32);
  const sim = await newSim({ secretHex: prepend.toString('hex') });
  const cfg = sim.clientConfig();

  // OAuth 1.0a: the stateless functions, then a session's whole life.
  const decrypted = decryptAccessTokenSecret(cfg.encryptionKey, cfg.accessTokenSecret);
  assert.equal(decrypted, prepend.toString('hex'));
  const random = dhRandom();
  const s = IbkrSession.oauth1({ ...cfg, pacing: false });
  const { token } = await s.liveSessionToken();
  await s.initBrokerage();
  await s.request('GET', '/iserver/accounts');
  await s.request('GET', '/iserver/marketdata/snapshot', { query: { conids: '265598', fields: '31' } });
  // The search finds what it looks for: a live session holds its token.
  assert.ok(findIn(memory(), Buffer.from(token, 'base64')).length > 0, 'the live session holds the LST');
  s.free();

  // OAuth 2.0: a bearer token on every call.
  const s2 = IbkrSession.oauth2({ ...sim.clientConfig2(), pacing: false });
  await s2.initBrokerage();
  await s2.request('GET', '/iserver/accounts');
  const bearers = [...sim.bearers.keys()];
  assert.ok(bearers.length >= 1, 'the simulator issued a bearer token');
  assert.ok(bearers.some((b) => findIn(memory(), Buffer.from(b)).length > 0), 'the live session holds its bearer token');
  s2.free();

  const secrets = [
    ...keySecrets(cfg.signatureKey, 'signatureKey'),
    ...keySecrets(cfg.encryptionKey, 'encryptionKey'),
    ...keySecrets(sim.clientConfig2().privateKey, 'oauth2 privateKey'),
    ['prepend', prepend],
    ['prepend (hex)', Buffer.from(prepend.toString('hex'))],
    ['LST', Buffer.from(token, 'base64')],
    ['LST (base64)', Buffer.from(token)],
    ['dhRandom (hex)', Buffer.from(random)],
    ...bearers.map((b, i) => [`bearer token ${i}`, Buffer.from(b)]),
  ];
  const mem = memory();
  const found = secrets.filter(([, bytes]) => findIn(mem, bytes).length > 0).map(([name]) => name);
  assert.deepEqual(found, [], `secrets left in wasm memory: ${found.join(', ')}`);
  await sim.close();
});
