// The streaming WebSocket of a Client Portal Gateway session in headless Chromium. The simulated
// gateway serves HTTPS with its own self-signed certificate (sim/tls/gateway-cert.pem), and the
// page is served by it too, as a page next to a real gateway would be: same origin for REST and
// wss://…/v1/api/ws. Chromium trusts exactly that certificate (its public key's SHA-256, given
// with --ignore-certificate-errors-spki-list), not certificate errors in general: a page from a
// server with another self-signed certificate still fails. The browser's WebSocket sends no
// headers, so the first {"session"} message authenticates. Quotes, a drop with replay on the
// page's controlled clock, then the gateway logged out: the stream ends with a typed error.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { installPackedPackage, launchChromium } from '../js/harness.mjs';
import { assertNoSecrets, controlledClock } from '../ws/helpers.mjs';
import { GATEWAY_TLS, generateKeys, Simulator } from '../../sim/server.mjs';
import { testTls } from '../../sim/tls.mjs';
import { pageServer, streamPage } from './ws-page.mjs';

const { installed } = installPackedPackage('browser-gw-ws');
const pkg = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8'));
const AAPL = 265598;

/** Base64 of the SHA-256 of a certificate's SubjectPublicKeyInfo: what Chromium's SPKI list takes. */
const spkiHash = (pem) => crypto.createHash('sha256')
  .update(new crypto.X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' }))
  .digest('base64');

const page = `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>gateway ws</title>
<script type="module">
  import { IbkrAuthError, IbkrSession, IbkrStream } from '/pkg/${pkg.exports['.'].browser.replace('./', '')}';
  const controlledClock = ${controlledClock.toString()};
  window.__log = [];
  const logger = Object.fromEntries(['debug', 'info', 'warn', 'error'].map((l) => [l, (m) => window.__log.push(l + ': ' + m)]));
  window.__start = async () => {
    const clock = controlledClock(Date.now());
    const session = IbkrSession.gateway({ baseUrl: location.origin + '/v1/api', pacing: false, clock: clock.now, logger });
    const events = [];
    const stream = await session.websocket({ WebSocket, timers: clock, keepAliveMs: false, subscriptions: ['smd+${AAPL}+{"fields":["31"]}'] });
    for (const t of ['open', 'reconnecting', 'close']) stream.on(t, (e) => events.push({ type: t, ...(e && typeof e === 'object' ? { code: e.code, delayMs: e.delayMs, generation: e.generation, reconnected: e.reconnected } : {}) }));
    stream.on('error', (e) => events.push({ type: 'error', isIbkrAuthError: e instanceof IbkrAuthError, name: e.name, code: e.code, message: e.message }));
    stream.on('message', (m) => { if (m && m.topic === 'smd+${AAPL}') events.push({ type: 'quote', last: m['31'] }); });
    // Asked again for the same token, the value is the one the stream uses (no new /tickle).
    const { session: value, url } = await session.websocketInfo();
    window.__ws = { clock, stream, events };
    return { authenticated: stream.authenticated, isStream: stream instanceof IbkrStream, url, value };
  };
</script>`;


const keys = generateKeys();
let sim;
let server;
let base;
let browser;

before(async () => {
  sim = new Simulator({ gateway: true, keys, rateLimits: false, gatewayIdleMs: 1e12, ws: { autoTickMs: false } });
  ({ server, base } = await pageServer({ page, installed, mount: () => sim, tls: GATEWAY_TLS }));
  sim.mountedAt(base);
  browser = await launchChromium({ args: [`--ignore-certificate-errors-spki-list=${spkiHash(GATEWAY_TLS.cert)}`] });
});

after(async () => {
  await browser?.close();
  sim?.ws.shutdown();
  server?.closeAllConnections?.();
  server?.close();
});

test('Chromium trusts the gateway\'s certificate only: a page from another self-signed certificate fails', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ibkr-auth-other-tls-'));
  const other = testTls(dir);
  fs.rmSync(dir, { recursive: true, force: true });
  assert.notEqual(spkiHash(other.cert), spkiHash(GATEWAY_TLS.cert));
  const { server: stranger, base: strangerBase } = await pageServer({ page, installed, mount: () => sim, tls: { key: other.key, cert: other.cert } });
  const p = await browser.newPage();
  const failed = [];
  p.on('requestfailed', (req) => failed.push(`${req.url()} ${req.failure()?.errorText}`));
  try {
    // Chromium shows its error page instead (playwright reports the navigation interrupted by it).
    await assert.rejects(p.goto(strangerBase), /ERR_CERT_AUTHORITY_INVALID|chrome-error:/);
    assert.deepEqual(failed, [`${strangerBase}/ net::ERR_CERT_AUTHORITY_INVALID`]);
    // The same page from the gateway's certificate loads.
    const ok = await browser.newPage();
    try {
      assert.equal((await ok.goto(base)).status(), 200);
    } finally {
      await ok.close();
    }
  } finally {
    await p.close();
    stranger.closeAllConnections?.();
    stranger.close();
  }
});

test('Chromium, gateway: the browser\'s WebSocket over wss, quotes, a drop and replay, then a logout ends the stream', async () => {
  sim.setLoggedIn(true);
  const p = await browser.newPage();
  const problems = [];
  const consoleLines = [];
  p.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  p.on('console', (m) => consoleLines.push(m.text()));
  await p.goto(base);
  await p.waitForFunction(() => typeof window.__start === 'function');
  const started = await p.evaluate(() => window.__start());
  assert.equal(started.authenticated, true);
  assert.equal(started.isStream, true);
  assert.equal(started.url, `${base.replace('https:', 'wss:')}/v1/api/ws`);
  assert.match(started.value, /^[0-9a-f]{32}$/);
  assert.equal(sim.ws.sockets, 1);

  const { events, waitFor, quotes, dropAndReopen } = streamPage(p, sim, problems);
  await quotes(1);

  // A drop (1001): the reconnect waits for the page's clock, then the subscription is replayed.
  await dropAndReopen();
  const opened = (await events()).find((e) => e.type === 'open');
  assert.equal(opened.reconnected, true);
  assert.equal(await p.evaluate(() => window.__ws.stream.authenticated), true);
  // The replayed subscription's first message carries every field again.
  await quotes(2);

  // The gateway's login ends (its session closes the socket, 4001): reopening needs a logged-in
  // gateway, so the stream gives up with a typed error that says to log in again.
  // (After a tic interval authenticated, so that the reconnect is at once, not after a back-off.)
  await p.evaluate(() => window.__ws.clock.advance(30_000));
  sim.setLoggedIn(false);
  await waitFor(() => window.__ws.events.some((e) => e.type === 'error' || e.type === 'close'));
  await waitFor(() => window.__ws.events.some((e) => e.type === 'close'));
  const all = await events();
  const errors = all.filter((e) => e.type === 'error');
  assert.equal(errors.length, 1, JSON.stringify(all));
  const [err] = errors;
  assert.equal(err.isIbkrAuthError, true);
  assert.equal(err.name, 'IbkrAuthError');
  assert.equal(err.code, 'UNAUTHORIZED');
  assert.match(err.message, /cannot reconnect/);
  assert.match(err.message, /Log in to the gateway again \(in a browser on the gateway machine, or with gatewayLogin\)/);
  assert.deepEqual(all.filter((e) => e.type === 'reconnecting').map((e) => e.code), [1001, 4001]);
  assert.equal(all.find((e) => e.type === 'close').code, 1008);
  assert.equal(await p.evaluate(() => window.__ws.stream.authenticated), false);
  assert.equal(sim.ws.sockets, 0);

  // No secret: neither the session value the stream used nor any the simulator issued appears in
  // the session's log lines, the error or the page's console.
  const log = await p.evaluate(() => window.__log);
  assert.ok(log.length > 0);
  assertNoSecrets([...log, err.message, ...consoleLines], [started.value, ...sim.ws.issued.keys(), ...sim.ws.retired.keys()]);
  assert.deepEqual(problems, []);
  await p.close();
});
