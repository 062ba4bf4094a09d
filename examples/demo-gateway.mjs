// `make demo` (second part) or `make demo-gateway`: the Client Portal Gateway logged in without a
// browser, against the bundled simulator's gateway (HTTPS, self-signed certificate, the login's
// server side in plain node:crypto and BigInt): SRP-6 + TOTP, keep-alive, and recovery after the
// gateway logs itself out — all inside the lockout guard. Exits non-zero if any step fails.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gatewayCertificate, gatewayFetch, gatewayLogin, IbkrAuthError, IbkrSession, loginGuard } from '../pkg/node.mjs';
import { base32Encode } from '../sim/gateway-otp.mjs';
import { Simulator } from '../sim/server.mjs';
import { bold, dim, green, red, step } from './steps.mjs';

// A person's account on the simulated gateway: a password longer than 8 characters (the gateway
// says `lp`) and a TOTP secret, as an authenticator app would hold it (base32).
const account = { username: 'DemoUser', password: crypto.randomBytes(9).toString('base64url'), lp: true, secondFactor: { type: 'totp', secret: base32Encode(crypto.randomBytes(20)) } };
const sim = await new Simulator({ gateway: true, rateLimits: false, gatewayLogin: { users: [account] } }).start();
const guardFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ibkr-auth-demo-')), 'gateway-guard.json');
console.log(bold('\nibkr-auth demo — the Client Portal Gateway logged in without a browser'));
console.log(dim(`simulated gateway at ${sim.origin} (self-signed certificate); user ${account.username}, TOTP second factor\n`));

try {
  const cert = await step('Trust on first use: read the gateway\'s certificate', () => gatewayCertificate(sim.origin),
    (c) => [`SHA-256 fingerprint ${c.fingerprint256.slice(0, 23)}…; every request below trusts exactly this certificate`]);
  const fetch = gatewayFetch({ baseUrl: sim.origin, certificate: cert.pem });
  const login = () => gatewayLogin({
    baseUrl: sim.origin, fetch, username: account.username, password: account.password,
    secondFactor: { type: 'totp', secret: account.secondFactor.secret }, guard: { file: guardFile }, statusPollMs: 200,
  });
  await step('Headless login: SRP-6 password proof, EKX, TOTP, dispatcher, status poll', login,
    (s) => [`authenticated: ${s.authenticated}, connected: ${s.connected}`,
      `the password never left this process: the gateway checked an SRP-6 proof (${sim.loginStats.successes} login, ${sim.loginStats.failures} failures)`]);
  const session = IbkrSession.gateway({ baseUrl: sim.baseUrl, fetch, statusPolls: 3, statusPollMs: 100 });
  await step('Keep-alive (POST /tickle)', () => session.keepAliveOnce(),
    (r) => [`authenticated: ${r.authenticated}${r.reinitialised ? ' (re-initialised)' : ''}`]);
  sim.setLoggedIn(false);
  await step('The gateway logs itself out; keep-alive sees it and logs in again, inside the guard', async () => {
    try {
      await session.keepAliveOnce();
      throw new Error('keep-alive did not notice that the gateway logged out');
    } catch (e) {
      if (!(e instanceof IbkrAuthError) || e.code !== 'UNAUTHORIZED') throw e;
    }
    const s = await login();
    return { s, r: await session.keepAliveOnce(), guard: await loginGuard({ file: guardFile }).read() };
  }, ({ s, r, guard }) => [`UNAUTHORIZED → gatewayLogin → authenticated: ${s.authenticated}; keep-alive: authenticated ${r.authenticated}`,
    `lockout guard: ${guard.failures} failures of ${guard.maxAttempts} allowed (${guardFile})`]);
  await step('Accounts (GET /iserver/accounts) through the gateway', () => session.request('GET', '/iserver/accounts'),
    (a) => [`accounts: ${a.accounts.join(', ')}`]);
} catch {
  // the failed step printed itself
} finally {
  await sim.close();
}
console.log(process.exitCode ? red('\nthe gateway demo failed') : green('\ngateway demo complete: logged in headless, kept alive, recovered'));
