// `make demo`: the OAuth 1.0a live session token handshake, step by step, on the test vectors.
// The client side is ibkr-auth (the built package in pkg/); the server side is played here with
// plain node:crypto and BigInt, so the two sides are computed independently. Exits non-zero if
// any step disagrees with the vectors.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ibkr from '../pkg/node.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const vdir = path.join(here, '../tests/vectors/oauth1a');
const read = (f) => fs.readFileSync(path.join(vdir, f), 'utf8');
const v = JSON.parse(read('vectors.json'));
const tty = process.stdout.isTTY;
const bold = (s) => (tty ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s) => (tty ? `\x1b[2m${s}\x1b[0m` : s);
const green = (s) => (tty ? `\x1b[32m${s}\x1b[0m` : s);
const mask = (s) => `${s.slice(0, 6)}…(${s.length} chars, secret)`;
const short = (s, n = 72) => (s.length > n ? `${s.slice(0, n)}…` : s);

let step = 0;
let failed = false;
function show(title, fn) {
  const t0 = process.hrtime.bigint();
  const lines = fn();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(`\n${bold(`${++step}. ${title}`)} ${dim(`(${ms.toFixed(2)} ms)`)}`);
  for (const l of lines) console.log(`   ${l}`);
}
function expect(label, got, want) {
  const ok = got === want;
  failed ||= !ok;
  return `${ok ? green('✓') : '✗'} ${label}${ok ? '' : `: got ${short(String(got))}, expected ${short(String(want))}`}`;
}
const modPow = (b, e, m) => {
  let r = 1n;
  for (b %= m; e > 0n; e >>= 1n, b = (b * b) % m) if (e & 1n) r = (r * b) % m;
  return r;
};

console.log(bold('ibkr-auth — the OAuth 1.0a live session token handshake, step by step'));
console.log(dim(`consumer key ${v.inputs.consumer_key}, access token ${v.inputs.access_token}, keys from tests/vectors/oauth1a`));
const c = v.live_session_token.lst_k_needs_sign_byte;
const keys = { signature: read('private_signature.pem'), encryption: read('private_encryption.pem'), dh: read('dhparam.pem') };
let prepend; let dh; let challenge; let request; let lst;

show('Decrypt the access token secret with the private encryption key (RSA PKCS#1 v1.5)', () => {
  prepend = ibkr.decryptAccessTokenSecret(keys.encryption, v.inputs.access_token_secret);
  return [`prepend = ${mask(prepend)}`, expect('matches the vectors', prepend, v.derived['decrypted_access_token_secret_hex (= prepend)'])];
});

show('Read p and g from dhparam.pem (PKCS#3)', () => {
  dh = ibkr.parseDhParams(keys.dh);
  return [`p: ${dh.prime.length * 4}-bit prime ${short(dh.prime, 40)}`, `g = ${dh.generator}`, expect('p matches', dh.prime, v.inputs.dh_prime_hex)];
});

show('Diffie-Hellman challenge A = g^a mod p', () => {
  challenge = ibkr.dhChallenge({ prime: dh.prime, random: v.inputs.dh_random_hex });
  return [`a = ${mask(v.inputs.dh_random_hex)} ${dim('(a fresh dhRandom() in real use)')}`, `A = ${short(challenge)}`,
    expect('A matches', challenge, v.derived.diffie_hellman_challenge_hex)];
});

show('Sign POST /oauth/live_session_token with RSA-SHA256 (prepend + base string)', () => {
  request = ibkr.liveSessionTokenRequest({
    baseUrl: v.inputs.base_url, consumerKey: v.inputs.consumer_key, accessToken: v.inputs.access_token,
    challenge, prepend, signatureKey: keys.signature, nonce: c.request.oauth_nonce, timestamp: c.request.oauth_timestamp,
  });
  return [`${request.method} ${request.url}`, `base string = ${mask(prepend)}${short(request.baseString.slice(prepend.length), 60)}`,
    `Authorization: ${short(request.authorization, 90)}`, expect('header matches ibind byte for byte', request.authorization, c.request.authorization_header)];
});

let response;
show('Server side (plain node:crypto + BigInt): verify the RSA signature, answer with B', () => {
  const okSig = crypto.verify('sha256', Buffer.from(request.baseString), read('public_signature.pem'), Buffer.from(request.signature, 'base64'));
  const p = BigInt(`0x${dh.prime}`);
  const b = BigInt(`0x${c.simulated_server.server_dh_private_b_hex}`);
  const B = modPow(2n, b, p).toString(16);
  let K = modPow(BigInt(`0x${challenge}`), b, p).toString(16);
  if (K.length % 2) K = `0${K}`;
  let kBytes = Buffer.from(K, 'hex');
  if (kBytes[0] & 0x80) kBytes = Buffer.concat([Buffer.from([0]), kBytes]);
  const serverLst = crypto.createHmac('sha1', kBytes).update(Buffer.from(prepend, 'hex')).digest();
  const signature = crypto.createHmac('sha1', serverLst).update(v.inputs.consumer_key).digest('hex');
  response = { diffie_hellman_response: B, live_session_token_signature: signature, live_session_token_expiration: c.simulated_server.response_json.live_session_token_expiration };
  return [expect('RSA-SHA256 signature verifies with the public signature key', okSig, true),
    `diffie_hellman_response B = ${short(B)}`, `live_session_token_signature = ${signature}`,
    expect('B matches the vectors', B, c.simulated_server.response_json.diffie_hellman_response)];
});

show('Client: K = B^a mod p, K bytes as Java writes them, LST = HMAC-SHA1(K, prepend)', () => {
  lst = ibkr.liveSessionToken({ dhResponse: response.diffie_hellman_response, random: v.inputs.dh_random_hex, prime: dh.prime, prepend });
  return [`K has its top bit set, so its bytes get a leading 0x00 ${dim('(the classic bug drops it)')}`,
    `LST = ${mask(lst)}`, expect('LST matches', lst, c.computation.live_session_token)];
});

show('Validate the LST against live_session_token_signature (constant time)', () => {
  const ok = ibkr.verifyLiveSessionToken({ token: lst, consumerKey: v.inputs.consumer_key, signature: response.live_session_token_signature });
  const expires = new Date(response.live_session_token_expiration).toISOString();
  return [expect('signature verified', ok, true), `expires ${expires}`];
});

show('Sign an API call with HMAC-SHA256: GET /iserver/marketdata/snapshot?conids=265598,8314', () => {
  const a = v.api_requests.get_snapshot_query_in_base_string;
  const s = ibkr.signRequest({ method: a.method, url: a.url_sent, consumerKey: v.inputs.consumer_key, accessToken: v.inputs.access_token,
    liveSessionToken: v.api_requests.live_session_token_used, nonce: a.oauth_nonce, timestamp: a.oauth_timestamp });
  return [`base string = ${short(s.baseString, 90)}`, `Authorization: ${short(s.authorization, 90)}`,
    expect('header matches', s.authorization, a.authorization_header)];
});

show('A mistake, reported clearly: the signature key used to decrypt the secret', () => {
  try {
    ibkr.decryptAccessTokenSecret(keys.signature, v.inputs.access_token_secret);
    failed = true;
    return ['✗ no error'];
  } catch (e) {
    return [`${e.name} ${e.code}: ${short(e.message, 110)}`, expect('typed error', e instanceof ibkr.IbkrAuthError && e.code, 'DECRYPT_FAILED')];
  }
});

console.log(failed ? '\n✗ the walkthrough found a mismatch' : `\n${green('✓')} every step agrees with the vectors and with the independent server side`);
process.exit(failed ? 1 : 0);
