// An IBKR Web API simulator for offline tests: the OAuth 1.0a server side (LST handshake, HMAC
// checks on every request, timestamps, nonces, realm and consumer key), the third-party
// endpoints, the brokerage session endpoints, a few trading endpoints, IBKR's published rate
// limits, and fault injection. Plain node:http + node:crypto; listens on 127.0.0.1 only.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import {
  constantTimeEqual, dhParamsPem, hmacSha256B64, parseAuthorization, queryPairs, serverBaseString,
  serverDiffieHellman, verifyJwtRs256, verifyRsaSha256,
} from './oauth.mjs';
import { GatewayLogin } from './gateway-login.mjs';
import { PORTAL_RATE_LIMITS, Portal } from './portal.mjs';
import { WsServer } from './ws.mjs';

export { WS_CLOSE, WS_PATH } from './ws.mjs';

const here = new URL('.', import.meta.url);
/** The simulated gateway's self-signed certificate (a throwaway test certificate). */
export const GATEWAY_TLS = {
  key: fs.readFileSync(new URL('tls/gateway-key.pem', here), 'utf8'),
  cert: fs.readFileSync(new URL('tls/gateway-cert.pem', here), 'utf8'),
};

/** IBKR's published limits (per the sessions spec): [path pattern, requests, window ms]. */
export const DEFAULT_RATE_LIMITS = [
  [/^\/tickle$/, 1, 1000],
  [/^\/sso\/validate$/, 1, 60_000],
  [/^\/iserver\/marketdata\/snapshot$/, 10, 1000],
  [/^\/iserver\/account\/orders$/, 1, 5000],
  [/^\/iserver\/trades$/, 1, 5000],
  [/^\/portfolio\/accounts$/, 1, 5000],
  [/^\/iserver\/scanner\/run$/, 1, 1000],
  [/^\/pa\//, 1, 900_000],
];
export const GLOBAL_RATE_LIMIT = [50, 1000];
/** The gateway's own overall limit (IBKR: 10 requests a second through the Client Portal Gateway). */
export const GATEWAY_RATE_LIMIT = [10, 1000];
/** The hosts the proxy mode answers for itself (CONNECT to anything else is refused). */
export const PROXIED_HOSTS = ['api.ibkr.com', 'api.ipify.org'];

const hex = (n) => crypto.randomBytes(n).toString('hex');

/** An RSA-2048 key pair as PEM: { publicKey (SPKI), privateKey (PKCS#8) }. */
export function rsaKeyPair() {
  return crypto.generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
}

/** Fresh keys for a simulated user: RSA-2048 signature and encryption pairs, the 2048-bit MODP
 * group, and an RSA pair for OAuth 2.0. */
export function generateKeys() {
  const group = crypto.getDiffieHellman('modp14');
  const prime = group.getPrime('hex').replace(/^0+/, '');
  return { signature: rsaKeyPair(), encryption: rsaKeyPair(), dhParams: dhParamsPem(prime, 2), oauth2: rsaKeyPair() };
}

/** The host real clients sign for (ibind also sends it as the Host header, whatever the URL). */
export const IBKR_HOST = 'api.ibkr.com';

let errorIds = 39000;
/** An auth failure in IBKR's shape: {"error":"id: 39687, error: invalid consumer","statusCode":401}. */
export function ibkrError(status, message) {
  errorIds = errorIds >= 99999 ? 39000 : errorIds + 1;
  return { error: `id: ${errorIds}, error: ${message}`, statusCode: status };
}

function json(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export class Simulator {
  /**
   * @param {object} [o]
   * @param {ReturnType<typeof generateKeys>} [o.keys] the user's keys (generated if absent)
   * @param {string} [o.consumerKey] default "IBKRSIMUL"
   * @param {string} [o.accessToken] default: 20 random hex characters
   * @param {string} [o.secretHex] the access token secret in clear (default: 32 random bytes)
   * @param {number} [o.lstLifetimeMs] default 24 h
   * @param {number} [o.timestampToleranceS] default 300
   * @param {'either'|'signed'|'unsigned'} [o.queryStyle] how query parameters must be signed (default either)
   * @param {boolean|Array} [o.rateLimits] true: IBKR's published limits (default); false: none; or a table
   * @param {() => number} [o.clock] ms since epoch, default Date.now
   * @param {object} [o.oauth2] the registered OAuth 2.0 client: { clientId, clientKeyId, credential, publicIp }
   * @param {boolean} [o.gateway] play a Client Portal Gateway instead: HTTPS, no signing, a login switch
   * @param {number} [o.gatewayIdleMs] gateway: the brokerage session ends after this much idle time
   * @param {object} [o.gatewayLogin] gateway: serve the login page (SRP password step, second
   *   factor, /sso/Dispatcher) for { users: [{ username, password, lp?, secondFactor? }],
   *   maxFailures? (5), authDelayPolls? (1) }; see sim/gateway-login.mjs
   * @param {{key: string, cert: string}} [o.tls] the certificate served: gateway (default: the
   *   bundled self-signed one), https and proxy (required: testTls() in sim/tls.mjs makes one)
   * @param {boolean} [o.https] serve the OAuth endpoints over HTTPS (with o.tls) instead of HTTP
   * @param {boolean} [o.proxy] also be an HTTPS proxy (CONNECT) for api.ibkr.com and
   *   api.ipify.org only, answering both itself with o.tls: for clients that hard-code
   *   https://api.ibkr.com (ibauth) or send their own Host (ibind); api.ipify.org answers the
   *   simulated public IP (oauth2.publicIp)
   * @param {object} [o.ws] the WebSocket at /v1/api/ws (sim/ws.mjs): { maxMessageBytes, idleMs,
   *   authTimeoutMs, heartbeatMs, streamMs, autoTickMs (1000; false: only tick() moves the streams) }
   */
  constructor(o = {}) {
    this.keys = o.keys ?? generateKeys();
    this.consumerKey = o.consumerKey ?? 'IBKRSIMUL';
    this.realm = this.consumerKey === 'TESTCONS' ? 'test_realm' : 'limited_poa';
    this.lstLifetimeMs = o.lstLifetimeMs ?? 24 * 3600 * 1000;
    this.timestampToleranceS = o.timestampToleranceS ?? 300;
    this.queryStyle = o.queryStyle ?? 'either';
    this.rateLimits = o.rateLimits === false ? [] : Array.isArray(o.rateLimits) ? o.rateLimits : [...DEFAULT_RATE_LIMITS, ...PORTAL_RATE_LIMITS];
    this.globalLimit = o.rateLimits === false ? null : o.gateway ? GATEWAY_RATE_LIMIT : GLOBAL_RATE_LIMIT;
    this.clock = o.clock ?? Date.now;
    this.dh = { prime: this.#dhPrimeFromPem().replace(/^0+/, ''), generator: 2 };
    /** access token -> { secret: Buffer, lst?: Buffer, expiresAt?: number } */
    this.tokens = new Map();
    this.accessToken = o.accessToken ?? hex(10);
    this.#addAccessToken(this.accessToken, o.secretHex ? Buffer.from(o.secretHex, 'hex') : crypto.randomBytes(32));
    this.requestTokens = new Map();
    this.nonces = new Map();
    this.hits = new Map(); // `${session} ${rule}` → { ms, times }: the hits within the rule's window
    this.faults = [];
    this.brokerage = { authenticated: false, competing: false, connected: true };
    this.orders = [];
    this.portal = new Portal(this, o);
    /** Every request as seen: { method, path, status, kind } (no secrets). */
    this.log = [];
    this.oauth2 = { clientId: 'SIMCLIENT', clientKeyId: 'main', credential: 'simuser', publicIp: '127.0.0.1', ...o.oauth2 };
    this.accessTokens2 = new Map();
    this.bearers = new Map();
    this.gateway = Boolean(o.gateway);
    this.loginEpoch = 0;
    this.ws = new WsServer(this, o.ws);
    this.loggedIn = false;
    this.stuck = false;
    this.gatewayIdleMs = o.gatewayIdleMs ?? 6 * 60 * 1000;
    this.lastActivity = this.clock();
    this.login = this.gateway && o.gatewayLogin ? new GatewayLogin(this, o.gatewayLogin) : null;
    if (!this.keys.oauth2) this.keys.oauth2 = rsaKeyPair();
    const handler = (req, res) => this.handle(req, res);
    this.https = this.gateway || Boolean(o.https);
    if ((o.https || o.proxy) && !this.gateway && !o.tls) throw new Error('Simulator: https and proxy need o.tls ({ key, cert }: see testTls in sim/tls.mjs)');
    this.server = this.gateway ? https.createServer(o.tls ?? GATEWAY_TLS, handler) : this.https ? https.createServer(o.tls, handler) : http.createServer(handler);
    this.tunnels = new Set();
    if (o.proxy && !this.gateway) {
      this.tunnel = https.createServer(o.tls, handler); // never listens: fed the CONNECTed sockets
      this.server.on('connect', (req, socket, head) => this.#connect(req, socket, head));
    }
    // The WebSocket (sim/ws.mjs), also through the proxy's tunnel (wss://api.ibkr.com/v1/api/ws).
    this.server.on('upgrade', (req, socket, head) => this.ws.upgrade(req, socket, head));
    this.tunnel?.on('upgrade', (req, socket, head) => this.ws.upgrade(req, socket, head));
  }

  #loggedIn = false;
  /** log entry → the request's verified credentials ({ token, bearer? }), for /tickle's session value. */
  #authOf = new WeakMap();
  /** Gateway: logged in. A new login is a new session (a new /tickle session value); a logout
   * closes the WebSockets of the old one. */
  get loggedIn() { return this.#loggedIn; }
  set loggedIn(on) {
    if (on && !this.#loggedIn) this.loginEpoch++;
    this.#loggedIn = Boolean(on);
    if (!on) this.ws?.closeExpired();
  }

  /** Moves the WebSocket streams along the simulator's clock (see sim/ws.mjs tick()). */
  wsTick() {
    this.ws.tick();
  }

  /** Closes every open WebSocket (default 1001 "server shutting down"); returns how many. */
  dropWebSockets(code, reason) {
    return this.ws.drop(code, reason);
  }

  /** CONNECT host:443 — for the hosts it plays only, then TLS with its own certificate. */
  #connect(req, socket, head) {
    const entry = { method: 'CONNECT', path: req.url, status: 200, kind: 'proxy' };
    this.log.push(entry);
    const [host, port] = String(req.url).toLowerCase().split(':');
    if (!PROXIED_HOSTS.includes(host) || port !== '443') {
      entry.status = 403;
      socket.end(`HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n`);
      return;
    }
    this.tunnels.add(socket);
    socket.on('close', () => this.tunnels.delete(socket));
    socket.on('error', () => {});
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head?.length) socket.unshift(head);
    this.tunnel.emit('connection', socket);
  }

  #dhPrimeFromPem() {
    const der = Buffer.from(this.keys.dhParams.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
    // SEQUENCE { INTEGER p, ... }: walk the DER header by hand.
    let i = 1;
    i += der[i] & 0x80 ? 1 + (der[i] & 0x7f) : 1;
    if (der[i] !== 0x02) throw new Error('dhParams: not PKCS#3');
    i += 1;
    let len = der[i];
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let k = 1; k <= n; k++) len = (len << 8) | der[i + k];
      i += n;
    }
    return der.subarray(i + 1, i + 1 + len).toString('hex');
  }

  #addAccessToken(token, secret) {
    const encrypted = crypto.publicEncrypt({ key: this.keys.encryption.publicKey, padding: crypto.constants.RSA_PKCS1_PADDING }, secret);
    this.tokens.set(token, { secret, encryptedSecret: encrypted.toString('base64') });
  }

  /** Handles one request: for mounting the simulator in another server (set `origin` first). */
  handle(req, res) {
    return this.#handle(req, res).catch((e) => json(res, 500, { error: String(e) }));
  }

  /** Sets the origin clients reach the simulator at, when another server mounts it. */
  mountedAt(origin) {
    this.origin = origin;
    this.baseUrl = `${origin}/v1/api`;
    return this;
  }

  /** Starts listening on 127.0.0.1; resolves when ready. */
  async start(port = 0) {
    await new Promise((resolve) => this.server.listen(port, '127.0.0.1', resolve));
    this.origin = `${this.https ? 'https' : 'http'}://127.0.0.1:${this.server.address().port}`;
    this.baseUrl = `${this.origin}/v1/api`;
    return this;
  }

  async close() {
    this.ws.shutdown();
    for (const s of this.tunnels) s.destroy();
    this.server.closeAllConnections?.();
    await new Promise((resolve) => this.server.close(resolve));
  }

  /** What an OAuth 2.0 client needs: pass it to IbkrSession.oauth2(...). */
  clientConfig2() {
    const { clientId, clientKeyId, credential, publicIp } = this.oauth2;
    return { baseUrl: this.baseUrl, clientId, clientKeyId, credential, privateKey: this.keys.oauth2.privateKey, ip: publicIp };
  }

  /** The machine's public IP changes: IBKR drops the SSO sessions made for the old one. */
  setPublicIp(ip) {
    this.oauth2.publicIp = ip;
    this.bearers.clear();
    this.ws.closeExpired();
  }

  /** Gateway login: the steps counted ({ inits, completeAuths, twoFactors, dispatches, failures, successes, locked }). */
  get loginStats() {
    return this.login ? { ...this.login.stats } : null;
  }

  /** Gateway login: the last SMS code "sent" (COMPLETEAUTH_1 for a user with sms). */
  get lastSmsCode() {
    return this.login?.lastSmsCode ?? null;
  }

  /** Gateway: a person logged in through the browser (or the login expired). */
  setLoggedIn(on) {
    if (this.login) this.login.awaitingAuth = false;
    this.loggedIn = on;
    this.brokerage = { authenticated: on, competing: false, connected: on };
    this.lastActivity = this.clock();
  }

  /** What a client needs: pass it to IbkrSession.oauth1(...). The private keys are the user's. */
  clientConfig() {
    return {
      baseUrl: this.baseUrl,
      consumerKey: this.consumerKey,
      accessToken: this.accessToken,
      accessTokenSecret: this.tokens.get(this.accessToken).encryptedSecret,
      signatureKey: this.keys.signature.privateKey,
      encryptionKey: this.keys.encryption.privateKey,
      dhParams: this.keys.dhParams,
      realm: this.realm,
    };
  }

  /**
   * Queues a fault for the next matching request(s).
   * kind: 'status' (with status, body, headers, e.g. { 'retry-after': '1' }), 'gone' (410),
   * 'delay' (ms, then normal), 'drop' (close the connection before any work), 'stall' (no work,
   * no answer until the client closes the connection or `ms`, default 30 s, pass),
   * 'processThenDrop' (do the work, then close the connection unanswered), 'badDhResponse',
   * 'badLstSignature', 'processThenFail' (do the work, then 500), 'noBridge' (400 no bridge),
   * 'competing' (another session takes over first). The log entry of a request a fault was
   * applied to names it (`fault`); `faultCounts()` counts them by kind.
   */
  fault({ kind, path, method, times = 1, ...rest }) {
    this.faults.push({ kind, path, method, times, ...rest });
  }

  /** Expires every live session token (OAuth 1.0a) and SSO bearer token (OAuth 2.0) now. */
  expireTokens() {
    for (const t of this.tokens.values()) if (t.lst) t.expiresAt = this.clock() - 1;
    for (const b of this.bearers.values()) b.expiresAt = this.clock() - 1;
    this.ws.closeExpired();
  }

  /** Makes another session take the brokerage session over. */
  setCompeting() {
    this.brokerage = { authenticated: false, competing: true, connected: true };
  }

  /** How many requests of a kind ('handshake', 'rejected', 'order', 'init', 'tickle', …), or
   * with kind 'signed', every request whose HMAC signature verified. */
  count(kind) {
    return this.log.filter((e) => (kind === 'signed' ? e.signed : e.kind === kind)).length;
  }

  /** How many requests each kind of fault was applied to so far: { kind: n }. */
  faultCounts() {
    const out = {};
    for (const e of this.log) if (e.fault) out[e.fault] = (out[e.fault] ?? 0) + 1;
    return out;
  }

  #takeFault(method, path) {
    const i = this.faults.findIndex((f) => (!f.method || f.method === method) && (!f.path || (f.path instanceof RegExp ? f.path.test(path) : f.path === path)));
    if (i < 0) return null;
    const f = this.faults[i];
    if (--f.times <= 0) this.faults.splice(i, 1);
    return f;
  }

  /** A stalled server: nothing is processed and nothing answered until the client gives up
   * (closes the connection), or `ms` has passed (then the connection is dropped). */
  #stall(req, ms, entry) {
    entry.status = -1;
    return new Promise((resolve) => {
      const done = () => { clearTimeout(timer); req.socket.off('close', done); req.socket.destroy(); resolve(); };
      const timer = setTimeout(done, ms);
      req.socket.once('close', done);
    });
  }

  async #handle(req, res) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url, `http://${req.headers.host}`);
    const path = url.pathname;
    res.setHeader('date', new Date(this.clock()).toUTCString());
    const entry = { method: req.method, path, status: 0, kind: 'other' };
    this.log.push(entry);
    const send = (status, b, headers) => {
      // processThenDrop: the request was handled in full, then the connection drops unanswered.
      if (entry.dropAnswer) { entry.status = -1; req.socket.destroy(); return; }
      entry.status = status;
      json(res, status, b, headers);
    };

    if (this.tunnel && String(req.headers.host).toLowerCase() === 'api.ipify.org') {
      // The public-IP lookup a client makes before an OAuth 2.0 SSO session (proxy mode only).
      entry.kind = 'ip-lookup';
      entry.status = 200;
      res.writeHead(200, { 'content-type': 'text/plain' }).end(this.oauth2.publicIp);
      return undefined;
    }
    if (path.startsWith('/__sim/')) return this.#control(req, path, body, send);
    if (this.login && this.login.route(req, url, body, res, entry)) return undefined;
    if (path === '/authorize' && req.method === 'GET') return this.#authorizePage(url, res, entry);
    if (!this.gateway && path === '/oauth2/api/v1/token' && req.method === 'POST') return this.#oauth2Token(req, body, send, entry);
    if (!this.gateway && path === '/gw/api/v1/sso-sessions' && req.method === 'POST') return this.#ssoSession(req, body, send, entry);
    if (!path.startsWith('/v1/api/')) return send(404, { error: 'not found' });
    const api = path.slice('/v1/api'.length);

    const fault = this.#takeFault(req.method, api);
    if (fault) entry.fault = fault.kind;
    if (fault?.kind === 'drop') { entry.status = -1; req.socket.destroy(); return; }
    if (fault?.kind === 'stall') return this.#stall(req, fault.ms ?? 30_000, entry);
    if (fault?.kind === 'processThenDrop') entry.dropAnswer = true;
    if (fault?.kind === 'delay') await new Promise((r) => setTimeout(r, fault.ms ?? 1000));
    if (fault?.kind === 'status') return send(fault.status, fault.body ?? { error: `injected ${fault.status}` }, fault.headers);
    if (fault?.kind === 'gone') return send(410, { error: 'gone' });
    if (fault?.kind === 'noBridge') return send(400, { error: 'no bridge', statusCode: 400 });
    if (fault?.kind === 'competing') this.setCompeting();

    if (this.gateway) return this.#gatewayRequest(req, api, url, body, send, fault, entry, res);
    if (api === '/oauth/live_session_token' && req.method === 'POST') return this.#liveSessionToken(req, url, send, fault, entry);
    if (api === '/oauth/request_token' && req.method === 'POST') return this.#requestToken(req, url, send, entry);
    if (api === '/oauth/access_token' && req.method === 'POST') return this.#accessToken(req, url, send, entry);

    const auth = String(req.headers.authorization ?? '').startsWith('Bearer ') ? this.#checkBearer(req) : this.#checkHmac(req, url);
    if (auth.error) { entry.kind = 'rejected'; return send(401, ibkrError(401, auth.error)); }
    entry.kind = 'signed';
    entry.signed = true;
    this.#authOf.set(entry, auth); // kept out of the log: the credentials are secrets
    // IBKR counts its limits per session: one access token (OAuth 1.0a), one OAuth 2.0 user.
    entry.session = auth.bearer ? `oauth2:${this.oauth2.credential ?? 'simuser'}` : `oauth1:${auth.token}`;
    const limited = this.#rateLimit(api, entry.session);
    if (limited) { entry.kind = 'rate-limited'; return send(429, { error: 'Too many requests' }, { 'retry-after': String(limited) }); }
    return this.#endpoint(req.method, api, url, body, send, fault, entry);
  }

  /** Reads and checks the OAuth parameters common to every request. */
  #checkCommon(params, method) {
    if (!params) return 'missing or malformed Authorization header (expected OAuth realm="…", …)';
    if (params.realm !== this.realm) return `invalid realm (expected ${this.realm})`;
    if (params.oauth_consumer_key !== this.consumerKey) return 'invalid consumer';
    if (params.oauth_signature_method !== method) return `invalid signature method (expected ${method})`;
    const ts = Number(params.oauth_timestamp);
    if (!Number.isInteger(ts) || Math.abs(ts - this.clock() / 1000) > this.timestampToleranceS) return 'invalid timestamp: oauth_timestamp is too far from the server time';
    const nonce = params.oauth_nonce;
    if (!nonce) return 'missing nonce';
    const now = this.clock();
    for (const [n, t] of this.nonces) if (now - t > this.timestampToleranceS * 2000) this.nonces.delete(n);
    if (this.nonces.has(nonce)) return 'nonce already used';
    this.nonces.set(nonce, now);
    return null;
  }

  /**
   * The base URLs (scheme, host, path) a client may have signed this request for: the origin
   * the simulator advertises (`origin`, what the CLI prints: ibind signs it but sends
   * `Host: api.ibkr.com` whatever the URL), and the one the Host header names — which, for
   * api.ibkr.com, is https://api.ibkr.com only (IBKR is HTTPS-only; a client tunnelled here by
   * the proxy mode signed that), else the scheme of this connection with that Host. The path
   * and the query are checked exactly: only the scheme and authority vary.
   */
  #signedBases(req, url) {
    const host = String(req.headers.host ?? '');
    const scheme = req.socket.encrypted ? 'https' : 'http';
    const out = new Set();
    if (this.origin) out.add(`${this.origin}${url.pathname}`);
    if (host.replace(/:443$/, '').toLowerCase() === IBKR_HOST) out.add(`https://${IBKR_HOST}${url.pathname}`);
    else if (host) out.add(`${scheme}://${host}${url.pathname}`);
    return [...out];
  }

  #oauthPairs(params) {
    return Object.entries(params).filter(([k]) => k !== 'realm' && k !== 'oauth_signature');
  }

  #liveSessionToken(req, url, send, fault, entry) {
    entry.kind = 'handshake';
    const params = parseAuthorization(req.headers.authorization);
    const err = this.#checkCommon(params, 'RSA-SHA256');
    if (err) return send(401, ibkrError(401, err));
    const token = this.tokens.get(params.oauth_token);
    if (!token) return send(401, ibkrError(401, 'invalid access token'));
    if (!params.diffie_hellman_challenge) return send(400, ibkrError(400, 'missing diffie_hellman_challenge'));
    const pairs = this.#oauthPairs(params);
    const prepend = token.secret.toString('hex');
    const ok = this.#signedBases(req, url).some((b) => verifyRsaSha256(this.keys.signature.publicKey, serverBaseString('POST', b, pairs, prepend), params.oauth_signature));
    if (!ok) return send(401, ibkrError(401, 'invalid signature'));
    const dh = serverDiffieHellman({ ...this.dh, challengeHex: params.diffie_hellman_challenge, secret: token.secret, consumerKey: this.consumerKey });
    if (!dh) return send(400, ibkrError(400, 'invalid diffie_hellman_challenge'));
    token.lst = dh.lst;
    token.expiresAt = this.clock() + this.lstLifetimeMs;
    let dhResponse = dh.dhResponse;
    let signature = dh.signature;
    if (fault?.kind === 'badDhResponse') dhResponse = this.dh.prime; // B = p: out of range
    if (fault?.kind === 'badLstSignature') signature = hex(20);
    return send(200, { diffie_hellman_response: dhResponse, live_session_token_signature: signature, live_session_token_expiration: token.expiresAt });
  }

  #checkHmac(req, url) {
    const params = parseAuthorization(req.headers.authorization);
    const err = this.#checkCommon(params, 'HMAC-SHA256');
    if (err) return { error: err };
    const token = this.tokens.get(params.oauth_token);
    if (!token) return { error: 'invalid access token' };
    if (!token.lst) return { error: 'no live session token: request one at /oauth/live_session_token' };
    if (this.clock() > token.expiresAt) return { error: 'live session token expired' };
    const oauth = this.#oauthPairs(params);
    const styles = { signed: [[...oauth, ...queryPairs(url)]], unsigned: [oauth], either: [[...oauth, ...queryPairs(url)], oauth] }[this.queryStyle];
    const bases = this.#signedBases(req, url);
    const ok = bases.some((base) => styles.some((pairs) => constantTimeEqual(hmacSha256B64(token.lst, serverBaseString(req.method, base, pairs)), params.oauth_signature)));
    return ok ? { token: params.oauth_token } : { error: 'invalid signature' };
  }

  /** Seconds to wait (Retry-After) if `session` is over a limit for `api`, else 0 (and counts the hit). */
  #rateLimit(api, session) {
    const now = this.clock();
    const rules = this.rateLimits.filter(([re]) => re.test(api)).map(([re, n, ms]) => [`${session} ${re}`, n, ms]);
    if (this.globalLimit) rules.push([`${session} global`, ...this.globalLimit]);
    this.#pruneHits(now);
    for (const [key, n, ms] of rules) {
      const hits = (this.hits.get(key)?.times ?? []).filter((t) => now - t < ms);
      this.hits.set(key, { ms, times: hits });
      if (hits.length >= n) return Math.max(1, Math.ceil((hits[0] + ms - now) / 1000));
    }
    for (const [key] of rules) this.hits.get(key).times.push(now);
    return 0;
  }

  #hitsPrunedAt = -Infinity;

  /** At most once a minute: forgets the counts whose window has passed (sessions that ended). */
  #pruneHits(now) {
    if (now - this.#hitsPrunedAt < 60_000) return;
    this.#hitsPrunedAt = now;
    for (const [key, { ms, times }] of this.hits) if (!times.length || now - times.at(-1) >= ms) this.hits.delete(key);
  }

  #status() {
    const b = this.brokerage;
    return {
      authenticated: b.authenticated, competing: b.competing, connected: b.connected, established: b.authenticated,
      message: '', MAC: 'AA:BB:CC:DD:EE:FF', serverInfo: { serverName: 'SimServer1', serverVersion: 'Build 10.30.0' }, fail: '',
    };
  }

  /** GET /sso/validate: every field of IBKR's documented example response (clients such as
   * ibauth validate the whole shape), with the simulated user's values. */
  #ssoValidate() {
    const now = this.clock();
    const user = this.oauth2.credential ?? 'simuser';
    return {
      USER_ID: 1234567, USER_NAME: user, RESULT: true, AUTH_TIME: now, SF_ENABLED: false, IS_FREE_TRIAL: false,
      CREDENTIAL: user, IP: this.oauth2.publicIp ?? '127.0.0.1', EXPIRES: 6 * 60 * 1000, QUALIFIED_FOR_MOBILE_AUTH: null,
      LANDING_APP: 'UNIVERSAL', IS_MASTER: false, lastAccessed: now, LOGIN_TYPE: 2, PAPER_USER_NAME: user,
      features: { env: 'PROD', wlms: true, realtime: true, bond: true, optionChains: true, calendar: true, newMf: true },
      region: 'NJ', IS_PENDING_APPLICANT: false, HARDWARE_INFO: '0|0|0|0', UNIQUE_LOGIN_ID: hex(8), SF_CONFIG: '',
      CREDENTIAL_TYPE: 1, COUNTERPARTY: 'NJ', TOKEN: hex(16), took: 1,
    };
  }

  #endpoint(method, api, url, body, send, fault, entry) {
    const b = this.brokerage;
    const parsed = body ? (() => { try { return JSON.parse(body); } catch { return undefined; } })() : undefined;
    const route = `${method} ${api}`;
    if (/^(GET|POST) \/iserver\/auth\/status$/.test(route)) return send(200, this.#status());
    if (route === 'POST /iserver/auth/ssodh/init') {
      entry.kind = 'init';
      const compete = parsed?.compete ?? url.searchParams.get('compete') === 'true';
      if (b.competing && !compete) return send(200, this.#status());
      this.brokerage = { authenticated: true, competing: false, connected: true };
      return send(200, this.#status());
    }
    if (route === 'POST /iserver/reauthenticate') {
      this.brokerage = { authenticated: true, competing: false, connected: true };
      return send(200, { message: 'triggered' });
    }
    if (/^(GET|POST) \/tickle$/.test(route)) {
      entry.kind = 'tickle';
      // IBKR's session value (the WebSocket's cookie `api=` or {"session"} message): one per
      // credential, new when the LST or the bearer is renewed or the gateway logs in again.
      const a = this.#authOf.get(entry);
      const session = this.gateway ? this.ws.sessionFor('gateway', 'gateway') : this.ws.sessionFor(a?.bearer ? 'oauth2' : 'oauth1', a?.token);
      return send(200, {
        session, ssoExpires: 6 * 60 * 1000, collission: b.competing, userId: 1234567,
        hmds: { error: 'no bridge' }, iserver: { authStatus: { ...this.#status(), serverInfo: undefined } },
      });
    }
    if (route === 'GET /sso/validate') return send(200, this.#ssoValidate());
    if (route === 'POST /logout') {
      for (const t of this.tokens.values()) delete t.lst;
      this.brokerage = { authenticated: false, competing: false, connected: false };
      this.ws.closeExpired();
      return send(200, { status: true });
    }
    const answer = this.portal.handle({ method, api, url, body: parsed, send, fault, entry });
    this.ws.ordersChanged();
    // What an order or a reply that reached the sandbox was for (client order ids, the reply
    // id), so a test can count how often each was sent past authentication, whatever came of it.
    if (entry.kind === 'order') entry.refs = (Array.isArray(parsed?.orders) ? parsed.orders : []).map((o) => o?.cOID).filter(Boolean).map(String);
    if (entry.kind === 'reply') entry.refs = [`reply:${api.split('/').pop()}`];
    return answer;
  }

  // ---- OAuth 2.0 ---------------------------------------------------------------------------

  #checkClaims(verified, want) {
    if (typeof verified === 'string') return verified;
    const { header, payload } = verified;
    const now = this.clock() / 1000;
    if (header.kid !== this.oauth2.clientKeyId) return `unknown kid ${header.kid}`;
    for (const [k, v] of Object.entries(want)) if (payload[k] !== v) return `claim ${k} must be ${JSON.stringify(v)}`;
    if (!(payload.exp > now)) return 'the JWT has expired (exp)';
    if (!(payload.iat <= now + 30)) return 'the JWT is issued in the future (iat)';
    return null;
  }

  #oauth2Token(req, body, send, entry) {
    entry.kind = 'oauth2-token';
    if (!String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')) return send(400, { error: 'invalid_request', error_description: 'form body expected' });
    const form = new URLSearchParams(body);
    if (form.get('grant_type') !== 'client_credentials') return send(400, { error: 'unsupported_grant_type' });
    if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') return send(400, { error: 'invalid_request', error_description: 'client_assertion_type' });
    if (form.get('scope') !== 'sso-sessions.write') return send(400, { error: 'invalid_scope' });
    const { clientId } = this.oauth2;
    const err = this.#checkClaims(verifyJwtRs256(form.get('client_assertion'), this.keys.oauth2.publicKey), { iss: clientId, sub: clientId, aud: '/token' });
    if (err) return send(401, { error: 'invalid_client', error_description: err });
    const token = hex(16);
    this.accessTokens2.set(token, this.clock() + 86_399_000);
    return send(200, { access_token: token, token_type: 'Bearer', expires_in: 86399, scope: 'sso-sessions.write' });
  }

  #ssoSession(req, body, send, entry) {
    entry.kind = 'sso-session';
    const access = String(req.headers.authorization ?? '').replace(/^Bearer /, '');
    if (!(this.accessTokens2.get(access) > this.clock())) return send(401, { error: 'invalid or expired access token' });
    if (req.headers['content-type'] !== 'application/jwt') return send(400, { error: 'Content-Type must be application/jwt' });
    const { clientId, credential, publicIp } = this.oauth2;
    const err = this.#checkClaims(verifyJwtRs256(body, this.keys.oauth2.publicKey), { iss: clientId, credential });
    if (err) return send(401, { error: err });
    const { payload } = verifyJwtRs256(body, this.keys.oauth2.publicKey);
    if (payload.ip !== publicIp && !(payload.alternativeIps ?? []).includes(publicIp)) return send(401, { error: `ip ${payload.ip} does not match the request's address` });
    const bearer = hex(16);
    this.bearers.set(bearer, { expiresAt: payload.exp * 1000, ip: payload.ip });
    return send(200, { access_token: bearer, active: true, token_type: 'Bearer' });
  }

  #checkBearer(req) {
    const bearer = String(req.headers.authorization).slice('Bearer '.length);
    const b = this.bearers.get(bearer);
    if (!b) return { error: 'invalid bearer token' };
    if (this.clock() > b.expiresAt) return { error: 'bearer token expired' };
    return { token: bearer, bearer: true };
  }

  // ---- the Client Portal Gateway ------------------------------------------------------------

  #gatewayRequest(req, api, url, body, send, fault, entry, res) {
    const now = this.clock();
    if (this.loggedIn && now - this.lastActivity > this.gatewayIdleMs) this.brokerage = { ...this.brokerage, authenticated: false };
    this.lastActivity = now;
    if (!this.loggedIn) {
      entry.kind = 'login-redirect';
      entry.status = 302;
      res.writeHead(302, { location: '/sso/Login?forwardTo=22&RL=1&ip2loc=on' }).end();
      return undefined;
    }
    if (req.method === 'POST' && req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) {
      return send(411, { error: 'Length Required' });
    }
    if (api === '/iserver/auth/ssodh/init' && this.stuck) {
      entry.kind = 'init';
      return send(200, { ...this.#status(), authenticated: false });
    }
    if (api === '/logout') {
      this.stuck = false;
      this.brokerage = { authenticated: false, competing: false, connected: true };
      return send(200, { status: true });
    }
    entry.signed = true;
    entry.session = 'gateway';
    const limited = this.#rateLimit(api, entry.session);
    if (limited) { entry.kind = 'rate-limited'; return send(429, { error: 'Too many requests' }, { 'retry-after': String(limited) }); }
    if (api === '/iserver/auth/status') this.login?.onStatusPoll();
    return this.#endpoint(req.method, api, url, body, send, fault, entry);
  }

  // ---- third party -------------------------------------------------------------------------

  #requestToken(req, url, send, entry) {
    entry.kind = 'request_token';
    const params = parseAuthorization(req.headers.authorization);
    const err = this.#checkCommon(params, 'RSA-SHA256');
    if (err) return send(401, ibkrError(401, err));
    if (!params.oauth_callback) return send(400, ibkrError(400, 'missing oauth_callback'));
    if (params.oauth_token) return send(400, ibkrError(400, 'request_token takes no oauth_token'));
    if (!this.#verifyRsa(req, url, params)) return send(401, ibkrError(401, 'invalid signature'));
    const token = hex(10);
    this.requestTokens.set(token, { callback: params.oauth_callback, verifier: null });
    return send(200, { oauth_token: token });
  }

  /** RSA-SHA256 over the base string without a prepend (request_token, access_token). */
  #verifyRsa(req, url, params) {
    const pairs = this.#oauthPairs(params);
    return this.#signedBases(req, url).some((b) => verifyRsaSha256(this.keys.signature.publicKey, serverBaseString('POST', b, pairs), params.oauth_signature));
  }

  #authorizePage(url, res, entry) {
    entry.kind = 'authorize';
    const token = url.searchParams.get('oauth_token');
    const rt = token && this.requestTokens.get(token);
    if (!rt) { entry.status = 400; res.writeHead(400, { 'content-type': 'text/plain' }).end('unknown oauth_token'); return; }
    rt.verifier = hex(10);
    if (rt.callback === 'oob') {
      entry.status = 200;
      res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><title>Authorized</title><p>Verifier: <code id="verifier">${rt.verifier}</code></p>`);
      return;
    }
    const cb = new URL(rt.callback);
    cb.searchParams.set('oauth_token', token);
    cb.searchParams.set('oauth_verifier', rt.verifier);
    entry.status = 302;
    res.writeHead(302, { location: cb.toString() }).end();
  }

  #accessToken(req, url, send, entry) {
    entry.kind = 'access_token';
    const params = parseAuthorization(req.headers.authorization);
    const err = this.#checkCommon(params, 'RSA-SHA256');
    if (err) return send(401, ibkrError(401, err));
    const rt = this.requestTokens.get(params.oauth_token);
    if (!rt || !rt.verifier) return send(401, ibkrError(401, 'invalid or unauthorized request token'));
    if (!constantTimeEqual(params.oauth_verifier ?? '', rt.verifier)) return send(401, ibkrError(401, 'invalid verifier'));
    if (!this.#verifyRsa(req, url, params)) return send(401, ibkrError(401, 'invalid signature'));
    this.requestTokens.delete(params.oauth_token);
    const accessToken = hex(10);
    this.#addAccessToken(accessToken, crypto.randomBytes(32));
    return send(200, { oauth_token: accessToken, oauth_token_secret: this.tokens.get(accessToken).encryptedSecret, is_paper: true });
  }

  // ---- control, for tests and the CLI ------------------------------------------------------

  #control(req, path, body, send) {
    const o = body ? JSON.parse(body) : {};
    if (path === '/__sim/fault' && req.method === 'POST') {
      this.fault({ ...o, path: o.path && o.path.startsWith('^') ? new RegExp(o.path) : o.path });
      return send(200, { queued: this.faults.length });
    }
    if (path === '/__sim/expire' && req.method === 'POST') { this.expireTokens(); return send(200, { expired: true }); }
    if (path === '/__sim/competing' && req.method === 'POST') { this.setCompeting(); return send(200, { competing: true }); }
    if (path === '/__sim/login' && req.method === 'POST') { this.setLoggedIn(o.loggedIn !== false); return send(200, { loggedIn: this.loggedIn }); }
    if (path === '/__sim/ip' && req.method === 'POST') { this.setPublicIp(o.ip); return send(200, { ip: o.ip }); }
    if (path === '/__sim/sms' && req.method === 'GET') return send(200, { code: this.lastSmsCode });
    if (path === '/__sim/ws/drop' && req.method === 'POST') return send(200, { dropped: this.dropWebSockets(o.code, o.reason) });
    if (path === '/__sim/ws/tick' && req.method === 'POST') { this.wsTick(); return send(200, this.ws.state()); }
    if (path === '/__sim/ws' && req.method === 'GET') return send(200, this.ws.state());
    if (path === '/__sim/unlock' && req.method === 'POST') {
      if (!this.login) return send(404, { error: 'no gateway login configured' });
      this.login.unlock(o.username);
      return send(200, { unlocked: o.username ?? 'all' });
    }
    if (path === '/__sim/state') {
      return send(200, {
        brokerage: this.brokerage, orders: this.orders.length, handshakes: this.count('handshake'), faults: this.faults.length,
        ...(this.gateway ? { loggedIn: this.loggedIn } : {}), ...(this.login ? { login: this.login.state() } : {}),
      });
    }
    return send(404, { error: 'unknown control endpoint' });
  }
}

/** Creates keys (unless given), starts a simulator on 127.0.0.1 and returns it. */
export async function startSimulator(options = {}) {
  const sim = new Simulator(options);
  return sim.start(options.port ?? 0);
}
