// `ibkr-auth gateway …`: the Client Portal Gateway without a browser. Logs it in (gatewayLogin,
// always within the lockout guard), keeps it logged in, runs IBKR's gateway program from the
// user's install directory (one process per directory, a lock file), and serves all of it as a
// small HTTP control service for a container beside the gateway.

import { exec, spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { gatewayFetch, gatewayLogin, IbkrAuthError, IbkrSession, loginGuard } from '../node.mjs';
import { ConfigError, flagName, KEYS, readPem, resolvePath } from './config.js';
import { out } from './output.js';

const DEFAULT_URL = 'https://localhost:5000';
const LOCK_FILE = '.ibkr-auth-gateway.pid';
const LOG_FILE = 'ibkr-auth-gateway.log';
/** gatewayLogin's codes after which nothing logs in again until a person resets the guard. */
const LOCKOUT_CODES = new Set(['LOCKED_OUT', 'ACCOUNT_LOCKED']);
/** The control service's HTTP status for a failure code; any other IbkrAuthError is a 502. */
const HTTP_STATUS = new Map([['LOCKED_OUT', 423], ['ACCOUNT_LOCKED', 423], ['NETWORK', 503], ['TIMEOUT', 504], ['UNAUTHORIZED', 409]]);

/** A failure of the commands here (not of IBKR): a code, the message with the fix, an exit code. */
export class GatewayError extends Error {
  constructor(code, message, { exit = 1, status = 500 } = {}) {
    super(message);
    this.code = code;
    this.exit = exit;
    this.status = status;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** A system error's errno name (ENOENT, ESRCH, …). */
const errno = (e) => e?.code;
const clock = (ms) => new Date(ms).toISOString().slice(11, 19);
const setHow = (key) => `set ${key} in ibkr-auth.yaml, ${[KEYS[key].env, ...(KEYS[key].alsoEnv ?? [])].join(' or ')} in the environment, or --${flagName(key)}`;

// ---- configuration --------------------------------------------------------------------------

/** The gateway's origin: gateway_url without a path, https://localhost:5000 when unset. */
export function gatewayOrigin(cfg) {
  const raw = cfg.values.gateway_url ?? DEFAULT_URL;
  try {
    return new URL(raw).origin;
  } catch {
    throw new ConfigError(`${cfg.sources.gateway_url}: ${raw} is not a URL. Set gateway_url to the gateway's address, e.g. ${DEFAULT_URL}.`);
  }
}

/** The fetch that reaches the gateway: its pinned certificate, or (asked for) no verification; undefined: the plain fetch. */
export function gatewayTransport(cfg, origin = gatewayOrigin(cfg)) {
  const v = cfg.values;
  if (!origin.startsWith('https:')) return undefined;
  if (v.gateway_certificate_file) return gatewayFetch({ baseUrl: origin, certificate: readPem(cfg, 'gateway_certificate_file').text });
  if (v.gateway_insecure) return gatewayFetch({ baseUrl: origin, insecure: true });
  return undefined;
}

const NO_GUARD_FILE = 'the lockout guard\'s file is gateway_guard_file or, by default, one per user: set gateway_username or gateway_guard_file.';

/**
 * loginGuard's options: gateway_guard_file, or the library's own default file for this user at
 * this gateway (the same file gatewayLogin uses without `guard`); null without either.
 */
function guardOptions(cfg) {
  const file = resolvePath(cfg, 'gateway_guard_file');
  const raw = cfg.values.gateway_max_attempts;
  const maxAttempts = raw === undefined ? 4 : Number(raw);
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 10) {
    throw new ConfigError(`${cfg.sources.gateway_max_attempts}: gateway_max_attempts must be a whole number from 1 to 10 (the failed logins before ibkr-auth stops trying; IBKR locks accounts after a few), got ${JSON.stringify(raw)}.`);
  }
  if (file) return { file, maxAttempts };
  if (cfg.values.gateway_username === undefined) return null;
  return { username: cfg.values.gateway_username, baseUrl: gatewayOrigin(cfg), maxAttempts };
}

/** The code an SMS brought, from the user's command (its stdout). */
function smsCode(command) {
  out.info('waiting for the SMS code (gateway_sms_command)…');
  return new Promise((resolve, reject) => {
    exec(command, { timeout: 5 * 60_000, maxBuffer: 64 * 1024, windowsHide: true }, (err, stdout, stderr) => {
      const said = String(stderr).trim().split('\n').at(-1);
      if (err) return reject(new Error(`gateway_sms_command failed (${err.killed ? 'no code within 5 minutes' : `exit code ${err.code}`})${said ? `: ${said}` : ''}. It must print the SMS code on stdout.`));
      const code = String(stdout).trim();
      if (!code) return reject(new Error('gateway_sms_command printed nothing: it must print the SMS code on stdout.'));
      return resolve(code);
    });
  });
}

function secondFactor(cfg) {
  const v = cfg.values;
  const configured = [['totp', 'gateway_totp_secret'], ['ocra', 'gateway_ocra_secret'], ['sms', 'gateway_sms_command']].filter(([, k]) => v[k] !== undefined);
  let type = v.gateway_second_factor;
  if (type === undefined) {
    if (configured.length > 1) throw new ConfigError(`${configured.map(([, k]) => k).join(' and ')} are both set: say which second factor to use with gateway_second_factor (totp, sms, ocra or none).`);
    type = configured[0]?.[0] ?? 'none';
  }
  const needs = (keys, what) => {
    const missing = keys.filter((k) => v[k] === undefined);
    if (missing.length) throw new ConfigError(`gateway_second_factor is ${type} (${cfg.sources.gateway_second_factor ?? `because ${configured[0][1]} is set`}), which needs ${what}:\n${missing.map((k) => `  - ${k}: ${setHow(k)}`).join('\n')}`);
  };
  switch (String(type).toLowerCase()) {
    case 'none': return undefined;
    case 'totp':
      needs(['gateway_totp_secret'], 'the authenticator app\'s secret (base32, as the QR code holds it)');
      return { type: 'totp', secret: v.gateway_totp_secret };
    case 'sms':
      needs(['gateway_sms_command'], 'a command that prints the SMS code');
      return { type: 'sms', code: () => smsCode(v.gateway_sms_command) };
    case 'ocra':
      needs(['gateway_ocra_secret', 'gateway_ocra_pin', 'gateway_ocra_counter_file'], 'an existing IB Key secret (hex), its PIN and the file that keeps its counter');
      return { type: 'ocra', secret: v.gateway_ocra_secret, pin: v.gateway_ocra_pin, counter: { file: resolvePath(cfg, 'gateway_ocra_counter_file') } };
    default:
      throw new ConfigError(`${cfg.sources.gateway_second_factor}: gateway_second_factor must be totp, sms, ocra or none, got ${JSON.stringify(type)}.`);
  }
}

/** gatewayLogin's options for the configuration (the secrets stay in here). */
function loginOptions(cfg) {
  const v = cfg.values;
  const missing = ['gateway_username', 'gateway_password'].filter((k) => v[k] === undefined);
  if (missing.length) {
    const what = { gateway_username: 'your IBKR username', gateway_password: 'its password' };
    throw new ConfigError(`the gateway login needs:\n${missing.map((k) => `  - ${k}: ${setHow(k)}: ${what[k]}`).join('\n')}`);
  }
  const transport = gatewayTransport(cfg);
  const sf = secondFactor(cfg);
  return {
    baseUrl: gatewayOrigin(cfg),
    ...(transport ? { fetch: transport } : {}),
    username: v.gateway_username,
    password: v.gateway_password,
    ...(sf ? { secondFactor: sf } : {}),
    guard: guardOptions(cfg),
  };
}

/** The configured secrets, for a last check that no reply of the control service holds one. */
function secretValues(cfg) {
  // As written and as JSON escapes it; very short values are left out (they would blank out words).
  const values = Object.keys(KEYS).filter((k) => KEYS[k].secret && cfg.values[k] !== undefined).map((k) => String(cfg.values[k]));
  return [...new Set(values.flatMap((v) => [v, JSON.stringify(v).slice(1, -1)]))].filter((s) => s.length >= 6);
}

/** A failure's message, with the likely fix when the gateway cannot be reached. */
function explain(e, cfg) {
  const msg = e?.message ?? String(e);
  if (!['NETWORK', 'TIMEOUT'].includes(e?.code)) return msg;
  const origin = gatewayOrigin(cfg);
  const tls = origin.startsWith('https:') && !cfg.values.gateway_certificate_file && !cfg.values.gateway_insecure
    ? ' The gateway\'s certificate is self-signed: set gateway_certificate_file (its certificate) or, knowingly, gateway_insecure: true.' : '';
  return `${msg} Is the gateway running at ${origin}? (\`ibkr-auth gateway start\` runs it from gateway_dir.)${tls}`;
}

// ---- the package's calls ----------------------------------------------------------------------

function makeSession(cfg, ctx) {
  const transport = gatewayTransport(cfg);
  return IbkrSession.gateway({
    baseUrl: `${gatewayOrigin(cfg)}/v1/api`,
    logger: ctx.logger,
    userAgent: ctx.userAgent,
    maxRetries: 0,
    timeoutMs: 15_000,
    ...(transport ? { fetch: transport } : {}),
  });
}

async function login(cfg, ctx, { signal } = {}) {
  const o = loginOptions(cfg);
  return gatewayLogin({ ...o, logger: ctx.logger, ...(signal ? { signal } : {}) });
}

/** The configured guard; a configuration error without a user or a guard file. */
function configuredGuard(cfg) {
  const o = guardOptions(cfg);
  if (!o) throw new ConfigError(`${NO_GUARD_FILE} (${setHow('gateway_username')})`);
  return loginGuard(o);
}

async function guardState(cfg) {
  const guard = configuredGuard(cfg);
  return { file: guard.file, ...(await guard.read()) };
}

/** The gateway's /iserver/auth/status, the guard's state and (with gateway_dir) the process. */
async function gatewayStatus(cfg, ctx) {
  const gateway = { url: gatewayOrigin(cfg) };
  try {
    Object.assign(gateway, { reachable: true, loggedIn: true, ...(await makeSession(cfg, ctx).status()) });
  } catch (e) {
    if (e?.code === 'UNAUTHORIZED') Object.assign(gateway, { reachable: true, loggedIn: false, authenticated: false });
    else Object.assign(gateway, { reachable: !['NETWORK', 'TIMEOUT'].includes(e?.code), authenticated: false, error: { code: e?.code ?? 'ERROR', message: explain(e, cfg) } });
  }
  let guard;
  if (!guardOptions(cfg)) guard = { error: { code: 'configuration', message: NO_GUARD_FILE } };
  else {
    try {
      guard = await guardState(cfg);
    } catch (e) {
      guard = { error: { code: e?.code ?? 'ERROR', message: e?.message ?? String(e) } };
    }
  }
  return { gateway, guard, ...(cfg.values.gateway_dir ? { process: processState(gatewayDir(cfg, { files: false })) } : {}) };
}

function guardLines(g) {
  if (!g) return [];
  if (g.error) return [`guard: ${out.red(g.error.code)}: ${g.error.message}`];
  const last = g.lastFailure ? `; last failure ${g.lastFailure.code} at ${new Date(g.lastFailure.at).toISOString()}: ${g.lastFailure.message}` : '';
  if (g.lockedOut) return [`guard: ${out.red('LOCKED OUT')} after ${g.failures} failed logins (limit ${g.maxAttempts})${last}`, '  nothing logs in until a person fixes the cause and runs `ibkr-auth gateway reset-lockout`'];
  const wait = g.nextAttemptAt && g.nextAttemptAt > Date.now() ? `; next attempt not before ${new Date(g.nextAttemptAt).toISOString()}` : '';
  return [`guard: ${g.failures} failed login${g.failures === 1 ? '' : 's'} of ${g.maxAttempts} allowed${wait}${last}`];
}

// ---- the gateway process -----------------------------------------------------------------------

/** gateway_dir, checked: it exists, and (files) holds bin/run.sh (executable) and root/conf.yaml. */
function gatewayDir(cfg, { files = true } = {}) {
  const dir = resolvePath(cfg, 'gateway_dir');
  const about = 'the directory where IBKR\'s Client Portal Gateway (clientportal.gw.zip) is unpacked: it holds bin/run.sh and root/conf.yaml';
  if (!dir) throw new ConfigError(`gateway_dir is not set: ${setHow('gateway_dir')}: ${about}.`);
  const where = cfg.sources.gateway_dir;
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new ConfigError(`${where}: ${dir} is not a directory. Set gateway_dir to ${about}.`);
  if (!files) return dir;
  for (const f of ['bin/run.sh', 'root/conf.yaml']) {
    if (!fs.existsSync(path.join(dir, f))) throw new ConfigError(`${where}: ${dir} has no ${f}. Set gateway_dir to ${about} (download: https://download2.interactivebrokers.com/portal/clientportal.gw.zip).`);
  }
  try {
    fs.accessSync(path.join(dir, 'bin/run.sh'), fs.constants.X_OK);
  } catch {
    throw new ConfigError(`${path.join(dir, 'bin/run.sh')} is not executable: chmod +x ${path.join(dir, 'bin/run.sh')}`);
  }
  return dir;
}

/** `java -version` works, or an error that says what is missing and how to install it. */
function checkJava() {
  const r = spawnSync('java', ['-version'], { encoding: 'utf8', timeout: 30_000, windowsHide: true });
  const install = 'The Client Portal Gateway is a Java program: install a Java runtime (8 or newer; e.g. `sudo apt-get install default-jre-headless` on Debian or Ubuntu, '
    + '`sudo dnf install java-17-openjdk-headless` on Fedora, `brew install openjdk` on macOS, or Eclipse Temurin from adoptium.net), then check that `java -version` works in this shell.';
  if (r.error) {
    const home = process.env.JAVA_HOME ? ` JAVA_HOME is set (${process.env.JAVA_HOME}), but bin/run.sh runs \`java\` from PATH: add $JAVA_HOME/bin to PATH.` : '';
    if (errno(r.error) === 'ENOENT') throw new GatewayError('JAVA_MISSING', `java was not found on PATH (${process.env.PATH ?? ''}). ${install}${home}`, { exit: 2 });
    throw new GatewayError('JAVA_MISSING', `\`java -version\` could not run (${r.error.message}). ${install}${home}`, { exit: 2 });
  }
  const said = `${r.stderr}${r.stdout}`.trim();
  if (r.status !== 0) throw new GatewayError('JAVA_MISSING', `\`java -version\` failed (exit code ${r.status}${said ? `: ${said.split('\n')[0]}` : ''}). ${install}`, { exit: 2 });
  return said.split('\n')[0];
}

/** Is the process (group) alive? A group (the gateway's) or a process (a start in progress). */
function alive(pid) {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, 0);
      return true;
    } catch (e) {
      if (errno(e) === 'EPERM') return true;
    }
  }
  return false;
}

function readLock(dir) {
  let text;
  try {
    text = fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8');
  } catch (e) {
    if (errno(e) === 'ENOENT') return null;
    throw e;
  }
  const pid = Number.parseInt(text.trim(), 10);
  return { pid: Number.isInteger(pid) && pid > 0 ? pid : null };
}

function processState(dir) {
  const lock = readLock(dir);
  const log = path.join(dir, LOG_FILE);
  if (!lock) return { running: false, dir, log };
  if (!lock.pid || !alive(lock.pid)) return { running: false, staleLock: true, dir, log };
  return { running: true, pid: lock.pid, dir, log };
}

/** Takes <gateway_dir>/.ibkr-auth-gateway.pid (created exclusively); a dead holder's lock is taken over. */
function claimLock(dir) {
  const file = path.join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx', 0o644);
      fs.writeSync(fd, `${process.pid}\n`);
      fs.closeSync(fd);
      return file;
    } catch (e) {
      if (errno(e) !== 'EEXIST') throw e;
    }
    const lock = readLock(dir);
    if (lock?.pid && alive(lock.pid)) {
      throw new GatewayError('ALREADY_RUNNING', `a gateway started by ibkr-auth is already running from ${dir} (pid ${lock.pid}, lock ${file}). \`ibkr-auth gateway stop\` stops it.`, { status: 409 });
    }
    fs.rmSync(file, { force: true }); // stale: its process is gone
  }
  throw new GatewayError('ALREADY_RUNNING', `could not take the lock ${file}: another start is under way.`, { status: 409 });
}

/** Does anything answer HTTP at the origin? (TLS is not verified for this probe only.) */
function prober(origin) {
  const f = origin.startsWith('https:') ? gatewayFetch({ baseUrl: origin, insecure: true }) : globalThis.fetch;
  return async (ms = 2000) => {
    try {
      const r = await f(`${origin}/`, { method: 'GET', redirect: 'manual', signal: AbortSignal.timeout(ms) });
      await r.arrayBuffer().catch(() => {});
      return r.status;
    } catch {
      return null;
    }
  };
}

function logTail(file, lines = 15) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).map((l) => `  | ${l}`).join('\n');
  } catch {
    return '';
  }
}

/** Runs `bin/run.sh root/conf.yaml` in gateway_dir, detached, until the gateway answers. */
async function startGateway(cfg, { timeoutS = 60 } = {}) {
  const dir = gatewayDir(cfg);
  const java = checkJava();
  const origin = gatewayOrigin(cfg);
  const probe = prober(origin);
  const lock = claimLock(dir);
  let child;
  try {
    if (await probe(1500) !== null) {
      throw new GatewayError('ALREADY_RUNNING', `something already answers at ${origin} (a gateway started some other way?). Stop it first, or set gateway_url to this gateway's address (root/conf.yaml's listenPort).`, { status: 409 });
    }
    const log = path.join(dir, LOG_FILE);
    const fd = fs.openSync(log, 'a', 0o600);
    fs.writeSync(fd, `--- ${new Date().toISOString()} ibkr-auth gateway start: bin/run.sh root/conf.yaml (${java})\n`);
    child = spawn(path.join(dir, 'bin/run.sh'), ['root/conf.yaml'], { cwd: dir, detached: true, stdio: ['ignore', fd, fd], windowsHide: true });
    fs.closeSync(fd);
    await new Promise((resolve, reject) => { child.once('spawn', resolve); child.once('error', reject); });
    fs.writeFileSync(lock, `${child.pid}\n`);
    let exited = null;
    child.once('exit', (code, signal) => { exited = signal ?? `exit code ${code}`; });
    child.unref();
    const deadline = Date.now() + timeoutS * 1000;
    for (;;) {
      if (exited) {
        fs.rmSync(lock, { force: true });
        throw new GatewayError('GATEWAY_EXITED', `bin/run.sh ended (${exited}) before the gateway answered at ${origin}. The end of ${log}:\n${logTail(log)}`);
      }
      const status = await probe(2000);
      if (status !== null) return { started: true, pid: child.pid, url: origin, dir, log, java };
      if (Date.now() > deadline) {
        throw new GatewayError('START_TIMEOUT', `the gateway (pid ${child.pid}) does not answer at ${origin} after ${timeoutS} s; it is still running. See ${log}; check that gateway_url matches root/conf.yaml's listenPort; \`ibkr-auth gateway stop\` stops it.`, { status: 504 });
      }
      await sleep(500);
    }
  } catch (e) {
    if (!child?.pid) fs.rmSync(lock, { force: true });
    throw e;
  }
}

/** SIGTERM to the gateway's process group, SIGKILL after timeoutS; the lock is removed. */
async function stopGateway(cfg, { timeoutS = 15 } = {}) {
  const dir = gatewayDir(cfg, { files: false });
  const file = path.join(dir, LOCK_FILE);
  const lock = readLock(dir);
  if (!lock) return { stopped: false, running: false, dir, message: `no gateway started by ibkr-auth is running from ${dir} (no ${LOCK_FILE})` };
  if (!lock.pid || !alive(lock.pid)) {
    fs.rmSync(file, { force: true });
    return { stopped: false, running: false, dir, message: `the gateway had already ended; removed its stale lock ${file}` };
  }
  const signal = (sig) => {
    try {
      process.kill(-lock.pid, sig); // the group: bin/run.sh and the java it started
    } catch (e) {
      if (errno(e) !== 'ESRCH') throw e;
      try { process.kill(lock.pid, sig); } catch (e2) { if (errno(e2) !== 'ESRCH') throw e2; }
    }
  };
  const gone = async (ms) => {
    for (const end = Date.now() + ms; Date.now() < end; await sleep(100)) if (!alive(lock.pid)) return true;
    return !alive(lock.pid);
  };
  signal('SIGTERM');
  let forced = false;
  if (!(await gone(timeoutS * 1000))) {
    forced = true;
    signal('SIGKILL');
    if (!(await gone(5000))) throw new GatewayError('STOP_FAILED', `pid ${lock.pid} is still alive after SIGKILL; the lock ${file} is left in place.`);
  }
  fs.rmSync(file, { force: true });
  return { stopped: true, pid: lock.pid, forced, dir, message: `stopped the gateway (pid ${lock.pid}${forced ? `, killed after ${timeoutS} s` : ''})` };
}

async function logoutGateway(cfg, ctx) {
  try {
    await makeSession(cfg, ctx).logout();
    return { loggedOut: true };
  } catch (e) {
    if (e?.code === 'UNAUTHORIZED') return { loggedOut: true, wasLoggedIn: false };
    throw e;
  }
}

async function resetLockout(cfg) {
  const guard = configuredGuard(cfg);
  return { reset: true, file: guard.file, before: await guard.reset() };
}

// ---- keepalive -------------------------------------------------------------------------------

async function keepalive(cfg, ctx, o) {
  const seconds = Number(o.interval ?? 60);
  if (!Number.isFinite(seconds) || seconds < 1) throw new ctx.UsageError('--interval must be a number of seconds, at least 1');
  loginOptions(cfg); // a re-login must be possible: say now what is missing
  const session = makeSession(cfg, ctx);
  out.info(`gateway keep-alive every ${seconds} s, logging in again within the lockout guard; Ctrl-C to stop${o.logout ? ' (and log out)' : ''}`);
  let lockReported = false;

  const tick = async () => {
    const time = clock(Date.now());
    const line = (mark, text, data) => (o.json ? out.json({ time, ...data }) : out.line(`${time} ${mark} ${text}`));
    const fail = (e, prefix = '') => line('✗', `${prefix}${e?.code ?? 'ERROR'}: ${explain(e, cfg)}`, { error: { code: e?.code ?? 'ERROR', message: explain(e, cfg) } });
    let lost;
    try {
      const r = await session.keepAliveOnce();
      if (r.authenticated) {
        lockReported = false;
        return line('✓', `tickled; authenticated${r.reinitialised ? ' (re-initialised)' : ''}`, r);
      }
      lost = 'not authenticated';
    } catch (e) {
      if (e?.code !== 'UNAUTHORIZED') return fail(e);
      lost = 'the gateway is not logged in';
    }
    // The gateway lost its login: log in again. The guard decides (and refuses without sending
    // anything); a refusal that lasts is printed once, then a short line per tick.
    try {
      const st = await login(cfg, ctx);
      lockReported = false;
      return line(st.authenticated ? '✓' : '!', `${lost}: logged in again; ${st.authenticated ? 'authenticated' : 'NOT authenticated'}`, { relogin: true, ...st });
    } catch (e) {
      if (e instanceof ConfigError) throw e;
      if (e?.code === 'RATE_LIMITED') return line('!', `${lost}; not logging in again yet: ${e.message}`, { authenticated: false, relogin: false, error: { code: e.code, message: e.message } });
      if (LOCKOUT_CODES.has(e?.code)) {
        if (lockReported) return line('!', `${lost}; not logging in again: locked out (\`ibkr-auth gateway reset-lockout\`)`, { authenticated: false, relogin: false, error: { code: e.code } });
        lockReported = true;
        return line('✗', `${e.code}: ${lost}; ${e.message}`, { authenticated: false, relogin: false, error: { code: e.code, message: e.message } });
      }
      return fail(e, `${lost}; login: `);
    }
  };

  let busy = null;
  const run = () => { if (!busy) busy = tick().catch((e) => e).then((e) => { busy = null; return e; }); return busy; };
  const first = await run();
  if (first instanceof Error) throw first;
  const timer = setInterval(run, seconds * 1000);
  const stopped = await new Promise((resolve) => {
    const stop = () => { process.off('SIGINT', stop); process.off('SIGTERM', stop); resolve(null); };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  clearInterval(timer);
  if (busy) await busy;
  if (o.logout) {
    await logoutGateway(cfg, ctx);
    out.info('logged out');
  }
  out.info('stopped');
  return stopped;
}

// ---- the control service ----------------------------------------------------------------------

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/i;

function httpStatusFor(e) {
  if (e instanceof GatewayError) return e.status;
  if (e instanceof ConfigError) return 500;
  if (e instanceof IbkrAuthError) return HTTP_STATUS.get(e.code) ?? 502;
  return 500;
}

async function serve(cfg, ctx, o) {
  const host = o.host ?? '127.0.0.1';
  const port = Number(o.port ?? process.env.IB_GATEWAY_SERVICE_PORT ?? 5050);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ctx.UsageError('--port must be a port number (0 picks a free one)');
  const timeoutS = Number(o.timeout ?? 60);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new ctx.UsageError('--timeout must be a number of seconds');
  const token = cfg.values.gateway_serve_token;
  const loopback = LOOPBACK.test(host.replace(/^\[|\]$/g, ''));
  if (!loopback && !token) {
    throw new GatewayError('TOKEN_REQUIRED', `refusing to listen on ${host} without a token: anyone who reaches that address could log your account in and out. `
      + `Set gateway_serve_token (${KEYS.gateway_serve_token.env}), e.g. to the output of \`openssl rand -hex 32\`; clients then send "Authorization: Bearer <token>". Or listen on 127.0.0.1 (the default).`, { exit: 2 });
  }
  if (token && token.length < 16) throw new GatewayError('TOKEN_TOO_SHORT', `gateway_serve_token (${cfg.sources.gateway_serve_token}) is too short: use at least 16 characters, e.g. \`openssl rand -hex 32\`.`, { exit: 2 });
  const expected = token ? crypto.createHash('sha256').update(token).digest() : null;
  const secrets = secretValues(cfg);
  const redact = (text) => secrets.reduce((t, s) => t.split(s).join('[redacted]'), text);

  // One of each operation at a time: concurrent callers share the one under way.
  const running = new Map();
  const once = (name, fn) => {
    if (!running.has(name)) running.set(name, Promise.resolve().then(fn).finally(() => running.delete(name)));
    return running.get(name);
  };
  const guardOrError = () => guardState(cfg).catch((e) => ({ error: { code: e?.code ?? 'ERROR', message: e?.message ?? String(e) } }));
  const routes = {
    'GET /status': async () => gatewayStatus(cfg, ctx),
    'POST /start': async () => once('start', () => startGateway(cfg, { timeoutS })),
    'POST /stop': async () => once('stop', () => stopGateway(cfg)),
    'POST /login': async () => ({ loggedIn: true, status: await once('login', () => login(cfg, ctx)), guard: await guardOrError() }),
    'POST /logout': async () => once('logout', () => logoutGateway(cfg, ctx)),
    'POST /reset-lockout': async () => {
      if (!o['allow-reset']) {
        throw new GatewayError('RESET_DISABLED', 'resetting the lockout guard through the service is off: a person should look at why logins failed first. Run `ibkr-auth gateway reset-lockout` where the service runs, or start the service with --allow-reset.', { status: 403 });
      }
      const r = await once('reset-lockout', () => resetLockout(cfg));
      return { reset: true, before: r.before };
    },
  };

  // The routes users of older gateway services script against: GET/POST/PUT/DELETE /api/service
  // (status, start, login, stop). Credentials come from this service's configuration only.
  Object.assign(routes, {
    'GET /api/service': routes['GET /status'],
    'POST /api/service': routes['POST /start'],
    'PUT /api/service': routes['POST /login'],
    'DELETE /api/service': routes['POST /stop'],
  });

  const authorized = (req) => {
    if (!expected) return true;
    const m = /^Bearer +(\S+) *$/i.exec(String(req.headers.authorization ?? ''));
    const got = crypto.createHash('sha256').update(m ? m[1] : '').digest();
    return crypto.timingSafeEqual(got, expected) && m !== null;
  };
  const send = (res, status, body, headers = {}) => {
    const text = redact(JSON.stringify(body));
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  };
  const error = (res, status, code, message, headers) => send(res, status, { error: { code, message } }, headers);

  const server = http.createServer(async (req, res) => {
    const started = Date.now();
    res.on('finish', () => process.stderr.write(`${clock(started)} ${req.method} ${req.url} ${res.statusCode} ${Date.now() - started} ms\n`));
    req.resume(); // no endpoint reads a body
    const url = new URL(req.url, 'http://service');
    if (!authorized(req)) return error(res, 401, 'BAD_TOKEN', 'send "Authorization: Bearer <gateway_serve_token>"', { 'www-authenticate': 'Bearer' });
    // Browsers send Origin on cross-site requests: a web page must not drive this service.
    if (req.headers.origin !== undefined) return error(res, 403, 'FORBIDDEN', 'requests from web pages (with an Origin header) are refused');
    const route = routes[`${req.method} ${url.pathname}`];
    if (route && Number(req.headers['content-length'] ?? 0) > 0) {
      return error(res, 400, 'BODY_REFUSED', 'this service takes no request body: it never receives credentials over HTTP. Configure them where it runs '
        + '(gateway_username/gateway_password and the second factor in ibkr-auth.yaml, or IB_USERNAME, IB_PASSWORD, IB_AUTH_TOTP_SECRET …).');
    }
    if (!route) {
      const methods = ['GET', 'POST', 'PUT', 'DELETE'].filter((m) => routes[`${m} ${url.pathname}`]);
      if (methods.length) return error(res, 405, 'METHOD_NOT_ALLOWED', `${url.pathname} takes ${methods.join(', ')}`, { allow: methods.join(', ') });
      return error(res, 404, 'NOT_FOUND', `no such endpoint; the endpoints: ${Object.keys(routes).join(', ')}`);
    }
    try {
      return send(res, 200, await route());
    } catch (e) {
      const status = httpStatusFor(e);
      const known = e instanceof GatewayError || e instanceof ConfigError || e instanceof IbkrAuthError;
      if (!known) process.stderr.write(`${clock(Date.now())} ${req.method} ${url.pathname}: ${e?.stack ?? e}\n`);
      const code = e instanceof ConfigError ? 'configuration' : known ? e.code : 'ERROR';
      return error(res, status, code, known ? explain(e, cfg) : 'an unexpected error; the service\'s log (stderr) has the details');
    }
  });
  await new Promise((resolve, reject) => { server.once('error', reject); server.listen(port, host, resolve); });
  const addr = server.address();
  const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  if (o.json) out.json({ listening: url, token: Boolean(token), endpoints: Object.keys(routes) });
  else {
    out.ok(`gateway control service on ${url} (${token ? 'bearer token required' : 'no token: this machine only'})`);
    out.line(`  ${Object.keys(routes).join(', ')}`);
    out.line('  Ctrl-C to stop');
  }
  await new Promise((resolve) => { process.once('SIGINT', resolve); process.once('SIGTERM', resolve); });
  out.info('stopping: no new requests; waiting for the ones under way');
  server.close();
  server.closeIdleConnections?.();
  let timer;
  await Promise.race([Promise.allSettled([...running.values()]), new Promise((r) => { timer = setTimeout(r, 30_000); })]);
  clearTimeout(timer);
  server.closeAllConnections?.();
  out.info('stopped');
}

// ---- the commands ------------------------------------------------------------------------------

export const GATEWAY_COMMANDS = ['login', 'status', 'keepalive', 'logout', 'reset-lockout', 'start', 'stop', 'serve'];

/** `ibkr-auth gateway <sub>`; returns the exit code. */
export async function runGateway(args, o, ctx) {
  const [sub] = args;
  if (!GATEWAY_COMMANDS.includes(sub)) throw new ctx.UsageError(`usage: ibkr-auth gateway <${GATEWAY_COMMANDS.join('|')}>${sub ? ` (not "${sub}")` : ''}`);
  const cfg = ctx.cfg();
  const seconds = (name, fallback) => {
    const n = Number(o[name] ?? fallback);
    if (!Number.isFinite(n) || n <= 0) throw new ctx.UsageError(`--${name} must be a number of seconds`);
    return n;
  };
  switch (sub) {
    case 'login': {
      const spin = out.spinner(`logging in to the gateway at ${gatewayOrigin(cfg)}`);
      let status;
      try {
        status = await login(cfg, ctx);
      } catch (e) {
        spin.fail();
        if (e instanceof IbkrAuthError && !LOCKOUT_CODES.has(e.code)) {
          const g = await guardState(cfg).catch(() => null);
          if (g && !g.error && g.failures > 0) e.message += ` (${g.failures} failed login${g.failures === 1 ? '' : 's'} of ${g.maxAttempts} allowed; at the limit ibkr-auth stops logging in until \`ibkr-auth gateway reset-lockout\`.)`;
        }
        throw e;
      }
      spin.done('gateway logged in');
      if (o.json) out.json(status);
      else out.ok(status.authenticated ? 'brokerage session authenticated' : 'brokerage session NOT authenticated', ctx.statusLines(status));
      return status.authenticated ? 0 : 1;
    }
    case 'status': {
      const s = await gatewayStatus(cfg, ctx);
      const g = s.gateway;
      if (o.json) out.json(s);
      else {
        const state = !g.reachable ? `${out.red('not reachable')}: ${g.error?.message ?? ''}` : !g.loggedIn ? out.yellow('not logged in') : g.error ? `${out.red(g.error.code)}: ${g.error.message}` : 'logged in';
        out.line(`${g.authenticated ? out.green('✓') : out.red('✗')} gateway ${g.url}: ${state}`);
        if (g.loggedIn && !g.error) for (const l of ctx.statusLines(g)) out.line(`  ${l}`);
        if (s.process) out.line(`  process: ${s.process.running ? `running, pid ${s.process.pid}` : s.process.staleLock ? 'not running (stale lock)' : 'not started by ibkr-auth'}; log ${s.process.log}`);
        for (const l of guardLines(s.guard)) out.line(`  ${l}`);
      }
      return g.authenticated ? 0 : 1;
    }
    case 'keepalive':
      await keepalive(cfg, ctx, o);
      return 0;
    case 'logout': {
      const r = await logoutGateway(cfg, ctx);
      if (o.json) out.json(r);
      else out.ok(r.wasLoggedIn === false ? 'the gateway was not logged in' : 'logged out');
      return 0;
    }
    case 'reset-lockout': {
      const r = await resetLockout(cfg);
      const b = r.before;
      if (o.json) out.json(r);
      else if (!b.failures && !b.lockedOut) out.ok(`nothing to reset: no failed logins recorded (${r.file})`);
      else {
        out.ok(`lockout guard reset (${r.file})`, [
          `it had ${b.failures} failed login${b.failures === 1 ? '' : 's'} of ${b.maxAttempts} allowed; locked out: ${b.lockedOut ? 'yes' : 'no'}`,
          ...(b.lastFailure ? [`last failure: ${b.lastFailure.code} at ${new Date(b.lastFailure.at).toISOString()}: ${b.lastFailure.message}`] : []),
        ]);
      }
      return 0;
    }
    case 'start': {
      const r = await startGateway(cfg, { timeoutS: seconds('timeout', 60) });
      if (o.json) out.json(r);
      else out.ok(`gateway running at ${r.url}`, [`pid ${r.pid}; log ${r.log}`, `java: ${r.java}`, 'stop it with `ibkr-auth gateway stop`']);
      return 0;
    }
    case 'stop': {
      const r = await stopGateway(cfg, { timeoutS: seconds('timeout', 15) });
      if (o.json) out.json(r);
      else out.ok(r.message);
      return 0;
    }
    case 'serve':
      await serve(cfg, ctx, o);
      return 0;
    default:
      return 2;
  }
}
