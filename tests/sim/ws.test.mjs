// The simulator's WebSocket (sim/ws.mjs) over real sockets: the authentication of each session
// kind (OAuth 1.0a, OAuth 2.0, the gateway) accepted and refused, the first-message form, the
// streams (market data, orders, P&L) on a controlled clock, idle close, drops, expiry, and the
// RFC 6455 framing's edge cases. The clock only moves when a test moves it; streams only move on
// tick(); "nothing else was sent" is shown by a tic whose answer comes next.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import WebSocket from 'ws';
import { generateKeys, Simulator } from '../../sim/server.mjs';
import { testTls } from '../../sim/tls.mjs';
import { WS_CLOSE } from '../../sim/ws.mjs';
import { clientFrame, gatewayClient, oauth1Client, oauth2Client, request, tunnel, wsOpen, wsUrl } from './ws-helpers.mjs';

const keys = generateKeys();
const sims = [];
after(async () => { for (const s of sims.splice(0)) await s.close(); });

const T0 = Date.UTC(2025, 5, 16, 14, 0, 0);
const UA = { 'User-Agent': 'ClientPortalGW/1' };
const AAPL = 265598;
const opts = { timeout: 30_000 };

/** A simulator on a clock the test moves; tick(ms) moves it and the WebSocket streams. */
async function start(o = {}) {
  let now = T0;
  const secretHex = crypto.randomBytes(32).toString('hex');
  const sim = await new Simulator({ keys, secretHex, rateLimits: false, clock: () => now, ws: { autoTickMs: false, ...o.ws }, ...o, gatewayIdleMs: 1e12 }).start();
  sims.push(sim);
  return { sim, secretHex, advance: (ms) => { now += ms; }, tick: (ms = 0) => { now += ms; sim.wsTick(); }, now: () => now };
}

/** OAuth 1.0a: an LST, the brokerage session, and the /tickle session value. */
async function oauth1(o) {
  const s = await start(o);
  const client = oauth1Client(s.sim, s.secretHex);
  await client.handshake();
  assert.equal((await client.call('POST', '/iserver/auth/ssodh/init', { publish: true, compete: true })).status, 200);
  const t = await client.call('POST', '/tickle');
  assert.equal(t.status, 200);
  return { ...s, client, session: t.body.session };
}

/** The three messages after authentication: system success, sts, act. */
async function welcomed(ws) {
  const sys = await ws.json();
  assert.deepEqual(sys, { topic: 'system', success: 'simuser', isFT: false, isPaper: true });
  const sts = await ws.json();
  assert.equal(sts.topic, 'sts');
  assert.equal(sts.args.authenticated, true);
  const act = await ws.json();
  assert.equal(act.topic, 'act');
  assert.deepEqual(act.args.accounts, ['DU1234567']);
  assert.equal(act.args.selectedAccount, 'DU1234567');
}

/** The next event is a close with this code (and reason pattern); the server then ends the connection. */
async function closedWith(ws, code, reason) {
  const e = await ws.next();
  assert.equal(e.type, 'close', JSON.stringify(e));
  assert.equal(e.code, code, e.reason);
  if (reason) assert.match(e.reason, reason);
  ws.close(e.code);
  assert.equal((await ws.next()).type, 'end');
}

async function tic(ws, now) {
  ws.send('tic');
  const m = await ws.json();
  assert.equal(m.topic, 'tic');
  assert.equal(m.alive, true);
  assert.equal(m.lastAccessed, now);
}

// ---- OAuth 1.0a ---------------------------------------------------------------------------------

test('OAuth 1.0a: oauth_token + cookie api=<session> + User-Agent opens an authenticated socket', opts, async () => {
  const { sim, client, session, now } = await oauth1();
  assert.match(session, /^[0-9a-f]{32}$/);
  assert.equal((await client.call('POST', '/tickle')).body.session, session, '/tickle returns the same session for the same LST');
  const ws = await wsOpen(wsUrl(sim, `?oauth_token=${sim.accessToken}`), { headers: { ...UA, Cookie: `api=${session}` } });
  assert.equal(ws.status, 101);
  await welcomed(ws);
  await tic(ws, now());
  assert.deepEqual(sim.log.filter((e) => e.kind.startsWith('ws')).map((e) => `${e.kind} ${e.status}`), ['ws 101']);
  ws.close(1000, 'bye');
  await closedWith(ws, 1000);
  assert.deepEqual(sim.ws.stats.clientCloses, [{ code: 1000, reason: 'bye' }]);
});

test('OAuth 1.0a refusals: no User-Agent, unknown token, no LST, wrong and stale session cookies → 401', opts, async () => {
  const { sim, client, session } = await oauth1();
  const url = wsUrl(sim, `?oauth_token=${sim.accessToken}`);
  const noUa = await wsOpen(url, { headers: { Cookie: `api=${session}` } });
  assert.equal(noUa.status, 401);
  assert.match(noUa.body.error, /User-Agent/);
  assert.equal(noUa.body.statusCode, 401);
  const wrongToken = await wsOpen(wsUrl(sim, '?oauth_token=0123456789abcdef0123'), { headers: { ...UA, Cookie: `api=${session}` } });
  assert.equal(wrongToken.status, 401);
  assert.match(wrongToken.body.error, /invalid oauth_token/);
  const wrongSession = await wsOpen(url, { headers: { ...UA, Cookie: `api=${'0'.repeat(32)}` } });
  assert.equal(wrongSession.status, 401);
  assert.match(wrongSession.body.error, /unknown session/);
  // A new LST: the old session value is stale; /tickle hands out the new one.
  await client.handshake();
  const fresh = (await client.call('POST', '/tickle')).body.session;
  assert.notEqual(fresh, session);
  const stale = await wsOpen(url, { headers: { ...UA, Cookie: `api=${session}` } });
  assert.equal(stale.status, 401);
  assert.match(stale.body.error, /stale session/);
  const ok = await wsOpen(url, { headers: { ...UA, Cookie: `api=${fresh}` } });
  assert.equal(ok.status, 101);
  await welcomed(ok);
  // Logged out: no LST any more.
  assert.equal((await client.call('POST', '/logout')).status, 200);
  await closedWith(ok, WS_CLOSE.SESSION_EXPIRED, /^session expired$/);
  const noLst = await wsOpen(url, { headers: { ...UA, Cookie: `api=${fresh}` } });
  assert.equal(noLst.status, 401);
  assert.match(noLst.body.error, /no live session token/);
  assert.equal(sim.ws.stats.upgrades, 1);
});

test('OAuth 1.0a first-message form: "waiting for session", then {"session"}; a wrong one closes 1008', opts, async () => {
  const { sim, session, now } = await oauth1();
  const url = wsUrl(sim, `?oauth_token=${sim.accessToken}`);
  const ws = await wsOpen(url, { headers: UA });
  assert.equal(ws.status, 101);
  assert.deepEqual(await ws.json(), { message: 'waiting for session' });
  ws.send(JSON.stringify({ session }));
  await welcomed(ws);
  await tic(ws, now());
  assert.deepEqual(sim.ws.stats.messages, ['(a session message, not kept)', 'tic'], 'the session value is not kept');

  const bad = await wsOpen(url, { headers: UA });
  assert.deepEqual(await bad.json(), { message: 'waiting for session' });
  bad.send(JSON.stringify({ session: 'f'.repeat(32) }));
  await closedWith(bad, WS_CLOSE.POLICY, /^invalid session: unknown session$/);

  const notJson = await wsOpen(url, { headers: UA });
  await notJson.json();
  notJson.send('smd+265598+{}');
  await closedWith(notJson, WS_CLOSE.POLICY, /expected \{"session"/);

  // Without the oauth_token on the URL an OAuth 1.0a session is refused.
  const noToken = await wsOpen(wsUrl(sim), { headers: UA });
  await noToken.json();
  noToken.send(JSON.stringify({ session }));
  await closedWith(noToken, WS_CLOSE.POLICY, /oauth_token/);
});

test('a socket that never authenticates is closed 1008 after 5 s of simulator time', opts, async () => {
  const { sim, tick } = await oauth1();
  const ws = await wsOpen(wsUrl(sim, `?oauth_token=${sim.accessToken}`), { headers: UA });
  await ws.json();
  tick(4999);
  assert.equal(sim.ws.sockets, 1, 'still open at 4.999 s');
  tick(1);
  await closedWith(ws, WS_CLOSE.POLICY, /^authentication timeout/);
  assert.equal(sim.ws.sockets, 0);
});

// ---- OAuth 2.0 ----------------------------------------------------------------------------------

test('OAuth 2.0: Authorization: Bearer on the upgrade, or the first message with the bearer\'s session', opts, async () => {
  const { sim, now } = await start();
  const c = oauth2Client(sim);
  await c.login();
  await c.call('POST', '/iserver/auth/ssodh/init', { publish: true, compete: true });
  const session = (await c.call('POST', '/tickle')).body.session;
  assert.match(session, /^[0-9a-f]{32}$/);

  const byHeader = await wsOpen(wsUrl(sim), { headers: { ...UA, Authorization: `Bearer ${c.bearer}` } });
  assert.equal(byHeader.status, 101);
  await welcomed(byHeader);

  const byMessage = await wsOpen(wsUrl(sim), { headers: UA });
  assert.deepEqual(await byMessage.json(), { message: 'waiting for session' });
  byMessage.send(JSON.stringify({ session }));
  await welcomed(byMessage);
  await tic(byMessage, now());

  const wrong = await wsOpen(wsUrl(sim), { headers: { ...UA, Authorization: 'Bearer 0123456789abcdef' } });
  assert.equal(wrong.status, 401);
  assert.match(wrong.body.error, /invalid bearer token/);
  const noUa = await wsOpen(wsUrl(sim), { headers: { Authorization: `Bearer ${c.bearer}` } });
  assert.equal(noUa.status, 401);
  assert.match(noUa.body.error, /User-Agent/);

  // A new bearer: new session value; the old one is refused.
  const old = session;
  await c.login();
  const renewed = (await c.call('POST', '/tickle')).body.session;
  assert.notEqual(renewed, old);
  const mismatched = await wsOpen(wsUrl(sim), { headers: { ...UA, Authorization: `Bearer ${c.bearer}`, Cookie: `api=${old}` } });
  assert.equal(mismatched.status, 401);

  // expireTokens() ends every SSO bearer: both open sockets close with 4001.
  sim.expireTokens();
  await closedWith(byHeader, WS_CLOSE.SESSION_EXPIRED, /^session expired$/);
  await closedWith(byMessage, WS_CLOSE.SESSION_EXPIRED, /^session expired$/);
  const expired = await wsOpen(wsUrl(sim), { headers: { ...UA, Authorization: `Bearer ${c.bearer}` } });
  assert.equal(expired.status, 401);
  assert.match(expired.body.error, /bearer token expired/);
});

// ---- the gateway --------------------------------------------------------------------------------

test('gateway: the session as api=<session> or api={"session":…} (ibind) or first message; logged out → 401', opts, async () => {
  const { sim } = await start({ gateway: true });
  sim.setLoggedIn(true);
  const gw = gatewayClient(sim);
  const session = (await gw.call('POST', '/tickle')).body.session;
  assert.match(session, /^[0-9a-f]{32}$/);
  assert.equal((await gw.call('POST', '/tickle')).body.session, session, 'stable for one login');

  const plain = await wsOpen(wsUrl(sim), { headers: { Cookie: `api=${session}` } });
  assert.equal(plain.status, 101);
  await welcomed(plain);
  const ibind = await wsOpen(wsUrl(sim), { headers: { Cookie: `api=${JSON.stringify({ session })}` } });
  assert.equal(ibind.status, 101);
  await welcomed(ibind);
  const first = await wsOpen(wsUrl(sim));
  assert.deepEqual(await first.json(), { message: 'waiting for session' });
  first.send(JSON.stringify({ session }));
  await welcomed(first);
  const wrong = await wsOpen(wsUrl(sim), { headers: { Cookie: `api=${'1'.repeat(32)}` } });
  assert.equal(wrong.status, 401);

  // The gateway logs out: its sockets close; logged in again, the old session value is stale.
  sim.setLoggedIn(false);
  for (const ws of [plain, ibind, first]) await closedWith(ws, WS_CLOSE.SESSION_EXPIRED, /^session expired$/);
  const loggedOut = await wsOpen(wsUrl(sim), { headers: { Cookie: `api=${session}` } });
  assert.equal(loggedOut.status, 401);
  assert.match(loggedOut.body.error, /not logged in/);
  sim.setLoggedIn(true);
  const again = (await gw.call('POST', '/tickle')).body.session;
  assert.notEqual(again, session);
  const stale = await wsOpen(wsUrl(sim), { headers: { Cookie: `api=${session}` } });
  assert.equal(stale.status, 401);
  assert.match(stale.body.error, /stale session/);
});

// ---- streams ------------------------------------------------------------------------------------

test('smd: every field first, then only the changed ones on the clock; umd stops the stream', opts, async () => {
  const { sim, session, tick, now } = await oauth1();
  const ws = await wsOpen(wsUrl(sim, `?oauth_token=${sim.accessToken}`), { headers: { ...UA, Cookie: `api=${session}` } });
  await welcomed(ws);
  ws.send(`smd+${AAPL}+${JSON.stringify({ fields: ['31', '84', '86', '55'] })}`);
  const first = await ws.json();
  const v0 = sim.portal.fieldValues(AAPL, now());
  assert.equal(first.topic, `smd+${AAPL}`);
  assert.equal(first.conid, AAPL);
  assert.equal(first._updated, now());
  assert.deepEqual([first['31'], first['84'], first['86'], first['55']], [v0['31'], v0['84'], v0['86'], 'AAPL']);
  assert.equal(v0['31'], sim.portal.price(AAPL, now()).toFixed(2), 'the sandbox\'s deterministic price');

  // 30 s later the price has moved: only the changed fields come (the symbol does not).
  tick(30_000);
  assert.deepEqual(await ws.json(), { topic: 'system', hb: now() }, 'the heartbeat (10 s are over) comes first');
  const next = await ws.json();
  const v1 = sim.portal.fieldValues(AAPL, now());
  assert.notEqual(v1['31'], v0['31'], 'the wave moved the price in 30 s');
  assert.equal(next._updated, now());
  assert.equal(next['31'], v1['31']);
  assert.equal('55' in next, false, 'an unchanged field is not repeated');

  // Subscribing again adds fields, and sends every field once more.
  ws.send(`smd+${AAPL}+${JSON.stringify({ fields: ['7295'] })}`);
  const added = await ws.json();
  assert.deepEqual([added['7295'], added['31'], added['55']], [v1['7295'], v1['31'], 'AAPL']);

  ws.send(`umd+${AAPL}+{}`);
  await tic(ws, now());
  tick(30_000);
  assert.deepEqual(await ws.json(), { topic: 'system', hb: now() });
  await tic(ws, now());
  assert.deepEqual(sim.ws.state().subscriptions, [{ md: [], orders: false, pnl: false }]);

  ws.send('smd+999999+{"fields":["31"]}');
  assert.match((await ws.json()).error, /conid 999999 not found/);
});

test('sor and spl follow the sandbox: an order placed over REST, its fill on the clock, the P&L', opts, async () => {
  const { sim, client, session, tick, now } = await oauth1();
  const ws = await wsOpen(wsUrl(sim, `?oauth_token=${sim.accessToken}`), { headers: { ...UA, Cookie: `api=${session}` } });
  await welcomed(ws);
  ws.send('sor+{}');
  assert.deepEqual(await ws.json(), { topic: 'sor', args: [] });
  ws.send('spl+{}');
  const pl0 = await ws.json();
  assert.equal(pl0.topic, 'spl');
  assert.deepEqual(pl0.args, sim.portal.pnl().upnl);
  assert.equal(pl0.args['DU1234567.Core'].rowType, 1);

  const placed = await client.call('POST', '/iserver/account/DU1234567/orders', { orders: [{ conid: AAPL, side: 'BUY', quantity: 5, orderType: 'MKT', tif: 'DAY', cOID: 'ws-1' }] });
  assert.equal(placed.status, 200);
  const id = Number(placed.body[0].order_id);
  const submitted = await ws.json();
  assert.equal(submitted.topic, 'sor');
  assert.equal(submitted.args.length, 1);
  assert.deepEqual([submitted.args[0].orderId, submitted.args[0].status, submitted.args[0].filledQuantity, submitted.args[0].order_ref], [id, 'Submitted', 0, 'ws-1']);

  // fillMs (1 s) later the order fills at the ask; the P&L moves with the new position.
  tick(1000);
  const filled = await ws.json();
  assert.equal(filled.topic, 'sor');
  assert.equal(filled.args[0].status, 'Filled');
  assert.equal(filled.args[0].avgPrice, sim.portal.quote(AAPL, T0 + 1000).ask.toFixed(2));
  const pl1 = await ws.json();
  assert.equal(pl1.topic, 'spl');
  assert.deepEqual(pl1.args, sim.portal.pnl().upnl);
  assert.notEqual(pl1.args['DU1234567.Core'].mv, pl0.args['DU1234567.Core'].mv);

  // Cancel a working limit order: one update, nothing for the filled one.
  const lmt = await client.call('POST', '/iserver/account/DU1234567/orders', { orders: [{ conid: AAPL, side: 'BUY', quantity: 1, orderType: 'LMT', price: sim.portal.price(AAPL) * 0.98, tif: 'DAY' }] });
  const lid = Number(lmt.body[0].order_id);
  assert.deepEqual((await ws.json()).args.map((r) => [r.orderId, r.status]), [[lid, 'Submitted']]);
  await client.call('DELETE', `/iserver/account/DU1234567/order/${lid}`);
  assert.deepEqual((await ws.json()).args.map((r) => [r.orderId, r.status]), [[lid, 'Cancelled']]);

  ws.send('uor+{}');
  ws.send('upl+{}');
  await tic(ws, now());
  await client.call('POST', '/iserver/account/DU1234567/orders', { orders: [{ conid: AAPL, side: 'SELL', quantity: 1, orderType: 'MKT', tif: 'DAY' }] });
  tick(5000);
  await tic(ws, now());
});

test('sts follows the brokerage session: a competing session stops the streams until ssodh/init', opts, async () => {
  const { sim, client, session, tick, now } = await oauth1();
  const ws = await wsOpen(wsUrl(sim, `?oauth_token=${sim.accessToken}`), { headers: { ...UA, Cookie: `api=${session}` } });
  await welcomed(ws);
  ws.send(`smd+${AAPL}+{"fields":["31"]}`);
  await ws.json();
  sim.setCompeting();
  tick(5000);
  const sts = await ws.json();
  assert.deepEqual([sts.topic, sts.args.authenticated, sts.args.competing], ['sts', false, true]);
  tick(4000);
  await tic(ws, now()); // no market data while the brokerage session is gone
  await client.call('POST', '/iserver/auth/ssodh/init', { publish: true, compete: true });
  tick(1000);
  assert.deepEqual([(await ws.json()).topic, (await ws.json()).topic], ['system', 'sts'], 'the heartbeat (10 s), then the status');
  const md = await ws.json();
  assert.equal(md.topic, `smd+${AAPL}`);
  assert.equal(md['31'], sim.portal.fieldValues(AAPL, now())['31']);
});

test('heartbeats every 10 s; a socket with no client message for 60 s is closed 4002', opts, async () => {
  const { sim, session, tick, now } = await oauth1();
  const ws = await wsOpen(wsUrl(sim, `?oauth_token=${sim.accessToken}`), { headers: { ...UA, Cookie: `api=${session}` } });
  await welcomed(ws);
  for (let i = 1; i <= 5; i++) {
    tick(10_000);
    assert.deepEqual(await ws.json(), { topic: 'system', hb: now() });
  }
  tick(9_999);
  assert.equal(sim.ws.sockets, 1, 'open at 59.999 s');
  tick(1);
  await closedWith(ws, WS_CLOSE.IDLE, /^idle timeout: no message from the client in 60 s$/);

  // A tic keeps it open.
  const kept = await wsOpen(wsUrl(sim, `?oauth_token=${sim.accessToken}`), { headers: { ...UA, Cookie: `api=${session}` } });
  await welcomed(kept);
  tick(50_000);
  await kept.json(); // heartbeat
  await tic(kept, now());
  tick(50_000);
  await kept.json(); // heartbeat
  assert.equal(sim.ws.sockets, 1, '100 s open, 50 s since the tic');
});

test('dropWebSockets() and POST /__sim/ws/drop close every socket; expireTokens() closes 4001; the LST\'s end on the clock too', opts, async () => {
  const { sim, client, session, tick } = await oauth1();
  const open = () => wsOpen(wsUrl(sim, `?oauth_token=${sim.accessToken}`), { headers: { ...UA, Cookie: `api=${session}` } });
  const a = await open();
  const b = await open();
  await welcomed(a);
  await welcomed(b);
  assert.equal(sim.dropWebSockets(), 2);
  await closedWith(a, WS_CLOSE.GOING_AWAY, /^server shutting down$/);
  await closedWith(b, WS_CLOSE.GOING_AWAY, /^server shutting down$/);

  const c = await open();
  await welcomed(c);
  const r = await request(`${sim.origin}/__sim/ws/drop`, { method: 'POST', body: { code: 1012, reason: 'service restart' } });
  assert.deepEqual(r.body, { dropped: 1 });
  await closedWith(c, 1012, /^service restart$/);
  const state = await request(`${sim.origin}/__sim/ws`);
  assert.equal(state.body.sockets, 0);

  const d = await open();
  await welcomed(d);
  sim.expireTokens();
  await closedWith(d, WS_CLOSE.SESSION_EXPIRED, /^session expired$/);

  // The LST's lifetime runs out on the clock: the next tick closes the socket.
  await client.handshake();
  const s2 = (await client.call('POST', '/tickle')).body.session;
  const e = await wsOpen(wsUrl(sim, `?oauth_token=${sim.accessToken}`), { headers: { ...UA, Cookie: `api=${s2}` } });
  await welcomed(e);
  e.send('tic');
  await e.json();
  tick(sim.lstLifetimeMs + 1);
  await closedWith(e, WS_CLOSE.SESSION_EXPIRED, /^session expired$/);
});

// ---- framing ------------------------------------------------------------------------------------

async function authed(o) {
  const s = await oauth1(o);
  const ws = await wsOpen(wsUrl(s.sim, `?oauth_token=${s.sim.accessToken}`), { headers: { ...UA, Cookie: `api=${s.session}` } });
  await welcomed(ws);
  return { ...s, ws };
}

test('framing: fragments with a ping between them; ping → pong with its payload', opts, async () => {
  const { ws, now } = await authed();
  ws.write(clientFrame(0x9, 'hello'));
  const pong = await ws.next();
  assert.equal(pong.type, 'pong');
  assert.equal(pong.payload.toString(), 'hello');
  ws.write(clientFrame(0x1, 't', { fin: false }));
  ws.write(clientFrame(0x9, 'mid'));
  ws.write(clientFrame(0x0, 'i', { fin: false }));
  ws.write(clientFrame(0x0, 'c'));
  assert.equal((await ws.next()).payload.toString(), 'mid', 'the control frame is answered in the middle of a message');
  const m = await ws.json();
  assert.deepEqual(m, { topic: 'tic', alive: true, id: m.id, lastAccessed: now() });
  // A 200-byte message (16-bit length) in three fragments.
  const big = `smd+${AAPL}+${JSON.stringify({ fields: ['31'], pad: 'x'.repeat(160) })}`;
  ws.write(clientFrame(0x1, big.slice(0, 50), { fin: false }));
  ws.write(clientFrame(0x0, big.slice(50, 120), { fin: false }));
  ws.write(clientFrame(0x0, big.slice(120)));
  assert.equal((await ws.json()).topic, `smd+${AAPL}`);
});

test('framing: a frame over the maximum → 1009, and a fragmented message over it too', opts, async () => {
  const { ws } = await authed({ ws: { maxMessageBytes: 1024 } });
  ws.write(clientFrame(0x1, 'x'.repeat(1025)));
  await closedWith(ws, WS_CLOSE.TOO_BIG, /at most 1024 bytes/);
  const { ws: ws2 } = await authed({ ws: { maxMessageBytes: 1024 } });
  ws2.write(clientFrame(0x1, 'x'.repeat(1000), { fin: false }));
  ws2.write(clientFrame(0x0, 'x'.repeat(100)));
  await closedWith(ws2, WS_CLOSE.TOO_BIG);
  // A header claiming 2^40 bytes is refused at once, without waiting for them.
  const { ws: ws3 } = await authed();
  ws3.write(clientFrame(0x1, Buffer.alloc(0), { length: 2 ** 40 }).subarray(0, 14));
  await closedWith(ws3, WS_CLOSE.TOO_BIG);
});

test('framing: unmasked → 1002; RSV bits, unknown opcode, stray continuation, long or fragmented control → 1002; binary → 1003; bad UTF-8 → 1007', opts, async () => {
  const cases = [
    [clientFrame(0x1, 'tic', { mask: false }), WS_CLOSE.PROTOCOL_ERROR, /must be masked/],
    [clientFrame(0x1, 'tic', { rsv: 4 }), WS_CLOSE.PROTOCOL_ERROR, /reserved bits/],
    [clientFrame(0x3, 'tic'), WS_CLOSE.PROTOCOL_ERROR, /unknown opcode 3/],
    [clientFrame(0x0, 'tic'), WS_CLOSE.PROTOCOL_ERROR, /continuation/],
    [clientFrame(0x9, 'p'.repeat(126)), WS_CLOSE.PROTOCOL_ERROR, /control frames/],
    [clientFrame(0x9, 'p', { fin: false }), WS_CLOSE.PROTOCOL_ERROR, /control frames/],
    [Buffer.concat([clientFrame(0x1, 't', { fin: false }), clientFrame(0x1, 'ic')]), WS_CLOSE.PROTOCOL_ERROR, /new message began/],
    [clientFrame(0x2, 'tic'), WS_CLOSE.UNSUPPORTED_DATA, /binary/],
    [clientFrame(0x1, Buffer.from([0x74, 0xc3, 0x28])), WS_CLOSE.INVALID_DATA, /UTF-8/],
  ];
  const { sim, session } = await oauth1();
  for (const [bytes, code, reason] of cases) {
    const ws = await wsOpen(wsUrl(sim, `?oauth_token=${sim.accessToken}`), { headers: { ...UA, Cookie: `api=${session}` } });
    await welcomed(ws);
    ws.write(bytes);
    await closedWith(ws, code, reason);
  }
  assert.deepEqual(sim.ws.stats.closes.map((c) => c.code), cases.map(([, code]) => code));
});

test('framing: a client close is echoed with its code; a bad close code or payload → 1002', opts, async () => {
  const { sim, session, ws } = await authed();
  ws.close(4321, 'done');
  const echo = await ws.next();
  assert.deepEqual([echo.type, echo.code], ['close', 4321]);
  assert.equal((await ws.next()).type, 'end', 'the server ends the TCP connection');
  const open = async () => {
    const w = await wsOpen(wsUrl(sim, `?oauth_token=${sim.accessToken}`), { headers: { ...UA, Cookie: `api=${session}` } });
    await welcomed(w);
    return w;
  };
  const w1 = await open();
  w1.close(1005);
  await closedWith(w1, WS_CLOSE.PROTOCOL_ERROR, /invalid close code 1005/);
  const w2 = await open();
  w2.write(clientFrame(0x8, Buffer.from([0x03])));
  await closedWith(w2, WS_CLOSE.PROTOCOL_ERROR, /one byte/);
  const w3 = await open();
  w3.write(clientFrame(0x8, Buffer.alloc(0)));
  const e = await w3.next();
  assert.deepEqual([e.type, e.code], ['close', null], 'an empty close is echoed empty');
});

test('the upgrade request itself: wrong path 404, wrong version 426, bad key 400', opts, async () => {
  const { sim, session } = await oauth1();
  const h = { headers: { ...UA, Cookie: `api=${session}` } };
  const notWs = await wsOpen(`${wsUrl(sim).replace('/v1/api/ws', '/v1/api/wss')}?oauth_token=${sim.accessToken}`, h);
  assert.equal(notWs.status, 404);
  const v12 = await wsOpen(wsUrl(sim, `?oauth_token=${sim.accessToken}`), { ...h, version: '12' });
  assert.equal(v12.status, 426);
  assert.equal(v12.headers['sec-websocket-version'], '13');
  const badKey = await wsOpen(wsUrl(sim, `?oauth_token=${sim.accessToken}`), { ...h, key: 'short' });
  assert.equal(badKey.status, 400);
  assert.deepEqual(sim.log.filter((e) => e.kind === 'ws-rejected').map((e) => e.status), [404, 426, 400]);
});

test('mounted on another server: sim.handle for HTTP and sim.ws.upgrade for the upgrade; POST /__sim/ws/tick', opts, async () => {
  let now = T0;
  const sim = new Simulator({ keys, rateLimits: false, clock: () => now, ws: { autoTickMs: false } });
  const server = http.createServer((req, res) => sim.handle(req, res));
  server.on('upgrade', (req, socket, head) => sim.ws.upgrade(req, socket, head));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  try {
    sim.mountedAt(`http://127.0.0.1:${server.address().port}`);
    const c = oauth2Client(sim);
    await c.login();
    await c.call('POST', '/iserver/auth/ssodh/init', { publish: true, compete: true });
    const ws = await wsOpen(wsUrl(sim), { headers: { ...UA, Authorization: `Bearer ${c.bearer}` } });
    await welcomed(ws);
    ws.send(`smd+${AAPL}+{"fields":["31"]}`);
    assert.equal((await ws.json())['31'], sim.portal.fieldValues(AAPL, now)['31']);
    now += 60_000;
    const t = await request(`${sim.origin}/__sim/ws/tick`, { method: 'POST' });
    assert.deepEqual(t.body.subscriptions, []);
    await closedWith(ws, WS_CLOSE.IDLE);
  } finally {
    sim.ws.shutdown();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test('through the proxy mode: wss://api.ibkr.com/v1/api/ws over the CONNECT tunnel, with the simulator\'s test CA', opts, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ws-proxy-'));
  try {
    const tlsFiles = testTls(path.join(dir, 'tls'));
    const { sim, now } = await start({ proxy: true, tls: tlsFiles });
    const c = oauth2Client(sim);
    await c.login();
    await c.call('POST', '/iserver/auth/ssodh/init', { publish: true, compete: true });
    const socket = await tunnel(sim, 'api.ibkr.com', tlsFiles.ca);
    const ws = await wsOpen('wss://api.ibkr.com/v1/api/ws', { socket, headers: { ...UA, Authorization: `Bearer ${c.bearer}` } });
    assert.equal(ws.status, 101);
    await welcomed(ws);
    await tic(ws, now());
    assert.ok(sim.log.some((e) => e.method === 'CONNECT' && e.path === 'api.ibkr.com:443' && e.status === 200));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// ---- an independent client: the `ws` package --------------------------------------------------

/** Messages and events of a `ws` client as a queue: next() → { type: 'message', json } | { type: 'pong', data } | { type: 'close', code, reason }. */
function queued(socket) {
  const events = [];
  const waiters = [];
  const push = (e) => { const w = waiters.shift(); if (w) w(e); else events.push(e); };
  socket.on('message', (data, isBinary) => push({ type: 'message', isBinary, json: JSON.parse(data.toString('utf8')) }));
  socket.on('pong', (data) => push({ type: 'pong', data: data.toString() }));
  socket.on('close', (code, reason) => push({ type: 'close', code, reason: reason.toString() }));
  socket.on('unexpected-response', (req, res) => push({ type: 'refused', status: res.statusCode }));
  socket.on('error', () => {});
  return { next: () => (events.length ? Promise.resolve(events.shift()) : new Promise((r) => waiters.push(r))) };
}

test('the ws package as a client: headers form (it offers permessage-deflate, the sim declines), ping, market data, a drop', opts, async () => {
  const { sim, session, tick, now } = await oauth1();
  const socket = new WebSocket(wsUrl(sim, `?oauth_token=${sim.accessToken}`), { headers: { ...UA, Cookie: `api=${session}` } });
  const q = queued(socket);
  await new Promise((resolve, reject) => { socket.once('open', resolve); socket.once('error', reject); });
  assert.equal(socket.extensions, '', 'no extension negotiated');
  assert.equal((await q.next()).json.success, 'simuser');
  assert.equal((await q.next()).json.topic, 'sts');
  assert.equal((await q.next()).json.topic, 'act');
  socket.ping('are you there');
  assert.deepEqual(await q.next(), { type: 'pong', data: 'are you there' });
  socket.send(`smd+${AAPL}+{"fields":["31","86"]}`);
  const md = await q.next();
  assert.equal(md.isBinary, false);
  assert.deepEqual([md.json['31'], md.json['86']], [sim.portal.fieldValues(AAPL, now())['31'], sim.portal.fieldValues(AAPL, now())['86']]);
  tick(1000);
  const moved = await q.next();
  assert.equal(moved.json._updated, now());
  sim.dropWebSockets(1012, 'service restart');
  assert.deepEqual(await q.next(), { type: 'close', code: 1012, reason: 'service restart' });
});

test('the ws package as a client: the first-message form (a browser\'s way) and a refused upgrade', opts, async () => {
  const { sim, session } = await oauth1();
  const socket = new WebSocket(wsUrl(sim, `?oauth_token=${sim.accessToken}`), { headers: UA });
  const q = queued(socket);
  await new Promise((resolve) => socket.once('open', resolve));
  assert.deepEqual((await q.next()).json, { message: 'waiting for session' });
  socket.send(JSON.stringify({ session }));
  assert.equal((await q.next()).json.topic, 'system');
  socket.close(1000, 'done');
  assert.equal((await q.next()).json.topic, 'sts');
  assert.equal((await q.next()).json.topic, 'act');
  assert.deepEqual(await q.next(), { type: 'close', code: 1000, reason: '' });

  const refused = new WebSocket(wsUrl(sim, `?oauth_token=${sim.accessToken}`), { headers: { ...UA, Cookie: 'api=00000000000000000000000000000000' } });
  const r = queued(refused);
  assert.deepEqual(await r.next(), { type: 'refused', status: 401 });
});

test('framing: a large frame arriving in many small chunks, and a header split byte by byte, read as one message each', opts, async () => {
  const { sim, ws, now } = await authed();
  // 300 000 bytes (a 64-bit length) written 1 000 bytes at a time, then a tic right behind it.
  const text = `smd+${AAPL}+${JSON.stringify({ fields: ['31'], pad: 'y'.repeat(300_000) })}`;
  const bytes = Buffer.concat([clientFrame(0x1, text), clientFrame(0x1, 'tic')]);
  for (let i = 0; i < bytes.length; i += 1000) {
    ws.write(bytes.subarray(i, i + 1000));
    if (i % 50_000 === 0) await new Promise((r) => setImmediate(r));
  }
  assert.equal((await ws.json()).topic, `smd+${AAPL}`);
  assert.equal((await ws.json()).topic, 'tic');
  // A 16-bit-length frame one byte at a time.
  const mid = clientFrame(0x1, `ech+${'z'.repeat(200)}`);
  for (const b of mid) { ws.write(Buffer.from([b])); await new Promise((r) => setImmediate(r)); }
  assert.deepEqual(await ws.json(), { topic: 'ech', hb: now() });
  assert.deepEqual(sim.ws.stats.messages, [text, 'tic', `ech+${'z'.repeat(200)}`]);
});

test('stats keep the newest `history` entries and count them all; renewed session values are retired, boundedly', opts, async () => {
  const { sim, ws, client, session, now } = await authed({ ws: { history: 3 } });
  for (let i = 0; i < 20; i += 1) ws.send(`ech+${i}`);
  for (let i = 0; i < 20; i += 1) assert.equal((await ws.json()).topic, 'ech');
  assert.deepEqual(sim.ws.stats.messages, ['ech+17', 'ech+18', 'ech+19']);
  assert.equal(sim.ws.stats.counts.messages, 20);
  const url = wsUrl(sim, `?oauth_token=${sim.accessToken}`);
  for (let i = 0; i < 5; i += 1) assert.equal((await wsOpen(url, { headers: UA, version: '12' })).status, 426);
  assert.equal(sim.ws.stats.refused.length, 3);
  assert.equal(sim.ws.stats.counts.refused, 5);
  assert.equal(sim.ws.state().refused, 5);
  sim.ws.drop();
  await closedWith(ws, WS_CLOSE.GOING_AWAY);

  // Each new LST renews the session value: only the current one stays issued, the old ones are
  // retired (still "stale", not "unknown") up to `history` of them.
  const values = [session];
  for (let i = 0; i < 5; i += 1) {
    await client.handshake();
    values.push((await client.call('POST', '/tickle')).body.session);
  }
  assert.equal(new Set(values).size, 6);
  assert.deepEqual([...sim.ws.issued.keys()], [values[5]]);
  assert.deepEqual([...sim.ws.retired.keys()], values.slice(2, 5));
  const refusal = async (v) => (await wsOpen(url, { headers: { ...UA, Cookie: `api=${v}` } })).body.error;
  assert.match(await refusal(values[4]), /stale session/);
  assert.match(await refusal(values[0]), /unknown session/, 'retired past `history`: forgotten');
  assert.equal((await wsOpen(url, { headers: { ...UA, Cookie: `api=${values[5]}` } })).status, 101);
  assert.equal(now(), T0, 'no clock moved: the renewal alone retired them');
});

test('stats: the default history is 1000 entries per list', opts, async () => {
  const { sim, ws } = await authed();
  assert.equal(sim.ws.history, 1000);
  for (let i = 0; i < 1100; i += 1) ws.send(`ech+${i}`);
  for (let i = 0; i < 1100; i += 1) await ws.json();
  assert.equal(sim.ws.stats.messages.length, 1000);
  assert.equal(sim.ws.stats.messages.at(-1), 'ech+1099');
  assert.equal(sim.ws.stats.counts.messages, 1100);
});
