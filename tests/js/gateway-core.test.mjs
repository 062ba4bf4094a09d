// The gateway login's pure core through the built package: totp and ocra against RFC vectors
// (tests/vectors/gateway), and GatewayLogin's errors as IbkrAuthError with the new codes.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import { root } from './harness.mjs';

const api = createRequire(import.meta.url)(path.join(root, 'pkg', 'node.cjs'));
const vectors = (name) => JSON.parse(fs.readFileSync(path.join(root, 'tests/vectors/gateway', name), 'utf8'));
const N = 'd4c7f8a2b32c11b8fba9581ec4ba4f1b04215642ef7355e37c0fc0443ef756ea2c6b8eeb755a1c723027663caa265ef785b8ff6a9b35227a52d86633dbdfca43';

function throwsCode(fn, code) {
  try { fn(); } catch (e) {
    assert.ok(e instanceof api.IbkrAuthError, `${e}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected ${code}`);
}

test('the new exports are there, in ESM too', async () => {
  const esm = await import(path.join(root, 'pkg', 'node.mjs'));
  for (const name of ['totp', 'ocra', 'GatewayLogin']) {
    assert.equal(typeof api[name], 'function', name);
    assert.equal(esm[name], api[name], name);
  }
  for (const code of ['LOGIN_FAILED', 'SECOND_FACTOR_FAILED', 'LOCKED_OUT', 'ACCOUNT_LOCKED', 'UNEXPECTED_RESPONSE']) {
    assert.ok(api.ERROR_CODES.includes(code), code);
  }
});

test('totp: every RFC 6238 Appendix B row (time in ms), and the defaults', () => {
  for (const v of vectors('rfc6238.json').vectors) {
    assert.equal(api.totp({ secret: v.secretBase32, time: v.time * 1000, digits: 8, period: 30, algorithm: v.algorithm }), v.totp);
  }
  // Defaults: SHA1, 6 digits, 30 s; a secret as apps show it.
  assert.equal(api.totp({ secret: 'gezd gnbv gy3t qojq gezd gnbv gy3t qojq', time: 59_999 }), '287082');
  throwsCode(() => api.totp({ secret: 'not base32!', time: 0 }), 'INVALID_ARGUMENT');
  throwsCode(() => api.totp({ secret: 'GEZDGNBV' }), 'INVALID_ARGUMENT');
  throwsCode(() => api.totp({ secret: 'GEZDGNBV', time: 0, algorithm: 'MD5' }), 'INVALID_ARGUMENT');
});

test('ocra: RFC 6287 Appendix C rows, with the PIN or its hash', () => {
  const file = vectors('rfc6287.json');
  for (const v of file.vectors) {
    const o = { suite: v.suite, key: v.keyHex, question: v.question };
    if (v.counter !== undefined) o.counter = v.counter;
    if (v.pin !== undefined) o.pin = v.pin;
    if (v.time !== undefined) o.time = v.time * 1000;
    assert.equal(api.ocra(o), v.ocra, JSON.stringify(v));
    if (v.pin !== undefined) assert.equal(api.ocra({ ...o, pin: undefined, pinHash: file.pinSha1 }), v.ocra);
  }
  throwsCode(() => api.ocra({ suite: 'OCRA-1:HOTP-SHA1-8:C-QN06-PSHA1', key: '00', question: '123456', pin: '1' }), 'INVALID_ARGUMENT');
  throwsCode(() => api.ocra({ suite: 'nope', key: '00', question: '1' }), 'INVALID_ARGUMENT');
});

test('GatewayLogin: forms, and its errors are IbkrAuthError with the new codes', () => {
  throwsCode(() => new api.GatewayLogin({ username: 'u' }), 'INVALID_ARGUMENT');
  const login = new api.GatewayLogin({ username: 'Some.User', password: 'secret-pass' });
  const init = login.initForm();
  assert.deepEqual(Object.keys(init), ['ACTION', 'APP_NAME', 'MODE', 'FORCE_LOGIN', 'USER', 'ACCT', 'A']);
  assert.equal(init.USER, 'Some.User');
  assert.match(init.A, /^[0-9a-f]+$/);
  throwsCode(() => login.completeAuthForm(), 'INVALID_ARGUMENT');
  throwsCode(() => login.loginCookie, 'INVALID_ARGUMENT');
  throwsCode(() => login.initReply('<html>502 Bad Gateway</html>'), 'UNEXPECTED_RESPONSE');
  const xml = (g, n) => `<ib_auth_res><ini_params><g>${g}</g><N>${n}</N><proto>6</proto><hash>SHA1</hash><s>00ab</s><B>3f9a</B><lp>true</lp><rsapub>${N}</rsapub><paper>true</paper></ini_params></ib_auth_res>`;
  const e = throwsCode(() => login.initReply(xml(2, N).replace('<proto>6<', '<proto>6a<')), 'UNEXPECTED_RESPONSE');
  assert.match(e.message, /unsupported/);
  assert.deepEqual(login.initReply(xml(2, N)), { again: false, paper: true });
  const form = login.completeAuthForm();
  assert.deepEqual(Object.keys(form), ['ACTION', 'APP_NAME', 'USER', 'ACCT', 'M1', 'VERSION', 'EKX']);
  assert.equal(form.USER, 'some.user');
  assert.match(login.loginCookie, /^[0-9a-f]{40}$/);
  const reply = (m2, locked) => `<ib_auth_res><ini_params><M2>${m2}</M2></ini_params><auth_info><reached_max_login>${locked}</reached_max_login></auth_info></ib_auth_res>`;
  throwsCode(() => login.completeAuthReply(reply('0'.repeat(40), false)), 'LOGIN_FAILED');
  throwsCode(() => login.completeAuthReply(reply('0'.repeat(40), true)), 'ACCOUNT_LOCKED');
  throwsCode(() => login.dispatcherForm(''), 'INVALID_ARGUMENT');
  throwsCode(() => login.twoFactorReply('<ib_auth_res><auth_res>false</auth_res><error>bad code</error></ib_auth_res>'), 'SECOND_FACTOR_FAILED');
  const sf = throwsCode(() => login.twoFactorReply('<ib_auth_res><auth_res>false</auth_res><error>bad code</error></ib_auth_res>'), 'SECOND_FACTOR_FAILED');
  assert.equal(sf.serverMessage, 'bad code');
  assert.deepEqual(login.challengeReply('<ib_auth_res><two_factor><type>SWCR</type><challenge>12 34 56</challenge></two_factor></ib_auth_res>'), { type: 'SWCR', challenge: '123456' });
  assert.deepEqual(login.challengeReply('<ib_auth_res><two_factor><type>SWTK</type></two_factor></ib_auth_res>'), { type: 'SWTK' });
  const df = throwsCode(() => login.dispatcherReply('<html>nope</html>'), 'LOGIN_FAILED');
  assert.equal(df.serverMessage, '<html>nope</html>');
  login.dispatcherReply('Client login succeeds\n');
  // A changed group: again.
  const other = new api.GatewayLogin({ username: 'u', password: 'p' });
  assert.deepEqual(other.initReply(xml(5, N)), { again: true, paper: true });
  login.free();
  other.free();
});
