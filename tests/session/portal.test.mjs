// The sandbox endpoints through a real OAuth 1.0a session (the built package, every request
// signed): an order with a question, the reply, the fill on the simulator's clock, two accounts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IbkrSession } from '../../pkg/node.mjs';
import { newSim } from './helpers.mjs';

test('signed: question, reply, fill on the clock, account switch', async () => {
  let now = Date.now();
  const sim = await newSim({ clock: () => now, portal: { accounts: ['DU1234567', 'DU7654321'], fillMs: 3000 } });
  const s = IbkrSession.oauth1({ ...sim.clientConfig(), pacing: false });
  await s.initBrokerage();
  const q = await s.request('POST', '/iserver/account/DU7654321/orders', { body: { orders: [{ conid: 756733, side: 'BUY', quantity: 700, orderType: 'MKT' }] } });
  assert.deepEqual(q[0].messageIds, ['o383']);
  assert.equal(sim.orders.length, 0);
  const [placed] = await s.request('POST', `/iserver/reply/${q[0].id}`, { body: { confirmed: true } });
  assert.equal(placed.order_status, 'Submitted');
  now += 3000;
  const st = await s.request('GET', `/iserver/account/order/status/${placed.order_id}`);
  assert.deepEqual([st.order_status, st.cum_fill, st.account], ['Filled', '700', 'DU7654321']);
  const [pos] = await s.request('GET', '/portfolio/DU7654321/positions/0');
  assert.deepEqual([pos.conid, pos.position], [756733, 700]);
  assert.deepEqual(await s.request('POST', '/iserver/account', { body: { acctId: 'DU7654321' } }), { set: true, acctId: 'DU7654321' });
  assert.equal((await s.request('GET', '/iserver/accounts')).selectedAccount, 'DU7654321');
});

test('IBKR\'s limits count per session: a second session is not slowed by the first one\'s calls', async () => {
  let now = Date.now();
  const sim = await newSim({ clock: () => now, rateLimits: true });
  const one = IbkrSession.oauth1({ ...sim.clientConfig(), pacing: false, maxRetries: 0 });
  const two = IbkrSession.oauth2({ ...sim.clientConfig2(), pacing: false, maxRetries: 0 });
  await one.request('GET', '/portfolio/accounts');
  await two.request('GET', '/portfolio/accounts'); // another session: its own 1 per 5 s
  await assert.rejects(one.request('GET', '/portfolio/accounts'), { code: 'RATE_LIMITED' });
  const limited = sim.log.filter((e) => e.kind === 'rate-limited');
  assert.equal(limited.length, 1, 'only the first session\'s second call');
  assert.match(limited[0].session, /^oauth1:/);
  now += 5000;
  await one.request('GET', '/portfolio/accounts');
});
