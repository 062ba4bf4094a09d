// The streaming WebSocket in headless Chromium: a page on 127.0.0.1 imports the installed
// package's `browser` entry, makes an OAuth 1.0a and an OAuth 2.0 session against the simulator
// (mounted on the page's own origin, its WebSocket too), and streams with the browser's
// WebSocket, which cannot send headers: the first {"session"} message authenticates. Quotes, a
// drop with replay, expired tokens; the stream's timers are a controlled clock in the page.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { installPackedPackage, launchChromium } from '../js/harness.mjs';
import { controlledClock } from '../ws/helpers.mjs';
import { pageServer, streamPage } from './ws-page.mjs';
import { generateKeys, Simulator } from '../../sim/server.mjs';

const { installed } = installPackedPackage('browser-ws');
const pkg = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8'));
const AAPL = 265598;

const page = `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>ws</title>
<script type="module">
  import { IbkrSession, IbkrStream } from '/pkg/${pkg.exports['.'].browser.replace('./', '')}';
  const controlledClock = ${controlledClock.toString()};
  window.__log = [];
  const logger = Object.fromEntries(['debug', 'info', 'warn', 'error'].map((l) => [l, (m) => window.__log.push(l + ': ' + m)]));
  window.__start = async (kind, cfg) => {
    const clock = controlledClock(Date.now());
    const session = kind === 'oauth1' ? IbkrSession.oauth1({ ...cfg, pacing: false, logger }) : IbkrSession.oauth2({ ...cfg, pacing: false, logger });
    const events = [];
    const stream = await session.websocket({ WebSocket, timers: clock, keepAliveMs: false, subscriptions: ['smd+${AAPL}+{"fields":["31"]}'] });
    for (const t of ['open', 'reconnecting', 'error', 'close']) stream.on(t, (e) => events.push({ type: t, ...(e && typeof e === 'object' ? { code: e.code, delayMs: e.delayMs, generation: e.generation } : {}) }));
    stream.on('message', (m) => { if (m && m.topic === 'smd+${AAPL}') events.push({ type: 'quote', last: m['31'] }); });
    window.__ws = { clock, stream, events, isStream: stream instanceof IbkrStream };
    return { authenticated: stream.authenticated, generation: stream.generation, isStream: stream instanceof IbkrStream };
  };
</script>`;

const keys = generateKeys();
let server;
let browser;
let base;
let sim;

before(async () => {
  ({ server, base } = await pageServer({ page, installed, mount: () => sim }));
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  sim?.ws.shutdown();
  server?.closeAllConnections?.();
  server?.close();
});

for (const kind of ['oauth1', 'oauth2']) {
  test(`Chromium, ${kind}: the browser's WebSocket, quotes, a drop and replay, expired tokens`, async () => {
    sim = new Simulator({ keys, rateLimits: false, ws: { autoTickMs: false } }).mountedAt(base);
    const cfg = kind === 'oauth1' ? sim.clientConfig() : sim.clientConfig2();
    const p = await browser.newPage();
    const problems = [];
    p.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    // (The console's "401" lines are the expired token's REST answers, which the session recovers from.)
    await p.goto(base);
    await p.waitForFunction(() => typeof window.__start === 'function');
    const started = await p.evaluate(([k, c]) => window.__start(k, c), [kind, JSON.parse(JSON.stringify(cfg))]);
    assert.deepEqual(started, { authenticated: true, generation: 1, isStream: true });
    const { events, waitFor, quotes, dropAndReopen } = streamPage(p, sim, problems);
    await quotes(1);
    // A drop: the reconnect waits for the page's clock, then the subscription is replayed.
    await dropAndReopen();
    // The replayed subscription's first message carries every field again.
    await quotes(2);
    // The socket stays authenticated for a tic interval (the back-off starts anew); then the
    // tokens expire: 4001; a new token and session value at once.
    await p.evaluate(() => window.__ws.clock.advance(30_000));
    sim.expireTokens();
    await waitFor(() => window.__ws.events.filter((e) => e.type === 'open').length >= 2);
    const opens = (await events()).filter((e) => e.type === 'open');
    assert.equal(opens[1].generation, 2);
    assert.equal(await p.evaluate(() => window.__ws.stream.reconnects), 2);
    await p.evaluate(() => window.__ws.stream.close());
    assert.deepEqual(problems, []);
    await p.close();
    sim.ws.shutdown();
  });
}
