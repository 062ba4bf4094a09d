#!/usr/bin/env node
// Starts the IBKR simulator on 127.0.0.1 and prints its URL and a ready client config.
//   node sim/cli.mjs [--port N] [--state-dir DIR] [--no-rate-limits] [--query-style either|signed|unsigned]
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
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log('usage: node sim/cli.mjs [--port N] [--state-dir DIR] [--no-rate-limits] [--query-style either|signed|unsigned]');
  process.exit(0);
}
const dir = path.resolve(values['state-dir']);
const { options, created } = loadOrCreateState(dir);
const sim = await new Simulator({ ...options, rateLimits: !values['no-rate-limits'], queryStyle: values['query-style'] }).start(Number(values.port));
const config = sim.clientConfig();
const saved = writeClientFiles(dir, config);
console.log(`IBKR simulator listening on ${sim.origin}`);
console.log(`${created ? 'generated new keys' : 'reusing keys'} in ${dir}`);
console.log(`client config: ${saved}`);
console.log(JSON.stringify({ ...config, signatureKey: '<PEM>', encryptionKey: '<PEM>', dhParams: '<PEM>' }, null, 2));
console.log('\nIbkrSession.oauth1(JSON.parse(fs.readFileSync(' + JSON.stringify(saved) + ', "utf8")))');
console.log('control: POST /__sim/fault {"kind":"gone","path":"/iserver/accounts"}, POST /__sim/expire, POST /__sim/competing, GET /__sim/state');
const stop = async () => { await sim.close(); process.exit(0); };
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
