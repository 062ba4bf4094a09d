// One-time codes for the simulated gateway's second factor, node:crypto HMAC only:
// TOTP (RFC 6238) and OCRA (RFC 6287), checked against the RFCs' published vectors in
// tests/sim/otp-vectors.test.mjs.
import crypto from 'node:crypto';

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 → bytes (case-insensitive; spaces, dashes and "=" padding ignored). */
export function base32Decode(s) {
  const clean = String(s).toUpperCase().replace(/[\s=-]/g, '');
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of clean) {
    const i = B32.indexOf(ch);
    if (i < 0) throw new Error(`base32: invalid character ${JSON.stringify(ch)}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** bytes → RFC 4648 base32, no padding. */
export function base32Encode(buf) {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of buf) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}

/** RFC 4226 dynamic truncation of an HMAC to `digits` decimal digits. */
function truncate(mac, digits) {
  const off = mac[mac.length - 1] & 0xf;
  const bin = ((mac[off] & 0x7f) << 24) | (mac[off + 1] << 16) | (mac[off + 2] << 8) | mac[off + 3];
  return String(bin % 10 ** digits).padStart(digits, '0');
}

/** HOTP over an 8-byte big-endian counter (BigInt or number). */
export function hotp({ key, counter, digits = 6, algorithm = 'sha1' }) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  return truncate(crypto.createHmac(algorithm, key).update(msg).digest(), digits);
}

/** RFC 6238 TOTP. key: bytes; timeMs: ms since epoch. */
export function totp({ key, timeMs, step = 30, digits = 6, algorithm = 'sha1' }) {
  return hotp({ key, counter: Math.floor(timeMs / 1000 / step), digits, algorithm });
}

/** Checks a TOTP code at timeMs, ±window steps. Returns the matching step offset or null. */
export function checkTotp({ key, code, timeMs, step = 30, digits = 6, window = 1 }) {
  const t = Math.floor(timeMs / 1000 / step);
  for (let d = -window; d <= window; d++) {
    if (t + d >= 0 && hotp({ key, counter: t + d, digits }) === String(code)) return d;
  }
  return null;
}

/**
 * RFC 6287 OCRA, as its reference implementation computes it. suite e.g.
 * "OCRA-1:HOTP-SHA1-8:C-QN06-PSHA1". key: hex. counter: the counter as a string of hex digits
 * (the reference pads it to 16 and reads it as hex, so a decimal counter's digits are read as hex).
 * question: hex (for QN: the decimal question converted to hex), right-padded with 0 to 256.
 * password: hex of the hashed PIN. timestamp: hex. session: hex.
 */
export function ocra({ suite, key, counter = '', question = '', password = '', session = '', timestamp = '' }) {
  const [, cryptoFn, dataInput] = suite.split(':');
  const m = /^HOTP-SHA(1|256|512)-(\d+)$/i.exec(cryptoFn);
  if (!m) throw new Error(`ocra: unsupported crypto function ${cryptoFn}`);
  const algorithm = `sha${m[1]}`;
  const digits = Number(m[2]);
  const di = dataInput.toLowerCase();
  const parts = [Buffer.from(suite, 'latin1'), Buffer.from([0])];
  const hexField = (h, len, left) => Buffer.from((left ? h.padStart(len, '0') : h.padEnd(len, '0')).slice(0, len), 'hex');
  if (di.startsWith('c')) parts.push(hexField(counter, 16, true));
  if (di.startsWith('q') || di.includes('-q')) parts.push(hexField(question, 256, false));
  const p = /psha(1|256|512)/.exec(di);
  if (p) parts.push(hexField(password, { 1: 40, 256: 64, 512: 128 }[p[1]], true));
  const s = /s(064|128|256|512)/.exec(di);
  if (s) parts.push(hexField(session, Number(s[1]) * 2, true));
  if (/(^|-)t/.test(di)) parts.push(hexField(timestamp, 16, true));
  return truncate(crypto.createHmac(algorithm, Buffer.from(key, 'hex')).update(Buffer.concat(parts)).digest(), digits);
}

/** The IB Key suite the gateway login uses. */
export const IBKEY_SUITE = 'OCRA-1:HOTP-SHA1-8:C-QN06-PSHA1';

/** The IB Key answer: counter (number) → its decimal digits as hex; challenge decimal → hex; P = SHA1(PIN text). */
export function ibKeyResponse({ secret, pin, counter, challenge }) {
  return ocra({
    suite: IBKEY_SUITE,
    key: secret,
    counter: String(counter),
    question: BigInt(String(challenge).replace(/\s/g, '')).toString(16),
    password: crypto.createHash('sha1').update(String(pin), 'utf8').digest('hex'),
  });
}
