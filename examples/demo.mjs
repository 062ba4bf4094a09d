// `make demo`: a full authenticated session against the bundled IBKR simulator, step by step.
// The simulator (sim/, plain node:crypto) keeps its keys in .ibkr-sim/ (made on the first run).
// Exits non-zero if any step fails.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { IbkrSession } from '../pkg/node.mjs';
import { Simulator } from '../sim/server.mjs';
import { loadOrCreateState } from '../sim/state.mjs';
import { bold, dim, green, red, step } from './steps.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

const stateDir = process.env.IBKR_SIM_STATE ?? path.join(here, '..', '.ibkr-sim');
const t0 = performance.now();
const { options, created } = loadOrCreateState(stateDir);
const sim = await new Simulator(options).start();
console.log(bold('ibkr-auth demo — a full OAuth 1.0a session against the IBKR simulator'));
console.log(dim(`simulator at ${sim.origin}; ${created ? 'keys generated (first run)' : 'keys reused'} in ${path.relative(process.cwd(), stateDir) || stateDir} (${(performance.now() - t0).toFixed(0)} ms)\n`));

const session = IbkrSession.oauth1({ ...sim.clientConfig(), userAgent: 'ibkr-auth-demo' });
try {
  await step('Live session token handshake (RSA-SHA256 + Diffie-Hellman)', () => session.liveSessionToken(),
    (t) => [`token ${t.token.slice(0, 4)}… (secret), valid until ${new Date(t.expiresAt).toISOString()}`,
      `the simulator verified the RSA signature and the prepend; we verified its LST signature`]);
  await step('Brokerage session (POST /iserver/auth/ssodh/init)', () => session.initBrokerage({ compete: true }),
    (s) => [`authenticated: ${s.authenticated}, competing: ${s.competing}, connected: ${s.connected}`]);
  const accounts = await step('Accounts (GET /iserver/accounts, HMAC-SHA256 signed)', () => session.request('GET', '/iserver/accounts'),
    (a) => [`accounts: ${a.accounts.join(', ')}`]);
  const account = accounts.selectedAccount;
  await step('Market data (GET /iserver/marketdata/snapshot?conids=265598,8314 — query signed)',
    () => session.request('GET', '/iserver/marketdata/snapshot', { query: { conids: '265598,8314', fields: '31,84,86' } }),
    (rows) => rows.map((r) => `conid ${r.conid}: last ${r[31]}, bid ${r[84]}, ask ${r[86]}`));
  const order = { conid: 265598, side: 'BUY', quantity: 1, orderType: 'LMT', price: 190.0, tif: 'DAY' };
  await step(`A signed order (POST /iserver/account/${account}/orders)`,
    () => session.request('POST', `/iserver/account/${account}/orders`, { body: { orders: [order] } }),
    (r) => [`order ${r[0].order_id}: ${r[0].order_status} — BUY 1 AAPL LMT 190.00`, `orders on the server: ${sim.orders.length} (sent exactly once)`]);
  await step('Keep-alive (POST /tickle)', () => session.tickle(),
    (t) => [`a session value of ${t.session.length} characters (a secret: it authenticates the WebSocket, so it is not shown), authenticated: ${t.iserver.authStatus.authenticated}`]);
  await step('Streaming quotes (WebSocket /v1/api/ws: oauth_token, cookie api=<the /tickle session>)', async () => {
    const stream = await session.websocket({ WebSocket, subscriptions: ['smd+265598+{"fields":["31","84","86"]}'] });
    const quotes = [];
    const stop = setTimeout(() => stream.close(), 4000); // a few seconds of the simulator's ticks
    for await (const m of stream) {
      if (m?.topic === 'smd+265598' && m['31'] && quotes.push(m) >= 3) break;
    }
    clearTimeout(stop);
    stream.close();
    return quotes;
  }, (qs) => [...qs.map((q) => `AAPL last ${q[31]}${q[84] ? `, bid ${q[84]}, ask ${q[86]}` : ''} (${new Date(q._updated).toISOString().slice(11, 19)})`),
    'authenticated by the upgrade\'s cookie; tic every 30 s and reconnects with replay are the stream\'s']);
  sim.expireTokens();
  await step('The server expires the token; the next call recovers by itself', () => session.request('GET', '/iserver/accounts'),
    (a) => [`got ${a.accounts.length} account(s) after a 401, one new handshake and one retry (handshakes so far: ${sim.count('handshake')})`]);
  await step('Logout (POST /logout)', () => session.logout(), () => ['the live session token is forgotten']);
  console.log(`\n${green('✓')} done in ${(performance.now() - t0).toFixed(0)} ms: ${sim.count('signed')} signed requests, ${sim.count('handshake')} handshakes, ${sim.count('rejected')} rejected`);
} catch {
  console.log(red('\n✗ the demo failed'));
} finally {
  await sim.close();
}
