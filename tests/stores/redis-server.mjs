// A redis-server of the tests' own: on a free 127.0.0.1 port, no persistence, killed after.
// `stop()` and `start()` restart it on the same port (a Redis restart mid-run). Installed by
// `scripts/setup.sh --redis` (the make targets that need it call that).
import { execFileSync, spawn } from 'node:child_process';
import net from 'node:net';

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

function accepts(port) {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1', () => { c.end(); resolve(true); });
    c.on('error', () => resolve(false));
  });
}

/** Starts a redis-server; resolves once it accepts connections. */
export async function startRedis() {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('redis-server is not installed: run scripts/setup.sh --redis (make test-stores does)');
  }
  const port = await freePort();
  let proc = null;
  let log = '';
  const server = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      log = '';
      proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
      proc.stdout.on('data', (d) => { log += d; });
      proc.stderr.on('data', (d) => { log += d; });
      for (let i = 0; i < 200; i++) {
        if (proc.exitCode !== null) throw new Error(`redis-server exited ${proc.exitCode}:\n${log}`);
        if (await accepts(port)) return server;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`redis-server did not accept connections on ${port}:\n${log}`);
    },
    async stop() {
      if (!proc || proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await exited;
    },
  };
  return server.start();
}
