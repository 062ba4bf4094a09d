// One process of a fleet, driven by the test over stdin/stdout (one JSON object per line each
// way; processes.mjs is the other end): a session of the simulator's account over a shared store
// (Redis or a file), whose calls and stream the test runs on command. Warnings the session logs
// come back with each answer, and each answer carries its command's id.
//   argv[2]: JSON { config, store: { kind: 'redis', url, prefix? } | { kind: 'file', path },
//            options, clockStart? } — with clockStart, the session, a file store and the stream
//            run on a controlled clock that starts there and moves only on `advance`
//   stdin:   { id, cmd: 'calls', n, path?, method? } | { id, cmd: 'refresh', withinMs? }
//            | { id, cmd: 'keepAlive' } | { id, cmd: 'init' } | { id, cmd: 'lst' }
//            | { id, cmd: 'stream', subscriptions?, keepAliveMs? } (opens a stream with the `ws` package)
//            | { id, cmd: 'advance', ms } (moves the clock, running the timers due)
//            | { id, cmd: 'events', type, n } (once the stream has had `n` events of `type`: them all)
//            | { id, cmd: 'exit' }
//   stdout:  { ready: true } once, then one answer per command
import readline from 'node:readline';
import WebSocket from 'ws';
import { IbkrSession, fileStore, redisStore } from '../../pkg/node.mjs';
import { controlledClock, SAFETY_MS } from '../ws/helpers.mjs';

const { config, store: storeSpec, options = {}, clockStart } = JSON.parse(process.argv[2]);
const clock = clockStart === undefined ? null : controlledClock(clockStart);
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
  store = fileStore(storeSpec.path, clock ? { clock: clock.now } : undefined);
}

const session = IbkrSession.oauth1({ ...config, pacing: false, logger, store, ...(clock ? { clock: clock.now } : {}), ...options });
const reply = (o) => process.stdout.write(`${JSON.stringify({ ...o, warnings: warnings.splice(0) })}\n`);

let stream = null;
const events = { open: [], reconnecting: [], keepalive: [], quote: [], error: [], close: [] };
const waiters = new Set();
const record = (type, value) => {
  events[type].push(value);
  for (const w of waiters) if (events[w.type].length >= w.n) { waiters.delete(w); w.resolve(); }
};
const eventsOf = (type, n) => new Promise((resolve, reject) => {
  if (events[type].length >= n) return resolve();
  const w = { type, n, resolve };
  waiters.add(w);
  setTimeout(() => { if (waiters.delete(w)) reject(new Error(`${events[type].length} '${type}' events, not ${n}, within ${SAFETY_MS} ms`)); }, SAFETY_MS).unref();
});

async function openStream(c) {
  if (!clock) throw new Error('stream needs clockStart');
  stream = await session.websocket({
    WebSocket, timers: clock, subscriptions: c.subscriptions ?? [],
    ...(c.keepAliveMs === undefined ? {} : { keepAliveMs: c.keepAliveMs }),
  });
  // The first open came before a listener could be added: recorded here.
  record('open', { generation: stream.generation, reconnected: false });
  stream.on('open', (e) => record('open', e));
  stream.on('reconnecting', (e) => record('reconnecting', { code: e.code, delayMs: e.delayMs, reason: e.reason }));
  stream.on('keepalive', (e) => record('keepalive', e.error ? { error: e.error.code } : { skipped: e.skipped, authenticated: e.authenticated }));
  stream.on('message', (m) => { if (m?.topic?.startsWith('smd+')) record('quote', { conid: m.conid, last: m['31'] }); });
  stream.on('error', (e) => record('error', { code: e.code, message: e.message }));
  stream.on('close', (e) => record('close', { code: e?.code }));
  return { authenticated: stream.authenticated, generation: stream.generation };
}

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
    case 'stream': return await openStream(c);
    case 'advance': clock.advance(c.ms); return { now: clock.now() };
    case 'events': await eventsOf(c.type, c.n); return { events: events[c.type], authenticated: stream?.authenticated, reconnects: stream?.reconnects, generation: stream?.generation };
    case 'exit':
      stream?.close();
      if (client) await client.quit().catch(() => {});
      setImmediate(() => process.exit(0));
      return { bye: true };
    default: throw new Error(`unknown command ${c.cmd}`);
  }
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const c = JSON.parse(line);
  run(c).then((a) => reply({ ...a, id: c.id }), (e) => reply({ id: c.id, error: `${e?.code}: ${e?.message}` }));
});
reply({ ready: true });
