// The simulated Client Portal Gateway's login page, server side: the SRP-6 password step
// (/sso/Authenticator INIT and COMPLETEAUTH, EKX under the gateway's own RSA key with e = 3),
// the second factor (COMPLETEAUTH_1 and COMPLETETWOFACT: TOTP, SMS, IB Key OCRA), and the
// finish (/sso/Dispatcher). Cookies are checked at every step, failures counted, users locked
// after too many. Plain node:crypto and BigInt (sim/gateway-srp.mjs, sim/gateway-otp.mjs).
import crypto from 'node:crypto';
import * as srp from './gateway-srp.mjs';
import { base32Decode, checkTotp, ibKeyResponse } from './gateway-otp.mjs';
import { constantTimeEqual } from './oauth.mjs';

/** Second-factor type codes as the login page lists them in sftypes. */
export const SF_CODES = { totp: '4', sms: '4.2', ocra: '5.2a' };
const SESSION_COOKIE = 'SIMSESSIONID';
const PAGE_COOKIE = 'SIMLOGINPAGE';
const LOGIN_COOKIE = 'XYZAB_AM.LOGIN';
const OCRA_LOOKAHEAD = 10;
const b64u = (s) => BigInt(`0x${Buffer.from(s, 'base64url').toString('hex')}`);
const xmlEscape = (s) => String(s).replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
const xml = (inner) => `<?xml version="1.0" encoding="UTF-8"?>\n<ib_auth_res>\n${inner}\n</ib_auth_res>\n`;
const tag = (name, value) => `<${name}>${xmlEscape(value)}</${name}>`;
const eq = constantTimeEqual;

/** A Cookie header as name → value (no prototype; the first of a repeated name wins, as it is the
 * most specific one a browser sends). Shared with the WebSocket (sim/ws.mjs). */
export function parseCookies(header) {
  const out = Object.create(null);
  for (const part of String(header ?? '').split(';')) {
    const i = part.indexOf('=');
    const name = i > 0 ? part.slice(0, i).trim() : '';
    if (name && !(name in out)) out[name] = part.slice(i + 1).trim();
  }
  return out;
}

/** The gateway's RSA key for EKX: e = 3, as BigInts, plus the modulus as hex for rsapub. */
export function ekxKey(bits = 1024) {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: bits, publicExponent: 3 });
  const jwk = privateKey.export({ format: 'jwk' });
  const n = b64u(jwk.n);
  return { n, d: b64u(jwk.d), e: 3n, bytes: Math.ceil(n.toString(16).length / 2), pubHex: n.toString(16) };
}

/** Raw RSA decryption and a PKCS#1 v1.5 type-2 check; the message as a Buffer, or null. */
export function ekxDecrypt(key, hex) {
  if (!/^[0-9a-f]+$/i.test(hex ?? '')) return null;
  const c = BigInt(`0x${hex}`);
  if (c >= key.n) return null;
  const em = Buffer.from(srp.modPow(c, key.d, key.n).toString(16).padStart(key.bytes * 2, '0'), 'hex');
  if (em[0] !== 0 || em[1] !== 2) return null;
  const sep = em.indexOf(0, 2);
  if (sep < 10) return null; // at least 8 non-zero padding bytes
  return em.subarray(sep + 1);
}

export class GatewayLogin {
  /**
   * @param {import('./server.mjs').Simulator} sim
   * @param {object} o
   * @param {Array<{ username: string, password: string, lp?: boolean, secondFactor?: object }>} o.users
   * @param {number} [o.maxFailures] consecutive failed logins before a user is locked (default 5)
   * @param {number} [o.authDelayPolls] status polls that still say unauthenticated after a login (default 1)
   */
  constructor(sim, o = {}) {
    this.sim = sim;
    this.maxFailures = o.maxFailures ?? 5;
    this.authDelayPolls = o.authDelayPolls ?? 1;
    this.rsa = ekxKey(o.rsaBits ?? 1024);
    this.secret = crypto.randomBytes(32);
    this.paper = o.paper ?? true;
    /** lowercase username -> user record */
    this.users = new Map();
    for (const u of o.users ?? []) this.addUser(u);
    /** session cookie -> login state */
    this.sessions = new Map();
    this.lastSmsCode = null;
    this.pendingPolls = 0;
    this.awaitingAuth = false;
    this.stats = { inits: 0, completeAuths: 0, twoFactors: 0, dispatches: 0, failures: 0, successes: 0, locked: 0 };
  }

  /** Adds (or replaces) a user; its salt and verifier are made here. */
  addUser({ username, password, lp = false, secondFactor }) {
    if (!username || typeof password !== 'string') throw new Error('gatewayLogin user: username and password required');
    const sf = secondFactor ? { ...secondFactor } : null;
    if (sf && !SF_CODES[sf.type]) throw new Error(`gatewayLogin user: unknown second factor type ${sf.type}`);
    if (sf?.type === 'ocra') sf.counter = Number(sf.counter ?? 0);
    if (sf?.type === 'totp') base32Decode(sf.secret); // fails early on a bad secret
    const salt = crypto.randomBytes(16).toString('hex');
    const user = { username, lp, salt, v: srp.verifier({ username, password, lp, salt }), secondFactor: sf, failures: 0, locked: false };
    this.users.set(username.toLowerCase(), user);
    return user;
  }

  /** Unlocks a user (or all) and clears the failure counts. */
  unlock(username) {
    for (const [name, u] of this.users) {
      if (username && name !== username.toLowerCase()) continue;
      u.locked = false;
      u.failures = 0;
    }
    this.stats.locked = [...this.users.values()].filter((u) => u.locked).length;
  }

  /** A stand-in for unknown users, so the reply has the same shape (salt stable per name). */
  #phantom(name) {
    const salt = crypto.createHmac('sha256', this.secret).update(`salt:${name}`).digest('hex').slice(0, 32);
    const v = srp.modPow(srp.G, BigInt(`0x${crypto.createHmac('sha256', this.secret).update(`v:${name}`).digest('hex')}`), srp.N);
    return { username: name, lp: true, salt, v, secondFactor: null, failures: 0, locked: false, phantom: true };
  }

  /** Called by the status endpoint: counts down the polls that still say unauthenticated. */
  onStatusPoll() {
    if (!this.awaitingAuth) return;
    if (this.pendingPolls > 0) { this.pendingPolls -= 1; return; }
    this.awaitingAuth = false;
    this.sim.brokerage = { authenticated: true, competing: false, connected: true };
  }

  /** Handles the login's paths; returns false when the path is not one of them. */
  route(req, url, body, res, entry) {
    const path = url.pathname;
    const reply = (status, type, text, headers = {}) => {
      entry.status = status;
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
      res.end(text);
    };
    const cookies = parseCookies(req.headers.cookie);
    if (req.method === 'GET' && path === '/') {
      entry.kind = 'login-redirect';
      const sid = this.#session(cookies)?.id ?? this.#newSession();
      reply(302, 'text/plain', '', { location: '/sso/Login?forwardTo=22&RL=1&ip2loc=on', 'set-cookie': `${SESSION_COOKIE}=${sid}; Path=/; Secure; HttpOnly` });
      return true;
    }
    if (req.method === 'GET' && path === '/sso/Login') {
      entry.kind = 'login-page';
      const headers = { 'set-cookie': [`${PAGE_COOKIE}=${crypto.randomBytes(8).toString('hex')}; Path=/sso; Secure`] };
      if (!this.#session(cookies)) headers['set-cookie'].push(`${SESSION_COOKIE}=${this.#newSession()}; Path=/; Secure; HttpOnly`);
      reply(200, 'text/html; charset=utf-8', '<!doctype html><html><head><title>Client Portal Login</title></head><body><form id="xyzForm" method="post" action="/sso/Dispatcher"><input name="user_name"><input name="password" type="password"></form></body></html>', headers);
      return true;
    }
    if (req.method === 'POST' && path === '/sso/Authenticator') {
      const form = new URLSearchParams(body);
      const action = form.get('ACTION');
      entry.kind = { INIT: 'login-init', COMPLETEAUTH: 'login-completeauth', COMPLETEAUTH_1: 'login-sf-request', COMPLETETWOFACT: 'login-twofact' }[action] ?? 'login-bad';
      const r = this.#authenticator(action, form, cookies);
      if (r.fail) this.stats.failures += 1;
      reply(r.status ?? 200, 'text/xml; charset=utf-8', r.xml);
      return true;
    }
    if (req.method === 'POST' && path === '/sso/Dispatcher') {
      entry.kind = 'login-dispatch';
      this.stats.dispatches += 1;
      const r = this.#dispatch(new URLSearchParams(body), cookies);
      if (r.ok) this.stats.successes += 1;
      else this.stats.failures += 1;
      reply(r.status ?? 200, 'text/plain; charset=utf-8', r.ok ? 'Client login succeeds' : `Client login failed: ${r.error}`);
      return true;
    }
    return false;
  }

  #newSession() {
    const id = crypto.randomBytes(16).toString('hex');
    this.sessions.set(id, { id, stage: 'new' });
    if (this.sessions.size > 1000) this.sessions.delete(this.sessions.keys().next().value);
    return id;
  }

  #session(cookies) {
    return this.sessions.get(cookies[SESSION_COOKIE]) ?? null;
  }

  /** The cookies a step needs: the session's, SBID (the one INIT saw), and from the password step on the login cookie. */
  #checkCookies(s, cookies, { login }) {
    if (!s) return `no login session: cookie ${SESSION_COOKIE} missing or unknown (GET / first, and keep its cookies)`;
    if (!cookies.SBID) return 'cookie SBID missing';
    if (s.sbid && s.sbid !== cookies.SBID) return 'cookie SBID changed during the login';
    if (login && !(s.loginCookie && cookies[LOGIN_COOKIE] && eq(cookies[LOGIN_COOKIE].toLowerCase(), s.loginCookie))) return `cookie ${LOGIN_COOKIE} missing or wrong`;
    return null;
  }

  #authenticator(action, form, cookies) {
    const s = this.#session(cookies);
    const rejected = (error, status = 200) => ({ fail: true, status, xml: xml(tag('error', error)) });
    if (action === 'INIT') {
      this.stats.inits += 1;
      const bad = this.#checkCookies(s, cookies, { login: false });
      if (bad) return rejected(bad, 401);
      const typed = form.get('USER') ?? '';
      const aHex = form.get('A') ?? '';
      if (!typed || !/^[0-9a-f]+$/i.test(aHex)) return rejected('USER and A (hex) required');
      const A = BigInt(`0x${aHex}`);
      if (A % srp.N === 0n) return rejected('invalid A');
      const user = this.users.get(typed.toLowerCase()) ?? this.#phantom(typed.toLowerCase());
      let b;
      let B;
      do {
        b = BigInt(`0x${crypto.randomBytes(32).toString('hex')}`);
        B = srp.serverB({ v: user.v, b });
      } while (B === 0n);
      Object.assign(s, { stage: 'init', sbid: cookies.SBID, typed, user, A, b, B, K: null, M1: null, M2: null, loginCookie: null, sf: null, response: null });
      return {
        xml: xml(`<ini_params>\n${[
          tag('g', srp.G.toString(10)), tag('N', srp.N.toString(16)), tag('proto', '6'), tag('hash', 'SHA1'), tag('s', user.salt),
          tag('B', B.toString(16)), tag('lp', String(user.lp)), tag('rsapub', this.rsa.pubHex), tag('paper', String(this.paper)),
        ].join('\n')}\n</ini_params>`),
      };
    }
    if (action === 'COMPLETEAUTH') {
      this.stats.completeAuths += 1;
      const bad = this.#checkCookies(s, cookies, { login: false });
      if (bad) return rejected(bad, 401);
      if (s.stage !== 'init') return rejected('COMPLETEAUTH without INIT');
      const { user } = s;
      const failed = () => {
        s.stage = 'failed';
        if (!user.phantom && !user.locked) {
          user.failures += 1;
          if (user.failures >= this.maxFailures) user.locked = true;
          this.stats.locked = [...this.users.values()].filter((u) => u.locked).length;
        }
        return {
          fail: true,
          xml: xml(`<ini_params>${tag('M2', crypto.randomBytes(20).toString('hex'))}</ini_params>\n<auth_info>${tag('reached_max_login', String(user.locked))}</auth_info>`),
        };
      };
      if ((form.get('USER') ?? '').toLowerCase() !== s.typed.toLowerCase()) return failed();
      const server = srp.serverSession({ username: user.username, salt: user.salt, v: user.v, b: s.b, A: s.A, B: s.B });
      const m1 = (form.get('M1') ?? '').toLowerCase();
      const ekx = ekxDecrypt(this.rsa, form.get('EKX') ?? '');
      if (user.locked || user.phantom || !eq(m1, server.M1) || !ekx || !eq(ekx.toString('latin1'), server.K)) return failed();
      user.failures = 0;
      Object.assign(s, { stage: user.secondFactor ? 'password-ok' : 'ready', K: server.K, M1: server.M1, M2: server.M2, loginCookie: server.loginCookie });
      const sf = user.secondFactor ? `\n${tag('sftypes', SF_CODES[user.secondFactor.type])}` : '';
      return { xml: xml(`<ini_params>${tag('M2', server.M2)}</ini_params>\n<auth_info>${tag('reached_max_login', 'false')}</auth_info>${sf}`) };
    }
    if (action === 'COMPLETEAUTH_1') {
      const bad = this.#checkCookies(s, cookies, { login: true });
      if (bad) return rejected(bad, 401);
      const sf = s.user.secondFactor;
      if (s.stage !== 'password-ok' || !sf) return rejected('no second factor is pending');
      if ((form.get('USER') ?? '').toLowerCase() !== s.typed.toLowerCase() || !eq((form.get('M1') ?? '').toLowerCase(), s.M1)) return rejected('USER or M1 does not match');
      if (form.get('SF') !== SF_CODES[sf.type]) return rejected(`second factor ${form.get('SF')} is not available; available: ${SF_CODES[sf.type]}`);
      s.stage = 'sf-sent';
      if (sf.type === 'totp') return { xml: xml(`<two_factor>${tag('type', 'SWTK')}</two_factor>`) };
      if (sf.type === 'sms') {
        s.smsCode = String(crypto.randomInt(0, 1_000_000)).padStart(6, '0');
        this.lastSmsCode = s.smsCode;
        return { xml: xml(`<two_factor>${tag('type', 'SWTK')}</two_factor>`) };
      }
      s.challenge = String(crypto.randomInt(0, 1_000_000)).padStart(6, '0');
      return { xml: xml(`<two_factor>${tag('type', 'SWCR')}${tag('challenge', `${s.challenge.slice(0, 3)} ${s.challenge.slice(3)}`)}</two_factor>`) };
    }
    if (action === 'COMPLETETWOFACT') {
      this.stats.twoFactors += 1;
      const bad = this.#checkCookies(s, cookies, { login: true });
      if (bad) return rejected(bad, 401);
      const sf = s.user.secondFactor;
      const answer = (ok, error) => {
        if (ok) {
          s.stage = 'ready';
          s.response = form.get('RESPONSE');
          return { xml: xml(tag('auth_res', 'true')) };
        }
        s.stage = 'failed';
        return { fail: true, xml: xml(`${tag('auth_res', 'false')}\n${tag('error', error)}`) };
      };
      if (s.stage !== 'sf-sent' || !sf) return answer(false, 'no second factor challenge is pending');
      if ((form.get('USER') ?? '').toLowerCase() !== s.typed.toLowerCase()) return answer(false, 'USER does not match');
      if (form.get('SF') !== SF_CODES[sf.type]) return answer(false, `second factor ${form.get('SF')} was not requested`);
      const response = (form.get('RESPONSE') ?? '').trim();
      if (!/^\d+$/.test(response)) return answer(false, 'Invalid response');
      if (sf.type === 'totp') {
        const ok = checkTotp({ key: base32Decode(sf.secret), code: response, timeMs: this.sim.clock() }) !== null;
        return answer(ok, 'Invalid security code');
      }
      if (sf.type === 'sms') return answer(eq(response, s.smsCode), 'Invalid SMS code');
      for (let c = sf.counter; c <= sf.counter + OCRA_LOOKAHEAD; c++) {
        if (eq(ibKeyResponse({ secret: sf.secret, pin: sf.pin, counter: c, challenge: s.challenge }), response)) {
          sf.counter = c + 1;
          return answer(true);
        }
      }
      return answer(false, 'Invalid challenge response');
    }
    return rejected(`unknown ACTION ${action}`, 400);
  }

  #dispatch(form, cookies) {
    const s = this.#session(cookies);
    const bad = this.#checkCookies(s, cookies, { login: true });
    if (bad) return { ok: false, status: 401, error: bad };
    if (s.stage !== 'ready') return { ok: false, error: s.stage === 'sf-sent' || s.stage === 'password-ok' ? 'second factor not passed' : 'not authenticated' };
    const f = (k) => form.get(k) ?? '';
    const checks = [
      [f('user_name').toLowerCase() === s.typed.toLowerCase(), 'user_name'],
      [f('password') === 'x'.repeat(24), 'password placeholder'],
      [eq(f('M1').toLowerCase(), s.M1), 'M1'],
      [eq(f('M2').toLowerCase(), s.M2), 'M2'],
      [f('chlginput') === (s.response ?? ''), 'chlginput'],
      [f('loginType') === '0' && f('forwardTo') === '22', 'loginType/forwardTo'],
    ];
    const wrong = checks.filter(([ok]) => !ok).map(([, what]) => what);
    if (wrong.length) return { ok: false, error: `wrong ${wrong.join(', ')}` };
    s.stage = 'done';
    this.sessions.delete(s.id);
    this.sim.loggedIn = true;
    this.sim.lastActivity = this.sim.clock();
    this.pendingPolls = this.authDelayPolls;
    this.awaitingAuth = this.authDelayPolls > 0;
    this.sim.brokerage = { authenticated: this.authDelayPolls === 0, competing: false, connected: true };
    return { ok: true };
  }

  /** For /__sim/state. */
  state() {
    return { ...this.stats, users: [...this.users.values()].map((u) => ({ username: u.username, failures: u.failures, locked: u.locked, secondFactor: u.secondFactor?.type ?? null, ...(u.secondFactor?.type === 'ocra' ? { counter: u.secondFactor.counter } : {}) })) };
  }
}
