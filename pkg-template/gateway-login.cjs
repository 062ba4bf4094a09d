'use strict';
// Node only: logs a Client Portal Gateway in without a browser. The protocol's arithmetic and the
// judging of every reply (SRP-6, the EKX, TOTP, OCRA, the XML) are the wasm core's `GatewayLogin`,
// `totp` and `ocra`; this file is the driver: HTTP over the injected fetch with its own cookie jar,
// the second factor of the user's choice, the durable lockout guard and the status poll.
//
// The guard is the part that matters most. IBKR disables an account after repeated failed logins,
// and a keeper that retries in a loop is how people get there. So: the failure count is written to
// disk (fsync, atomic rename) BEFORE anything is sent, and cleared only by a login that succeeded;
// a crash or a timeout mid-login therefore counts. Failures back off (1 min, 1 h, 6 h) and stop at
// `maxAttempts` until a person resets the guard. When the guard refuses, the gateway is not contacted.
const node = (name) => require(`node:${name}`);
const { IbkrAuthError } = require('./errors.cjs');

const DEFAULT_GATEWAY = 'https://localhost:5000';
const DEFAULT_MAX_ATTEMPTS = 4;
/** Waits after the 1st, 2nd, 3rd… failure (the last repeats). */
const BACKOFF_MS = [60_000, 3_600_000, 6 * 3_600_000];
const GUARD_VERSION = 1;
/** Second-factor types the gateway names in `sftypes`, per configured kind. */
const SF_CODES = { totp: ['4'], sms: ['4.2'], ocra: ['5.2a', '5.2i'] };
const SF_NAMES = { 4: 'TOTP (authenticator app)', 4.2: 'SMS code', '5.2a': 'IB Key (Android)', '5.2i': 'IB Key (iOS)', 3: 'security code card', 4.1: 'digital security card', 5.1: 'digital security card+', 5: 'platinum/gold card', 6: 'temporary security code' };
/** The guard refuses with this code when it waits (back-off) and with LOCKED_OUT when it stopped. */
const WAIT_CODE = 'RATE_LIMITED';
/** Logins in flight in this process, per guard file: a second caller shares the first's login. */
const inflight = new Map();

/** A Node system error's code (ENOENT …), not an IbkrAuthError code. */
const errno = (e) => e?.code;
const sleep = (ms, signal) => new Promise((resolve, reject) => {
  if (signal?.aborted) return reject(abortError(signal));
  const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
  const onAbort = () => { clearTimeout(t); reject(abortError(signal)); };
  signal?.addEventListener('abort', onAbort, { once: true });
});
const abortError = (signal) => new IbkrAuthError('ABORTED', 'the gateway login was cancelled by its AbortSignal.', { cause: signal?.reason });

function humanWait(ms) {
  if (ms >= 3_600_000) return `${Math.round(ms / 360_000) / 10} h`;
  if (ms >= 60_000) return `${Math.round(ms / 6_000) / 10} min`;
  return `${Math.ceil(ms / 1000)} s`;
}

// ---- the lockout guard ------------------------------------------------------------------------

function readJsonFile(file) {
  let text;
  try {
    text = node('fs').readFileSync(file, 'utf8');
  } catch (e) {
    if (errno(e) === 'ENOENT') return null;
    throw new IbkrAuthError('INVALID_ARGUMENT', `${file} cannot be read (${errno(e)}). Check its permissions.`, { cause: e });
  }
  try {
    return JSON.parse(text);
  } catch {
    return { corrupt: true };
  }
}

/** Writes `value` as JSON to `file`: a temporary file, fsync, rename, mode 0600; the directory too. */
function writeJsonFile(file, value) {
  try {
    writeJsonFileRaw(file, value);
  } catch (e) {
    throw new IbkrAuthError('INVALID_ARGUMENT', `cannot write ${file} (${errno(e) ?? e?.message}): the login keeps its lockout guard (and an IB Key counter) on disk. Check the directory and its permissions, or choose another path (guard: { file }).`, { cause: e });
  }
}

function writeJsonFileRaw(file, value) {
  const fs = node('fs');
  const path = node('path');
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${Date.now().toString(36)}.tmp`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeFileSync(fd, `${JSON.stringify(value, null, 2)}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  try {
    const dfd = fs.openSync(dir, 'r');
    try { fs.fsyncSync(dfd); } finally { fs.closeSync(dfd); }
  } catch { /* directories cannot be fsynced on every platform; the rename is still atomic */ }
}

/**
 * The guard's options: `file`, or — there is always a guard — the default file of a user at a
 * gateway, ~/.ibkr-auth/gateway-guard-<hash>.json (the name holds no username).
 */
function checkGuardOptions(o) {
  if (o && o.file === undefined && typeof o.username === 'string' && o.username) {
    let origin = DEFAULT_GATEWAY;
    try { origin = new URL(o.baseUrl ?? DEFAULT_GATEWAY).origin; } catch { /* the login's own check says so */ }
    const id = node('crypto').createHash('sha256').update(`${o.username.toLowerCase()}@${origin}`).digest('hex').slice(0, 16);
    o = { ...o, file: node('path').join(node('os').homedir(), '.ibkr-auth', `gateway-guard-${id}.json`) };
  }
  if (!o || typeof o.file !== 'string' || !o.file) {
    throw new IbkrAuthError('INVALID_ARGUMENT', 'the lockout guard needs `file` (the path where it keeps the failed-login count), or `username` and `baseUrl` for its default file.');
  }
  const max = o.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  if (!Number.isInteger(max) || max < 1 || max > 10) {
    throw new IbkrAuthError('INVALID_ARGUMENT', `guard.maxAttempts must be a whole number from 1 to 10 (default ${DEFAULT_MAX_ATTEMPTS}; IBKR locks accounts after a few failures), got ${JSON.stringify(max)}.`);
  }
  return { file: node('path').resolve(o.file), maxAttempts: max, clock: o.clock ?? Date.now };
}

/** The guard's state as users see it, from the file's contents (null: no file yet). */
function guardView(raw, maxAttempts, now) {
  // A damaged guard file must not unlock anything: anything but what this file writes is a guard
  // that stopped.
  const valid = raw === null || (typeof raw === 'object' && raw.version === GUARD_VERSION && Number.isInteger(raw.failures) && raw.failures >= 0);
  if (!valid) {
    return { failures: maxAttempts, maxAttempts, lockedOut: true, nextAttemptAt: null, accountLocked: false, corrupt: true,
      lastFailure: { code: 'LOCKED_OUT', message: 'the guard file is damaged', at: now } };
  }
  const failures = raw?.failures ?? 0;
  const accountLocked = raw?.accountLocked === true;
  const lockedOut = accountLocked || failures >= maxAttempts;
  const next = Number.isFinite(raw?.nextAttemptAt) ? raw.nextAttemptAt : null;
  return {
    failures,
    maxAttempts,
    lockedOut,
    accountLocked,
    nextAttemptAt: lockedOut ? null : (next !== null && next > now ? next : null),
    lastFailure: raw?.lastFailure ?? null,
    lastSuccessAt: raw?.lastSuccessAt ?? null,
  };
}

/**
 * The lockout guard of a gateway login, kept in `file` (or the default file of `username` at `baseUrl`).
 * @param {{ file?: string, username?: string, baseUrl?: string, maxAttempts?: number, clock?: () => number }} o
 */
function loginGuard(o) {
  const { file, maxAttempts, clock } = checkGuardOptions(o);
  return {
    file,
    maxAttempts,
    async read() {
      return guardView(readJsonFile(file), maxAttempts, clock());
    },
    /** A person's decision: forget the failures and the back-off. */
    async reset() {
      const before = guardView(readJsonFile(file), maxAttempts, clock());
      writeJsonFile(file, { version: GUARD_VERSION, failures: 0, nextAttemptAt: null, lastFailure: null, lastSuccessAt: before.lastSuccessAt, resetAt: clock() });
      return before;
    },
  };
}

/** Refuses (throws) unless the guard allows an attempt now; then counts it on disk and returns the hooks. */
function guardBegin(g, logger) {
  const now = g.clock();
  const raw = readJsonFile(g.file);
  const v = guardView(raw, g.maxAttempts, now);
  const last = v.lastFailure ? ` The last failure: ${v.lastFailure.code} at ${new Date(v.lastFailure.at).toISOString()}.` : '';
  if (v.accountLocked) {
    throw new IbkrAuthError('LOCKED_OUT', `the lockout guard stopped gateway logins: IBKR reported that the account reached its maximum of failed logins.${last} `
      + 'Unlock the account with IBKR (Client Services, or the password reset on the IBKR website), then run `ibkr-auth gateway reset-lockout`. The gateway was not contacted.');
  }
  if (v.lockedOut) {
    throw new IbkrAuthError('LOCKED_OUT', `the lockout guard stopped gateway logins after ${v.failures} failed attempt${v.failures === 1 ? '' : 's'} (limit ${g.maxAttempts}), `
      + `so that IBKR does not lock the account.${last}${v.corrupt ? ` The guard file ${g.file} is damaged.` : ''} Check the username, the password and the second factor `
      + '(log in once in a browser if unsure), then run `ibkr-auth gateway reset-lockout` (or loginGuard({ file }).reset()). The gateway was not contacted.');
  }
  if (v.nextAttemptAt !== null) {
    const e = new IbkrAuthError(WAIT_CODE, `the lockout guard waits after ${v.failures} failed login${v.failures === 1 ? '' : 's'}: the next attempt is allowed at `
      + `${new Date(v.nextAttemptAt).toISOString()} (in ${humanWait(v.nextAttemptAt - now)}).${last} Fix the cause first; `
      + '`ibkr-auth gateway reset-lockout` clears the wait. The gateway was not contacted.');
    e.retryAt = v.nextAttemptAt;
    throw e;
  }
  const base = { version: GUARD_VERSION, lastSuccessAt: v.lastSuccessAt, lastFailure: v.lastFailure };
  // Counted before the first byte goes out: a crash from here on still counts.
  const failures = v.failures + 1;
  writeJsonFile(g.file, { ...base, failures, nextAttemptAt: null, attemptStartedAt: now, pid: process.pid });
  logger.debug?.(`lockout guard: attempt ${failures} of ${g.maxAttempts} recorded in ${g.file}`);
  return {
    failures,
    /** Nothing reached the gateway: the attempt is taken back. */
    undo() { writeJsonFile(g.file, { ...base, failures: v.failures, nextAttemptAt: null }); },
    success() { writeJsonFile(g.file, { version: GUARD_VERSION, failures: 0, nextAttemptAt: null, lastFailure: null, lastSuccessAt: g.clock() }); },
    failure(err) {
      const at = g.clock();
      const accountLocked = err.code === 'ACCOUNT_LOCKED';
      const stopped = accountLocked || failures >= g.maxAttempts;
      const wait = stopped ? null : BACKOFF_MS[Math.min(failures, BACKOFF_MS.length) - 1];
      writeJsonFile(g.file, { ...base, failures, accountLocked, nextAttemptAt: wait === null ? null : at + wait, lastFailure: { code: err.code, message: err.message, at } });
      return stopped
        ? ` The lockout guard has now stopped gateway logins (${failures} of ${g.maxAttempts} failed): fix the cause, then run \`ibkr-auth gateway reset-lockout\`.`
        : ` The lockout guard counted this failure (${failures} of ${g.maxAttempts}); the next attempt is allowed in ${humanWait(wait)}.`;
    },
  };
}

/** One login at a time per guard file across processes: an exclusive lock file with our pid. */
function takeLoginLock(g) {
  const fs = node('fs');
  const lock = `${g.file}.lock`;
  const cannot = (e) => new IbkrAuthError('INVALID_ARGUMENT', `cannot create the login lock ${lock} (${errno(e) ?? e?.message}). Check the guard file's directory and its permissions.`, { cause: e });
  try {
    fs.mkdirSync(node('path').dirname(lock), { recursive: true, mode: 0o700 });
  } catch (e) {
    throw cannot(e);
  }
  for (let i = 0; i < 2; i += 1) {
    try {
      const fd = fs.openSync(lock, 'wx', 0o600);
      fs.writeSync(fd, String(process.pid));
      fs.closeSync(fd);
      return () => { try { fs.unlinkSync(lock); } catch { /* already gone */ } };
    } catch (e) {
      if (errno(e) !== 'EEXIST') throw cannot(e);
      let pid;
      try {
        pid = Number(fs.readFileSync(lock, 'utf8'));
      } catch (err) {
        throw cannot(err);
      }
      let alive = false;
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid) {
        try { process.kill(pid, 0); alive = true; } catch (err) { alive = errno(err) === 'EPERM'; }
      }
      if (alive) {
        throw new IbkrAuthError(WAIT_CODE, `another gateway login (process ${pid}) is in progress with the guard file ${g.file}; wait for it to finish. The gateway was not contacted.`);
      }
      try { fs.unlinkSync(lock); } catch { /* raced with its owner's cleanup */ }
    }
  }
  throw new IbkrAuthError(WAIT_CODE, `another gateway login is in progress with the guard file ${g.file}; wait for it to finish.`);
}

// ---- HTTP with a cookie jar -------------------------------------------------------------------

class CookieJar {
  #cookies = new Map();

  /** Takes the Set-Cookie headers of a response. */
  take(headers) {
    const list = typeof headers.getSetCookie === 'function'
      ? headers.getSetCookie()
      : (headers.get('set-cookie') ? headers.get('set-cookie').split(/,(?=\s*[^;,=\s]+=)/) : []);
    for (const line of list) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => {
        const [k, v = ''] = a.split('=').map((s) => s.trim());
        if (/^max-age$/i.test(k)) return Number(v) <= 0;
        if (/^expires$/i.test(k)) return Date.parse(v) < Date.now();
        return false;
      });
      if (expired) this.#cookies.delete(name); else this.#cookies.set(name, value);
    }
  }

  set(name, value) { this.#cookies.set(name, value); }

  header() { return [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; '); }
}

function randomSbid() {
  const b = new Uint8Array(12);
  globalThis.crypto.getRandomValues(b);
  return Buffer.from(b).toString('hex') + Date.now().toString(36);
}

// ---- the login --------------------------------------------------------------------------------

function checkLoginOptions(o) {
  const bad = (m) => { throw new IbkrAuthError('INVALID_ARGUMENT', m); };
  if (!o || typeof o !== 'object') bad('gatewayLogin needs an options object: { username, password, secondFactor?, guard, baseUrl?, fetch? }.');
  if (typeof o.username !== 'string' || !o.username.trim()) bad('gatewayLogin needs `username`: your IBKR username.');
  if (typeof o.password !== 'string' || !o.password) bad('gatewayLogin needs `password`: your IBKR password.');
  let origin;
  try {
    origin = new URL(o.baseUrl ?? DEFAULT_GATEWAY).origin;
  } catch {
    bad('gatewayLogin: `baseUrl` must be the gateway\'s origin, e.g. https://localhost:5000.');
  }
  const fetchImpl = o.fetch ?? globalThis.fetch;
  if (typeof fetchImpl !== 'function') bad('gatewayLogin needs `fetch` (e.g. gatewayFetch({ baseUrl, certificate })).');
  const sf = o.secondFactor;
  if (sf !== undefined && sf !== null) {
    if (typeof sf !== 'object' || !SF_CODES[sf.type]) bad('secondFactor.type must be "totp", "sms" or "ocra".');
    if (sf.type === 'totp' && (typeof sf.secret !== 'string' || !sf.secret.trim())) bad('secondFactor: { type: "totp", secret } needs the base32 secret shown when TOTP was set up for the IBKR account.');
    if (sf.type === 'sms' && typeof sf.code !== 'function') bad('secondFactor: { type: "sms", code } needs `code`: an async function that returns the SMS code IBKR sent.');
    if (sf.type === 'ocra') {
      if (typeof sf.secret !== 'string' || !/^[0-9a-fA-F]+$/.test(sf.secret)) bad('secondFactor: { type: "ocra", secret } needs the IB Key OCRA secret in hex.');
      if (typeof sf.pin !== 'string' || !sf.pin) bad('secondFactor: { type: "ocra", pin } needs the IB Key PIN.');
      const c = sf.counter;
      if (!(Number.isSafeInteger(c) && c >= 0) && !(c && typeof c.file === 'string')) bad('secondFactor: { type: "ocra", counter } must be a number (the next counter) or { file } where the counter is kept.');
    }
  }
  if (o.guard !== undefined && o.guard !== null && typeof o.guard !== 'object') bad('guard must be { file, maxAttempts? }: where the lockout guard counts failed logins.');
  const timeoutMs = o.timeoutMs ?? 30_000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) bad('timeoutMs must be a positive number of milliseconds.');
  return { origin, fetchImpl, timeoutMs };
}

/** The OCRA counter: read, used, and the next one persisted BEFORE the answer is sent. */
function ocraCounter(sf) {
  if (Number.isSafeInteger(sf.counter)) {
    let n = sf.counter;
    return { take() { const c = n; n += 1; sf.counter = n; return c; } };
  }
  const file = node('path').resolve(sf.counter.file);
  return {
    take() {
      const raw = readJsonFile(file);
      const c = raw === null ? 0 : raw.counter;
      if (!Number.isSafeInteger(c) || c < 0) throw new IbkrAuthError('INVALID_ARGUMENT', `the IB Key counter file ${file} is damaged: it must hold {"counter": N}.`);
      writeJsonFile(file, { counter: c + 1 });
      return c;
    },
  };
}

/**
 * Logs the gateway in: SRP-6 password proof, the second factor, the dispatcher, the status poll.
 * @returns {Promise<object>} the brokerage session's status (authenticated, competing, connected …)
 */
function makeGatewayLogin(glue) {
  return function gatewayLogin(o) {
    let ctx;
    try {
      ctx = checkLoginOptions(o);
      const clock = o.clock ?? Date.now;
      const given = o.guard ?? { username: o.username, baseUrl: ctx.origin };
      ctx = { ...ctx, clock, logger: o.logger ?? {}, guard: checkGuardOptions({ ...given, clock: given.clock ?? clock }) };
    } catch (e) {
      return Promise.reject(e);
    }
    const running = inflight.get(ctx.guard.file);
    if (running) return running;
    const p = loginGuarded(glue, o, ctx).finally(() => inflight.delete(ctx.guard.file));
    inflight.set(ctx.guard.file, p);
    return p;
  };
}

async function loginGuarded(glue, o, ctx) {
  const { guard, logger, origin } = ctx;
  if (!o.guard) logger.info?.(`gateway login: lockout guard kept in ${guard.file} (pass guard: { file } to choose)`);
  checkSecondFactorSecrets(glue, o.secondFactor);
  if (o.signal?.aborted) throw abortError(o.signal);
  const release = takeLoginLock(guard);
  try {
    const attempt = guardBegin(guard, logger);
    let contacted = false;
    try {
      await loginOnce(glue, o, { ...ctx, markContacted: () => { contacted = true; } });
    } catch (e0) {
      const e = e0 instanceof IbkrAuthError ? e0 : new IbkrAuthError('NETWORK', `the gateway login failed: ${e0?.message ?? e0}`, { cause: e0 });
      if (!contacted) {
        attempt.undo();
      } else {
        e.message += attempt.failure(e);
      }
      throw e;
    }
    attempt.success();
    logger.info?.(`gateway login: logged in at ${origin}`);
  } finally {
    release();
  }
  // The login is done (and cleared in the guard); what follows is the brokerage session's status.
  return pollStatus(glue, o, ctx);
}

/** A malformed TOTP or OCRA secret is found before the gateway is contacted, not after the password proof. */
function checkSecondFactorSecrets(glue, sf) {
  try {
    if (sf?.type === 'totp') glue.totp({ secret: sf.secret, time: 0 });
    if (sf?.type === 'ocra') glue.ocra({ suite: 'OCRA-1:HOTP-SHA1-8:C-QN06-PSHA1', key: sf.secret, counter: 0, question: '0', pin: sf.pin });
  } catch (e) {
    throw new IbkrAuthError('INVALID_ARGUMENT', `secondFactor.secret cannot be used: ${e.message}`);
  }
}

async function loginOnce(glue, o, ctx) {
  const { origin, fetchImpl, timeoutMs, logger, clock } = ctx;
  const jar = new CookieJar();
  const signal = o.signal;

  const send = async (method, pathAndQuery, body, { step, expectText = false } = {}) => {
    if (signal?.aborted) throw abortError(signal);
    const timeout = AbortSignal.timeout(timeoutMs);
    const both = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const headers = { accept: expectText ? '*/*' : 'application/xml, text/xml, */*', 'user-agent': o.userAgent ?? 'ibkr-auth' };
    const cookie = jar.header();
    if (cookie) headers.cookie = cookie;
    let payload;
    if (body) {
      payload = new URLSearchParams(body).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    logger.debug?.(`gateway login: ${step}: ${method} ${pathAndQuery.replace(/\?.*$/, '')}`);
    let res;
    try {
      res = await fetchImpl(`${origin}${pathAndQuery}`, { method, headers, body: payload, redirect: 'manual', signal: both });
    } catch (e) {
      if (signal?.aborted) throw abortError(signal);
      if (timeout.aborted) throw new IbkrAuthError('TIMEOUT', `the gateway did not answer the login's ${step} step within ${timeoutMs} ms. Check that the gateway at ${origin} is running and responsive.`, { cause: e });
      throw new IbkrAuthError('NETWORK', `could not reach the gateway at ${origin} (${step}): ${e?.cause?.message ?? e?.message ?? e}. Check that it is running and that the certificate is trusted (gatewayFetch).`, { cause: e });
    }
    jar.take(res.headers);
    let text;
    try {
      text = await readLimited(res, 256 * 1024);
    } catch (e) {
      if (signal?.aborted) throw abortError(signal);
      if (timeout.aborted) throw new IbkrAuthError('TIMEOUT', `the gateway's reply to the login's ${step} step did not arrive within ${timeoutMs} ms.`, { cause: e });
      throw e;
    }
    return { res, text };
  };

  // 1. The login page: its cookies, following same-origin redirects by hand.
  let target = '/';
  for (let hops = 0; ; hops += 1) {
    const { res } = await send('GET', target, null, { step: 'login page', expectText: true });
    if (res.status >= 300 && res.status < 400 && res.headers.get('location') && hops < 5) {
      const next = new URL(res.headers.get('location'), `${origin}${target}`);
      if (next.origin !== origin) break;
      target = `${next.pathname}${next.search}`;
      continue;
    }
    if (res.status >= 500) throw new IbkrAuthError('HTTP_ERROR', `the gateway answered its login page with HTTP ${res.status}; it may still be starting. Try again in a minute.`, { status: res.status });
    break;
  }
  jar.set('SBID', randomSbid());

  const auth = new glue.GatewayLogin({ username: o.username, password: o.password });
  try {
    const authPath = () => `/sso/Authenticator?${Math.floor(Math.random() * 100001)}`;
    const post = async (form, step) => {
      const { res, text } = await send('POST', authPath(), form, { step });
      if (res.status !== 200) {
        throw new IbkrAuthError('HTTP_ERROR', `the gateway answered the login's ${step} step with HTTP ${res.status}. Check that ${origin} is a Client Portal Gateway.`, { status: res.status, serverMessage: text.slice(0, 200) });
      }
      return text;
    };

    // 2. INIT: the SRP parameters (again once if the gateway uses other ones than the default).
    ctx.markContacted();
    let init = auth.initReply(await post(auth.initForm(), 'INIT'));
    if (init.again) init = auth.initReply(await post(auth.initForm(), 'INIT'));
    if (init.again) throw new IbkrAuthError('UNEXPECTED_RESPONSE', 'the gateway changed its SRP parameters twice during one login; try again later.');

    // 3. COMPLETEAUTH: the password proof. M2 judges it.
    const proofForm = auth.completeAuthForm();
    const { secondFactors } = auth.completeAuthReply(await post(proofForm, 'COMPLETEAUTH'));
    jar.set('XYZAB_AM.LOGIN', auth.loginCookie);
    logger.debug?.(`gateway login: password accepted${secondFactors.length ? `; second factors offered: ${secondFactors.join(', ')}` : ''}`);

    // 4. The second factor, when the account has one.
    let response = '';
    if (secondFactors.length) {
      const sf = o.secondFactor;
      const offered = secondFactors.map((c) => `${c} (${SF_NAMES[c] ?? 'unknown kind'})`).join(', ');
      if (!sf) {
        throw new IbkrAuthError('SECOND_FACTOR_FAILED', `the account asks for a second factor (offered: ${offered}) and none is configured. `
          + 'Pass secondFactor: { type: "totp", secret } (recommended), { type: "sms", code }, or { type: "ocra", secret, pin, counter }.');
      }
      const code = SF_CODES[sf.type].find((c) => secondFactors.includes(c));
      if (!code) {
        throw new IbkrAuthError('SECOND_FACTOR_FAILED', `the configured second factor (${sf.type}) is not one the account offers (offered: ${offered}). `
          + 'Enable it for the account in IBKR\'s Client Portal, or configure one of the offered kinds.');
      }
      const challenge = auth.challengeReply(await post(auth.secondFactorForm(code), 'COMPLETEAUTH_1'));
      const want = sf.type === 'ocra' ? 'SWCR' : 'SWTK';
      if (challenge.type !== want) {
        throw new IbkrAuthError('UNEXPECTED_RESPONSE', `the gateway asked for a second factor of kind ${challenge.type} where ${sf.type} expects ${want}; this kind is not supported.`);
      }
      if (sf.type === 'totp') {
        response = glue.totp({ secret: sf.secret, time: clock() });
      } else if (sf.type === 'sms') {
        let got;
        try {
          got = await sf.code();
        } catch (e) {
          throw new IbkrAuthError('SECOND_FACTOR_FAILED', `secondFactor.code() failed: ${e?.message ?? e}. It must return the SMS code IBKR sent.`, { cause: e });
        }
        response = String(got ?? '').replace(/\s+/g, '');
        if (!/^\d{4,10}$/.test(response)) throw new IbkrAuthError('SECOND_FACTOR_FAILED', 'secondFactor.code() must return the digits of the SMS code IBKR sent.');
      } else {
        if (typeof challenge.challenge !== 'string' || !/^\d+$/.test(challenge.challenge)) {
          throw new IbkrAuthError('UNEXPECTED_RESPONSE', 'the gateway\'s IB Key challenge is not a number.');
        }
        const counter = ocraCounter(sf).take();
        response = glue.ocra({ suite: 'OCRA-1:HOTP-SHA1-8:C-QN06-PSHA1', key: sf.secret, counter, question: challenge.challenge, pin: sf.pin });
      }
      auth.twoFactorReply(await post(auth.twoFactorForm(code, response), 'COMPLETETWOFACT'));
      logger.debug?.('gateway login: second factor accepted');
    }

    // 5. The dispatcher ends the login.
    const { res, text } = await send('POST', '/sso/Dispatcher', auth.dispatcherForm(response), { step: 'Dispatcher', expectText: true });
    if (res.status !== 200) {
      throw new IbkrAuthError('LOGIN_FAILED', `the gateway's dispatcher answered HTTP ${res.status} at the end of the login. Try again later; if it repeats, log in once in a browser.`, { status: res.status, serverMessage: text.slice(0, 200) });
    }
    auth.dispatcherReply(text);
  } finally {
    auth.free();
  }
}

async function readLimited(res, max) {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => {});
      throw new IbkrAuthError('UNEXPECTED_RESPONSE', `the gateway's login reply is larger than ${max} bytes; this is not a gateway login reply.`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength))).toString('utf8');
}

/**
 * Authentication now belongs to the gateway, not to the login's cookies: a plain gateway session
 * polls the status until the brokerage session is authenticated.
 */
async function pollStatus(glue, o, { origin, fetchImpl, timeoutMs, logger }) {
  const polls = o.statusPolls ?? 8;
  const session = glue.IbkrSession.gateway({
    baseUrl: `${origin}/v1/api`, fetch: fetchImpl, logger, timeoutMs, maxRetries: 0, pacing: false, ...(o.userAgent ? { userAgent: o.userAgent } : {}),
  });
  let last = null;
  for (let i = 0; i < polls; i += 1) {
    if (i > 0) await sleep(o.statusPollMs ?? 1000, o.signal);
    try {
      last = await session.status();
      if (last.authenticated) return last;
    } catch (e) {
      logger.debug?.(`gateway login: status poll ${i + 1}: ${e.code}: ${e.message}`);
    }
  }
  logger.warn?.(`gateway login: logged in, but the brokerage session was not authenticated after ${polls} status polls; keep-alive (ensureAuthenticated) will initialise it.`);
  return last ?? { authenticated: false, competing: false, connected: false };
}

module.exports = (glue) => ({ gatewayLogin: makeGatewayLogin(glue), loginGuard });
