// The account, from environment variables: shared by lambda-refresher.mjs and trading-server.mjs
// (copy it beside them). Throws naming a missing variable, never printing a value.
//   IB_CONSUMER_KEY, IB_ACCESS_TOKEN, IB_ACCESS_TOKEN_SECRET   the account's OAuth 1.0a credentials
//   IB_SIGNATURE_KEY, IB_ENCRYPTION_KEY, IB_DH_PARAMS          PEM text (real newlines or "\n")
//   IB_BASE_URL (optional)   default https://api.ibkr.com/v1/api; the simulator's for a dry run
//   IB_REALM (optional)      default limited_poa

/** One environment variable, or a clear error naming it. */
export function env(name, { optional = false } = {}) {
  const value = process.env[name];
  if (value === undefined || value === '') {
    if (optional) return undefined;
    throw new Error(`the environment variable ${name} is not set`);
  }
  return value;
}

// PEM text pasted into an environment variable often arrives with its newlines as "\n".
const pem = (name) => env(name).replace(/\\n/g, '\n');

/** What IbkrSession.oauth1() takes for the account (add store, logger, …). */
export function accountFromEnv() {
  return {
    consumerKey: env('IB_CONSUMER_KEY'),
    accessToken: env('IB_ACCESS_TOKEN'),
    accessTokenSecret: env('IB_ACCESS_TOKEN_SECRET'),
    signatureKey: pem('IB_SIGNATURE_KEY'),
    encryptionKey: pem('IB_ENCRYPTION_KEY'),
    dhParams: pem('IB_DH_PARAMS'),
    baseUrl: env('IB_BASE_URL', { optional: true }),
    realm: env('IB_REALM', { optional: true }),
  };
}
