// An AWS Lambda function that keeps one IBKR live session token fresh in Redis for a whole fleet.
//
// Schedule it with an EventBridge rule every 15 minutes (rate(15 minutes), or the cron
// `*/15 * * * ? *`). Each run makes sure the token in the store is good for more than
// REFRESH_WITHIN_MS (default 1 h): if it is, nothing happens; if not, this function makes the one
// handshake and stores the new token, sealed, for every process of the account to pick up. Those
// processes (trading-server.mjs is one) share the same Redis, so they never handshake themselves
// while this runs; when IBKR refuses their old token after a refresh, they read the new one.
//
// Runtime: Node.js 20 or later, handler `lambda-refresher.handler`, the function in a VPC that
// reaches your Redis, the `ibkr-auth` and `redis` packages bundled with it.
//
// Environment: the account's IB_* variables (account-from-env.mjs: IB_CONSUMER_KEY,
// IB_ACCESS_TOKEN, IB_ACCESS_TOKEN_SECRET, IB_SIGNATURE_KEY, IB_ENCRYPTION_KEY, IB_DH_PARAMS as
// PEM text, optional IB_BASE_URL and IB_REALM), and
//   REDIS_URL                 e.g. rediss://user:password@my-redis.example.com:6379
//   REFRESH_WITHIN_MS (optional)  default 3600000 (1 h)
//
// Lambda caps all of a function's environment variables together at 4 KB, which two PEM keys
// nearly fill. In production keep the account in AWS Secrets Manager and read it in
// loadAccount() below (once per cold start, like the Redis client); nothing else changes.
import { createClient } from 'redis';
import { IbkrSession, redisStore } from 'ibkr-auth';
import { accountFromEnv, env } from './account-from-env.mjs';

/** The account's credentials: from the environment (account-from-env.mjs). To use Secrets
 * Manager instead, fetch the secret here and return the same fields. */
const loadAccount = accountFromEnv;

// Module scope lives as long as the execution environment: a warm invocation reuses the
// connected Redis client and the session (and the token it holds) instead of starting over.
let ready = null;

async function start() {
  const client = createClient({ url: env('REDIS_URL') });
  // Without a listener an 'error' event would crash the runtime; the failing command reports it.
  client.on('error', (e) => console.error(`redis: ${e.message}`));
  await client.connect();
  const session = IbkrSession.oauth1({
    ...loadAccount(),
    store: redisStore(client),
    // Log lines never carry a secret; warnings say when the store misbehaves.
    logger: { warn: (m) => console.warn(m), error: (m) => console.error(m) },
  });
  return { client, session };
}

export const handler = async (event, context) => {
  // A failed cold start (Redis unreachable, a variable missing) is retried on the next run.
  ready ??= start().catch((e) => { ready = null; throw e; });
  const { session } = await ready;
  const withinMs = Number(process.env.REFRESH_WITHIN_MS ?? 3_600_000);
  if (!Number.isFinite(withinMs) || withinMs < 0) throw new Error('REFRESH_WITHIN_MS must be a number of milliseconds');

  const { refreshed, expiresAt, generation } = await session.refresh({ withinMs });

  // One line per run for CloudWatch: what happened, never the token.
  console.log(JSON.stringify({
    requestId: context?.awsRequestId,
    scheduledFor: event?.time,
    refreshed,
    expiresAt: new Date(expiresAt).toISOString(),
    generation,
    remainingMs: context?.getRemainingTimeInMillis?.(),
  }));
  return { refreshed, expiresAt, generation };
};
