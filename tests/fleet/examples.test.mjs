// The fleet examples (examples/fleet/) run as their users would run them, against the simulator,
// with the packed package installed from its tarball (so `import … from 'ibkr-auth'` resolves as
// it does for a user):
//   - lambda-refresher.mjs in child processes that play the Lambda Node.js runtime
//     (lambda-runtime.mjs), over a real redis-server, and trading-server.mjs as a child process
//     over the same Redis: the refresher makes the handshakes, the server never does;
//   - worker-cron.js inside workerd (miniflare), its cron trigger fired, over Workers KV.
// What counts is what the simulator saw: its handshakes, rejected requests and logouts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Miniflare, convertV4MiniflareOptions } from 'miniflare';
import { createClient } from 'redis';
import { installPackedPackage, root } from '../js/harness.mjs';
import { newSim } from '../session/helpers.mjs';
import { startRedis } from '../stores/redis-server.mjs';
import { packageModules } from '../stores/worker-modules.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const examples = path.join(root, 'examples/fleet');
const HOUR = 3600_000;

// A scratch project with the packed package installed, the examples copied in, and `redis`
// (a dev dependency here) linked in as the user's own dependency would be.
const { project, installed } = installPackedPackage('fleet-examples');
for (const f of fs.readdirSync(examples)) if (/\.(m?js)$/.test(f)) fs.copyFileSync(path.join(examples, f), path.join(project, f));
fs.symlinkSync(path.join(root, 'node_modules/redis'), path.join(project, 'node_modules/redis'), 'dir');

const children = new Set();
let redis;
let admin;
before(async () => {
  redis = await startRedis();
  admin = createClient({ url: redis.url });
  admin.on('error', () => {});
  await admin.connect();
});
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await admin?.quit().catch(() => {});
  await redis?.stop();
  fs.rmSync(path.dirname(project), { recursive: true, force: true });
});

/** The examples' environment for the simulator's account (PEMs with real newlines unless `escaped`). */
function accountEnv(cfg, { escaped = false } = {}) {
  const pem = (s) => (escaped ? s.replace(/\n/g, '\\n') : s);
  return {
    PATH: process.env.PATH,
    IB_CONSUMER_KEY: cfg.consumerKey,
    IB_ACCESS_TOKEN: cfg.accessToken,
    IB_ACCESS_TOKEN_SECRET: cfg.accessTokenSecret,
    IB_SIGNATURE_KEY: pem(cfg.signatureKey),
    IB_ENCRYPTION_KEY: pem(cfg.encryptionKey),
    IB_DH_PARAMS: pem(cfg.dhParams),
    IB_BASE_URL: cfg.baseUrl,
    REDIS_URL: redis.url,
  };
}

/** Collects a child's stdout and stderr (what a user would see in their logs). */
function logsOf(child) {
  const logs = { text: '' };
  child.stdout.on('data', (d) => { logs.text += d; });
  child.stderr.on('data', (d) => { logs.text += d; });
  return logs;
}

/** One Lambda execution environment running lambda-refresher.mjs; invoke() is one invocation. */
async function lambdaEnvironment(env) {
  const child = spawn(process.execPath, [path.join(here, 'lambda-runtime.mjs'), path.join(project, 'lambda-refresher.mjs')], {
    cwd: project, env, stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  const logs = logsOf(child);
  const waiting = [];
  readline.createInterface({ input: child.stdio[3] }).on('line', (l) => waiting.shift()?.resolve(JSON.parse(l)));
  child.on('exit', (code) => { for (const w of waiting.splice(0)) w.reject(new Error(`the runtime exited ${code}:\n${logs.text}`)); });
  const next = () => new Promise((resolve, reject) => { waiting.push({ resolve, reject }); });
  assert.deepEqual(await next(), { ready: true });
  return {
    logs,
    /** One invocation: { result } or { error }. */
    async invokeRaw() {
      // What EventBridge sends for a scheduled rule.
      const now = new Date();
      const event = {
        version: '0',
        id: crypto.randomUUID(),
        'detail-type': 'Scheduled Event',
        source: 'aws.events',
        account: '123456789012',
        time: now.toISOString().replace(/\.\d+Z$/, 'Z'),
        region: 'eu-west-1',
        resources: ['arn:aws:events:eu-west-1:123456789012:rule/ibkr-token-refresh'],
        detail: {},
      };
      const answer = next();
      child.stdin.write(`${JSON.stringify({ event, requestId: crypto.randomUUID(), timeoutMs: 30_000 })}\n`);
      return answer;
    },
    /** One invocation that must succeed: its result. */
    async invoke() {
      const a = await this.invokeRaw();
      assert.ok(!a.error, `the handler threw: ${JSON.stringify(a.error)}\n${logs.text}`);
      return a.result;
    },
    stop() { child.kill('SIGKILL'); children.delete(child); },
  };
}

/** trading-server.mjs as a child process; resolves once it printed its port. */
async function tradingServer(env) {
  const child = spawn(process.execPath, [path.join(project, 'trading-server.mjs')], { cwd: project, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const logs = logsOf(child);
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no port printed:\n${logs.text}`)), 15_000);
    child.stdout.on('data', () => {
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(logs.text);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`the server exited ${code}:\n${logs.text}`)); });
  });
  return {
    child,
    logs,
    get: async (p) => {
      const res = await fetch(`http://127.0.0.1:${port}${p}`);
      return { status: res.status, body: await res.json() };
    },
  };
}

/** The simulator's current live session token (base64 and hex), to look for in logs and stores. */
function currentLst(sim, cfg) {
  const lst = sim.tokens.get(cfg.accessToken).lst;
  assert.ok(Buffer.isBuffer(lst) && lst.length > 0, 'the simulator holds a token');
  return [lst.toString('base64'), lst.toString('hex')];
}

function assertNoSecret(text, cfg, sim, where, earlier = []) {
  const secrets = [...currentLst(sim, cfg), ...earlier, cfg.accessTokenSecret, cfg.signatureKey.split('\n')[1], cfg.encryptionKey.split('\n')[1]];
  for (const s of secrets) assert.ok(!text.includes(s), `${where} holds a secret`);
}

const logouts = (sim) => sim.log.filter((e) => e.path.endsWith('/logout')).length;

test('lambda-refresher keeps the token in Redis; trading-server only consumes it, across a refresh', async () => {
  // Tokens live 2 h here, so that a refresher asking for 3 h has to renew one (withinMs ≤ 23 h).
  const sim = await newSim({ lstLifetimeMs: 2 * HOUR });
  const cfg = sim.clientConfig();
  const handshakes = () => sim.count('handshake');
  const env = accountEnv(cfg);

  // One execution environment, invoked twice: cold (a handshake), then warm (nothing to do).
  const lambda = await lambdaEnvironment(env);
  const first = await lambda.invoke();
  assert.equal(first.refreshed, true);
  assert.equal(handshakes(), 1);
  const firstLst = currentLst(sim, cfg);
  assert.ok(first.expiresAt > Date.now() + 1.9 * HOUR && first.expiresAt <= Date.now() + 2 * HOUR, `good for the simulator's 2 h: ${first.expiresAt}`);
  const second = await lambda.invoke();
  assert.deepEqual(second, { ...first, refreshed: false });
  assert.equal(handshakes(), 1, 'the warm invocation made no handshake');
  const [tokenKey, ...others] = await admin.keys('*:token');
  assert.equal(others.length, 0);
  assert.match(await admin.get(tokenKey), /^v1\./);
  for (const k of await admin.keys('*')) assertNoSecret(`${k} ${await admin.get(k)}`, cfg, sim, `the Redis entry ${k}`);

  // The server, over the same Redis (its PEMs arrive with escaped newlines): the stored token.
  const server = await tradingServer(accountEnv(cfg, { escaped: true }));
  // (The server keeps the package's default pacing, IBKR's 1 request per 5 s on this endpoint,
  // so this test makes few requests.)
  const accounts = await server.get('/accounts');
  assert.equal(accounts.status, 200, JSON.stringify(accounts.body));
  assert.equal(accounts.body[0].accountId, 'DU1234567');
  assert.equal((await server.get('/nowhere')).status, 404);
  assert.equal(handshakes(), 1, 'the server used the stored token');

  // Another execution environment (a cold start) asked for more than the token has left: it
  // refreshes, and IBKR now refuses the token the server holds.
  const eager = await lambdaEnvironment({ ...env, REFRESH_WITHIN_MS: String(3 * HOUR) });
  const third = await eager.invoke();
  assert.equal(third.refreshed, true);
  assert.ok(third.generation > first.generation, `a new generation: ${third.generation} after ${first.generation}`);
  assert.ok(third.expiresAt > first.expiresAt);
  assert.equal(handshakes(), 2);

  // The server's next request meets a 401 on its old token, reads the new one: no handshake.
  const rejected = sim.count('rejected');
  const r = await server.get('/accounts');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(sim.count('rejected') - rejected, 1, 'the old token was refused once');
  assert.equal(handshakes(), 2, 'the server adopted the refreshed token');

  // SIGTERM: the server exits cleanly, without logging the fleet out.
  const exited = new Promise((resolve) => { server.child.once('exit', (code, signal) => resolve({ code, signal })); });
  server.child.kill('SIGTERM');
  assert.deepEqual(await exited, { code: 0, signal: null });
  children.delete(server.child);
  assert.equal(logouts(sim), 0, 'no logout on shutdown');
  assert.match(await admin.get(tokenKey), /^v1\./, 'the fleet\'s token is still stored');

  for (const [name, text] of [['the refresher\'s log', lambda.logs.text + eager.logs.text], ['the server\'s log', server.logs.text]]) {
    assertNoSecret(text, cfg, sim, name, firstLst);
  }
  assert.match(lambda.logs.text, /"refreshed":true[^\n]*\n[^\n]*"refreshed":false/, 'the refresher logs each run');
  lambda.stop();
  eager.stop();
});

test('lambda-refresher: a missing variable fails the invocation naming it, and the next one retries', async () => {
  const sim = await newSim();
  const env = accountEnv(sim.clientConfig());
  delete env.IB_DH_PARAMS;
  const lambda = await lambdaEnvironment(env);
  for (let i = 0; i < 2; i += 1) {
    const { error } = await lambda.invokeRaw();
    assert.equal(error?.message, 'the environment variable IB_DH_PARAMS is not set');
  }
  assert.equal(sim.count('handshake'), 0);
  assert.ok(!lambda.logs.text.includes(env.IB_ACCESS_TOKEN_SECRET));
  lambda.stop();
});

test('worker-cron in workerd: the cron trigger refreshes into KV, the fetch handler uses the stored token', async () => {
  const sim = await newSim();
  const cfg = sim.clientConfig();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ibkr-auth-fleet-worker-'));
  let mf;
  try {
    // The Worker's modules: the example, the installed package (its `workerd` entry and the
    // .wasm as a compiled module), and `ibkr-auth` naming that entry, as wrangler resolves it.
    const entry = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8')).exports['.'].workerd;
    fs.copyFileSync(path.join(examples, 'worker-cron.js'), path.join(dir, 'worker-cron.js'));
    const modules = [
      { type: 'ESModule', path: path.join(dir, 'worker-cron.js') },
      { type: 'ESModule', path: path.join(dir, 'ibkr-auth'), contents: `export * from './node_modules/ibkr-auth/${entry.replace(/^\.\//, '')}';\n` },
      ...packageModules(installed, dir, 'node_modules/ibkr-auth'),
    ];
    mf = new Miniflare(convertV4MiniflareOptions({
      modules,
      modulesRoot: dir,
      compatibilityDate: '2025-01-01',
      kvNamespaces: ['TOKENS'],
      // wrangler secrets and vars arrive as text bindings (the PEMs here with "\n" escapes, as
      // from a .dev.vars line). The simulator is on 127.0.0.1, which workerd's fetch reaches.
      bindings: Object.fromEntries(Object.entries(accountEnv(cfg, { escaped: true })).filter(([k]) => k.startsWith('IB_'))),
    }));
    await mf.ready;
    const worker = await mf.getWorker();
    const kv = await mf.getKVNamespace('TOKENS');

    const run = await worker.scheduled({ cron: '*/15 * * * *' });
    assert.equal(run.outcome, 'ok', JSON.stringify(run));
    assert.equal(sim.count('handshake'), 1);
    const tokenKeys = (await kv.list()).keys.map((k) => k.name).filter((k) => k.endsWith(':token'));
    assert.equal(tokenKeys.length, 1, 'one token entry');
    const raw = await kv.get(tokenKeys[0]);
    const { v } = JSON.parse(raw);
    assert.match(v, /^v1\./, 'a sealed entry');
    assertNoSecret(raw, cfg, sim, 'the KV entry');

    const again = await worker.scheduled({ cron: '*/15 * * * *' });
    assert.equal(again.outcome, 'ok');
    assert.equal(sim.count('handshake'), 1, 'the token is good for more than 1 h: nothing to do');
    assert.equal(JSON.parse(await kv.get(tokenKeys[0])).v, v, 'the entry is unchanged');

    const signed = sim.count('signed');
    const res = await mf.dispatchFetch('http://localhost/accounts');
    const body = await res.text();
    assert.equal(res.status, 200, body);
    assert.equal(JSON.parse(body)[0].accountId, 'DU1234567');
    assert.equal((await mf.dispatchFetch('http://localhost/elsewhere')).status, 404);
    assert.equal(sim.count('handshake'), 1, 'the fetch handler used the stored token');
    assert.equal(sim.count('signed') - signed, 1, 'one request, signed with the stored token at the first try');
    for (const { name } of (await kv.list()).keys) assertNoSecret(`${name} ${await kv.get(name)}`, cfg, sim, `the KV entry ${name}`);
  } finally {
    await mf?.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
