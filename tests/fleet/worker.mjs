// One process of a fleet, driven by the test over stdin/stdout (one JSON object per line each
// way): a session of the simulator's account over a shared store (Redis or a file), whose calls
// the test runs on command. Warnings the session logs come back with each answer.
//   argv[2]: JSON { config, store: { kind: 'redis', url } | { kind: 'file', path }, options }
//   stdin:   { cmd: 'calls', n, path?, method? } | { cmd: 'refresh', withinMs? } | { cmd: 'keepAlive' }
//            | { cmd: 'init' } | { cmd: 'lst' } | { cmd: 'exit' }
//   stdout:  { ready: true } once, then one answer per command
import readline from 'node:readline';
import { IbkrSession, fileStore, redisStore } from '../../pkg/node.mjs';

const { config, store: storeSpec, options = {} } = JSON.parse(process.argv[2]);
const warnings = [];
const logger = { warn: (m) => warnings.push(m), error: (m) => warnings.push(m), ...(process.env.FLEET_DEBUG ? { debug: (m) => warnings.push(m), info: (m) => warnings.push(m) } : {}) };

let client = null;
let store;
if (storeSpec.kind === 'redis') {
  const { createClient } = await import('redis');
  // Reconnects by itself after a restart; while it is down, calls wait in its queue and the
  // session's own time limit (storeTimeoutMs) counts the store as down.
  client = createClient({ url: storeSpec.url, socket: { reconnectStrategy: () => 200 } });
  client.on('error', () => {});
  // Not awaited: a process that starts while Redis is down must serve all the same.
  client.connect().catch(() => {});
  store = redisStore(client, { prefix: storeSpec.prefix });
} else {
  store = fileStore(storeSpec.path);
}

const session = IbkrSession.oauth1({ ...config, pacing: false, logger, store, ...options });
const reply = (o) => process.stdout.write(`${JSON.stringify({ ...o, warnings: warnings.splice(0) })}\n`);

async function run(c) {
  switch (c.cmd) {
    case 'calls': {
      const started = Date.now();
      const results = await Promise.allSettled(Array.from({ length: c.n }, () =>
        session.request(c.method ?? 'GET', c.path ?? '/portfolio/accounts')));
      return {
        ok: results.filter((r) => r.status === 'fulfilled').length,
        errors: results.filter((r) => r.status === 'rejected').map((r) => `${r.reason?.code}: ${r.reason?.message}`),
        ms: Date.now() - started,
      };
    }
    case 'refresh': return { refresh: await session.refresh(c.withinMs === undefined ? undefined : { withinMs: c.withinMs }) };
    case 'keepAlive': return { keepAlive: await session.keepAliveOnce() };
    case 'init': return { init: await session.initBrokerage() };
    case 'lst': return await session.liveSessionToken();
    case 'exit':
      if (client) await client.quit().catch(() => {});
      setImmediate(() => process.exit(0));
      return { bye: true };
    default: throw new Error(`unknown command ${c.cmd}`);
  }
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const c = JSON.parse(line);
  run(c).then(reply, (e) => reply({ error: `${e?.code}: ${e?.message}` }));
});
reply({ ready: true });
