#!/usr/bin/env node
// Writes srp.json: SRP-6 vectors for the gateway's headless login, from sim/gateway-srp.mjs
// (plain BigInt + node:crypto, independent of the Rust core). Deterministic: every a, b and salt
// comes from SHA-256 of a fixed label, searched upwards from 0 where a case needs a property.
// Both sides are computed and must agree (the server's M1 check, M2, the cookie) or this throws.
//   node tests/vectors/gateway/make_srp_vectors.mjs
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import {
  clientA, clientSession, G, hNxorHg, N, numHex, serverB, serverSession, verifier,
} from '../../../sim/gateway-srp.mjs';

const seed = (label, i) => BigInt(`0x${crypto.createHash('sha256').update(`ibkr-auth gateway srp ${label} ${i}`).digest('hex')}`);
const saltOf = (label, bytes) => crypto.createHash('sha256').update(`ibkr-auth gateway salt ${label}`).digest('hex').slice(0, bytes * 2);
const hexLen = (n) => numHex(n).length;

/** Builds one vector; `want(v)` (optional) must hold, else the next a/b seeds are tried. */
function vector({ name, username, password, lp, salt, want = () => true, search = 'ab' }) {
  const v = verifier({ username, password, lp, salt });
  for (let i = 0; i < 200_000; i++) {
    const a = seed(`${name} a`, search.includes('a') ? i : 0);
    const b = seed(`${name} b`, search.includes('b') ? i : 0);
    const B = serverB({ v, b });
    const A = clientA(a);
    const c = clientSession({ username, password, lp, salt, a, B });
    const candidate = { A, B, c };
    if (!want(candidate)) continue;
    const s = serverSession({ username, salt, v, b, A, B });
    assert.equal(s.S, c.S, `${name}: S differs between the sides`);
    assert.equal(s.K, c.K, `${name}: K`);
    assert.equal(s.M1, c.M1, `${name}: the server's M1 check`);
    assert.equal(s.M2, c.M2, `${name}: M2`);
    assert.equal(s.loginCookie, c.loginCookie, `${name}: cookie`);
    // A wrong password gives another M1 (the server's check fails).
    const wrong = clientSession({ username, password: `${password}!`.replace(/^(.{7})./, '$1#'), lp, salt, a, B });
    assert.notEqual(wrong.M1, s.M1, `${name}: a wrong password passed`);
    return {
      name, username, password, lp, N: numHex(N), g: G.toString(10), salt,
      a: numHex(a), b: numHex(b), A: numHex(A), B: numHex(B), x: c.x, u: c.u, S: numHex(c.S),
      K: c.K, M1: c.M1, M2: c.M2, loginCookie: c.loginCookie, tries: i + 1,
    };
  }
  throw new Error(`${name}: no seed found`);
}

const vectors = [
  vector({ name: 'basic', username: 'SimUser', password: 'hunter22', lp: false, salt: saltOf('basic', 16) }),
  vector({ name: 'long-password-cut-to-8', username: 'TRADER7', password: 'CorrectHorse42', lp: false, salt: saltOf('cut', 16) }),
  vector({ name: 'long-password-lp-true', username: 'TRADER7', password: 'CorrectHorse42', lp: true, salt: saltOf('cut', 16) }),
  vector({ name: 'salt-two-leading-zero-bytes', username: 'Jane.Doe', password: 'pa55word', lp: true, salt: `0000${saltOf('zeros', 14)}` }),
  vector({
    name: 'A-top-byte-zero-odd-hex', username: 'simuser', password: 'Abc12345xyz', lp: true, salt: saltOf('A', 16),
    search: 'a', want: ({ A }) => hexLen(A) <= 125,
  }),
  vector({
    name: 'B-top-byte-zero-odd-hex', username: 'SIMUSER', password: 'Abc12345xyz', lp: false, salt: saltOf('B', 16),
    search: 'b', want: ({ B }) => hexLen(B) <= 125,
  }),
  vector({
    name: 'S-top-byte-zero', username: 'MixedCase9', password: 'S3cret-pass', lp: true, salt: saltOf('S', 16),
    search: 'b', want: ({ c }) => hexLen(c.S) <= 126,
  }),
  vector({
    name: 'K-leading-00', username: 'KUser', password: 'letmein!', lp: false, salt: saltOf('K', 16),
    search: 'b', want: ({ c }) => c.K.startsWith('00'),
  }),
  vector({
    name: 'M1-leading-00-dropped', username: 'MUser', password: 'opensesame', lp: true, salt: saltOf('M', 16),
    search: 'b', want: ({ c }) => c.M1.length === 38,
  }),
];

const notes = [
  'SRP-6 as the Client Portal Gateway login uses it: proto 6, SHA-1, k = 3, g = 2 (the "g" field is decimal). All hex is lowercase.',
  'N, a, b, A, B, S: big-endian numbers written without leading zeros (so A, B or S may be shorter than 128 hex chars, and of odd length).',
  'On the wire: INIT sends A exactly as the "A" field (minimal hex, possibly odd length); the server sends B and N minimal as well.',
  'salt: exactly as the server sends it (it may start with zero bytes); the client reads it as a number, so they vanish before hashing.',
  'hv(v) ("verifyHexVal"): write v as hex, pad to even length, then drop exactly ONE leading "00" byte. For numbers written minimal it only pads.',
  'x = SHA1(hv(salt) || SHA1(lowercase(username) + ":" + password8)), password8 = the first 8 characters of password unless lp is true. The "x" field is the 40-char digest.',
  'u = SHA1(hv(A) || hv(B)). The "u" field is the 40-char digest. x and u are used as big-endian numbers.',
  'S = (B - 3*g^x)^(a + u*x) mod N (client) = (A*v^u)^b mod N (server, v = g^x mod N, B = (3*v + g^b) mod N).',
  'K = SHA1(hv(S)): the 40-char digest (also what EKX encrypts, as 40 ASCII chars).',
  `M1 = hv(SHA1(hnxorhg || SHA1(lowercase(username)) || hv(salt) || hv(A) || hv(B) || hv(K))), where hnxorhg = hv(H(hv(N)) xor H(hv(g)) as numbers) = ${hNxorHg()} and SHA1(lowercase(username)) is the plain 40-char hex. The "M1" field is as sent: 38 chars when the digest starts with 00.`,
  'M2 = SHA1(hv(A) || hv(M1 as sent) || hv(K)): the 40-char digest, compared as a string.',
  'loginCookie (cookie XYZAB_AM.LOGIN) = SHA1(hv(B) || hv(K)): the 40-char digest.',
].join('\n');

const out = new URL('srp.json', import.meta.url);
fs.writeFileSync(out, `${JSON.stringify({ notes, vectors: vectors.map(({ tries, ...v }) => v) }, null, 1)}\n`);
for (const v of vectors) console.log(`${v.name}: tries ${v.tries}, |A| ${v.A.length}, |B| ${v.B.length}, |S| ${v.S.length}, K ${v.K.slice(0, 4)}…, |M1| ${v.M1.length}`);
console.log(`wrote ${out.pathname}`);
