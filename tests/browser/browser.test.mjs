// The browser build in headless Chromium: a page served on 127.0.0.1 imports the installed
// package's `browser` entry, runs the conformance suite (signing included, with WebCrypto as the
// independent RSA verifier), and must log no console error.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { installPackedPackage, launchChromium, loadData, root } from '../js/harness.mjs';

const { installed } = installPackedPackage('browser');
const pkg = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8'));
const data = JSON.stringify(loadData());
const types = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html', '.json': 'application/json' };

const page = `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>running</title>
<pre id="out">running</pre>
<script type="module">
  import * as api from '/pkg/${pkg.exports['.'].browser.replace('./', '')}';
  import { runConformance, webCryptoVerifyRsa as verifyRsa } from '/conformance.mjs';
  const data = await (await fetch('/data.json')).json();
  const r = await runConformance(api, data, { verifyRsa });
  document.getElementById('out').textContent = JSON.stringify(r, null, 1);
  window.__result = r;
  document.title = 'done';
</script>`;

let server;
let browser;
let base;

before(async () => {
  server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    let body;
    let file;
    if (url.pathname === '/') body = page;
    else if (url.pathname === '/data.json') body = data;
    else if (url.pathname === '/conformance.mjs') file = path.join(root, 'tests/js/conformance.mjs');
    else if (url.pathname.startsWith('/pkg/')) file = path.join(installed, path.normalize(url.pathname.slice(5)));
    if (file && file.startsWith(root) === false && file.startsWith(installed) === false) file = undefined;
    if (file && fs.existsSync(file)) body = fs.readFileSync(file);
    if (body === undefined) { res.writeHead(404).end(); return; }
    const ext = url.pathname === '/' ? '.html' : path.extname(url.pathname);
    res.writeHead(200, { 'content-type': types[ext] ?? 'application/octet-stream' }).end(body);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${server.address().port}`;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  server?.close();
});

test('the browser entry passes the conformance suite in headless Chromium, without console errors', async () => {
  const p = await browser.newPage();
  const problems = [];
  p.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`); });
  p.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  await p.goto(base);
  await p.waitForFunction(() => document.title === 'done' || window.__result !== undefined, null, { timeout: 60_000 })
    .catch(async (e) => { throw new Error(`${e.message}\n${problems.join('\n')}`); });
  const r = await p.evaluate(() => window.__result);
  assert.deepEqual(r.failures, []);
  assert.ok(r.passed > 150, `only ${r.passed} checks ran`);
  assert.deepEqual(problems, []);
  await p.close();
});
