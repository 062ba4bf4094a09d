// Types for ibkr-auth. Strings in, strings out: PEM text, lowercase hex, standard base64.

/** The stable error codes. */
export type IbkrAuthErrorCode =
  /* ERROR_CODES: written here by scripts/build-pkg.mjs from the Rust ErrorCode enum's codes */ never;

/** Every code, in a fixed order. */
export declare const ERROR_CODES: readonly IbkrAuthErrorCode[];

/** Every failure is an IbkrAuthError. `message` names the cause and the fix and never a secret. */
export declare class IbkrAuthError extends Error {
  constructor(code: IbkrAuthErrorCode, message: string,
              details?: { status?: number; serverMessage?: string; cause?: unknown });
  readonly name: 'IbkrAuthError';
  readonly code: IbkrAuthErrorCode;
  /** HTTP status, for failures that came from HTTP. */
  readonly status?: number;
  /** The server's own message, for failures that came from HTTP. */
  readonly serverMessage?: string;
}

/** Parameter values: strings; numbers and booleans are turned into their string form. */
export type Params = Record<string, string | number | boolean>;

// ---- OAuth 1.0a, first party: the live session token -------------------------------------

/** RSA PKCS#1 v1.5 decryption of the access token secret with the private encryption key
 *  (PKCS#1 or PKCS#8 PEM). Returns the "prepend" as lowercase hex. A wrong key throws
 *  DECRYPT_FAILED; a damaged secret INVALID_ACCESS_TOKEN_SECRET. */
export declare function decryptAccessTokenSecret(encryptionKeyPem: string, accessTokenSecret: string): string;

/** Reads dhparam.pem (PKCS#3 "DH PARAMETERS"). `prime` is lowercase hex. */
export declare function parseDhParams(dhparamPem: string): { prime: string; generator: number };

/** A fresh 256-bit DH exponent, hex, from the platform's secure random source. */
export declare function dhRandom(): string;

/** A = generator^random mod prime, lowercase hex with no padding. `generator` defaults to 2. */
export declare function dhChallenge(o: { prime: string; random: string; generator?: number }): string;

/** The live session token (base64) from IBKR's `diffie_hellman_response`. Throws BAD_DH_RESPONSE
 *  unless 1 < B < p - 1. */
export declare function liveSessionToken(o: { dhResponse: string; random: string; prime: string; prepend: string }): string;

/** Checks IBKR's `live_session_token_signature` in constant time. */
export declare function verifyLiveSessionToken(o: { token: string; consumerKey: string; signature: string }): boolean;

// ---- OAuth 2.0 (private_key_jwt) ---------------------------------------------------------

/** The RS256 client assertion for POST https://api.ibkr.com/oauth2/api/v1/token:
 *  {"iss":clientId,"sub":clientId,"aud":"/token","exp":now+20,"iat":now-10}. `now`: Unix seconds (default now). */
export declare function clientAssertion(o: { clientId: string; clientKeyId: string; privateKey: string; now?: number }): string;

/** The signed body of POST https://api.ibkr.com/gw/api/v1/sso-sessions:
 *  {"ip","credential","iss","exp":now+86400,"iat":now[,"alternativeIps"]}. */
export declare function ssoSessionJwt(o: {
  clientId: string; clientKeyId: string; credential: string; ip: string; privateKey: string;
  now?: number; alternativeIps?: string[];
}): string;

// ---- Signing primitives ------------------------------------------------------------------

/** The OAuth 1.0a signature base string as IBKR wants it. `signQuery` (default true) merges the
 *  URL's query parameters into the signed parameters; false signs the URL without them. */
export declare function baseString(o: {
  method: string; url: string; params: Params; prepend?: string; signQuery?: boolean;
}): string;

/** RSASSA-PKCS1-v1_5 SHA-256 of `text` (UTF-8), base64. Keys: PKCS#1 or PKCS#8 PEM, 2048–4096 bits. */
export declare function signRsaSha256(privateKeyPem: string, text: string): string;

/** HMAC-SHA256 of `text` keyed by the live session token's bytes, base64. */
export declare function signHmacSha256(liveSessionToken: string, text: string): string;

/** `OAuth realm="…", k="v", …` with `oauth_signature` (percent-encoded) in code-point order. */
export declare function authorizationHeader(o: { realm: string; params: Params; signature: string }): string;

// ---- Whole requests (sans I/O: you send them) --------------------------------------------

/** Options every request builder takes. */
export interface RequestCommon {
  consumerKey: string;
  /** Default: "test_realm" for TESTCONS, else "limited_poa". */
  realm?: string;
  /** Default: "https://api.ibkr.com/v1/api". */
  baseUrl?: string;
  /** Default: 32 random hex characters. */
  nonce?: string;
  /** Unix seconds. Default: now. */
  timestamp?: number | string;
}

/** A signed request: send `method` to `url` with header `Authorization: authorization`. */
export interface SignedRequest {
  method: string;
  url: string;
  /** The signed base string. For the LST request it begins with the (secret) prepend. */
  baseString: string;
  /** The base64 signature. */
  signature: string;
  /** The Authorization header value. */
  authorization: string;
  /** The OAuth parameters in the header, without oauth_signature. */
  oauthParams: Record<string, string>;
}

/** The signed `POST /oauth/live_session_token` (send it with an empty body, Content-Length: 0). */
export declare function liveSessionTokenRequest(o: RequestCommon & {
  accessToken: string; challenge: string; prepend: string; signatureKey: string;
}): SignedRequest;

/** Third party, step 1: the signed `POST /oauth/request_token`. `callback` defaults to "oob". */
export declare function requestTokenRequest(o: RequestCommon & { signatureKey: string; callback?: string }): SignedRequest;

/** Third party, step 2: the URL where the user authorizes the request token.
 *  `base` defaults to https://www.interactivebrokers.com/authorize. */
export declare function authorizeUrl(o: { requestToken: string; base?: string }): string;

/** Third party, step 3: the signed `POST /oauth/access_token`. */
export declare function accessTokenRequest(o: RequestCommon & {
  signatureKey: string; requestToken: string; verifier: string;
}): SignedRequest;

/** An API call signed with HMAC-SHA256 (the live session token as key). `url` is absolute and may
 *  carry a query string. `signQuery` defaults to true. */
export declare function signRequest(o: RequestCommon & {
  method: string; url: string; accessToken: string; liveSessionToken: string; signQuery?: boolean;
}): SignedRequest;

// ---- Sessions over an injected fetch -----------------------------------------------------

/** A logger; console works. Never receives a secret. */
export interface Logger {
  debug?(message: string): void;
  info?(message: string): void;
  warn?(message: string): void;
  error?(message: string): void;
}

/** Options every session kind shares. */
export interface Common {
  /** Default https://api.ibkr.com/v1/api. */
  baseUrl?: string;
  /** More API base URLs (e.g. https://1.api.ibkr.com/v1/api): a 410 Gone moves the session to the next. */
  hosts?: string[];
  /** Default globalThis.fetch. */
  fetch?: typeof fetch;
  /** Milliseconds since the epoch. Default Date.now. */
  clock?: () => number;
  logger?: Logger;
  /** Default "ibkr-auth/<version>". */
  userAgent?: string;
  /** Per request, headers and body together (a body that stalls is TIMEOUT). Default 15000. */
  timeoutMs?: number;
  /** The most of a response body that is read; past it the request fails with
   *  UNEXPECTED_RESPONSE and the transfer is cut. Default 16777216 (16 MiB); at most
   *  1073741824 (1 GiB), more is INVALID_ARGUMENT. */
  maxResponseBytes?: number;
  /** Start a new handshake this long before the token expires. Default 600000. */
  refreshMarginMs?: number;
  /** Sign query parameters (IBKR's documented style). Default true. */
  signQuery?: boolean;
  /** Client-side pacing: true (IBKR's published limits, the default), false, or your own limits.
   *  `path` is exact ("/tickle"), a prefix ("/pa/*"), or "*" for every request. */
  pacing?: boolean | Array<{ path: string; limit: number; windowMs: number }>;
  /** Retries of idempotent requests after 5xx, 429 and network errors. Default 2. */
  maxRetries?: number;
  /** Use the runtime's own crypto where it has it: WebCrypto for the RSA signatures, node:crypto's
   *  raw RSA for the one decryption (each result checked). Default true; false: always the
   *  rsa crate in the module. */
  nativeCrypto?: boolean;
  /** `compete` for the automatic ssodh/init (after "no bridge", in keep-alive). Default true
   *  (false for the gateway: a competing session is reported, taken over only when asked). */
  compete?: boolean;
  /** How often ensureAuthenticated() checks the status after re-initialising. Default 8. */
  statusPolls?: number;
  /** The pause between those checks. Default 1000. */
  statusPollMs?: number;
  /** Where sessions of one account share their token, so a fleet makes one handshake per token
   *  lifetime (see TokenStore). What is stored is encrypted with a key derived from the account's
   *  own secrets. Default: none (each session makes its own handshake). */
  store?: TokenStore;
  /** How long to wait for another process's handshake (it holds the lease) before TIMEOUT.
   *  Default: the lease and 30000 more. */
  storeWaitMs?: number;
  /** How long a handshake's lease lasts in the store (a dead holder's is taken over after it).
   *  Default 30000, or the kind's handshake requests × timeoutMs when longer (OAuth 2.0: 8). */
  storeLeaseMs?: number;
  /** One store call; a slower one counts as the store being down (the session then carries on
   *  without it). Default 2000. */
  storeTimeoutMs?: number;
}

/** The brokerage session's state, as IBKR reports it. */
export interface AuthStatus {
  authenticated: boolean;
  competing: boolean;
  connected: boolean;
  [key: string]: unknown;
}

/** The answer to /tickle. */
export interface Tickle {
  session: string;
  ssoExpires?: number;
  collission?: boolean;
  iserver?: { authStatus?: AuthStatus };
  [key: string]: unknown;
}

export interface RequestOptions {
  query?: Params;
  /** Sent as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export declare class KeepAlive {
  private constructor();
  /** Stops the timer. */
  stop(): void;
}

/** A session with IBKR: tokens, signing, recovery, pacing and keep-alive, over your fetch. */
export declare class IbkrSession {
  private constructor();
  /** Parses the keys and decrypts the secret at once (mistakes throw here). */
  static oauth1(o: {
    consumerKey: string; accessToken: string; accessTokenSecret: string;
    /** PEM text. */
    signatureKey: string; encryptionKey: string; dhParams: string;
    /** Default "limited_poa" ("test_realm" for TESTCONS). */
    realm?: string;
  } & Common): IbkrSession;
  /** OAuth 2.0: client assertion → access token → SSO session (bearer) → validate → ssodh/init.
   *  The public IP comes from `ip`, else `ipLookup`, else https://api.ipify.org. */
  static oauth2(o: {
    clientId: string; clientKeyId: string;
    /** The IBKR username. */
    credential: string;
    /** PEM text (PKCS#1 or PKCS#8). */
    privateKey: string;
    ip?: string;
    ipLookup?: () => string | Promise<string>;
    alternativeIps?: string[];
  } & Common): IbkrSession;
  /** The Client Portal Gateway the user runs (default https://localhost:5000/v1/api). No signing;
   *  `compete` defaults to false; pacing to 10 req/s. In Node, pass `fetch: gatewayFetch(...)`
   *  for its self-signed certificate. */
  static gateway(o?: Common): IbkrSession;
  /** The API base URL in use. */
  readonly baseUrl: string;
  /** Switches the API host at run time, e.g. "https://1.api.ibkr.com/v1/api". */
  setBaseUrl(url: string): void;
  /** Status; if not authenticated: ssodh/init (falling back to reauthenticate), validate, and poll
   *  the status until authenticated, or an UNAUTHORIZED error that says what to do. */
  ensureAuthenticated(o?: { compete?: boolean }): Promise<AuthStatus>;
  /** POST /iserver/reauthenticate. */
  reauthenticate(): Promise<unknown>;
  /** Cached; refreshed before expiry; one handshake at a time. The token is a secret. */
  liveSessionToken(): Promise<{ token: string; expiresAt: number }>;
  /** For a scheduled refresher: makes sure a token good for more than `withinMs` (default 1 h)
   *  exists — the one held, the stored one, or a new one (stored for the fleet). `refreshed`: this
   *  process made a new token. `generation` grows with each new token of the fleet. */
  refresh(o?: { withinMs?: number }): Promise<{ refreshed: boolean; expiresAt: number; generation: number }>;
  /** The parsed JSON response; throws IbkrAuthError for failures. */
  request(method: string, path: string, o?: RequestOptions): Promise<unknown>;
  /** A drop-in fetch: only the session's own hosts get a signature. */
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>;
  /** The signed headers for another HTTP client. */
  authorize(method: string, url: string): Promise<Record<string, string>>;
  initBrokerage(o?: { compete?: boolean; publish?: boolean }): Promise<AuthStatus>;
  status(): Promise<AuthStatus>;
  tickle(): Promise<Tickle>;
  validate(): Promise<unknown>;
  logout(): Promise<void>;
  /** One keep-alive round now (what keepAlive() does on each tick). With a store, one process of
   *  the fleet tickles per `intervalMs` (default 60000); the others' rounds are `skipped`. */
  keepAliveOnce(o?: { intervalMs?: number }): Promise<{ authenticated: boolean; reinitialised: boolean; skipped: boolean }>;
  /** Tickles every intervalMs (default 60000) and re-initialises an unauthenticated or competing session. */
  keepAlive(o?: { intervalMs?: number }): KeepAlive;
  /** IBKR's streaming WebSocket. With no options, or only `fresh`/`repair`: what to open it with
   *  (WebSocketInfo, secrets included). With `WebSocket` or `fetch`: an opened, authenticated
   *  IbkrStream that stays so. */
  websocket(o?: { fresh?: boolean; repair?: boolean }): Promise<WebSocketInfo>;
  websocket(o: WebSocketOptions): Promise<IbkrStream>;
  /** What to open the streaming WebSocket with. `fresh`: ask /tickle for the session value even if
   *  the current token's is known; `repair`: make sure the brokerage session is authenticated first. */
  websocketInfo(o?: { fresh?: boolean; repair?: boolean }): Promise<WebSocketInfo>;
  /** Whether the token of `generation` is still the one in use (IbkrStream reopens when not). */
  websocketCurrent(generation: number): boolean;
  /** What IbkrStream does after a close (the decisions every runtime shares). */
  websocketClosed(o: WebSocketClose): WebSocketDecision;
}

// ---- Streaming WebSocket ---------------------------------------------------------------------

/** What opens an authenticated socket. `session`, `cookie`, `firstMessage` and (OAuth 2.0) the
 *  Authorization header are secrets: do not log them. */
export interface WebSocketInfo {
  /** wss://…/v1/api/ws (ws:// on an http base); OAuth 1.0a: with ?oauth_token=<access token>. */
  url: string;
  /** For runtimes that can send upgrade headers (Node's `ws`, Workers' fetch, Bun): User-Agent,
   *  Cookie (api=<session>; the gateway's api={"session":"…"}), OAuth 2.0's Authorization. */
  headers: Record<string, string>;
  cookie: string;
  /** The `session` value /tickle returned for the current token. */
  session: string;
  /** {"session":"…"}: send it first where headers cannot be set (browsers, global WebSocket). */
  firstMessage: string;
  /** The token generation the session value belongs to. */
  generation: number;
  /** Default interval of the `tic` message (30000). */
  ticMs: number;
  /** Default interval of the keep-alive round (/tickle, one per fleet; 60000). */
  keepAliveMs: number;
}

/** What `websocket()` opens the socket with: a WebSocket constructor, or (Workers) a fetch that
 *  upgrades. Stream options without either are INVALID_ARGUMENT. */
export type WebSocketOptions = WebSocketStreamOptions & (
  | {
    /** A WebSocket constructor: globalThis.WebSocket (browsers, Node ≥ 22, Deno, Bun) or the `ws`
     *  package's default export (Node 20; it sends the cookie and User-Agent as headers). */
    // (Any second parameter: the DOM's takes protocols, the `ws` package's protocols or options.)
    WebSocket: new (url: string, ...rest: any[]) => unknown;
    fetch?: undefined;
  }
  | {
    WebSocket?: undefined;
    /** Workers: a fetch that upgrades (`fetch(url, { headers: { Upgrade: 'websocket' } })`). */
    fetch: (url: string, init: { headers: Record<string, string> }) => Promise<{ status: number; webSocket?: unknown }>;
  });

export interface WebSocketStreamOptions {
  /** Send the headers on the upgrade (default: true for the `ws` package and fetch, else false:
   *  the first message authenticates). */
  headers?: boolean;
  /** Passed to the WebSocket constructor as its options (e.g. the `ws` package's `{ ca }` for the
   *  gateway's self-signed certificate); the upgrade headers are added to it. */
  socketOptions?: Record<string, unknown>;
  /** Subscriptions to send once authenticated, and after every reconnect. */
  subscriptions?: string[];
  /** The `tic` keep-alive message's interval: a whole number of milliseconds from 1000 to 55000
   *  (default 30000; IBKR closes a socket silent for a minute); anything else (false too) is
   *  INVALID_ARGUMENT. */
  ticMs?: number;
  /** The keep-alive round's interval (keepAliveOnce): a whole number of milliseconds ≥ 1000
   *  (default 60000), or false for none. */
  keepAliveMs?: number | false;
  /** setTimeout/clearTimeout to use (tests pass a controlled clock's). */
  timers?: { setTimeout(fn: () => void, ms: number): unknown; clearTimeout(id: unknown): void };
  /** Aborting closes the stream (before its first socket authenticated: the promise rejects
   *  with ABORTED; already aborted: at once). */
  signal?: AbortSignal;
}

export interface WebSocketClose {
  code: number; reason?: string; opened?: boolean; authenticated?: boolean; httpStatus?: number;
  attempt?: number; authRefusals?: number; prepareError?: IbkrAuthErrorCode;
  /** A socket of the stream has authenticated before (the first open gets 6 attempts). */
  streamed?: boolean;
  /** IBKR's `sts` said the brokerage session is not authenticated; the socket was closed to reopen. */
  brokerageLost?: boolean;
}

export type WebSocketDecision =
  | { action: 'reconnect'; delayMs: number; fresh: boolean; repair: boolean; refused: boolean }
  | { action: 'fail'; error: IbkrAuthError };

/** An authenticated streaming WebSocket that stays so: `tic` every ticMs, the keep-alive round
 *  every keepAliveMs, reopened (with back-off, a new session value, the brokerage session
 *  repaired) after a token renewal, a close or `sts` saying the brokerage session is not
 *  authenticated (reopens in a row back off, counted anew once a socket stays authenticated for
 *  a tic interval), the subscriptions replayed. It fails (the opening promise rejects, or
 *  `error` then `close` with code 1008) with WS_UNAUTHENTICATED when IBKR refuses it twice in a
 *  row with fresh session values; with INVALID_ARGUMENT when the WebSocket constructor throws;
 *  with the last failure's code (NETWORK, TIMEOUT, …) when its first socket could not be had in
 *  6 attempts; with the code of an error that is not transient while getting a session value
 *  (UNAUTHORIZED, CLOCK_SKEW, … and UNEXPECTED_RESPONSE before it first authenticated); or
 *  with INTERNAL on an unexpected throw inside it. A listener that throws does not stop it: the
 *  `error` listeners get an INTERNAL error whose `cause` is what was thrown; with none, it is
 *  thrown again as an uncaught exception. Topics are matched whatever their case. An async
 *  iterator that falls 10000 messages behind is ended with ABORTED after the ones it holds. */
export declare class IbkrStream implements AsyncIterable<unknown> {
  private constructor();
  readonly authenticated: boolean;
  /** How many times the socket was reopened. */
  readonly reconnects: number;
  readonly generation: number | undefined;
  readonly subscriptions: string[];
  /** e.g. smd+265598+{"fields":["31","84","86"]}, sor+{}, spl+{}; returns the key (smd+265598). */
  subscribe(message: string): string;
  /** By key (smd+265598, sor) or IBKR's message (umd+265598+{}). */
  unsubscribe(keyOrMessage: string): boolean;
  /** A message as it is, not replayed. Throws NETWORK while not open and authenticated. */
  send(message: string): void;
  on(type: 'message', fn: (msg: any) => void): this;
  on(type: 'open', fn: (e: { generation: number; reconnected: boolean }) => void): this;
  on(type: 'reconnecting', fn: (e: { attempt: number; delayMs: number; code: number; reason: string }) => void): this;
  on(type: 'keepalive', fn: (e: { authenticated: boolean; reinitialised: boolean; skipped: boolean } | { error: IbkrAuthError }) => void): this;
  /** The stream gave up (then `close`), or a listener threw (INTERNAL, `cause` what it threw; the stream goes on). */
  on(type: 'error', fn: (e: IbkrAuthError) => void): this;
  on(type: 'close', fn: (e: { code: number; reason: string }) => void): this;
  off(type: string, fn: (...a: any[]) => void): this;
  /** For good. `code` 1000 (default) or 3000–4999, `reason` at most 123 bytes of UTF-8; else
   *  INVALID_ARGUMENT (and the stream stays open). */
  close(code?: number, reason?: string): void;
  [Symbol.asyncIterator](): AsyncIterator<any>;
}

// ---- Token stores: one token for many processes --------------------------------------------

/** Where sessions share their token. Async; keys and values are opaque strings; an entry expires
 *  after ttlMs (then get returns null and setIfAbsent succeeds). A ttlMs that is not a positive
 *  number rejects with INVALID_ARGUMENT; a backend failure with NETWORK ("the token store (…)
 *  failed: …"). Easy to write for another backend. */
export interface TokenStore {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, o: { ttlMs: number }): Promise<void>;
  /** A lease / lock: true when it was set (no live entry was there). */
  setIfAbsent(key: string, value: string, o: { ttlMs: number }): Promise<boolean>;
  delete(key: string): Promise<void>;
}

/** Every runtime: this process's memory (sessions of one process share it). Atomic. */
export declare function memoryStore(o?: { clock?: () => number }): TokenStore;

/** Node only: one JSON file (mode 0600; atomic writes: temporary file, fsync, rename). set,
 *  setIfAbsent and delete run under the lock file `<path>.lock` (created whole, naming its process; one whose process died,
 *  or older than 10 s, is taken over), so setIfAbsent is atomic across processes. */
export declare function fileStore(path: string, o?: { clock?: () => number }): TokenStore;

/** Every runtime the client runs in: Redis through your connected client, `redis` (node-redis)
 *  or `ioredis`. setIfAbsent is SET NX PX (atomic). Keys get `prefix` (default "ibkr-auth:"). */
export declare function redisStore(client: unknown, o?: { prefix?: string }): TokenStore;

/** Cloudflare Workers KV (a namespace binding). NOT atomic: setIfAbsent is a get then a put, and
 *  KV is eventually consistent, so two locations may both win a lease (a few handshakes per
 *  propagation window at most). For exactly one, use durableObjectStore. */
export declare function kvStore(namespace: unknown): TokenStore;

/** Cloudflare Workers: one Durable Object (`name`, default "ibkr-auth") of a namespace binding
 *  whose class is TokenStoreObject. Atomic: one handshake per fleet. */
export declare function durableObjectStore(namespace: unknown, o?: { name?: string }): TokenStore;

/** The Durable Object class behind durableObjectStore: `export { TokenStoreObject } from 'ibkr-auth'`
 *  in your Worker, and bind it (durable_objects + a migration naming TokenStoreObject). */
export declare class TokenStoreObject {
  constructor(state: unknown, env: unknown);
  fetch(request: Request): Promise<Response>;
}

/** Node only: a fetch for the gateway's self-signed certificate — trusting exactly `certificate`
 *  for that host, or (explicitly) `insecure: true` for that host only. Other URLs use the normal fetch. */
export declare function gatewayFetch(o: { baseUrl?: string; certificate?: string; insecure?: boolean; fetch?: typeof fetch }): typeof fetch;

/** Node only: the certificate the gateway presents (trust on first use). Check the fingerprint, save the PEM. */
export declare function gatewayCertificate(baseUrl?: string): Promise<{ pem: string; fingerprint256: string; subject: Record<string, string>; validTo: string }>;

/** A second factor for gatewayLogin. Never IB Key device registration: `ocra` takes an existing secret. */
export type GatewaySecondFactor =
  | { type: 'totp'; secret: string }                                   // base32, as shown when TOTP was set up
  | { type: 'sms'; code: () => Promise<string> }                       // the host reads the SMS IBKR sent
  | { type: 'ocra'; secret: string; pin: string; counter: number | { file: string } };
    // IB Key: hex secret. counter: { file } is persisted there; a number is advanced in this object
    // (read it back after the login and keep it).

/** The lockout guard's state (see loginGuard). */
export interface LoginGuardState {
  failures: number;
  maxAttempts: number;
  /** true: no login until a person resets the guard (`ibkr-auth gateway reset-lockout`). */
  lockedOut: boolean;
  /** true: IBKR reported the account locked (ACCOUNT_LOCKED). */
  accountLocked: boolean;
  /** When a back-off is running: the earliest time (ms since epoch) of the next attempt. */
  nextAttemptAt: number | null;
  lastFailure: { code: string; message: string; at: number } | null;
  lastSuccessAt: number | null;
}

/** Node only: logs the Client Portal Gateway in without a browser (SRP-6, then the second factor),
 *  within the lockout guard, and returns the brokerage session's status. Throws IbkrAuthError:
 *  LOGIN_FAILED, SECOND_FACTOR_FAILED, ACCOUNT_LOCKED, LOCKED_OUT (the guard stopped; the gateway
 *  is not contacted), RATE_LIMITED (the guard's back-off; `retryAt`), NETWORK, TIMEOUT, ABORTED,
 *  UNEXPECTED_RESPONSE, HTTP_ERROR. */
export declare function gatewayLogin(o: {
  baseUrl?: string;                    // the gateway's origin; default https://localhost:5000
  fetch?: typeof fetch;                // e.g. gatewayFetch({ baseUrl, certificate })
  username: string; password: string;
  secondFactor?: GatewaySecondFactor;
  /** Always on: the file where the lockout guard counts failures; default
   *  ~/.ibkr-auth/gateway-guard-<hash of user and gateway>.json. */
  guard?: { file: string; maxAttempts?: number /* 4 */ };
  logger?: Logger; signal?: AbortSignal; clock?: () => number;
  timeoutMs?: number;                  // per request; default 30000
  statusPolls?: number;                // default 8
  statusPollMs?: number;               // default 1000
  userAgent?: string;
}): Promise<AuthStatus>;

/** Node only: the lockout guard kept in `file` (or gatewayLogin's default file for `username` at
 *  `baseUrl`): read its state, or reset it (a person's decision). */
export declare function loginGuard(o: { file?: string; username?: string; baseUrl?: string; maxAttempts?: number; clock?: () => number }): {
  readonly file: string;
  readonly maxAttempts: number;
  read(): Promise<LoginGuardState>;
  /** Clears the failures and the back-off; returns the state before. */
  reset(): Promise<LoginGuardState>;
};

/** The third-party flow, for apps acting for other IBKR users. */
export declare class OAuth1ThirdParty {
  constructor(o: { consumerKey: string; signatureKey: string; callback?: string; realm?: string } & Common);
  requestToken(): Promise<string>;
  authorizeUrl(requestToken: string, base?: string): string;
  accessToken(o: { token: string; verifier: string }): Promise<{ accessToken: string; accessTokenSecret: string; isPaper: boolean }>;
}

// The Client Portal Gateway's headless login, pure and step by step (no I/O).

/** RFC 6238 TOTP. `secret`: base32 as authenticator apps show it (any case, spaces, padding
 *  optional); `time`: ms since the epoch. Throws INVALID_ARGUMENT on a bad secret or parameter. */
export declare function totp(o: { secret: string; time: number; digits?: number; period?: number; algorithm?: 'SHA1' | 'SHA256' | 'SHA512' }): string;

/** RFC 6287 OCRA, e.g. IB Key's suite 'OCRA-1:HOTP-SHA1-8:C-QN06-PSHA1'. `key`, `pinHash` and
 *  `session`: hex; `time`: ms since the epoch. Each input is required exactly when the suite names it. */
export declare function ocra(o: { suite: string; key: string; counter?: number; question: string; pin?: string; pinHash?: string; session?: string; time?: number }): string;

/** The gateway's headless login as a state machine: each `…Form()` gives the form fields of a
 *  request to send (POST /sso/Authenticator, or /sso/Dispatcher for dispatcherForm), each
 *  `…Reply()` judges the gateway's answer. Errors: LOGIN_FAILED, ACCOUNT_LOCKED,
 *  SECOND_FACTOR_FAILED, UNEXPECTED_RESPONSE (never retry in a loop), INVALID_ARGUMENT. */
export declare class GatewayLogin {
  constructor(o: { username: string; password: string });
  initForm(): Record<string, string>;
  /** `again`: the gateway uses another group; send initForm() once more. */
  initReply(xml: string): { again: boolean; paper?: boolean };
  completeAuthForm(): Record<string, string>;
  /** The XYZAB_AM.LOGIN cookie's value, after completeAuthForm(). */
  readonly loginCookie: string;
  /** The second-factor types offered (empty: none needed). */
  completeAuthReply(xml: string): { secondFactors: string[] };
  secondFactorForm(sf: string): Record<string, string>;
  challengeReply(xml: string): { type: string; challenge?: string };
  twoFactorForm(sf: string, response: string): Record<string, string>;
  twoFactorReply(xml: string): void;
  /** `response`: the second factor's answer, '' without one. */
  dispatcherForm(response: string): Record<string, string>;
  dispatcherReply(body: string): void;
  free(): void;
}
