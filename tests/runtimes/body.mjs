// One body for every runtime the packed package is tested under (Node 20–26 by import and require,
// Deno, Bun, and an esbuild bundle in headless Chromium): the conformance suite of
// tests/js/conformance.mjs (vectors, bad-input table, WebCrypto as the independent RSA verifier),
// then an OAuth 1.0a and an OAuth 2.0 session against the simulator the test started on
// 127.0.0.1. Only standard APIs (fetch, WebCrypto); it returns plain data for the test to assert.
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
