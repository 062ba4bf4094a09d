// Ready configurations for third-party clients pointed at the simulator: ibind (voyz/ibind,
// OAuth 1.0a, configured by IBIND_* environment variables) and ibauth (OAuth 2.0, a YAML file).
// Only configuration: both clients run unchanged. Checked by tests/clients/ against ibind 0.2.2
// and ibauth 0.1.6 from PyPI.
import fs from 'node:fs';
import path from 'node:path';

function writePrivate(file, text) {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.writeFileSync(file, text, { mode: 0o600 });
  return file;
}

/**
 * ibind's environment for this simulator (writes the two private keys into `dir`). ibind reads
 * the DH prime as hex and signs `IBIND_OAUTH1A_REST_URL` + path, so the URL must be the one the
 * simulator advertises (its origin, http or https) and end in a slash. With HTTPS, add the
 * simulator's CA: REQUESTS_CA_BUNDLE (requests, which ibind uses, reads it).
 * @param {import('./server.mjs').Simulator} sim
 * @param {string} dir
 * @param {{ caFile?: string, restUrl?: string }} [o] restUrl: another URL that reaches the
 *   simulator (e.g. https://api.ibkr.com/v1/api/ through the proxy mode)
 */
export function ibindEnv(sim, dir, o = {}) {
  const c = sim.clientConfig();
  const env = {
    IBIND_USE_OAUTH: 'True',
    IBIND_OAUTH1A_REST_URL: o.restUrl ?? `${sim.baseUrl}/`,
    IBIND_OAUTH1A_WS_URL: `${(o.restUrl ?? `${sim.baseUrl}/`).replace(/^http/, 'ws')}ws`,
    IBIND_OAUTH1A_LIVE_SESSION_TOKEN_ENDPOINT: 'oauth/live_session_token',
    IBIND_OAUTH1A_CONSUMER_KEY: c.consumerKey,
    IBIND_OAUTH1A_ACCESS_TOKEN: c.accessToken,
    IBIND_OAUTH1A_ACCESS_TOKEN_SECRET: c.accessTokenSecret,
    IBIND_OAUTH1A_SIGNATURE_KEY_FP: writePrivate(path.join(dir, 'private_signature.pem'), c.signatureKey),
    IBIND_OAUTH1A_ENCRYPTION_KEY_FP: writePrivate(path.join(dir, 'private_encryption.pem'), c.encryptionKey),
    IBIND_OAUTH1A_DH_PRIME: sim.dh.prime,
    IBIND_OAUTH1A_DH_GENERATOR: String(sim.dh.generator),
    IBIND_OAUTH1A_REALM: c.realm,
  };
  if (o.caFile) env.REQUESTS_CA_BUNDLE = o.caFile;
  return env;
}

/**
 * ibauth's config file (YAML: client_id, client_key_id, credential, private_key_file) and the
 * environment it needs. ibauth always calls https://api.ibkr.com and looks its public IP up at
 * https://api.ipify.org, with no setting for either: it reaches the simulator through the
 * simulator's proxy mode (HTTPS_PROXY, which httpx honours; the simulator started with `proxy`
 * and over plain HTTP) and trusts its CA (SSL_CERT_FILE).
 * @param {import('./server.mjs').Simulator} sim
 * @param {string} dir
 * @param {{ caFile: string }} o
 * @returns {{ configFile: string, env: Record<string, string> }}
 */
export function ibauthConfig(sim, dir, o) {
  const { clientId, clientKeyId, credential } = sim.oauth2;
  const keyFile = writePrivate(path.join(dir, 'oauth2-private.pem'), sim.keys.oauth2.privateKey);
  const yaml = [
    `client_id: ${JSON.stringify(clientId)}`,
    `client_key_id: ${JSON.stringify(clientKeyId)}`,
    `credential: ${JSON.stringify(credential)}`,
    `private_key_file: ${JSON.stringify(keyFile)}`,
    '',
  ].join('\n');
  const configFile = writePrivate(path.join(dir, 'ibauth.yaml'), yaml);
  return { configFile, env: { HTTPS_PROXY: sim.origin, SSL_CERT_FILE: o.caFile, NO_PROXY: '' } };
}
