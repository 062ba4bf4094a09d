// The streaming WebSocket inside workerd: a Worker imports the package's `workerd` entry, makes an
// OAuth 1.0a and an OAuth 2.0 session against the simulator (on 127.0.0.1, reached through a
// network service that allows it), and opens the socket the Workers way, a fetch with
// `Upgrade: websocket` (which can send the cookie, User-Agent and bearer as headers). In one request
// (a Worker's sockets belong to the request that made them): quotes, a drop with replay after the
// back-off on a controlled clock, and expired tokens, driven through the simulator's HTTP hooks.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { freePort, packageModules } from './package-modules.mjs';
import { installPackedPackage, root } from '../js/harness.mjs';
import { controlledClock } from '../ws/helpers.mjs';
import { generateKeys, Simulator } from '../../sim/server.mjs';

const AAPL = 265598;
const { installed } = installPackedPackage('workerd-ws');
const pkg = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8'));
const entry = pkg.exports['.'].workerd.replace('./', '');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ibkr-auth-worker-ws-'));
fs.cpSync(installed, path.join(dir, 'ibkr-auth'), { recursive: true });
fs.writeFileSync(path.join(dir, 'worker.js'), `
import { IbkrSession, IbkrStream } from './ibkr-auth/${entry}';
const controlledClock = ${controlledClock.toString()};
const once = (stream, type, pred = () => true) => new Promise((resolve, reject) => {
  const fn = (v) => { if (pred(v)) { stream.off(type, fn); resolve(v); } };
  stream.on(type, fn);
  stream.on('error', reject);
});
export default {
  async fetch(request) {
    const { kind, cfg, origin } = await request.json();
    const hook = (p) => fetch(origin + p, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    const clock = controlledClock(Date.now());
    const out = { steps: [], log: [] };
    const logger = Object.fromEntries(['debug', 'info', 'warn', 'error'].map((l) => [l, (m) => out.log.push(l + ': ' + m)]));
    const session = kind === 'oauth1' ? IbkrSession.oauth1({ ...cfg, pacing: false, logger }) : IbkrSession.oauth2({ ...cfg, pacing: false, logger });
    const scenario = async () => {
      const stream = await session.websocket({ fetch, timers: clock, keepAliveMs: false, subscriptions: ['smd+${AAPL}+{"fields":["31"]}'] });
      out.isStream = stream instanceof IbkrStream;
      out.authenticated = stream.authenticated;
      const quote = () => once(stream, 'message', (m) => m && m.topic === 'smd+${AAPL}');
      let q = quote();
      await hook('/__sim/ws/tick');
      out.steps.push({ quote: (await q)['31'] });
      const reconnecting = once(stream, 'reconnecting');
      let opened = once(stream, 'open');
      q = quote();
      await hook('/__sim/ws/drop');
      const r = await reconnecting;
      out.steps.push({ reconnecting: r.code, delayMs: r.delayMs });
      clock.advance(r.delayMs);
      out.steps.push({ open: (await opened).reconnected });
      out.steps.push({ replayed: (await q)['31'] });
      // A tic interval authenticated (the back-off starts anew); then the tokens expire: at once.
      clock.advance(30000);
      opened = once(stream, 'open');
      await hook('/__sim/expire');
      out.steps.push({ generation: (await opened).generation });
      out.reconnects = stream.reconnects;
      stream.close();
    };
    // A real timer bounds the scenario (workerd cancels a request that waits on nothing).
    await Promise.race([
      scenario().catch((e) => { out.error = { code: e.code, message: e.message }; }),
      new Promise((r) => setTimeout(() => { out.error = { message: 'timed out after steps ' + JSON.stringify(out.steps) + ' ' + out.log.join(' | ') }; r(); }, 15000)),
    ]);
    return Response.json(out);
  },
};
`);

const modules = ['(name = "worker.js", esModule = embed "worker.js")'];
modules.push(...packageModules(dir));
const port = await freePort();
fs.writeFileSync(path.join(dir, 'config.capnp'), `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .worker), (name = "loopback", network = (allow = ["local", "private"])) ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);
const worker :Workerd.Worker = (
  modules = [ ${modules.join(',\n    ')} ],
  compatibilityDate = "2025-01-01",
  globalOutbound = "loopback",
);
`);

const keys = generateKeys();
let workerd;
let log = '';
let sim;
before(async () => {
  sim = await new Simulator({ keys, rateLimits: false, ws: { autoTickMs: false } }).start();
  workerd = spawn(path.join(root, 'node_modules/.bin/workerd'), ['serve', 'config.capnp'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  workerd.stdout.on('data', (d) => { log += d; });
  workerd.stderr.on('data', (d) => { log += d; });
});
after(async () => {
  workerd?.kill();
  await sim?.close();
});

async function run(body) {
  for (let i = 0; i < 100; i++) {
    if (workerd.exitCode !== null) throw new Error(`workerd exited ${workerd.exitCode}:\n${log}`);
    let resp;
    try {
      resp = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: JSON.stringify(body) });
    } catch {
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    const text = await resp.text();
    try { return JSON.parse(text); } catch { throw new Error(`workerd answered ${resp.status} ${text.slice(0, 200)}:\n${log}`); }
  }
  throw new Error(`workerd did not answer:\n${log}`);
}

for (const kind of ['oauth1', 'oauth2']) {
  test(`workerd, ${kind}: a fetch upgrade with headers, quotes, a drop and replay, expired tokens`, async () => {
    const cfg = kind === 'oauth1' ? sim.clientConfig() : sim.clientConfig2();
    const handshakes = sim.count(kind === 'oauth1' ? 'handshake' : 'oauth2-token');
    const r = await run({ kind, cfg, origin: sim.origin });
    assert.equal(r.error, undefined, `${JSON.stringify(r.error)}\n${log}`);
    assert.equal(r.isStream, true);
    assert.equal(r.authenticated, true);
    assert.ok(Number(r.steps[0].quote) > 0);
    assert.equal(r.steps[1].reconnecting, 1001);
    assert.ok(r.steps[1].delayMs >= 375 && r.steps[1].delayMs <= 625);
    assert.equal(r.steps[2].open, true);
    assert.ok(Number(r.steps[3].replayed) > 0);
    assert.ok(r.steps[4].generation >= 2);
    assert.equal(r.reconnects, 2);
    if (kind === 'oauth1') assert.equal(sim.count('handshake'), handshakes + 2);
    // The upgrade carried the credentials: nothing refused, and no {"session"} first message was
    // sent (a socket that had to wait for one would have sent it).
    assert.deepEqual(sim.ws.stats.refused, []);
    assert.deepEqual(sim.ws.stats.messages.filter((m) => m === '(a session message, not kept)'), []);
  });
}
