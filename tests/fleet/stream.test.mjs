// Streaming in a fleet, across real processes: three worker processes (worker.mjs), each with
// its own streaming WebSocket (the `ws` package) and its own session, share one account through
// a file or a real `redis-server`. The simulator, the sessions, the file store and the streams'
// timers run on one controlled clock: the test moves the simulator's and every worker's by the
// same amount. What counts is what the simulator saw: one handshake for the fleet, one /tickle
// per keep-alive interval, one new token after they expire, one repair of the brokerage session.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startRedis } from '../stores/redis-server.mjs';
import { AAPL, controlledClock, startSim, T0, until } from '../ws/helpers.mjs';
import { ask, killWorkers, startWorker } from './processes.mjs';

let redis;
const sims = [];
before(async () => { redis = await startRedis(); });
after(async () => {
  killWorkers();
  for (const s of sims) await s.close();
  await redis?.stop();
});

const SUB = `smd+${AAPL}+{"fields":["31"]}`;

/** The same command to every worker; their answers in order. */
const everyone = (ws, cmd) => Promise.all(ws.map((w) => ask(w, cmd)));

for (const kind of ['file', 'redis']) {
  test(`${kind} store: three processes stream; one handshake, one tickle per interval, one new token, one repair for the fleet`, { timeout: 120_000 }, async () => {
    const clock = controlledClock(T0);
    const sim = await startSim(clock);
    sims.push(sim);
    const store = kind === 'file'
      ? { kind: 'file', path: path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ibkr-auth-fleet-ws-')), 'tokens.json') }
      : { kind: 'redis', url: redis.url, prefix: 'stream:' };
    const ws = await Promise.all([0, 1, 2].map(() => startWorker({ config: sim.clientConfig(), store, clockStart: T0 })));
    /** Moves the simulator's clock and every worker's by `ms` (each runs its timers due). */
    const advance = async (ms) => { clock.advance(ms); await everyone(ws, { cmd: 'advance', ms }); };
    /** Once every worker has had `n` events of `type`: the n-th of each. */
    const nth = async (type, n) => (await everyone(ws, { cmd: 'events', type, n })).map((a) => a.events[n - 1]);
    const quotes = async (n) => { await advance(1000); sim.wsTick(); await nth('quote', n); };

    // Every process opens its stream at once: one live session token between them.
    const opened = await everyone(ws, { cmd: 'stream', subscriptions: [SUB] });
    assert.deepEqual(opened.map((o) => o.authenticated), [true, true, true]);
    assert.equal(sim.count('handshake'), 1, 'one live session token for three processes');
    await until(() => sim.ws.sockets === 3, 'three sockets open');
    await quotes(1);

    // The keep-alive round: every process runs it, one of them tickles. A file store's lease
    // expires on the controlled clock; Redis's on the wall clock (its PX TTL, 0.9 × the interval),
    // so with Redis the test runs one interval only.
    const intervals = kind === 'file' ? 3 : 1;
    const tickles = sim.count('tickle');
    for (let i = 1; i <= intervals; i++) {
      await advance(60_000);
      const rounds = await nth('keepalive', i);
      assert.deepEqual(rounds.map((r) => r.skipped).sort(), [false, true, true], `interval ${i}: ${JSON.stringify(rounds)}`);
      assert.ok(rounds.every((r) => r.authenticated), JSON.stringify(rounds));
      sim.wsTick();
    }
    assert.equal(sim.count('tickle') - tickles, intervals, 'one /tickle per interval for the fleet');
    assert.equal(sim.ws.sockets, 3);

    // The tokens expire: every socket is closed (4001) and reopened at once with a new session
    // value, on one new live session token for the fleet.
    const handshakes = sim.count('handshake');
    sim.expireTokens();
    const closes = await nth('reconnecting', 1);
    assert.deepEqual(closes.map((r) => [r.code, r.delayMs]), [[4001, 0], [4001, 0], [4001, 0]]);
    await advance(0);
    const reopened = await nth('open', 2);
    assert.ok(reopened.every((o) => o.reconnected), JSON.stringify(reopened));
    assert.equal(sim.count('handshake') - handshakes, 1, 'one new live session token for the fleet');
    await quotes(2);

    // The sockets stay authenticated for a tic interval (their back-off starts anew). Then
    // another session takes the brokerage session: every stream hears it (sts), backs off, and
    // the brokerage session is opened again once for the fleet before they reopen.
    await advance(30_000);
    const inits = sim.count('init');
    sim.setCompeting();
    sim.wsTick();
    const sts = await nth('reconnecting', 2);
    assert.ok(sts.every((r) => r.reason === 'brokerage session not authenticated' && r.delayMs >= 375 && r.delayMs <= 625), JSON.stringify(sts));
    await advance(625);
    await nth('open', 3);
    assert.equal(sim.count('init') - inits, 1, 'one ssodh/init for the fleet');
    await quotes(3);

    const last = await everyone(ws, { cmd: 'events', type: 'open', n: 3 });
    assert.deepEqual(last.map((a) => [a.authenticated, a.reconnects]), [[true, 2], [true, 2], [true, 2]]);
    assert.deepEqual((await everyone(ws, { cmd: 'events', type: 'error', n: 0 })).map((a) => a.events), [[], [], []]);
    await Promise.all(ws.map((w) => w.exit()));
  });
}
