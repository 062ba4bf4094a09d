// Node, ESM (package.json "exports" → node → import): the same instance and the same
// IbkrAuthError class as require() gets. Loaded with require() rather than `import`: Node's ESM
// loader would first scan the CommonJS files for export names (cold-start time) that the named
// exports below do not need. scripts/build-pkg.mjs fails the build if one is missing.
import { createRequire } from 'node:module';
const api = createRequire(import.meta.url)('./node.cjs');
export default api;
export const IbkrAuthError = api.IbkrAuthError;
export const ERROR_CODES = api.ERROR_CODES;
export const GatewayLogin = api.GatewayLogin;
export const IbkrSession = api.IbkrSession;
export const KeepAlive = api.KeepAlive;
export const OAuth1ThirdParty = api.OAuth1ThirdParty;
export const accessTokenRequest = api.accessTokenRequest;
export const authorizationHeader = api.authorizationHeader;
export const authorizeUrl = api.authorizeUrl;
export const baseString = api.baseString;
export const clientAssertion = api.clientAssertion;
export const decryptAccessTokenSecret = api.decryptAccessTokenSecret;
export const dhChallenge = api.dhChallenge;
export const dhRandom = api.dhRandom;
export const liveSessionToken = api.liveSessionToken;
export const liveSessionTokenRequest = api.liveSessionTokenRequest;
export const ocra = api.ocra;
export const parseDhParams = api.parseDhParams;
export const requestTokenRequest = api.requestTokenRequest;
export const signHmacSha256 = api.signHmacSha256;
export const signRequest = api.signRequest;
export const signRsaSha256 = api.signRsaSha256;
export const ssoSessionJwt = api.ssoSessionJwt;
export const totp = api.totp;
export const verifyLiveSessionToken = api.verifyLiveSessionToken;
export const gatewayFetch = api.gatewayFetch;
export const gatewayCertificate = api.gatewayCertificate;
export const gatewayLogin = api.gatewayLogin;
export const loginGuard = api.loginGuard;
export const memoryStore = api.memoryStore;
export const fileStore = api.fileStore;
export const redisStore = api.redisStore;
export const kvStore = api.kvStore;
export const durableObjectStore = api.durableObjectStore;
export const TokenStoreObject = api.TokenStoreObject;
export const IbkrStream = api.IbkrStream;
