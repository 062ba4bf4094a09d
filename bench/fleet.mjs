// A fleet: N processes of one account start at once, each makes a session against the simulator
// and one signed request, with a shared redisStore (a real redis-server started here) and
// without a store. Reported: the handshakes the simulator saw, the time from the common start to
// each process's first answer (median over the processes, and the slowest), and, without a store,
// the requests that met a 401 because another process's handshake replaced their token (the
// simulator, like IBKR, keeps one live session token per access token) and had to make a new
// one, and those that failed. Each configuration runs `rounds` times; figures are medians over
// rounds (failures: the total). Prints JSON.
//
//   node bench/fleet.mjs [rounds]
import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { Simulator } from '../sim/server.mjs';
import { startRedis } from '../tests/stores/redis-server.mjs';
import { root } from './common.mjs';

const rounds = Number(process.argv[2] ?? 5);
const SIZES = [4, 8];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Starts `n` processes, waits until all are ready, starts them at once; resolves to their answers. */
async function fleetRound(n, spec) {
  const procs = Array.from({ length: n }, () => {
    const child = spawn(process.execPath, [path.join(root, 'bench/fleet-process.mjs'), JSON.stringify(spec)], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = readline.createInterface({ input: child.stdout });
    const queue = [];
    const waiting = [];
    lines.on('line', (l) => { const w = waiting.shift(); if (w) w(l); else queue.push(l); });
    const next = () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => { waiting.push(r); }));
    return { child, next };
  });
  for (const p of procs) if ((await p.next()) !== 'ready') throw new Error('a fleet process did not start');
  const answers = procs.map((p) => p.next());
  for (const p of procs) p.child.stdin.write('go\n');
  return (await Promise.all(answers)).map((l) => JSON.parse(l));
}

const sim = await new Simulator({ rateLimits: false }).start();
const config = sim.clientConfig();
let redis = null;
let redisError = null;
try {
  redis = await startRedis();
} catch (e) {
  redisError = e.message.split('\n')[0];
}

const results = [];
let round = 0;
try {
  for (const n of SIZES) {
    for (const store of ['none', 'redis']) {
      if (store === 'redis' && !redis) continue;
      const perRound = [];
      for (let r = 0; r < rounds; r++) {
        // A fresh key prefix each round: the fleet starts with an empty store (a round's token
        // would otherwise be adopted by the next, with no handshake at all).
        const spec = store === 'redis' ? { config, redisUrl: redis.url, prefix: `bench${(round += 1)}:` } : { config };
        const before = { handshakes: sim.count('handshake'), rejected: sim.count('rejected') };
        const answers = await fleetRound(n, spec);
        const ms = answers.map((a) => a.ms);
        perRound.push({
          handshakes: sim.count('handshake') - before.handshakes,
          rejected: sim.count('rejected') - before.rejected,
          rehandshaked: answers.filter((a) => a.handshakes > 1 || a.unauthorized > 0).length,
          failed: answers.filter((a) => !a.ok).length,
          errors: answers.filter((a) => !a.ok).map((a) => a.error),
          medianMs: median(ms),
          maxMs: Math.max(...ms),
        });
      }
      results.push({
        n,
        store,
        rounds,
        handshakes: median(perRound.map((p) => p.handshakes)),
        handshakesMax: Math.max(...perRound.map((p) => p.handshakes)),
        rejected: median(perRound.map((p) => p.rejected)),
        rehandshaked: median(perRound.map((p) => p.rehandshaked)),
        failed: perRound.reduce((s, p) => s + p.failed, 0),
        errors: [...new Set(perRound.flatMap((p) => p.errors))],
        medianMs: median(perRound.map((p) => p.medianMs)),
        maxMs: median(perRound.map((p) => p.maxMs)),
      });
    }
  }
} finally {
  await redis?.stop();
  await sim.close();
}
process.stdout.write(`${JSON.stringify({ rounds, results, redisError })}\n`);
