// The simulator's sandbox endpoints (sim/portal.mjs) over real HTTPS: the simulator plays the
// Client Portal Gateway (no signing, so no package is needed), logged in, on a controlled clock.
// Orders with questions and replies, states on the clock, modify, cancel, suppression, reply ids
// used once, the snapshot warm-up, history, accounts, contracts, portfolio, limits, error shapes.
import assert from 'node:assert/strict';
import https from 'node:https';
import { after, test } from 'node:test';
import { GATEWAY_TLS, generateKeys, Simulator } from '../../sim/server.mjs';

const keys = generateKeys();
const sims = [];
after(async () => { for (const s of sims.splice(0)) await s.close(); });

const A = 'DU1234567';
const B = 'DU7654321';
const T0 = Date.UTC(2025, 5, 16, 14, 0, 0);

/** A logged-in simulated gateway on a clock the test moves: { sim, call, tick }. */
async function sandbox(portal = {}, o = {}) {
  let now = T0;
  const sim = await new Simulator({
    keys, gateway: true, rateLimits: false, clock: () => now, gatewayIdleMs: 1e12,
    portal: { accounts: [A, B], ...portal }, ...o,
  }).start();
  sims.push(sim);
  sim.setLoggedIn(true);
  const call = (method, path, body) => new Promise((resolve, reject) => {
    const text = body === undefined ? '' : JSON.stringify(body);
    const headers = { 'content-length': Buffer.byteLength(text), ...(body === undefined ? {} : { 'content-type': 'application/json' }) };
    const req = https.request(`${sim.baseUrl}${path}`, { method, headers, ca: GATEWAY_TLS.cert, checkServerIdentity: () => undefined }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
    });
    req.on('error', reject);
    req.end(text);
  });
  return { sim, call, tick: (ms) => { now += ms; } };
}

/** A 400 with IBKR's error shape and a message matching `re`. */
function refused(r, re) {
  assert.equal(r.status, 400, JSON.stringify(r.body));
  assert.equal(typeof r.body.error, 'string');
  assert.match(r.body.error, re);
}

const order = (o) => ({ orders: [{ conid: 265598, side: 'BUY', quantity: 1, orderType: 'MKT', tif: 'DAY', ...o }] });

test('an order that needs confirmation: question, reply, placed; a reply id works once', async () => {
  const { sim, call } = await sandbox();
  const q = await call('POST', `/iserver/account/${A}/orders`, order({ quantity: 600 }));
  assert.equal(q.status, 200);
  assert.equal(q.body.length, 1);
  assert.match(q.body[0].id, /^[0-9a-f-]{36}$/);
  assert.deepEqual(q.body[0].messageIds, ['o383']);
  assert.equal(q.body[0].isSuppressed, false);
  assert.match(q.body[0].message[0], /BUY 600 AAPL .* size exceeds the Size Limit of 500/);
  assert.equal(sim.orders.length, 0, 'nothing is placed before the reply');

  const placed = await call('POST', `/iserver/reply/${q.body[0].id}`, { confirmed: true });
  assert.equal(placed.status, 200);
  assert.deepEqual(Object.keys(placed.body[0]).sort(), ['encrypt_message', 'order_id', 'order_status']);
  assert.match(placed.body[0].order_id, /^\d+$/);
  assert.equal(placed.body[0].order_status, 'Submitted');
  assert.equal(sim.orders.length, 1);

  refused(await call('POST', `/iserver/reply/${q.body[0].id}`, { confirmed: true }), /already answered/);
  refused(await call('POST', '/iserver/reply/00000000-0000-0000-0000-000000000000', { confirmed: true }), /Unknown reply id/);
  assert.equal(sim.orders.length, 1, 'a reused reply id placed nothing');
});

test('two questions come one after the other; confirmed: false places nothing', async () => {
  const { sim, call } = await sandbox();
  const q1 = await call('POST', `/iserver/account/${A}/orders`, order({ quantity: 600, orderType: 'LMT', price: 100 }));
  assert.deepEqual(q1.body[0].messageIds, ['o163'], 'a limit 3 % away from the market');
  const q2 = await call('POST', `/iserver/reply/${q1.body[0].id}`, { confirmed: true });
  assert.deepEqual(q2.body[0].messageIds, ['o383']);
  assert.notEqual(q2.body[0].id, q1.body[0].id);
  assert.equal(sim.orders.length, 0);
  const no = await call('POST', `/iserver/reply/${q2.body[0].id}`, { confirmed: false });
  assert.equal(no.status, 200);
  assert.equal(no.body[0].order_id, undefined);
  assert.equal(sim.orders.length, 0);
  refused(await call('POST', `/iserver/reply/${q2.body[0].id}`, { confirmed: true }), /already answered/);
  assert.equal(sim.orders.length, 0);
});

test('suppressed questions are not asked; reset brings them back', async () => {
  const { sim, call } = await sandbox();
  refused(await call('POST', '/iserver/questions/suppress', {}), /messageIds/);
  assert.deepEqual((await call('POST', '/iserver/questions/suppress', { messageIds: ['o383'] })).body, { status: 'submitted' });
  const direct = await call('POST', `/iserver/account/${A}/orders`, order({ quantity: 600 }));
  assert.equal(direct.body[0].order_status, 'Submitted');
  assert.equal(sim.orders.length, 1);
  assert.deepEqual((await call('POST', '/iserver/questions/suppress/reset')).body, { status: 'submitted' });
  const asked = await call('POST', `/iserver/account/${A}/orders`, order({ quantity: 600 }));
  assert.deepEqual(asked.body[0].messageIds, ['o383']);
  assert.equal(sim.orders.length, 1);
});

test('a market order: PreSubmitted, Submitted, Filled on the clock; the position and cash follow', async () => {
  const { call, tick } = await sandbox({ ackMs: 500, fillMs: 2000 });
  const before = (await call('GET', `/portfolio/${A}/positions/0`)).body.find((p) => p.conid === 265598).position;
  const cash = (await call('GET', `/portfolio/${A}/summary`)).body.totalcashvalue.amount;
  const placed = await call('POST', `/iserver/account/${A}/orders`, order({ quantity: 5 }));
  assert.equal(placed.body[0].order_status, 'PreSubmitted');
  const id = placed.body[0].order_id;
  const status = async () => (await call('GET', `/iserver/account/order/status/${id}`)).body;
  assert.equal((await status()).order_status, 'PreSubmitted');
  tick(499);
  assert.equal((await status()).order_status, 'PreSubmitted');
  tick(1);
  assert.equal((await status()).order_status, 'Submitted');
  tick(1499);
  assert.equal((await status()).order_status, 'Submitted');
  tick(1);
  const filled = await status();
  assert.equal(filled.order_status, 'Filled');
  assert.equal(filled.cum_fill, '5');
  assert.match(filled.average_price, /^\d+\.\d\d$/);
  const list = (await call('GET', '/iserver/account/orders')).body;
  assert.equal(list.snapshot, true);
  const row = list.orders.find((o) => String(o.orderId) === id);
  assert.deepEqual(
    [row.conid, row.ticker, row.side, row.orderType, row.status, row.filledQuantity, row.remainingQuantity, row.totalSize, row.acct],
    [265598, 'AAPL', 'BUY', 'Market', 'Filled', 5, 0, 5, A],
  );
  const after = (await call('GET', `/portfolio/${A}/positions/0`)).body.find((p) => p.conid === 265598).position;
  assert.equal(after, before + 5);
  const spent = cash - (await call('GET', `/portfolio/${A}/summary`)).body.totalcashvalue.amount;
  assert.ok(Math.abs(spent - (5 * Number(filled.average_price) + 1)) < 0.01, `cash moved by ${spent}`);
});

test('a limit order waits until the price crosses; modify moves it; a filled order cannot change', async () => {
  const { sim, call, tick } = await sandbox();
  const last = sim.portal.price(265598, T0);
  const placed = await call('POST', `/iserver/account/${A}/orders`, order({ orderType: 'LMT', price: +(last - 2).toFixed(2) }));
  const id = placed.body[0].order_id;
  tick(60_000);
  const row = async () => (await call('GET', '/iserver/account/orders')).body.orders.find((o) => String(o.orderId) === id);
  assert.equal((await row()).status, 'Submitted', 'a buy limit $2 under the market does not fill');
  assert.equal((await row()).price, (last - 2).toFixed(2));
  refused(await call('POST', `/iserver/account/${A}/order/${id}`, { side: 'SELL' }), /does not match original order/);
  const price = sim.portal.quote(265598, T0 + 60_000).ask + 0.5;
  const mod = await call('POST', `/iserver/account/${A}/order/${id}`, { conid: 265598, side: 'BUY', orderType: 'LMT', price, quantity: 2 });
  assert.equal(mod.status, 200, JSON.stringify(mod.body));
  assert.equal(mod.body[0].order_id, id);
  tick(1000);
  const filled = await row();
  assert.equal(filled.status, 'Filled', 'the limit above the ask fills on the next look');
  assert.equal(filled.totalSize, 2);
  assert.ok(Number(filled.avgPrice) <= price);
  refused(await call('POST', `/iserver/account/${A}/order/${id}`, { price: 1, orderType: 'LMT' }), /Can't modify a filled order/);
  refused(await call('DELETE', `/iserver/account/${A}/order/${id}`), /can't be cancelled/);
});

test('cancel: IBKR\'s answer, the order is Cancelled and never fills', async () => {
  const { call, tick } = await sandbox({ fillMs: 5000 });
  const id = (await call('POST', `/iserver/account/${B}/orders`, order({ conid: 272093 }))).body[0].order_id;
  const r = await call('DELETE', `/iserver/account/${B}/order/${id}`);
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, { msg: 'Request was submitted', order_id: Number(id), conid: 272093, account: B });
  tick(10_000);
  const s = (await call('GET', `/iserver/account/order/status/${id}`)).body;
  assert.equal(s.order_status, 'Cancelled');
  assert.equal(s.cum_fill, '0');
  refused(await call('DELETE', `/iserver/account/${A}/order/${id}`), /doesn't exist/);
  refused(await call('GET', '/iserver/account/order/status/123'), /doesn't exist/);
});

test('bad orders are refused with IBKR\'s error shape, and nothing is placed', async () => {
  const { sim, call } = await sandbox();
  refused(await call('POST', `/iserver/account/${A}/orders`, order({ conid: 1 })), /Contract 1 not found/);
  refused(await call('POST', `/iserver/account/${A}/orders`, order({ side: 'HOLD' })), /Invalid side/);
  refused(await call('POST', `/iserver/account/${A}/orders`, order({ quantity: 0 })), /Invalid quantity/);
  refused(await call('POST', `/iserver/account/${A}/orders`, order({ orderType: 'LMT' })), /price required/);
  refused(await call('POST', '/iserver/account/U999/orders', order({})), /Account U999 is not valid/);
  assert.equal((await call('POST', `/iserver/account/${A}/orders`, {})).status, 400);
  const once = await call('POST', `/iserver/account/${A}/orders`, order({ cOID: 'my-1' }));
  assert.equal(once.status, 200);
  refused(await call('POST', `/iserver/account/${A}/orders`, order({ cOID: 'my-1' })), /Local order ID=my-1 is already registered/);
  assert.equal(sim.orders.length, 1);
  const missing = await call('GET', '/iserver/nothing/here');
  assert.deepEqual([missing.status, missing.body.statusCode], [404, 404]);
});

test('whatif answers amounts and changes, and places nothing', async () => {
  const { sim, call } = await sandbox();
  const r = await call('POST', `/iserver/account/${A}/orders/whatif`, order({ quantity: 3, orderType: 'LMT', price: 190 }));
  assert.equal(r.status, 200);
  assert.equal(r.body.amount.amount, '570.00 USD (3 Shares)');
  assert.equal(r.body.amount.commission, '1.00 USD');
  assert.deepEqual(r.body.position, { current: '10.00', change: '3.00', after: '13.00' });
  assert.equal(sim.orders.length, 0);
});

test('snapshot: the first request for a conid only subscribes; later ones answer moving prices', async () => {
  const { call, tick } = await sandbox({ snapshotWarmup: true });
  const q = '/iserver/marketdata/snapshot?conids=265598,756733&fields=31,84,86,55,7295';
  assert.deepEqual((await call('GET', q)).body, [{ conid: 265598, conidEx: '265598' }, { conid: 756733, conidEx: '756733' }]);
  const [aapl, spy] = (await call('GET', q)).body;
  assert.equal(aapl[55], 'AAPL');
  assert.equal(spy[55], 'SPY');
  for (const f of ['31', '84', '86', '7295']) assert.match(aapl[f], /^\d+\.\d\d$/, f);
  assert.ok(Number(aapl[84]) < Number(aapl[31]) && Number(aapl[31]) < Number(aapl[86]), 'bid < last < ask');
  assert.equal(aapl[70], undefined, 'only the fields asked for');
  tick(30_000);
  const later = (await call('GET', q)).body[0];
  assert.notEqual(later[31], aapl[31], 'the price moved in 30 s');
  assert.ok(Math.abs(later[31] - aapl[31]) / aapl[31] < 0.02, 'and plausibly little');
  const fresh = (await call('GET', '/iserver/marketdata/snapshot?conids=272093&fields=31')).body[0];
  assert.equal(fresh[31], undefined, 'a new conid warms up too');
});

test('snapshot without the warm-up (the default) answers fields at once', async () => {
  const { call } = await sandbox({ snapshotWarmup: undefined });
  const [row] = (await call('GET', '/iserver/marketdata/snapshot?conids=265598&fields=31')).body;
  assert.match(row[31], /^\d+\.\d\d$/);
});

test('history: IBKR\'s shape, one bar per interval ending now, OHLC consistent', async () => {
  const { call } = await sandbox();
  const r = await call('GET', '/iserver/marketdata/history?conid=265598&period=1d&bar=5min');
  assert.equal(r.status, 200);
  assert.equal(r.body.symbol, 'AAPL');
  assert.equal(r.body.barLength, 300);
  assert.equal(r.body.points, 288);
  assert.equal(r.body.data.length, 288);
  assert.equal(r.body.data.at(-1).t, Math.floor(T0 / 300_000) * 300_000);
  assert.equal(r.body.data[1].t - r.body.data[0].t, 300_000);
  for (const b of r.body.data) assert.ok(b.l <= Math.min(b.o, b.c) && b.h >= Math.max(b.o, b.c) && b.v > 0);
  refused(await call('GET', '/iserver/marketdata/history?conid=265598&period=1d&bar=7sec'), /invalid period or bar/);
  refused(await call('GET', '/iserver/marketdata/history?conid=42&period=1d&bar=5min'), /not found/);
});

test('accounts: two, one selected; switching changes selectedAccount; orders on either work', async () => {
  const { call } = await sandbox();
  const acc = (await call('GET', '/iserver/accounts')).body;
  assert.deepEqual(acc.accounts, [A, B]);
  assert.equal(acc.selectedAccount, A);
  assert.deepEqual((await call('POST', '/iserver/account', { acctId: B })).body, { set: true, acctId: B });
  assert.equal((await call('GET', '/iserver/accounts')).body.selectedAccount, B);
  refused(await call('POST', '/iserver/account', { acctId: 'U1' }), /not valid/);
  assert.equal((await call('POST', `/iserver/account/${A}/orders`, order({}))).status, 200, 'an order on the account not selected');
  assert.deepEqual((await call('GET', '/portfolio/accounts')).body.map((a) => [a.id, a.accountId, a.currency]), [[A, A, 'USD'], [B, B, 'USD']]);
  assert.equal((await call('GET', '/portfolio/subaccounts')).body.length, 2);
  assert.deepEqual((await call('GET', `/portfolio/${B}/positions/0`)).body, []);
  assert.deepEqual((await call('GET', `/portfolio/${A}/positions/1`)).body, [], 'page 1 is empty');
  const ledger = (await call('GET', `/portfolio/${A}/ledger`)).body;
  assert.equal(ledger.USD.acctcode, A);
  assert.ok(ledger.BASE.netliquidationvalue > ledger.BASE.cashbalance);
  const pnl = (await call('GET', '/iserver/account/pnl/partitioned')).body.upnl;
  assert.deepEqual(Object.keys(pnl), [`${A}.Core`, `${B}.Core`]);
  assert.equal(pnl[`${A}.Core`].rowType, 1);
  refused(await call('GET', '/portfolio/U1/summary'), /not valid/);
});

test('one account by default, as before', async () => {
  const { call } = await sandbox({ accounts: undefined });
  assert.deepEqual((await call('GET', '/iserver/accounts')).body.accounts, [A]);
});

test('contracts: secdef search (GET and POST), trsrv/stocks, contract info', async () => {
  const { call } = await sandbox();
  const s = (await call('GET', '/iserver/secdef/search?symbol=AAPL')).body;
  assert.equal(s.length, 1);
  assert.deepEqual([s[0].conid, s[0].symbol, s[0].companyName, s[0].sections[0].secType], ['265598', 'AAPL', 'APPLE INC', 'STK']);
  assert.deepEqual((await call('POST', '/iserver/secdef/search', { symbol: 'micro', name: true })).body.map((c) => c.conid), ['272093']);
  assert.deepEqual((await call('GET', '/iserver/secdef/search?symbol=ZZZZ')).body, []);
  refused(await call('GET', '/iserver/secdef/search'), /symbol required/);
  const st = (await call('GET', '/trsrv/stocks?symbols=AAPL,MSFT,NOPE')).body;
  assert.deepEqual(st.AAPL[0].contracts, [{ conid: 265598, exchange: 'NASDAQ', isUS: true }]);
  assert.equal(st.MSFT[0].name, 'MICROSOFT CORP');
  assert.equal(st.MSFT[0].assetClass, 'STK');
  assert.deepEqual(st.NOPE, []);
  const info = (await call('GET', '/iserver/contract/756733/info')).body;
  assert.deepEqual([info.con_id, info.symbol, info.instrument_type, info.currency], [756733, 'SPY', 'STK', 'USD']);
  refused(await call('GET', '/iserver/contract/1/info'), /Invalid conid/);
});

test('no brokerage session: iserver endpoints answer "no bridge"', async () => {
  const { sim, call } = await sandbox();
  sim.brokerage = { ...sim.brokerage, authenticated: false };
  const r = await call('GET', '/iserver/accounts');
  assert.deepEqual([r.status, r.body], [400, { error: 'no bridge', statusCode: 400 }]);
});

test('processThenFail on a reply: the order is placed, the answer is a 500', async () => {
  const { sim, call } = await sandbox();
  const q = await call('POST', `/iserver/account/${A}/orders`, order({ quantity: 600 }));
  sim.fault({ kind: 'processThenFail', path: `/iserver/reply/${q.body[0].id}` });
  assert.equal((await call('POST', `/iserver/reply/${q.body[0].id}`, { confirmed: true })).status, 500);
  assert.equal(sim.orders.length, 1);
});

test('IBKR\'s limits for pnl/partitioned and subaccounts (1 per 5 s) with the default table only', async () => {
  const { call, tick } = await sandbox({}, { rateLimits: true });
  assert.equal((await call('GET', '/iserver/account/pnl/partitioned')).status, 200);
  const r = await call('GET', '/iserver/account/pnl/partitioned');
  assert.equal(r.status, 429);
  assert.equal(r.headers['retry-after'], '5');
  assert.equal((await call('GET', '/portfolio/subaccounts')).status, 200);
  assert.equal((await call('GET', '/portfolio/subaccounts')).status, 429);
  tick(5000);
  assert.equal((await call('GET', '/iserver/account/pnl/partitioned')).status, 200);
  const off = await sandbox({}, { rateLimits: false });
  for (let i = 0; i < 3; i++) assert.equal((await off.call('GET', '/iserver/account/pnl/partitioned')).status, 200);
});

test('rate-limit counts whose window has passed are forgotten (the simulator does not grow with ended sessions)', async () => {
  const { sim, call, tick } = await sandbox({}, { rateLimits: true });
  assert.equal((await call('GET', '/iserver/account/pnl/partitioned')).status, 200);
  const pnl = [...sim.hits.keys()].filter((k) => k.includes('pnl'));
  assert.equal(pnl.length, 1, 'the pnl rule counts its hit');
  tick(61_000);
  assert.equal((await call('GET', '/iserver/contract/265598/info')).status, 200);
  assert.equal(sim.hits.has(pnl[0]), false, 'the pnl count, out of its 5 s window, was dropped');
  assert.ok([...sim.hits.keys()].some((k) => k.endsWith(' global')), 'the count just made is kept');
});

test('the gateway\'s overall limit is IBKR\'s 10 requests a second (OAuth sessions get 50)', async () => {
  const { call, tick } = await sandbox({}, { rateLimits: true });
  for (let i = 0; i < 10; i++) assert.equal((await call('GET', '/iserver/contract/265598/info')).status, 200, `call ${i + 1}`);
  const r = await call('GET', '/iserver/contract/265598/info');
  assert.equal(r.status, 429);
  assert.equal(r.headers['retry-after'], '1');
  tick(1000);
  assert.equal((await call('GET', '/iserver/contract/265598/info')).status, 200);
});
