// One process of a benchmarked fleet (bench/fleet.mjs): a session of the simulator's account,
// with a redisStore or without a store, that makes one signed request when told to.
//   argv[2]: JSON { config, redisUrl?, prefix? }
//   stdout:  "ready" once the session exists (package loaded, Redis connected), then, after a line
//            on stdin (the common start), one JSON line { ok, error, ms, handshakes, unauthorized }
import readline from 'node:readline';
import { IbkrSession, redisStore } from '../pkg/node.mjs';

const { config, redisUrl, prefix } = JSON.parse(process.argv[2]);
let client = null;
let store;
if (redisUrl) {
  const { createClient } = await import('redis');
  client = createClient({ url: redisUrl });
  client.on('error', () => {});
  await client.connect();
  store = redisStore(client, { prefix });
}

// This process's own handshakes and 401s, counted at its fetch.
let handshakes = 0;
let unauthorized = 0;
const counting = async (input, init) => {
  const url = typeof input === 'string' ? input : input.url ?? String(input);
  if (url.endsWith('/oauth/live_session_token')) handshakes += 1;
  const res = await fetch(input, init);
  if (res.status === 401) unauthorized += 1;
  return res;
};
const session = IbkrSession.oauth1({ ...config, pacing: false, fetch: counting, store, logger: {} });
process.stdout.write('ready\n');

const lines = readline.createInterface({ input: process.stdin });
await new Promise((resolve) => { lines.once('line', resolve); });
const t0 = performance.now();
let ok = true;
let error = null;
try {
  await session.request('GET', '/portfolio/accounts');
} catch (e) {
  ok = false;
  error = e?.code ?? String(e);
}
const ms = performance.now() - t0;
process.stdout.write(`${JSON.stringify({ ok, error, ms, handshakes, unauthorized })}\n`);
lines.close();
await client?.quit().catch(() => {});
process.exit(0);
