// The simulator's gateway login, driven by a small client written here (node:https with the
// simulator's pinned certificate, a minimal cookie jar, and sim/gateway-srp.mjs for the client's
// SRP math): the password step, TOTP, SMS, IB Key (OCRA), failures and the lock, cookies, EKX,
// the status polling after the login, and the gateway logging itself out.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import https from 'node:https';
import { after, test } from 'node:test';
import { GATEWAY_TLS, generateKeys, Simulator } from '../../sim/server.mjs';
import { clientSession, modPow, N } from '../../sim/gateway-srp.mjs';
import { base32Decode, base32Encode, ibKeyResponse, totp } from '../../sim/gateway-otp.mjs';

const sims = [];
after(async () => { for (const s of sims.splice(0)) await s.close(); });
const keys = generateKeys();
async function newGateway(gatewayLogin, o = {}) {
  const sim = await new Simulator({ keys, gateway: true, rateLimits: false, gatewayLogin, ...o }).start();
  sims.push(sim);
  return sim;
}

/** A minimal cookie jar: name=value, no paths or expiry (enough for one origin). */
class Jar {
  cookies = new Map();
  take(setCookie) {
    for (const c of [setCookie ?? []].flat()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      this.cookies.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
    }
  }
  set(name, value) { this.cookies.set(name, value); }
  delete(name) { this.cookies.delete(name); }
  header() { return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '); }
}

/** fetch-shaped, over node:https with the simulator's certificate pinned. */
function request(sim, method, path, { form, jar } = {}) {
  const body = form ? new URLSearchParams(form).toString() : undefined;
  const headers = {};
  if (body !== undefined) Object.assign(headers, { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) });
  else if (method === 'POST') headers['content-length'] = 0;
  if (jar?.cookies.size) headers.cookie = jar.header();
  return new Promise((resolve, reject) => {
    const req = https.request(new URL(path, sim.origin), { method, headers, ca: GATEWAY_TLS.cert, checkServerIdentity: () => undefined }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        jar?.take(res.headers['set-cookie']);
        resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}
const field = (xml, name) => xml.match(new RegExp(`<${name}>([^<]*)</${name}>`))?.[1];

/** EKX as the login's client sends it: PKCS#1 v1.5 type 2 under (rsapub, e = 3), even-length hex. */
function ekx(rsapubHex, text) {
  const n = BigInt(`0x${rsapubHex}`);
  const len = Math.ceil(rsapubHex.length / 2);
  const msg = Buffer.from(text, 'latin1');
  const pad = Buffer.alloc(len - msg.length - 3);
  for (let i = 0; i < pad.length; i++) do pad[i] = crypto.randomBytes(1)[0]; while (pad[i] === 0);
  const m = BigInt(`0x${Buffer.concat([Buffer.from([0, 2]), pad, Buffer.from([0]), msg]).toString('hex')}`);
  const h = modPow(m, 3n, n).toString(16);
  return h.length % 2 ? `0${h}` : h;
}

/**
 * Logs in as the spec's client does. Returns every reply, `ok` (Dispatcher said "Client login
 * succeeds"), and where it stopped. o.answer(twoFactor) gives the second factor's RESPONSE.
 */
async function login(sim, { username, password, answer, jar = new Jar(), tamper = {} }) {
  const r = { jar };
  r.root = await request(sim, 'GET', '/', { jar });
  assert.equal(r.root.status, 302);
  r.page = await request(sim, 'GET', r.root.headers.location, { jar });
  if (!tamper.noSbid) jar.set('SBID', crypto.randomBytes(8).toString('hex'));
  if (tamper.dropCookies) jar.cookies.clear();
  const a = BigInt(`0x${crypto.randomBytes(32).toString('hex')}`);
  const A = modPow(2n, a, N);
  const path = () => `/sso/Authenticator?${crypto.randomInt(0, 100001)}`;
  r.init = await request(sim, 'POST', path(), { jar, form: { ACTION: 'INIT', APP_NAME: '', MODE: 'NORMAL', FORCE_LOGIN: '', USER: username, ACCT: '', A: A.toString(16) } });
  if (r.init.status !== 200 || !field(r.init.text, 'B')) return { ...r, stop: 'init' };
  const ini = Object.fromEntries(['g', 'N', 'proto', 'hash', 's', 'B', 'lp', 'rsapub', 'paper'].map((k) => [k, field(r.init.text, k)]));
  r.ini = ini;
  const c = clientSession({ username, password, lp: ini.lp === 'true', salt: ini.s, a, B: BigInt(`0x${ini.B}`) });
  r.client = c;
  r.complete = await request(sim, 'POST', path(), { jar, form: { ACTION: 'COMPLETEAUTH', APP_NAME: '', USER: username.toLowerCase(), ACCT: '', M1: c.M1, VERSION: '1', EKX: ekx(ini.rsapub, tamper.ekxText ?? c.K) } });
  r.reachedMax = field(r.complete.text, 'reached_max_login');
  if (field(r.complete.text, 'M2') !== c.M2) return { ...r, stop: 'password' };
  if (!tamper.noLoginCookie) jar.set('XYZAB_AM.LOGIN', c.loginCookie);
  let response = '';
  const sftypes = field(r.complete.text, 'sftypes');
  if (sftypes) {
    r.sftypes = sftypes;
    r.sf = await request(sim, 'POST', path(), { jar, form: { ACTION: 'COMPLETEAUTH_1', APP_NAME: '', USER: username, ACCT: '', M1: c.M1, VERSION: '1', SF: sftypes.split(',')[0] } });
    const type = field(r.sf.text, 'type');
    const challenge = field(r.sf.text, 'challenge');
    r.twoFactor = { type, challenge };
    response = await answer({ type, challenge: challenge?.replace(/\s/g, ''), rawChallenge: challenge });
    r.twofact = await request(sim, 'POST', path(), { jar, form: { ACTION: 'COMPLETETWOFACT', APP_NAME: '', USER: username, ACCT: '', RESPONSE: response, VERSION: '1', SF: sftypes.split(',')[0] } });
    if (field(r.twofact.text, 'auth_res') !== 'true') return { ...r, stop: 'second-factor', error: field(r.twofact.text, 'error') };
  }
  if (tamper.dropLoginCookieAtDispatch) jar.delete('XYZAB_AM.LOGIN');
  r.dispatch = await request(sim, 'POST', '/sso/Dispatcher', { jar, form: { user_name: username, password: 'x'.repeat(24), chlginput: response, loginType: '0', forwardTo: '22', M1: c.M1, M2: tamper.m2 ?? c.M2 } });
  r.ok = r.dispatch.text === 'Client login succeeds';
  return { ...r, stop: r.ok ? null : 'dispatch' };
}

const status = async (sim) => JSON.parse((await request(sim, 'POST', '/v1/api/iserver/auth/status')).text).authenticated;

test('password only: the login, the reply shapes, then status polling (authDelayPolls) and the API', async () => {
  const sim = await newGateway({ users: [{ username: 'SimUser', password: 'pa55word-long', lp: true }], authDelayPolls: 2 });
  assert.equal((await request(sim, 'GET', '/v1/api/iserver/accounts')).status, 302, 'logged out at start');
  const r = await login(sim, { username: 'SIMUSER', password: 'pa55word-long' });
  assert.equal(r.stop, null, r.dispatch?.text ?? r.complete?.text);
  assert.equal(r.dispatch.headers['content-type'].split(';')[0], 'text/plain');
  assert.match(r.root.headers['set-cookie'].join(), /SIMSESSIONID=/);
  assert.match(r.page.headers['set-cookie'].join(), /SIMLOGINPAGE=/);
  assert.match(r.page.text, /<html/);
  assert.deepEqual({ ...r.ini, N: r.ini.N.slice(0, 8), B: undefined, s: undefined, rsapub: undefined },
    { g: '2', N: 'd4c7f8a2', proto: '6', hash: 'SHA1', s: undefined, B: undefined, lp: 'true', rsapub: undefined, paper: 'true' });
  assert.ok(r.ini.rsapub.length >= 256);
  assert.match(r.init.text, /^<\?xml[^>]*>\n<ib_auth_res>\n<ini_params>/);
  assert.equal(r.reachedMax, 'false');
  assert.equal(field(r.complete.text, 'sftypes'), undefined);
  // authenticated only after two polls that still say false (plain requests, no cookies)
  assert.equal(await status(sim), false);
  assert.equal(await status(sim), false);
  assert.equal(await status(sim), true);
  const accounts = JSON.parse((await request(sim, 'GET', '/v1/api/iserver/accounts')).text);
  assert.deepEqual(accounts.accounts, ['DU1234567']);
  assert.deepEqual(sim.loginStats, { inits: 1, completeAuths: 1, twoFactors: 0, dispatches: 1, failures: 0, successes: 1, locked: 0 });
  assert.equal(sim.count('login-init'), 1);
  assert.equal(sim.count('login-dispatch'), 1);
  const state = JSON.parse((await request(sim, 'GET', '/__sim/state')).text);
  assert.equal(state.login.successes, 1);
  assert.equal(state.loggedIn, true);
  // the gateway logs itself out
  sim.setLoggedIn(false);
  assert.equal((await request(sim, 'GET', '/v1/api/iserver/accounts')).status, 302);
});

test('logout through POST /__sim/login {"loggedIn":false}, and a second login afterwards', async () => {
  const sim = await newGateway({ users: [{ username: 'u1', password: 'secret12' }], authDelayPolls: 0 });
  assert.equal((await login(sim, { username: 'u1', password: 'secret12' })).ok, true);
  assert.equal(await status(sim), true, 'authDelayPolls 0: authenticated at once');
  const res = await new Promise((resolve, reject) => {
    const body = JSON.stringify({ loggedIn: false });
    const req = https.request(new URL('/__sim/login', sim.origin), { method: 'POST', ca: GATEWAY_TLS.cert, checkServerIdentity: () => undefined, headers: { 'content-type': 'application/json', 'content-length': body.length } }, (r) => { r.resume(); r.on('end', () => resolve(r.statusCode)); });
    req.on('error', reject);
    req.end(body);
  });
  assert.equal(res, 200);
  assert.equal((await request(sim, 'GET', '/v1/api/iserver/accounts')).status, 302);
  assert.equal((await login(sim, { username: 'u1', password: 'secret12' })).ok, true);
  assert.equal(await status(sim), true);
});

test('the password is cut to 8 characters unless lp', async () => {
  const sim = await newGateway({ users: [{ username: 'shortpw', password: 'abcdefgh-one' }], authDelayPolls: 0 });
  const r = await login(sim, { username: 'shortpw', password: 'abcdefgh-two' });
  assert.equal(r.ini.lp, 'false');
  assert.equal(r.ok, true, 'only the first 8 characters count');
  assert.equal((await login(sim, { username: 'shortpw', password: 'abcdefgX-one' })).stop, 'password');
});

test('TOTP with the simulator\'s clock: now and ±1 step pass, 2 steps off fails', async () => {
  let now = Date.UTC(2026, 0, 5, 12, 0, 10);
  const secret = base32Encode(crypto.randomBytes(20));
  const sim = await newGateway({ users: [{ username: 'totpuser', password: 'pw123456', secondFactor: { type: 'totp', secret } }], authDelayPolls: 0 }, { clock: () => now });
  const code = (t) => totp({ key: base32Decode(secret), timeMs: t });
  const ok = await login(sim, { username: 'TotpUser', password: 'pw123456', answer: ({ type }) => { assert.equal(type, 'SWTK'); return code(now); } });
  assert.equal(ok.sftypes, '4');
  assert.equal(ok.stop, null, ok.error);
  assert.equal((await login(sim, { username: 'totpuser', password: 'pw123456', answer: () => code(now - 30_000) })).ok, true, 'one step back');
  const late = await login(sim, { username: 'totpuser', password: 'pw123456', answer: () => code(now - 60_000) });
  assert.equal(late.stop, 'second-factor');
  assert.match(late.error, /invalid/i);
  now += 120_000;
  assert.equal((await login(sim, { username: 'totpuser', password: 'pw123456', answer: () => code(now) })).ok, true);
  assert.equal(sim.loginStats.twoFactors, 4);
  assert.equal(sim.loginStats.successes, 3);
  assert.equal(sim.loginStats.failures, 1);
});

test('SMS: a 6-digit code readable at GET /__sim/sms and sim.lastSmsCode', async () => {
  const sim = await newGateway({ users: [{ username: 'smsuser', password: 'pw123456', secondFactor: { type: 'sms' } }], authDelayPolls: 0 });
  const r = await login(sim, {
    username: 'smsuser', password: 'pw123456',
    answer: async ({ type }) => {
      assert.equal(type, 'SWTK');
      const { code } = JSON.parse((await request(sim, 'GET', '/__sim/sms')).text);
      assert.match(code, /^\d{6}$/);
      assert.equal(sim.lastSmsCode, code);
      return code;
    },
  });
  assert.equal(r.sftypes, '4.2');
  assert.equal(r.stop, null, r.error);
  const wrong = await login(sim, { username: 'smsuser', password: 'pw123456', answer: () => String((Number(sim.lastSmsCode) + 1) % 1e6).padStart(6, '0') });
  assert.equal(wrong.stop, 'second-factor');
});

test('IB Key (OCRA): a spaced challenge, counters up to 10 ahead accepted, then resynced; replays fail', async () => {
  const secret = crypto.randomBytes(20).toString('hex');
  const pin = '2468';
  const sim = await newGateway({ users: [{ username: 'ibkey', password: 'pw123456', secondFactor: { type: 'ocra', secret, pin, counter: 5 } }], authDelayPolls: 0 });
  const withCounter = (counter) => ({ type, challenge, rawChallenge }) => {
    assert.equal(type, 'SWCR');
    assert.match(rawChallenge, /^\d{3} \d{3}$/);
    return ibKeyResponse({ secret, pin, counter, challenge });
  };
  const r = await login(sim, { username: 'IBKey', password: 'pw123456', answer: withCounter(7) });
  assert.equal(r.sftypes, '5.2a');
  assert.equal(r.stop, null, r.error);
  assert.equal(sim.login.users.get('ibkey').secondFactor.counter, 8);
  assert.equal((await login(sim, { username: 'ibkey', password: 'pw123456', answer: withCounter(7) })).stop, 'second-factor', 'a used counter');
  assert.equal((await login(sim, { username: 'ibkey', password: 'pw123456', answer: withCounter(19) })).stop, 'second-factor', '11 ahead');
  assert.equal((await login(sim, { username: 'ibkey', password: 'pw123456', answer: withCounter(18) })).ok, true, '10 ahead');
  assert.equal(sim.login.users.get('ibkey').secondFactor.counter, 19);
  // the wrong PIN fails
  assert.equal((await login(sim, { username: 'ibkey', password: 'pw123456', answer: (t) => ibKeyResponse({ secret, pin: '0000', counter: 19, challenge: t.challenge }) })).stop, 'second-factor');
});

test('a wrong password: random M2, reached_max_login false; the Dispatcher refuses without the password step', async () => {
  const sim = await newGateway({ users: [{ username: 'u', password: 'rightpw1' }] });
  const r = await login(sim, { username: 'u', password: 'wrongpw1' });
  assert.equal(r.stop, 'password');
  assert.match(field(r.complete.text, 'M2'), /^[0-9a-f]{40}$/);
  assert.equal(r.reachedMax, 'false');
  const d = await request(sim, 'POST', '/sso/Dispatcher', { jar: r.jar, form: { user_name: 'u', password: 'x'.repeat(24), chlginput: '', loginType: '0', forwardTo: '22', M1: r.client.M1, M2: r.client.M2 } });
  assert.notEqual(d.text, 'Client login succeeds');
  assert.equal(sim.loggedIn, false);
  assert.equal(sim.loginStats.failures, 2);
});

test('an unknown user gets the same reply shapes as a wrong password', async () => {
  const sim = await newGateway({ users: [{ username: 'known', password: 'pw123456' }] });
  const tags = (xml) => [...xml.matchAll(/<([a-z_A-Z0-9]+)>/g)].map((m) => m[1]).join(',');
  const known = await login(sim, { username: 'known', password: 'nope1234' });
  const unknown = await login(sim, { username: 'nobody', password: 'nope1234' });
  assert.equal(tags(unknown.init.text), tags(known.init.text));
  assert.equal(tags(unknown.complete.text), tags(known.complete.text));
  assert.equal(unknown.stop, 'password');
  assert.equal(unknown.reachedMax, 'false');
  const again = await login(sim, { username: 'nobody', password: 'nope1234' });
  assert.equal(again.ini.s, unknown.ini.s, 'a stable salt for an unknown name');
});

test('locked after maxFailures: reached_max_login true, even the right password fails until POST /__sim/unlock', async () => {
  const sim = await newGateway({ users: [{ username: 'lockme', password: 'rightpw1' }], maxFailures: 3, authDelayPolls: 0 });
  assert.equal((await login(sim, { username: 'lockme', password: 'wrong001' })).reachedMax, 'false');
  assert.equal((await login(sim, { username: 'lockme', password: 'rightpw1' })).ok, true, 'a success resets the count');
  for (const want of ['false', 'false', 'true']) assert.equal((await login(sim, { username: 'lockme', password: 'wrong002' })).reachedMax, want);
  const locked = await login(sim, { username: 'lockme', password: 'rightpw1' });
  assert.equal(locked.stop, 'password');
  assert.equal(locked.reachedMax, 'true');
  assert.equal(sim.loginStats.locked, 1);
  assert.equal((await request(sim, 'POST', '/__sim/unlock')).status, 200);
  assert.equal(sim.loginStats.locked, 0);
  assert.equal((await login(sim, { username: 'lockme', password: 'rightpw1' })).ok, true);
});

test('cookies are required: no jar, no SBID, no XYZAB_AM.LOGIN', async () => {
  const sim = await newGateway({ users: [{ username: 'c', password: 'pw123456', secondFactor: { type: 'sms' } }] });
  const noJar = await login(sim, { username: 'c', password: 'pw123456', tamper: { dropCookies: true } });
  assert.equal(noJar.stop, 'init');
  assert.equal(noJar.init.status, 401);
  assert.match(field(noJar.init.text, 'error'), /SIMSESSIONID/);
  const noSbid = await login(sim, { username: 'c', password: 'pw123456', tamper: { noSbid: true } });
  assert.equal(noSbid.stop, 'init');
  assert.match(field(noSbid.init.text, 'error'), /SBID/);
  const noLogin = await login(sim, { username: 'c', password: 'pw123456', tamper: { noLoginCookie: true }, answer: () => '000000' });
  assert.equal(noLogin.sf.status, 401);
  assert.match(field(noLogin.sf.text, 'error'), /XYZAB_AM\.LOGIN/);
  const sim2 = await newGateway({ users: [{ username: 'd', password: 'pw123456' }] });
  const atDispatch = await login(sim2, { username: 'd', password: 'pw123456', tamper: { dropLoginCookieAtDispatch: true } });
  assert.equal(atDispatch.stop, 'dispatch');
  assert.equal(atDispatch.dispatch.status, 401);
  assert.equal(sim2.loggedIn, false);
});

test('EKX must carry K: another value fails the login; a wrong M2 at the Dispatcher fails too', async () => {
  const sim = await newGateway({ users: [{ username: 'e', password: 'pw123456' }] });
  const r = await login(sim, { username: 'e', password: 'pw123456', tamper: { ekxText: 'f'.repeat(40) } });
  assert.equal(r.stop, 'password');
  const m2 = await login(sim, { username: 'e', password: 'pw123456', tamper: { m2: '0'.repeat(40) } });
  assert.equal(m2.stop, 'dispatch');
  assert.match(m2.dispatch.text, /M2/);
  assert.equal(sim.loggedIn, false);
});

test('without gatewayLogin nothing changes: no login pages, logged out until setLoggedIn', async () => {
  const sim = await newGateway(undefined);
  assert.equal(sim.login, null);
  assert.equal(sim.loginStats, null);
  assert.equal((await request(sim, 'GET', '/')).status, 404);
  assert.equal((await request(sim, 'GET', '/v1/api/iserver/accounts')).status, 302);
  sim.setLoggedIn(true);
  assert.equal(await status(sim), true);
});
