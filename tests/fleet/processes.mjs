// Worker processes of a fleet (tests/fleet/worker.mjs), driven over stdin/stdout: each command
// carries an id and its answer comes back with it, so a test may have several commands of one
// worker in flight (waiting for an event while it moves the worker's clock).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const running = new Set();
let ids = 0;

/**
 * Starts a worker: `{ config, store, options, clockStart? }` (see worker.mjs). Resolves once it
 * is ready, to `{ send(cmd), kill(), exit() }`; `send` resolves to the worker's answer.
 */
export async function startWorker(spec) {
  const child = spawn(process.execPath, [path.join(here, 'worker.mjs'), JSON.stringify(spec)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const pending = new Map();
  let ready;
  const started = new Promise((resolve, reject) => { ready = { resolve, reject }; });
  readline.createInterface({ input: child.stdout }).on('line', (l) => {
    const answer = JSON.parse(l);
    if (answer.ready) return ready.resolve();
    const p = pending.get(answer.id);
    pending.delete(answer.id);
    p?.resolve(answer);
  });
  child.on('exit', () => {
    ready.reject(new Error('the worker exited before it was ready'));
    for (const p of pending.values()) p.reject(new Error('the worker exited'));
    pending.clear();
  });
  const w = {
    child,
    send: (cmd) => new Promise((resolve, reject) => {
      const id = ++ids;
      pending.set(id, { resolve, reject });
      child.stdin.write(`${JSON.stringify({ ...cmd, id })}\n`);
    }),
    kill: () => { child.kill('SIGKILL'); running.delete(w); },
    exit: async () => { await w.send({ cmd: 'exit' }).catch(() => {}); running.delete(w); },
  };
  running.add(w);
  await started;
  return w;
}

/** Kills every worker still running (for `after`). */
export function killWorkers() {
  for (const w of running) w.kill();
}

/** The answer of `send(cmd)`, failing the test on an `error` answer. */
export async function ask(w, cmd) {
  const a = await w.send(cmd);
  assert.equal(a.error, undefined, `${cmd.cmd}: ${a.error}${a.warnings?.length ? `\nthe worker's log:\n${a.warnings.join('\n')}` : ''}`);
  return a;
}
