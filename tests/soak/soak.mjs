// The fault soak: sessions of every kind (OAuth 1.0a, OAuth 2.0, the gateway, a fleet of two
// OAuth 1.0a sessions sharing a token store) against the
// simulator, on a seeded schedule of faults — dropped connections, delays, answers that come
// after the client gave up, stalls, connections dropped after the work was done, 5xx, 401, 410,
// 429 with Retry-After, "no bridge" — and events: expired tokens, a skewed client clock, the
// brokerage session ending, the gateway logging out. The simulators run here; the sessions run
// in a child process (client.mjs) so that its heap and its timers are the client's alone.
//
// Checked at the end (and printed):
// - no order sent twice: per client order id (cOID), the simulator placed it at most once; an
//   order the client saw succeed was placed exactly once, with the order id the client got; an
//   order refused before any work (401, 410, 429, "no bridge", 4xx) was not placed; only a
//   call that failed without an answer it could trust (NETWORK, TIMEOUT, 5xx) may have placed it;
// - every call ended in a result or an IbkrAuthError whose code is in ERROR_CODES, none hung;
// - handshakes (OAuth 1.0a LSTs, OAuth 2.0 SSO sessions) at most 1 + the expiries, 401s, 410s
//   and clock jumps injected (+ handshakes the client gave up on, timed out on a slow machine:
//   the simulator may have made those tokens all the same);
// - memory flat: the JS values the module holds (its externref table) after the run, everything
//   settled, no more than before the first call plus a constant — a count, the same on any
//   machine, that a leak of one value per fifty calls exceeds in the 2,000-call run; and heap growth
//   over the second half of the run (printed; asserted below a bound for runs given in seconds,
//   which are long enough to mean something);
// - no timer left: after stopping keep-alive and logging out, the client process exits on its own.
//
// node --expose-gc tests/soak/soak.mjs [--seconds 600 | --requests 1500] [--seed n] [--concurrency 4]
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { GATEWAY_TLS, generateKeys, Simulator } from '../../sim/server.mjs';

const KINDS = ['oauth1', 'oauth2', 'gateway', 'fleet'];
const MB = 1024 * 1024;
/** The bound on heap growth over the second half of a timed run. */
export const HEAP_GROWTH_LIMIT = 16 * MB;
/**
 * The bound on JS values the module holds after the run beyond those it held before the first
 * call: what sessions create once on their first calls (about two per session), whatever the
 * number of calls.
 */
export const HELD_GROWTH_LIMIT = 32;
/** Codes of a call that was refused before any work was done: its order must not exist. */
const REFUSED = new Set(['UNAUTHORIZED', 'GONE', 'NO_BRIDGE', 'RATE_LIMITED', 'CLOCK_SKEW']);

/**
 * Runs one soak. o: { seed, requests | seconds, concurrency (per session, default 4),
 * timeoutMs (default 2000), exitGraceMs (how long the client may take to exit after it is
 * done, default 30000), sabotage ('resendOrders', 'leaveTimer' or 'keepSessions': a client that breaks an
 * invariant on purpose, to show the checks catch it) }. Returns { ok, checks: [{ name, ok, detail }], figures, seed }.
 */
export async function runSoak(o) {
  const seed = (o.seed ?? Math.floor(Math.random() * 2 ** 31)) >>> 0;
  const concurrency = o.concurrency ?? 4;
  const timeoutMs = o.timeoutMs ?? 2000;
  const keys = generateKeys();
  const sims = {
    oauth1: await new Simulator({ keys, rateLimits: false }).start(),
    oauth2: await new Simulator({ keys, rateLimits: false }).start(),
    gateway: await new Simulator({ keys, gateway: true, rateLimits: false }).start(),
    fleet: await new Simulator({ keys, rateLimits: false }).start(),
  };
  sims.gateway.setLoggedIn(true);
  const orders = new Map(); // cOID → the client's outcome
  let done = null;
  let crash = null;
  const child = fork(fileURLToPath(new URL('client.mjs', import.meta.url)), [], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const act = (m) => {
    const sim = sims[m.kind];
    switch (m.action) {
      case 'fault': sim.fault(m.fault); break;
      case 'expire': sim.expireTokens(); break;
      case 'brokerageLogout': sim.brokerage = { authenticated: false, competing: false, connected: true }; break;
      case 'gatewayLogout': sim.setLoggedIn(false); break;
      case 'gatewayLogin': sim.setLoggedIn(true); break;
      case 'quiesce': sim.faults.length = 0; sim.runEnded = sim.log.length; if (sim.gateway) sim.setLoggedIn(true); break;
      default: throw new Error(`unknown action ${m.action}`);
    }
  };
  child.on('message', (m) => {
    if (m.type === 'do') { act(m); child.send({ type: 'ack', id: m.id }); }
    if (m.type === 'order') orders.set(m.cOID, m);
    if (m.type === 'done') done = m;
    if (m.type === 'crash') crash = m.error;
  });
  const exit = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  child.send({
    type: 'start', seed, requests: o.requests, seconds: o.seconds, concurrency, timeoutMs, sabotage: o.sabotage,
    oauth1: sims.oauth1.clientConfig(), oauth2: sims.oauth2.clientConfig2(), fleet: sims.fleet.clientConfig(),
    gateway: { baseUrl: sims.gateway.baseUrl, origin: sims.gateway.origin, cert: GATEWAY_TLS.cert },
  });
  // The child exits on its own once it is done; if it has not after the grace, a handle kept it.
  const limitMs = (o.seconds ? o.seconds * 1000 : 0) + (o.hardLimitMs ?? 20 * 60_000);
  let killedBy = null;
  const hard = setTimeout(() => { killedBy = 'the soak ran past its hard limit'; child.kill('SIGKILL'); }, limitMs);
  const graceMs = o.exitGraceMs ?? 30_000;
  let grace = null;
  const graceWatch = setInterval(() => {
    if ((done || crash) && !grace) grace = setTimeout(() => { killedBy = `still running ${graceMs} ms after it was done`; child.kill('SIGKILL'); }, graceMs);
  }, 100);
  const exited = await exit;
  clearTimeout(hard); clearTimeout(grace); clearInterval(graceWatch);

  const result = judge({ sims, orders, done, crash, exited, killedBy, seed, seconds: o.seconds, requests: o.requests, concurrency, timeoutMs });
  for (const s of Object.values(sims)) await s.close();
  return result;
}

function judge({ sims, orders, done, crash, exited, killedBy, seed, seconds, requests, concurrency, timeoutMs }) {
  const checks = [];
  const check = (name, ok, detail = '') => checks.push({ name, ok: Boolean(ok), detail });
  check('the client ran to the end', done && !crash, crash ?? (done ? '' : 'no summary came back'));
  const stats = done?.stats ?? {};
  const figures = { seed, seconds, requests, concurrency, timeoutMs, elapsedMs: done?.elapsedMs, kinds: {} };

  // No order sent twice, and the simulator's record matches the client's results.
  const problems = [];
  for (const k of KINDS) {
    const placed = new Map();
    for (const so of sims[k].orders) if (so.cOID) placed.set(so.cOID, [...(placed.get(so.cOID) ?? []), so]);
    const f = { orders: 0, ok: 0, refused: 0, ambiguous: 0, ambiguousPlaced: 0, placed: sims[k].orders.length };
    for (const [cOID, list] of placed) if (list.length > 1) problems.push(`${cOID}: placed ${list.length} times`);
    // Sent twice: the same order (cOID) or reply reached the sandbox more than once, whether or
    // not the simulator then refused the repeat (it refuses a known cOID and a used reply id).
    const sends = new Map();
    for (const e of sims[k].log) for (const ref of e.refs ?? []) sends.set(ref, (sends.get(ref) ?? 0) + 1);
    for (const [ref, n] of sends) if (n > 1) problems.push(`${ref}: sent ${n} times`);
    f.sends = [...sends.values()].reduce((a, n) => a + n, 0);
    for (const [cOID, m] of orders) {
      if (m.kind !== k) continue;
      f.orders++;
      const server = placed.get(cOID) ?? [];
      if (m.result === 'ok') {
        f.ok++;
        if (server.length !== 1 || server[0].order_id !== m.orderId) problems.push(`${cOID}: the client got order ${m.orderId}, the simulator has ${server.map((s) => s.order_id).join(',') || 'none'}`);
      } else if (m.result === 'unexpected') {
        problems.push(`${cOID}: an answer without an order id: ${m.answer}`);
      } else if (REFUSED.has(m.code) || (m.status >= 400 && m.status < 500)) {
        f.refused++;
        if (server.length) problems.push(`${cOID}: refused with ${m.code} ${m.status ?? ''} at ${m.stage}, yet placed`);
      } else {
        f.ambiguous++;
        if (server.length) f.ambiguousPlaced++;
      }
    }
    for (const cOID of placed.keys()) if (!orders.has(cOID)) problems.push(`${cOID}: placed, but the client never reported it`);
    figures.kinds[k] = { orders: f };
  }
  check('no order sent twice; the simulator\'s orders match the client\'s results', !problems.length, problems.slice(0, 10).join('; '));

  // Every call ended in a result or a typed error.
  const untyped = KINDS.flatMap((k) => stats[k]?.untypedSamples ?? []);
  const calls = KINDS.reduce((a, k) => a + (stats[k]?.calls ?? 0), 0);
  const settled = KINDS.reduce((a, k) => a + (stats[k]?.ok ?? 0) + Object.values(stats[k]?.errors ?? {}).reduce((x, y) => x + y, 0), 0);
  check('every call ended in a result or a typed error (a code in ERROR_CODES)', done && calls === settled && !done.pending && !done.hung.length && !untyped.length,
    `${calls} calls, ${settled} settled, ${done?.pending ?? '?'} pending, hung: ${done?.hung?.join(', ') || 'none'}; ${untyped.join('; ')}`);

  // Handshakes bounded by what was injected.
  const bounds = [];
  for (const k of KINDS) {
    const log = sims[k].log;
    const injected401 = log.filter((e) => e.fault === 'status' && e.status === 401).length;
    const injected410 = log.filter((e) => e.fault === 'gone').length;
    const ev = stats[k]?.events ?? {};
    // Counted up to the end of the run: the logout afterwards ends the tokens (and a keep-alive
    // left running would rightly make a new one).
    const run = log.slice(0, sims[k].runEnded ?? log.length);
    const handshakes = run.filter((e) => e.kind === (k === 'oauth2' ? 'sso-session' : k === 'gateway' ? 'none' : 'handshake')).length;
    const bound = k === 'gateway' ? 0 : 1 + (ev.expire ?? 0) + (ev.skew ?? 0) + injected401 + injected410 + (stats[k]?.handshakeFailures ?? 0);
    const fig = figures.kinds[k];
    Object.assign(fig, {
      calls: stats[k]?.calls ?? 0, ok: stats[k]?.ok ?? 0, errors: stats[k]?.errors ?? {}, events: ev, faultsScheduled: stats[k]?.faults ?? {},
      faultsApplied: sims[k].faultCounts(), sent: log.length, handshakes, handshakeBound: bound, handshakeFailures: stats[k]?.handshakeFailures ?? 0, inits: sims[k].count('init'),
      logWarn: stats[k]?.logs?.warn ?? 0, logError: stats[k]?.logs?.error ?? 0, lastErrorLines: stats[k]?.lastErrorLines ?? [],
      logout: done?.logouts?.[k],
    });
    if (k !== 'gateway' && handshakes > bound) bounds.push(`${k}: ${handshakes} handshakes > ${bound}`);
  }
  check('handshakes at most 1 + the expiries, 401s, 410s and clock jumps injected', !bounds.length, bounds.join('; '));

  // Memory.
  const s = done?.samples ?? {};
  const growth = s.end && s.mid ? s.end.heapUsed - s.mid.heapUsed : null;
  figures.heap = { start: s.start, after: s.after, warm: s.warm, mid: s.mid, end: s.end, growthSecondHalf: growth, limit: HEAP_GROWTH_LIMIT };
  const held = s.after && s.start ? s.after.tableHeld - s.start.tableHeld : null;
  figures.heap.heldGrowth = held;
  check(`memory flat: JS values held by the module after the run at most ${HELD_GROWTH_LIMIT} more than before it`, held !== null && held <= HELD_GROWTH_LIMIT,
    `${s.start?.tableHeld ?? '?'} before, ${s.after?.tableHeld ?? '?'} after`);
  if (seconds) check(`heap growth over the second half below ${HEAP_GROWTH_LIMIT / MB} MB`, growth !== null && growth < HEAP_GROWTH_LIMIT, `${growth === null ? '?' : (growth / MB).toFixed(2)} MB`);

  // No timer left: the client exited on its own.
  figures.exit = { ...exited, killedBy, timersAtEnd: done?.timersAtEnd, resourcesAtEnd: done?.resourcesAtEnd };
  check('no timer left: the client process exited on its own', !killedBy && exited.code === 0 && exited.signal === null && done?.timersAtEnd?.length === 0,
    killedBy ?? `exit ${exited.code} ${exited.signal ?? ''}, timers at the end: ${done?.timersAtEnd?.join(',') || 'none'}`);
  return { ok: checks.every((c) => c.ok), checks, figures, seed };
}

const mb = (x) => (x === undefined || x === null ? '?' : (x / MB).toFixed(1));

/** The summary table, as printed by `make soak`. */
export function report({ checks, figures }) {
  const out = [];
  const f = figures;
  const row = (label, fn) => out.push(`  ${label.padEnd(34)}${KINDS.map((k) => String(fn(f.kinds[k]) ?? '').padStart(12)).join('')}`);
  out.push(`Fault soak: seed ${f.seed}, ${f.seconds ? `${f.seconds} s` : `${f.requests} calls`}, ${(f.elapsedMs / 1000).toFixed(0)} s elapsed, ${f.concurrency} lanes per session, timeoutMs ${f.timeoutMs}`);
  out.push(`  ${''.padEnd(34)}${KINDS.map((k) => k.padStart(12)).join('')}`);
  row('calls', (k) => k.calls);
  row('  ended in a result', (k) => k.ok);
  const codes = [...new Set(KINDS.flatMap((k) => Object.keys(f.kinds[k].errors)))].sort();
  for (const c of codes) row(`  ended in ${c}`, (k) => k.errors[c] ?? 0);
  row('requests the simulator saw', (k) => k.sent);
  row('orders', (k) => k.orders.orders);
  row('  placed, client saw it', (k) => k.orders.ok);
  row('  refused, not placed', (k) => k.orders.refused);
  row('  no answer to trust (placed)', (k) => `${k.orders.ambiguous} (${k.orders.ambiguousPlaced})`);
  row('  in the simulator', (k) => k.orders.placed);
  const faults = [...new Set(KINDS.flatMap((k) => Object.keys(f.kinds[k].faultsScheduled)))].sort();
  for (const n of faults) row(`fault ${n}`, (k) => k.faultsScheduled[n] ?? 0);
  const events = [...new Set(KINDS.flatMap((k) => Object.keys(f.kinds[k].events)))].sort();
  for (const n of events) row(`event ${n}`, (k) => k.events[n] ?? 0);
  row('handshakes (bound)', (k) => (k === f.kinds.gateway ? '-' : `${k.handshakes} (${k.handshakeBound})`));
  row('ssodh/init', (k) => k.inits);
  row('log warnings / errors', (k) => `${k.logWarn}/${k.logError}`);
  const h = f.heap;
  out.push(`  heap used (MB): ${mb(h.warm?.heapUsed)} at 10 %, ${mb(h.mid?.heapUsed)} at 55 %, ${mb(h.end?.heapUsed)} at the end; second half ${h.growthSecondHalf === null ? '?' : `${(h.growthSecondHalf / MB).toFixed(2)} MB`}`);
  out.push(`  wasm memory (MB): ${mb(h.warm?.wasm)}, ${mb(h.mid?.wasm)}, ${mb(h.end?.wasm)}; rss ${mb(h.warm?.rss)}, ${mb(h.mid?.rss)}, ${mb(h.end?.rss)}`);
  out.push(`  JS values held by the module: ${h.start?.tableHeld ?? '?'} before the first call, ${h.after?.tableHeld ?? '?'} after the run (table ${h.after?.tableSlots ?? '?'} slots)`);
  out.push(`  client exit: code ${f.exit.code}${f.exit.signal ? ` signal ${f.exit.signal}` : ''}; timers at the end: ${f.exit.timersAtEnd?.length ?? '?'}`);
  for (const c of checks) out.push(`${c.ok ? 'PASS' : 'FAIL'} ${c.name}${c.detail && !c.ok ? ` — ${c.detail}` : ''}`);
  return out.join('\n');
}

function args(argv) {
  const o = {};
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    const n = Number(v);
    if (!['--seconds', '--requests', '--seed', '--concurrency', '--timeout-ms'].includes(k) || !Number.isFinite(n) || n < 0) {
      console.error(`usage: node --expose-gc tests/soak/soak.mjs [--seconds S | --requests N] [--seed n] [--concurrency c] [--timeout-ms ms] (at ${k})`);
      process.exit(2);
    }
    o[{ '--timeout-ms': 'timeoutMs' }[k] ?? k.slice(2)] = n;
  }
  if (!o.seconds && !o.requests) o.seconds = 600;
  return o;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const o = args(process.argv.slice(2));
  const r = await runSoak(o);
  console.log(report(r));
  console.log(`(reproduce the schedule: --seed ${r.seed})`);
  process.exitCode = r.ok ? 0 : 1;
}
