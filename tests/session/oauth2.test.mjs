// IbkrSession.oauth2 against the simulator: the whole flow, refresh before expiry, 401 → one
// reconnect, IP changes, switching hosts at run time, timeouts, and no token in any log line.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IbkrSession, memoryStore } from '../../pkg/node.mjs';
import { rsaKeyPair } from '../../sim/server.mjs';
import { capture, newSim, rejects } from './helpers.mjs';

const session = (sim, o = {}) => IbkrSession.oauth2({ ...sim.clientConfig2(), pacing: false, ...o });

test('access token → SSO session → validate → ssodh/init, then bearer on every call', async () => {
  const sim = await newSim();
  const s = session(sim);
  assert.deepEqual((await s.request('GET', '/iserver/accounts')).accounts, ['DU1234567']);
  assert.equal(sim.brokerage.authenticated, true, 'ssodh/init was part of connecting');
  assert.equal((await s.tickle()).iserver.authStatus.authenticated, true);
  assert.equal((await s.status()).authenticated, true);
  await s.logout();
  assert.equal(sim.count('oauth2-token'), 1);
  assert.equal(sim.count('sso-session'), 1);
  assert.equal(sim.count('rejected'), 0);
});

test('tokens are refreshed before they expire', async () => {
  let skew = 0;
  const clock = () => Date.now() + skew;
  const sim = await newSim({ clock });
  const s = session(sim, { clock, refreshMarginMs: 60_000 });
  await s.request('GET', '/iserver/accounts');
  skew = 86_399_000 - 30_000; // inside the refresh margin of the 24 h token
  await s.request('GET', '/iserver/accounts');
  assert.equal(sim.count('sso-session'), 2);
});

test('401 on a call: one reconnect, one retry', async () => {
  const sim = await newSim();
  const s = session(sim);
  await s.request('GET', '/iserver/accounts');
  sim.bearers.clear(); // IBKR forgot the SSO session
  assert.deepEqual((await s.request('GET', '/iserver/accounts')).accounts, ['DU1234567']);
  assert.equal(sim.count('sso-session'), 2);
  assert.equal(sim.count('rejected'), 1);
});

test('an IP change is noticed: a warning and a new SSO session for the new IP', async () => {
  const sim = await newSim();
  let ip = '127.0.0.1';
  const { lines, logger } = capture();
  const s = IbkrSession.oauth2({ ...sim.clientConfig2(), ip: undefined, ipLookup: async () => ip, logger, pacing: false });
  await s.request('GET', '/iserver/accounts');
  ip = '198.51.100.9';
  sim.setPublicIp(ip);
  assert.deepEqual((await s.request('GET', '/iserver/accounts')).accounts, ['DU1234567']);
  assert.ok(lines.some((l) => l.startsWith('warn: ') && l.includes('public IP changed from 127.0.0.1 to 198.51.100.9')), lines.join('\n'));
  assert.equal(sim.bearers.size, 1);
  assert.equal([...sim.bearers.values()][0].ip, ip);
});

test('keep-alive notices an IP change before IBKR does', async () => {
  const sim = await newSim();
  let ip = '127.0.0.1';
  const { lines, logger } = capture();
  const s = IbkrSession.oauth2({ ...sim.clientConfig2(), ip: undefined, ipLookup: () => ip, logger, pacing: false });
  await s.request('GET', '/iserver/accounts');
  ip = '203.0.113.50';
  sim.setPublicIp(ip);
  const k = s.keepAlive({ intervalMs: 1000 });
  await new Promise((r) => setTimeout(r, 1300));
  k.stop();
  assert.equal(sim.count('sso-session'), 2);
  assert.ok(lines.some((l) => l.includes('public IP changed')));
  assert.equal(sim.count('rejected'), 0, 'reconnected before any call was refused');
});

test('the API host can be switched at run time', async () => {
  const a = await newSim();
  const b = await newSim();
  const s = session(a);
  await s.request('GET', '/iserver/accounts');
  s.setBaseUrl(b.baseUrl);
  assert.equal(s.baseUrl, b.baseUrl);
  await s.request('GET', '/iserver/accounts');
  assert.equal(b.count('sso-session'), 1, 'the new host needed its own session');
  assert.throws(() => s.setBaseUrl('not a url'), (e) => e.code === 'INVALID_ARGUMENT');
});

test('a skewed local clock: the first refusal teaches the offset, the retry succeeds', async () => {
  const sim = await newSim();
  const { lines, logger } = capture();
  const s = session(sim, { clock: () => Date.now() - 10 * 60e3, logger });
  assert.deepEqual((await s.request('GET', '/iserver/accounts')).accounts, ['DU1234567']);
  assert.ok(lines.some((l) => l.startsWith('warn: ') && /clock is \d+ s behind IBKR/.test(l)), lines.join('\n'));
  assert.equal(sim.count('oauth2-token'), 2);
});

test('every call has a timeout', async () => {
  const sim = await newSim();
  const s = session(sim, { timeoutMs: 200, maxRetries: 0 });
  await s.request('GET', '/iserver/accounts');
  sim.fault({ kind: 'delay', ms: 600, path: '/iserver/accounts' });
  await rejects(s.request('GET', '/iserver/accounts'), 'TIMEOUT');
});

test('a wrong key id or key is UNAUTHORIZED with the fix; a bad IP is refused up front', async () => {
  const sim = await newSim();
  const e = await rejects(session(sim, { clientKeyId: 'other' }).request('GET', '/iserver/accounts'), 'UNAUTHORIZED');
  assert.equal(e.status, 401);
  assert.match(e.message, /clientKeyId/);
  const wrongKey = rsaKeyPair().privateKey;
  await rejects(session(sim, { privateKey: wrongKey }).request('GET', '/iserver/accounts'), 'UNAUTHORIZED');
  const ipErr = await rejects(session(sim, { ip: '10.0.0.5' }).request('GET', '/iserver/accounts'), 'UNAUTHORIZED');
  assert.match(ipErr.message, /public IP/);
  assert.throws(() => session(sim, { ip: 'my-laptop' }), (x) => x.code === 'INVALID_ARGUMENT');
});

test('no access token or bearer token in any log line or error', async () => {
  const sim = await newSim();
  const { lines, logger } = capture();
  const s = session(sim, { logger, timeoutMs: 200, maxRetries: 0 });
  const errors = [];
  await s.request('GET', '/iserver/accounts');
  sim.bearers.clear();
  await s.request('GET', '/iserver/accounts');
  sim.fault({ kind: 'status', status: 500, path: '/iserver/accounts' });
  await s.request('GET', '/iserver/accounts').catch((e) => errors.push(e));
  await s.tickle();
  await s.logout();
  const secrets = [...sim.accessTokens2.keys(), ...sim.bearers.keys()];
  assert.ok(secrets.length >= 3 && lines.length > 10);
  for (const t of [...lines, ...errors.map((e) => `${e.message} ${e.serverMessage}`)]) {
    for (const sec of secrets) assert.ok(!t.includes(sec), `token in: ${t}`);
  }
});

test('sessions sharing a store: one OAuth 2.0 connect for all of them; the bearer is stored sealed', async () => {
  const sim = await newSim();
  const inner = memoryStore();
  const written = [];
  const store = {
    get: (k) => inner.get(k),
    set: (k, v, o) => { written.push(v); return inner.set(k, v, o); },
    setIfAbsent: (k, v, o) => inner.setIfAbsent(k, v, o),
    delete: (k) => inner.delete(k),
  };
  const sessions = [0, 1, 2].map(() => session(sim, { store }));
  const all = await Promise.all(sessions.flatMap((s) => [1, 2, 3].map(() => s.request('GET', '/iserver/accounts'))));
  assert.ok(all.every((r) => r.accounts[0] === 'DU1234567'));
  assert.equal(sim.count('oauth2-token'), 1);
  assert.equal(sim.count('sso-session'), 1);
  const bearers = [...sim.bearers.keys()];
  assert.equal(bearers.length, 1);
  assert.ok(written.length > 0 && written.every((v) => !v.includes(bearers[0])), 'a stored value holds the bearer');
  // IBKR forgets the session: one reconnect for the fleet.
  sim.bearers.clear();
  await Promise.all(sessions.map((s) => s.request('GET', '/iserver/accounts')));
  assert.equal(sim.count('sso-session'), 2);
});
