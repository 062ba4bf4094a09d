// The fault soak, short: 2,000 calls over the four session kinds on a fixed seed (a budget in
// calls, not in time, so the run means the same on any machine), every invariant asserted but
// the heap bound, whose figures are printed only (the count of JS values the module holds is
// asserted). Then the negative controls: a client that sends an order again after an answer it
// could not trust, one whose sessions pile up, and one that leaves its keep-alive timer running,
// each must fail its check.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { report, runSoak } from './soak.mjs';

const failed = (r) => r.checks.filter((c) => !c.ok).map((c) => c.name);

test('2,000 calls under faults: no order twice, every call typed, handshakes bounded, no timer left', async () => {
  const r = await runSoak({ requests: 2000, seed: 28 });
  console.log(report(r));
  assert.deepEqual(failed(r), [], report(r));
  const total = (f) => ['oauth1', 'oauth2', 'gateway', 'fleet'].reduce((a, k) => a + f(r.figures.kinds[k]), 0);
  // The schedule really exercised the faults and the orders.
  assert.ok(total((k) => k.calls) >= 2000);
  assert.ok(total((k) => k.orders.orders) >= 300, 'orders were placed');
  assert.ok(total((k) => k.orders.ambiguous) > 0, 'some orders met a fault with no answer to trust');
  for (const kind of ['drop', 'processThenDrop', 'status5xx', 'unauthorized', 'rateLimited', 'noBridge']) {
    assert.ok(total((k) => k.faultsScheduled[kind] ?? 0) > 0, `fault ${kind} was scheduled`);
  }
  for (const ev of ['expire', 'skew', 'gatewayLogout']) assert.ok(total((k) => k.events[ev] ?? 0) > 0, `event ${ev} happened`);
  assert.ok(r.figures.kinds.oauth1.handshakes > 1 && r.figures.kinds.oauth2.handshakes > 1, 'tokens were renewed');
});

test('the checks catch a client that sends an order twice', async () => {
  const r = await runSoak({ requests: 300, seed: 28, sabotage: 'resendOrders' });
  assert.deepEqual(failed(r), ['no order sent twice; the simulator\'s orders match the client\'s results'], report(r));
});

test('the checks catch a client whose sessions pile up in the module', async () => {
  const r = await runSoak({ requests: 600, seed: 28, sabotage: 'keepSessions' });
  assert.deepEqual(failed(r), [r.checks.find((c) => c.name.startsWith('memory flat')).name], report(r));
});

test('the checks catch a timer left running', async () => {
  const r = await runSoak({ requests: 60, seed: 28, sabotage: 'leaveTimer', exitGraceMs: 3000 });
  assert.deepEqual(failed(r), ['no timer left: the client process exited on its own'], report(r));
  assert.match(r.checks.at(-1).detail, /still running 3000 ms after it was done/);
});
