// Runs a real third-party client (Python, from .venv-clients/, made by `scripts/setup.sh --python`)
// against the in-process simulator. Always async spawn: a synchronous child would block the event
// loop the simulator answers on.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../../', import.meta.url));
export const python = path.join(root, '.venv-clients/bin/python');
export const haveClients = fs.existsSync(python);

export function tempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** An environment with nothing of the machine's proxies or CA settings (the test sets its own). */
export function cleanEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(IBIND_|https?_proxy$|all_proxy$|no_proxy$|SSL_CERT_|REQUESTS_CA_BUNDLE$|CURL_CA_BUNDLE$)/i.test(k)) continue;
    env[k] = v;
  }
  return { ...env, PYTHONUNBUFFERED: '1', ...extra };
}

/**
 * Starts `script` (in tests/clients/; or '-c' with the code in args) and returns { next(step), send(line), done }:
 * next() resolves with the next JSON line whose step is `step` (failing on another step or on
 * exit); done resolves with { code, stderr } when the process ends.
 */
export function runClient(script, env, { timeoutMs = 60_000 } = {}, args = []) {
  const argv = script === '-c' ? ['-c', ...args] : [path.join(root, 'tests/clients', script), ...args];
  const child = spawn(python, argv, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const lines = [];
  const waiters = [];
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    let msg;
    try { msg = JSON.parse(line); } catch { return; } // a client's own prints
    lines.push(msg);
    waiters.shift()?.();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  let exited = false;
  const done = new Promise((resolve) => child.on('close', (code) => {
    clearTimeout(timer);
    exited = true; // before the waiters wake, so that next() sees the exit and fails at once
    for (const w of waiters.splice(0)) w();
    resolve({ code, stderr });
  }));
  const all = [];
  return {
    child,
    all,
    done,
    send: (line) => child.stdin.write(`${line}\n`),
    async next(step) {
      while (!lines.length && !exited) await new Promise((r) => waiters.push(r));
      const msg = lines.shift();
      if (!msg) {
        const { code } = await done;
        assert.fail(`${script} exited (${code}) before "${step}":\n${stderr.slice(-4000)}`);
      }
      all.push(msg);
      assert.equal(msg.step, step, `${script}: expected step "${step}", got ${JSON.stringify(msg)}\n${stderr.slice(-4000)}`);
      return msg;
    },
  };
}
