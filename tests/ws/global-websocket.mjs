// Run by ws.test.mjs under Node 22 (`node --test`): the packed package (IBKR_AUTH_PROJECT, a
// project it is installed in) with Node's global WebSocket, which cannot send upgrade headers:
// the first {"session"} message authenticates. Every kind, a drop with replay, and expiry.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, test } from 'node:test';
import { AAPL, controlledClock, next, nextTopic, sessionFor, startSim } from './helpers.mjs';

const pkg = createRequire(path.join(process.env.IBKR_AUTH_PROJECT, 'index.js'))('ibkr-auth');
const sims = [];
const streams = [];
after(async () => {
  for (const s of streams.splice(0)) s.close();
  for (const s of sims.splice(0)) await s.close();
});

test('Node has a global WebSocket', () => {
  assert.equal(typeof globalThis.WebSocket, 'function');
  assert.ok(Number(process.versions.node.split('.')[0]) >= 22);
});

for (const kind of ['oauth1', 'oauth2', 'gateway']) {
  test(`${kind}: the global WebSocket, the first-message form, quotes, a drop and replay, expiry`, async () => {
    const clock = controlledClock();
    const sim = await startSim(clock, kind === 'gateway' ? { gateway: true } : {});
    sims.push(sim);
    if (kind === 'gateway') sim.setLoggedIn(true);
    const session = sessionFor(pkg, kind, sim, clock);
    const stream = await session.websocket({ WebSocket: globalThis.WebSocket, timers: clock, subscriptions: [`smd+${AAPL}+{"fields":["31"]}`] });
    streams.push(stream);
    assert.equal(stream.authenticated, true);
    let quote = nextTopic(stream, `smd+${AAPL}`);
    clock.advance(1000);
    sim.wsTick();
    assert.ok((await quote)['31']);
    // A drop: back in after the back-off, the subscription replayed.
    const reconnecting = next(stream, 'reconnecting');
    let opened = next(stream, 'open');
    sim.dropWebSockets();
    const r = await reconnecting;
    clock.advance(r.delayMs);
    await opened;
    quote = nextTopic(stream, `smd+${AAPL}`);
    clock.advance(1000);
    sim.wsTick();
    assert.ok((await quote)['31']);
    if (kind !== 'gateway') {
      // The socket stays authenticated for a tic interval (the back-off starts anew); then the
      // tokens expire: 4001, a new token and session value, at once.
      clock.advance(30_000);
      opened = next(stream, 'open');
      const g = stream.generation;
      sim.expireTokens();
      assert.ok((await opened).generation > g);
    }
    assert.equal(stream.reconnects, kind === 'gateway' ? 1 : 2);
    stream.close();
  });
}
