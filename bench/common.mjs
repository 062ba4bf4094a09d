// Shared by the benchmarks: the test-vector user, and an in-process IBKR server (node:crypto) for
// handshakes whose CPU time is measured so that it can be subtracted from the client's.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const vdir = path.join(root, 'tests/vectors/oauth1a');
const read = (f) => fs.readFileSync(path.join(vdir, f), 'utf8');
export const vectors = JSON.parse(read('vectors.json'));

export const user = {
  consumerKey: vectors.inputs.consumer_key,
  accessToken: vectors.inputs.access_token,
  accessTokenSecret: vectors.inputs.access_token_secret,
  signatureKey: read('private_signature.pem'),
  encryptionKey: read('private_encryption.pem'),
  dhParams: read('dhparam.pem'),
  baseUrl: 'https://api.ibkr.com/v1/api',
};
export const prepend = Buffer.from(vectors.derived['decrypted_access_token_secret_hex (= prepend)'], 'hex');
export const primeHex = vectors.inputs.dh_prime_hex;

const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };

/** A fake `fetch` playing IBKR's server side; `serverMs` accumulates its CPU time. */
export function fakeIbkr({ lifetimeMs = 24 * 3600e3 } = {}) {
  const dh = crypto.createDiffieHellman(Buffer.from(primeHex, 'hex'), Buffer.from([2]));
  const stats = { serverMs: 0 };
  const fetch = async (url, init = {}) => {
    const t = cpuMs();
    let body = '{}';
    if (String(url).endsWith('/oauth/live_session_token')) {
      const a = /diffie_hellman_challenge="([0-9a-f]+)"/.exec(init.headers.Authorization)[1];
      dh.setPrivateKey(crypto.randomBytes(32));
      dh.generateKeys();
      let k = dh.computeSecret(Buffer.from(a.length % 2 ? `0${a}` : a, 'hex'));
      let i = 0;
      while (i < k.length - 1 && k[i] === 0) i++;
      k = k.subarray(i);
      if (k[0] & 0x80) k = Buffer.concat([Buffer.from([0]), k]);
      const lst = crypto.createHmac('sha1', k).update(prepend).digest();
      body = JSON.stringify({
        diffie_hellman_response: dh.getPublicKey('hex').replace(/^0+/, ''),
        live_session_token_signature: crypto.createHmac('sha1', lst).update(user.consumerKey).digest('hex'),
        live_session_token_expiration: Date.now() + lifetimeMs,
      });
    }
    const response = new Response(body, { status: 200, headers: { 'content-type': 'application/json' } });
    stats.serverMs += cpuMs() - t;
    return response;
  };
  return { fetch, stats };
}

/** RFC 3986 percent-encoding, as OAuth 1.0a wants it. */
export const pct = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * The same client side in native OpenSSL through node:crypto (`sign` and `createDiffieHellman`),
 * with the server's half played by a second DH object and its CPU time subtracted. CPU ms per
 * handshake over `n` handshakes after `warmup` untimed ones.
 */
export function nativeHandshake(n, warmup) {
  const sigKey = crypto.createPrivateKey(user.signatureKey);
  const dh = crypto.createDiffieHellman(Buffer.from(primeHex, 'hex'), Buffer.from([2]));
  const peer = crypto.createDiffieHellman(Buffer.from(primeHex, 'hex'), Buffer.from([2]));
  let serverMs = 0;
  let t = cpuMs();
  for (let i = 0; i < n + warmup; i++) {
    if (i === warmup) {
      serverMs = 0;
      t = cpuMs();
    }
    dh.setPrivateKey(crypto.randomBytes(32));
    dh.generateKeys();
    const a = dh.getPublicKey('hex');
    const base = `${prepend.toString('hex')}POST&${pct(`${user.baseUrl}/oauth/live_session_token`)}&${pct(`diffie_hellman_challenge=${a}&oauth_consumer_key=${user.consumerKey}&oauth_nonce=${crypto.randomBytes(16).toString('hex')}&oauth_signature_method=RSA-SHA256&oauth_timestamp=${Math.floor(Date.now() / 1000)}&oauth_token=${user.accessToken}`)}`;
    crypto.sign('sha256', Buffer.from(base), sigKey).toString('base64');
    const s0 = cpuMs();
    peer.setPrivateKey(crypto.randomBytes(32));
    peer.generateKeys();
    const b = peer.getPublicKey();
    serverMs += cpuMs() - s0;
    let k = dh.computeSecret(b);
    let j = 0;
    while (j < k.length - 1 && k[j] === 0) j++;
    k = k.subarray(j);
    if (k[0] & 0x80) k = Buffer.concat([Buffer.from([0]), k]);
    const lst = crypto.createHmac('sha1', k).update(prepend).digest();
    crypto.timingSafeEqual(crypto.createHmac('sha1', lst).update(user.consumerKey).digest(), crypto.createHmac('sha1', lst).update(user.consumerKey).digest());
  }
  return (cpuMs() - t - serverMs) / n;
}

export { cpuMs };
