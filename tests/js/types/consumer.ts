// A TypeScript consumer of the packed package: what a user's code would write. Compiled with
// `tsc --noEmit` under moduleResolution nodenext (tsconfig.nodenext.json) and bundler
// (tsconfig.bundler.json) by tests/runtimes/types.test.mjs; never run. The @ts-expect-error lines
// fail the build if the shipped types stop rejecting those mistakes.
import {
  ERROR_CODES, IbkrAuthError, IbkrSession, baseString, memoryStore, signRequest,
  type AuthStatus, type IbkrAuthErrorCode, type SignedRequest, type TokenStore,
} from 'ibkr-auth';

const signed: SignedRequest = signRequest({
  method: 'GET', url: 'https://api.ibkr.com/v1/api/iserver/accounts', consumerKey: 'TESTCONS',
  accessToken: 't', liveSessionToken: 'AA==', timestamp: 1_700_000_000,
});
const header: string = signed.authorization;
const base: string = baseString({ method: 'POST', url: 'https://h/p', params: { conid: 265598, outsideRth: true, side: 'BUY' } });
const codes: readonly IbkrAuthErrorCode[] = ERROR_CODES;
const code: IbkrAuthErrorCode = 'UNAUTHORIZED';

export async function connect(pem: { signature: string; encryption: string; dh: string }, secret: string): Promise<string[]> {
  const store: TokenStore = memoryStore();
  const session = IbkrSession.oauth1({
    consumerKey: 'TESTCONS', accessToken: 't', accessTokenSecret: secret, signatureKey: pem.signature,
    encryptionKey: pem.encryption, dhParams: pem.dh, store, pacing: [{ path: '/iserver/*', limit: 10, windowMs: 1000 }],
  });
  const status: AuthStatus = await session.initBrokerage();
  try {
    const r = (await session.request('GET', '/iserver/accounts', { query: { a: 1 } })) as { accounts: string[] };
    return status.authenticated ? r.accounts : [];
  } catch (e) {
    if (e instanceof IbkrAuthError && e.code === 'RATE_LIMITED') return [];
    throw e;
  }
}

export const oauth2 = IbkrSession.oauth2({
  clientId: 'c', clientKeyId: 'k', credential: 'u', privateKey: '-----BEGIN PRIVATE KEY-----', ipLookup: async () => '127.0.0.1',
});

// @ts-expect-error: the error codes are a closed union
const notACode: IbkrAuthErrorCode = 'NOT_A_CODE';
// @ts-expect-error: params take strings, numbers and booleans only
baseString({ method: 'GET', url: 'u', params: { nested: { a: 1 } } });
// @ts-expect-error: oauth1 needs its keys
IbkrSession.oauth1({ consumerKey: 'K', accessToken: 't' });
// @ts-expect-error: stream options need a WebSocket constructor or a fetch to open the socket with
export const noSocket = oauth2.websocket({ subscriptions: ['sor+{}'] });
// @ts-expect-error: a stream's tic interval is a number of milliseconds
export const ticOff = oauth2.websocket({ WebSocket, ticMs: false });
export const details = oauth2.websocket({ fresh: true }).then((i) => i.url);
export const streamed = oauth2.websocket({ WebSocket, subscriptions: ['sor+{}'], signal: AbortSignal.timeout(1000) }).then((s) => s.reconnects);

export const used = [header, base, codes, code, notACode];
