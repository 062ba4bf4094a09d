#!/usr/bin/env node
// Starts the IBKR simulator on 127.0.0.1 and prints its URL and a ready client config.
//   node sim/cli.mjs [--port N] [--state-dir DIR] [--no-rate-limits] [--query-style either|signed|unsigned] [--https] [--proxy] [--gateway]
//     [--gateway-login [--gateway-user NAME --gateway-password PW --gateway-totp-secret B32]]
import crypto from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Simulator } from './server.mjs';
import { loadOrCreateState, writeClientFiles } from './state.mjs';
import { base32Encode } from './gateway-otp.mjs';
import { ibauthConfig, ibindEnv } from './clients.mjs';
import { testTls } from './tls.mjs';

const USAGE = 'usage: node sim/cli.mjs [--port N] [--state-dir DIR] [--no-rate-limits] [--query-style either|signed|unsigned] [--https] [--proxy] [--gateway]';
let parsed;
try {
  parsed = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      'state-dir': { type: 'string', default: '.ibkr-sim' },
      'no-rate-limits': { type: 'boolean', default: false },
      'query-style': { type: 'string', default: 'either' },
      https: { type: 'boolean', default: false },
      proxy: { type: 'boolean', default: false },
      gateway: { type: 'boolean', default: false },
      'gateway-login': { type: 'boolean', default: false },
      'gateway-user': { type: 'string' },
      'gateway-password': { type: 'string' },
      'gateway-totp-secret': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
} catch (e) {
  console.error(`sim: ${e.message}\n${USAGE}\n(--help lists every option)`);
  process.exit(2);
}
const { values } = parsed;
if (values.help) {
  console.log(USAGE);
  console.log('  --https    serve the OAuth endpoints over HTTPS, with a throwaway CA made (openssl) in DIR/tls/; its ca.pem is printed for clients to trust');
  console.log('  --proxy    also be an HTTPS proxy (CONNECT) for api.ibkr.com and api.ipify.org only, answered by the simulator with that CA:');
  console.log('             for clients that hard-code https://api.ibkr.com (ibauth); other hosts are refused');
  console.log('  --gateway  play a Client Portal Gateway (HTTPS, self-signed certificate, logged in; POST /__sim/login {"loggedIn":false} logs it out)');
  console.log('  --gateway-login  with --gateway: start logged out and serve the login page (SRP password step + TOTP) for one user:');
  console.log('                   simuser with a random password and TOTP secret, or --gateway-user NAME --gateway-password PW [--gateway-totp-secret B32]');
  process.exit(0);
}
if (values.gateway && (values.https || values.proxy)) {
  console.error('--gateway is always HTTPS (its own self-signed certificate); --https and --proxy are for the OAuth mode');
  process.exit(2);
}
if (values.https && values.proxy) {
  console.error('--proxy needs the plain HTTP listener (clients speak to a proxy in HTTP): leave out --https');
  process.exit(2);
}
if (values['gateway-login'] && !values.gateway) {
  console.error('--gateway-login needs --gateway');
  process.exit(2);
}
/** The login's user: from the flags, or made up (a 12-character password with lp true, a TOTP secret). */
function gatewayUser() {
  const given = values['gateway-user'] !== undefined || values['gateway-password'] !== undefined;
  if (given && (!values['gateway-user'] || !values['gateway-password'])) {
    console.error('--gateway-user and --gateway-password go together');
    process.exit(2);
  }
  const username = values['gateway-user'] ?? 'simuser';
  const password = values['gateway-password'] ?? crypto.randomBytes(9).toString('base64url');
  const secret = values['gateway-totp-secret'] ?? (given ? undefined : base32Encode(crypto.randomBytes(20)));
  return { username, password, lp: true, ...(secret ? { secondFactor: { type: 'totp', secret } } : {}) };
}
const loginUser = values['gateway-login'] ? gatewayUser() : null;
const dir = path.resolve(values['state-dir']);
const { options, created } = loadOrCreateState(dir);
const tls = values.https || values.proxy ? testTls(path.join(dir, 'tls')) : null;
const sim = await new Simulator({
  ...options, rateLimits: !values['no-rate-limits'], queryStyle: values['query-style'], gateway: values.gateway,
  ...(tls ? { tls, https: values.https, proxy: values.proxy } : {}),
  ...(loginUser ? { gatewayLogin: { users: [loginUser] } } : {}),
}).start(Number(values.port));
if (values.gateway && loginUser) {
  const certificate = fileURLToPath(new URL('./tls/gateway-cert.pem', import.meta.url));
  console.log(`Client Portal Gateway simulator listening on ${sim.origin} (self-signed certificate; logged OUT: log in with the user below)`);
  console.log(`user: ${loginUser.username}  password: ${loginUser.password}${loginUser.secondFactor ? `  TOTP secret (base32): ${loginUser.secondFactor.secret}` : '  (no second factor)'}`);
  console.log('\n# ibkr-auth.yaml');
  console.log(`gateway_url: ${sim.origin}`);
  console.log(`gateway_certificate_file: ${certificate}   # or: gateway_insecure: true`);
  console.log(`gateway_username: ${loginUser.username}`);
  console.log(`gateway_password: ${JSON.stringify(loginUser.password)}`);
  if (loginUser.secondFactor) console.log(`gateway_totp_secret: ${loginUser.secondFactor.secret}`);
  console.log('\ncontrol: POST /__sim/login {"loggedIn":false} (the gateway logs itself out), POST /__sim/unlock, GET /__sim/sms, GET /__sim/state');
} else if (values.gateway) {
  sim.setLoggedIn(true);
  console.log(`Client Portal Gateway simulator listening on ${sim.origin} (self-signed certificate; logged in)`);
  console.log(`IbkrSession.gateway({ baseUrl: '${sim.baseUrl}', fetch: gatewayFetch({ baseUrl: '${sim.origin}', certificate: await gatewayCertificate('${sim.origin}').then((c) => c.pem) }) })`);
  console.log('control: POST /__sim/login {"loggedIn":false}, POST /__sim/competing, GET /__sim/state');
}
if (values.gateway) {
  const stopGateway = async () => { await sim.close(); process.exit(0); };
  process.on('SIGINT', stopGateway);
  process.on('SIGTERM', stopGateway);
  await new Promise(() => {});
}
const config = sim.clientConfig();
const saved = writeClientFiles(dir, config);
console.log(`IBKR simulator listening on ${sim.origin}${values.proxy ? ' (also an HTTPS proxy for api.ibkr.com and api.ipify.org)' : ''}`);
console.log(`${created ? 'generated new keys' : 'reusing keys'} in ${dir}`);
if (tls) console.log(`throwaway test CA (trust it in clients, nowhere else): ${tls.caFile}`);
console.log(`client config: ${saved}`);
console.log(JSON.stringify({ ...config, signatureKey: '<PEM>', encryptionKey: '<PEM>', dhParams: '<PEM>' }, null, 2));
console.log('\nIbkrSession.oauth1(JSON.parse(fs.readFileSync(' + JSON.stringify(saved) + ', "utf8")))');
console.log(`OAuth 2.0 (the same server): IbkrSession.oauth2({ baseUrl: '${sim.baseUrl}', clientId: 'SIMCLIENT', clientKeyId: 'main', credential: 'simuser', ip: '127.0.0.1', privateKey: <state.json keys.oauth2.privateKey> })`);

// ibind (voyz/ibind, OAuth 1.0a): its environment variables; the DH prime in hex, as it wants it.
const viaProxy = values.proxy ? { restUrl: 'https://api.ibkr.com/v1/api/' } : {};
const ibind = ibindEnv(sim, dir, { ...viaProxy, ...(tls ? { caFile: tls.caFile } : {}) });
if (values.proxy) ibind.HTTPS_PROXY = sim.origin;
const shell = (v) => `'${String(v).replaceAll("'", "'\\''")}'`;
console.log(`\n# ibind (pip install 'ibind[oauth]'; checked with 0.2.2): source these, then IbkrClient()${values.proxy ? '\n# (through the proxy: ibind keeps its default URL; the direct one also works: IBIND_OAUTH1A_REST_URL=' + sim.baseUrl + '/)' : ''}`);
for (const [k, v] of Object.entries(ibind)) console.log(`export ${k}=${shell(v)}`);

// ibauth (OAuth 2.0): a YAML file; it always calls https://api.ibkr.com, so only through --proxy.
if (values.proxy) {
  const { configFile, env } = ibauthConfig(sim, dir, { caFile: tls.caFile });
  console.log(`\n# ibauth (pip install ibauth; checked with 0.1.6): config ${configFile}`);
  console.log(`${Object.entries(env).map(([k, v]) => `${k}=${shell(v)}`).join(' ')} ibauth --config ${shell(configFile)}`);
} else {
  console.log('\n# ibauth (OAuth 2.0) hard-codes https://api.ibkr.com: start with --proxy for its config');
}
console.log('\ncontrol: POST /__sim/fault {"kind":"gone","path":"/iserver/accounts"}, POST /__sim/expire, POST /__sim/competing, GET /__sim/state');
const stop = async () => { await sim.close(); process.exit(0); };
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
