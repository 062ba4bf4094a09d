// The simulator's business endpoints, played as a small IBKR sandbox with state: accounts (one or
// more, one of them selected), contracts from a fixed universe, market data whose prices move on
// the simulator's clock (deterministic: a price is a function of the conid and the time), orders
// with IBKR's confirmation questions and replies, states that advance on the clock, fills that
// move positions and cash, and IBKR's response and error shapes. Plain JavaScript, no state kept
// outside the Simulator that owns it (sim.orders is the list of placed orders).
import crypto from 'node:crypto';

/** The contracts the sandbox knows: conid, symbol, company, primary exchange, a base price. */
export const UNIVERSE = [
  { conid: 265598, symbol: 'AAPL', name: 'APPLE INC', exchange: 'NASDAQ', base: 190.5, industry: 'Technology' },
  { conid: 272093, symbol: 'MSFT', name: 'MICROSOFT CORP', exchange: 'NASDAQ', base: 415.2, industry: 'Technology' },
  { conid: 756733, symbol: 'SPY', name: 'SPDR S&P 500 ETF TRUST', exchange: 'ARCA', base: 520.1, industry: 'Funds' },
  { conid: 8314, symbol: 'IBM', name: 'INTL BUSINESS MACHINES CORP', exchange: 'NYSE', base: 185.3, industry: 'Technology' },
  { conid: 76792991, symbol: 'TSLA', name: 'TESLA INC', exchange: 'NASDAQ', base: 175.4, industry: 'Consumer, Cyclical' },
  { conid: 4815747, symbol: 'NVDA', name: 'NVIDIA CORP', exchange: 'NASDAQ', base: 880.1, industry: 'Technology' },
];
const BY_CONID = new Map(UNIVERSE.map((c) => [c.conid, c]));

/** IBKR's published per-endpoint limits for the sandbox's endpoints, added to the server's default
 * table (not to a table the caller gives): [path pattern, requests, window ms]. */
export const PORTAL_RATE_LIMITS = [
  [/^\/iserver\/account\/pnl\/partitioned$/, 1, 5000],
  [/^\/portfolio\/subaccounts$/, 1, 5000],
  [/^\/iserver\/scanner\/params$/, 1, 900_000],
  [/^\/fyi\//, 1, 1000],
];

/** Confirmation questions: messageId → [test, text]. */
const QUESTIONS = {
  o163: [(o, last) => o.orderType === 'LMT' && Math.abs(o.price - last) / last > 0.03,
    (d) => `The following order "${d}" price exceeds the Percentage constraint of 3%. Are you sure you want to submit this order?`],
  o383: [(o) => o.quantity > 500,
    (d) => `The following order "${d}" size exceeds the Size Limit of 500. Are you sure you want to submit this order?`],
  o451: [(o, last) => o.quantity * (o.price ?? last) > 500_000,
    (d) => `The following order "${d}" value estimate exceeds the Total Value Limit of 500,000 USD. Are you sure you want to submit this order?`],
};

const ORDER_TYPES = { MKT: 'Market', LMT: 'Limit', STP: 'Stop' };
const BAR_MS = { min: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000, m: 30 * 86_400_000, y: 365 * 86_400_000 };
const money = (x) => Math.round(x * 100) / 100;
const ibTime = (ms) => new Date(ms).toISOString().replace(/[-:T]/g, '').slice(2, 14); // yyMMddHHmmss, UTC

/** Sim options for the portal: { accounts? (['DU1234567']), snapshotWarmup? (false), fillMs? (1000),
 * ackMs? (0), cash? (100000) }. */
export class Portal {
  constructor(sim, o = {}) {
    const p = o.portal ?? {};
    this.sim = sim;
    this.accounts = p.accounts ?? ['DU1234567'];
    this.selected = this.accounts[0];
    this.snapshotWarmup = p.snapshotWarmup ?? false;
    this.fillMs = p.fillMs ?? 1000;
    this.ackMs = p.ackMs ?? 0;
    this.subscribed = new Set();
    this.suppressed = new Set();
    this.questions = new Map(); // reply id → { acct, orders, pending: [messageId...], modify? }
    this.usedReplies = new Set();
    this.nextOrderId = 1_400_000_001;
    /** acct → { cash, positions: Map(conid → { position, avgCost }) } */
    this.books = new Map(this.accounts.map((a, i) => [a, {
      cash: (p.cash ?? 100_000) / (i + 1),
      realized: 0,
      positions: new Map(i === 0 ? [[265598, { position: 10, avgCost: 150 }]] : []),
    }]));
  }

  get orders() { return this.sim.orders; }
  now() { return this.sim.clock(); }

  /** The last price of a conid at time t: a slow and a faster wave around the base price. */
  price(conid, t = this.now()) {
    const c = BY_CONID.get(conid);
    if (!c) return null;
    const phase = (conid % 997) / 997 * 2 * Math.PI;
    const x = 1 + 0.004 * Math.sin(2 * Math.PI * t / 600_000 + phase) + 0.002 * Math.sin(2 * Math.PI * t / 97_000 + 2 * phase);
    return money(c.base * x);
  }

  quote(conid, t = this.now()) {
    const last = this.price(conid, t);
    return { last, bid: money(last - 0.01), ask: money(last + 0.01) };
  }

  handle({ method, api, url, body, send, fault, entry }) {
    const route = `${method} ${api}`;
    if (api.startsWith('/iserver/') && !this.sim.brokerage.authenticated) return send(400, { error: 'no bridge', statusCode: 400 });
    this.#advance();
    const bad = (error) => send(400, { error, statusCode: 400 });
    let m;

    // ---- accounts
    if (route === 'GET /iserver/accounts') return send(200, this.#iserverAccounts());
    if (route === 'POST /iserver/account') {
      const acct = body?.acctId;
      if (!this.accounts.includes(acct)) return bad(`Account ${acct} is not valid`);
      this.selected = acct;
      return send(200, { set: true, acctId: acct });
    }
    if (route === 'GET /portfolio/accounts' || route === 'GET /portfolio/subaccounts') return send(200, this.accounts.map((a) => this.#portfolioAccount(a)));
    if (method === 'GET' && (m = api.match(/^\/portfolio\/([^/]+)\/(summary|ledger|positions\/(\d+))$/))) {
      if (!this.books.has(m[1])) return bad(`Account ${m[1]} is not valid`);
      if (m[2] === 'summary') return send(200, this.#summary(m[1]));
      if (m[2] === 'ledger') return send(200, this.#ledger(m[1]));
      return send(200, this.#positions(m[1], Number(m[3])));
    }
    if (route === 'GET /iserver/account/pnl/partitioned') return send(200, this.#pnl());

    // ---- contracts
    if (api === '/iserver/secdef/search' && (method === 'GET' || method === 'POST')) {
      const symbol = method === 'GET' ? url.searchParams.get('symbol') : body?.symbol;
      const byName = method === 'GET' ? url.searchParams.get('name') === 'true' : body?.name === true;
      if (!symbol) return bad('symbol required');
      const q = String(symbol).toUpperCase();
      const hits = UNIVERSE.filter((c) => (byName ? c.name.includes(q) : c.symbol.startsWith(q)));
      return send(200, hits.map((c) => this.#secdef(c)));
    }
    if (route === 'GET /trsrv/stocks') {
      const symbols = (url.searchParams.get('symbols') ?? '').split(',').map((s) => s.trim().toUpperCase()).filter(Boolean);
      if (!symbols.length) return bad('symbols required');
      return send(200, Object.fromEntries(symbols.map((s) => [s, UNIVERSE.filter((c) => c.symbol === s).map((c) => ({
        name: c.name, chineseName: null, assetClass: 'STK',
        contracts: [{ conid: c.conid, exchange: c.exchange, isUS: true }],
      }))])));
    }
    if (method === 'GET' && (m = api.match(/^\/iserver\/contract\/(\d+)\/info$/))) {
      const c = BY_CONID.get(Number(m[1]));
      if (!c) return bad(`Invalid conid: ${m[1]}`);
      return send(200, this.#contractInfo(c));
    }

    // ---- market data
    if (route === 'GET /iserver/marketdata/snapshot') return this.#snapshot(url, send);
    if (route === 'GET /iserver/marketdata/history') return this.#history(url, send, bad);

    // ---- orders
    if (method === 'POST' && (m = api.match(/^\/iserver\/account\/([^/]+)\/orders$/))) {
      entry.kind = 'order';
      return this.#place(m[1], body, send, fault, bad);
    }
    if (method === 'POST' && (m = api.match(/^\/iserver\/account\/([^/]+)\/orders\/whatif$/))) return this.#whatif(m[1], body, send, bad);
    if (method === 'POST' && (m = api.match(/^\/iserver\/reply\/([^/]+)$/))) {
      entry.kind = 'reply';
      return this.#reply(m[1], body, send, fault, bad);
    }
    if (route === 'POST /iserver/questions/suppress') {
      const ids = body?.messageIds;
      if (!Array.isArray(ids) || !ids.length) return bad('messageIds required');
      for (const id of ids) this.suppressed.add(String(id));
      return send(200, { status: 'submitted' });
    }
    if (route === 'POST /iserver/questions/suppress/reset') { this.suppressed.clear(); return send(200, { status: 'submitted' }); }
    if (route === 'GET /iserver/account/orders') {
      const filters = (url.searchParams.get('filters') ?? '').split(',').map((f) => f.trim().toLowerCase()).filter(Boolean);
      const rows = this.orders.filter((o) => !filters.length || filters.includes(o.status.toLowerCase()));
      return send(200, { orders: rows.map((o) => this.#orderRow(o)), snapshot: true });
    }
    if (method === 'GET' && (m = api.match(/^\/iserver\/account\/order\/status\/(\d+)$/))) {
      const o = this.#find(m[1]);
      if (!o) return bad(`OrderID ${m[1]} doesn't exist`);
      return send(200, this.#orderStatus(o));
    }
    if ((m = api.match(/^\/iserver\/account\/([^/]+)\/order\/(\d+)$/)) && (method === 'POST' || method === 'DELETE')) {
      if (!this.books.has(m[1])) return bad(`Account ${m[1]} is not valid`);
      const o = this.#find(m[2]);
      if (!o || o.acct !== m[1]) return bad(`OrderID ${m[2]} doesn't exist`);
      if (method === 'DELETE') {
        if (!this.#working(o)) return bad(`OrderID ${o.orderId} can't be cancelled: it is ${o.status}`);
        o.status = 'Cancelled';
        return send(200, { msg: 'Request was submitted', order_id: o.orderId, conid: o.conid, account: o.acct });
      }
      entry.kind = 'modify';
      return this.#modify(o, body, send, fault, bad);
    }
    return send(404, { error: `no such endpoint: ${route}`, statusCode: 404 });
  }

  // ---- accounts and portfolio -------------------------------------------------------------------

  #iserverAccounts() {
    const props = { hasChildAccounts: false, supportsCashQty: true, noFXConv: false, isProp: false, supportsFractions: true, allowCustomerTime: false };
    return {
      accounts: [...this.accounts], acctProps: Object.fromEntries(this.accounts.map((a) => [a, props])),
      aliases: Object.fromEntries(this.accounts.map((a) => [a, a])), allowFeatures: { showGFIS: true, allowFXConv: true, allowTypeAhead: true, allowEventTrading: false },
      chartPeriods: { STK: ['*'] }, groups: [], profiles: [], selectedAccount: this.selected, isFT: false, isPaper: true,
      sessionId: 'sim', serverInfo: { serverName: 'SimServer1', serverVersion: 'Build 10.30.0' },
    };
  }

  #portfolioAccount(a) {
    return {
      id: a, accountId: a, accountVan: a, accountTitle: 'Sim Paper', displayName: a, accountAlias: null, accountStatus: 1644814800000,
      currency: 'USD', type: 'DEMO', tradingType: 'PMRGN', businessType: 'IB_PROSERVE', ibEntity: 'IBLLC-US', faclient: false,
      clearingStatus: 'O', covestor: false, noClientTrading: false, trackVirtualFXPortfolio: true,
      parent: { mmc: [], accountId: '', isMParent: false, isMChild: false, isMultiplex: false }, desc: a,
    };
  }

  #values(acct) {
    const book = this.books.get(acct);
    let mv = 0; let upl = 0; let dpl = 0;
    const dayStart = Math.floor(this.now() / 86_400_000) * 86_400_000;
    for (const [conid, p] of book.positions) {
      const last = this.price(conid);
      mv += p.position * last;
      upl += p.position * (last - p.avgCost);
      dpl += p.position * (last - this.price(conid, dayStart));
    }
    return { cash: money(book.cash), mv: money(mv), upl: money(upl), dpl: money(dpl), nl: money(book.cash + mv), realized: money(book.realized) };
  }

  #summary(acct) {
    const v = this.#values(acct);
    const ts = this.now();
    const amt = (amount) => ({ amount, currency: 'USD', isNull: false, timestamp: ts, value: null, severity: 0 });
    const margin = money(Math.abs(v.mv) * 0.25);
    return {
      accountcode: { amount: 0, currency: null, isNull: false, timestamp: ts, value: acct, severity: 0 },
      accountready: { amount: 0, currency: null, isNull: false, timestamp: ts, value: 'true', severity: 0 },
      accounttype: { amount: 0, currency: null, isNull: false, timestamp: ts, value: 'INDIVIDUAL', severity: 0 },
      netliquidation: amt(v.nl), totalcashvalue: amt(v.cash), settledcash: amt(v.cash), grosspositionvalue: amt(Math.abs(v.mv)),
      equitywithloanvalue: amt(v.nl), initmarginreq: amt(margin), maintmarginreq: amt(margin),
      availablefunds: amt(money(v.nl - margin)), excessliquidity: amt(money(v.nl - margin)), buyingpower: amt(money((v.nl - margin) * 4)),
    };
  }

  #ledger(acct) {
    const v = this.#values(acct);
    const row = (key) => ({
      commoditymarketvalue: 0, futuremarketvalue: 0, settledcash: v.cash, exchangerate: 1, sessionid: 1, cashbalance: v.cash,
      corporatebondsmarketvalue: 0, warrantsmarketvalue: 0, netliquidationvalue: v.nl, interest: 0, unrealizedpnl: v.upl,
      stockmarketvalue: v.mv, moneyfunds: 0, currency: key, realizedpnl: v.realized, funds: 0, acctcode: acct,
      issueroptionsmarketvalue: 0, key: 'LedgerList', timestamp: Math.floor(this.now() / 1000), severity: 0,
      stockoptionmarketvalue: 0, futuresonlypnl: 0, tbondsmarketvalue: 0, futureoptionmarketvalue: 0, cashbalancefxsegment: 0,
      secondkey: key, tbillsmarketvalue: 0, dividends: 0,
    });
    return { USD: row('USD'), BASE: row('BASE') };
  }

  #positions(acct, page) {
    const rows = [...this.books.get(acct).positions].filter(([, p]) => p.position !== 0).map(([conid, p]) => {
      const c = BY_CONID.get(conid);
      const last = this.price(conid);
      return {
        acctId: acct, conid, contractDesc: c.symbol, position: p.position, mktPrice: last, mktValue: money(p.position * last),
        currency: 'USD', avgCost: p.avgCost, avgPrice: p.avgCost, realizedPnl: 0, unrealizedPnl: money(p.position * (last - p.avgCost)),
        assetClass: 'STK', ticker: c.symbol, name: c.name, listingExchange: c.exchange, sector: c.industry, multiplier: 0,
      };
    });
    return rows.slice(page * 100, page * 100 + 100);
  }

  #pnl() {
    return {
      upnl: Object.fromEntries(this.accounts.map((a) => {
        const v = this.#values(a);
        return [`${a}.Core`, { rowType: 1, dpl: v.dpl, nl: v.nl, upl: v.upl, el: v.nl, mv: v.mv }];
      })),
    };
  }

  // ---- contracts and market data ------------------------------------------------------------------

  #secdef(c) {
    return {
      conid: String(c.conid), companyHeader: `${c.name} - ${c.exchange}`, companyName: c.name, symbol: c.symbol,
      description: c.exchange, restricted: null, fop: null, opt: null, war: null,
      sections: [{ secType: 'STK' }, { secType: 'OPT', months: 'JUL25;AUG25;SEP25', exchange: 'SMART;AMEX;CBOE' }],
    };
  }

  #contractInfo(c) {
    return {
      cfi_code: 'ESXXXX', symbol: c.symbol, cusip: null, expiry_full: null, con_id: c.conid, maturity_date: null, industry: c.industry,
      instrument_type: 'STK', trading_class: c.exchange === 'NASDAQ' ? 'NMS' : c.symbol, valid_exchanges: `SMART,${c.exchange},ARCA,BATS,IEX`,
      allow_sell_long: false, is_zero_commission_security: false, local_symbol: c.symbol, contract_clarification_type: null,
      classifier: null, currency: 'USD', text: null, underlying_con_id: 0, r_t_h: true, multiplier: null, underlying_issuer: null,
      contract_month: null, company_name: c.name, smart_available: true, exchange: 'SMART', category: null,
    };
  }

  #snapshot(url, send) {
    const conids = (url.searchParams.get('conids') ?? '').split(',').filter(Boolean);
    const fields = (url.searchParams.get('fields') ?? '31,84,86').split(',').filter(Boolean);
    const now = this.now();
    return send(200, conids.map((s) => {
      const conid = Number(s);
      const row = { conid, conidEx: s };
      const c = BY_CONID.get(conid);
      if (!c) return row;
      if (this.snapshotWarmup && !this.subscribed.has(conid)) { this.subscribed.add(conid); return row; }
      const values = this.fieldValues(conid, now);
      for (const f of fields) if (f in values) row[f] = values[f];
      return Object.assign(row, { _updated: now, server_id: `q${conids.indexOf(s)}`, 6119: `q${conids.indexOf(s)}` });
    }));
  }

  /** A conid's market data fields at time t (IBKR's field ids, values as strings), for the
   * snapshot and the WebSocket's smd stream; null for a conid outside the universe. */
  fieldValues(conid, t = this.now()) {
    const c = BY_CONID.get(conid);
    if (!c) return null;
    const { last, bid, ask } = this.quote(conid, t);
    const dayStart = Math.floor(t / 86_400_000) * 86_400_000;
    const open = this.price(conid, dayStart);
    const close = this.price(conid, dayStart - 1);
    const samples = Array.from({ length: 25 }, (_, i) => this.price(conid, dayStart + ((t - dayStart) * i) / 24));
    return {
      31: last.toFixed(2), 55: c.symbol, 70: Math.max(...samples).toFixed(2), 71: Math.min(...samples).toFixed(2),
      82: (last - close).toFixed(2), 83: (((last - close) / close) * 100).toFixed(2), 84: bid.toFixed(2), 85: '300', 86: ask.toFixed(2),
      87: String(1_000_000 + Math.floor((t - dayStart) / 1000)), 88: '400', 6509: 'RpB', 7059: '100', 7295: open.toFixed(2), 7296: close.toFixed(2),
    };
  }

  // For the WebSocket (sim/ws.mjs): the order rows, P&L and the clock's effect on orders, as REST has them.
  orderRow(o) { return this.#orderRow(o); }
  pnl() { return this.#pnl(); }
  advance() { this.#advance(); }

  #history(url, send, bad) {
    const conid = Number(url.searchParams.get('conid'));
    const c = BY_CONID.get(conid);
    if (!c) return bad(`conid ${url.searchParams.get('conid')} not found`);
    const span = (v, units) => { const m = /^(\d+)\s*(min|h|d|w|m|y)$/i.exec(v ?? ''); return m && units.includes(m[2].toLowerCase()) ? Number(m[1]) * BAR_MS[m[2].toLowerCase()] : null; };
    const period = url.searchParams.get('period') ?? '1d';
    const bar = url.searchParams.get('bar') ?? '1min';
    const periodMs = span(period, ['min', 'h', 'd', 'w', 'm', 'y']);
    const barMs = span(bar, ['min', 'h', 'd', 'w', 'm']);
    if (!periodMs || !barMs) return bad(`invalid period or bar: ${period}, ${bar}`);
    const n = Math.floor(periodMs / barMs);
    if (n < 1 || n > 1000) return bad(`Chart data unavailable: ${n} bars (at most 1000)`);
    const end = Math.floor(this.now() / barMs) * barMs;
    const data = [];
    for (let t = end - (n - 1) * barMs; t <= end; t += barMs) {
      const px = Array.from({ length: 5 }, (_, i) => this.price(conid, t + (barMs * i) / 4));
      data.push({ o: px[0], c: px[4], h: Math.max(...px), l: Math.min(...px), v: 1000 + ((t / barMs) % 97) * 37, t });
    }
    const hi = Math.max(...data.map((d) => d.h)); const lo = Math.min(...data.map((d) => d.l));
    return send(200, {
      serverId: '20477', symbol: c.symbol, text: c.name, priceFactor: 1, startTime: ibTime(data[0].t).replace(/^(\d{6})(\d{6})$/, '20$1-$2'),
      high: `${hi}/0/0`, low: `${lo}/0/0`, timePeriod: period, barLength: barMs / 1000, mdAvailability: 'S', mktDataDelay: 0,
      outsideRth: url.searchParams.get('outsideRth') === 'true', volumeFactor: 1, priceDisplayRule: 1, priceDisplayValue: '2',
      negativeCapable: false, messageVersion: 2, data, points: data.length, travelTime: 12,
    });
  }

  // ---- orders -------------------------------------------------------------------------------------

  #find(id) { return this.orders.find((o) => String(o.orderId) === String(id)); }
  #working(o) { return o.status === 'PreSubmitted' || o.status === 'Submitted'; }

  /** Checks one order ticket; returns a normalised copy or an error message. */
  #check(t, acct) {
    if (!t || typeof t !== 'object') return 'each order must be an object';
    const conid = Number(t.conid);
    if (!BY_CONID.has(conid)) return `Contract ${t.conid} not found`;
    if (t.side !== 'BUY' && t.side !== 'SELL') return `Invalid side: ${t.side} (expected BUY or SELL)`;
    const quantity = Number(t.quantity);
    if (!(quantity > 0)) return `Invalid quantity: ${t.quantity}`;
    if (!(t.orderType in ORDER_TYPES)) return `Invalid order type: ${t.orderType} (the sandbox takes MKT, LMT, STP)`;
    if (t.orderType !== 'MKT' && !(Number(t.price) > 0)) return `price required for a ${t.orderType} order`;
    if (t.acctId && t.acctId !== acct) return `acctId ${t.acctId} does not match the account in the path (${acct})`;
    return { ...t, conid, quantity, price: t.orderType === 'MKT' ? undefined : Number(t.price), tif: t.tif ?? 'DAY' };
  }

  #questionsFor(tickets) {
    const ids = [];
    for (const t of tickets) {
      const last = this.price(t.conid);
      for (const [id, [test]] of Object.entries(QUESTIONS)) if (!this.suppressed.has(id) && test(t, last) && !ids.some((q) => q.id === id)) ids.push({ id, t });
    }
    return ids;
  }

  #ask(question) {
    const { pending } = question;
    const [{ id, t }] = pending;
    const replyId = crypto.randomUUID();
    this.questions.set(replyId, question);
    const c = BY_CONID.get(t.conid);
    const desc = `${t.side} ${t.quantity} ${c.symbol} ${c.exchange === 'NASDAQ' ? 'NASDAQ.NMS' : c.exchange} @ ${t.orderType === 'MKT' ? 'MKT' : t.price.toFixed(2)}`;
    return [{ id: replyId, message: [QUESTIONS[id][1](desc)], isSuppressed: false, messageIds: [id] }];
  }

  #place(acct, body, send, fault, bad) {
    if (!this.books.has(acct)) return bad(`Account ${acct} is not valid`);
    const orders = Array.isArray(body?.orders) ? body.orders : [];
    if (!orders.length) return send(400, { error: 'orders: expected {"orders":[...]}' });
    const tickets = [];
    for (const raw of orders) {
      const t = this.#check(raw, acct);
      if (typeof t === 'string') return bad(t);
      if (t.cOID && this.orders.some((o) => o.cOID === t.cOID)) return bad(`Local order ID=${t.cOID} is already registered.`);
      tickets.push(t);
    }
    const pending = this.#questionsFor(tickets);
    const answer = pending.length ? this.#ask({ acct, tickets, pending }) : this.#submit(acct, tickets);
    if (fault?.kind === 'processThenFail') return send(500, { error: 'internal error after the order was placed' });
    return send(200, answer);
  }

  #reply(replyId, body, send, fault, bad) {
    if (this.usedReplies.has(replyId)) return bad(`Reply ${replyId} was already answered`);
    const q = this.questions.get(replyId);
    if (!q) return bad(`Unknown reply id: ${replyId}`);
    if (typeof body?.confirmed !== 'boolean') return bad('confirmed (true or false) required');
    this.questions.delete(replyId);
    this.usedReplies.add(replyId);
    let answer;
    if (!body.confirmed) answer = [{ message: ['Order was not confirmed: nothing was placed'], order_status: 'Cancelled' }];
    else if (q.pending.length > 1) answer = this.#ask({ ...q, pending: q.pending.slice(1) });
    else answer = q.modify ? this.#applyModify(q.modify, q.tickets[0]) : this.#submit(q.acct, q.tickets);
    if (fault?.kind === 'processThenFail') return send(500, { error: 'internal error after the reply was processed' });
    return send(answer.error ? 400 : 200, answer);
  }

  #submit(acct, tickets) {
    const now = this.now();
    return tickets.map((t) => {
      const o = {
        ...t, orderId: this.nextOrderId++, acct, status: this.ackMs > 0 || t.orderType === 'STP' ? 'PreSubmitted' : 'Submitted',
        placedAt: now, checkedAt: now, filledQuantity: 0, avgPrice: null, lastExecutionTime: null,
      };
      o.order_id = String(o.orderId);
      this.orders.push(o);
      return { order_id: o.order_id, order_status: o.status, encrypt_message: '1' };
    });
  }

  #modify(o, body, send, fault, bad) {
    if (!this.#working(o)) return bad(`Can't modify a ${o.status.toLowerCase()} order (OrderID ${o.orderId})`);
    const t = this.#check({ conid: o.conid, side: o.side, orderType: o.orderType, quantity: o.quantity, price: o.price, tif: o.tif, ...body }, o.acct);
    if (typeof t === 'string') return bad(t);
    if (t.conid !== o.conid || t.side !== o.side) return bad('Order being modified does not match original order (conid and side must stay)');
    const pending = this.#questionsFor([t]);
    const answer = pending.length ? this.#ask({ acct: o.acct, tickets: [t], pending, modify: o }) : this.#applyModify(o, t);
    if (fault?.kind === 'processThenFail') return send(500, { error: 'internal error after the order was modified' });
    return send(200, answer);
  }

  #applyModify(o, t) {
    if (!this.#working(o)) return { error: `OrderID ${o.orderId} is ${o.status} and was not modified`, statusCode: 400 };
    Object.assign(o, { orderType: t.orderType, quantity: Math.max(t.quantity, o.filledQuantity), price: t.price, tif: t.tif, placedAt: this.now(), checkedAt: this.now() });
    return [{ order_id: o.order_id, local_order_id: o.cOID ?? null, order_status: o.status, encrypt_message: '1' }];
  }

  /** Moves every working order along the clock: acknowledgement, then a fill when its rule says. */
  #advance() {
    const now = this.now();
    for (const o of this.orders) {
      if (!this.#working(o)) continue;
      if (o.orderType !== 'STP' && o.status === 'PreSubmitted' && now >= o.placedAt + this.ackMs) o.status = 'Submitted';
      if (o.orderType === 'MKT') {
        if (o.status === 'Submitted' && now >= o.placedAt + this.fillMs) this.#fill(o, Math.max(o.placedAt + this.fillMs, o.placedAt + this.ackMs));
      } else {
        // Limit and stop orders: look at the price once a second since the last look.
        const from = Math.max(o.checkedAt, o.placedAt + (o.orderType === 'STP' ? 0 : this.ackMs));
        const step = Math.max(1000, Math.ceil((now - from) / 10_000));
        for (let t = from; t <= now; t += step) {
          const { last, bid, ask } = this.quote(o.conid, t);
          const buy = o.side === 'BUY';
          if (o.orderType === 'LMT' && (buy ? ask <= o.price : bid >= o.price)) { this.#fill(o, t, buy ? Math.min(o.price, ask) : Math.max(o.price, bid)); break; }
          if (o.orderType === 'STP' && (buy ? last >= o.price : last <= o.price)) { this.#fill(o, t); break; }
        }
        o.checkedAt = now;
      }
    }
  }

  #fill(o, t, at) {
    const { bid, ask } = this.quote(o.conid, t);
    const price = at ?? (o.side === 'BUY' ? ask : bid);
    const qty = o.quantity - o.filledQuantity;
    const book = this.books.get(o.acct);
    const p = book.positions.get(o.conid) ?? { position: 0, avgCost: 0 };
    const signed = o.side === 'BUY' ? qty : -qty;
    const commission = Math.max(1, 0.005 * qty);
    if (p.position === 0 || Math.sign(p.position) === Math.sign(signed)) {
      p.avgCost = money((p.avgCost * Math.abs(p.position) + price * qty) / (Math.abs(p.position) + qty));
    } else {
      book.realized += Math.min(qty, Math.abs(p.position)) * (price - p.avgCost) * Math.sign(p.position);
      if (Math.abs(signed) > Math.abs(p.position)) p.avgCost = price;
    }
    p.position += signed;
    book.positions.set(o.conid, p);
    book.cash -= signed * price + commission;
    Object.assign(o, { status: 'Filled', filledQuantity: o.quantity, avgPrice: price, lastExecutionTime: t, commission });
  }

  #desc(o) {
    const verb = o.status === 'Filled' ? (o.side === 'BUY' ? 'Bought' : 'Sold') : (o.side === 'BUY' ? 'Buy' : 'Sell');
    return `${verb} ${o.quantity} ${o.orderType === 'MKT' ? 'Market' : `${ORDER_TYPES[o.orderType]} ${o.price.toFixed(2)}`}, ${o.tif === 'DAY' ? 'Day' : o.tif}`;
  }

  #orderRow(o) {
    const c = BY_CONID.get(o.conid);
    return {
      acct: o.acct, account: o.acct, conidex: String(o.conid), conid: o.conid, orderId: o.orderId, cashCcy: 'USD',
      sizeAndFills: `${o.filledQuantity}/${o.quantity}`, orderDesc: this.#desc(o), description1: c.symbol, ticker: c.symbol, secType: 'STK',
      listingExchange: c.exchange, remainingQuantity: o.status === 'Cancelled' ? 0 : o.quantity - o.filledQuantity,
      filledQuantity: o.filledQuantity, totalSize: o.quantity, companyName: c.name, status: o.status,
      order_ccp_status: o.status, origOrderType: ORDER_TYPES[o.orderType].toUpperCase(), supportsTaxOpt: '1',
      lastExecutionTime: ibTime(o.lastExecutionTime ?? o.placedAt), orderType: ORDER_TYPES[o.orderType], bgColor: '#FFFFFF', fgColor: '#000000',
      order_ref: o.cOID ?? null, timeInForce: o.tif === 'DAY' ? 'CLOSE' : o.tif, lastExecutionTime_r: o.lastExecutionTime ?? o.placedAt, side: o.side,
      ...(o.price !== undefined ? { price: o.price.toFixed(2) } : {}), ...(o.avgPrice !== null ? { avgPrice: o.avgPrice.toFixed(2) } : {}),
    };
  }

  #orderStatus(o) {
    const c = BY_CONID.get(o.conid);
    return {
      sub_type: null, request_id: '1', server_id: '0', order_id: o.orderId, conidex: String(o.conid), conid: o.conid, symbol: c.symbol,
      side: o.side === 'BUY' ? 'B' : 'S', contract_description_1: c.symbol, listing_exchange: c.exchange, option_acct: 'c',
      company_name: c.name, size: String(o.quantity - o.filledQuantity), total_size: String(o.quantity), currency: 'USD', account: o.acct,
      order_type: ORDER_TYPES[o.orderType].toUpperCase(), cum_fill: String(o.filledQuantity), order_status: o.status,
      order_ccp_status: o.status, order_status_description: { Filled: 'Order Filled', Cancelled: 'Order Cancelled' }[o.status] ?? 'Order Submitted',
      tif: o.tif, fgColor: '#000000', bgColor: '#FFFFFF', order_not_editable: !this.#working(o), editable_fields: '',
      cannot_cancel_order: !this.#working(o), deactivate_order: false, sec_type: 'STK', available_chart_periods: '#R|1',
      order_description: this.#desc(o), order_description_with_contract: `${this.#desc(o).replace(/^(\S+ \S+)/, `$1 ${c.symbol}`)}`,
      alert_active: 1, child_order_type: '0', size_and_fills: String(o.filledQuantity), allowed_duplicate_opposite: true,
      order_time: ibTime(o.placedAt), ...(o.price !== undefined ? { limit_price: o.price.toFixed(2) } : {}),
      ...(o.avgPrice !== null ? { average_price: o.avgPrice.toFixed(2) } : {}),
    };
  }

  #whatif(acct, body, send, bad) {
    if (!this.books.has(acct)) return bad(`Account ${acct} is not valid`);
    const raw = Array.isArray(body?.orders) ? body.orders : [];
    if (!raw.length) return bad('orders: expected {"orders":[...]}');
    const t = this.#check(raw[0], acct);
    if (typeof t === 'string') return bad(t);
    const v = this.#values(acct);
    const { bid, ask } = this.quote(t.conid);
    const px = t.price ?? (t.side === 'BUY' ? ask : bid);
    const amount = money(t.quantity * px);
    const commission = money(Math.max(1, 0.005 * t.quantity));
    const pos = this.books.get(acct).positions.get(t.conid)?.position ?? 0;
    const signed = t.side === 'BUY' ? t.quantity : -t.quantity;
    const fmt = (x) => x.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    const triple = (cur, change) => ({ current: fmt(cur), change: fmt(change), after: fmt(cur + change) });
    const im = money(Math.abs(v.mv) * 0.25);
    return send(200, {
      amount: { amount: `${fmt(amount)} USD (${t.quantity} Shares)`, commission: `${fmt(commission)} USD`, total: `${fmt(amount + commission)} USD` },
      equity: triple(v.nl, -commission), initial: triple(im, money(amount * 0.25 * Math.sign(signed))), maintenance: triple(im, money(amount * 0.25 * Math.sign(signed))),
      position: triple(pos, signed), warn: t.quantity > 500 ? 'The order size exceeds the Size Limit of 500' : null, error: null,
    });
  }
}
