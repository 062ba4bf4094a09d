// The RSA signatures a session makes (the live session token request, the OAuth 2.0 JWTs) go
// through the runtime's WebCrypto when it has one, with the key imported non-extractable; the
// `rsa` crate signs otherwise. PKCS#1 v1.5 signatures are deterministic, so both must give the
// same bytes for every key size: checked here against `signRsaSha256` (always the `rsa` crate).
// Both paths must complete real handshakes against the simulator, which verifies the signatures.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { test } from 'node:test';
import { IbkrSession, signRsaSha256 } from '../../pkg/node.mjs';
import { capture, newSim } from './helpers.mjs';

const file = (p) => fs.readFileSync(new URL(`../${p}`, import.meta.url), 'utf8');
const keys = {
  'vectors signature key (PKCS#1)': file('vectors/oauth1a/private_signature.pem'),
  'vectors signature key (PKCS#8)': file('vectors/oauth1a/private_signature.pk8.pem'),
  'OAuth 2.0 key': file('vectors/oauth2/private_key.pem'),
  'RSA-3072 (PKCS#8)': file('fixtures/rsa3072.pk8.pem'),
  'RSA-4096': file('fixtures/rsa4096.pem'),
};

async function webCryptoSign(pem, text) {
  const der = crypto.createPrivateKey(pem).export({ format: 'der', type: 'pkcs8' });
  const algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const key = await crypto.webcrypto.subtle.importKey('pkcs8', der, algorithm, false, ['sign']);
  return Buffer.from(await crypto.webcrypto.subtle.sign(algorithm, key, Buffer.from(text))).toString('base64');
}

test("WebCrypto's RSASSA-PKCS1-v1_5 signature is byte-identical to the rsa crate's", async () => {
  let checked = 0;
  for (const [name, pem] of Object.entries(keys)) {
    for (const text of ['', 'a', 'POST&https%3A%2F%2Fapi.ibkr.com%2Fv1%2Fapi%2Foauth%2Flive_session_token&x', crypto.randomBytes(700).toString('hex'), 'é€😀']) {
      assert.equal(await webCryptoSign(pem, text), signRsaSha256(pem, text), `${name}: ${text.slice(0, 20)}`);
      checked++;
    }
  }
  assert.equal(checked, 25);
});

const signedBy = (lines) => lines.filter((l) => l.includes('RSA-SHA256 signature by')).map((l) => l.replace(/^.*signature by /, ''));

test('sessions sign with WebCrypto by default and with the rsa crate when asked; both pass the simulator', async () => {
  const sim = await newSim();
  for (const [webCrypto, want] of [[undefined, "the runtime's WebCrypto"], [false, 'the rsa crate']]) {
    const log = capture();
    const s1 = IbkrSession.oauth1({ ...sim.clientConfig(), pacing: false, logger: log.logger, webCrypto });
    await s1.liveSessionToken();
    assert.deepEqual((await s1.request('GET', '/iserver/accounts')).accounts, ['DU1234567']);
    const log2 = capture();
    const s2 = IbkrSession.oauth2({ ...sim.clientConfig2(), pacing: false, logger: log2.logger, webCrypto });
    await s2.initBrokerage();
    assert.deepEqual(signedBy(log.lines), [want], 'one signature per LST handshake');
    assert.deepEqual(signedBy(log2.lines), [want, want], 'the client assertion and the SSO-session JWT');
    s1.free();
    s2.free();
  }
});
