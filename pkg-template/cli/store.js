// The `store` setting: where the CLI's sessions share their token with the rest of a fleet.
//   redis://[user:password@]host:port[/db], rediss://…  Redis through the `redis` package
//                                                       (installed beside ibkr-auth), else `ioredis`
//   file:/path/to/tokens.json (or a plain path)         fileStore: one JSON file, mode 0600
// A store URL may hold a password: it is never printed.
import { fileStore, redisStore } from '../node.mjs';
import { ConfigError, resolvePath } from './config.js';

/**
 * Opens the configured store: { store, close(), describe } or null when none is set. A Redis
 * that does not answer fails the command only when it needs the store (`required`: refresh);
 * otherwise `warn` says so and the command runs on its own token, as a session does when its
 * store goes down. Once connected, the client reconnects by itself after a Redis restart.
 */
export async function openStore(cfg, { required = false, warn = () => {} } = {}) {
  const spec = cfg.values.store;
  if (!spec) return null;
  const where = cfg.sources.store;
  if (/^rediss?:\/\//i.test(spec)) {
    let url;
    try {
      url = new URL(spec);
    } catch {
      throw new ConfigError(`${where}: store is not a valid URL; write redis://host:6379 (or rediss:// for TLS).`);
    }
    const describe = `redis ${url.hostname}:${url.port || 6379}`;
    let client;
    try {
      client = await connectRedis(spec, where);
    } catch (e) {
      if (required || !(e instanceof StoreDown)) throw e;
      warn(`${e.message} Going on without the store: this process uses its own token.`);
      return null;
    }
    return { store: redisStore(client), describe, close: () => closeRedis(client) };
  }
  const file = spec.startsWith('file:') ? spec.slice(5) : spec;
  if (!file) throw new ConfigError(`${where}: store is empty; write redis://host:6379 or file:/path/tokens.json.`);
  const p = resolvePath({ ...cfg, values: { ...cfg.values, store: file } }, 'store');
  return { store: fileStore(p), describe: `file ${p}`, close: async () => {} };
}

/** Redis did not answer (as opposed to a mistake in the configuration). */
class StoreDown extends ConfigError {}

/** A connected client of whichever Redis package the project has: `redis`, else `ioredis`. */
async function connectRedis(url, where) {
  // The client's own message, which may name the host but never the password.
  const failed = (e) => new StoreDown(`${where}: cannot connect to the Redis store (${String(e?.message ?? e).replace(url, '<store>')}). Check the address, and that Redis is running.`);
  let redis;
  try {
    redis = await import('redis');
  } catch {
    let Redis;
    try {
      ({ default: Redis } = await import('ioredis'));
    } catch {
      throw new ConfigError(`${where}: a redis:// store needs the \`redis\` (or \`ioredis\`) package: npm install redis`);
    }
    let connected = false;
    const client = new Redis(url, {
      lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 3000,
      retryStrategy: (times) => (connected ? Math.min(times * 200, 2000) : null),
    });
    client.once('ready', () => { connected = true; });
    client.on('error', () => {});
    try { await client.connect(); } catch (e) { client.disconnect(); throw failed(e); }
    return client;
  }
  let connected = false;
  const client = redis.createClient({
    url,
    socket: {
      connectTimeout: 3000,
      // Not at first (a Redis that is not there fails at once); after a restart, by itself.
      reconnectStrategy: (retries, cause) => (connected ? Math.min(retries * 200, 2000) : cause),
    },
  });
  client.once('ready', () => { connected = true; });
  client.on('error', () => {});
  try { await client.connect(); } catch (e) { throw failed(e); }
  return client;
}

async function closeRedis(client) {
  try {
    if (typeof client.quit === 'function') await client.quit();
    else client.disconnect();
  } catch { /* already closed */ }
}
