// A small HTTP service that calls the IBKR Web API with the token a scheduled refresher keeps in
// Redis (lambda-refresher.mjs, or any process with session.refresh()). Run as many copies as you
// like: they share the one token instead of each making a handshake, which would knock the
// others' tokens out (IBKR keeps one live session token per access token).
//
//   node trading-server.mjs [port]      port: argv, else $PORT, else 0 (any free port, printed)
//   curl http://127.0.0.1:<port>/accounts
//
// Environment: the account's IB_* variables (account-from-env.mjs, as for lambda-refresher.mjs)
// and REDIS_URL.
//
// It listens on 127.0.0.1 only: put your own authentication in front before exposing it.
import http from 'node:http';
import { createClient } from 'redis';
import { IbkrAuthError, IbkrSession, redisStore } from 'ibkr-auth';
import { accountFromEnv, env } from './account-from-env.mjs';

const client = createClient({ url: env('REDIS_URL') });
client.on('error', (e) => console.error(`redis: ${e.message}`));
await client.connect();

// The session reads the token from the store. It holds it in memory and goes back to the store
// when IBKR answers 401 (a refresher replaced it) or when it nears expiry. Only if the store has
// no usable token does it make a handshake itself, under the store's lease, so that one process
// of the fleet does it and the others wait for its result.
const session = IbkrSession.oauth1({
  ...accountFromEnv(),
  store: redisStore(client),
  logger: { warn: (m) => console.warn(m), error: (m) => console.error(m) },
});

/** Sends `body` as JSON. */
function reply(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const server = http.createServer(async (req, res) => {
  try {
    if (req.method === 'GET' && new URL(req.url, 'http://localhost').pathname === '/accounts') {
      reply(res, 200, await session.request('GET', '/portfolio/accounts'));
    } else {
      reply(res, 404, { error: 'not found' });
    }
  } catch (e) {
    // An IbkrAuthError's code and message say what went wrong and never hold a secret.
    if (e instanceof IbkrAuthError) reply(res, 502, { error: e.code, message: e.message });
    else reply(res, 500, { error: 'INTERNAL' });
  }
});

const port = Number(process.argv[2] ?? process.env.PORT ?? 0);
server.listen(port, '127.0.0.1', () => {
  console.log(`trading-server listening on http://127.0.0.1:${server.address().port}`);
});

// On shutdown: stop taking requests, let those in flight finish, close Redis, exit.
// No session.logout(): the brokerage session and the token in the store belong to the whole
// fleet. Logging out would end them for every other process (and delete the stored token), so a
// rolling deploy would log out the service it is rolling. Leave the token to expire or be
// refreshed; log out deliberately, once, when the whole fleet stops.
async function shutdown() {
  server.close(async () => {
    await client.quit().catch(() => {});
    process.exit(0);
  });
  server.closeIdleConnections?.();
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
