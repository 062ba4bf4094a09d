// ibauth 0.1.6 (OAuth 2.0), the real package from PyPI, unchanged, against the simulator. ibauth
// hard-codes https://api.ibkr.com and looks its IP up at https://api.ipify.org: it reaches the
// simulator through the proxy mode (HTTPS_PROXY) and trusts the throwaway CA (SSL_CERT_FILE).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Simulator } from '../../sim/server.mjs';
import { ibauthConfig } from '../../sim/clients.mjs';
import { testTls } from '../../sim/tls.mjs';
import { cleanEnv, haveClients, runClient, tempDir } from './helpers.mjs';

const skip = haveClients ? false : 'no .venv-clients/: run scripts/setup.sh --python (make test-clients does)';

let dir;
before(() => { dir = tempDir('ibauth-'); });
after(() => fs.rmSync(dir, { recursive: true, force: true }));

// Rate limits off: ibauth's connect() calls /sso/validate each time, and IBKR allows that once a
// minute; the reconnects below come sooner than that (with the limits on, the simulator answers
// the second validate_sso 429, as IBKR would).
test('ibauth: connect (token, SSO session, validate_sso, init), tickle, signed GETs, an order with a question, recovery, logout', { skip, timeout: 90_000 }, async () => {
  const tls = testTls(path.join(dir, 'tls'));
  const sim = await new Simulator({ rateLimits: false, proxy: true, tls }).start();
  try {
    const { configFile, env } = ibauthConfig(sim, dir, { caFile: tls.caFile });
    const c = runClient('ibauth_flow.py', cleanEnv(env), {}, [configFile]);
    assert.deepEqual(await c.next('connected'), { step: 'connected', ip: '127.0.0.1', bearer: true });
    assert.deepEqual(await c.next('status'), { step: 'status', authenticated: true, connected: true });
    assert.equal((await c.next('tickle')).authenticated, true);
    assert.deepEqual((await c.next('accounts')).ids, ['DU1234567']);
    assert.deepEqual((await c.next('snapshot')).conids, [265598, 8314]);
    assert.deepEqual(await c.next('question'), { step: 'question', ids: ['o383'], has_reply_id: true });
    const placed = await c.next('placed');
    assert.equal(placed.status, 'Submitted');
    assert.deepEqual(sim.orders.map((o) => [o.order_id, o.cOID, o.quantity]), [[placed.order_id, 'ibauth-1', 600]], 'placed once, after the reply');
    await c.next('waiting');
    assert.equal(sim.count('rejected'), 0);
    sim.expireTokens();
    c.send('go');
    assert.deepEqual(await c.next('after-expire'), { step: 'after-expire', refused: true, status: 401, authenticated: false });
    assert.equal((await c.next('reconnected')).authenticated, true);
    await c.next('waiting');
    sim.setCompeting(); // another session took the brokerage session: tickle says authenticated false
    const inits = sim.count('init');
    c.send('go');
    assert.equal((await c.next('tickle-lost')).authenticated, false);
    assert.equal(sim.count('init'), inits + 1, 'it reconnected by itself');
    assert.equal((await c.next('tickle-recovered')).authenticated, true);
    assert.deepEqual((await c.next('accounts-again')).ids, ['DU1234567']);
    await c.next('logged-out');
    const { code, stderr } = await c.done;
    assert.equal(code, 0, stderr);

    assert.equal(sim.count('oauth2-token'), 3, 'a token for each connect()');
    assert.equal(sim.count('sso-session'), 3);
    assert.equal(sim.count('ip-lookup'), 3, 'its public-IP lookups were answered by the simulator');
    assert.equal(sim.count('init'), 3);
    assert.deepEqual(sim.log.filter((e) => e.kind === 'rejected').map((e) => `${e.method} ${e.path}`), ['GET /v1/api/tickle']);
    assert.ok(sim.log.filter((e) => e.path === '/v1/api/sso/validate').every((e) => e.status === 200));
    assert.ok(sim.log.some((e) => e.path === '/v1/api/logout' && e.status === 200));
    assert.ok(sim.log.filter((e) => e.method === 'CONNECT').every((e) => e.status === 200));
    assert.ok(sim.log.every((e) => e.status !== 500));
  } finally {
    await sim.close();
  }
});

test('the proxy mode tunnels only the hosts it plays', { skip, timeout: 30_000 }, async () => {
  const tls = testTls(path.join(dir, 'tls'));
  const sim = await new Simulator({ rateLimits: false, proxy: true, tls }).start();
  try {
    const { env } = ibauthConfig(sim, dir, { caFile: tls.caFile });
    // ibauth's client over the same proxy, to a host the simulator does not play.
    const probe = "import httpx,sys\ntry:\n  httpx.get('https://example.com/')\nexcept Exception as e:\n  print(type(e).__name__); sys.exit(3)\n";
    const { code } = await runClient('-c', cleanEnv(env), {}, [probe]).done;
    assert.equal(code, 3);
    assert.ok(sim.log.some((e) => e.method === 'CONNECT' && e.path === 'example.com:443' && e.status === 403));
  } finally {
    await sim.close();
  }
});
