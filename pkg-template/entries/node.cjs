'use strict';
// Node, CommonJS (package.json "exports" → node → require, and "main"). Loads the wasm
// synchronously, so require() and import both work; node.mjs re-exports this very object, so both
// share one wasm instance and one IbkrAuthError class. Node also gets the gateway certificate
// helpers and the file token store. scripts/build-pkg.mjs fails the build if a glue export is
// missing here.
const glue = require('./glue/node.cjs');
const { IbkrAuthError, ERROR_CODES } = require('./errors.cjs');
const { gatewayFetch, gatewayCertificate } = require('./gateway.cjs');
const { gatewayLogin, loginGuard } = require('./gateway-login.cjs')(glue);
const { memoryStore, redisStore, kvStore, durableObjectStore, TokenStoreObject } = require('./stores.cjs');
const { fileStore } = require('./file-store.cjs');
const { IbkrStream } = require('./websocket.cjs');
glue.__setErrorClass(IbkrAuthError);
IbkrStream.install(glue.IbkrSession);
module.exports = {
  IbkrAuthError,
  ERROR_CODES,
  gatewayFetch,
  gatewayCertificate,
  gatewayLogin,
  loginGuard,
  memoryStore,
  fileStore,
  redisStore,
  kvStore,
  durableObjectStore,
  TokenStoreObject,
  IbkrStream,
  GatewayLogin: glue.GatewayLogin,
  IbkrSession: glue.IbkrSession,
  KeepAlive: glue.KeepAlive,
  OAuth1ThirdParty: glue.OAuth1ThirdParty,
  accessTokenRequest: glue.accessTokenRequest,
  authorizationHeader: glue.authorizationHeader,
  authorizeUrl: glue.authorizeUrl,
  baseString: glue.baseString,
  clientAssertion: glue.clientAssertion,
  decryptAccessTokenSecret: glue.decryptAccessTokenSecret,
  dhChallenge: glue.dhChallenge,
  dhRandom: glue.dhRandom,
  liveSessionToken: glue.liveSessionToken,
  liveSessionTokenRequest: glue.liveSessionTokenRequest,
  ocra: glue.ocra,
  parseDhParams: glue.parseDhParams,
  requestTokenRequest: glue.requestTokenRequest,
  signHmacSha256: glue.signHmacSha256,
  signRequest: glue.signRequest,
  signRsaSha256: glue.signRsaSha256,
  ssoSessionJwt: glue.ssoSessionJwt,
  totp: glue.totp,
  verifyLiveSessionToken: glue.verifyLiveSessionToken,
};
