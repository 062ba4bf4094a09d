// The soak's client process (forked by soak.mjs, which runs the simulators): one session of each
// kind (OAuth 1.0a, OAuth 2.0, the gateway, and a fleet of two OAuth 1.0a sessions sharing a
// token store) with keep-alive on, each driven by `concurrency`
// lanes of calls — reads, tickles, status and orders (some with a question to confirm) — on a
// seeded schedule of faults and events. Before a faulted call the fault is queued at the
// simulator over IPC (and acknowledged), so it meets that call. What comes back is counted here
// in fixed-size tables; each order's outcome goes to the parent, which holds the simulator's
// record. At the end: keep-alive stopped, sessions logged out, the heap sampled, the live
// handles listed, the IPC channel closed — and the process must then exit on its own.
import { streamFor } from './prng.mjs';

import { heldValues, instances, release } from '../common/wasm-instances.mjs';
const { ERROR_CODES, gatewayFetch, IbkrAuthError, IbkrSession, memoryStore } = await import('../../pkg/node.mjs');
release();

const KINDS = ['oauth1', 'oauth2', 'gateway', 'fleet'];
const ACCT = 'DU1234567';
const ORDERS_PATH = `/iserver/account/${ACCT}/orders`;
/** What a call does, by weight. */
const OPS = { accounts: 30, snapshot: 15, summary: 10, orderList: 5, tickle: 5, status: 5, order: 30 };
/** The faults a call may meet, by weight (processThenFail only for orders and replies). */
const FAULTS = {
  drop: 3, delay: 3, late: 1, stall: 1, processThenDrop: 2, status5xx: 3, processThenFail: 1,
  unauthorized: 2, gone: 1, rateLimited: 2, noBridge: 2,
};
/** Session-wide events, by weight and kind. */
const EVENTS = {
  oauth1: { expire: 3, skew: 2, brokerageLogout: 2 },
  oauth2: { expire: 3, skew: 2, brokerageLogout: 2 },
  gateway: { gatewayLogout: 2, brokerageLogout: 2 },
  fleet: { expire: 3, skew: 2, brokerageLogout: 2 },
};
/** A handshake request (LST, OAuth 2.0 token or SSO session) in an error's message. */
const HANDSHAKE_URL = /\/oauth\/live_session_token|\/oauth2\/api\/v1\/token|\/gw\/api\/v1\/sso-sessions/;
const P_FAULT = Number(process.env.SOAK_P_FAULT ?? 0.1);
const P_EVENT = Number(process.env.SOAK_P_EVENT ?? 0.012);

let nextAsk = 0;
const waiting = new Map();
/** Asks the parent to act on the simulators; resolves with its answer. */
function ask(msg) {
  return new Promise((resolve) => {
    const id = ++nextAsk;
    waiting.set(id, resolve);
    process.send({ ...msg, id });
  });
}

process.on('message', (m) => {
  if (m.type === 'ack') { waiting.get(m.id)?.(m.value); waiting.delete(m.id); }
  if (m.type === 'start') run(m).catch((e) => { process.send({ type: 'crash', error: String(e?.stack ?? e) }); process.disconnect(); });
});

const heap = () => {
  globalThis.gc?.();
  const m = process.memoryUsage();
  const wasm = instances.reduce((a, i) => a + (i.exports.memory?.buffer.byteLength ?? 0), 0);
  const table = heldValues(); // the JS values the module holds (see tests/common/wasm-instances.mjs)
  return { heapUsed: m.heapUsed, external: m.external, wasm, rss: m.rss, tableSlots: table.slots, tableHeld: table.held };
};


function fixedTables() {
  return { calls: 0, ok: 0, handshakeFailures: 0, errors: {}, untyped: 0, untypedSamples: [], events: {}, faults: {}, logs: { warn: 0, error: 0 }, lastErrorLines: [] };
}

async function run(cfg) {
  const { seed, requests, seconds, concurrency, timeoutMs } = cfg;
  const codes = new Set(ERROR_CODES);
  const stats = Object.fromEntries(KINDS.map((k) => [k, fixedTables()]));
  const skew = Object.fromEntries(KINDS.map((k) => [k, 0]));
  const logger = (k) => ({
    debug() {}, info() {},
    warn() { stats[k].logs.warn++; },
    error(m) {
      stats[k].logs.error++;
      if (/TIMEOUT|NETWORK/.test(m) && HANDSHAKE_URL.test(m)) stats[k].handshakeFailures++;
      const l = stats[k].lastErrorLines;
      l.push(m);
      if (l.length > 5) l.shift();
    },
  });
  const common = (k) => ({ pacing: false, timeoutMs, maxRetries: 2, logger: logger(k), clock: () => Date.now() + skew[k] });
  // A list per kind: the fleet is two OAuth 1.0a sessions of one account sharing a token store,
  // taking calls in turn.
  const store = memoryStore();
  const sessions = {
    oauth1: [IbkrSession.oauth1({ ...cfg.oauth1, hosts: [cfg.oauth1.baseUrl], ...common('oauth1') })],
    oauth2: [IbkrSession.oauth2({ ...cfg.oauth2, hosts: [cfg.oauth2.baseUrl], ...common('oauth2') })],
    gateway: [IbkrSession.gateway({
      baseUrl: cfg.gateway.baseUrl, fetch: gatewayFetch({ baseUrl: cfg.gateway.origin, certificate: cfg.gateway.cert }),
      statusPolls: 3, statusPollMs: 50, ...common('gateway'),
    })],
    fleet: [0, 1].map(() => IbkrSession.oauth1({ ...cfg.fleet, hosts: [cfg.fleet.baseUrl], store, ...common('fleet') })),
  };
  const sessionFor = (k, i) => sessions[k][i % sessions[k].length];
  const samples = { start: heap() };

  // The budget: a number of calls per session, or a duration.
  const started = Date.now();
  const deadline = seconds ? started + seconds * 1000 : Infinity;
  const perSession = requests ? Math.ceil(requests / KINDS.length) : Infinity;
  const issued = Object.fromEntries(KINDS.map((k) => [k, 0]));
  const progress = () => (seconds ? (Date.now() - started) / (seconds * 1000) : KINDS.reduce((a, k) => a + issued[k], 0) / (perSession * KINDS.length));
  const sampleAt = [['warm', 0.1], ['mid', 0.55]];
  const maybeSample = () => {
    while (sampleAt.length && progress() >= sampleAt[0][1]) samples[sampleAt.shift()[0]] = heap();
  };

  // Calls that have not settled yet, for the watchdog (a call stuck for minutes is reported).
  const pending = new Map();
  let nextCall = 0;
  const hung = [];
  const watchdog = setInterval(() => {
    const now = Date.now();
    for (const [id, c] of pending) if (now - c.at > 120_000 && !c.reported) { c.reported = true; hung.push(`${c.kind} ${c.op}`); }
  }, 5000);
  watchdog.unref();

  const keepAlives = KINDS.flatMap((k) => sessions[k].map((s) => s.keepAlive({ intervalMs: 1000 })));
  const loggedOutUntil = { gateway: -1 };

  async function call(k, op, fn) {
    const id = ++nextCall;
    pending.set(id, { kind: k, op, at: Date.now() });
    const st = stats[k];
    st.calls++;
    try {
      const value = await fn();
      st.ok++;
      return { ok: true, value };
    } catch (e) {
      if (e instanceof IbkrAuthError && codes.has(e.code)) {
        st.errors[e.code] = (st.errors[e.code] ?? 0) + 1;
        // A handshake whose answer never came (a slow machine): the server may have made the
        // token all the same, and the next call makes another.
        if ((e.code === 'TIMEOUT' || e.code === 'NETWORK') && HANDSHAKE_URL.test(e.message)) st.handshakeFailures++;
      } else {
        st.untyped++;
        if (st.untypedSamples.length < 5) st.untypedSamples.push(`${op}: ${e?.name}: ${e?.code ?? ''} ${e?.message}`);
      }
      return { ok: false, error: e };
    } finally {
      pending.delete(id);
    }
  }

  const target = (op) => ({
    accounts: ['GET', '/iserver/accounts'], snapshot: ['GET', '/iserver/marketdata/snapshot'], summary: ['GET', `/portfolio/${ACCT}/summary`],
    orderList: ['GET', '/iserver/account/orders'], tickle: [undefined, '/tickle'], status: [undefined, '/iserver/auth/status'], order: ['POST', ORDERS_PATH],
  })[op];

  /** Queues the fault `name` at the simulator for the next `method path` call of session `k`. */
  async function inject(k, name, method, path, r) {
    const base = { path, method };
    const fault = {
      drop: { kind: 'drop' },
      delay: { kind: 'delay', ms: 10 + r.int(190) },
      late: { kind: 'delay', ms: timeoutMs + 300 }, // answered (and done) after the client gave up
      stall: { kind: 'stall', ms: timeoutMs * 4 },
      processThenDrop: { kind: 'processThenDrop' },
      status5xx: { kind: 'status', status: [500, 502, 503][r.int(3)] },
      processThenFail: { kind: 'processThenFail' },
      unauthorized: { kind: 'status', status: 401, body: { error: 'id: 39001, error: invalid signature', statusCode: 401 } },
      gone: { kind: 'gone' },
      rateLimited: { kind: 'status', status: 429, headers: { 'retry-after': String(r.int(2)) }, body: { error: 'Too many requests' } },
      noBridge: { kind: 'noBridge' },
    }[name];
    stats[k].faults[name] = (stats[k].faults[name] ?? 0) + 1;
    await ask({ type: 'do', kind: k, action: 'fault', fault: { ...base, ...fault } });
  }

  async function event(k, name, i, r) {
    stats[k].events[name] = (stats[k].events[name] ?? 0) + 1;
    if (name === 'skew') {
      // The client's clock jumps: 7 or 12 minutes either way (beyond IBKR's 5 min tolerance), or back to true.
      skew[k] = [0, 7, -7, 12, -12][r.int(5)] * 60_000;
      return;
    }
    if (name === 'gatewayLogout') loggedOutUntil.gateway = i + 5 + r.int(20);
    await ask({ type: 'do', kind: k, action: name });
  }

  async function order(k, i, r) {
    const cOID = `soak-${k}-${i}`;
    const side = r() < 0.5 ? 'BUY' : 'SELL';
    const quantity = r() < 0.25 ? 600 : 1 + r.int(5); // above 500: IBKR's size question (o383) first
    const body = { orders: [{ acctId: ACCT, conid: [265598, 8314, 272093][r.int(3)], side, quantity, orderType: 'MKT', tif: 'DAY', cOID }] };
    const s = sessionFor(k, i);
    const report = (result, stage, extra = {}) => process.send({ type: 'order', kind: k, cOID, stage, result, ...extra });
    let placed = await call(k, 'order', () => s.request('POST', ORDERS_PATH, { body }));
    // The soak's own negative control: a client that sends an order again after an answer it
    // could not trust, which the checks must catch.
    if (cfg.sabotage === 'resendOrders' && !placed.ok && ['NETWORK', 'TIMEOUT', 'HTTP_ERROR'].includes(placed.error.code)) {
      placed = await call(k, 'order', () => s.request('POST', ORDERS_PATH, { body }));
    }
    if (!placed.ok) return report('error', 'place', { code: placed.error.code, status: placed.error.status });
    let answer = placed.value;
    if (Array.isArray(answer) && answer[0]?.id && answer[0]?.message) {
      if (r() < P_FAULT) await inject(k, r.pick(FAULTS), 'POST', `/iserver/reply/${answer[0].id}`, r);
      const replied = await call(k, 'reply', () => s.request('POST', `/iserver/reply/${answer[0].id}`, { body: { confirmed: true } }));
      if (!replied.ok) return report('error', 'reply', { code: replied.error.code, status: replied.error.status });
      answer = replied.value;
    }
    const orderId = Array.isArray(answer) ? answer[0]?.order_id : undefined;
    if (!orderId) return report('unexpected', 'place', { answer: JSON.stringify(answer).slice(0, 200) });
    return report('ok', 'place', { orderId: String(orderId) });
  }

  async function one(k, i) {
    const r = streamFor(seed, k, i);
    const op = r.pick(OPS);
    if (r() < P_EVENT) await event(k, r.pick(EVENTS[k]), i, r);
    if (k === 'gateway' && loggedOutUntil.gateway >= 0 && i >= loggedOutUntil.gateway) {
      loggedOutUntil.gateway = -1;
      await ask({ type: 'do', kind: k, action: 'gatewayLogin' });
    }
    if (cfg.sabotage === 'resendOrders' && op === 'order' && r() < 0.2) {
      await inject(k, 'processThenDrop', 'POST', ORDERS_PATH, r); // answers it cannot trust, often
    } else if (r() < P_FAULT) {
      let name = r.pick(FAULTS);
      if (name === 'processThenFail' && op !== 'order') name = 'status5xx';
      const [method, path] = target(op);
      await inject(k, name, method, path, r);
    }
    const s = sessionFor(k, i);
    switch (op) {
      case 'accounts': return call(k, op, () => s.request('GET', '/iserver/accounts'));
      case 'snapshot': return call(k, op, () => s.request('GET', '/iserver/marketdata/snapshot', { query: { conids: '265598,8314', fields: '31,84,86' } }));
      case 'summary': return call(k, op, () => s.request('GET', `/portfolio/${ACCT}/summary`));
      case 'orderList': return call(k, op, () => s.request('GET', '/iserver/account/orders', { query: { filters: 'Submitted,PreSubmitted' } }));
      case 'tickle': return call(k, op, () => s.tickle());
      case 'status': return call(k, op, () => s.status());
      default: return order(k, i, r);
    }
  }

  // The memory check's negative control: a client that builds a session every 20 calls and
  // keeps it (each holds its fetch, clock and logger in the module).
  const kept = [];
  async function lane(k) {
    for (;;) {
      if (issued[k] >= perSession || Date.now() >= deadline) return;
      const i = issued[k]++;
      maybeSample();
      if (cfg.sabotage === 'keepSessions' && k === 'oauth1' && i % 20 === 0) kept.push(IbkrSession.oauth1({ ...cfg.oauth1, ...common('oauth1') }));
      await one(k, i);
    }
  }

  await Promise.all(KINDS.flatMap((k) => Array.from({ length: concurrency }, () => lane(k))));
  samples.end = heap();
  for (const k of keepAlives.slice(cfg.sabotage === 'leaveTimer' ? 1 : 0)) k.stop();
  clearInterval(watchdog);

  // Quiet the simulators (queued faults dropped, the gateway logged in), then log out.
  for (const k of KINDS) await ask({ type: 'do', kind: k, action: 'quiesce' });
  const logouts = {};
  for (const k of KINDS) logouts[k] = (await call(k, 'logout', () => sessions[k][0].logout())).ok;
  // Let the last keep-alive round and the sockets settle, then list what is still alive.
  await new Promise((resolve) => setTimeout(resolve, 50));
  const timers = process.getActiveResourcesInfo().filter((t) => t === 'Timeout' || t === 'Immediate');
  samples.after = heap();
  process.send({
    type: 'done', stats, samples, logouts, hung, pending: pending.size, timersAtEnd: timers,
    resourcesAtEnd: process.getActiveResourcesInfo(), elapsedMs: Date.now() - started, issued,
  });
  process.disconnect();
}
