// A malicious or broken server against the package as built in pkg/ (its Node entry): huge, stalled, non-UTF-8
// and truncated bodies, redirects to other hosts, out-of-range Diffie-Hellman answers, LST
// signatures of the wrong length, tokens that cannot be headers, and a hostile gateway login
// reply. Each must end in a typed error with a stable code, after reading at most what the
// limits allow. The server is plain node:http on 127.0.0.1; it answers the live session token
// request itself with the simulator's server-side maths (sim/oauth.mjs), so it can bend any part
// of a correct answer. No assertion depends on the machine's speed: the time-outs are met by a
// server that stalls for good.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { gatewayLogin, IbkrAuthError, IbkrSession } from '../../pkg/node.mjs';
import { generateKeys, Simulator } from '../../sim/server.mjs';
import { parseAuthorization, serverDiffieHellman } from '../../sim/oauth.mjs';

const keys = generateKeys();
const SECRET_HEX = crypto.randomBytes(32).toString('hex');
const sim = await new Simulator({ keys, rateLimits: false, secretHex: SECRET_HEX, consumerKey: 'HOSTILEKY' }).start();
const servers = [];
/** Every line the sessions log: no secret may be in one. */
const logLines = [];
const logger = Object.fromEntries(['debug', 'info', 'warn', 'error'].map((l) => [l, (m) => logLines.push(`${l}: ${m}`)]));
/** Secrets that must not appear in an error or a log line: the access token secret, the access
 * token, the gateway password, every live session token the servers' answers lead to, and every
 * OAuth 2.0 access token (bearer) a server hands out. */
const secrets = new Set([SECRET_HEX, sim.accessToken, 'hunter22-long']);
const bearer = (token) => { secrets.add(token); return token; };
after(async () => {
  await sim.close();
  for (const s of servers) s.closeAllConnections?.(), s.close();
});

/** A server on a free port that runs `handler(req, res, body)`; `hits` counts its requests. */
async function hostile(handler) {
  const state = { hits: 0, closed: 0 };
  const server = http.createServer((req, res) => {
    state.hits += 1;
    res.on('close', () => { state.closed += 1; });
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => handler(req, res, Buffer.concat(chunks).toString()));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  state.url = `http://127.0.0.1:${server.address().port}`;
  return state;
}

/** The correct live session token answer for this request, as IBKR would send it. */
function lstAnswer(req) {
  const params = parseAuthorization(req.headers.authorization);
  const dh = serverDiffieHellman({ ...sim.dh, challengeHex: params.diffie_hellman_challenge, secret: Buffer.from(SECRET_HEX, 'hex'), consumerKey: sim.consumerKey });
  if (dh) for (const enc of ['base64', 'hex']) secrets.add(dh.lst.toString(enc));
  return { diffie_hellman_response: dh.dhResponse, live_session_token_signature: dh.signature, live_session_token_expiration: Date.now() + 86_400_000 };
}

const json = (res, status, v, headers = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(typeof v === 'string' || Buffer.isBuffer(v) ? v : JSON.stringify(v));
};

/** A session of the simulator's credentials whose API base is the hostile server. */
const session = (h, o = {}) => IbkrSession.oauth1({ ...sim.clientConfig(), baseUrl: `${h.url}/v1/api`, pacing: false, maxRetries: 0, timeoutMs: 10_000, logger, ...o });

/** A server whose LST answer is `answer(req)` (an object, or a function writing the response). */
const lstServer = (answer, api = (req, res) => json(res, 200, { ok: true })) => hostile((req, res) => {
  if (req.url.startsWith('/v1/api/oauth/live_session_token')) {
    const a = answer(req, res);
    if (a !== undefined) json(res, 200, a);
    return;
  }
  api(req, res);
});

async function rejects(promise, code) {
  const e = await promise.then(() => null, (err) => err);
  assert.ok(e, `expected ${code}, but it succeeded`);
  assert.ok(e instanceof IbkrAuthError, `not an IbkrAuthError: ${e?.stack ?? e}`);
  assert.equal(e.code, code, e.message);
  for (const b of sim.bearers.keys()) secrets.add(b);
  const texts = [e.message, String(e.stack), JSON.stringify(e), ...logLines];
  for (const secret of secrets) {
    if (typeof secret !== 'string' || secret.length < 8) continue; // too short to tell from other text
    for (const t of texts) assert.ok(!t.includes(secret), `a secret leaks into: ${t.slice(0, 200)}`);
  }
  return e;
}

describe('the Diffie-Hellman answer', () => {
  const p = BigInt(`0x${sim.dh.prime}`);
  for (const [name, b] of [['0', 0n], ['1', 1n], ['p - 1', p - 1n], ['p', p], ['p + 1', p + 1n], ['2^4096', 1n << 4096n]]) {
    test(`diffie_hellman_response = ${name} is BAD_DH_RESPONSE`, async () => {
      const h = await lstServer((req) => ({ ...lstAnswer(req), diffie_hellman_response: b.toString(16) }));
      await rejects(session(h).liveSessionToken(), 'BAD_DH_RESPONSE');
    });
  }

  for (const [name, v] of [['not hex', 'xyz'], ['empty', ''], ['a number', 12345], ['missing', undefined]]) {
    test(`diffie_hellman_response ${name} is BAD_DH_RESPONSE`, async () => {
      const h = await lstServer((req) => ({ ...lstAnswer(req), diffie_hellman_response: v }));
      await rejects(session(h).liveSessionToken(), 'BAD_DH_RESPONSE');
    });
  }

  test('the correct answer works (the server is right when it is not hostile)', async () => {
    const h = await lstServer(lstAnswer);
    const { token } = await session(h).liveSessionToken();
    assert.match(token, /^[A-Za-z0-9+/]{27}=$/);
  });

  for (const [name, f] of [['short', (s) => s.slice(2)], ['long', (s) => `${s}00`], ['empty', () => ''], ['not hex', (s) => `zz${s.slice(2)}`], ['base64', (s) => Buffer.from(s, 'hex').toString('base64')]]) {
    test(`an LST signature that is ${name} is LST_SIGNATURE_MISMATCH`, async () => {
      const h = await lstServer((req) => { const a = lstAnswer(req); return { ...a, live_session_token_signature: f(a.live_session_token_signature) }; });
      await rejects(session(h).liveSessionToken(), 'LST_SIGNATURE_MISMATCH');
    });
  }
});

describe('bodies', () => {
  test('a body past maxResponseBytes is UNEXPECTED_RESPONSE, and the transfer is cut', { timeout: 60_000 }, async () => {
    let sent = 0;
    let sentAtClose = null;
    let connectionClosed;
    const closed = new Promise((r) => { connectionClosed = r; });
    const h = await lstServer((req, res) => {
      req.socket.once('close', () => { sentAtClose = sent; connectionClosed(res); });
      res.writeHead(200, { 'content-type': 'application/json' }); // chunked, no length
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = () => { while (!res.destroyed && sent < 64 * 1024 * 1024) { sent += chunk.length; if (!res.write(chunk)) return res.once('drain', pump); } if (!res.destroyed) res.end(); };
      res.write('{"diffie_hellman_response":"');
      pump();
    });
    const e = await rejects(session(h, { maxResponseBytes: 256 * 1024 }).liveSessionToken(), 'UNEXPECTED_RESPONSE');
    assert.match(e.message, /maxResponseBytes/);
    // The reader stopped and the client dropped the connection: the server sees it close (the
    // test's time-out is the only bound) before it has written its 64 MiB.
    const res = await closed;
    assert.equal(res.writableFinished, false, 'the server never finished its body: the client cut it');
    assert.ok(sentAtClose < 64 * 1024 * 1024, `the server wrote ${sentAtClose} bytes before the close`);
  });

  test('a declared Content-Length past the default 16 MiB is refused before reading', async () => {
    const h = await lstServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(1024 ** 3) });
      res.write('{');
    });
    const e = await rejects(session(h).liveSessionToken(), 'UNEXPECTED_RESPONSE');
    assert.match(e.message, /16777216 bytes/);
  });

  test('a body that stalls is TIMEOUT: timeoutMs covers the body, not only the headers', async () => {
    const h = await lstServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"diffie_hellman_response":"ab'); // and nothing more, ever
    });
    const e = await rejects(session(h, { timeoutMs: 300 }).liveSessionToken(), 'TIMEOUT');
    assert.match(e.message, /body/);
  });

  test('headers that never come are TIMEOUT', async () => {
    const h = await lstServer(() => undefined); // never answers
    await rejects(session(h, { timeoutMs: 300 }).liveSessionToken(), 'TIMEOUT');
  });

  test('a body that is not UTF-8 is UNEXPECTED_RESPONSE', async () => {
    const h = await lstServer((req, res) => {
      const a = JSON.stringify(lstAnswer(req));
      json(res, 200, Buffer.concat([Buffer.from(a.slice(0, 10)), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(a.slice(10))]));
    });
    await rejects(session(h).liveSessionToken(), 'UNEXPECTED_RESPONSE');
  });

  test('truncated JSON is UNEXPECTED_RESPONSE, naming the request and echoing nothing of it', async () => {
    let cut;
    const h = await lstServer((req, res) => {
      cut = JSON.stringify(lstAnswer(req)).slice(0, 40); // {"diffie_hellman_response":"<12 hex digits>
      json(res, 200, cut);
    });
    const e = await rejects(session(h).liveSessionToken(), 'UNEXPECTED_RESPONSE');
    assert.match(e.message, /live session token request is not JSON: .*cut short.*Retry/);
    assert.equal(e.status, undefined, 'a malformed answer, not an HTTP failure');
    assert.ok(!e.message.includes(cut.slice(-12)), 'the body is echoed');
  });

  test('JSON of the wrong shape is BAD_DH_RESPONSE', async () => {
    for (const body of ['[]', 'null', '"x"', '{"diffie_hellman_response":{"a":1}}']) {
      const h = await lstServer((req, res) => json(res, 200, body));
      await rejects(session(h).liveSessionToken(), 'BAD_DH_RESPONSE');
    }
  });

  test('an API answer past the limit, or not UTF-8, is a typed error from request()', async () => {
    const big = await lstServer(lstAnswer, (req, res) => json(res, 200, `[${'1,'.repeat(4096)}1]`));
    await rejects(session(big, { maxResponseBytes: 4096 }).request('GET', '/iserver/accounts'), 'UNEXPECTED_RESPONSE');
    const bad = await lstServer(lstAnswer, (req, res) => json(res, 200, Buffer.from([0x7b, 0xff, 0x7d])));
    await rejects(session(bad).request('GET', '/iserver/accounts'), 'UNEXPECTED_RESPONSE');
  });

  test('maxResponseBytes must be a positive whole number', () => {
    for (const v of [-1, 1.5, 'lots', {}]) {
      assert.throws(() => session({ url: 'http://127.0.0.1:9' }, { maxResponseBytes: v }), (e) => e.code === 'INVALID_ARGUMENT');
    }
  });
});

describe('redirects', () => {
  for (const status of [301, 302, 303, 307, 308]) {
    test(`a ${status} to another host is HTTP_ERROR and is never followed`, async () => {
      const evil = await hostile((req, res) => json(res, 200, {}));
      const h = await lstServer((req, res) => { res.writeHead(status, { location: `${evil.url}/steal?x=1` }); res.end(); });
      const e = await rejects(session(h).liveSessionToken(), 'HTTP_ERROR');
      assert.equal(e.status, status);
      assert.match(e.message, new RegExp(`redirect to ${evil.url.replace(/[.]/g, '\\.')}`));
      assert.ok(!e.message.includes('steal'), 'the path and query of the Location are not echoed');
      assert.equal(evil.hits, 0, 'the other host got a request');
    });
  }

  test('a signed API call answered with a redirect is not followed either', async () => {
    const evil = await hostile((req, res) => json(res, 200, {}));
    const h = await lstServer(lstAnswer, (req, res) => { res.writeHead(307, { location: `${evil.url}/v1/api/iserver/accounts` }); res.end(); });
    const s = session(h);
    await rejects(s.request('GET', '/iserver/accounts'), 'HTTP_ERROR');
    const res = await s.fetch(`${h.url}/v1/api/iserver/accounts`).then(() => null, (e) => e);
    assert.equal(res?.code, 'HTTP_ERROR');
    assert.equal(evil.hits, 0);
  });

  test('OAuth 2.0: a redirect of the token request is not followed', async () => {
    const evil = await hostile((req, res) => json(res, 200, { access_token: bearer('EvilBearer-0123456789'), expires_in: 60 }));
    const h = await hostile((req, res) => { res.writeHead(302, { location: `${evil.url}/oauth2/api/v1/token` }); res.end(); });
    const s = IbkrSession.oauth2({ ...sim.clientConfig2(), baseUrl: `${h.url}/v1/api`, pacing: false, maxRetries: 0, logger });
    await rejects(s.liveSessionToken(), 'HTTP_ERROR');
    assert.equal(evil.hits, 0);
  });
});

describe('OAuth 2.0 answers', () => {
  test('an access_token that cannot go into a header is UNEXPECTED_RESPONSE', async () => {
    for (const token of ['a\r\nX-Injected: 1', 'two words', 'caf\u00e9', '']) {
      const h = await hostile((req, res) => json(res, 200, { access_token: bearer(token), expires_in: 60 }));
      const s = IbkrSession.oauth2({ ...sim.clientConfig2(), baseUrl: `${h.url}/v1/api`, pacing: false, maxRetries: 0, logger });
      await rejects(s.status(), 'UNEXPECTED_RESPONSE');
    }
  });

  test('a token answer cut short is UNEXPECTED_RESPONSE', async () => {
    const h = await hostile((req, res) => json(res, 200, '{"access_token":"eyJhbGciOiJSUzI1NiJ9.e30","expi'));
    const s = IbkrSession.oauth2({ ...sim.clientConfig2(), baseUrl: `${h.url}/v1/api`, pacing: false, maxRetries: 0 });
    const e = await rejects(s.status(), 'UNEXPECTED_RESPONSE');
    assert.match(e.message, /token request is not JSON: .*cut short/);
    assert.ok(!e.message.includes('eyJhbGci'), 'the body is echoed');
  });
});

describe('the gateway login', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ibkr-hostile-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  let n = 0;
  const login = (h) => gatewayLogin({ username: 'user1', password: 'hunter22-long', baseUrl: h.url, guard: { file: path.join(tmp, `guard-${(n += 1)}.json`) }, logger, timeoutMs: 2000, statusPolls: 1, statusPollMs: 1 });
  const gateway = (reply) => hostile((req, res) => {
    if (req.method === 'GET') { res.writeHead(200, { 'content-type': 'text/html' }); return res.end('<html></html>'); }
    reply(req, res);
  });

  for (const [name, xml] of [
    ['an entity bomb', `<!DOCTYPE r [<!ENTITY a "${'a'.repeat(100)}"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><ib_auth_res>&b;</ib_auth_res>`],
    ['not XML', '<html><body>Login</body></html'],
    ['another root', '<html><body>Login</body></html>'],
    ['a cut INIT', '<ib_auth_res><ini_params><N>d4c7'],
    ['N that is not hex', '<ib_auth_res><ini_params><g>2</g><N>xyz</N><s>00</s><B>02</B></ini_params></ib_auth_res>'],
  ]) {
    test(`an INIT reply that is ${name} is UNEXPECTED_RESPONSE`, async () => {
      const h = await gateway((req, res) => { res.writeHead(200, { 'content-type': 'text/xml' }); res.end(xml); });
      await rejects(login(h), 'UNEXPECTED_RESPONSE');
    });
  }

  test('a login reply past 256 KiB is UNEXPECTED_RESPONSE', async () => {
    const h = await gateway((req, res) => { res.writeHead(200, { 'content-type': 'text/xml' }); res.end(`<ib_auth_res>${' '.repeat(1024 * 1024)}</ib_auth_res>`); });
    await rejects(login(h), 'UNEXPECTED_RESPONSE');
  });

  test('a login reply that stalls is TIMEOUT', async () => {
    const h = await gateway((req, res) => { res.writeHead(200, { 'content-type': 'text/xml' }); res.write('<ib_auth_res>'); });
    await rejects(login(h), 'TIMEOUT');
  });
});
