// The simulator's fault hooks the soak relies on: a status fault with headers (429 with
// Retry-After), a stalled server (no work, no answer until the client gives up), a dropped
// connection after the work was done (the order is placed, the answer never comes), and the
// count of faults applied by kind. The gateway mode is used: no signing, so plain requests reach
// the sandbox.
import assert from 'node:assert/strict';
import https from 'node:https';
import { after, test } from 'node:test';
import { Simulator } from '../../sim/server.mjs';

const sims = [];
after(async () => { for (const s of sims) await s.close(); });

async function gateway() {
  const gw = await new Simulator({ gateway: true, rateLimits: false }).start();
  sims.push(gw);
  gw.setLoggedIn(true);
  return gw;
}

/** One request on its own connection: { status, headers, body } or { error } (the socket's). */
function call(gw, method, path, body, { abortAfterMs } = {}) {
  return new Promise((resolve) => {
    const text = body === undefined ? '' : JSON.stringify(body);
    const req = https.request(`${gw.baseUrl}${path}`, {
      method, agent: false, rejectUnauthorized: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: JSON.parse(Buffer.concat(chunks).toString() || 'null') }));
    });
    req.on('error', (e) => resolve({ error: e.code ?? e.message }));
    if (abortAfterMs !== undefined) setTimeout(() => req.destroy(new Error('client gave up')), abortAfterMs);
    req.end(text);
  });
}

const ORDER = (cOID) => ({ orders: [{ conid: 265598, side: 'BUY', quantity: 1, orderType: 'MKT', cOID }] });
const ORDERS = '/iserver/account/DU1234567/orders';

test('a status fault carries the headers given (a 429 with Retry-After), and nothing is processed', async () => {
  const gw = await gateway();
  gw.fault({ kind: 'status', status: 429, path: ORDERS, method: 'POST', headers: { 'retry-after': '3' }, body: { error: 'Too many requests' } });
  const r = await call(gw, 'POST', ORDERS, ORDER('a1'));
  assert.equal(r.status, 429);
  assert.equal(r.headers['retry-after'], '3');
  assert.deepEqual(r.body, { error: 'Too many requests' });
  assert.equal(gw.orders.length, 0);
  // The fault is used up: the same request now places the order.
  assert.equal((await call(gw, 'POST', ORDERS, ORDER('a1'))).status, 200);
  assert.equal(gw.orders.length, 1);
});

test('processThenDrop: the order is placed, the connection drops without an answer', async () => {
  const gw = await gateway();
  gw.fault({ kind: 'processThenDrop', path: ORDERS, method: 'POST' });
  const r = await call(gw, 'POST', ORDERS, ORDER('b1'));
  assert.ok(r.error, `expected a dropped connection, got ${JSON.stringify(r)}`);
  assert.deepEqual(gw.orders.map((o) => o.cOID), ['b1']);
  assert.equal(gw.log.at(-1).status, -1);
  // A client that sent it again would be refused by cOID: the simulator keeps the record.
  assert.equal((await call(gw, 'POST', ORDERS, ORDER('b1'))).status, 400);
  assert.equal(gw.orders.length, 1);
});

test('stall: no work and no answer until the client gives up; with ms, the server drops it', async () => {
  const gw = await gateway();
  gw.fault({ kind: 'stall', path: ORDERS, method: 'POST' });
  const r = await call(gw, 'POST', ORDERS, ORDER('c1'), { abortAfterMs: 100 });
  assert.ok(r.error, `expected the client to give up, got ${JSON.stringify(r)}`);
  assert.equal(gw.orders.length, 0, 'a stalled request is not processed');
  gw.fault({ kind: 'stall', path: '/iserver/accounts', ms: 20 });
  const s = await call(gw, 'GET', '/iserver/accounts');
  assert.ok(s.error, `expected a dropped connection, got ${JSON.stringify(s)}`);
  assert.equal((await call(gw, 'GET', '/iserver/accounts')).status, 200);
});

test('faultCounts: the faults applied, by kind; each log entry names its fault', async () => {
  const gw = await gateway();
  gw.fault({ kind: 'status', status: 503, path: '/iserver/accounts', times: 2 });
  gw.fault({ kind: 'drop', path: '/portfolio/accounts' });
  gw.fault({ kind: 'delay', ms: 1, path: '/tickle' });
  await call(gw, 'GET', '/iserver/accounts');
  await call(gw, 'GET', '/iserver/accounts');
  await call(gw, 'GET', '/iserver/accounts');
  await call(gw, 'GET', '/portfolio/accounts');
  await call(gw, 'POST', '/tickle');
  assert.deepEqual(gw.faultCounts(), { status: 2, drop: 1, delay: 1 });
  assert.deepEqual(gw.log.map((e) => e.fault ?? null), ['status', 'status', null, 'drop', 'delay']);
});

test('an order or a reply that reached the sandbox is logged with its cOID or reply id (refs), refused or not', async () => {
  const gw = await gateway();
  await call(gw, 'POST', ORDERS, ORDER('d1'));
  await call(gw, 'POST', ORDERS, ORDER('d1')); // refused: the cOID is known
  gw.fault({ kind: 'status', status: 401, path: ORDERS, method: 'POST' });
  await call(gw, 'POST', ORDERS, ORDER('d2')); // stopped before the sandbox: no refs
  const asked = await call(gw, 'POST', ORDERS, { orders: [{ conid: 265598, side: 'BUY', quantity: 600, orderType: 'MKT', cOID: 'd3' }] });
  const replyId = asked.body[0].id;
  assert.ok(replyId, JSON.stringify(asked.body));
  await call(gw, 'POST', `/iserver/reply/${replyId}`, { confirmed: true });
  assert.deepEqual(gw.log.map((e) => e.refs ?? null), [['d1'], ['d1'], null, ['d3'], [`reply:${replyId}`]]);
  assert.deepEqual(gw.orders.map((o) => o.cOID), ['d1', 'd3']);
});
