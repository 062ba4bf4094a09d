// ibind 0.2.2's own WebSocket client (IbkrWsClient, OAuth 1.0a), the real package from PyPI,
// unchanged, against the simulator's /v1/api/ws: configured only through its IBIND_* environment
// variables (IBIND_OAUTH1A_WS_URL among them). The simulator's clock stays within seconds of the
// machine's (ibind compares heartbeats with its own clock) and moves only when the test moves it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Simulator } from '../../sim/server.mjs';
import { ibindEnv } from '../../sim/clients.mjs';
import { cleanEnv, haveClients, runClient, tempDir } from './helpers.mjs';

const skip = haveClients ? false : 'no .venv-clients/: run scripts/setup.sh --python (make test-clients does)';
const AAPL = 265598;

let dir;
before(() => { dir = tempDir('ibind-ws-'); });
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('ibind\'s IbkrWsClient: session cookie, market data, orders and P&L on the simulator\'s WebSocket', { skip, timeout: 120_000 }, async () => {
  // A start within 15 s of now at which AAPL's last price moves within 5 s (a wave is never flat for long).
  const base = Date.now();
  let now = base;
  const probe = new Simulator({ rateLimits: false });
  const moves = (t) => probe.portal.fieldValues(AAPL, t)['31'] !== probe.portal.fieldValues(AAPL, t + 5000)['31'];
  for (let d = -15_000; d <= 15_000 && !moves(now); d += 500) now = base + d;
  assert.ok(moves(now), 'a start where the price moves');
  const sim = await new Simulator({ rateLimits: false, clock: () => now, ws: { autoTickMs: false } }).start();
  try {
    const quiet = { IBIND_LOG_TO_FILE: 'False', IBIND_AUTO_REGISTER_SHUTDOWN: 'False' };
    const env = cleanEnv({ ...ibindEnv(sim, path.join(dir, 'ws')), ...quiet });
    assert.equal(env.IBIND_OAUTH1A_WS_URL, `${sim.origin.replace(/^http/, 'ws')}/v1/api/ws`);
    const c = runClient('ibind_ws.py', env);
    assert.deepEqual(await c.next('authenticated'), { step: 'authenticated', ok: true });
    const upgrade = sim.log.filter((e) => e.path === '/v1/api/ws').map((e) => `${e.kind} ${e.status}`);
    assert.deepEqual(upgrade, ['ws 101'], 'ibind\'s cookie api=<session>, ?oauth_token= and User-Agent were accepted at once');
    assert.equal((await c.next('md-subscribed')).ok, true);
    const v0 = sim.portal.fieldValues(AAPL, now);
    assert.deepEqual(await c.next('md'), { step: 'md', conid: String(AAPL), data: { last_price: v0['31'], bid_price: v0['84'], ask_price: v0['86'], market_data_marker: `q${AAPL % 100}` } });
    await c.next('waiting');
    now += 5000;
    sim.wsTick();
    c.send('go');
    const v1 = sim.portal.fieldValues(AAPL, now);
    const update = await c.next('md-update');
    assert.equal(update.data.last_price, v1['31'], 'the moved price, only changed fields');
    const want = { last_price: v1['31'], bid_price: v1['84'], ask_price: v1['86'], market_data_marker: `q${AAPL % 100}` };
    assert.ok(Object.entries(update.data).every(([k, v]) => v === want[k]), JSON.stringify(update.data));

    assert.equal((await c.next('pnl-subscribed')).ok, true);
    assert.deepEqual((await c.next('pnl')).data, { topic: 'spl', args: sim.portal.pnl().upnl });
    assert.deepEqual((await c.next('orders')).data, { topic: 'sor', args: [] });
    const { order_id: id } = await c.next('placed');
    const submitted = (await c.next('order-update')).data.args;
    assert.deepEqual(submitted.map((o) => [String(o.orderId), o.status, o.order_ref]), [[id, 'Submitted', 'ibind-ws-1']]);
    await c.next('waiting');
    now += 1000;
    sim.wsTick();
    c.send('go');
    const filled = (await c.next('order-update')).data.args;
    assert.deepEqual(filled.map((o) => [String(o.orderId), o.status, o.avgPrice]), [[id, 'Filled', sim.orders[0].avgPrice.toFixed(2)]]);
    assert.deepEqual(await c.next('tic'), { step: 'tic', alive: true, lastAccessed: now });
    await c.next('closed');
    const { code, stderr } = await c.done;
    assert.equal(code, 0, stderr);
    assert.deepEqual(sim.ws.stats.refused, []);
    assert.equal(sim.ws.stats.upgrades, 1, 'one connection: no reconnects');
    assert.ok(sim.ws.stats.clientCloses.length === 1, 'ibind closed its socket with a close frame');
    assert.ok(sim.log.every((e) => e.kind !== 'rejected' && e.status !== 500), 'every signed request verified');
  } finally {
    await sim.close();
  }
});
