// Cloudflare Workers (package.json "exports" → workerd): Workers refuse to compile wasm from
// bytes, so the .wasm is imported as a module. Shares the web glue with browser.js.
// scripts/build-pkg.mjs fails the build if a glue export is missing here.
import init, { initSync, __setErrorClass } from './glue/web.js';
import { IbkrAuthError, ERROR_CODES } from './errors.js';
import { IbkrSession } from './glue/web.js';
import { IbkrStream } from './websocket.js';
import wasmModule from './glue/ibkr_auth_bg.wasm';
initSync({ module: wasmModule });
__setErrorClass(IbkrAuthError);
IbkrStream.install(IbkrSession);
export { IbkrAuthError, ERROR_CODES };
export { IbkrStream } from './websocket.js';
export { memoryStore, redisStore, kvStore, durableObjectStore, TokenStoreObject } from './stores.js';
export {
  GatewayLogin,
  IbkrSession,
  KeepAlive,
  OAuth1ThirdParty,
  accessTokenRequest,
  authorizationHeader,
  authorizeUrl,
  baseString,
  clientAssertion,
  decryptAccessTokenSecret,
  dhChallenge,
  dhRandom,
  liveSessionToken,
  liveSessionTokenRequest,
  ocra,
  parseDhParams,
  requestTokenRequest,
  signHmacSha256,
  signRequest,
  signRsaSha256,
  ssoSessionJwt,
  totp,
  verifyLiveSessionToken,
} from './glue/web.js';
