// The package in Cloudflare's workerd (from npm), on 127.0.0.1: a Worker imports the entry that
// the exports map's `workerd` condition names (which imports the .wasm as a compiled module, as
// Workers require) and runs the conformance suite on a request.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { freePort, packageModules } from './package-modules.mjs';
import { installPackedPackage, loadData, root } from '../js/harness.mjs';

const { installed } = installPackedPackage('workerd');
const pkg = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8'));
const entry = pkg.exports['.'].workerd.replace('./', '');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ibkr-auth-worker-'));
fs.cpSync(installed, path.join(dir, 'ibkr-auth'), { recursive: true });
fs.copyFileSync(path.join(root, 'tests/js/conformance.mjs'), path.join(dir, 'conformance.mjs'));
fs.writeFileSync(path.join(dir, 'data.json'), JSON.stringify(loadData()));
fs.writeFileSync(path.join(dir, 'worker.js'), `
import * as api from './ibkr-auth/${entry}';
import { runConformance, webCryptoVerifyRsa } from './conformance.mjs';
import data from './data.json';
export default {
  async fetch() {
    const r = await runConformance(api, data, { verifyRsa: webCryptoVerifyRsa });
    return Response.json(r);
  },
};
`);

// Every ESM and wasm file of the package becomes a module, named by its path.
const modules = [
  '(name = "worker.js", esModule = embed "worker.js")',
  '(name = "conformance.mjs", esModule = embed "conformance.mjs")',
  '(name = "data.json", json = embed "data.json")',
];
modules.push(...packageModules(dir));

const port = await freePort();
fs.writeFileSync(path.join(dir, 'config.capnp'), `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .worker) ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);
const worker :Workerd.Worker = (
  modules = [ ${modules.join(',\n    ')} ],
  compatibilityDate = "2025-01-01",
);
`);

const workerd = spawn(path.join(root, 'node_modules/.bin/workerd'), ['serve', 'config.capnp'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
let log = '';
workerd.stdout.on('data', (d) => { log += d; });
workerd.stderr.on('data', (d) => { log += d; });
after(() => workerd.kill());

async function get() {
  for (let i = 0; i < 100; i++) {
    if (workerd.exitCode !== null) throw new Error(`workerd exited ${workerd.exitCode}:\n${log}`);
    try {
      return await (await fetch(`http://127.0.0.1:${port}/`)).json();
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`workerd did not answer:\n${log}`);
}

test('the workerd entry passes the conformance suite inside workerd', async () => {
  const r = await get();
  assert.deepEqual(r.failures, []);
  assert.ok(r.passed > 150, `only ${r.passed} checks ran`);
});
