// ibind 0.2.2 (voyz/ibind, OAuth 1.0a), the real package from PyPI, unchanged, against the
// simulator: configured only through its IBIND_* environment variables (what `make sim` prints).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Simulator } from '../../sim/server.mjs';
import { ibindEnv } from '../../sim/clients.mjs';
import { testTls } from '../../sim/tls.mjs';
import { cleanEnv, haveClients, runClient, tempDir } from './helpers.mjs';

const skip = haveClients ? false : 'no .venv-clients/: run scripts/setup.sh --python (make test-clients does)';

let dir;
before(() => { dir = tempDir('ibind-'); });
after(() => fs.rmSync(dir, { recursive: true, force: true }));

async function flow(sim, extraEnv = {}) {
  // The script closes the client itself: no second logout from ibind's exit hook.
  const quiet = { IBIND_LOG_TO_FILE: 'False', IBIND_AUTO_REGISTER_SHUTDOWN: 'False' };
  const env = cleanEnv({ ...ibindEnv(sim, path.join(dir, String(sim.server.address().port))), ...quiet, ...extraEnv });
  const c = runClient('ibind_flow.py', env);
  const hs = await c.next('handshake');
  assert.equal(hs.lst, true);
  assert.ok(hs.expires > Date.now(), 'the LST expiry is in the future');
  assert.deepEqual(await c.next('status'), { step: 'status', authenticated: true, connected: true });
  assert.deepEqual((await c.next('accounts')).ids, ['DU1234567']);
  assert.deepEqual((await c.next('snapshot')).conids, [265598, 8314]);
  assert.equal((await c.next('tickle')).authenticated, true);
  await c.next('waiting');
  assert.equal(sim.count('rejected'), 0, 'nothing refused before the expiry');
  const handshakes = sim.count('handshake');
  const expiredAt = sim.log.length;
  sim.expireTokens();
  c.send('go');
  assert.deepEqual(await c.next('after-expire'), { step: 'after-expire', refused: true, status: 401 });
  const rec = await c.next('recovered');
  assert.equal(rec.status, true, 'authenticated again after its own recovery');
  assert.equal(sim.count('handshake'), handshakes + 1, 'one new handshake');
  const since = sim.log.slice(expiredAt);
  const again = since.findIndex((e) => e.kind === 'handshake');
  assert.ok(since.slice(0, again).every((e) => e.kind === 'rejected' && e.status === 401), 'refused until the new handshake');
  assert.ok(since.slice(again).every((e) => e.kind !== 'rejected'), 'nothing refused after it');
  assert.deepEqual((await c.next('accounts-again')).ids, ['DU1234567']);
  await c.next('closed');
  const { code, stderr } = await c.done;
  assert.equal(code, 0, stderr);
  return { env };
}

function checkSaw(sim) {
  const refused = sim.log.filter((e) => e.kind === 'rejected').map((e) => `${e.method} ${e.path}`);
  // The GET with the expired LST, then ibind's three status checks before it re-authenticates.
  assert.deepEqual(refused, ['GET /v1/api/portfolio/accounts', ...Array(3).fill('POST /v1/api/iserver/auth/status')]);
  assert.equal(sim.count('init'), 2, 'ssodh/init after each handshake');
  assert.ok(sim.count('signed') >= 8, `signed requests verified: ${sim.count('signed')}`);
  assert.ok(sim.log.some((e) => e.path === '/v1/api/logout' && e.status === 200), 'logged out');
  assert.ok(sim.log.every((e) => e.status !== 500), 'no simulator errors');
}

test('ibind over HTTP at the simulator\'s own address (it sends Host: api.ibkr.com)', { skip, timeout: 90_000 }, async () => {
  const sim = await new Simulator({ rateLimits: false }).start();
  try {
    await flow(sim);
    assert.equal(sim.count('handshake'), 2);
    checkSaw(sim);
  } finally {
    await sim.close();
  }
});

test('ibind over HTTPS at the simulator\'s address, trusting its throwaway CA (REQUESTS_CA_BUNDLE)', { skip, timeout: 90_000 }, async () => {
  const tls = testTls(path.join(dir, 'tls'));
  const sim = await new Simulator({ rateLimits: false, https: true, tls }).start();
  try {
    assert.match(sim.baseUrl, /^https:\/\/127\.0\.0\.1:\d+\/v1\/api$/);
    await flow(sim, { REQUESTS_CA_BUNDLE: tls.caFile });
    checkSaw(sim);
  } finally {
    await sim.close();
  }
});

test('ibind with its default URL, https://api.ibkr.com/v1/api/, through the proxy mode (HTTPS_PROXY)', { skip, timeout: 90_000 }, async () => {
  const tls = testTls(path.join(dir, 'tls'));
  const sim = await new Simulator({ rateLimits: false, proxy: true, tls }).start();
  try {
    await flow(sim, { IBIND_OAUTH1A_REST_URL: 'https://api.ibkr.com/v1/api/', HTTPS_PROXY: sim.origin, REQUESTS_CA_BUNDLE: tls.caFile });
    checkSaw(sim);
    assert.ok(sim.log.some((e) => e.method === 'CONNECT' && e.path === 'api.ibkr.com:443' && e.status === 200), 'tunnelled');
  } finally {
    await sim.close();
  }
});

test('without the CA, ibind refuses the simulator\'s certificate (verification stays on)', { skip, timeout: 60_000 }, async () => {
  const tls = testTls(path.join(dir, 'tls'));
  const sim = await new Simulator({ rateLimits: false, https: true, tls }).start();
  try {
    const env = cleanEnv({ ...ibindEnv(sim, path.join(dir, 'noca')), IBIND_LOG_TO_FILE: 'False', IBIND_AUTO_REGISTER_SHUTDOWN: 'False' });
    const { code, stderr } = await runClient('ibind_flow.py', env).done;
    assert.notEqual(code, 0);
    assert.match(stderr, /CERTIFICATE_VERIFY_FAILED|certificate verify failed/i);
    assert.equal(sim.count('handshake'), 0);
  } finally {
    await sim.close();
  }
});

test('ibind places an order with two questions, modifies, declines, cancels: its own order methods, unchanged', { skip, timeout: 90_000 }, async () => {
  const sim = await new Simulator({ rateLimits: false }).start();
  try {
    const quiet = { IBIND_LOG_TO_FILE: 'False', IBIND_AUTO_REGISTER_SHUTDOWN: 'False' };
    const c = runClient('ibind_orders.py', cleanEnv({ ...ibindEnv(sim, path.join(dir, 'orders')), ...quiet }));
    const { last, limit } = await c.next('price');
    assert.equal(last, sim.portal.price(265598), 'the snapshot\'s last price is the sandbox\'s');
    const placed = await c.next('placed');
    assert.match(placed.order_id, /^\d+$/);
    assert.equal(placed.status, 'Submitted');
    assert.deepEqual(await c.next('status'), { step: 'status', status: 'Submitted', total: '600', limit: limit.toFixed(2) });
    const modified = await c.next('modified');
    assert.equal(modified.order_id, placed.order_id);
    const lower = (await c.next('status-after-modify')).limit;
    assert.ok(Number(lower) < limit, `modified to ${lower}`);
    assert.deepEqual(await c.next('declined'), { step: 'declined', raised: true, named: true });
    const cancelled = await c.next('cancelled');
    assert.equal(String(cancelled.order_id), placed.order_id);
    const { orders } = await c.next('live');
    assert.deepEqual(orders, [{ id: Number(placed.order_id), status: 'Cancelled', ref: 'ibind-order-1' }], 'the declined order was never placed');
    await c.next('closed');
    const { code, stderr } = await c.done;
    assert.equal(code, 0, stderr);
    const asked = sim.log.filter((e) => ['order', 'reply', 'modify'].includes(e.kind)).map((e) => `${e.kind} ${e.status}`);
    assert.deepEqual(asked, ['order 200', 'reply 200', 'reply 200', 'modify 200', 'reply 200', 'reply 200', 'order 200'],
      'placed after o163 and o383 were answered, modified likewise; the declined order asked once and got no reply');
    assert.equal(sim.orders.length, 1);
    assert.equal(sim.portal.questions.size, 1, 'the declined question is left unanswered, as ibind leaves it');
    assert.ok(sim.log.every((e) => e.kind !== 'rejected' && e.status !== 500), 'every signed request verified');
  } finally {
    await sim.close();
  }
});
