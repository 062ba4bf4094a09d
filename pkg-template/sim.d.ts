// Types for ibkr-auth/sim: an IBKR Web API simulator for offline tests (Node only).

export interface SimulatorKeys {
  signature: { publicKey: string; privateKey: string };
  encryption: { publicKey: string; privateKey: string };
  dhParams: string;
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
  fault(f: SimulatorFault): void;
  expireTokens(): void;
  setCompeting(): void;
  /** How many requests of a kind: 'handshake', 'signed', 'rejected', 'order', 'init', 'tickle', … */
  count(kind: string): number;
}

export declare function generateKeys(): SimulatorKeys;
export declare function startSimulator(o?: SimulatorOptions): Promise<Simulator>;
