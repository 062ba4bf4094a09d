// The server's view of IBKR's OAuth 1.0a, written from the protocol description with node:crypto
// and BigInt only — never with the Rust core — so that a misunderstanding in one cannot agree
// with itself in the other.
import crypto from 'node:crypto';

/** RFC 3986: unreserved characters stay, every other UTF-8 byte becomes %XX (uppercase). */
export function pct(s) {
  return Array.from(new TextEncoder().encode(String(s)), (b) => {
    const c = String.fromCharCode(b);
    return /[A-Za-z0-9\-._~]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }).join('');
}

function pctDecode(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Parses `OAuth realm="…", k="v", …` into a map; values are percent-decoded. */
export function parseAuthorization(header) {
  if (typeof header !== 'string' || !header.startsWith('OAuth ')) return null;
  const out = {};
  const re = /\s*([^=,\s]+)="([^"]*)"\s*(?:,|$)/gy;
  re.lastIndex = 6;
  let m;
  while (re.lastIndex < header.length && (m = re.exec(header))) out[pctDecode(m[1])] = pctDecode(m[2]);
  return out;
}

/** Byte order of UTF-8 equals code-point order; compare code points, then values. */
function codePointCompare(a, b) {
  const x = [...a].map((c) => c.codePointAt(0));
  const y = [...b].map((c) => c.codePointAt(0));
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

/**
 * The base string IBKR's server computes: `[prepend]METHOD&pct(url)&pct(k=v&…)`, raw values,
 * sorted by key then value. `pairs` is a list of [key, value].
 */
export function serverBaseString(method, baseUrl, pairs, prepend = '') {
  const sorted = pairs
    .filter(([k]) => k !== 'realm' && k !== 'oauth_signature')
    .sort(([k1, v1], [k2, v2]) => codePointCompare(k1, k2) || codePointCompare(v1, v2));
  const paramString = sorted.map(([k, v]) => `${k}=${v}`).join('&');
  return `${prepend}${method.toUpperCase()}&${pct(baseUrl)}&${pct(paramString)}`;
}

/** Query pairs of a URL, decoded as a form (`+` is a space). */
export function queryPairs(url) {
  return [...new URL(url).searchParams.entries()];
}

export function verifyRsaSha256(publicKey, text, signatureB64) {
  return crypto.verify('sha256', Buffer.from(text), publicKey, Buffer.from(signatureB64, 'base64'));
}

export function hmacSha256B64(keyBytes, text) {
  return crypto.createHmac('sha256', keyBytes).update(text).digest('base64');
}

export function constantTimeEqual(a, b) {
  const x = Buffer.from(String(a));
  const y = Buffer.from(String(b));
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

/** base^exp mod m, square and multiply (a negative base is taken mod m first). */
export function modPow(base, exp, mod) {
  let result = 1n;
  let b = ((base % mod) + mod) % mod;
  for (let e = exp; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % mod;
    b = (b * b) % mod;
  }
  return result;
}

/** Java's BigInteger.toByteArray(): minimal big-endian bytes, 0x00 in front if the top bit is set. */
export function javaBytes(n) {
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  const bytes = Buffer.from(hex, 'hex');
  return bytes[0] & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes;
}

/**
 * The server's half of the live session token: from the client's challenge A, pick b, answer
 * B = g^b mod p, and derive the LST = HMAC-SHA1(K bytes, secret) and its signature.
 */
export function serverDiffieHellman({ prime, generator, challengeHex, secret, consumerKey }) {
  const p = BigInt(`0x${prime}`);
  const A = BigInt(`0x${challengeHex}`);
  if (A <= 1n || A >= p - 1n) return null;
  const b = BigInt(`0x${crypto.randomBytes(32).toString('hex')}`);
  const B = modPow(BigInt(generator), b, p);
  const K = modPow(A, b, p);
  const lst = crypto.createHmac('sha1', javaBytes(K)).update(secret).digest();
  const signature = crypto.createHmac('sha1', lst).update(consumerKey).digest('hex');
  return { dhResponse: B.toString(16), lst, signature };
}

/** A DH group as PKCS#3 PEM: SEQUENCE { INTEGER p, INTEGER g }. */
export function dhParamsPem(primeHex, generator) {
  const int = (hex) => {
    let h = hex.length % 2 ? `0${hex}` : hex;
    if (parseInt(h.slice(0, 2), 16) & 0x80) h = `00${h}`;
    return Buffer.concat([Buffer.from([0x02]), derLength(h.length / 2), Buffer.from(h, 'hex')]);
  };
  const body = Buffer.concat([int(primeHex), int(generator.toString(16))]);
  const der = Buffer.concat([Buffer.from([0x30]), derLength(body.length), body]);
  const lines = der.toString('base64').match(/.{1,64}/g).join('\n');
  return `-----BEGIN DH PARAMETERS-----\n${lines}\n-----END DH PARAMETERS-----\n`;
}

function derLength(n) {
  if (n < 0x80) return Buffer.from([n]);
  const bytes = [];
  for (let x = n; x > 0; x >>= 8) bytes.unshift(x & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** Verifies a compact RS256 JWT; returns { header, payload } or a string saying what is wrong. */
export function verifyJwtRs256(compact, publicKey) {
  const parts = String(compact).split('.');
  if (parts.length !== 3) return 'not a compact JWT';
  let header;
  let payload;
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
    payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch {
    return 'JWT segments are not JSON';
  }
  if (header.alg !== 'RS256') return `unsupported alg ${header.alg}`;
  const ok = crypto.verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), publicKey, Buffer.from(parts[2], 'base64url'));
  return ok ? { header, payload } : 'JWT signature does not verify with the registered public key';
}
