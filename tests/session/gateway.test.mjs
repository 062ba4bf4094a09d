// IbkrSession.gateway against the simulator's HTTPS gateway mode: the self-signed certificate
// path, the 302 to the login page, ensureAuthenticated, competing sessions, a gateway that logs
// itself out mid-run, idle timeouts, and keep-alive's logout + re-init repair.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import { test } from 'node:test';
import { gatewayCertificate, gatewayFetch, IbkrSession, memoryStore } from '../../pkg/node.mjs';
import { GATEWAY_TLS } from '../../sim/server.mjs';
import { capture, newSim, rejects } from './helpers.mjs';

const newGateway = (o = {}) => newSim({ gateway: true, ...o });

const session = (gw, o = {}) => IbkrSession.gateway({
  baseUrl: gw.baseUrl, fetch: gatewayFetch({ baseUrl: gw.origin, certificate: GATEWAY_TLS.cert }), pacing: false, statusPolls: 3, statusPollMs: 50, ...o,
});

test('the self-signed certificate: pinned works, another certificate fails, insecure is explicit and per host', async () => {
  const gw = await newGateway();
  gw.setLoggedIn(true);
  const cert = await gatewayCertificate(gw.origin);
  assert.equal(cert.pem, GATEWAY_TLS.cert);
  assert.match(cert.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  assert.equal((await session(gw).status()).authenticated, true);
  // The default fetch refuses the self-signed certificate: a NETWORK error that says so.
  const plain = IbkrSession.gateway({ baseUrl: gw.baseUrl, pacing: false, maxRetries: 0 });
  await rejects(plain.status(), 'NETWORK');
  // Pinning another certificate fails too.
  const otherCert = fs.readFileSync(new URL('../fixtures/cert.pem', import.meta.url), 'utf8');
  const other = IbkrSession.gateway({ baseUrl: gw.baseUrl, pacing: false, maxRetries: 0, fetch: gatewayFetch({ baseUrl: gw.origin, certificate: otherCert }) });
  const e = await rejects(other.status(), 'NETWORK');
  assert.match(e.message, /certificate|self.signed|issuer/i);
  assert.equal((await IbkrSession.gateway({ baseUrl: gw.baseUrl, pacing: false, fetch: gatewayFetch({ baseUrl: gw.origin, insecure: true }) }).status()).authenticated, true);
  assert.throws(() => gatewayFetch({ baseUrl: gw.origin }), (e) => e.code === 'INVALID_ARGUMENT');
  // Other hosts keep normal fetch.
  const seen = [];
  const plainServer = http.createServer((req, res) => { seen.push(req.url); res.end('{"ok":true}'); });
  await new Promise((r) => plainServer.listen(0, '127.0.0.1', r));
  const f = gatewayFetch({ baseUrl: gw.origin, insecure: true });
  assert.equal((await f(`http://127.0.0.1:${plainServer.address().port}/x`)).status, 200);
  assert.deepEqual(seen, ['/x']);
  plainServer.close();
});

test('not logged in: the 302 to /sso/Login becomes UNAUTHORIZED with the fix', async () => {
  const gw = await newGateway();
  const s = session(gw);
  const e = await rejects(s.request('GET', '/iserver/accounts'), 'UNAUTHORIZED');
  assert.equal(e.status, 302);
  assert.match(e.message, /log in once in a browser on the gateway machine/i);
  await rejects(s.ensureAuthenticated(), 'UNAUTHORIZED');
});

test('POSTs carry Content-Length: 0 (the gateway answers 411 otherwise)', async () => {
  const gw = await newGateway();
  gw.setLoggedIn(true);
  const s = session(gw);
  assert.equal((await s.tickle()).iserver.authStatus.authenticated, true);
  assert.equal((await s.status()).authenticated, true);
  assert.equal(gw.log.filter((x) => x.status === 411).length, 0);
});

test('ensureAuthenticated re-initialises an idle session; validate and status are polled', async () => {
  const gw = await newGateway({ gatewayIdleMs: 200 });
  gw.setLoggedIn(true);
  const s = session(gw);
  await s.status();
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await s.status()).authenticated, false, 'the idle timeout ended the brokerage session');
  assert.equal((await s.ensureAuthenticated()).authenticated, true);
  assert.equal(gw.count('init'), 1);
});

test('a competing session is reported, and taken over only when asked', async () => {
  const gw = await newGateway();
  gw.setLoggedIn(true);
  gw.setCompeting();
  const s = session(gw);
  const e = await rejects(s.ensureAuthenticated(), 'UNAUTHORIZED');
  assert.match(e.message, /compete: true/);
  assert.equal(gw.count('init'), 0, 'not taken over');
  assert.equal((await s.ensureAuthenticated({ compete: true })).authenticated, true);
});

test('a gateway that logs itself out mid-run: a clear error, then it works again after a login', async () => {
  const gw = await newGateway();
  gw.setLoggedIn(true);
  const s = session(gw);
  assert.deepEqual((await s.request('GET', '/iserver/accounts')).accounts, ['DU1234567']);
  gw.setLoggedIn(false);
  await rejects(s.request('GET', '/iserver/accounts'), 'UNAUTHORIZED');
  gw.setLoggedIn(true);
  assert.deepEqual((await s.request('GET', '/iserver/accounts')).accounts, ['DU1234567']);
});

test('keep-alive repairs "active but not authenticated" with logout + re-init, in the log', async () => {
  const gw = await newGateway({ gatewayIdleMs: 100 });
  gw.setLoggedIn(true);
  const { lines, logger } = capture();
  const s = session(gw, { logger, compete: true });
  await s.status();
  gw.stuck = true; // ssodh/init does not authenticate until a logout
  await new Promise((r) => setTimeout(r, 200));
  const k = s.keepAlive({ intervalMs: 1000 });
  await new Promise((r) => setTimeout(r, 2200));
  k.stop();
  assert.equal(gw.brokerage.authenticated, true, lines.join('\n'));
  assert.ok(lines.some((l) => l.includes('logging out and initialising again')), lines.join('\n'));
  assert.ok(gw.log.some((x) => x.path === '/v1/api/logout'));
});

test('gateway sessions sharing a store: one ssodh/init and one tickle per interval for the fleet', async () => {
  const gw = await newGateway();
  gw.setLoggedIn(true);
  const store = memoryStore();
  const sessions = [0, 1, 2].map(() => session(gw, { store }));
  const inits = gw.count('init');
  await Promise.all(sessions.map((s) => s.initBrokerage()));
  assert.equal(gw.count('init') - inits, 1);
  const tickles = gw.count('tickle');
  const rounds = await Promise.all(sessions.map((s) => s.keepAliveOnce({ intervalMs: 60_000 })));
  assert.equal(gw.count('tickle') - tickles, 1);
  assert.deepEqual(rounds.map((r) => r.skipped).sort(), [false, true, true]);
});
