// The browser page (www/dist) in headless Chromium, driven by Playwright: it loads without console
// errors, computes the vectors' exact header from the demo keys, flags a changed character, runs a
// live handshake against the simulator, works from a plain static server, fits a phone, and is
// usable from the keyboard. Screenshots of each state go to test-results/www/.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { demoMaterial } from '../../www/demo.mjs';
import { startWww } from '../../www/serve.mjs';
import { launchChromium } from '../js/harness.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const shots = path.join(root, 'test-results/www');
fs.mkdirSync(shots, { recursive: true });
const { vectors } = demoMaterial();
const api = vectors.api_requests.get_snapshot_query_in_base_string;

let site;
let browser;
before(async () => {
  site = await startWww();
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await site?.close();
});

/** A page that records console errors and warnings. */
async function open(url, viewport = { width: 1280, height: 900 }) {
  const page = await browser.newPage({ viewport });
  page.problems = [];
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') page.problems.push(`${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('Ready'));
  return page;
}
const text = (page, id) => page.locator(`#${id}`).textContent();

test('loads without console errors and says everything stays local', async () => {
  const page = await open(`${site.url}/`);
  assert.match(await page.locator('.notice').textContent(), /locally, in WebAssembly/);
  await page.screenshot({ path: path.join(shots, '01-start.png'), fullPage: true });
  assert.deepEqual(page.problems, []);
  await page.close();
});

test('the demo keys give the vectors\' exact values: challenge, LST, base string, header', async () => {
  const page = await open(`${site.url}/`);
  await page.click('#demo');
  await page.waitForFunction((h) => document.getElementById('authorization-header').textContent === h, api.authorization_header);
  assert.equal(await text(page, 'base-string'), api.base_string);
  assert.equal(await text(page, 'challenge'), vectors.derived.diffie_hellman_challenge_hex);
  assert.match(await text(page, 'lst-valid'), /^✓ valid/);
  assert.match(await text(page, 'prepend'), /secret/);
  assert.doesNotMatch(await text(page, 'lst-base-string'), new RegExp(vectors.derived['decrypted_access_token_secret_hex (= prepend)']));
  await page.click('#reveal');
  assert.equal(await text(page, 'lst'), vectors.live_session_token.lst_k_needs_sign_byte.computation.live_session_token);
  assert.equal(await text(page, 'prepend'), vectors.derived['decrypted_access_token_secret_hex (= prepend)']);
  assert.match(await text(page, 'curl'), /^curl -X GET -H 'Authorization: OAuth realm="limited_poa"/);
  await page.screenshot({ path: path.join(shots, '02-demo-keys.png'), fullPage: true });
  // A wrong signature is flagged.
  await page.fill('#lst-signature', '00'.repeat(20));
  assert.match(await text(page, 'lst-valid'), /^✗ does not match/);
  assert.deepEqual(page.problems, []);
  await page.close();
});

test('the comparison tool flags the first changed character', async () => {
  const page = await open(`${site.url}/`);
  await page.click('#demo');
  await page.waitForFunction(() => document.getElementById('base-string').textContent.startsWith('GET&'));
  const ours = await text(page, 'base-string');
  await page.fill('#diff-input', ours);
  assert.equal(await text(page, 'diff-result'), '✓ identical');
  const at = ours.indexOf('%2C');
  const theirs = `${ours.slice(0, at)}%252C${ours.slice(at + 3)}`; // the classic double encoding
  await page.fill('#diff-input', theirs);
  assert.equal(await text(page, 'diff-result'), `✗ first difference at character ${at + 3}: ours has "C", yours has "5"`);
  assert.equal(await page.locator('#diff-view mark').count(), 2);
  await page.selectOption('#diff-target', 'authorization-header');
  await page.fill('#diff-input', api.authorization_header);
  assert.equal(await text(page, 'diff-result'), '✓ identical');
  await page.fill('#diff-input', theirs);
  await page.selectOption('#diff-target', 'base-string');
  await page.screenshot({ path: path.join(shots, '03-compare.png'), fullPage: true });
  await page.close();
});

test('a live handshake against the simulator: a timeline, then a signed call', async () => {
  const page = await open(`${site.url}/`);
  await page.click('#demo');
  await page.click('#live');
  await page.waitForFunction(() => document.getElementById('timeline').textContent.includes('a signed call'), null, { timeout: 30_000 });
  const items = await page.locator('#timeline li').allTextContents();
  assert.ok(items.some((t) => /POST \/v1\/api\/oauth\/live_session_token → 200/.test(t)), items.join('\n'));
  assert.ok(items.some((t) => /GET \/v1\/api\/iserver\/accounts → 200/.test(t)), items.join('\n'));
  assert.match(await text(page, 'live-result'), /DU1234567/);
  assert.match(await text(page, 'lst-valid'), /checked against the simulator/);
  assert.match(await text(page, 'authorization-header'), /oauth_signature_method="HMAC-SHA256"/);
  assert.equal(site.sim.count('handshake'), 1);
  await page.screenshot({ path: path.join(shots, '04-live-handshake.png'), fullPage: true });
  assert.deepEqual(page.problems, []);
  await page.close();
});

test('works from a plain static file server (no simulator): demo values, and a clear note for the live part', async () => {
  const dist = path.join(root, 'www/dist');
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.wasm': 'application/wasm' };
  const server = http.createServer((req, res) => {
    const p = path.join(dist, new URL(req.url, 'http://x').pathname === '/' ? 'index.html' : new URL(req.url, 'http://x').pathname);
    if (!fs.existsSync(p)) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': types[path.extname(p)] ?? 'application/octet-stream' }).end(fs.readFileSync(p));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  try {
    const page = await open(`http://127.0.0.1:${server.address().port}/`);
    await page.click('#demo');
    await page.waitForFunction((h) => document.getElementById('authorization-header').textContent === h, api.authorization_header);
    assert.equal(await text(page, 'base-string'), api.base_string);
    await page.click('#live');
    await page.waitForFunction(() => document.getElementById('timeline').textContent.includes('make www'));
    await page.screenshot({ path: path.join(shots, '05-static-server.png'), fullPage: true });
    await page.close();
  } finally {
    server.close();
  }
});

test('fits a phone and works from the keyboard', async () => {
  const page = await open(`${site.url}/`, { width: 390, height: 844 });
  await page.focus('#demo');
  await page.keyboard.press('Enter');
  await page.waitForFunction((h) => document.getElementById('authorization-header').textContent === h, api.authorization_header);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the phone`);
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'consumer-key');
  await page.screenshot({ path: path.join(shots, '06-phone.png'), fullPage: true });
  assert.deepEqual(page.problems, []);
  await page.close();
});
