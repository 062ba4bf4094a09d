// The package bundled for the browser by esbuild (the exactly pinned devDependency), as an app
// would be: an app that imports 'ibkr-auth' from the packed tarball installed in a scratch
// project, bundled with the `browser` condition, and the package's .wasm copied beside the bundle
// (the glue fetches it relative to the script). Headless Chromium loads the page from 127.0.0.1,
// where the simulator answers on the same origin; the app runs the conformance suite and real
// OAuth 1.0a and OAuth 2.0 sessions (tests/runtimes/body.mjs, the body every runtime runs).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { build } from 'esbuild';
import { installPackedPackage, launchChromium, loadData, root } from '../js/harness.mjs';
import { Simulator } from '../../sim/server.mjs';

const { project, installed } = installPackedPackage('bundle');
for (const [from, to] of [['tests/browser/bundle-app.mjs', 'app.mjs'], ['tests/runtimes/body.mjs', 'body.mjs'],
  ['tests/js/conformance.mjs', 'conformance.mjs']]) {
  fs.copyFileSync(path.join(root, from), path.join(project, to));
}
const dist = path.join(project, 'dist');

const page = `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>running</title>
<pre id="out">running</pre><script type="module" src="/app.js"></script>`;
const types = { '.js': 'text/javascript', '.wasm': 'application/wasm' };

let bundled;
let sim;
let server;
let browser;
let base;
const served = [];

before(async () => {
  bundled = await build({
    absWorkingDir: project, entryPoints: ['app.mjs'], bundle: true, format: 'esm', platform: 'browser', target: 'es2022',
    outfile: 'dist/app.js', metafile: true, logLevel: 'silent',
  });
  fs.copyFileSync(path.join(installed, 'glue/ibkr_auth_bg.wasm'), path.join(dist, 'ibkr_auth_bg.wasm'));

  sim = new Simulator({ rateLimits: false });
  server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/') return res.writeHead(200, { 'content-type': 'text/html' }).end(page);
    if (url.pathname === '/input.json') {
      const input = { data: loadData(), oauth1: sim.clientConfig(), oauth2: sim.clientConfig2() };
      return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(input));
    }
    const file = path.join(dist, path.normalize(url.pathname));
    // Everything else is the simulator's (/v1/api, /oauth2/api, /gw/api, ...), on this origin.
    if (!file.startsWith(`${dist}/`) || !fs.existsSync(file)) return sim.handle(req, res);
    served.push(url.pathname);
    return res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' }).end(fs.readFileSync(file));
  });
  // The simulator's WebSocket on this origin too (/v1/api/ws).
  server.on('upgrade', (req, socket, head) => sim.ws.upgrade(req, socket, head));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${server.address().port}`;
  sim.mountedAt(base);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  server?.closeAllConnections?.();
  server?.close();
});

test('esbuild bundles the browser entry of the installed package, without Node built-ins', () => {
  assert.deepEqual(bundled.errors, []);
  assert.deepEqual(bundled.warnings, []);
  const inputs = Object.keys(bundled.metafile.inputs);
  assert.ok(inputs.includes('node_modules/ibkr-auth/browser.js'), inputs.join('\n'));
  assert.ok(!inputs.some((f) => /node_modules\/ibkr-auth\/node\.(c|m)?js$/.test(f)), 'the Node entry was bundled');
  const out = fs.readFileSync(path.join(dist, 'app.js'), 'utf8');
  assert.doesNotMatch(out, /from\s*["']node:|require\(["']node:/);
  assert.match(out, /ibkr_auth_bg\.wasm/);
});

test('the bundle passes the conformance suite and runs OAuth 1.0a and 2.0 sessions in headless Chromium', async () => {
  const p = await browser.newPage();
  const problems = [];
  p.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`); });
  p.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  await p.goto(base);
  await p.waitForFunction(() => document.title === 'done', null, { timeout: 120_000 })
    .catch(async (e) => { throw new Error(`${e.message}\n${problems.join('\n')}`); });
  const r = await p.evaluate(() => window.__result);
  await p.close();
  assert.deepEqual(r.failures, []);
  assert.ok(r.passed > 150, `only ${r.passed} checks ran`);
  assert.deepEqual(r.sessions, {
    oauth1: { authenticated: true, accounts: ['DU1234567'], tickleAuthenticated: true, oauthHeader: true, portfolioAccounts: ['DU1234567'], stream: { authenticated: true, quote: true } },
    oauth2: { accounts: ['DU1234567'], authenticated: true },
    refused: { isIbkrAuthError: true, code: 'UNAUTHORIZED', status: 401 },
  });
  assert.deepEqual(sim.log.filter((e) => e.kind === 'handshake').map((e) => e.status), [200, 401]);
  assert.equal(sim.count('sso-session'), 1);
  // Besides the page, the bundle and its data, the one .wasm was all the app fetched; the rest
  // went to the simulator.
  assert.deepEqual([...new Set(served)].sort(), ['/app.js', '/ibkr_auth_bg.wasm']);
  // The refused handshake's 401 is the one console error the browser itself logs.
  assert.deepEqual(problems.filter((m) => !/status of 401/.test(m)), []);
});
