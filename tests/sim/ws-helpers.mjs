// Test clients for the simulator's WebSocket: a small RFC 6455 client over node:net / node:tls
// (it can also send the frames a correct client never sends), and just enough of each session
// kind's REST side (OAuth 1.0a LST handshake and HMAC signing, OAuth 2.0 JWTs, the gateway) to
// get a session value from /tickle. Built on node:crypto and the simulator's own OAuth helpers:
// the REST authentication is tested elsewhere; here it only has to be accepted.
import crypto from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { GATEWAY_TLS } from '../../sim/server.mjs';
import { hmacSha256B64, javaBytes, modPow, pct, serverBaseString } from '../../sim/oauth.mjs';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** One HTTP(S) request to the simulator: { status, headers, body (JSON or text) }. */
export function request(url, { method = 'GET', headers = {}, body } = {}) {
  const u = new URL(url);
  const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  const lib = u.protocol === 'https:' ? https : http;
  const opts = { method, headers: { 'content-length': Buffer.byteLength(text), ...headers } };
  if (u.protocol === 'https:') Object.assign(opts, { ca: GATEWAY_TLS.cert, checkServerIdentity: () => undefined });
  return new Promise((resolve, reject) => {
    const req = lib.request(u, opts, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        let parsed = raw;
        try { parsed = JSON.parse(raw); } catch { /* text */ }
        resolve({ status: res.statusCode, headers: res.headers, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(text);
  });
}

/** An OAuth 1.0a client for the simulator (secretHex must be known): { handshake(), call() }. */
export function oauth1Client(sim, secretHex) {
  const secret = Buffer.from(secretHex, 'hex');
  let lst = null;
  const oauth = (extra) => ({
    oauth_consumer_key: sim.consumerKey, oauth_nonce: crypto.randomBytes(8).toString('hex'),
    oauth_timestamp: String(Math.floor(sim.clock() / 1000)), oauth_token: sim.accessToken, ...extra,
  });
  const header = (params) => `OAuth realm="${sim.realm}", ${Object.entries(params).map(([k, v]) => `${k}="${pct(v)}"`).join(', ')}`;
  return {
    /** A new live session token (each call renews it). */
    async handshake() {
      const p = BigInt(`0x${sim.dh.prime}`);
      const a = BigInt(`0x${crypto.randomBytes(32).toString('hex')}`);
      const A = modPow(2n, a, p);
      const params = oauth({ oauth_signature_method: 'RSA-SHA256', diffie_hellman_challenge: A.toString(16) });
      const base = serverBaseString('POST', `${sim.baseUrl}/oauth/live_session_token`, Object.entries(params), secretHex);
      params.oauth_signature = crypto.sign('sha256', Buffer.from(base), sim.keys.signature.privateKey).toString('base64');
      const r = await request(`${sim.baseUrl}/oauth/live_session_token`, { method: 'POST', headers: { authorization: header(params) } });
      if (r.status !== 200) throw new Error(`handshake: ${r.status} ${JSON.stringify(r.body)}`);
      const K = modPow(BigInt(`0x${r.body.diffie_hellman_response}`), a, p);
      lst = crypto.createHmac('sha1', javaBytes(K)).update(secret).digest();
      return r.body;
    },
    /** A signed REST call under /v1/api. */
    call(method, path, body) {
      const url = `${sim.baseUrl}${path}`;
      const params = oauth({ oauth_signature_method: 'HMAC-SHA256' });
      const pairs = [...Object.entries(params), ...new URL(url).searchParams.entries()];
      params.oauth_signature = hmacSha256B64(lst, serverBaseString(method, `${sim.baseUrl}${new URL(url).pathname.slice('/v1/api'.length)}`, pairs));
      const headers = { authorization: header(params), ...(body === undefined ? {} : { 'content-type': 'application/json' }) };
      return request(url, { method, headers, body });
    },
  };
}

function jwt(payload, kid, privateKey) {
  const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${enc({ alg: 'RS256', typ: 'JWT', kid })}.${enc(payload)}`;
  return `${input}.${crypto.sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
}

/** An OAuth 2.0 client: { login() → bearer, call() }; each login makes a new SSO bearer. */
export function oauth2Client(sim) {
  let bearer = null;
  const { clientId, clientKeyId, credential, publicIp } = sim.oauth2;
  const key = sim.keys.oauth2.privateKey;
  return {
    get bearer() { return bearer; },
    async login() {
      const iat = Math.floor(sim.clock() / 1000);
      const form = new URLSearchParams({
        grant_type: 'client_credentials', scope: 'sso-sessions.write',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: jwt({ iss: clientId, sub: clientId, aud: '/token', iat, exp: iat + 60 }, clientKeyId, key),
      }).toString();
      const t = await request(`${sim.origin}/oauth2/api/v1/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form });
      if (t.status !== 200) throw new Error(`token: ${t.status} ${JSON.stringify(t.body)}`);
      const sso = jwt({ iss: clientId, credential, ip: publicIp, iat, exp: iat + 86_400 }, clientKeyId, key);
      const s = await request(`${sim.origin}/gw/api/v1/sso-sessions`, { method: 'POST', headers: { authorization: `Bearer ${t.body.access_token}`, 'content-type': 'application/jwt' }, body: sso });
      if (s.status !== 200) throw new Error(`sso-sessions: ${s.status} ${JSON.stringify(s.body)}`);
      bearer = s.body.access_token;
      return bearer;
    },
    call(method, path, body) {
      const headers = { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) };
      return request(`${sim.baseUrl}${path}`, { method, headers, body });
    },
  };
}

/** The simulated gateway (logged in): plain calls, no signing. */
export function gatewayClient(sim) {
  return {
    call(method, path, body) {
      const headers = body === undefined ? {} : { 'content-type': 'application/json' };
      return request(`${sim.baseUrl}${path}`, { method, headers, body });
    },
  };
}

/** A client frame: masked unless told otherwise; `length` lies about the payload length if given. */
export function clientFrame(opcode, payload = Buffer.alloc(0), { fin = true, mask = true, rsv = 0, length } = {}) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(String(payload), 'utf8');
  const n = length ?? data.length;
  const b0 = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
  let head;
  if (n < 126) head = Buffer.from([b0, (mask ? 0x80 : 0) | n]);
  else if (n < 65536) { head = Buffer.alloc(4); head[0] = b0; head[1] = (mask ? 0x80 : 0) | 126; head.writeUInt16BE(n, 2); }
  else { head = Buffer.alloc(10); head[0] = b0; head[1] = (mask ? 0x80 : 0) | 127; head.writeBigUInt64BE(BigInt(n), 2); }
  if (!mask) return Buffer.concat([head, data]);
  const key = crypto.randomBytes(4);
  const body = Buffer.from(data);
  for (let i = 0; i < body.length; i++) body[i] ^= key[i & 3];
  return Buffer.concat([head, key, body]);
}

/**
 * Opens a WebSocket to `url` (ws:// or wss://, the gateway's certificate trusted; or over a
 * connected `socket` given, e.g. a TLS tunnel through the proxy mode). Resolves with
 * { status, headers, body } for a refusal, or with a client: { status: 101, next(), send(),
 * write(), close(), ended } where next() resolves with the next event:
 * { type: 'text', text, json } | { type: 'close', code, reason } | { type: 'pong', payload } | { type: 'end' }.
 */
export function wsOpen(url, { headers = {}, key = crypto.randomBytes(16).toString('base64'), version = '13', socket: given } = {}) {
  const u = new URL(url);
  const secure = u.protocol === 'wss:';
  const port = Number(u.port || (secure ? 443 : 80));
  const socket = given ?? (secure
    ? tls.connect({ host: u.hostname, port, ca: GATEWAY_TLS.cert, checkServerIdentity: () => undefined })
    : net.connect({ host: u.hostname, port }));
  const lines = [
    `GET ${u.pathname}${u.search} HTTP/1.1`, `Host: ${u.host}`, 'Upgrade: websocket', 'Connection: Upgrade',
    `Sec-WebSocket-Key: ${key}`, `Sec-WebSocket-Version: ${version}`,
    ...Object.entries(headers).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}: ${v}`),
  ];
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    let client = null;
    const events = [];
    const waiters = [];
    const push = (e) => { const w = waiters.shift(); if (w) w(e); else events.push(e); };
    let endedResolve;
    const ended = new Promise((r) => { endedResolve = r; });
    const parse = () => {
      while (buf.length >= 2) {
        const op = buf[0] & 0x0f;
        let len = buf[1] & 0x7f;
        let off = 2;
        if (buf[1] & 0x80) throw new Error('a server frame was masked');
        if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
        else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
        if (buf.length < off + len) return;
        const payload = buf.subarray(off, off + len);
        buf = buf.subarray(off + len);
        if (op === 0x1) {
          const text = payload.toString('utf8');
          let json;
          try { json = JSON.parse(text); } catch { /* text */ }
          push({ type: 'text', text, json });
        } else if (op === 0x8) {
          push({ type: 'close', code: payload.length >= 2 ? payload.readUInt16BE(0) : null, reason: payload.subarray(2).toString('utf8') });
        } else if (op === 0xa) push({ type: 'pong', payload: Buffer.from(payload) });
        else push({ type: 'other', op, payload: Buffer.from(payload) });
      }
    };
    socket.on('error', (e) => { if (!client) reject(e); });
    socket.on('close', () => { push({ type: 'end' }); endedResolve(); });
    socket.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (client) return parse();
      const i = buf.indexOf('\r\n\r\n');
      if (i < 0) return undefined;
      const [statusLine, ...hs] = buf.subarray(0, i).toString('latin1').split('\r\n');
      const status = Number(statusLine.split(' ')[1]);
      const head = Object.fromEntries(hs.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      buf = buf.subarray(i + 4);
      if (status !== 101) {
        const chunks = [buf];
        socket.removeAllListeners('data');
        socket.on('data', (more) => chunks.push(more));
        socket.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body = text;
          try { body = JSON.parse(text); } catch { /* text */ }
          resolve({ status, headers: head, body });
        });
        return undefined;
      }
      const accept = crypto.createHash('sha1').update(key + GUID).digest('base64');
      if (head['sec-websocket-accept'] !== accept) return reject(new Error(`bad Sec-WebSocket-Accept ${head['sec-websocket-accept']}`));
      client = {
        status, headers: head, socket, ended,
        /** The next event (see above). */
        next: () => (events.length ? Promise.resolve(events.shift()) : new Promise((r) => waiters.push(r))),
        /** The next text message, parsed; fails on anything else. */
        async json() {
          const e = await client.next();
          if (e.type !== 'text') throw new Error(`expected a text message, got ${JSON.stringify(e)}`);
          return e.json;
        },
        send: (text) => socket.write(clientFrame(0x1, text)),
        write: (bytes) => socket.write(bytes),
        close: (code = 1000, reason = '') => {
          const r = Buffer.from(reason);
          const p = Buffer.alloc(2 + r.length);
          p.writeUInt16BE(code, 0);
          r.copy(p, 2);
          socket.write(clientFrame(0x8, p));
        },
        destroy: () => socket.destroy(),
      };
      resolve(client);
      return parse();
    });
  });
}

/** The simulator's ws:// (or wss://) URL. */
export function wsUrl(sim, query = '') {
  return `${sim.origin.replace(/^http/, 'ws')}/v1/api/ws${query}`;
}

/** A TLS connection to `host`:443 through the simulator's proxy mode (CONNECT), trusting `ca`. */
export function tunnel(sim, host, ca) {
  return new Promise((resolve, reject) => {
    const raw = net.connect({ host: '127.0.0.1', port: sim.server.address().port });
    raw.once('error', reject);
    raw.write(`CONNECT ${host}:443 HTTP/1.1\r\nHost: ${host}:443\r\n\r\n`);
    let head = '';
    const onData = (d) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      raw.off('data', onData);
      if (!/^HTTP\/1\.1 200/.test(head)) return reject(new Error(`CONNECT refused: ${head.split('\r\n')[0]}`));
      const secure = tls.connect({ socket: raw, servername: host, ca }, () => resolve(secure));
      secure.once('error', reject);
      return undefined;
    };
    raw.on('data', onData);
  });
}
