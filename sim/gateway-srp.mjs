// The SRP-6 math of the Client Portal Gateway's headless login (docs: shared spec
// gateway-login.md), both sides, in plain BigInt and node:crypto SHA-1. This is the independent
// check of the product's own implementation: it uses neither the Rust core nor the package.
//
// Conventions, as the login's client computes them:
// - proto "6" (not 6a), SHA-1, k = 3, N the fixed 512-bit prime below, g = 2.
// - "verifyHexVal" (hv below): a value is written as hex, padded to even length, then exactly ONE
//   leading "00" byte is dropped, before it is hashed as bytes. Numbers (salt, A, B, S, N, g) are
//   written without leading zeros, so for them hv is "minimal hex padded to even length"; the
//   drop only ever bites on 40-char hash strings (K, M1) that start with "00".
// - H(N) xor H(g) is taken as numbers, so that value is written minimal, padded to even.
// - H(lowercase(user)) and the inner SHA1(lowercase(user) + ":" + password) are plain 40-char hex.
// - u = SHA1(A ‖ B) with A and B written minimal, padded to even.
// - The salt is a number: whatever leading zero bytes the server sent vanish.
// - The password is cut to 8 characters unless the server says lp = true.
// - M1 is sent (and hashed into M2) as hv(M1) — without a leading "00".
// - M2 = SHA1(A ‖ M1 ‖ K), the 40-char digest, compared as a string.
// - The cookie XYZAB_AM.LOGIN = SHA1(B ‖ K), the 40-char digest.
import crypto from 'node:crypto';
import { modPow } from './oauth.mjs';

export const N = BigInt('0xd4c7f8a2b32c11b8fba9581ec4ba4f1b04215642ef7355e37c0fc0443ef756ea2c6b8eeb755a1c723027663caa265ef785b8ff6a9b35227a52d86633dbdfca43');
export const G = 2n;
export const K_MULT = 3n;

/** Minimal lowercase hex of a non-negative BigInt ("0" for zero). */
export const numHex = (n) => n.toString(16);
/** Pads a hex string to even length with one leading "0". */
export const evenHex = (h) => (h.length % 2 ? `0${h}` : h);
/** verifyHexVal: a BigInt (written minimal) or a hex string, padded to even, one leading "00" dropped. */
export function hv(v) {
  const h = evenHex(typeof v === 'bigint' ? numHex(v) : String(v).toLowerCase());
  return h.startsWith('00') ? h.slice(2) : h;
}
/** SHA-1 of UTF-8 text, 40 lowercase hex chars. */
export const sha1Text = (s) => crypto.createHash('sha1').update(s, 'utf8').digest('hex');
/** SHA-1 of the bytes a hex string spells, 40 lowercase hex chars. */
export function sha1Hex(h) {
  if (h.length % 2 || /[^0-9a-f]/i.test(h)) throw new Error(`sha1Hex: not even-length hex: ${h}`);
  return crypto.createHash('sha1').update(Buffer.from(h, 'hex')).digest('hex');
}
const big = (h) => BigInt(`0x${h || '0'}`);
const mod = (a, m) => ((a % m) + m) % m;

export { modPow };

/** The password as hashed: cut to 8 characters unless lp. */
export const effectivePassword = (password, lp) => (lp ? password : password.slice(0, 8));

/** x = SHA1(hv(salt) ‖ SHA1(lowercase(user) ":" password)), as its 40-char digest. `salt`: hex as sent. */
export function computeX({ username, password, lp, salt }) {
  const inner = sha1Text(`${username.toLowerCase()}:${effectivePassword(password, lp)}`);
  return sha1Hex(hv(big(salt)) + inner);
}

/** u = SHA1(A ‖ B), A and B minimal hex padded to even; its 40-char digest. */
export const computeU = (A, B) => sha1Hex(evenHex(numHex(A)) + evenHex(numHex(B)));

/** H(N) xor H(g) as hashed into M1: a number, minimal hex padded to even. */
export function hNxorHg(n = N, g = G) {
  const hn = big(sha1Hex(hv(n)));
  const hg = big(sha1Hex(hv(g)));
  return hv(hn ^ hg);
}

/** M1 as sent (hv of the digest: no leading "00"). All values BigInt except K (40-char hex). */
export function computeM1({ username, salt, A, B, K, n = N, g = G }) {
  const hI = sha1Text(username.toLowerCase());
  return hv(sha1Hex(hNxorHg(n, g) + hI + hv(big(salt)) + hv(A) + hv(B) + hv(K)));
}

/** M2 = SHA1(hv(A) ‖ hv(M1 as sent) ‖ hv(K)), 40-char digest. */
export const computeM2 = ({ A, M1, K }) => sha1Hex(hv(A) + hv(M1) + hv(K));

/** The cookie XYZAB_AM.LOGIN = SHA1(hv(B) ‖ hv(K)), 40-char digest. */
export const loginCookie = ({ B, K }) => sha1Hex(hv(B) + hv(K));

/** K = SHA1(hv(S)), 40-char digest. */
export const computeK = (S) => sha1Hex(hv(S));

// ---- client side -------------------------------------------------------------------------------

/** A = g^a mod N. */
export const clientA = (a, { n = N, g = G } = {}) => modPow(g, a, n);

/**
 * Everything the client computes after INIT. a: BigInt; salt: hex as sent; B: BigInt.
 * Returns BigInts A, S, and hex strings x, u (40-char digests), K, M1 (as sent), M2, loginCookie.
 */
export function clientSession({ username, password, lp, salt, a, B, n = N, g = G }) {
  const A = clientA(a, { n, g });
  const x = computeX({ username, password, lp, salt });
  const u = computeU(A, B);
  const base = mod(B - K_MULT * modPow(g, big(x), n), n);
  const S = modPow(base, a + big(u) * big(x), n);
  const K = computeK(S);
  const M1 = computeM1({ username, salt, A, B, K, n, g });
  return { A, x, u, S, K, M1, M2: computeM2({ A, M1, K }), loginCookie: loginCookie({ B, K }) };
}

// ---- server side -------------------------------------------------------------------------------

/** The verifier v = g^x mod N the server stores for a user (x with the password cut unless lp). */
export function verifier({ username, password, lp, salt, n = N, g = G }) {
  return modPow(g, big(computeX({ username, password, lp, salt })), n);
}

/** B = (k·v + g^b) mod N. */
export const serverB = ({ v, b, n = N, g = G }) => mod(K_MULT * v + modPow(g, b, n), n);

/**
 * The server's side after the client's A: S = (A·v^u)^b mod N, K, the M1 it expects, M2 and the
 * login cookie. `username` as typed (it is lowercased here). Throws on A ≡ 0 mod N.
 */
export function serverSession({ username, salt, v, b, A, B, n = N, g = G }) {
  if (mod(A, n) === 0n) throw new Error('A mod N is 0');
  const u = computeU(A, B);
  const S = modPow(mod(A * modPow(v, big(u), n), n), b, n);
  const K = computeK(S);
  const M1 = computeM1({ username, salt, A, B, K, n, g });
  return { u, S, K, M1, M2: computeM2({ A, M1, K }), loginCookie: loginCookie({ B, K }) };
}
