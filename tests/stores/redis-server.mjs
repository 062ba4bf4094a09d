// A redis-server of the tests' own: on a free 127.0.0.1 port, no persistence, killed after.
// Shared by the store tests (tests/stores/), the fleet tests (tests/fleet/) and `make bench`.
// Needs Debian's redis-server (scripts/setup.sh --redis; the Makefile targets that use it run that).
import { spawn, execFileSync } from 'node:child_process';
import net from 'node:net';

const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

const accepts = (port) => new Promise((resolve) => {
  const c = net.connect(port, '127.0.0.1', () => { c.end(); resolve(true); });
  c.on('error', () => resolve(false));
});

/**
 * Starts a redis-server; resolves once it accepts connections, to
 * { port, url, proc, stop(), start() }: stop() kills it (SIGKILL: what is in memory is gone, as
 * after a crash), start() starts it again, empty, on the same port.
 */
export async function startRedis() {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('redis-server is not installed: run scripts/setup.sh --redis (make test-stores does)');
  }
  const port = await freePort();
  const server = { port, url: `redis://127.0.0.1:${port}`, proc: null };
  server.start = async () => {
    const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    server.proc = proc;
    let log = '';
    proc.stdout.on('data', (d) => { log += d; });
    proc.stderr.on('data', (d) => { log += d; });
    for (let i = 0; i < 100; i += 1) {
      if (proc.exitCode !== null) throw new Error(`redis-server exited ${proc.exitCode}:\n${log}`);
      if (await accepts(port)) return server;
      await sleep(50);
    }
    proc.kill('SIGKILL');
    throw new Error(`redis-server did not accept connections on ${port}:\n${log}`);
  };
  server.stop = () => new Promise((r) => {
    const { proc } = server;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) r();
    else { proc.once('exit', () => r()); proc.kill('SIGKILL'); }
  });
  return server.start();
}
