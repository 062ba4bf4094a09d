// Shared by the streaming WebSocket tests: one controlled clock for the simulator, the sessions,
// the token store and the streams' timers; simulators per session kind; and waiting for events
// (never for wall-clock time: the only real timer is a generous safety bound, there to fail a
// test that would otherwise hang).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { GATEWAY_TLS, generateKeys, Simulator } from '../../sim/server.mjs';

export const T0 = Date.UTC(2026, 0, 5, 15, 0, 0);
export const AAPL = 265598;
// Made on first use: a worker process that only wants the clock does not pay for RSA keys.
let keys;

/**
 * A controlled clock: `now()`, timers (`setTimeout`/`clearTimeout`) that fire only when the
 * test moves the clock with `advance(ms)` (due timers run in order; the test awaits what they
 * start before moving on).
 */
export function controlledClock(start = T0) {
  let now = start;
  let next = 1;
  const timers = new Map();
  return {
    now: () => now,
    setTimeout(fn, ms) { const id = next++; timers.set(id, { at: now + Math.max(0, ms), fn }); return id; },
    clearTimeout(id) { timers.delete(id); },
    /** The delay of the earliest pending timer, or null. */
    pending() { let min = null; for (const t of timers.values()) if (min === null || t.at < min) min = t.at; return min === null ? null : min - now; },
    /** Moves the clock by `ms`, running the timers that fall due on the way. */
    advance(ms) {
      const end = now + ms;
      for (;;) {
        let due = null;
        for (const [id, t] of timers) if (t.at <= end && (due === null || t.at < timers.get(due).at)) due = id;
        if (due === null) break;
        const t = timers.get(due);
        timers.delete(due);
        now = Math.max(now, t.at);
        t.fn();
      }
      now = end;
    },
  };
}

/** A simulator on `clock` (its WebSocket moves only when the test ticks it), closed by `close()`. */
export async function startSim(clock, o = {}) {
  keys ??= generateKeys();
  const secretHex = crypto.randomBytes(32).toString('hex');
  const sim = await new Simulator({ keys, secretHex, rateLimits: false, clock: clock.now, gatewayIdleMs: 1e12, ...o, ws: { autoTickMs: false, ...o.ws } }).start();
  return sim;
}

/** A logger that keeps every line. */
export function capture() {
  const lines = [];
  const logger = Object.fromEntries(['debug', 'info', 'warn', 'error'].map((l) => [l, (m) => lines.push(`${l}: ${m}`)]));
  return { lines, logger };
}

/** Session options per kind for `sim` (pacing off: the clock is the test's). */
export function sessionFor(pkg, kind, sim, clock, o = {}) {
  const common = { pacing: false, clock: clock.now, ...o };
  if (kind === 'oauth1') return pkg.IbkrSession.oauth1({ ...sim.clientConfig(), ...common });
  if (kind === 'oauth2') return pkg.IbkrSession.oauth2({ ...sim.clientConfig2(), ...common });
  return pkg.IbkrSession.gateway({
    baseUrl: sim.baseUrl, fetch: pkg.gatewayFetch({ baseUrl: sim.origin, certificate: GATEWAY_TLS.cert }),
    statusPolls: 3, statusPollMs: 50, ...common,
  });
}

export const gatewayCa = GATEWAY_TLS.cert;

/**
 * The wall-clock bound on waiting for an event or a condition: no test waits this long when it
 * works (real localhost TCP/TLS and the wasm module take milliseconds); it only turns a hang
 * into a failure.
 */
export const SAFETY_MS = 30_000;

/** Resolves with the next `type` event of `stream` that passes `pred`; rejects after `timeoutMs`. */
export function next(stream, type, pred = () => true, { timeoutMs = SAFETY_MS } = {}) {
  return new Promise((resolve, reject) => {
    const done = () => { clearTimeout(timer); stream.off(type, fn); stream.off('error', err); };
    const fn = (v) => { if (pred(v)) { done(); resolve(v); } };
    const err = (e) => { done(); reject(e); };
    const timer = setTimeout(() => { done(); reject(new Error(`no '${type}' event within ${timeoutMs} ms`)); }, timeoutMs);
    stream.on(type, fn);
    if (type !== 'error') stream.on('error', err);
  });
}

/** The next message with this topic. */
export const nextTopic = (stream, topic) => next(stream, 'message', (m) => m?.topic === topic);

/**
 * Waits until `cond` holds, checking it after each turn of the event loop (so I/O runs between
 * checks; after the first hundred turns, every 5 ms rather than spinning). Fails only when
 * `timeoutMs` of wall-clock time pass first — a safety bound, not a limit on the machine's speed.
 */
export async function until(cond, what, { timeoutMs = SAFETY_MS } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; ; i++) {
    if (await cond()) return;
    if (Date.now() > deadline) assert.fail(`never happened within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => (i < 100 ? setImmediate(r) : setTimeout(r, 5)));
  }
}

/** Secrets that must not appear in logs or errors. */
export function assertNoSecrets(texts, secrets) {
  for (const t of texts) for (const s of secrets.filter((x) => typeof x === 'string' && x.length >= 8)) {
    assert.ok(!String(t).includes(s), `a secret leaked into: ${String(t).slice(0, 200)}`);
  }
}

/**
 * A WebSocket the test drives, standing in for IBKR's: it opens, answers the first {"session"}
 * message with IBKR's "authenticated", records what is sent (`sent`) and each close's arguments
 * (`closes`), and delivers what the test gives `deliver(obj)`. `strictClose`: a close with
 * arguments throws (a runtime stricter than the stream expects). `last()` is the newest socket.
 */
export function drivenSocket({ strictClose = false } = {}) {
  let newest = null;
  class Driven extends EventTarget {
    constructor() {
      super();
      newest = this;
      this.sent = [];
      this.closes = [];
      queueMicrotask(() => this.dispatchEvent(new Event('open')));
    }
    send(m) { this.sent.push(m); if (m.startsWith('{"session"')) this.deliver({ topic: 'system', success: 'user' }); }
    close(...args) {
      if (strictClose && args.length) throw new DOMException('refused', 'InvalidAccessError');
      this.closes.push(args);
      this.dispatchEvent(Object.assign(new Event('close'), { code: 1000, reason: '' }));
    }
    deliver(o) { this.dispatchEvent(Object.assign(new Event('message'), { data: JSON.stringify(o) })); }
  }
  return { WebSocket: Driven, last: () => newest };
}
