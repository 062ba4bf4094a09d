// One body for every runtime the packed package is tested under (Node 20–26 by import and require,
// Deno, Bun, and an esbuild bundle in headless Chromium): the conformance suite of
// tests/js/conformance.mjs (vectors, bad-input table, WebCrypto as the independent RSA verifier),
// then an OAuth 1.0a and an OAuth 2.0 session against the simulator the test started on
// 127.0.0.1, the OAuth 1.0a one also streaming a quote over the runtime's global WebSocket where
// it has one (Node ≥ 22, Deno, Bun, browsers). Only standard APIs (fetch, WebCrypto, WebSocket);
// it returns plain data for the test to assert.
import { runConformance, webCryptoVerifyRsa } from './conformance.mjs';

/**
 * @param {object} api the package's exports, as the runtime loaded them
 * @param {{ data: object, oauth1: object, oauth2: object }} input loadData() and the simulator's
 *   clientConfig() / clientConfig2()
 */
export async function runAll(api, input) {
  const conformance = await runConformance(api, input.data, { verifyRsa: webCryptoVerifyRsa });
  const sessions = {};
  const step = async (name, fn) => {
    try {
      sessions[name] = await fn();
    } catch (e) {
      sessions[name] = { error: `${e?.name}: ${e?.code ?? ''} ${e?.message}` };
    }
  };

  await step('oauth1', async () => {
    const s = api.IbkrSession.oauth1({ ...input.oauth1, pacing: false });
    const status = await s.initBrokerage();
    const accounts = (await s.request('GET', '/iserver/accounts')).accounts;
    const tickle = await s.tickle();
    const stream = await streamOneQuote(api, s);
    // The signed headers for another client, then that client's own request with them.
    const url = `${input.oauth1.baseUrl}/portfolio/accounts`;
    const headers = await s.authorize('GET', url);
    const viaHeaders = await (await fetch(url, { headers })).json();
    await s.logout();
    return {
      authenticated: status.authenticated,
      accounts,
      tickleAuthenticated: tickle.iserver?.authStatus?.authenticated ?? null,
      oauthHeader: /^OAuth realm="[^"]+", /.test(headers.Authorization ?? headers.authorization ?? ''),
      portfolioAccounts: Array.isArray(viaHeaders) ? viaHeaders.map((a) => a.id ?? a.accountId) : viaHeaders,
      stream,
    };
  });

  await step('oauth2', async () => {
    const s = api.IbkrSession.oauth2({ ...input.oauth2, pacing: false });
    const accounts = (await s.request('GET', '/iserver/accounts')).accounts;
    const status = await s.status();
    await s.logout();
    return { accounts, authenticated: status.authenticated };
  });

  // A refused session is a typed error with a stable code, in every runtime.
  await step('refused', async () => {
    const s = api.IbkrSession.oauth1({ ...input.oauth1, consumerKey: 'NOTREGIS', pacing: false, maxRetries: 0 });
    try {
      await s.request('GET', '/iserver/accounts');
      return { error: 'accepted an unknown consumer key' };
    } catch (e) {
      return { isIbkrAuthError: e instanceof api.IbkrAuthError, code: e.code, status: e.status ?? null };
    }
  });

  return { passed: conformance.passed, failures: conformance.failures, sessions };
}

/**
 * Opens the session's stream with the global WebSocket, subscribes to a quote and waits for it
 * (the simulator streams on its own timer); 'no global WebSocket' where there is none (Node 20).
 * The safety timer only turns a hang into a result; nothing is judged by time.
 */
async function streamOneQuote(api, s) {
  if (typeof globalThis.WebSocket !== 'function') return 'no global WebSocket';
  let stream;
  let timer;
  try {
    stream = await s.websocket({ WebSocket: globalThis.WebSocket, subscriptions: ['smd+265598+{"fields":["31"]}'] });
    const authenticated = stream.authenticated;
    const quote = await new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(new Error('no quote within 30 s')), 30_000);
      stream.on('message', (m) => { if (m?.topic === 'smd+265598' && m['31'] !== undefined) resolve(m); });
      stream.on('error', reject);
    });
    return { authenticated, quote: typeof quote['31'] === 'string' || typeof quote['31'] === 'number' };
  } catch (e) {
    return { error: `${e?.name}: ${e?.code ?? ''} ${e?.message}` };
  } finally {
    clearTimeout(timer);
    stream?.close();
  }
}
