// The simulator's WebSocket (`/v1/api/ws`), served from node:http's 'upgrade' event. RFC 6455
// framing written here with node:crypto and Buffers only: text frames, client masking required,
// fragmentation, ping/pong, the close handshake with codes and reasons, a maximum message size.
// Authentication is checked as IBKR checks it for each kind of session (see sim/README.md,
// "WebSocket"); the streams follow the sandbox (sim/portal.mjs) on the simulator's clock.
import crypto from 'node:crypto';
import { parseCookies } from './gateway-login.mjs';

/** RFC 6455 section 1.3: the GUID the accept key is derived with. */
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** The close codes the simulator sends. */
export const WS_CLOSE = {
  NORMAL: 1000, GOING_AWAY: 1001, PROTOCOL_ERROR: 1002, UNSUPPORTED_DATA: 1003, INVALID_DATA: 1007,
  POLICY: 1008, TOO_BIG: 1009, SESSION_EXPIRED: 4001, IDLE: 4002,
};

/** The endpoint, under the simulator's origin. */
export const WS_PATH = '/v1/api/ws';

const OP = { CONT: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa };
const MD_FIELDS = ['31', '55', '70', '71', '82', '83', '84', '85', '86', '87', '88', '6509', '7059', '7295', '7296'];

/** A server frame (never masked, always final). */
export function encodeFrame(opcode, payload = Buffer.alloc(0)) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(String(payload), 'utf8');
  const n = data.length;
  let head;
  if (n < 126) head = Buffer.from([0x80 | opcode, n]);
  else if (n < 65536) { head = Buffer.alloc(4); head[0] = 0x80 | opcode; head[1] = 126; head.writeUInt16BE(n, 2); }
  else { head = Buffer.alloc(10); head[0] = 0x80 | opcode; head[1] = 127; head.writeBigUInt64BE(BigInt(n), 2); }
  return Buffer.concat([head, data]);
}

/** A close frame's payload: the code, then the reason cut to fit 125 bytes on a character boundary. */
function closePayload(code, reason = '') {
  let r = Buffer.from(String(reason), 'utf8');
  if (r.length > 123) {
    let cut = 123;
    while (cut > 0 && (r[cut] & 0xc0) === 0x80) cut--;
    r = r.subarray(0, cut);
  }
  const b = Buffer.alloc(2 + r.length);
  b.writeUInt16BE(code, 0);
  r.copy(b, 2);
  return b;
}

/** Close codes a peer may send (RFC 6455 section 7.4; 1004-1006 and 1015 are never on the wire). */
function validCloseCode(c) {
  return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** How many entries each of `stats`' lists and the retired session values keep (the newest). */
export const WS_HISTORY = 1000;

/** Appends to a list that keeps only its newest `limit` entries. */
function keepLast(list, item, limit) {
  list.push(item);
  if (list.length > limit) list.splice(0, list.length - limit);
}

/** The session value out of an `api` cookie: `<session>` (OAuth) or `{"session":"<session>"}` (what ibind sends to a gateway). */
function sessionFromCookie(raw) {
  if (raw === undefined) return undefined;
  let v = raw;
  try { v = decodeURIComponent(raw); } catch { /* as is */ }
  if (v.startsWith('{')) {
    try { return String(JSON.parse(v).session ?? ''); } catch { return ''; }
  }
  return v;
}

/** One client connection. */
class Connection {
  constructor(server, socket, { auth, oauthToken, remote }) {
    this.server = server;
    this.socket = socket;
    this.auth = auth; // null until authenticated: { kind, cred, session }
    this.oauthToken = oauthToken;
    this.remote = remote;
    this.state = 'open'; // open | closing | closed
    this.buf = Buffer.alloc(0);
    this.chunks = []; // what arrived since the buffer last held a whole frame
    this.buffered = 0; // their bytes
    this.need = 2; // the bytes the next frame needs at least, as far as its header tells
    this.fragments = null; // { opcode, parts: [], size }
    const now = server.now();
    this.openedAt = now;
    this.lastClientAt = now;
    this.lastHb = now;
    this.md = new Map(); // conid → { fields: Set, sent: Map(field → value), last }
    this.orders = null; // orderId → JSON of the row last sent, while sor is on
    this.pnl = null; // { json, last } while spl is on
    this.brokerage = null;
    this.closeCode = null;
    this.closeReason = '';
    this.id = crypto.randomBytes(4).toString('hex');
  }

  sendText(obj) {
    if (this.state !== 'open') return;
    this.socket.write(encodeFrame(OP.TEXT, typeof obj === 'string' ? obj : JSON.stringify(obj)));
  }

  /** Starts the closing handshake; the TCP connection ends when the client answers (or soon after). */
  close(code, reason = '') {
    if (this.state !== 'open') return;
    this.state = 'closing';
    this.closeCode = code;
    this.closeReason = reason;
    this.server.record('closes', { code, reason });
    this.socket.write(encodeFrame(OP.CLOSE, closePayload(code, reason)));
    // A client that never answers: end (flushing what was written), then drop the connection.
    this.timer = setTimeout(() => {
      this.socket.end();
      this.timer = setTimeout(() => this.socket.destroy(), 5000);
      this.timer.unref?.();
    }, 5000);
    this.timer.unref?.();
  }

  /** Chunks are collected until the next frame can be complete, then joined once: a large frame
   * arriving in many chunks is not copied again for each one. */
  onData(chunk) {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (this.buffered < this.need) return;
    this.buf = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.buffered);
    this.chunks = [];
    this.buffered = 0;
    while (this.state !== 'closed') {
      const frame = this.#parse();
      if (!frame) break;
      if (frame.error) { this.close(frame.error[0], frame.error[1]); this.buf = Buffer.alloc(0); this.need = 2; break; }
      this.#frame(frame);
    }
    if (this.buf.length) { this.chunks = [this.buf]; this.buffered = this.buf.length; }
    this.buf = Buffer.alloc(0);
  }

  /** One frame off the buffer, or null if it is not complete yet, or { error: [code, reason] }. */
  #parse() {
    const b = this.buf;
    this.need = 2;
    if (b.length < 2) return null;
    const fin = (b[0] & 0x80) !== 0;
    const rsv = b[0] & 0x70;
    const opcode = b[0] & 0x0f;
    const masked = (b[1] & 0x80) !== 0;
    let len = b[1] & 0x7f;
    let off = 2;
    if (rsv) return { error: [WS_CLOSE.PROTOCOL_ERROR, 'reserved bits set (no extension was negotiated)'] };
    if (!Object.values(OP).includes(opcode)) return { error: [WS_CLOSE.PROTOCOL_ERROR, `unknown opcode ${opcode}`] };
    if (!masked) return { error: [WS_CLOSE.PROTOCOL_ERROR, 'client frames must be masked'] };
    const control = opcode >= 0x8;
    if (control && (!fin || len > 125)) return { error: [WS_CLOSE.PROTOCOL_ERROR, 'control frames must be final and at most 125 bytes'] };
    if (len === 126) {
      if (b.length < 4) { this.need = 4; return null; }
      len = b.readUInt16BE(2);
      off = 4;
    } else if (len === 127) {
      if (b.length < 10) { this.need = 10; return null; }
      const big = b.readBigUInt64BE(2);
      if (big >> 63n) return { error: [WS_CLOSE.PROTOCOL_ERROR, 'payload length has the most significant bit set'] };
      len = big > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(big);
      off = 10;
    }
    const max = this.server.maxMessageBytes;
    if (len > max || (!control && this.fragments && this.fragments.size + len > max)) {
      return { error: [WS_CLOSE.TOO_BIG, `message too big: at most ${max} bytes`] };
    }
    if (b.length < off + 4 + len) { this.need = off + 4 + len; return null; }
    const mask = b.subarray(off, off + 4);
    const payload = Buffer.from(b.subarray(off + 4, off + 4 + len));
    for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
    this.buf = b.subarray(off + 4 + len);
    this.need = 2;
    return { fin, opcode, payload };
  }

  #frame({ fin, opcode, payload }) {
    this.lastClientAt = this.server.now();
    if (opcode === OP.CLOSE) return this.#onClose(payload);
    if (this.state !== 'open') return undefined; // closing: only the client's close frame matters
    if (opcode === OP.PING) { this.socket.write(encodeFrame(OP.PONG, payload)); return undefined; }
    if (opcode === OP.PONG) return undefined;
    if (opcode === OP.CONT) {
      if (!this.fragments) return this.close(WS_CLOSE.PROTOCOL_ERROR, 'continuation frame without a message to continue');
      this.fragments.parts.push(payload);
      this.fragments.size += payload.length;
      if (!fin) return undefined;
      const { opcode: first, parts } = this.fragments;
      this.fragments = null;
      return this.#message(first, Buffer.concat(parts));
    }
    if (this.fragments) return this.close(WS_CLOSE.PROTOCOL_ERROR, 'a new message began before the fragmented one ended');
    if (!fin) { this.fragments = { opcode, parts: [payload], size: payload.length }; return undefined; }
    return this.#message(opcode, payload);
  }

  #onClose(payload) {
    let code = null;
    if (payload.length === 1) return this.#closeNow(WS_CLOSE.PROTOCOL_ERROR, 'a close payload of one byte');
    if (payload.length >= 2) {
      code = payload.readUInt16BE(0);
      if (!validCloseCode(code)) return this.#closeNow(WS_CLOSE.PROTOCOL_ERROR, `invalid close code ${code}`);
      try { utf8.decode(payload.subarray(2)); } catch { return this.#closeNow(WS_CLOSE.INVALID_DATA, 'close reason is not UTF-8'); }
    }
    if (this.state === 'open') {
      // The client began: echo its code, then end the connection (the server closes TCP first).
      this.state = 'closing';
      this.closeCode = code;
      this.server.record('clientCloses', { code, reason: payload.length > 2 ? payload.subarray(2).toString('utf8') : '' });
      this.socket.write(encodeFrame(OP.CLOSE, code === null ? Buffer.alloc(0) : closePayload(code)));
    }
    this.state = 'closed';
    clearTimeout(this.timer);
    this.socket.end();
    return undefined;
  }

  #closeNow(code, reason) {
    if (this.state === 'open') this.close(code, reason);
    this.state = 'closed';
    this.socket.end();
  }

  #message(opcode, payload) {
    if (opcode === OP.BINARY) return this.close(WS_CLOSE.UNSUPPORTED_DATA, 'binary messages are not supported: send text');
    let text;
    try { text = utf8.decode(payload); } catch { return this.close(WS_CLOSE.INVALID_DATA, 'text message is not valid UTF-8'); }
    // A session message carries the session value: not kept, whether the socket waited for it
    // or (sent again) was authenticated already.
    const sessionMessage = !this.auth || /^\s*\{\s*"session"/.test(text);
    this.server.record('messages', sessionMessage ? '(a session message, not kept)' : text);
    return this.server.onMessage(this, text);
  }
}

/**
 * The WebSocket side of a Simulator. Options (`ws` in the Simulator's options):
 * { maxMessageBytes (1 MiB), idleMs (60 000), authTimeoutMs (5 000), heartbeatMs (10 000),
 *   streamMs (1 000: market data and P&L at most this often), autoTickMs (1 000 | false),
 *   history (WS_HISTORY: the newest entries kept in each of `stats`' lists) }.
 */
export class WsServer {
  constructor(sim, o = {}) {
    this.sim = sim;
    this.maxMessageBytes = o.maxMessageBytes ?? 1 << 20;
    this.idleMs = o.idleMs ?? 60_000;
    this.authTimeoutMs = o.authTimeoutMs ?? 5_000;
    this.heartbeatMs = o.heartbeatMs ?? 10_000;
    this.streamMs = o.streamMs ?? 1_000;
    this.autoTickMs = o.autoTickMs === undefined ? 1_000 : o.autoTickMs;
    this.connections = new Set();
    this.secret = crypto.randomBytes(32);
    this.history = o.history ?? WS_HISTORY;
    /** session value → { kind, cred }: the current value of each live credential /tickle was called for. */
    this.issued = new Map();
    /** `${kind}\n${cred}` → that credential's value in `issued`. */
    this.current = new Map();
    /** session value → { kind, cred }: the newest `history` values whose credential was renewed or
     * ended (so an old value is still told apart from one never issued). */
    this.retired = new Map();
    /**
     * What happened, for tests: upgrades; the newest `history` refusals, closes sent, client closes
     * and messages received; and in `counts`, how many of each there were in all.
     */
    this.stats = { upgrades: 0, refused: [], closes: [], clientCloses: [], messages: [], counts: { refused: 0, closes: 0, clientCloses: 0, messages: 0 } };
    this.interval = null;
  }

  now() { return this.sim.clock(); }

  /** Counts an event and keeps it in its list of `stats` (the newest `history` of them). */
  record(list, entry) {
    this.stats.counts[list] += 1;
    keepLast(this.stats[list], entry, this.history);
  }

  /** Open connections. */
  get sockets() {
    return [...this.connections].filter((c) => c.state === 'open').length;
  }

  // ---- sessions ---------------------------------------------------------------------------------

  /** The `session` value /tickle returns for an authenticated caller: stable for one credential
   * (an access token with its current LST, a bearer token, a gateway login), new when that is renewed. */
  sessionFor(kind, cred) {
    const epoch = this.#epoch(kind, cred);
    if (epoch === null) return crypto.randomBytes(16).toString('hex');
    const value = this.#value(kind, cred, epoch);
    const key = `${kind}\n${cred}`;
    const before = this.current.get(key);
    if (before !== value) {
      if (before !== undefined) this.#retire(before);
      this.issued.set(value, { kind, cred });
      this.current.set(key, value);
    }
    this.#pruneIssued();
    return value;
  }

  #value(kind, cred, epoch) {
    return crypto.createHmac('sha256', this.secret).update(`${kind}\n${cred}\n${epoch}`).digest('hex').slice(0, 32);
  }

  /** Moves a value out of `issued` into the bounded `retired`. */
  #retire(value) {
    const s = this.issued.get(value);
    if (!s) return;
    this.issued.delete(value);
    if (this.current.get(`${s.kind}\n${s.cred}`) === value) this.current.delete(`${s.kind}\n${s.cred}`);
    this.retired.set(value, s);
    for (const old of this.retired.keys()) {
      if (this.retired.size <= this.history) break;
      this.retired.delete(old);
    }
  }

  #issuedPrunedAt = -Infinity;

  /** At most once a minute: retires the values whose credential was renewed or ended. */
  #pruneIssued() {
    const now = this.now();
    if (now - this.#issuedPrunedAt < 60_000) return;
    this.#issuedPrunedAt = now;
    for (const [value, { kind, cred }] of [...this.issued]) {
      const epoch = this.#epoch(kind, cred);
      if (epoch === null || this.#value(kind, cred, epoch) !== value) this.#retire(value);
    }
  }

  /** What a session value was issued for, current or retired. */
  #lookup(value) {
    return this.issued.get(value) ?? this.retired.get(value);
  }

  /** What identifies the credential's current life, or null if it is not alive. */
  #epoch(kind, cred) {
    const sim = this.sim;
    const now = this.now();
    if (kind === 'oauth1') {
      const t = sim.tokens.get(cred);
      return t?.lst && now <= t.expiresAt ? `${t.lst.toString('hex')}:${t.expiresAt}` : null;
    }
    if (kind === 'oauth2') {
      const b = sim.bearers.get(cred);
      return b && now <= b.expiresAt ? String(b.expiresAt) : null;
    }
    if (kind === 'gateway') return sim.loggedIn ? String(sim.loginEpoch) : null;
    return null;
  }

  /** Whether a session value is the current one of a live credential: null if so, else why not. */
  #checkSession(value, want = {}) {
    const s = this.#lookup(value);
    if (!s) return 'unknown session';
    if (want.kind && s.kind !== want.kind) return `a ${s.kind} session on a ${want.kind} connection`;
    if (want.cred && s.cred !== want.cred) return 'the session belongs to another credential';
    const epoch = this.#epoch(s.kind, s.cred);
    if (epoch === null) return 'the session has expired';
    if (this.#value(s.kind, s.cred, epoch) !== value || !this.issued.has(value)) return 'stale session: the credential was renewed; call /tickle again';
    return null;
  }

  // ---- the upgrade ------------------------------------------------------------------------------

  /** Serves an HTTP upgrade request: for mounting on another node:http server's 'upgrade' event. */
  upgrade(req, socket, head) {
    socket.on('error', () => {});
    const entry = { method: req.method, path: WS_PATH, status: 0, kind: 'ws' };
    const refuse = (status, error, extra = '') => {
      entry.status = status;
      entry.kind = 'ws-rejected';
      this.record('refused', { status, error });
      const body = JSON.stringify({ error, statusCode: status });
      const reason = { 400: 'Bad Request', 401: 'Unauthorized', 404: 'Not Found', 426: 'Upgrade Required' }[status];
      socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}connection: close\r\n\r\n${body}`);
    };
    let url;
    try { url = new URL(req.url, 'http://sim'); } catch { url = new URL('http://sim/'); }
    entry.path = url.pathname;
    this.sim.log.push(entry);
    if (url.pathname !== WS_PATH) return refuse(404, `no WebSocket at ${url.pathname}: use ${WS_PATH}`);
    if (req.method !== 'GET') return refuse(400, 'a WebSocket upgrade is a GET');
    const h = req.headers;
    if (!/\bwebsocket\b/i.test(h.upgrade ?? '') || !/\bupgrade\b/i.test(h.connection ?? '')) return refuse(400, 'Upgrade: websocket and Connection: Upgrade required');
    if (h['sec-websocket-version'] !== '13') return refuse(426, 'unsupported WebSocket version: 13 only', 'sec-websocket-version: 13\r\n');
    const key = String(h['sec-websocket-key'] ?? '');
    if (!/^[A-Za-z0-9+/]{22}==$/.test(key)) return refuse(400, 'Sec-WebSocket-Key must be 16 bytes in base64');

    const auth = this.#authenticateUpgrade(req, url);
    if (auth.error) return refuse(401, auth.error);

    const accept = crypto.createHash('sha1').update(key + WS_GUID).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`);
    entry.status = 101;
    this.stats.upgrades++;
    socket.setNoDelay?.(true);
    const c = new Connection(this, socket, { auth: auth.session ? auth : null, oauthToken: auth.oauthToken, remote: socket.remoteAddress });
    this.connections.add(c);
    socket.on('data', (d) => c.onData(d));
    socket.on('close', () => { c.state = 'closed'; clearTimeout(c.timer); this.connections.delete(c); this.#autoTick(); });
    socket.on('end', () => { if (c.state !== 'closed') socket.end(); });
    if (auth.session) this.#welcome(c);
    else c.sendText({ message: 'waiting for session' });
    this.#autoTick();
    if (head?.length) c.onData(Buffer.from(head));
    return undefined;
  }

  /**
   * The upgrade's credentials, as IBKR reads them: { kind, cred, session } when the upgrade
   * authenticates by itself, { oauthToken?, kind? } when the socket opens and waits for a
   * {"session"} message, or { error }.
   */
  #authenticateUpgrade(req, url) {
    const sim = this.sim;
    const h = req.headers;
    const cookie = sessionFromCookie(parseCookies(h.cookie).api);
    if (sim.gateway) {
      if (!sim.loggedIn) return { error: 'not logged in: log in to the gateway first' };
      if (cookie === undefined) return { kind: 'gateway' };
      const why = this.#checkSession(cookie, { kind: 'gateway', cred: 'gateway' });
      return why ? { error: `invalid session cookie: ${why}` } : { kind: 'gateway', cred: 'gateway', session: cookie };
    }
    if (!h['user-agent']) return { error: 'User-Agent header required' };
    const token = url.searchParams.get('oauth_token');
    const authz = String(h.authorization ?? '');
    if (authz.startsWith('Bearer ')) {
      const bearer = authz.slice(7);
      const b = sim.bearers.get(bearer);
      if (!b) return { error: 'invalid bearer token' };
      if (this.now() > b.expiresAt) return { error: 'bearer token expired' };
      const own = this.sessionFor('oauth2', bearer);
      if (cookie !== undefined && cookie !== own) return { error: `invalid session cookie: ${this.#checkSession(cookie, { kind: 'oauth2', cred: bearer }) ?? 'does not match the bearer'}` };
      return { kind: 'oauth2', cred: bearer, session: own };
    }
    if (token !== null) {
      const t = sim.tokens.get(token);
      if (!t) return { error: 'invalid oauth_token' };
      if (!t.lst) return { error: 'no live session token for this oauth_token: request one at /oauth/live_session_token' };
      if (this.now() > t.expiresAt) return { error: 'live session token expired' };
      if (cookie === undefined) return { kind: 'oauth1', oauthToken: token };
      const why = this.#checkSession(cookie, { kind: 'oauth1', cred: token });
      return why ? { error: `invalid session cookie: ${why}` } : { kind: 'oauth1', cred: token, session: cookie, oauthToken: token };
    }
    if (cookie !== undefined) {
      // A session cookie without the oauth_token or a bearer: only an OAuth 2.0 session stands alone.
      const s = this.#lookup(cookie);
      if (s?.kind === 'oauth1') return { error: 'oauth_token query parameter required with an OAuth 1.0a session' };
      const why = this.#checkSession(cookie, { kind: 'oauth2' });
      return why ? { error: `invalid session cookie: ${why}` } : { kind: 'oauth2', cred: s.cred, session: cookie };
    }
    return {}; // a browser: the {"session"} message decides
  }

  #user() { return this.sim.oauth2?.credential ?? 'simuser'; }

  #welcome(c) {
    const now = this.now();
    c.lastHb = now;
    c.brokerage = this.sim.brokerage.authenticated;
    c.sendText({ topic: 'system', success: this.#user(), isFT: false, isPaper: true });
    c.sendText({ topic: 'sts', args: this.#sts() });
    const p = this.sim.portal;
    c.sendText({ topic: 'act', args: { accounts: [...p.accounts], acctProps: {}, aliases: Object.fromEntries(p.accounts.map((a) => [a, a])), allowFeatures: {}, selectedAccount: p.selected, isPaper: true } });
  }

  #sts() {
    const b = this.sim.brokerage;
    return { authenticated: b.authenticated, competing: b.competing, message: '', fail: '', serverName: 'SimServer1', serverVersion: 'Build 10.30.0', username: this.#user() };
  }

  // ---- messages ---------------------------------------------------------------------------------

  onMessage(c, text) {
    if (!c.auth) {
      let msg;
      try { msg = JSON.parse(text); } catch { msg = null; }
      if (!msg || typeof msg.session !== 'string') return c.close(WS_CLOSE.POLICY, 'invalid session: expected {"session":"<value from /tickle>"} first');
      const s = this.#lookup(msg.session);
      const want = this.sim.gateway ? { kind: 'gateway' } : c.oauthToken ? { kind: 'oauth1', cred: c.oauthToken } : { kind: 'oauth2' };
      if (!this.sim.gateway && !c.oauthToken && s?.kind === 'oauth1') return c.close(WS_CLOSE.POLICY, 'invalid session: an OAuth 1.0a session needs ?oauth_token= on the URL');
      const why = this.#checkSession(msg.session, want);
      if (why) return c.close(WS_CLOSE.POLICY, `invalid session: ${why}`);
      c.auth = { kind: s.kind, cred: s.cred, session: msg.session };
      return this.#welcome(c);
    }
    const m = /^([a-z]{3})(?:\+([^+{]*))?(?:\+?(\{[\s\S]*\}))?$/.exec(text.trim());
    if (!m) return c.sendText({ error: `unknown message: ${text.slice(0, 80)}` });
    const [, topic, target, argText] = m;
    let args = {};
    if (argText) {
      try { args = JSON.parse(argText); } catch { return c.sendText({ topic: `${topic}${target ? `+${target}` : ''}`, error: 'arguments are not JSON' }); }
    }
    if (this.sim.gateway && topic === 'tic') this.sim.lastActivity = this.now();
    switch (topic) {
      case 'tic': return c.sendText({ topic: 'tic', alive: true, id: c.id, lastAccessed: this.now() });
      case 'ech': return c.sendText({ topic: 'ech', hb: this.now() });
      case 'smd': return this.#subscribeMd(c, target, args);
      case 'umd': { const conid = Number(String(target ?? '').split('@')[0]); c.md.delete(conid); return undefined; }
      case 'sor': c.orders = new Map(); return this.#pushOrders(c, true);
      case 'uor': c.orders = null; return undefined;
      case 'spl': c.pnl = { json: null, last: -Infinity }; return this.#pushPnl(c, true);
      case 'upl': c.pnl = null; return undefined;
      default: return c.sendText({ topic, error: `unsupported topic: ${topic}` });
    }
  }

  #subscribeMd(c, target, args) {
    const conid = Number(String(target ?? '').split('@')[0]);
    if (!this.sim.portal.price(conid)) return c.sendText({ topic: `smd+${target ?? ''}`, error: `conid ${target} not found` });
    const fields = Array.isArray(args.fields) && args.fields.length ? args.fields.map(String) : ['31', '84', '86'];
    const sub = c.md.get(conid) ?? { fields: new Set(), sent: new Map(), last: -Infinity, conidEx: String(target) };
    for (const f of fields) if (MD_FIELDS.includes(f)) sub.fields.add(f);
    sub.sent.clear(); // a (re)subscription gets every field once, then the changes
    c.md.set(conid, sub);
    this.#pushMd(c, conid, sub, true);
  }

  #pushMd(c, conid, sub, force = false) {
    if (!this.sim.brokerage.authenticated) return;
    const now = this.now();
    if (!force && now - sub.last < this.streamMs) return;
    const values = this.sim.portal.fieldValues(conid, now);
    const msg = { server_id: `q${conid % 100}`, conidEx: sub.conidEx, conid, _updated: now, 6119: `q${conid % 100}`, topic: `smd+${conid}` };
    let changed = 0;
    for (const f of sub.fields) {
      if (sub.sent.get(f) === values[f]) continue;
      msg[f] = values[f];
      sub.sent.set(f, values[f]);
      changed++;
    }
    sub.last = now;
    if (changed) c.sendText(msg);
  }

  #pushOrders(c, all = false) {
    if (!c.orders) return;
    const p = this.sim.portal;
    const rows = [];
    for (const o of this.sim.orders) {
      const row = p.orderRow(o);
      const { lastExecutionTime: _a, lastExecutionTime_r: _b, ...stable } = row;
      const json = JSON.stringify(stable);
      if (!all && c.orders.get(o.orderId) === json) continue;
      c.orders.set(o.orderId, json);
      rows.push(row);
    }
    if (all || rows.length) c.sendText({ topic: 'sor', args: rows });
  }

  #pushPnl(c, force = false) {
    if (!c.pnl || !this.sim.brokerage.authenticated) return;
    const now = this.now();
    if (!force && now - c.pnl.last < this.streamMs) return;
    const { upnl } = this.sim.portal.pnl();
    const json = JSON.stringify(upnl);
    c.pnl.last = now;
    if (json === c.pnl.json) return;
    c.pnl.json = json;
    c.sendText({ topic: 'spl', args: upnl });
  }

  // ---- the clock --------------------------------------------------------------------------------

  /** Moves every connection along the simulator's clock: auth deadline, idle close, expiry,
   * heartbeats, status changes, and the streams (market data, orders, P&L). */
  tick() {
    const now = this.now();
    let advanced = false;
    for (const c of [...this.connections]) {
      if (c.state !== 'open') continue;
      if (!c.auth) {
        if (now - c.openedAt >= this.authTimeoutMs) c.close(WS_CLOSE.POLICY, 'authentication timeout: no valid {"session"} message');
        continue;
      }
      if (this.#checkSession(c.auth.session)) { c.close(WS_CLOSE.SESSION_EXPIRED, 'session expired'); continue; }
      if (now - c.lastClientAt >= this.idleMs) { c.close(WS_CLOSE.IDLE, `idle timeout: no message from the client in ${Math.round(this.idleMs / 1000)} s`); continue; }
      if (now - c.lastHb >= this.heartbeatMs) { c.lastHb = now; c.sendText({ topic: 'system', hb: now }); }
      const authed = this.sim.brokerage.authenticated;
      if (c.brokerage !== authed) { c.brokerage = authed; c.sendText({ topic: 'sts', args: this.#sts() }); }
      if (!authed) continue;
      if (!advanced && (c.orders || c.pnl)) { this.sim.portal.advance(); advanced = true; }
      for (const [conid, sub] of c.md) this.#pushMd(c, conid, sub);
      this.#pushOrders(c);
      this.#pushPnl(c);
    }
  }

  /** After a REST call: order changes go out at once to the connections streaming orders. */
  ordersChanged() {
    for (const c of this.connections) if (c.state === 'open' && c.auth && c.orders) this.#pushOrders(c);
  }

  /** Closes (4001 "session expired") every connection whose session is no longer live. */
  closeExpired() {
    for (const c of [...this.connections]) {
      if (c.state === 'open' && c.auth && this.#checkSession(c.auth.session)) c.close(WS_CLOSE.SESSION_EXPIRED, 'session expired');
    }
  }

  /** Closes every open connection with a code and reason (a test's network drop). */
  drop(code = WS_CLOSE.GOING_AWAY, reason = 'server shutting down') {
    let n = 0;
    for (const c of [...this.connections]) if (c.state === 'open') { c.close(code, reason); n++; }
    return n;
  }

  /** For Simulator.close(): a going-away close to everyone, then the sockets end. */
  shutdown() {
    this.drop();
    for (const c of [...this.connections]) { c.socket.end(); c.socket.destroy(); }
    this.connections.clear();
    this.#autoTick();
  }

  state() {
    return {
      sockets: this.sockets,
      authenticated: [...this.connections].filter((c) => c.state === 'open' && c.auth).length,
      subscriptions: [...this.connections].filter((c) => c.state === 'open').map((c) => ({
        md: [...c.md.keys()], orders: Boolean(c.orders), pnl: Boolean(c.pnl),
      })),
      upgrades: this.stats.upgrades, refused: this.stats.counts.refused,
    };
  }

  /** A real timer calling tick() while sockets are open (autoTickMs), for live use (`make demo`). */
  #autoTick() {
    const want = this.autoTickMs && this.connections.size > 0;
    if (want && !this.interval) {
      this.interval = setInterval(() => this.tick(), this.autoTickMs);
      this.interval.unref?.();
    } else if (!want && this.interval) {
      clearInterval(this.interval);
      this.interval = null;
    }
  }
}
