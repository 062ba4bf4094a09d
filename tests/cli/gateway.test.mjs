// `ibkr-auth gateway …` through the packed binary (pkg/cli/main.js, after `make pkg`): the
// configuration of the gateway_* keys, start/stop of a fake gateway directory whose bin/run.sh runs
// the simulator in gateway mode, the control service over HTTP, and logins (TOTP, SMS through
// gateway_sms_command, IB Key with a counter file), re-logins and the lockout guard against the
// simulator's login.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { generateKeys, Simulator } from '../../sim/server.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(root, 'pkg/cli/main.js');
const api = await import(pathToFileURL(path.join(root, 'pkg/node.mjs')).href);
const keys = generateKeys();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const USER = 'gwuser';
const PASSWORD = 'correct horse battery';
const TOTP = 'JBSWY3DPEHPK3PXPJBSWY3DP';
const TOKEN = 'tok-0123456789abcdef0123456789abcdef';
const SECRETS = [PASSWORD, TOTP, TOKEN];

const tmp = (prefix) => fs.mkdtempSync(path.join(os.tmpdir(), prefix));
const cleanEnv = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^IBKR?_/.test(k)));

/** Runs the binary; every run's output is kept, to check afterwards that no secret was printed. */
const outputs = [];
function run(args, { env = {}, cwd } = {}) {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: cwd ?? tmp('ibkr-gw-cwd-'), env: { ...cleanEnv(), NO_COLOR: '1', ...env } });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  return new Promise((resolve) => child.on('close', (code) => { outputs.push(out, err); resolve({ code, out, err }); }));
}

/** A long-running command (keepalive, serve): its output so far, and a way to stop it. */
function runLong(args, { env = {}, cwd } = {}) {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: cwd ?? tmp('ibkr-gw-cwd-'), env: { ...cleanEnv(), NO_COLOR: '1', ...env } });
  const r = { child, out: '', err: '' };
  child.stdout.on('data', (d) => { r.out += d; });
  child.stderr.on('data', (d) => { r.err += d; });
  r.exited = new Promise((resolve) => child.on('close', (code) => { outputs.push(r.out, r.err); resolve(code); }));
  r.until = async (re, ms = 10_000) => {
    for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) if (re.test(r.out)) return r.out;
    throw new Error(`timed out waiting for ${re}; stdout: ${r.out}; stderr: ${r.err}`);
  };
  r.stop = async (signal = 'SIGINT') => { child.kill(signal); return r.exited; };
  return r;
}

/** A folder with this ibkr-auth.yaml. */
function configDir(yaml) {
  const d = tmp('ibkr-gw-cfg-');
  fs.writeFileSync(path.join(d, 'ibkr-auth.yaml'), yaml);
  return d;
}

async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

/** A gateway install directory whose bin/run.sh runs the simulator in gateway mode on `port`. */
function fakeGatewayDir(port, { script } = {}) {
  const d = tmp('ibkr-gw-dir-');
  fs.mkdirSync(path.join(d, 'bin'));
  fs.mkdirSync(path.join(d, 'root'));
  fs.writeFileSync(path.join(d, 'root/conf.yaml'), `listenPort: ${port}\n`);
  fs.writeFileSync(path.join(d, 'bin/run.sh'), script ?? `#!/bin/sh
echo "fake gateway: $1"
"${process.execPath}" "${path.join(root, 'sim/cli.mjs')}" --gateway --port ${port} --state-dir "${path.join(d, 'sim-state')}"
`, { mode: 0o755 });
  return d;
}

const alive = (pid) => { try { process.kill(pid, 0); return true; } catch (e) { return e.code === 'EPERM'; } };
const started = [];
after(() => {
  // Whatever a failed test left running.
  for (const pid of started) try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ }
});

describe('configuration of the gateway keys', () => {
  test('gateway_url, gateway_dir, gateway_guard_file and gateway_max_attempts: YAML < environment < flags', async () => {
    const d = configDir('gateway_url: http://127.0.0.1:9\ngateway:\n  guard_file: guard-yaml.json\n  max_attempts: 3\n  dir: .\n');
    const yaml = JSON.parse((await run(['gateway', 'status', '--json'], { cwd: d })).out);
    assert.equal(yaml.gateway.url, 'http://127.0.0.1:9');
    assert.equal(yaml.gateway.reachable, false);
    assert.equal(yaml.guard.file, path.join(d, 'guard-yaml.json'), 'relative to the YAML file');
    assert.equal(yaml.guard.maxAttempts, 3);
    assert.equal(yaml.process.dir, d);
    assert.equal(yaml.process.running, false);
    const other = tmp('ibkr-gw-other-');
    const env = { IB_GATEWAY_URL: 'http://127.0.0.1:10', IB_AUTH_GUARD_FILE: path.join(other, 'g.json'), IB_AUTH_MAX_ATTEMPTS: '2', IB_GATEWAY_DIR: other };
    const fromEnv = JSON.parse((await run(['gateway', 'status', '--json'], { cwd: d, env })).out);
    assert.equal(fromEnv.gateway.url, 'http://127.0.0.1:10');
    assert.equal(fromEnv.guard.file, path.join(other, 'g.json'));
    assert.equal(fromEnv.guard.maxAttempts, 2);
    assert.equal(fromEnv.process.dir, other);
    const flags = JSON.parse((await run(['gateway', 'status', '--json', '--gateway-url', 'http://127.0.0.1:11', '--gateway-max-attempts', '1', '--gateway-guard-file', '~/x/g.json'], { cwd: d, env })).out);
    assert.equal(flags.gateway.url, 'http://127.0.0.1:11');
    assert.equal(flags.guard.maxAttempts, 1);
    assert.equal(flags.guard.file, path.join(os.homedir(), 'x/g.json'), '~ is the home directory');
    // By default the guard is the library's own file for this user at this gateway, the one
    // gatewayLogin() without `guard` uses too.
    const dflt = JSON.parse((await run(['gateway', 'status', '--json'], { env: { IB_GATEWAY_URL: 'http://127.0.0.1:9', IB_USERNAME: 'SomeUser' } })).out);
    assert.equal(dflt.guard.file, api.loginGuard({ username: 'someuser', baseUrl: 'http://127.0.0.1:9' }).file);
    assert.match(dflt.guard.file, /\/\.ibkr-auth\/gateway-guard-[0-9a-f]{16}\.json$/);
    assert.equal(dflt.guard.maxAttempts, 4);
    const nobody = JSON.parse((await run(['gateway', 'status', '--json'], { env: { IB_GATEWAY_URL: 'http://127.0.0.1:9' } })).out);
    assert.match(nobody.guard.error.message, /gateway_username .*or gateway_guard_file/);
    const bad = await run(['gateway', 'status'], { cwd: d, env: { IB_AUTH_MAX_ATTEMPTS: 'many' } });
    assert.equal(bad.code, 2);
    assert.match(bad.err, /environment IB_AUTH_MAX_ATTEMPTS: gateway_max_attempts must be a whole number/);
  });

  test('username and password: IB_USERNAME/IB_PASSWORD or IBKR_USERNAME/IBKR_PASSWORD; what is missing is named, no secret is printed', async () => {
    const none = await run(['gateway', 'login']);
    assert.equal(none.code, 2);
    assert.match(none.err, /gateway_username: set gateway_username in ibkr-auth\.yaml, IB_USERNAME or IBKR_USERNAME in the environment, or --gateway-username/);
    assert.match(none.err, /gateway_password: set gateway_password in ibkr-auth\.yaml, IB_PASSWORD or IBKR_PASSWORD/);
    for (const env of [{ IBKR_USERNAME: USER }, { IB_USERNAME: USER }]) {
      const r = await run(['gateway', 'login'], { env });
      assert.equal(r.code, 2);
      assert.doesNotMatch(r.err, /gateway_username:/, 'the username is set');
      assert.match(r.err, /gateway_password:/);
    }
    const pw = await run(['gateway', 'login', '--gateway-second-factor', 'ocra'], { env: { IBKR_USERNAME: USER, IBKR_PASSWORD: PASSWORD } });
    assert.equal(pw.code, 2);
    assert.doesNotMatch(pw.err, /gateway_password:/, 'the password is set');
    assert.match(pw.err, /gateway_second_factor is ocra \(--gateway-second-factor\), which needs/);
    for (const k of ['gateway_ocra_secret: .*IB_AUTH_OCRA_SECRET', 'gateway_ocra_pin: .*IB_AUTH_OCRA_PIN', 'gateway_ocra_counter_file: .*IB_AUTH_OCRA_COUNTER_FILE']) assert.match(pw.err, new RegExp(k));
    const two = await run(['gateway', 'login', '--json'], { env: { IB_USERNAME: USER, IB_PASSWORD: PASSWORD, IB_AUTH_TOTP_SECRET: TOTP, IB_AUTH_SMS_COMMAND: 'echo 123456' } });
    assert.equal(two.code, 2);
    assert.equal(JSON.parse(two.out).error.code, 'configuration');
    assert.match(JSON.parse(two.out).error.message, /gateway_totp_secret and gateway_sms_command are both set: say which second factor to use with gateway_second_factor/);
    const wrong = await run(['gateway', 'login'], { env: { IB_USERNAME: USER, IB_PASSWORD: PASSWORD, IB_AUTH_SECOND_FACTOR: 'carrier-pigeon' } });
    assert.match(wrong.err, /environment IB_AUTH_SECOND_FACTOR: gateway_second_factor must be totp, sms, ocra or none/);
    for (const r of [none, pw, two, wrong]) for (const s of SECRETS) assert.ok(!(r.out + r.err).includes(s));
  });

  test('the new flags are in the help; an unknown gateway command is a usage error', async () => {
    const help = (await run(['--help'])).out;
    for (const f of ['--gateway-username', '--gateway-password', '--gateway-second-factor', '--gateway-totp-secret', '--gateway-ocra-secret', '--gateway-ocra-pin',
      '--gateway-ocra-counter-file', '--gateway-sms-command', '--gateway-guard-file', '--gateway-max-attempts', '--gateway-dir', '--gateway-serve-token']) assert.ok(help.includes(f), f);
    for (const c of ['gateway login', 'gateway status', 'gateway keepalive', 'gateway logout', 'gateway reset-lockout', 'gateway start | stop', 'gateway serve']) assert.ok(help.includes(c), c);
    const r = await run(['gateway', 'launch']);
    assert.equal(r.code, 2);
    assert.match(r.err, /usage: ibkr-auth gateway <login\|status\|keepalive\|logout\|reset-lockout\|start\|stop\|serve> \(not "launch"\)/);
    assert.equal((await run(['gateway'])).code, 2);
  });
});

describe('gateway start and stop', () => {
  test('checks java (a missing one is named with how to install it) and the directory', async () => {
    const port = await freePort();
    const dir = fakeGatewayDir(port);
    const env = { IB_GATEWAY_DIR: dir, IB_GATEWAY_URL: `https://127.0.0.1:${port}` };
    const noJava = await run(['gateway', 'start'], { env: { ...env, PATH: tmp('ibkr-gw-nopath-') } });
    assert.equal(noJava.code, 2, noJava.err);
    assert.match(noJava.err, /JAVA_MISSING: java was not found on PATH/);
    assert.match(noJava.err, /install a Java runtime .*apt-get install default-jre-headless.*java -version/);
    assert.ok(!fs.existsSync(path.join(dir, '.ibkr-auth-gateway.pid')), 'no lock is left');
    const withHome = JSON.parse((await run(['gateway', 'start', '--json'], { env: { ...env, PATH: tmp('ibkr-gw-nopath-'), JAVA_HOME: '/opt/some-jdk' } })).out);
    assert.match(withHome.error.message, /JAVA_HOME is set \(\/opt\/some-jdk\), but bin\/run\.sh runs `java` from PATH/);
    const unset = await run(['gateway', 'start'], { env: { IB_GATEWAY_URL: env.IB_GATEWAY_URL } });
    assert.equal(unset.code, 2);
    assert.match(unset.err, /gateway_dir is not set: set gateway_dir in ibkr-auth\.yaml, IB_GATEWAY_DIR/);
    const empty = tmp('ibkr-gw-empty-');
    const noRun = await run(['gateway', 'start'], { env: { ...env, IB_GATEWAY_DIR: empty } });
    assert.equal(noRun.code, 2);
    assert.match(noRun.err, new RegExp(`environment IB_GATEWAY_DIR: ${empty.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} has no bin/run\\.sh`));
    fs.chmodSync(path.join(dir, 'bin/run.sh'), 0o644);
    const notExec = await run(['gateway', 'start'], { env });
    assert.match(notExec.err, /bin\/run\.sh is not executable: chmod \+x/);
  });

  test('start runs bin/run.sh detached until the gateway answers; a second start is refused; stop ends it and its children', async () => {
    const port = await freePort();
    const dir = fakeGatewayDir(port);
    const env = { IB_GATEWAY_DIR: dir, IB_GATEWAY_URL: `https://127.0.0.1:${port}`, IB_GATEWAY_INSECURE: 'true' };
    const lock = path.join(dir, '.ibkr-auth-gateway.pid');
    const r = await run(['gateway', 'start', '--json', '--timeout', '30'], { env });
    assert.equal(r.code, 0, r.out + r.err);
    const s = JSON.parse(r.out);
    started.push(s.pid);
    assert.equal(s.url, `https://127.0.0.1:${port}`);
    assert.equal(s.log, path.join(dir, 'ibkr-auth-gateway.log'));
    assert.match(s.java, /version/);
    assert.equal(fs.readFileSync(lock, 'utf8').trim(), String(s.pid));
    assert.ok(alive(s.pid));
    assert.match(fs.readFileSync(s.log, 'utf8'), /fake gateway: root\/conf\.yaml[\s\S]*Client Portal Gateway simulator listening/);
    // The gateway answers (the simulator's gateway starts logged in).
    const status = await run(['gateway', 'status', '--json'], { env });
    const st = JSON.parse(status.out);
    assert.equal(st.gateway.reachable, true);
    assert.deepEqual({ running: st.process.running, pid: st.process.pid }, { running: true, pid: s.pid });

    const again = await run(['gateway', 'start'], { env });
    assert.equal(again.code, 1);
    assert.match(again.err, new RegExp(`ALREADY_RUNNING: a gateway started by ibkr-auth is already running from .* \\(pid ${s.pid}`));
    assert.equal(fs.readFileSync(lock, 'utf8').trim(), String(s.pid), 'the lock is untouched');

    const stop = await run(['gateway', 'stop'], { env });
    assert.equal(stop.code, 0, stop.err);
    assert.match(stop.out, new RegExp(`✓ stopped the gateway \\(pid ${s.pid}\\)`));
    assert.ok(!fs.existsSync(lock));
    assert.ok(!alive(s.pid));
    assert.throws(() => process.kill(-s.pid, 0), { code: 'ESRCH' }, 'bin/run.sh\'s children are gone too');
    const res = await fetch(`http://127.0.0.1:${port}/`).catch((e) => e);
    assert.ok(res instanceof Error, 'nothing listens any more');
    const twice = await run(['gateway', 'stop', '--json'], { env });
    assert.equal(twice.code, 0);
    assert.deepEqual({ stopped: JSON.parse(twice.out).stopped, running: JSON.parse(twice.out).running }, { stopped: false, running: false });
  });

  test('a stale lock (its process gone) is taken over; a run.sh that dies is reported with the end of its log', async () => {
    const port = await freePort();
    const dir = fakeGatewayDir(port);
    const env = { IB_GATEWAY_DIR: dir, IB_GATEWAY_URL: `https://127.0.0.1:${port}` };
    const dead = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => dead.on('exit', r));
    fs.writeFileSync(path.join(dir, '.ibkr-auth-gateway.pid'), `${dead.pid}\n`);
    const st = JSON.parse((await run(['gateway', 'status', '--json'], { env })).out);
    assert.equal(st.process.staleLock, true);
    const r = await run(['gateway', 'start', '--json'], { env });
    assert.equal(r.code, 0, r.out + r.err);
    started.push(JSON.parse(r.out).pid);
    assert.equal((await run(['gateway', 'stop'], { env })).code, 0);

    const broken = fakeGatewayDir(port, { script: '#!/bin/sh\necho "Exception: no such port" >&2\nexit 3\n' });
    const b = await run(['gateway', 'start', '--timeout', '20'], { env: { ...env, IB_GATEWAY_DIR: broken } });
    assert.equal(b.code, 1);
    assert.match(b.err, /GATEWAY_EXITED: bin\/run\.sh ended \(exit code 3\) before the gateway answered/);
    assert.match(b.err, /\| Exception: no such port/);
    assert.ok(!fs.existsSync(path.join(broken, '.ibkr-auth-gateway.pid')));
  });

  test('start times out when nothing answers, leaving the process to stop', async () => {
    const port = await freePort();
    const dir = fakeGatewayDir(port, { script: '#!/bin/sh\nsleep 60\n' });
    const env = { IB_GATEWAY_DIR: dir, IB_GATEWAY_URL: `https://127.0.0.1:${port}` };
    const r = await run(['gateway', 'start', '--timeout', '1'], { env });
    assert.equal(r.code, 1);
    assert.match(r.err, /START_TIMEOUT: the gateway \(pid (\d+)\) does not answer at .* after 1 s; it is still running/);
    const pid = Number(r.err.match(/pid (\d+)/)[1]);
    started.push(pid);
    assert.ok(alive(pid));
    const stop = await run(['gateway', 'stop', '--timeout', '5'], { env });
    assert.equal(stop.code, 0, stop.err);
    assert.ok(!alive(pid));
  });
});

/** Starts `gateway serve`, resolves with its URL (from the --json line). */
async function serve(args, env) {
  const s = runLong(['gateway', 'serve', '--json', '--port', '0', ...args], { env });
  const line = await s.until(/"listening"/);
  s.url = JSON.parse(line.trim().split('\n')[0]).listening.replace('0.0.0.0', '127.0.0.1');
  return s;
}
const responses = [];
async function call(url, { method = 'GET', token, headers = {} } = {}) {
  const res = await fetch(url, { method, headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...headers } });
  const text = await res.text();
  responses.push(text);
  return { status: res.status, body: JSON.parse(text), headers: res.headers };
}

describe('gateway serve', () => {
  const secretEnv = { IB_USERNAME: USER, IB_PASSWORD: PASSWORD, IB_AUTH_TOTP_SECRET: TOTP };

  test('refuses another address than loopback without a token, and a short token', async () => {
    const r = await run(['gateway', 'serve', '--host', '0.0.0.0', '--port', '0'], { env: secretEnv });
    assert.equal(r.code, 2);
    assert.match(r.err, /TOKEN_REQUIRED: refusing to listen on 0\.0\.0\.0 without a token.*gateway_serve_token \(IB_GATEWAY_SERVE_TOKEN\)/);
    const short = await run(['gateway', 'serve', '--host', '0.0.0.0', '--port', '0'], { env: { ...secretEnv, IB_GATEWAY_SERVE_TOKEN: 'short' } });
    assert.equal(short.code, 2);
    assert.match(short.err, /TOKEN_TOO_SHORT/);
    assert.ok(!short.err.includes('short\n'));
  });

  test('with a token on 0.0.0.0: 401 without it or with a wrong one, 200 with it', async () => {
    const guard = path.join(tmp('ibkr-gw-guard-'), 'guard.json');
    const s = await serve(['--host', '0.0.0.0'], { ...secretEnv, IB_GATEWAY_SERVE_TOKEN: TOKEN, IB_GATEWAY_URL: 'http://127.0.0.1:9', IB_AUTH_GUARD_FILE: guard });
    try {
      const none = await call(`${s.url}/status`);
      assert.equal(none.status, 401);
      assert.equal(none.body.error.code, 'BAD_TOKEN');
      assert.equal(none.headers.get('www-authenticate'), 'Bearer');
      assert.equal((await call(`${s.url}/status`, { token: `${TOKEN}x` })).status, 401);
      assert.equal((await call(`${s.url}/status`, { token: TOKEN.slice(0, -1) })).status, 401);
      assert.equal((await call(`${s.url}/login`, { method: 'POST', token: 'wrong' })).status, 401);
      assert.equal((await call(`${s.url}/status`, { headers: { authorization: TOKEN } })).status, 401, 'the Bearer scheme is required');
      const ok = await call(`${s.url}/status`, { token: TOKEN });
      assert.equal(ok.status, 200);
      assert.equal(ok.body.gateway.url, 'http://127.0.0.1:9');
      assert.equal(ok.body.gateway.reachable, false);
      assert.equal(ok.body.guard.file, guard);
      assert.equal(ok.body.guard.maxAttempts, 4);
      assert.equal((await call(`${s.url}/nowhere`, { token: TOKEN })).status, 404);
      const wrongMethod = await call(`${s.url}/login`, { token: TOKEN });
      assert.equal(wrongMethod.status, 405);
      assert.equal(wrongMethod.headers.get('allow'), 'POST');
      const fromPage = await call(`${s.url}/status`, { token: TOKEN, headers: { origin: 'https://example.com' } });
      assert.equal(fromPage.status, 403);
      const reset = await call(`${s.url}/reset-lockout`, { method: 'POST', token: TOKEN });
      assert.equal(reset.status, 403);
      assert.equal(reset.body.error.code, 'RESET_DISABLED');
    } finally {
      assert.equal(await s.stop('SIGTERM'), 0, 'a graceful stop on SIGTERM');
    }
    assert.doesNotMatch(s.err, /authorization|Bearer tok/i, 'the log has no token');
  });

  test('on 127.0.0.1 without a token; /start and /stop run the gateway; no secret in any reply or output', async () => {
    const port = await freePort();
    const dir = fakeGatewayDir(port);
    const guard = path.join(tmp('ibkr-gw-guard-'), 'guard.json');
    const env = { ...secretEnv, IB_GATEWAY_DIR: dir, IB_GATEWAY_URL: `https://127.0.0.1:${port}`, IB_GATEWAY_INSECURE: 'true', IB_AUTH_GUARD_FILE: guard };
    const s = await serve([], env);
    try {
      assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const before = await call(`${s.url}/status`);
      assert.equal(before.status, 200);
      assert.equal(before.body.gateway.reachable, false);
      assert.equal(before.body.process.running, false);
      assert.ok('guard' in before.body);
      // Two concurrent starts share one.
      const [a, b] = await Promise.all([call(`${s.url}/start`, { method: 'POST' }), call(`${s.url}/start`, { method: 'POST' })]);
      assert.equal(a.status, 200, JSON.stringify(a.body));
      assert.equal(b.body.pid, a.body.pid);
      started.push(a.body.pid);
      const after = await call(`${s.url}/status`);
      assert.equal(after.body.gateway.reachable, true);
      assert.equal(after.body.process.pid, a.body.pid);
      const conflict = await call(`${s.url}/start`, { method: 'POST' });
      assert.equal(conflict.status, 409);
      assert.equal(conflict.body.error.code, 'ALREADY_RUNNING');
      const logout = await call(`${s.url}/logout`, { method: 'POST' });
      assert.equal(logout.status, 200);
      assert.equal(logout.body.loggedOut, true);
      const stop = await call(`${s.url}/stop`, { method: 'POST' });
      assert.equal(stop.status, 200);
      assert.equal(stop.body.stopped, true);
      assert.ok(!alive(a.body.pid));
    } finally {
      assert.equal(await s.stop(), 0);
    }
  });

  test('no reply and no output of any test here holds a secret', () => {
    assert.ok(responses.length >= 10 && outputs.length >= 10, 'the tests above left replies and output to check');
    for (const text of [...responses, ...outputs]) for (const secret of SECRETS) assert.ok(!text.includes(secret), `a secret in: ${text.slice(0, 200)}`);
  });
});

// ---- logins against the simulator's gateway login -----------------------------------------------

describe('with gatewayLogin', () => {
  let sim;
  const simState = async () => (await (await api.gatewayFetch({ baseUrl: sim.origin, insecure: true })(`${sim.origin}/__sim/state`)).json()).login;
  const simLogout = async () => api.gatewayFetch({ baseUrl: sim.origin, insecure: true })(`${sim.origin}/__sim/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"loggedIn":false}' });
  before(async () => {
    sim = await new Simulator({ keys, gateway: true, rateLimits: false, gatewayLogin: { users: [{ username: USER, password: PASSWORD, lp: true, secondFactor: { type: 'totp', secret: TOTP } }] } }).start();
  });
  after(async () => { await sim?.close(); });
  /** A config folder for the simulator's gateway, with its own guard file. */
  const gwConfig = (extra = '') => {
    const d = configDir(`gateway:\n  url: ${sim.origin}\n  insecure: true\n  username: ${USER}\n  guard_file: guard.json\n${extra}`);
    return { cwd: d, env: { IB_PASSWORD: PASSWORD, IB_AUTH_TOTP_SECRET: TOTP }, guard: path.join(d, 'guard.json') };
  };

  test('gateway login with TOTP; status reports the session and a clean guard', async () => {
    await simLogout();
    const c = gwConfig();
    const before = await simState();
    const r = await run(['gateway', 'login'], c);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /✓ brokerage session authenticated/);
    assert.equal((await simState()).successes, before.successes + 1);
    const st = await run(['gateway', 'status', '--json'], c);
    assert.equal(st.code, 0, st.err);
    const s = JSON.parse(st.out);
    assert.equal(s.gateway.authenticated, true);
    assert.equal(s.guard.failures, 0);
    assert.equal(s.guard.lockedOut, false);
    for (const secret of SECRETS) assert.ok(!(r.out + r.err + st.out + st.err).includes(secret));
  });

  test('gateway login with SMS (gateway_sms_command prints the code) and with IB Key (the counter file advances)', async () => {
    const ocraSecret = '3132333435363738393031323334353637383930';
    const pin = '4711';
    const gw = await new Simulator({ keys, gateway: true, rateLimits: false, gatewayLogin: { users: [
      { username: 'smsuser', password: PASSWORD, lp: true, secondFactor: { type: 'sms' } },
      { username: 'keyuser', password: PASSWORD, lp: true, secondFactor: { type: 'ocra', secret: ocraSecret, pin, counter: 3 } },
    ] } }).start();
    try {
      // The command asks the simulator for the code it "sent", as a real one would read an SMS provider.
      const smsScript = path.join(tmp('ibkr-gw-sms-'), 'sms.mjs');
      fs.writeFileSync(smsScript, `const r = await fetch('${gw.origin}/__sim/sms'); console.log((await r.json()).code);\n`);
      const d = configDir(`gateway:\n  url: ${gw.origin}\n  insecure: true\n  username: smsuser\n  guard_file: guard.json\n  sms_command: ${JSON.stringify(`NODE_TLS_REJECT_UNAUTHORIZED=0 ${process.execPath} ${smsScript}`)}\n`);
      const sms = await run(['gateway', 'login'], { cwd: d, env: { IB_PASSWORD: PASSWORD } });
      assert.equal(sms.code, 0, sms.out + sms.err);
      assert.match(sms.out, /✓ brokerage session authenticated/);
      gw.setLoggedIn(false);
      const d2 = configDir(`gateway:\n  url: ${gw.origin}\n  insecure: true\n  username: keyuser\n  guard_file: guard.json\n  ocra_counter_file: counter.json\n`);
      fs.writeFileSync(path.join(d2, 'counter.json'), '{"counter": 3}');
      const env = { IB_PASSWORD: PASSWORD, IB_AUTH_OCRA_SECRET: ocraSecret, IB_AUTH_OCRA_PIN: pin };
      const key = await run(['gateway', 'login'], { cwd: d2, env });
      assert.equal(key.code, 0, key.out + key.err);
      assert.equal(JSON.parse(fs.readFileSync(path.join(d2, 'counter.json'), 'utf8')).counter, 4);
      for (const secret of [PASSWORD, ocraSecret, pin]) assert.ok(!(sms.out + sms.err + key.out + key.err).includes(secret));
      assert.equal(gw.loginStats.successes, 2);
    } finally {
      await gw.close();
    }
  });

  test('gateway keepalive logs in again after the gateway lost its login', async () => {
    const c = gwConfig();
    assert.equal((await run(['gateway', 'login'], c)).code, 0);
    const before = await simState();
    const k = runLong(['gateway', 'keepalive', '--interval', '1'], c);
    try {
      await k.until(/✓ tickled; authenticated/);
      await simLogout();
      await k.until(/logged in again; authenticated/, 15_000);
    } finally {
      assert.equal(await k.stop(), 0);
    }
    assert.ok(k.out.trim().split('\n').every((l) => /^\d\d:\d\d:\d\d [✓!✗] /.test(l)), k.out);
    assert.equal((await simState()).successes, before.successes + 1);
  });

  test('a wrong password: keepalive stops at the guard\'s limit, LOCKED_OUT printed once, the gateway not asked again; reset-lockout clears it', async () => {
    await simLogout();
    const c = gwConfig('  max_attempts: 1\n');
    const wrong = { ...c, env: { ...c.env, IB_PASSWORD: 'not the password' } };
    const before = await simState();
    const k = runLong(['gateway', 'keepalive', '--interval', '1'], wrong);
    try {
      await k.until(/LOGIN_FAILED/, 15_000);
      await k.until(/locked out/i, 15_000);
      await sleep(3000);
    } finally {
      assert.equal(await k.stop(), 0);
    }
    const lines = k.out.trim().split('\n');
    assert.equal(lines.filter((l) => /✗ LOCKED_OUT/.test(l)).length, 1, k.out);
    assert.ok(lines.length >= 4, k.out);
    let now = await simState();
    assert.equal(now.inits, before.inits + 1, 'one attempt, then none');
    assert.equal(now.failures, before.failures + 1);
    // gateway login is refused by the guard too, without contacting the gateway.
    const again = await run(['gateway', 'login'], wrong);
    assert.equal(again.code, 1);
    assert.match(again.err, /LOCKED_OUT/);
    assert.equal((await simState()).inits, before.inits + 1);
    const st = JSON.parse((await run(['gateway', 'status', '--json'], c)).out);
    assert.equal(st.guard.lockedOut, true);
    assert.equal(st.guard.failures, 1);
    assert.equal(st.guard.lastFailure.code, 'LOGIN_FAILED');
    const human = await run(['gateway', 'status'], c);
    assert.match(human.out, /guard: LOCKED OUT after 1 failed logins[\s\S]*reset-lockout/);
    // A person fixes the password and resets the guard.
    const reset = await run(['gateway', 'reset-lockout'], c);
    assert.equal(reset.code, 0, reset.err);
    assert.match(reset.out, /✓ lockout guard reset \(.*guard\.json\)\n {2}it had 1 failed login of 1 allowed; locked out: yes\n {2}last failure: LOGIN_FAILED/);
    assert.equal(JSON.parse((await run(['gateway', 'status', '--json'], c)).out).guard.failures, 0);
    assert.match((await run(['gateway', 'reset-lockout'], c)).out, /nothing to reset/);
    const ok = await run(['gateway', 'login'], c);
    assert.equal(ok.code, 0, ok.err);
    now = await simState();
    assert.equal(now.inits, before.inits + 2);
    for (const secret of SECRETS) assert.ok(!(k.out + k.err + again.out + again.err + reset.out).includes(secret));
  });

  test('gateway login with a wrong password: exit 1, LOGIN_FAILED, the count of failures', async () => {
    await simLogout();
    const c = gwConfig();
    const r = await run(['gateway', 'login', '--gateway-password', 'nope-nope'], c);
    assert.equal(r.code, 1);
    assert.match(r.err, /LOGIN_FAILED: [\s\S]*\(1 failed login of 4 allowed/);
    // At once again: the guard's back-off (or the gateway) refuses; either way a typed failure.
    const j = await run(['gateway', 'login', '--json', '--gateway-password', 'nope-nope'], c);
    assert.equal(j.code, 1);
    assert.equal(JSON.parse(j.out).ok, false);
    assert.match(JSON.parse(j.out).error.code, /^[A-Z_]+$/);
  });

  test('serve: concurrent POST /login share one login; /status reports the guard; no secret in replies', async () => {
    await simLogout();
    const c = gwConfig();
    const s2 = await serve(['--config', path.join(c.cwd, 'ibkr-auth.yaml')], c.env);
    try {
      const before = await simState();
      const replies = await Promise.all([1, 2, 3].map(() => call(`${s2.url}/login`, { method: 'POST' })));
      for (const r of replies) assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(replies[0].body.status.authenticated, true);
      assert.equal((await simState()).successes, before.successes + 1, 'one login for three calls');
      const st = await call(`${s2.url}/status`);
      assert.equal(st.body.gateway.authenticated, true);
      assert.equal(st.body.guard.failures, 0);
      assert.equal(st.body.guard.lockedOut, false);
      // The /api/service routes of older gateway services: GET status, PUT login (DELETE stop, POST start).
      await simLogout();
      const put = await call(`${s2.url}/api/service`, { method: 'PUT' });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      assert.equal(put.body.status.authenticated, true);
      assert.equal((await call(`${s2.url}/api/service`)).body.gateway.authenticated, true);
      // Credentials are never taken over HTTP: a body is refused, whatever it holds.
      const res = await fetch(`${s2.url}/api/service`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'x', password: 'y' }) });
      assert.equal(res.status, 400);
      assert.equal((await res.json()).error.code, 'BODY_REFUSED');
      for (const text of responses) for (const secret of SECRETS) assert.ok(!text.includes(secret));
    } finally {
      assert.equal(await s2.stop(), 0);
    }
  });

  test('serve: a wrong password gives LOGIN_FAILED, then 423 LOCKED_OUT at the limit', async () => {
    await simLogout();
    const c = gwConfig('  max_attempts: 1\n');
    const s = await serve(['--config', path.join(c.cwd, 'ibkr-auth.yaml')], { ...c.env, IB_PASSWORD: 'wrong-wrong' });
    try {
      const first = await call(`${s.url}/login`, { method: 'POST' });
      assert.equal(first.body.error.code, 'LOGIN_FAILED');
      const second = await call(`${s.url}/login`, { method: 'POST' });
      assert.equal(second.status, 423);
      assert.equal(second.body.error.code, 'LOCKED_OUT');
      const st = await call(`${s.url}/status`);
      assert.equal(st.body.guard.lockedOut, true);
    } finally {
      assert.equal(await s.stop(), 0);
    }
  });
});
