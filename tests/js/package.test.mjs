// The packed tarball, installed into a scratch project, used the way users use it: require() and
// import on Node, the full conformance suite through each, and the shipped types under tsc.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { installPackedPackage, root } from './harness.mjs';

const { project, packed, installed } = installPackedPackage('node');
const here = pathToFileURL(path.join(root, 'tests/js')).href;

function runIn(file, body) {
  fs.writeFileSync(path.join(project, file), body);
  const out = execFileSync(process.execPath, [file], { cwd: project, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return JSON.parse(out);
}

const runner = `
  const { runConformance } = await import('${here}/conformance.mjs');
  const { loadData, nodeVerifyRsa } = await import('${here}/harness.mjs');
  const r = await runConformance(api, loadData(), { verifyRsa: nodeVerifyRsa });
  process.stdout.write(JSON.stringify(r));`;

function assertConformance(r) {
  assert.deepEqual(r.failures, []);
  assert.ok(r.passed > 150, `only ${r.passed} checks ran`);
}

test('require("ibkr-auth") passes the conformance suite', () => {
  assertConformance(runIn('check.cjs', `const api = require('ibkr-auth');\n(async () => {${runner}\n})();`));
});

test('import "ibkr-auth" passes the conformance suite', () => {
  assertConformance(runIn('check.mjs', `import * as api from 'ibkr-auth';\n${runner}`));
});

test('require and import share one wasm instance and one IbkrAuthError class', () => {
  const r = runIn('same.mjs', `
    import { createRequire } from 'node:module';
    import * as esm from 'ibkr-auth';
    import def from 'ibkr-auth';
    const cjs = createRequire(import.meta.url)('ibkr-auth');
    let caught;
    try { cjs.signRsaSha256('', 'x'); } catch (e) { caught = e; }
    process.stdout.write(JSON.stringify({
      sameClass: cjs.IbkrAuthError === esm.IbkrAuthError,
      sameFn: cjs.baseString === esm.baseString && def.baseString === esm.baseString,
      crossInstanceof: caught instanceof esm.IbkrAuthError,
      code: caught.code,
    }));`);
  assert.deepEqual(r, { sameClass: true, sameFn: true, crossInstanceof: true, code: 'INVALID_KEY' });
});

test('ibkr-auth/sim from the tarball runs a session against the installed package', () => {
  const r = runIn('sim.mjs', `
    import { startSimulator } from 'ibkr-auth/sim';
    import { IbkrSession } from 'ibkr-auth';
    const sim = await startSimulator({ rateLimits: false });
    const s = IbkrSession.oauth1(sim.clientConfig());
    await s.initBrokerage();
    const a = await s.request('GET', '/iserver/accounts');
    await sim.close();
    process.stdout.write(JSON.stringify({ accounts: a.accounts, handshakes: sim.count('handshake') }));`);
  assert.deepEqual(r, { accounts: ['DU1234567'], handshakes: 1 });
});

test('the ibkr-auth command is installed as a bin', () => {
  const bin = path.join(project, 'node_modules/.bin/ibkr-auth');
  const version = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
  assert.equal(version, JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8')).version);
  assert.match(execFileSync(bin, ['--help'], { encoding: 'utf8' }), /ibkr-auth <command>/);
});

test('package.json: exports map with types first, runtime conditions, no install scripts', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8'));
  assert.equal(pkg.name, 'ibkr-auth');
  const dot = pkg.exports['.'];
  assert.equal(Object.keys(dot)[0], 'types');
  for (const cond of ['workerd', 'browser', 'node', 'import', 'default']) assert.ok(dot[cond], cond);
  assert.ok(Object.keys(dot).indexOf('workerd') < Object.keys(dot).indexOf('browser'));
  for (const s of ['preinstall', 'install', 'postinstall', 'prepare']) assert.equal(pkg.scripts?.[s], undefined, s);
  // One runtime dependency, the CLI's YAML reader, pinned to the version the repository tests with.
  const dev = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).devDependencies;
  assert.deepEqual(pkg.dependencies, { yaml: dev.yaml });
  assert.match(dev.yaml, /^\d+\.\d+\.\d+$/);
  assert.equal(JSON.parse(fs.readFileSync(path.join(project, 'node_modules/yaml/package.json'), 'utf8')).version, dev.yaml);
  const files = packed.files.map((f) => f.path);
  for (const f of ['README.md', 'LICENSE', 'index.d.ts', 'index.d.cts', 'node.cjs', 'node.mjs', 'browser.js',
    'workerd.js', 'glue/ibkr_auth_bg.wasm', 'stores.js', 'stores.cjs', 'websocket.js', 'websocket.cjs', 'file-store.cjs']) assert.ok(files.includes(f), `tarball lacks ${f}`);
  assert.equal(files.filter((f) => f.endsWith('.wasm')).length, 1, 'exactly one .wasm ships');
  // The only key material is the simulated gateway's throwaway certificate, with its README.
  assert.deepEqual(files.filter((f) => /\.pem$|PRIVATE KEY/.test(f)).sort(), ['sim/tls/gateway-cert.pem', 'sim/tls/gateway-key.pem']);
  assert.ok(files.includes('sim/tls/README.md'));
});

test('the shipped types compile under tsc --strict for ESM and CommonJS users', () => {
  const usage = `
    import { baseString, signRequest, decryptAccessTokenSecret, IbkrAuthError, type SignedRequest,
             type IbkrAuthErrorCode, type TokenStore, memoryStore, fileStore, redisStore, kvStore,
             durableObjectStore, TokenStoreObject, IbkrSession } from 'ibkr-auth';
    const b: string = baseString({ method: 'GET', url: 'https://api.ibkr.com/v1/api/x', params: { conid: 1, a: 'b' } });
    const s: SignedRequest = signRequest({ method: 'GET', url: b, consumerKey: 'K', accessToken: 't', liveSessionToken: 'AA==' });
    try { decryptAccessTokenSecret('', ''); } catch (e) { if (e instanceof IbkrAuthError) { const c: IbkrAuthErrorCode = e.code; void c; } }
    // @ts-expect-error: params must be an object of strings, numbers or booleans
    baseString({ method: 'GET', url: 'u', params: { a: {} } });
    void s;
    // Token stores: the built-in ones and a hand-written one are TokenStores, for the session's store option.
    const mine: TokenStore = { get: async () => null, set: async () => {}, setIfAbsent: async () => true, delete: async () => {} };
    const stores: TokenStore[] = [mine, memoryStore(), memoryStore({ clock: Date.now }), fileStore('/tmp/t.json'), redisStore({}, { prefix: 'x:' }), kvStore({}), durableObjectStore({}, { name: 'n' })];
    const session = IbkrSession.gateway({ store: stores[0], storeWaitMs: 60000, storeLeaseMs: 30000, storeTimeoutMs: 2000 });
    session.refresh({ withinMs: 1 }).then((r) => { const g: number = r.generation; const b: boolean = r.refreshed; void g; void b; });
    const obj = new TokenStoreObject({}, {});
    void obj.fetch(new Request('https://token-store/op'));
    // @ts-expect-error: set needs { ttlMs }
    void mine.set('k', 'v');
  `;
  fs.writeFileSync(path.join(project, 'usage.mts'), usage);
  fs.writeFileSync(path.join(project, 'usage.cts'), usage.replace('type SignedRequest,', 'type SignedRequest,'));
  const tsc = path.join(root, 'node_modules/.bin/tsc');
  for (const file of ['usage.mts', 'usage.cts']) {
    execFileSync(tsc, ['--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022',
      '--lib', 'es2022,dom', file], { cwd: project, encoding: 'utf8' });
  }
});
