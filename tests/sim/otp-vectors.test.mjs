// The simulator's TOTP and OCRA against the RFCs' published vectors: RFC 6238 Appendix B (all
// three hashes) and RFC 6287 Appendix C (the suites without session information; the IB Key
// suite OCRA-1:HOTP-SHA1-8:C-QN06-PSHA1 is built of the same C, QN and PSHA1 fields).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';
import { base32Decode, base32Encode, ibKeyResponse, ocra, totp, checkTotp } from '../../sim/gateway-otp.mjs';

const ascii = (s) => Buffer.from(s, 'latin1');

test('RFC 6238 Appendix B: TOTP, 8 digits, SHA-1/256/512', () => {
  const keys = {
    sha1: ascii('12345678901234567890'),
    sha256: ascii('12345678901234567890123456789012'),
    sha512: ascii('1234567890123456789012345678901234567890123456789012345678901234'),
  };
  const rows = [
    [59, '94287082', '46119246', '90693936'],
    [1111111109, '07081804', '68084774', '25091201'],
    [1111111111, '14050471', '67062674', '99943326'],
    [1234567890, '89005924', '91819424', '93441116'],
    [2000000000, '69279037', '90698825', '38618901'],
    [20000000000, '65353130', '77737706', '47863826'],
  ];
  for (const [t, s1, s256, s512] of rows) {
    assert.equal(totp({ key: keys.sha1, timeMs: t * 1000, digits: 8 }), s1, `SHA-1 T=${t}`);
    assert.equal(totp({ key: keys.sha256, timeMs: t * 1000, digits: 8, algorithm: 'sha256' }), s256, `SHA-256 T=${t}`);
    assert.equal(totp({ key: keys.sha512, timeMs: t * 1000, digits: 8, algorithm: 'sha512' }), s512, `SHA-512 T=${t}`);
  }
});

test('TOTP check: 6 digits, ±1 step of 30 s, and base32 both ways', () => {
  const key = ascii('12345678901234567890');
  assert.equal(base32Encode(key), 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
  assert.deepEqual(base32Decode('gezd gnbv-gy3t qojq GEZDGNBVGY3TQOJQ===='), key);
  const now = 1111111111_000;
  const code = totp({ key, timeMs: now });
  assert.equal(code, '050471'); // the RFC's 8-digit 14050471, cut to 6
  assert.equal(checkTotp({ key, code, timeMs: now }), 0);
  assert.equal(checkTotp({ key, code, timeMs: now + 30_000 }), -1);
  assert.equal(checkTotp({ key, code, timeMs: now - 30_000 }), 1);
  assert.equal(checkTotp({ key, code, timeMs: now + 61_000 }), null);
});

test('RFC 6287 Appendix C: OCRA', () => {
  const key20 = '3132333435363738393031323334353637383930';
  const key32 = '3132333435363738393031323334353637383930313233343536373839303132';
  const key64 = '31323334353637383930313233343536373839303132333435363738393031323334353637383930313233343536373839303132333435363738393031323334';
  const pin = crypto.createHash('sha1').update('1234').digest('hex');
  assert.equal(pin, '7110eda4d09e062aa5e4a390b0a572ac0d2c0220');
  const q = (i) => BigInt(String(i).repeat(8)).toString(16);
  const oneWay = ['237653', '243178', '653583', '740991', '608993', '388898', '816933', '224598', '750600', '294470'];
  oneWay.forEach((want, i) => assert.equal(ocra({ suite: 'OCRA-1:HOTP-SHA1-6:QN08', key: key20, question: q(i) }), want, `QN08 ${i}`));
  const cq = ['65347737', '86775851', '78192410', '71565254', '10104329', '65983500', '70069104', '91771096', '75011558', '08522129'];
  cq.forEach((want, i) => assert.equal(ocra({ suite: 'OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1', key: key32, counter: String(i), question: BigInt(12345678).toString(16), password: pin }), want, `C-QN08-PSHA1 C=${i}`));
  const qp = ['83238735', '01501458', '17957585', '86776967', '86807031'];
  qp.forEach((want, i) => assert.equal(ocra({ suite: 'OCRA-1:HOTP-SHA256-8:QN08-PSHA1', key: key32, question: q(i), password: pin }), want, `QN08-PSHA1 ${i}`));
  const c512 = ['07016083', '63947962', '70123924', '25341727', '33203315', '34205738', '44343969', '51946085', '20403879', '31409299'];
  c512.forEach((want, i) => assert.equal(ocra({ suite: 'OCRA-1:HOTP-SHA512-8:C-QN08', key: key64, counter: String(i), question: q(i) }), want, `SHA512 C-QN08 ${i}`));
  const t512 = ['95209754', '55907591', '22048402', '24218844', '36209546'];
  t512.forEach((want, i) => assert.equal(ocra({ suite: 'OCRA-1:HOTP-SHA512-8:QN08-T1M', key: key64, question: q(i), timestamp: '132d0b6' }), want, `QN08-T1M ${i}`));
});

test('the IB Key suite: the counter\'s decimal digits are read as hex, the challenge is right-padded', () => {
  const secret = '3132333435363738393031323334353637383930';
  const pinHash = crypto.createHash('sha1').update('4321').digest('hex');
  // counter 10 is hashed as 0x10 (16), not 0x0a
  const as16 = ocra({ suite: 'OCRA-1:HOTP-SHA1-8:C-QN06-PSHA1', key: secret, counter: '10', question: (123456).toString(16), password: pinHash });
  assert.equal(ibKeyResponse({ secret, pin: '4321', counter: 10, challenge: '123 456' }), as16);
  assert.notEqual(ibKeyResponse({ secret, pin: '4321', counter: 10, challenge: '123456' }), ocra({ suite: 'OCRA-1:HOTP-SHA1-8:C-QN06-PSHA1', key: secret, counter: 'a', question: (123456).toString(16), password: pinHash }));
  assert.match(as16, /^\d{8}$/);
});
