// One serverless cold start, in a fresh process: import + instantiate, parse keys + decrypt the
// secret, one handshake (the fake server's CPU subtracted), the first signed header. Prints JSON.
import { cpuMs, fakeIbkr, user } from './common.mjs';

const server = fakeIbkr();
// Node loads its fetch implementation (undici, ~19 ms of CPU) the first time `Response` is used.
// That is the platform's HTTP stack, which every client pays and which Workers and browsers have
// built in: loaded before the clock starts.
await new Response('{}').text();
const t0 = cpuMs();
const w0 = performance.now();
const { IbkrSession } = await import('../pkg/node.mjs');
const tImport = cpuMs();
const session = IbkrSession.oauth1({ ...user, fetch: server.fetch, pacing: false });
const tKeys = cpuMs();
await session.liveSessionToken();
const tHandshake = cpuMs();
await session.authorize('GET', `${user.baseUrl}/iserver/accounts`);
const tEnd = cpuMs();
const server_ms = server.stats.serverMs;
console.log(JSON.stringify({
  cpu_ms: tEnd - t0 - server_ms,
  wall_ms: performance.now() - w0,
  import_ms: tImport - t0,
  keys_ms: tKeys - tImport,
  handshake_ms: tHandshake - tKeys - server_ms,
  first_sign_ms: tEnd - tHandshake,
}));
