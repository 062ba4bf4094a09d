// The simulator is only useful if it is as strict as IBKR: requests it must refuse, built by hand
// with the package's primitives (the simulator itself never uses the Rust core).
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import * as ibkr from '../../pkg/node.mjs';
import { Simulator } from '../../sim/server.mjs';

let sim;
let cfg;
let lst;
before(async () => {
  sim = await new Simulator({ rateLimits: false, timestampToleranceS: 60 }).start();
  cfg = sim.clientConfig();
  ({ token: lst } = await ibkr.IbkrSession.oauth1({ ...cfg, pacing: false }).liveSessionToken());
});
after(() => sim.close());

/** IBKR's error text, `id: 39687, error: <message>`, down to the message (and the shape checked). */
function message(body) {
  const m = /^id: \d+, error: (.*)$/s.exec(body.error);
  assert.ok(m && Number.isInteger(body.statusCode), `not IBKR's error shape: ${JSON.stringify(body)}`);
  return m[1];
}

async function send(o = {}) {
  const s = ibkr.signRequest({ ...cfg, method: 'GET', url: `${cfg.baseUrl}/portfolio/accounts`, liveSessionToken: lst, ...o });
  const r = await fetch(o.sendUrl ?? s.url, { headers: { authorization: o.authorization ?? s.authorization } });
  return { status: r.status, body: await r.json(), signed: s };
}

test('a correctly signed request passes', async () => {
  assert.equal((await send()).status, 200);
});

test('a replayed nonce is refused', async () => {
  const first = await send({ nonce: 'replay0123456789' });
  assert.equal(first.status, 200);
  const again = await send({ authorization: first.signed.authorization });
  assert.deepEqual([again.status, message(again.body)], [401, 'nonce already used']);
});

test('a stale or future timestamp is refused', async () => {
  for (const ts of [Math.floor(Date.now() / 1000) - 120, Math.floor(Date.now() / 1000) + 120]) {
    const r = await send({ timestamp: ts });
    assert.equal(r.status, 401);
    assert.match(message(r.body), /timestamp/);
  }
});

test('the wrong realm, consumer key, token or LST is refused', async () => {
  assert.match(message((await send({ realm: 'test_realm' })).body), /realm/);
  assert.equal(message((await send({ consumerKey: 'OTHERCONS' })).body), 'invalid consumer');
  assert.equal(message((await send({ accessToken: '00000000000000000000' })).body), 'invalid access token');
  assert.equal(message((await send({ liveSessionToken: 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=' })).body), 'invalid signature');
});

test('a tampered URL is refused: the signature covers the path and the query', async () => {
  const r = await send({ url: `${cfg.baseUrl}/iserver/accounts`, sendUrl: `${cfg.baseUrl}/portfolio/accounts` });
  assert.equal(message(r.body), 'invalid signature');
  const q = await send({ url: `${cfg.baseUrl}/portfolio/accounts?x=1`, sendUrl: `${cfg.baseUrl}/portfolio/accounts?x=2` });
  assert.equal(message(q.body), 'invalid signature');
});

test('strict query style refuses a request that did not sign its query', async () => {
  const strict = await new Simulator({ keys: sim.keys, accessToken: sim.accessToken, secretHex: sim.tokens.get(sim.accessToken).secret.toString('hex'), rateLimits: false, queryStyle: 'signed' }).start();
  try {
    const c = strict.clientConfig();
    const session = ibkr.IbkrSession.oauth1({ ...c, pacing: false });
    const { token } = await session.liveSessionToken();
    const s = ibkr.signRequest({ ...c, method: 'GET', url: `${c.baseUrl}/portfolio/accounts?x=1`, liveSessionToken: token, signQuery: false });
    const r = await fetch(s.url, { headers: { authorization: s.authorization } });
    assert.equal(r.status, 401);
  } finally {
    await strict.close();
  }
});

test('an expired LST is refused', async () => {
  sim.expireTokens();
  assert.equal(message((await send()).body), 'live session token expired');
});

test('custom pacing limits replace the table', async () => {
  const s = await new Simulator({ keys: sim.keys, rateLimits: false }).start();
  try {
    const session = ibkr.IbkrSession.oauth1({ ...s.clientConfig(), pacing: [{ path: '/portfolio/*', limit: 1, windowMs: 400 }] });
    const t0 = Date.now();
    await session.request('GET', '/portfolio/accounts');
    await session.request('GET', '/portfolio/accounts');
    assert.ok(Date.now() - t0 >= 400);
    assert.throws(() => ibkr.IbkrSession.oauth1({ ...s.clientConfig(), pacing: [{ path: '/x' }] }), (e) => e.code === 'INVALID_ARGUMENT');
  } finally {
    await s.close();
  }
});

test('the signed URL: the advertised origin, or https://api.ibkr.com only with that Host; never another host', async () => {
  const path = '/v1/api/portfolio/accounts';
  const { token } = await ibkr.IbkrSession.oauth1({ ...cfg, pacing: false }).liveSessionToken(); // an earlier test expired it
  const viaHost = async (signedFor, host) => {
    const s = ibkr.signRequest({ ...cfg, method: 'GET', url: `${signedFor}${path}`, liveSessionToken: token });
    const r = await new Promise((resolve, reject) => {
      // node:http: fetch() would not send a Host of our choosing.
      http.get(`${sim.origin}${path}`, { headers: { authorization: s.authorization, host } }, (res) => {
        let text = '';
        res.on('data', (d) => { text += d; });
        res.on('end', () => resolve({ status: res.statusCode, json: async () => JSON.parse(text) }));
      }).on('error', reject);
    });
    return { status: r.status, body: await r.json() };
  };
  const own = new URL(sim.origin).host;
  assert.equal((await viaHost(sim.origin, own)).status, 200);
  assert.equal((await viaHost(sim.origin, 'api.ibkr.com')).status, 200, 'ibind: its URL signed, Host: api.ibkr.com sent');
  assert.equal((await viaHost('https://api.ibkr.com', 'api.ibkr.com')).status, 200, 'signed for IBKR, Host says IBKR');
  assert.equal(message((await viaHost('https://api.ibkr.com', own)).body), 'invalid signature', 'signed for IBKR, Host says otherwise');
  assert.equal(message((await viaHost('http://api.ibkr.com', 'api.ibkr.com')).body), 'invalid signature', 'IBKR is https only');
  assert.equal(message((await viaHost('https://evil.example', 'evil.example')).body), 'invalid signature');
});
