// gatewayLogin through the packed package against the simulator's gateway login (plain node:crypto
// and BigInt on the server side): every second factor, wrong passwords, the lockout guard (durable,
// across processes, with back-off on a controlled clock), timeouts, a gateway that is down, a
// gateway that logs itself out, and no secret in any output.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { promisify } from 'node:util';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';

const run = promisify(execFile);
import { test } from 'node:test';
import { gatewayFetch, gatewayLogin, IbkrSession, loginGuard } from '../../pkg/node.mjs';
import { base32Encode } from '../../sim/gateway-otp.mjs';
import { GATEWAY_TLS } from '../../sim/server.mjs';
import { capture, newSim, rejects } from './helpers.mjs';

const PKG = new URL('../../pkg/node.mjs', import.meta.url).href;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ibkr-gw-login-'));
let files = 0;
const guardFile = () => path.join(tmp, `guard-${(files += 1)}.json`);

/** A controlled clock shared by the simulator and the client (and every read of the guard that
 *  depends on the time: a guard read on the machine's clock would judge the back-off by today's
 *  date). */
function fakeClock(start = Date.UTC(2026, 11, 5, 9, 0, 0)) {
  let now = start;
  const clock = () => now;
  clock.advance = (ms) => { now += ms; };
  return clock;
}

const USER = { username: 'SimUser', password: 'correct horse battery', lp: true };

async function newGateway({ secondFactor, clock = fakeClock(), maxFailures = 5, lp = true } = {}) {
  const gw = await newSim({ gateway: true, clock, gatewayLogin: { users: [{ ...USER, lp, ...(secondFactor ? { secondFactor } : {}) }], maxFailures, authDelayPolls: 1 } });
  return { gw, clock };
}

const fetchFor = (gw) => gatewayFetch({ baseUrl: gw.origin, certificate: GATEWAY_TLS.cert });
const options = (gw, clock, o = {}) => ({
  baseUrl: gw.origin, fetch: fetchFor(gw), username: USER.username, password: USER.password, clock,
  guard: { file: o.guardPath ?? guardFile() }, statusPolls: 4, statusPollMs: 5, ...o,
});
const stats = (gw) => ({ ...gw.loginStats });

test('TOTP: logs in, the brokerage session is authenticated, the guard is clean', async () => {
  const secret = base32Encode(crypto.randomBytes(20));
  const { gw, clock } = await newGateway({ secondFactor: { type: 'totp', secret } });
  const o = options(gw, clock, { secondFactor: { type: 'totp', secret } });
  const status = await gatewayLogin(o);
  assert.equal(status.authenticated, true);
  assert.equal(stats(gw).successes, 1);
  // Authentication now belongs to the gateway: a plain session without cookies works.
  const s = IbkrSession.gateway({ baseUrl: gw.baseUrl, fetch: fetchFor(gw), pacing: false });
  assert.equal((await s.status()).authenticated, true);
  const g = await loginGuard({ file: o.guard.file }).read();
  assert.equal(g.failures, 0);
  assert.equal(g.lockedOut, false);
  assert.equal(fs.statSync(o.guard.file).mode & 0o777, 0o600);
});

test('no second factor, and a gateway that logs itself out is logged in again', async () => {
  const { gw, clock } = await newGateway();
  const o = options(gw, clock);
  assert.equal((await gatewayLogin(o)).authenticated, true);
  gw.setLoggedIn(false);
  const s = IbkrSession.gateway({ baseUrl: gw.baseUrl, fetch: fetchFor(gw), pacing: false, maxRetries: 0 });
  await rejects(s.request('GET', '/iserver/accounts'), 'UNAUTHORIZED');
  assert.equal((await gatewayLogin(o)).authenticated, true);
  assert.equal(stats(gw).successes, 2);
  assert.ok(await s.request('GET', '/iserver/accounts'));
});

test('the password is cut to 8 characters unless the gateway says lp', async () => {
  const { gw, clock } = await newGateway({ lp: false });
  // The server holds the verifier of the first 8 characters: a password that differs only after them logs in.
  assert.equal((await gatewayLogin(options(gw, clock, { password: `${USER.password.slice(0, 8)}-anything` }))).authenticated, true);
});

test('SMS: the code comes from the host callback', async () => {
  const { gw, clock } = await newGateway({ secondFactor: { type: 'sms' } });
  let asked = 0;
  const code = async () => { asked += 1; return gw.lastSmsCode; };
  assert.equal((await gatewayLogin(options(gw, clock, { secondFactor: { type: 'sms', code } }))).authenticated, true);
  assert.equal(asked, 1);
});

test('IB Key (OCRA): the counter is persisted and advances on every use, also a rejected one', async () => {
  const secret = crypto.randomBytes(20).toString('hex');
  const { gw, clock } = await newGateway({ secondFactor: { type: 'ocra', secret, pin: '1234', counter: 7 } });
  const counterFile = path.join(tmp, 'ocra-counter.json');
  fs.writeFileSync(counterFile, JSON.stringify({ counter: 7 }));
  const sf = { type: 'ocra', secret, pin: '1234', counter: { file: counterFile } };
  assert.equal((await gatewayLogin(options(gw, clock, { secondFactor: sf }))).authenticated, true);
  assert.equal(JSON.parse(fs.readFileSync(counterFile, 'utf8')).counter, 8);
  gw.setLoggedIn(false);
  assert.equal((await gatewayLogin(options(gw, clock, { secondFactor: sf }))).authenticated, true);
  assert.equal(JSON.parse(fs.readFileSync(counterFile, 'utf8')).counter, 9);
  // A wrong PIN: rejected, and the counter still moved on.
  const guardPath = guardFile();
  const e = await rejects(gatewayLogin(options(gw, clock, { guardPath, secondFactor: { ...sf, pin: '9999' } })), 'SECOND_FACTOR_FAILED');
  assert.match(e.message, /counted this failure \(1 of 4\)/);
  assert.equal(JSON.parse(fs.readFileSync(counterFile, 'utf8')).counter, 10);
});

test('a wrong password in a keeper loop never reaches IBKR\'s limit: back-off, then the guard stops; nothing is sent after', async () => {
  const { gw, clock } = await newGateway({ maxFailures: 5 });
  const guardPath = guardFile();
  const o = options(gw, clock, { guardPath, password: 'wrong password' });
  const codes = [];
  for (let i = 0; i < 30; i += 1) {
    const before = stats(gw).inits;
    const e = await gatewayLogin(o).then(() => null, (err) => err);
    assert.ok(e, 'a wrong password must fail');
    codes.push(e.code);
    if (e.code === 'LOCKED_OUT' || e.code === 'RATE_LIMITED') {
      assert.equal(stats(gw).inits, before, `${e.code}: the gateway must not be contacted`);
      assert.match(e.message, /not contacted/);
    }
    clock.advance(i % 2 ? 7 * 3_600_000 : 1000); // a keeper retrying every second and, now and then, hours later
  }
  assert.equal(codes.filter((c) => c === 'LOGIN_FAILED').length, 4);
  assert.equal(codes.at(-1), 'LOCKED_OUT');
  assert.ok(codes.includes('RATE_LIMITED'));
  assert.equal(stats(gw).failures, 4);
  assert.ok(!stats(gw).locked, 'the simulated IBKR never locked the account');
  const g = await loginGuard({ file: guardPath }).read();
  assert.deepEqual([g.failures, g.lockedOut, g.lastFailure.code], [4, true, 'LOGIN_FAILED']);
  // Even the right password is refused until a person resets the guard.
  await rejects(gatewayLogin({ ...o, password: USER.password }), 'LOCKED_OUT');
  await loginGuard({ file: guardPath }).reset();
  assert.equal((await gatewayLogin({ ...o, password: USER.password })).authenticated, true);
  assert.equal((await loginGuard({ file: guardPath }).read()).failures, 0);
});

test('the back-off is 1 min, 1 h, 6 h on the controlled clock', async () => {
  const { gw, clock } = await newGateway();
  const guardPath = guardFile();
  const o = options(gw, clock, { guardPath, password: 'nope nope', guard: { file: guardPath, maxAttempts: 4 } });
  const waits = [];
  for (let i = 0; i < 3; i += 1) {
    await rejects(gatewayLogin(o), 'LOGIN_FAILED');
    const g = await loginGuard({ file: guardPath, clock }).read();
    waits.push(g.nextAttemptAt - clock());
    const e = await rejects(gatewayLogin(o), 'RATE_LIMITED');
    assert.equal(e.retryAt, g.nextAttemptAt);
    clock.advance(g.nextAttemptAt - clock());
  }
  assert.deepEqual(waits, [60_000, 3_600_000, 6 * 3_600_000]);
});

test('ACCOUNT_LOCKED: IBKR says the account reached its maximum; the guard stops at once', async () => {
  const { gw, clock } = await newGateway({ maxFailures: 1 });
  const guardPath = guardFile();
  const o = options(gw, clock, { guardPath, password: 'wrong again' });
  const e = await rejects(gatewayLogin(o), 'ACCOUNT_LOCKED');
  assert.match(e.message, /IBKR/);
  const g = await loginGuard({ file: guardPath }).read();
  assert.equal(g.lockedOut, true);
  assert.equal(g.accountLocked, true);
  const before = stats(gw).inits;
  await rejects(gatewayLogin({ ...o, password: USER.password }), 'LOCKED_OUT');
  assert.equal(stats(gw).inits, before);
});

test('a wrong TOTP secret is SECOND_FACTOR_FAILED and counts; a malformed one is refused before contact', async () => {
  const secret = base32Encode(crypto.randomBytes(20));
  const { gw, clock } = await newGateway({ secondFactor: { type: 'totp', secret } });
  const guardPath = guardFile();
  await rejects(gatewayLogin(options(gw, clock, { guardPath, secondFactor: { type: 'totp', secret: base32Encode(crypto.randomBytes(20)) } })), 'SECOND_FACTOR_FAILED');
  assert.equal((await loginGuard({ file: guardPath }).read()).failures, 1);
  const before = stats(gw).inits;
  await rejects(gatewayLogin(options(gw, clock, { secondFactor: { type: 'totp', secret: 'not base32 at all!' } })), 'INVALID_ARGUMENT');
  await rejects(gatewayLogin(options(gw, clock)), 'SECOND_FACTOR_FAILED'); // the account asks for one; none configured
  assert.equal(stats(gw).inits, before + 1);
});

test('a gateway that is down is NETWORK and does not count; one that hangs is TIMEOUT and counts', async () => {
  const guardPath = guardFile();
  const dead = http.createServer();
  await new Promise((r) => dead.listen(0, '127.0.0.1', r));
  const port = dead.address().port;
  await new Promise((r) => dead.close(r));
  await rejects(gatewayLogin({ baseUrl: `http://127.0.0.1:${port}`, username: 'u', password: 'p', guard: { file: guardPath } }), 'NETWORK');
  assert.equal((await loginGuard({ file: guardPath }).read()).failures, 0);
  // The login page answers; the Authenticator never does.
  const hung = http.createServer((req, res) => { if (req.method === 'GET') res.end('<html></html>'); });
  await new Promise((r) => hung.listen(0, '127.0.0.1', r));
  try {
    const e = await rejects(gatewayLogin({ baseUrl: `http://127.0.0.1:${hung.address().port}`, username: 'u', password: 'p', guard: { file: guardPath }, timeoutMs: 200 }), 'TIMEOUT');
    assert.match(e.message, /counted this failure \(1 of 4\)/);
    assert.equal((await loginGuard({ file: guardPath }).read()).failures, 1);
  } finally {
    hung.closeAllConnections();
    hung.close();
  }
});

test('the guard is durable across processes: a crash mid-login counts, and the limit holds across restarts', async () => {
  const { gw, clock } = await newGateway();
  const guardPath = guardFile();
  // A child that starts a login against a gateway that never answers, and is killed: the attempt is on disk.
  const hung = http.createServer((req, res) => { if (req.method === 'GET') res.end('ok'); });
  await new Promise((r) => hung.listen(0, '127.0.0.1', r));
  // The child is killed the moment its INIT reaches the gateway: a crash mid-login, whatever the machine's speed.
  const child = spawn(process.execPath, ['--input-type=module', '-e', `
    import { gatewayLogin } from ${JSON.stringify(PKG)};
    await gatewayLogin({ baseUrl: 'http://127.0.0.1:${hung.address().port}', username: 'u', password: 'p', guard: { file: ${JSON.stringify(guardPath)} } });
  `], { stdio: 'ignore' });
  hung.on('request', (req) => { if (req.method === 'POST') child.kill('SIGKILL'); });
  const [, signal] = await once(child, 'exit');
  hung.closeAllConnections();
  hung.close();
  assert.equal(signal, 'SIGKILL');
  assert.equal((await loginGuard({ file: guardPath }).read()).failures, 1);
  // Restarted keepers with a wrong password, each one attempt, hours apart (asynchronous: the
  // simulator answers from this process).
  const results = [];
  for (let i = 0; i < 6; i += 1) {
    clock.advance(7 * 3_600_000);
    const r = await run(process.execPath, ['--input-type=module', '-e', `
      import { gatewayFetch, gatewayLogin } from ${JSON.stringify(PKG)};
      const cert = ${JSON.stringify(GATEWAY_TLS.cert)};
      try {
        await gatewayLogin({ baseUrl: '${gw.origin}', fetch: gatewayFetch({ baseUrl: '${gw.origin}', certificate: cert }), username: 'SimUser',
          password: 'wrong', guard: { file: ${JSON.stringify(guardPath)} }, clock: () => ${clock()} });
        console.log('OK');
      } catch (e) { console.log(e.code); }
    `], { encoding: 'utf8', timeout: 60_000 });
    results.push(r.stdout.trim());
  }
  assert.deepEqual(results, ['LOGIN_FAILED', 'LOGIN_FAILED', 'LOGIN_FAILED', 'LOCKED_OUT', 'LOCKED_OUT', 'LOCKED_OUT']);
  assert.equal(stats(gw).failures, 3);
});

test('concurrent logins in one process share one login', async () => {
  const { gw, clock } = await newGateway();
  const o = options(gw, clock);
  const [a, b, c] = await Promise.all([gatewayLogin(o), gatewayLogin(o), gatewayLogin(o)]);
  assert.ok(a.authenticated && b.authenticated && c.authenticated);
  assert.equal(stats(gw).inits, 1);
});

test('no secret in any output: logs, errors, the guard file', async () => {
  const totpSecret = base32Encode(crypto.randomBytes(20));
  const ocraSecret = crypto.randomBytes(20).toString('hex');
  const pin = '80417';
  const outputs = [];
  for (const [sfServer, sfClient] of [
    [{ type: 'totp', secret: totpSecret }, { type: 'totp', secret: totpSecret }],
    [{ type: 'ocra', secret: ocraSecret, pin, counter: 0 }, { type: 'ocra', secret: ocraSecret, pin, counter: 0 }],
  ]) {
    const { gw, clock } = await newGateway({ secondFactor: sfServer });
    const { lines, logger } = capture();
    const guardPath = guardFile();
    await gatewayLogin(options(gw, clock, { logger, guardPath, secondFactor: sfClient }));
    gw.setLoggedIn(false);
    const wrongPin = sfClient.type === 'ocra' ? { ...sfClient, pin: '11111' } : sfClient;
    for (const o of [{ password: 'Wrong-Pa55word!' }, { secondFactor: wrongPin }]) {
      const e = await gatewayLogin(options(gw, clock, { logger, guardPath, ...o })).then(() => null, (err) => err);
      if (e) outputs.push(e.message, String(e.serverMessage ?? ''), inspect(e, { depth: 5 }), JSON.stringify(e));
      clock.advance(7 * 3_600_000);
    }
    outputs.push(...lines, fs.readFileSync(guardPath, 'utf8'));
  }
  const all = outputs.join('\n');
  assert.ok(all.length > 200, 'there is output to check');
  for (const s of [USER.password, 'Wrong-Pa55word!', totpSecret, ocraSecret, pin, '11111']) {
    assert.ok(!all.includes(s), `a secret appears in the output: ${s.slice(0, 3)}…`);
  }
});

test('without `guard`, the guard is still on: a file per user and gateway under ~/.ibkr-auth', async () => {
  const { gw, clock } = await newGateway();
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ibkr-gw-home-'));
  const saved = process.env.HOME;
  process.env.HOME = home;
  try {
    const { guard, ...o } = options(gw, clock, { password: 'not it' });
    assert.ok(guard);
    await rejects(gatewayLogin(o), 'LOGIN_FAILED');
    const files = fs.readdirSync(path.join(home, '.ibkr-auth'));
    assert.equal(files.length, 1);
    assert.match(files[0], /^gateway-guard-[0-9a-f]{16}\.json$/);
    assert.ok(!files[0].toLowerCase().includes(USER.username.toLowerCase()));
    const g = await loginGuard({ file: path.join(home, '.ibkr-auth', files[0]) }).read();
    assert.equal(g.failures, 1);
    const before = stats(gw).inits;
    await rejects(gatewayLogin(o), 'RATE_LIMITED');
    assert.equal(stats(gw).inits, before);
    // A guard that cannot be written (its directory is a file) is an error, not an unguarded login.
    const notADir = path.join(home, 'not-a-directory');
    fs.writeFileSync(notADir, '');
    const e = await rejects(gatewayLogin({ ...o, guard: { file: path.join(notADir, 'guard.json') } }), 'INVALID_ARGUMENT');
    assert.match(e.message, /cannot (write|create)/);
    assert.equal(stats(gw).inits, before);
  } finally {
    process.env.HOME = saved;
  }
});

test('a damaged or hand-edited guard file stops logins (never reads as clean); a login held by another live process is RATE_LIMITED', async () => {
  const { gw, clock } = await newGateway();
  const before = stats(gw).inits;
  for (const text of ['{ not json', '{"version":1,"failures":"0"}', '[]', '{"failures":0}']) {
    const guardPath = guardFile();
    fs.writeFileSync(guardPath, text);
    const e = await rejects(gatewayLogin(options(gw, clock, { guardPath })), 'LOCKED_OUT');
    assert.match(e.message, /damaged/);
    assert.equal((await loginGuard({ file: guardPath }).read()).lockedOut, true);
    await loginGuard({ file: guardPath }).reset();
    assert.equal((await gatewayLogin(options(gw, clock, { guardPath }))).authenticated, true, text);
    gw.setLoggedIn(false);
  }
  // Another process (alive) holds the login lock of this guard file.
  const guardPath = guardFile();
  const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  try {
    fs.writeFileSync(`${guardPath}.lock`, String(holder.pid));
    const e = await rejects(gatewayLogin(options(gw, clock, { guardPath })), 'RATE_LIMITED');
    assert.match(e.message, new RegExp(`process ${holder.pid}`));
  } finally {
    holder.kill('SIGKILL');
    await once(holder, 'exit');
  }
  // Its owner gone, the lock is stale and taken over.
  assert.equal((await gatewayLogin(options(gw, clock, { guardPath }))).authenticated, true);
  assert.ok(!fs.existsSync(`${guardPath}.lock`), 'the lock is released after the login');
  assert.equal(stats(gw).inits, before + 5, 'the refusals sent nothing');
});
