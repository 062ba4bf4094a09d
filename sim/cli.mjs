#!/usr/bin/env node
// Starts the IBKR simulator on 127.0.0.1 and prints its URL and a ready client config.
//   node sim/cli.mjs [--port N] [--state-dir DIR] [--no-rate-limits] [--query-style either|signed|unsigned] [--gateway]
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Simulator } from './server.mjs';
import { loadOrCreateState, writeClientFiles } from './state.mjs';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'state-dir': { type: 'string', default: '.ibkr-sim' },
    'no-rate-limits': { type: 'boolean', default: false },
    'query-style': { type: 'string', default: 'either' },
    gateway: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log('usage: node sim/cli.mjs [--port N] [--state-dir DIR] [--no-rate-limits] [--query-style either|signed|unsigned] [--gateway]');
  console.log('  --gateway  play a Client Portal Gateway (HTTPS, self-signed certificate, logged in; POST /__sim/login {"loggedIn":false} logs it out)');
  process.exit(0);
}
const dir = path.resolve(values['state-dir']);
const { options, created } = loadOrCreateState(dir);
const sim = await new Simulator({ ...options, rateLimits: !values['no-rate-limits'], queryStyle: values['query-style'], gateway: values.gateway }).start(Number(values.port));
if (values.gateway) {
  sim.setLoggedIn(true);
  console.log(`Client Portal Gateway simulator listening on ${sim.origin} (self-signed certificate; logged in)`);
  console.log(`IbkrSession.gateway({ baseUrl: '${sim.baseUrl}', fetch: gatewayFetch({ baseUrl: '${sim.origin}', certificate: await gatewayCertificate('${sim.origin}').then((c) => c.pem) }) })`);
  console.log('control: POST /__sim/login {"loggedIn":false}, POST /__sim/competing, GET /__sim/state');
  const stopGateway = async () => { await sim.close(); process.exit(0); };
  process.on('SIGINT', stopGateway);
  process.on('SIGTERM', stopGateway);
  await new Promise(() => {});
}
const config = sim.clientConfig();
const saved = writeClientFiles(dir, config);
console.log(`IBKR simulator listening on ${sim.origin}`);
console.log(`${created ? 'generated new keys' : 'reusing keys'} in ${dir}`);
console.log(`client config: ${saved}`);
console.log(JSON.stringify({ ...config, signatureKey: '<PEM>', encryptionKey: '<PEM>', dhParams: '<PEM>' }, null, 2));
console.log('\nIbkrSession.oauth1(JSON.parse(fs.readFileSync(' + JSON.stringify(saved) + ', "utf8")))');
console.log(`OAuth 2.0 (the same server): IbkrSession.oauth2({ baseUrl: '${sim.baseUrl}', clientId: 'SIMCLIENT', clientKeyId: 'main', credential: 'simuser', ip: '127.0.0.1', privateKey: <state.json keys.oauth2.privateKey> })`);
console.log('control: POST /__sim/fault {"kind":"gone","path":"/iserver/accounts"}, POST /__sim/expire, POST /__sim/competing, GET /__sim/state');
const stop = async () => { await sim.close(); process.exit(0); };
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
