// IBKR's streaming WebSocket (market data, orders, P&L), kept open and authenticated: the socket
// object, its `tic` keep-alive, reconnects and the replay of subscriptions. What to authenticate
// with and what to do on each close are the session's (Rust: src/session/websocket.rs, through
// websocketInfo/websocketClosed/websocketCurrent), so every runtime decides alike. The socket comes
// from the WebSocket constructor given (the global one of browsers, Node ≥ 22, Deno, Bun; the `ws`
// package, which can send headers), or from a fetch upgrade (Cloudflare Workers). Nothing here logs:
// the session's logger says what happens (each close and `sts` reopen, through websocketClosed),
// without secrets; a reopen after a token renewal shows as the `reconnecting` event only.
import { IbkrAuthError } from './errors.js';

const bad = (msg) => new IbkrAuthError('INVALID_ARGUMENT', `websocket: ${msg}`);
// The `ws` package's class (its CommonJS export or its ESM default): it alone has terminate().
const isWsPackage = (WS) => typeof WS === 'function' && typeof WS.prototype?.terminate === 'function' && typeof WS.prototype?.ping === 'function';
const decoder = typeof TextDecoder === 'function' ? new TextDecoder() : null;
const encoder = new TextEncoder();

/** A message's text: strings as they are; bytes (Buffer, ArrayBuffer, typed arrays) as UTF-8. */
function text(data) {
  if (typeof data === 'string') return data;
  if (decoder && (data instanceof ArrayBuffer || ArrayBuffer.isView(data))) return decoder.decode(data);
  return String(data);
}

/**
 * The key a subscription is kept under: `smd+265598+{…}` → `smd+265598`; `sor+{}` → `sor`. The
 * topic (its first three letters) is lower-cased, as IBKR's topics are, so `SMD+1` and `smd+1`
 * are one subscription and `umd+1` / `UMD+1` remove it.
 */
function topicKey(message) {
  const parts = message.split('+');
  let n = parts.length;
  while (n > 1 && parts[n - 1].trimStart().startsWith('{')) n -= 1;
  const key = parts.slice(0, n).join('+');
  return key.slice(0, 3).toLowerCase() + key.slice(3);
}

/** How many messages an async iterator may hold unread before it is ended. */
const ITERATOR_BACKLOG = 10_000;

/** Closes a socket, whatever state it is in; one that refuses the code or reason is closed without them. */
function closeSocket(ws, code, reason) {
  if (!ws) return;
  try { ws.close(code, reason); return; } catch { /* refused the arguments, or already closed */ }
  try { ws.close(); } catch { /* already closed */ }
}

/** Timers the stream uses; tests pass their own to run it on a controlled clock. */
function timersOf(o) {
  const t = o.timers ?? globalThis;
  if (typeof t.setTimeout !== 'function' || typeof t.clearTimeout !== 'function') throw bad('`timers` must have setTimeout and clearTimeout.');
  return { set: (fn, ms) => t.setTimeout(fn, ms), clear: (id) => t.clearTimeout(id) };
}

/**
 * An authenticated streaming WebSocket to IBKR that stays so: `tic` every `ticMs`, the session's
 * keep-alive round every `keepAliveMs` (with a shared store, one process of the fleet tickles),
 * reopened with a new session value after a token renewal or a close (with back-off), and the
 * subscriptions replayed. Made by `session.websocket({ WebSocket })`.
 */
export class IbkrStream {
  #session;
  #timers;
  #WS;
  #fetch;
  #sendHeaders;
  #socketOptions;
  #ticMs;
  #keepAliveMs;
  #subs = new Map();
  #listeners = new Map();
  #consumers = new Set();
  #state = null;
  #info = null;
  #attempt = 0;
  #refusals = 0;
  #reconnects = 0;
  #ticTimer = null;
  #keepAliveTimer = null;
  #retryTimer = null;
  #closed = false;
  /** A socket of this stream has authenticated: the opening promise is settled; later opens are reconnects. */
  #streamed = false;
  #unlisten = null;
  #failure = null;
  #opened;

  /** Adds `websocket(o)` to the session class (done by the package's entry files). */
  static install(SessionClass) {
    if (typeof SessionClass?.prototype?.websocketInfo !== 'function' || SessionClass.prototype.websocket) return;
    Object.defineProperty(SessionClass.prototype, 'websocket', {
      configurable: true,
      writable: true,
      value: function websocket(o) {
        if (o != null && typeof o !== 'object') return Promise.reject(bad('the options must be an object.'));
        // Only no options, or `fresh`/`repair` alone, ask for the details (which hold secrets).
        // Any stream option without a socket to use (`WebSocket: globalThis.WebSocket` on Node
        // 20, `subscriptions` alone) is a mistake, named by the constructor.
        if (!o || Object.keys(o).every((k) => k === 'fresh' || k === 'repair')) return this.websocketInfo(o ? { fresh: o.fresh, repair: o.repair } : undefined);
        let stream;
        try { stream = new IbkrStream(this, o); } catch (e) { return Promise.reject(e); }
        return stream.#opened.then(() => stream);
      },
    });
  }

  constructor(session, o = {}) {
    if (typeof session?.websocketInfo !== 'function') throw bad('needs an IbkrSession.');
    this.#session = session;
    this.#timers = timersOf(o);
    if (o.WebSocket !== undefined && typeof o.WebSocket !== 'function') throw bad('`WebSocket` must be a WebSocket constructor (globalThis.WebSocket, or the `ws` package\'s default export).');
    if (o.fetch !== undefined && typeof o.fetch !== 'function') throw bad('`fetch` must be a function (a fetch that upgrades, as Workers\' does).');
    if (!o.WebSocket && !o.fetch) throw bad(`no WebSocket constructor: \`WebSocket\` is ${o.WebSocket === null ? 'null' : typeof o.WebSocket}. Node 20 has no global WebSocket: pass the \`ws\` package's default export (on Workers, pass \`fetch\`). For only the URL, headers and cookie, pass no options (or just \`fresh\`).`);
    this.#WS = o.WebSocket;
    this.#fetch = o.WebSocket ? null : o.fetch;
    this.#sendHeaders = o.headers ?? isWsPackage(o.WebSocket);
    if (o.socketOptions !== undefined && (typeof o.socketOptions !== 'object' || o.socketOptions === null)) throw bad('`socketOptions` must be an object (passed to the WebSocket constructor, e.g. the `ws` package\'s { ca }).');
    this.#socketOptions = o.socketOptions;
    const ms = (v) => Number.isInteger(v) && v >= 1000;
    // Under IBKR's minute of silence, with room for a late timer.
    if (o.ticMs !== undefined && !(ms(o.ticMs) && o.ticMs <= 55_000)) throw bad('`ticMs` must be a whole number of milliseconds from 1000 to 55000 (how often `tic` is sent; IBKR closes a socket silent for a minute; leave it out for 30000).');
    if (o.keepAliveMs !== undefined && o.keepAliveMs !== false && !ms(o.keepAliveMs)) throw bad('`keepAliveMs` must be a whole number of milliseconds ≥ 1000 (leave it out for 60000), or false for no keep-alive round.');
    this.#ticMs = o.ticMs;
    this.#keepAliveMs = o.keepAliveMs;
    if (o.signal !== undefined && (typeof o.signal?.addEventListener !== 'function' || typeof o.signal.aborted !== 'boolean')) throw bad('`signal` must be an AbortSignal.');
    if (o.signal?.aborted) throw new IbkrAuthError('ABORTED', 'websocket: the signal was aborted before the stream opened.');
    for (const s of o.subscriptions ?? []) this.subscribe(s);
    this.#opened = new Promise((resolve, reject) => { this.#state = { resolve, reject }; });
    this.#opened.catch(() => {});
    if (o.signal) {
      const onAbort = () => this.close(1000, 'aborted');
      o.signal.addEventListener('abort', onAbort, { once: true });
      this.#unlisten = () => o.signal.removeEventListener('abort', onAbort);
    }
    this.#run(this.#connect(false, false));
  }

  /** Whether a socket is open and IBKR confirmed it authenticated. */
  get authenticated() { return Boolean(this.#state?.authenticated && !this.#state.done && !this.#closed); }

  /** How many times the socket was reopened. */
  get reconnects() { return this.#reconnects; }

  /** The token generation the open socket's session value belongs to. */
  get generation() { return this.#info?.generation; }

  /** The subscription messages replayed after a reconnect. */
  get subscriptions() { return [...this.#subs.values()]; }

  /**
   * Subscribes, e.g. `smd+265598+{"fields":["31","84","86"]}`, `sor+{}`, `spl+{}`: sent now if the
   * socket is authenticated, and again after every reconnect. Returns the key `unsubscribe` takes.
   */
  subscribe(message) {
    if (typeof message !== 'string' || !/^s[a-z]{2}\+/i.test(message)) throw bad('subscribe takes IBKR\'s message, e.g. smd+265598+{"fields":["31"]} or sor+{}.');
    const key = topicKey(message);
    this.#subs.set(key, message);
    if (this.authenticated) this.#send(message);
    return key;
  }

  /** Unsubscribes by key (`smd+265598`, `sor`) or IBKR's message (`umd+265598+{}`); no more replay. */
  unsubscribe(keyOrMessage) {
    if (typeof keyOrMessage !== 'string' || !keyOrMessage) throw bad('unsubscribe takes a key (smd+265598) or a message (umd+265598+{}).');
    const isU = /^u[a-z]{2}(\+|$)/i.test(keyOrMessage);
    const key = topicKey(keyOrMessage);
    const sKey = isU ? `s${key.slice(1)}` : key;
    const had = this.#subs.delete(sKey);
    const message = isU ? keyOrMessage : `u${sKey.slice(1)}+{}`;
    if (this.authenticated) this.#send(message);
    return had;
  }

  /** Sends a message as it is (not replayed after a reconnect). */
  send(message) {
    if (typeof message !== 'string') throw bad('send takes a string.');
    if (!this.authenticated) throw new IbkrAuthError('NETWORK', 'websocket: the socket is not open and authenticated now (reconnecting, or closed); subscribe() replays once it is.');
    this.#send(message);
  }

  /**
   * `on('message' | 'open' | 'reconnecting' | 'keepalive' | 'error' | 'close', fn)`. `error`: the
   * stream gave up (`close` follows), or a listener threw (INTERNAL, `cause` what it threw; the
   * stream goes on). A listener that throws while no `error` listener is on is thrown again as an
   * uncaught exception (in Node that ends the process, as with a throwing EventEmitter listener).
   */
  on(type, fn) {
    if (typeof fn !== 'function') throw bad('on(type, listener) needs a function.');
    if (!this.#listeners.has(type)) this.#listeners.set(type, new Set());
    this.#listeners.get(type).add(fn);
    return this;
  }

  off(type, fn) {
    this.#listeners.get(type)?.delete(fn);
    return this;
  }

  /**
   * Closes the socket for good: no reconnect; iterators end. `code`: 1000 or 3000–4999 (what
   * browsers accept); `reason`: at most 123 bytes of UTF-8.
   */
  close(code = 1000, reason = 'closed by the client') {
    if (this.#closed) return;
    if (!(code === 1000 || (Number.isInteger(code) && code >= 3000 && code <= 4999))) throw bad('close(code, reason): the code must be 1000 or 3000–4999.');
    if (typeof reason !== 'string' || encoder.encode(reason).length > 123) throw bad('close(code, reason): the reason must be a string of at most 123 bytes (UTF-8).');
    this.#closed = true;
    this.#unlisten?.();
    this.#stopTimers();
    this.#timers.clear(this.#retryTimer);
    const st = this.#state;
    this.#state = null;
    closeSocket(st?.ws, code, reason);
    st?.reject?.(new IbkrAuthError('ABORTED', 'websocket: closed before it was authenticated.'));
    this.#emit('close', { code, reason });
    for (const c of this.#consumers) c.end();
  }

  /**
   * Messages, parsed (JSON, else the text), as they come; ends on close(), throws if the stream
   * fails. An iterator that falls ITERATOR_BACKLOG messages behind is ended with ABORTED (after
   * the messages it holds) rather than drop any unseen; the stream and its listeners go on.
   */
  [Symbol.asyncIterator]() {
    const queue = [];
    const waiters = []; // one per pending next(): concurrent calls each get their own message
    let done = false;
    let overflow = null;
    const wakeAll = () => { for (const w of waiters.splice(0)) w(); };
    const consumer = {
      push: (m) => {
        if (queue.length >= ITERATOR_BACKLOG) {
          overflow = new IbkrAuthError('ABORTED', `websocket: this iterator fell ${ITERATOR_BACKLOG} messages behind and was ended, so that none is lost unseen (the stream goes on). Read faster, or take messages with on('message').`);
          this.#consumers.delete(consumer);
          wakeAll();
          return;
        }
        queue.push(m);
        waiters.shift()?.();
      },
      end: () => { done = true; wakeAll(); },
    };
    // Made after the stream ended: it ends at once and is not kept.
    if (!this.#closed) this.#consumers.add(consumer);
    else done = true;
    const finish = () => { this.#consumers.delete(consumer); done = true; wakeAll(); return Promise.resolve({ done: true, value: undefined }); };
    return {
      next: async () => {
        for (;;) {
          if (queue.length) return { done: false, value: queue.shift() };
          if (overflow) { finish(); throw overflow; }
          if (this.#failure) { finish(); throw this.#failure; }
          if (done || this.#closed) return finish();
          await new Promise((r) => { waiters.push(r); });
        }
      },
      return: finish,
      [Symbol.asyncIterator]() { return this; },
    };
  }

  /**
   * Calls the listeners of `type`. One that throws does not stop the others nor the stream: its
   * error goes to the `error` listeners as an IbkrAuthError INTERNAL whose `cause` is what it
   * threw; with no `error` listener (or when an `error` listener throws) it is thrown again
   * outside the stream, as an uncaught exception (which ends a Node process, as a throwing
   * EventEmitter listener would).
   */
  #emit(type, value) {
    for (const fn of this.#listeners.get(type) ?? []) {
      try { fn(value); } catch (e) { this.#listenerThrew(type, e); }
    }
  }

  #listenerThrew(type, e) {
    const errorListeners = this.#listeners.get('error');
    if (type === 'error' || !errorListeners?.size) { queueMicrotask(() => { throw e; }); return; }
    const error = new IbkrAuthError('INTERNAL', `websocket: a '${type}' listener threw (${e?.name ?? typeof e}); the stream goes on. Fix the listener; \`cause\` is what it threw.`, { cause: e });
    this.#emit('error', error);
  }

  /** Runs an async step of the stream: what it throws fails the stream instead of going unhandled. */
  #run(promise) {
    promise.catch((e) => this.#crash(e));
  }

  /** Something threw where nothing should (the session's methods, a runtime's socket): the stream fails with it. */
  #crash(e) {
    if (this.#closed) return;
    const error = e instanceof IbkrAuthError ? e : new IbkrAuthError('INTERNAL', `websocket: the stream stopped on an unexpected ${e?.name ?? typeof e}; open a new one (and please report it).`);
    this.#fail(this.#state ?? {}, error);
  }

  #send(message) {
    try { this.#state?.ws?.send(message); } catch { /* the close handler reconnects */ }
  }

  #stopTimers() {
    this.#timers.clear(this.#ticTimer);
    this.#timers.clear(this.#keepAliveTimer);
    this.#ticTimer = this.#keepAliveTimer = null;
  }

  /** Opens a socket: the session value (fresh/repair as decided), then the socket itself. */
  async #connect(fresh, repair) {
    const st = { ...this.#carry(), opened: false, authenticated: false, sentSession: false, httpStatus: undefined, ws: null, done: false };
    this.#state = st;
    let info;
    try {
      info = await this.#session.websocketInfo({ fresh, repair });
    } catch (e) {
      if (this.#state !== st) return;
      return this.#closedWith(st, { code: 1006, reason: '', prepareError: e instanceof IbkrAuthError ? e.code : 'NETWORK' });
    }
    if (this.#state !== st) return;
    this.#info = info;
    try {
      if (this.#fetch) {
        // Called as a plain function: Workers' fetch refuses any other `this`.
        const upgrade = this.#fetch;
        const resp = await upgrade(info.url.replace(/^ws/i, 'http'), { headers: { ...info.headers, Upgrade: 'websocket' } });
        if (this.#state !== st) { resp.webSocket?.close?.(1000); return; }
        if (!resp.webSocket) return this.#closedWith(st, { code: 1006, reason: '', httpStatus: resp.status });
        st.ws = resp.webSocket;
        this.#wire(st);
        st.ws.accept();
        this.#onOpen(st);
      } else {
        const options = this.#sendHeaders ? { ...this.#socketOptions, headers: { ...this.#socketOptions?.headers, ...info.headers } } : this.#socketOptions;
        try {
          st.ws = options ? new this.#WS(info.url, options) : new this.#WS(info.url);
        } catch (e) {
          // Thrown at once, not a failed connection: the URL or the options cannot work here
          // (a bad URL; ws:// from an https page; an option the constructor refuses). Named by
          // the error's name only: its message may quote the URL, which holds the access token.
          const where = info.url.split('?')[0];
          return this.#fail(st, new IbkrAuthError('INVALID_ARGUMENT', `websocket: the WebSocket constructor threw ${e?.name ?? typeof e} for ${where}. Check the API base URL (a page served over https needs an https base, so wss://) and socketOptions.`));
        }
        if ('binaryType' in st.ws) try { st.ws.binaryType = 'arraybuffer'; } catch { /* not settable */ }
        this.#wire(st);
      }
    } catch (e) {
      if (this.#state !== st) return;
      return this.#closedWith(st, { code: 1006, reason: '', prepareError: e instanceof IbkrAuthError ? e.code : undefined });
    }
  }

  /** The first-open promise's handlers pass from one attempt to the next, until a socket authenticates. */
  #carry() {
    const prev = this.#state;
    return prev && !this.#streamed ? { resolve: prev.resolve, reject: prev.reject } : {};
  }

  #wire(st) {
    const ws = st.ws;
    const on = (type, fn) => ws.addEventListener(type, (ev) => {
      if (this.#state !== st || st.done) return;
      try { fn(ev); } catch (e) { this.#crash(e); }
    });
    on('open', () => this.#onOpen(st));
    on('message', (ev) => this.#onMessage(st, ev.data));
    on('error', (ev) => {
      const m = /Unexpected server response: (\d{3})/.exec(String(ev?.message ?? ev?.error?.message ?? ''));
      if (m) st.httpStatus = Number(m[1]);
    });
    on('close', (ev) => this.#closedWith(st, { code: ev.code || 1006, reason: ev.reason ?? '' }));
  }

  #onOpen(st) {
    st.opened = true;
    // Where the upgrade could not carry the cookie, IBKR waits for the session message.
    if (!this.#fetch && !this.#sendHeaders) this.#sendSession(st);
  }

  #sendSession(st) {
    if (st.sentSession) return;
    st.sentSession = true;
    try { st.ws.send(this.#info.firstMessage); } catch { /* the close handler decides */ }
  }

  #onMessage(st, data) {
    const raw = text(data);
    let msg;
    try { msg = JSON.parse(raw); } catch { msg = raw; }
    if (msg && typeof msg === 'object') {
      if (!st.authenticated && msg.message === 'waiting for session') this.#sendSession(st);
      if (!st.authenticated && msg.topic === 'system' && msg.success !== undefined) this.#onAuthenticated(st);
      if (msg.topic === 'sts' && msg.args?.authenticated === false) this.#reauthenticate(st);
    }
    this.#emit('message', msg);
    for (const c of this.#consumers) c.push(msg);
  }

  #onAuthenticated(st) {
    st.authenticated = true;
    const reconnected = this.#streamed;
    this.#streamed = true;
    this.#refusals = 0;
    for (const m of this.#subs.values()) this.#send(m);
    this.#startTimers(st);
    if (reconnected) this.#reconnects += 1;
    st.resolve?.();
    this.#emit('open', { generation: this.#info.generation, reconnected });
  }

  #startTimers(st) {
    this.#stopTimers();
    const ticMs = this.#ticMs ?? this.#info.ticMs;
    const tic = () => {
      if (this.#state !== st) return;
      try {
        if (!this.#session.websocketCurrent(this.#info.generation)) return this.#reopen(st);
      } catch (e) { return this.#crash(e); }
      // The socket stayed authenticated for a tic interval: reopens start the back-off anew (not
      // on authentication alone: a server that closes each socket right after it authenticates,
      // or a login elsewhere that takes the session after each repair, must not make a loop).
      this.#attempt = 0;
      this.#send('tic');
      this.#ticTimer = this.#timers.set(tic, ticMs);
    };
    this.#ticTimer = this.#timers.set(tic, ticMs);
    if (this.#keepAliveMs === false) return;
    const keepAliveMs = this.#keepAliveMs ?? this.#info.keepAliveMs;
    const round = async () => {
      if (this.#state !== st) return;
      try {
        const result = await this.#session.keepAliveOnce({ intervalMs: keepAliveMs });
        this.#emit('keepalive', result);
      } catch (error) {
        this.#emit('keepalive', { error });
      }
      if (this.#state !== st) return;
      if (!this.#session.websocketCurrent(this.#info.generation)) return this.#reopen(st);
      this.#keepAliveTimer = this.#timers.set(() => this.#run(round()), keepAliveMs);
    };
    this.#keepAliveTimer = this.#timers.set(() => this.#run(round()), keepAliveMs);
  }

  /** The token was renewed: closes this socket ourselves and opens another at once, with the new token's session value. */
  #reopen(st) {
    if (this.#state !== st || st.done) return;
    st.done = true;
    this.#stopTimers();
    closeSocket(st.ws, 1000, 'token renewed');
    this.#emit('reconnecting', { attempt: this.#attempt, delayMs: 0, code: 1000, reason: 'token renewed' });
    this.#retry(0, false, false);
  }

  /**
   * `sts` says the brokerage session is not authenticated: closes this socket ourselves; what
   * follows is the session's decision for a lost brokerage session (websocketClosed: repaired,
   * a new session value, after the back-off), as for any close.
   */
  #reauthenticate(st) {
    if (this.#state !== st || st.done) return;
    closeSocket(st.ws, 1000, 'reauthenticating');
    this.#closedWith(st, { code: 1000, reason: 'brokerage session not authenticated', brokerageLost: true });
  }

  /** Opens again after `delayMs` (at once for 0) unless the stream was closed meanwhile. */
  #retry(delayMs, fresh, repair) {
    const go = () => { if (!this.#closed) this.#run(this.#connect(fresh, repair)); };
    if (delayMs === 0) go();
    else this.#retryTimer = this.#timers.set(go, delayMs);
  }

  #closedWith(st, c) {
    if (this.#state !== st || st.done) return;
    st.done = true;
    this.#stopTimers();
    if (this.#closed) return;
    const d = this.#session.websocketClosed({
      code: c.code, reason: c.reason, opened: st.opened, authenticated: st.authenticated,
      httpStatus: c.httpStatus ?? st.httpStatus, attempt: this.#attempt, authRefusals: this.#refusals,
      prepareError: c.prepareError, streamed: this.#streamed, brokerageLost: c.brokerageLost,
    });
    if (d.action === 'fail') return this.#fail(st, d.error);
    if (d.refused) this.#refusals += 1;
    this.#emit('reconnecting', { attempt: this.#attempt, delayMs: d.delayMs, code: c.code, reason: c.reason });
    this.#attempt += 1;
    this.#retry(d.delayMs, d.fresh, d.repair);
  }

  #fail(st, error) {
    this.#failure = error;
    this.#closed = true;
    this.#unlisten?.();
    this.#state = null;
    this.#stopTimers();
    this.#timers.clear(this.#retryTimer);
    closeSocket(st.ws, 1000);
    // Before the first authenticated socket the opening promise rejects; after it, `error`.
    if (st.reject && !this.#streamed) st.reject(error);
    else this.#emit('error', error);
    this.#emit('close', { code: 1008, reason: error.message });
    for (const c of this.#consumers) c.end();
  }
}
