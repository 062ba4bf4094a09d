// Sessions use the runtime's own crypto where it has it (`nativeCrypto`, default true): the RSA
// signatures (the live session token request, the OAuth 2.0 JWTs) through WebCrypto, with the key
// imported non-extractable, and the one decryption of the access token secret through
// node:crypto's raw RSA (Node, Deno, Bun); the `rsa` crate otherwise. PKCS#1 v1.5 signatures are
// deterministic, so both must give the same bytes for every key size: checked here against
// `signRsaSha256` (always the `rsa` crate). Both paths must complete real handshakes against the
// simulator, which verifies the signatures and knows the secret.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { test } from 'node:test';
import { IbkrSession, decryptAccessTokenSecret, signRsaSha256 } from '../../pkg/node.mjs';
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

/** Counts node:crypto's raw decryptions while `fn` runs; `lie` makes them return garbage. */
async function countingRawRsa(fn, lie = false) {
  const real = process.getBuiltinModule;
  let calls = 0;
  process.getBuiltinModule = (name) => {
    const m = real.call(process, name);
    if (name !== 'node:crypto') return m;
    return { ...m, privateDecrypt: (o, c) => { calls++; const out = m.privateDecrypt(o, c); return lie ? out.fill(0x5a) : out; } };
  };
  try { await fn(); } finally { process.getBuiltinModule = real; }
  return calls;
}

test("the access token secret is decrypted by node:crypto's raw RSA, checked, and by the rsa crate otherwise", async () => {
  const secretHex = crypto.randomBytes(32).toString('hex');
  const sim = await newSim({ secretHex });
  const cfg = sim.clientConfig();
  assert.equal(decryptAccessTokenSecret(cfg.encryptionKey, cfg.accessTokenSecret), secretHex);
  for (const [nativeCrypto, lie, wantCalls] of [[undefined, false, 1], [false, false, 0], [undefined, true, 1]]) {
    const calls = await countingRawRsa(async () => {
      const s = IbkrSession.oauth1({ ...cfg, pacing: false, nativeCrypto });
      // The handshake needs the right prepend: the simulator checks the LST it implies.
      await s.liveSessionToken();
      assert.deepEqual((await s.request('GET', '/iserver/accounts')).accounts, ['DU1234567']);
      s.free();
    }, lie);
    assert.equal(calls, wantCalls, `nativeCrypto ${nativeCrypto}, lying ${lie}`);
  }
  // A wrong key is still DECRYPT_FAILED on the native path.
  await countingRawRsa(async () => {
    assert.throws(() => IbkrSession.oauth1({ ...cfg, encryptionKey: cfg.signatureKey }), (e) => e.code === 'DECRYPT_FAILED');
  });
});

test('sessions sign with WebCrypto by default and with the rsa crate when asked; both pass the simulator', async () => {
  const sim = await newSim();
  for (const [nativeCrypto, want] of [[undefined, "the runtime's WebCrypto"], [false, 'the rsa crate']]) {
    const log = capture();
    const s1 = IbkrSession.oauth1({ ...sim.clientConfig(), pacing: false, logger: log.logger, nativeCrypto });
    await s1.liveSessionToken();
    assert.deepEqual((await s1.request('GET', '/iserver/accounts')).accounts, ['DU1234567']);
    const log2 = capture();
    const s2 = IbkrSession.oauth2({ ...sim.clientConfig2(), pacing: false, logger: log2.logger, nativeCrypto });
    await s2.initBrokerage();
    assert.deepEqual(signedBy(log.lines), [want], 'one signature per LST handshake');
    assert.deepEqual(signedBy(log2.lines), [want, want], 'the client assertion and the SSO-session JWT');
    s1.free();
    s2.free();
  }
});
