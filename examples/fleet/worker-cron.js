// A Cloudflare Worker that keeps one IBKR live session token fresh in Workers KV (the cron
// trigger) and uses it to answer requests (the fetch handler).
//
// wrangler.toml:
//   name = "ibkr-token"
//   main = "worker-cron.js"
//   compatibility_date = "2025-01-01"
//   kv_namespaces = [{ binding = "TOKENS", id = "<your namespace id>" }]
//   [triggers]
//   crons = ["*/15 * * * *"]
//   [vars]
//   REFRESH_WITHIN_MS = "3600000"   # optional, default 1 h
//   # IB_BASE_URL = "…"             # optional: the simulator's URL for a dry run
//
// Secrets (`wrangler secret put NAME`): IB_CONSUMER_KEY, IB_ACCESS_TOKEN, IB_ACCESS_TOKEN_SECRET,
// IB_SIGNATURE_KEY, IB_ENCRYPTION_KEY and IB_DH_PARAMS (the last three as PEM text).
//
// Why KV is enough here: KV has no atomic set-if-absent, so two Workers that both find the token
// missing could both make a handshake, and the second would knock out the first one's token. Here
// the cron trigger is the one writer: it refreshes the token well before it expires, and the
// fetch handler only reads what it stored. If many Workers (or many invocations at once) may
// have to make a handshake themselves, use durableObjectStore(env.TOKEN_STORE, { name }) with
// the package's TokenStoreObject as the Durable Object class instead: its lease is atomic.
//
// wrangler resolves `ibkr-auth` to the package's Workers entry (the `workerd` export condition),
// which imports the .wasm as a compiled module, as Workers require.
import { IbkrAuthError, IbkrSession, kvStore } from 'ibkr-auth';

// PEM text in a secret or in .dev.vars sometimes arrives with its newlines as "\n".
const pem = (text) => text?.replace(/\\n/g, '\n');

/** A session of the account over the KV namespace; what is stored there is sealed. */
function sessionFor(env) {
  return IbkrSession.oauth1({
    consumerKey: env.IB_CONSUMER_KEY,
    accessToken: env.IB_ACCESS_TOKEN,
    accessTokenSecret: env.IB_ACCESS_TOKEN_SECRET,
    signatureKey: pem(env.IB_SIGNATURE_KEY),
    encryptionKey: pem(env.IB_ENCRYPTION_KEY),
    dhParams: pem(env.IB_DH_PARAMS),
    baseUrl: env.IB_BASE_URL || undefined,
    store: kvStore(env.TOKENS),
  });
}

export default {
  // The cron trigger: make sure the stored token is good for more than REFRESH_WITHIN_MS.
  // Every 15 minutes with a 1 h margin, a token is replaced about an hour before it expires.
  async scheduled(event, env, ctx) {
    const withinMs = Number(env.REFRESH_WITHIN_MS ?? 3_600_000);
    const { refreshed, expiresAt, generation } = await sessionFor(env).refresh({ withinMs });
    console.log(JSON.stringify({ cron: event.cron, refreshed, expiresAt: new Date(expiresAt).toISOString(), generation }));
  },

  // A consumer of the stored token. A session per request: Workers do not let one request wait
  // on I/O another request started, and reading the stored token from KV is cheap. If KV holds no
  // token yet, this session makes the handshake and stores it; several requests at once could
  // then each make one (KV has no lease), so fire the cron once after deploying, before traffic.
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    if (request.method !== 'GET' || pathname !== '/accounts') return new Response('not found', { status: 404 });
    try {
      return Response.json(await sessionFor(env).request('GET', '/portfolio/accounts'));
    } catch (e) {
      // An IbkrAuthError's code and message never hold a secret.
      if (e instanceof IbkrAuthError) return Response.json({ error: e.code, message: e.message }, { status: 502 });
      throw e;
    }
  },
};
