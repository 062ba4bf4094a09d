// IbkrSession and OAuth1ThirdParty (the built package, Node entry) against the running simulator
// (sim/, plain node:crypto): the lifecycle, concurrency across an expiring token, every recovery
// path, no duplicate order under any fault, the third-party flow, keep-alive, and no secret in
// any log line or error.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { decryptAccessTokenSecret, IbkrSession, OAuth1ThirdParty } from '../../pkg/node.mjs';
import { capture, newSim, rejects } from './helpers.mjs';

function session(sim, o = {}) {
  return IbkrSession.oauth1({ ...sim.clientConfig(), pacing: false, ...o });
}

const ORDER = { orders: [{ conid: 265598, side: 'BUY', quantity: 1, orderType: 'MKT' }] };
const orderPath = '/iserver/account/DU1234567/orders';
const sentTo = (sim, path, method) => sim.log.filter((e) => e.path === `/v1/api${path}` && (!method || e.method === method)).length;

describe('lifecycle', () => {
  test('handshake, brokerage session, reads, an order, tickle, validate, status, logout', async () => {
    const sim = await newSim();
    const s = session(sim);
    const { token, expiresAt } = await s.liveSessionToken();
    assert.match(token, /^[A-Za-z0-9+/]{27}=$/);
    assert.ok(expiresAt > Date.now() + 23 * 3600e3);
    assert.equal((await s.initBrokerage()).authenticated, true);
    assert.deepEqual((await s.request('GET', '/iserver/accounts')).accounts, ['DU1234567']);
    const placed = await s.request('POST', orderPath, { body: ORDER });
    assert.equal(placed[0].order_status, 'Submitted');
    assert.equal(sim.orders.length, 1);
    assert.equal((await s.tickle()).iserver.authStatus.authenticated, true);
    assert.equal((await s.validate()).RESULT, true);
    assert.equal((await s.status()).authenticated, true);
    await s.logout();
    assert.equal(sim.brokerage.authenticated, false);
    assert.equal(sim.count('handshake'), 1);
    assert.equal(sim.count('rejected'), 0);
  });

  test('the token is cached: a second call makes no new handshake', async () => {
    const sim = await newSim();
    const s = session(sim);
    const a = await s.liveSessionToken();
    const b = await s.liveSessionToken();
    assert.equal(a.token, b.token);
    assert.equal(sim.count('handshake'), 1);
  });

  test('query parameters are signed in both styles the server may insist on', async () => {
    for (const [queryStyle, signQuery] of [['signed', true], ['unsigned', false], ['either', true], ['either', false]]) {
      const sim = await newSim({ queryStyle });
      const s = session(sim, { signQuery });
      await s.initBrokerage();
      const rows = await s.request('GET', '/iserver/marketdata/snapshot', { query: { conids: '265598,8314', fields: '31' } });
      assert.deepEqual(rows.map((r) => r.conid), [265598, 8314], `${queryStyle}/${signQuery}`);
    }
  });
});

describe('concurrency', () => {
  test('1,000 concurrent requests across a token the server expires: one new handshake, no failure', async () => {
    const sim = await newSim();
    let sent = 0;
    const fetch = (url, init) => {
      if (++sent === 300) sim.expireTokens();
      return globalThis.fetch(url, init);
    };
    const s = session(sim, { fetch });
    await s.initBrokerage();
    const results = await Promise.allSettled(Array.from({ length: 1000 }, (_, i) => s.request('GET', i % 2 ? '/iserver/accounts' : '/portfolio/accounts')));
    assert.deepEqual(results.filter((r) => r.status === 'rejected').map((r) => r.reason?.message), []);
    assert.equal(sim.count('handshake'), 2, 'exactly one new handshake');
    assert.ok(sim.count('rejected') > 0, 'the expiry really hit requests in flight');
  });

  test('concurrent first calls share one handshake', async () => {
    const sim = await newSim();
    const s = session(sim);
    await Promise.all(Array.from({ length: 50 }, () => s.liveSessionToken()));
    assert.equal(sim.count('handshake'), 1);
  });
});

describe('recovery', () => {
  test('401 on an order: one new token, one retry, one order', async () => {
    const sim = await newSim();
    const s = session(sim);
    await s.initBrokerage();
    sim.fault({ kind: 'status', status: 401, path: orderPath, body: { error: 'invalid signature' } });
    await s.request('POST', orderPath, { body: ORDER });
    assert.equal(sim.orders.length, 1);
    assert.equal(sentTo(sim, orderPath), 2);
    assert.equal(sim.count('handshake'), 2);
  });

  test('410 Gone moves to the next host with a new token', async () => {
    const a = await newSim();
    const b = await newSim({ accessToken: a.accessToken, secretHex: a.tokens.get(a.accessToken).secret.toString('hex') });
    b.brokerage.authenticated = true;
    const { lines, logger } = capture();
    const s = session(a, { hosts: [b.baseUrl], logger });
    await s.initBrokerage();
    a.fault({ kind: 'gone', path: '/iserver/accounts' });
    assert.deepEqual((await s.request('GET', '/iserver/accounts')).accounts, ['DU1234567']);
    assert.equal(sentTo(b, '/iserver/accounts'), 1);
    assert.equal(b.count('handshake'), 1);
    assert.ok(lines.some((l) => l.includes(`moving to ${b.baseUrl}`)));
  });

  test('"no bridge": ssodh/init once, then idempotent requests are retried and orders are not', async () => {
    const sim = await newSim();
    const s = session(sim);
    assert.deepEqual((await s.request('GET', '/iserver/accounts')).accounts, ['DU1234567']);
    assert.equal(sim.count('init'), 1);
    sim.brokerage.authenticated = false;
    const e = await rejects(s.request('POST', orderPath, { body: ORDER }), 'NO_BRIDGE');
    assert.equal(e.status, 400);
    assert.equal(sim.orders.length, 0);
    assert.equal(sim.count('init'), 2);
    await s.request('POST', orderPath, { body: ORDER });
    assert.equal(sim.orders.length, 1);
  });

  test('429 with Retry-After is honoured for idempotent requests', async () => {
    const sim = await newSim({ rateLimits: [[/^\/tickle$/, 1, 1000]] });
    const s = session(sim);
    await s.tickle();
    const t0 = Date.now();
    await s.tickle();
    assert.ok(Date.now() - t0 >= 900, 'waited for Retry-After');
    assert.equal(sim.count('rate-limited'), 1);
  });

  test('5xx and dropped connections: idempotent requests retry', async () => {
    const sim = await newSim();
    const s = session(sim);
    await s.initBrokerage();
    sim.fault({ kind: 'status', status: 503, path: '/iserver/accounts' });
    sim.fault({ kind: 'drop', path: '/iserver/accounts' });
    assert.deepEqual((await s.request('GET', '/iserver/accounts')).accounts, ['DU1234567']);
    assert.equal(sentTo(sim, '/iserver/accounts'), 3);
  });

  test('timeouts, and the caller\'s AbortSignal', async () => {
    const sim = await newSim();
    const s = session(sim, { timeoutMs: 200, maxRetries: 0 });
    await s.initBrokerage();
    sim.fault({ kind: 'delay', ms: 600, path: '/iserver/accounts' });
    await rejects(s.request('GET', '/iserver/accounts'), 'TIMEOUT');
    const controller = new AbortController();
    sim.fault({ kind: 'delay', ms: 600, path: '/iserver/accounts' });
    setTimeout(() => controller.abort(), 50);
    await rejects(s.request('GET', '/iserver/accounts', { signal: controller.signal }), 'ABORTED');
    await rejects(s.request('GET', '/iserver/accounts', { signal: AbortSignal.abort() }), 'ABORTED');
  });

  test('a fetch that ignores its signal and never settles: TIMEOUT and ABORTED all the same', async () => {
    const sim = await newSim();
    let hang = false;
    const fetch = (url, init) => (hang ? new Promise(() => {}) : globalThis.fetch(url, init));
    const s = session(sim, { timeoutMs: 200, maxRetries: 0, fetch });
    await s.initBrokerage();
    hang = true;
    const within = (p, ms) => Promise.race([p, new Promise((_, no) => setTimeout(() => no(new Error(`still pending after ${ms} ms`)), ms).unref())]);
    let t0 = Date.now();
    await within(rejects(s.request('GET', '/iserver/accounts'), 'TIMEOUT'), 10_000);
    assert.ok(Date.now() - t0 >= 190, `${Date.now() - t0} ms`);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    await within(rejects(s.request('GET', '/iserver/accounts', { signal: controller.signal }), 'ABORTED'), 10_000);
  });

  test('a bad DH response and a wrong LST signature are typed errors', async () => {
    const sim = await newSim();
    sim.fault({ kind: 'badDhResponse', path: '/oauth/live_session_token' });
    await rejects(session(sim).liveSessionToken(), 'BAD_DH_RESPONSE');
    sim.fault({ kind: 'badLstSignature', path: '/oauth/live_session_token' });
    await rejects(session(sim).liveSessionToken(), 'LST_SIGNATURE_MISMATCH');
  });

  test('a wrong consumer key: UNAUTHORIZED with the activation hint; repeated failures back off', async () => {
    const sim = await newSim();
    const s = session(sim, { consumerKey: 'WRONGKEYX' });
    const e = await rejects(s.liveSessionToken(), 'UNAUTHORIZED');
    assert.equal(e.status, 401);
    assert.match(e.serverMessage, /^id: \d+, error: invalid consumer$/);
    assert.match(e.message, /activat/);
    await rejects(s.liveSessionToken(), 'UNAUTHORIZED');
    const third = await rejects(s.liveSessionToken(), 'UNAUTHORIZED');
    assert.match(third.message, /waits \d+ s/);
    assert.equal(sim.count('handshake'), 2, 'the third call did not reach IBKR');
  });

  test('a skewed clock is corrected from the Date header, and reported', async () => {
    const sim = await newSim({ timestampToleranceS: 60 });
    const { lines, logger } = capture();
    const s = session(sim, { clock: () => Date.now() + 10 * 60e3, logger });
    await s.initBrokerage();
    assert.deepEqual((await s.request('GET', '/iserver/accounts')).accounts, ['DU1234567']);
    assert.ok(lines.some((l) => l.startsWith('warn: ') && /clock is \d+ s ahead of IBKR/.test(l)), lines.join('\n'));
  });
});

describe('pacing', () => {
  // The simulator and the client's pacer count the same way: per limit, a sliding window that is
  // half-open (a request `windowMs` or more ago no longer counts), the simulator on its clock
  // when a request reaches its limiter, the pacer on the session's clock when it lets the
  // request go (nothing is awaited between that and the send). The pacer adds 50 ms to every
  // window, the margin for requests arriving closer together than they were sent. That margin
  // is not enough to make a real-time test safe: a burst of concurrent requests, client and
  // simulator in one process, can reach the limiter 100 ms and more after it was sent (measured
  // on a cold start), while the next one arrives at once. So both tests here run on a clock the
  // test moves (the pacer's own arithmetic is tested on explicit timestamps in
  // src/session/pacing.rs).

  test('pacing\'s counterpart, the simulator\'s rate limits, on a controlled clock: sliding half-open windows per endpoint', async () => {
    let now = Date.UTC(2030, 0, 1, 12) + 500; // half-way through a whole second
    const clock = () => now;
    const sim = await newSim({ rateLimits: true, clock });
    sim.brokerage.authenticated = true;
    const s = session(sim, { clock, maxRetries: 0 });
    const send = async (path, method = 'GET') => {
      const r = await s.fetch(`${sim.baseUrl}${path}`, { method });
      return r.status === 429 ? `429 after ${r.headers.get('retry-after')} s` : r.status;
    };
    const t0 = now;
    const at = (ms) => { now = t0 + ms; };

    // /tickle, 1 per second: refused 1 ms before the window's end, let through at its end.
    assert.equal(await send('/tickle', 'POST'), 200);
    at(999);
    assert.equal(await send('/tickle', 'POST'), '429 after 1 s');
    at(1000);
    assert.equal(await send('/tickle', 'POST'), 200);

    // 50 per second overall, in a window that slides: T + 2500 starts a whole second, where a
    // limiter counting fixed 1-second buckets would let 50 more through.
    const burst = (n) => Promise.all(Array.from({ length: n }, () => send('/iserver/accounts')));
    at(2000);
    assert.deepEqual(await burst(25), Array(25).fill(200));
    at(2400);
    assert.deepEqual(await burst(25), Array(25).fill(200));
    assert.equal(await send('/iserver/accounts'), '429 after 1 s');
    at(2500);
    assert.equal(await send('/iserver/accounts'), '429 after 1 s');
    at(2999);
    assert.equal(await send('/iserver/accounts'), '429 after 1 s');
    // At T + 3000 the first 25 have left; the refused requests took no place.
    at(3000);
    assert.deepEqual(await burst(25), Array(25).fill(200));
    assert.equal(await send('/iserver/accounts'), '429 after 1 s');

    // Per endpoint: snapshots 10 per second while other endpoints go on; /pa/* is one budget.
    at(5000);
    assert.deepEqual(await Promise.all(Array.from({ length: 10 }, () => send('/iserver/marketdata/snapshot'))), Array(10).fill(200));
    assert.equal(await send('/iserver/marketdata/snapshot'), '429 after 1 s');
    assert.equal(await send('/iserver/accounts'), 200);
    assert.equal(await send('/portfolio/accounts'), 200);
    assert.equal(await send('/portfolio/accounts'), '429 after 5 s');
    // (The simulator has no /pa/ endpoints: a 404 is a request its limiter let through.)
    assert.equal(await send('/pa/performance', 'POST'), 404);
    assert.equal(await send('/pa/transactions', 'POST'), '429 after 900 s');
    assert.equal(sim.count('handshake'), 1);
  });

  test('client-side pacing keeps under IBKR\'s limits without a single 429, even behind a slow handshake (controlled clock)', async (t) => {
    // Tickles (1/s) one after another while a burst of snapshots (10/s) waits for the same first
    // handshake, which takes 300 ms: far longer than the pacer's margin, as on a slow machine.
    const run = (pacing) => onVirtualTime(t, { pacing, handshakeMs: 300 }, (s) => [
      (async () => { for (let i = 0; i < 3; i++) await s.tickle(); })(),
      ...Array.from({ length: 12 }, () => s.request('GET', '/iserver/marketdata/snapshot', { query: { conids: '265598' } })),
    ]);
    // Without pacing the simulator refuses some of these calls: the workload does cross the limits.
    const unpaced = await run(false);
    assert.ok(unpaced.sim.count('rate-limited') > 0);
    assert.ok(unpaced.failed.includes('RATE_LIMITED'));

    const { sim, failed, sent } = await run(true);
    assert.deepEqual(failed, []);
    assert.equal(sim.count('rate-limited'), 0);
    assert.equal(sim.count('tickle'), 3);
    assert.equal(sentTo(sim, '/iserver/marketdata/snapshot'), 12);
    // The schedule, exactly: everything waits for the handshake; then the first tickle and ten
    // snapshots at once, and each next call a window plus the 50 ms margin later.
    const first = sent.find(([path]) => path === '/tickle')[1];
    assert.ok(first >= 300);
    const at = (path) => sent.filter(([p]) => p === path).map(([, ms]) => ms - first);
    assert.deepEqual(at('/tickle'), [0, 1050, 2100]);
    assert.deepEqual(at('/iserver/marketdata/snapshot'), [...Array(10).fill(0), 1050, 1050]);
  });
});

/**
 * Runs calls on a clock the test moves, so that nothing depends on the machine's speed. The
 * session and the simulator read the same virtual time; the session's timers are node:test's mock
 * timers (it looks `setTimeout` up when it is made); and the time moves, 1 ms at a time, only
 * while no request is in flight, so the simulator stamps every request with the very time the
 * pacer let it go. The handshake takes `handshakeMs` of virtual time. `calls(session)` returns
 * the calls' promises; resolves to { sim, failed: their error codes, sent: [path, virtual ms
 * from the start] of every API request the session sent }.
 */
async function onVirtualTime(t, { pacing, handshakeMs }, calls) {
  let now = Date.UTC(2030, 0, 1, 12);
  const start = now;
  const clock = () => now;
  const sim = await newSim({ rateLimits: true, clock });
  sim.brokerage.authenticated = true;
  let inFlight = 0;
  const sent = [];
  const fetch = async (url, init) => {
    inFlight++;
    try {
      const path = new URL(url).pathname.slice('/v1/api'.length);
      if (path === '/oauth/live_session_token') now += handshakeMs;
      else sent.push([path, now - start]);
      return await globalThis.fetch(url, init);
    } finally {
      inFlight--;
    }
  };
  t.mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const s = session(sim, { pacing, clock, fetch, maxRetries: 0 });
    let done = false;
    const all = Promise.allSettled(calls(s)).finally(() => { done = true; });
    while (!done) {
      await new Promise((resolve) => setImmediate(resolve));
      if (!done && inFlight === 0) {
        now += 1;
        t.mock.timers.tick(1);
        assert.ok(now - start < 60_000, 'the calls never finished');
      }
    }
    const failed = (await all).filter((r) => r.status === 'rejected').map((r) => r.reason.code);
    return { sim, failed, sent };
  } finally {
    t.mock.timers.reset();
  }
}

describe('never a duplicate order', () => {
  // Each fault must surface as its typed error (so the fault really fired), with one send.
  const faults = [
    [{ kind: 'status', status: 500 }, 'HTTP_ERROR'], [{ kind: 'status', status: 503 }, 'HTTP_ERROR'],
    [{ kind: 'status', status: 429 }, 'RATE_LIMITED'], [{ kind: 'gone' }, 'GONE'], [{ kind: 'drop' }, 'NETWORK'],
    [{ kind: 'processThenFail' }, 'HTTP_ERROR'], [{ kind: 'noBridge' }, 'NO_BRIDGE'], [{ kind: 'delay', ms: 400 }, 'TIMEOUT'],
  ];
  for (const [f, code] of faults) {
    test(`fault ${f.kind}${f.status ? ` ${f.status}` : ''}: ${code}, and the order is sent once`, async () => {
      const sim = await newSim();
      const s = session(sim, { timeoutMs: 200 });
      await s.initBrokerage();
      sim.fault({ ...f, path: orderPath });
      await rejects(s.request('POST', orderPath, { body: ORDER }), code);
      assert.equal(sentTo(sim, orderPath), 1, 'sent more than once');
      assert.ok(sim.orders.length <= 1);
    });
  }
});

describe('fetch() and authorize()', () => {
  let foreign;
  const seen = [];
  before(async () => {
    foreign = http.createServer((req, res) => { seen.push(req.headers); res.end('{"ok":true}'); });
    await new Promise((r) => foreign.listen(0, '127.0.0.1', r));
  });
  after(() => foreign.close());

  test('signs only the session\'s own hosts', async () => {
    const sim = await newSim();
    const s = session(sim);
    await s.initBrokerage();
    const own = await s.fetch(`${sim.baseUrl}/iserver/accounts`);
    assert.equal(own.status, 200);
    const asUrl = await s.fetch(new URL(`${sim.baseUrl}/iserver/accounts`));
    assert.equal(asUrl.status, 200, 'a URL object is signed like a string');
    const other = await s.fetch(`http://127.0.0.1:${foreign.address().port}/v1/api/iserver/accounts`, { headers: { 'x-test': '1' } });
    assert.equal(other.status, 200);
    assert.equal(seen.at(-1).authorization, undefined, 'a signature leaked to a foreign host');
    assert.equal(seen.at(-1)['x-test'], '1');
  });

  test('takes a Request with a body and recovers from a 401 by resending the same bytes', async () => {
    const sim = await newSim();
    const s = session(sim);
    await s.initBrokerage();
    sim.fault({ kind: 'status', status: 401, path: orderPath });
    const r = await s.fetch(new Request(`${sim.baseUrl}${orderPath}`, { method: 'POST', body: JSON.stringify(ORDER), headers: { 'content-type': 'application/json' } }));
    assert.equal(r.status, 200);
    assert.equal(sim.orders.length, 1);
    assert.equal(sim.orders[0].conid, 265598);
  });

  test('authorize() gives headers that work with any client; foreign URLs are refused', async () => {
    const sim = await newSim();
    const s = session(sim);
    await s.initBrokerage();
    const url = `${sim.baseUrl}/iserver/marketdata/snapshot?conids=265598&fields=31`;
    const headers = await s.authorize('GET', url);
    const r = await fetch(url, { headers });
    assert.equal(r.status, 200);
    await rejects(s.authorize('GET', 'https://example.com/v1/api/tickle'), 'INVALID_ARGUMENT');
  });
});

test('websocketCurrent takes only a whole generation', () => {
  const s = IbkrSession.gateway({ baseUrl: 'https://127.0.0.1:5000/v1/api', pacing: false });
  assert.equal(s.websocketCurrent(0), true, 'no token yet: nothing is stale');
  for (const bad of [undefined, null, '3', Number.NaN, -1, 1.5, Infinity]) {
    assert.throws(() => s.websocketCurrent(bad), (e) => e.code === 'INVALID_ARGUMENT' && /whole number/.test(e.message), String(bad));
  }
});

describe('keep-alive', () => {
  test('tickles, repairs a competing session, and stops', async () => {
    const sim = await newSim();
    const { lines, logger } = capture();
    const s = session(sim, { logger });
    await s.initBrokerage();
    const k = s.keepAlive({ intervalMs: 1000 });
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal(sim.count('tickle'), 1);
    sim.setCompeting();
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal(sim.brokerage.authenticated, true, 're-initialised');
    assert.ok(lines.some((l) => l.includes('competing')));
    k.stop();
    const n = sim.count('tickle');
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal(sim.count('tickle'), n, 'stopped');
  });

  test('a discarded handle, collected, neither crashes the process nor stops the timer', async () => {
    const sim = await newSim();
    await session(sim).initBrokerage();
    // A child process with --expose-gc: the handle is thrown away, collected and finalised,
    // and the timer must go on tickling without an uncaught error.
    const child = spawn(process.execPath, ['--expose-gc', '--input-type=module', '-e', `
      import { IbkrSession } from ${JSON.stringify(new URL('../../pkg/node.mjs', import.meta.url).href)};
      process.on('uncaughtException', (e) => { console.log('UNCAUGHT ' + e.message); process.exit(3); });
      const s = IbkrSession.oauth1({ ...${JSON.stringify(sim.clientConfig())}, pacing: false });
      (() => { s.keepAlive({ intervalMs: 1000 }); })();
      for (let i = 0; i < 8; i += 1) { globalThis.gc(); await new Promise((r) => setTimeout(r, 400)); }
      console.log('OK');
      process.exit(0);
    `], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const [code] = await once(child, 'exit');
    clearTimeout(timer);
    assert.equal(out.trim(), 'OK');
    assert.equal(code, 0);
    assert.ok(sim.count('tickle') >= 2, `tickles: ${sim.count('tickle')}`);
  });
});

describe('third party', () => {
  test('request token → the user authorizes → access token → a working session', async () => {
    const sim = await newSim({ consumerKey: 'TESTCONS' });
    const cfg = sim.clientConfig();
    const tp = new OAuth1ThirdParty({ consumerKey: 'TESTCONS', signatureKey: cfg.signatureKey, baseUrl: sim.baseUrl, callback: 'https://app.example/cb' });
    const requestToken = await tp.requestToken();
    assert.match(requestToken, /^[0-9a-f]{20}$/);
    const url = tp.authorizeUrl(requestToken, `${sim.origin}/authorize`);
    const redirect = await fetch(url, { redirect: 'manual' });
    assert.equal(redirect.status, 302);
    const cb = new URL(redirect.headers.get('location'));
    assert.equal(cb.searchParams.get('oauth_token'), requestToken);
    const at = await tp.accessToken({ token: requestToken, verifier: cb.searchParams.get('oauth_verifier') });
    assert.equal(at.isPaper, true);
    const s = IbkrSession.oauth1({ ...cfg, accessToken: at.accessToken, accessTokenSecret: at.accessTokenSecret, pacing: false });
    await s.initBrokerage();
    assert.deepEqual((await s.request('GET', '/iserver/accounts')).accounts, ['DU1234567']);
    await rejects(tp.accessToken({ token: requestToken, verifier: 'wrong' }), 'UNAUTHORIZED');
  });
});

describe('secrets', () => {
  test('a full session with debug logging and induced failures: no secret in any log line or error', async () => {
    const sim = await newSim();
    const cfg = sim.clientConfig();
    const { lines, logger } = capture();
    const errors = [];
    const s = session(sim, { logger, timeoutMs: 300 });
    const { token } = await s.liveSessionToken();
    await s.initBrokerage();
    await s.request('GET', '/iserver/accounts');
    sim.expireTokens();
    await s.request('POST', orderPath, { body: ORDER });
    for (const f of [{ kind: 'status', status: 500 }, { kind: 'drop' }, { kind: 'delay', ms: 600 }, { kind: 'noBridge' }]) {
      sim.fault({ ...f, path: orderPath });
      await s.request('POST', orderPath, { body: ORDER }).catch((e) => errors.push(e));
    }
    sim.fault({ kind: 'badLstSignature', path: '/oauth/live_session_token' });
    await session(sim, { logger }).liveSessionToken().catch((e) => errors.push(e));
    await s.tickle();
    await s.logout();
    const k = s.keepAlive({ intervalMs: 1000 });
    k.stop();
    assert.ok(lines.length > 20 && errors.length >= 4);
    const prepend = decryptAccessTokenSecret(cfg.encryptionKey, cfg.accessTokenSecret);
    const pemLines = [cfg.signatureKey, cfg.encryptionKey].flatMap((p) => p.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----')));
    const secrets = [prepend, token, cfg.accessTokenSecret, cfg.accessTokenSecret.slice(0, 40), ...pemLines];
    const texts = [...lines, ...errors.flatMap((e) => [e.message, e.serverMessage ?? '', String(e.stack), JSON.stringify(e)])];
    for (const t of texts) for (const sec of secrets) assert.ok(!t.includes(sec), `secret in: ${t}`);
  });
});
