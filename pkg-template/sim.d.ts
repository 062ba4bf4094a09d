// Types for ibkr-auth/sim: an IBKR Web API simulator for offline tests (Node only).

export interface SimulatorKeys {
  signature: { publicKey: string; privateKey: string };
  encryption: { publicKey: string; privateKey: string };
  dhParams: string;
  oauth2?: { publicKey: string; privateKey: string };
}

export interface SimulatorOptions {
  keys?: SimulatorKeys;
  /** Default "IBKRSIMUL". */
  consumerKey?: string;
  accessToken?: string;
  /** The access token secret in clear, hex. */
  secretHex?: string;
  /** Default 24 h. */
  lstLifetimeMs?: number;
  /** Default 300. */
  timestampToleranceS?: number;
  /** Default "either". */
  queryStyle?: 'either' | 'signed' | 'unsigned';
  /** true: IBKR's published limits (default); false: none. */
  rateLimits?: boolean | Array<[RegExp, number, number]>;
  clock?: () => number;
  port?: number;
  /** The registered OAuth 2.0 client. Defaults: SIMCLIENT, kid "main", user "simuser", IP 127.0.0.1. */
  oauth2?: { clientId?: string; clientKeyId?: string; credential?: string; publicIp?: string };
  /** Play a Client Portal Gateway: HTTPS with a self-signed certificate, no signing, a login switch. */
  gateway?: boolean;
  /** The certificate served: the gateway's (default: a bundled self-signed one), and the one
   * `https` and `proxy` need (`testTls()` from `ibkr-auth/sim/tls.mjs` makes a throwaway CA and one). */
  tls?: { key: string; cert: string };
  /** Serve the OAuth endpoints over HTTPS (with `tls`). */
  https?: boolean;
  /** Also be an HTTPS proxy (CONNECT) for api.ibkr.com and api.ipify.org only, answered by the
   * simulator itself with `tls`: for clients that hard-code https://api.ibkr.com. */
  proxy?: boolean;
  /** Gateway: the brokerage session ends after this much idle time. Default 6 min. */
  gatewayIdleMs?: number;
  /** Gateway: serve the login page (SRP password step, second factor, /sso/Dispatcher) for these users.
   * The gateway starts logged out; control: POST /__sim/unlock, GET /__sim/sms, GET /__sim/state (login). */
  gatewayLogin?: GatewayLoginOptions;
  /** The sandbox behind the business endpoints (sim/portal.mjs; sim/README.md lists them). */
  portal?: PortalOptions;
  /** The WebSocket at /v1/api/ws (sim/ws.mjs; sim/README.md, "WebSocket"). */
  ws?: WsOptions;
}

/** The simulated WebSocket's limits and timing (all on the simulator's clock except autoTickMs). */
export interface WsOptions {
  /** The largest message (or frame) a client may send; bigger closes 1009. Default 1 MiB. */
  maxMessageBytes?: number;
  /** No client frame for this long closes the socket 4002. Default 60 000. */
  idleMs?: number;
  /** A socket that opened without credentials must send a valid {"session"} within this. Default 5 000. */
  authTimeoutMs?: number;
  /** {"topic":"system","hb":…} this often. Default 10 000. */
  heartbeatMs?: number;
  /** Market data and P&L updates at most this often. Default 1 000. */
  streamMs?: number;
  /** A real timer calling tick() this often while sockets are open; false: only tick() (tests). Default 1 000. */
  autoTickMs?: number | false;
}

/** The close codes the simulated WebSocket sends. */
export declare const WS_CLOSE: {
  readonly NORMAL: 1000; readonly GOING_AWAY: 1001; readonly PROTOCOL_ERROR: 1002; readonly UNSUPPORTED_DATA: 1003;
  readonly INVALID_DATA: 1007; readonly POLICY: 1008; readonly TOO_BIG: 1009;
  /** The session ended: expireTokens(), /logout, the LST or bearer ran out, the gateway logged out. */
  readonly SESSION_EXPIRED: 4001;
  /** No client message for idleMs. */
  readonly IDLE: 4002;
};

/** The WebSocket's path under the simulator's origin. */
export declare const WS_PATH: '/v1/api/ws';

/** The simulator's WebSocket server (`sim.ws`). */
export interface SimulatorWebSocket {
  /** Serves a node:http 'upgrade' event: mount the simulator's WebSocket on another server. */
  upgrade(
    req: { method?: string; url?: string; headers: Record<string, string | string[] | undefined> },
    socket: { write(data: string | Uint8Array): unknown; end(data?: string): unknown; destroy(): unknown; on(event: string, listener: (...args: any[]) => void): unknown },
    head: Uint8Array,
  ): void;
  /** Moves heartbeats, streams, idle and auth deadlines, and expiry along the simulator's clock. */
  tick(): void;
  /** Closes every open socket (default 1001 "server shutting down"); returns how many. */
  drop(code?: number, reason?: string): number;
  /** Closes (4001) the sockets whose session is no longer live. */
  closeExpired(): void;
  /** Open sockets. */
  readonly sockets: number;
  /** Also GET /__sim/ws. */
  state(): { sockets: number; authenticated: number; subscriptions: Array<{ md: number[]; orders: boolean; pnl: boolean }>; upgrades: number; refused: number };
  /** What happened: upgrades, refusals, the closes sent and received, the client's messages (a waiting socket's first message, which carries the session, is not kept). */
  readonly stats: {
    upgrades: number;
    refused: Array<{ status: number; error: string }>;
    closes: Array<{ code: number; reason: string }>;
    clientCloses: Array<{ code: number | null; reason: string }>;
    messages: string[];
  };
}

/** The simulated brokerage: accounts, market data, order timing. */
export interface PortalOptions {
  /** The user's accounts, the first selected. Default ["DU1234567"]. */
  accounts?: string[];
  /** IBKR's quirk: a conid's first snapshot only subscribes (conid, conidEx, no fields). Default false. */
  snapshotWarmup?: boolean;
  /** A new order is PreSubmitted this long, then Submitted. Default 0. */
  ackMs?: number;
  /** A market order fills this long after it was placed. Default 1000. */
  fillMs?: number;
  /** The first account's cash (the n-th has cash / n). Default 100000. */
  cash?: number;
}

/** A user of the simulated gateway's login page. */
export interface GatewayLoginUser {
  /** Matched without regard to case, as IBKR does. */
  username: string;
  password: string;
  /** Long passwords: false (default) means only the first 8 characters count. */
  lp?: boolean;
  secondFactor?:
    | { type: 'totp'; /** base32 */ secret: string }
    | { type: 'sms' }
    | { type: 'ocra'; /** hex */ secret: string; pin: string; counter: number };
}

export interface GatewayLoginOptions {
  users: GatewayLoginUser[];
  /** Consecutive failed password steps before a user is locked (until POST /__sim/unlock). Default 5. */
  maxFailures?: number;
  /** Status polls that still say unauthenticated after a successful login. Default 1. */
  authDelayPolls?: number;
}

export interface GatewayLoginStats {
  inits: number; completeAuths: number; twoFactors: number; dispatches: number;
  failures: number; successes: number;
  /** Users locked now. */
  locked: number;
}

export interface SimulatorFault {
  kind: 'status' | 'gone' | 'delay' | 'drop' | 'badDhResponse' | 'badLstSignature' | 'processThenFail' | 'noBridge' | 'competing';
  /** Path under /v1/api, e.g. "/iserver/accounts", or a RegExp. */
  path?: string | RegExp;
  method?: string;
  /** Default 1. */
  times?: number;
  status?: number;
  body?: unknown;
  ms?: number;
}

export declare class Simulator {
  constructor(o?: SimulatorOptions);
  readonly origin: string;
  readonly baseUrl: string;
  readonly consumerKey: string;
  readonly accessToken: string;
  readonly orders: unknown[];
  readonly log: Array<{ method: string; path: string; status: number; kind: string }>;
  brokerage: { authenticated: boolean; competing: boolean; connected: boolean };
  start(port?: number): Promise<this>;
  close(): Promise<void>;
  /** The config for IbkrSession.oauth1 (the private keys are the simulated user's). */
  clientConfig(): {
    baseUrl: string; consumerKey: string; accessToken: string; accessTokenSecret: string;
    signatureKey: string; encryptionKey: string; dhParams: string; realm: string;
  };
  /** The config for IbkrSession.oauth2(...). */
  clientConfig2(): { baseUrl: string; clientId: string; clientKeyId: string; credential: string; privateKey: string; ip: string };
  /** The public IP changes: SSO sessions made for the old one are dropped. */
  setPublicIp(ip: string): void;
  /** Gateway: as if a person logged in through the browser (or the login expired). */
  setLoggedIn(on: boolean): void;
  /** Gateway: whether the gateway is logged in. */
  readonly loggedIn: boolean;
  /** Gateway login: the steps counted, or null without gatewayLogin. */
  readonly loginStats: GatewayLoginStats | null;
  /** Gateway login: the last SMS code sent (also GET /__sim/sms → { code }). */
  readonly lastSmsCode: string | null;
  /** Gateway: ssodh/init leaves the session unauthenticated until a logout ("active but not authenticated"). */
  stuck: boolean;
  fault(f: SimulatorFault): void;
  /** Expires every live session token (OAuth 1.0a) and SSO bearer token (OAuth 2.0) now; their
   * WebSockets close 4001 "session expired". */
  expireTokens(): void;
  /** The WebSocket at /v1/api/ws. */
  readonly ws: SimulatorWebSocket;
  /** Moves the WebSocket streams along the simulator's clock (also POST /__sim/ws/tick). */
  wsTick(): void;
  /** Closes every open WebSocket (default 1001 "server shutting down"; also POST /__sim/ws/drop {code?, reason?}); returns how many. */
  dropWebSockets(code?: number, reason?: string): number;
  setCompeting(): void;
  /** How many requests of a kind: 'handshake', 'signed', 'rejected', 'order', 'init', 'tickle', … */
  count(kind: string): number;
}

export declare function generateKeys(): SimulatorKeys;
/** An RSA-2048 key pair (SPKI public, PKCS#8 private). */
export declare function rsaKeyPair(): { publicKey: string; privateKey: string };
/** The simulated gateway's self-signed certificate (a throwaway test certificate). */
export declare const GATEWAY_TLS: { key: string; cert: string };
export declare function startSimulator(o?: SimulatorOptions): Promise<Simulator>;
