//! The JavaScript binding: the only module that knows about JS. Every function takes JS values,
//! checks them (a mistyped argument is an `INVALID_ARGUMENT` error, never a panic) and throws
//! errors as instances of the package's `IbkrAuthError` class.

mod args;
mod gateway;
mod host;
mod session;

pub use session::{IbkrSession, KeepAlive, OAuth1ThirdParty};

use std::cell::RefCell;

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::prelude::*;

use crate::error::{Error, Result};
use crate::keys::{DhParams, PrivateKey};
use crate::oauth1;
use crate::oauth1::{lst, request, DhSecret};
use args::Opts;

thread_local! {
    static ERROR_CLASS: RefCell<Option<js_sys::Function>> = const { RefCell::new(None) };
}

/// Registers the JS class that errors are thrown as. Called once by the package's entry file:
/// `new ErrorClass(code, message, { status, serverMessage })`.
#[wasm_bindgen(js_name = "__setErrorClass")]
pub fn set_error_class(class: js_sys::Function) {
    ERROR_CLASS.with(|c| *c.borrow_mut() = Some(class));
}

/// Turns an [`Error`] into the JS value to throw.
pub fn to_js(e: Error) -> JsValue {
    let details = Object::new();
    if let Some(status) = e.status() {
        let _ = Reflect::set(&details, &"status".into(), &JsValue::from(status));
    }
    if let Some(m) = e.server_message() {
        let _ = Reflect::set(&details, &"serverMessage".into(), &JsValue::from_str(m));
    }
    let code = JsValue::from_str(e.code().as_str());
    let message = JsValue::from_str(e.message());
    let constructed = ERROR_CLASS.with(|c| {
        c.borrow().as_ref().and_then(|class| {
            Reflect::construct(class, &Array::of3(&code, &message, &details)).ok()
        })
    });
    constructed.unwrap_or_else(|| {
        // No entry file registered a class (the raw wasm-bindgen output is in use): a plain
        // Error with the same fields.
        let err = js_sys::Error::new(e.message());
        err.set_name("IbkrAuthError");
        let _ = Reflect::set(&err, &"code".into(), &code);
        let _ = Object::assign(&err, &details);
        err.into()
    })
}

/// The binding's error type: a core [`Error`] on its way out, thrown in JS as an
/// `IbkrAuthError` ([`to_js`]). With the `From` impls an exported function uses `?` on the
/// core's results directly.
#[derive(Debug)]
pub struct JsError(Error);

impl From<Error> for JsError {
    fn from(e: Error) -> Self {
        JsError(e)
    }
}

impl From<JsError> for JsValue {
    fn from(e: JsError) -> Self {
        to_js(e.0)
    }
}

type JsResult<T> = std::result::Result<T, JsError>;

/// A secret handed to JS: copied straight from the caller's (wiped) buffer into a JS string, so
/// no unwiped copy is left in the module's memory (a returned `String` would be freed as is).
fn secret_out(text: &str) -> JsValue {
    JsValue::from_str(text)
}

/// A Rust value as a plain JS object (`serde-wasm-bindgen`; maps as objects, not `Map`s).
fn to_js_value<T: serde::Serialize>(value: &T) -> JsValue {
    let serializer = serde_wasm_bindgen::Serializer::new().serialize_maps_as_objects(true);
    value.serialize(&serializer).unwrap_or(JsValue::NULL)
}

fn now_seconds() -> u64 {
    (js_sys::Date::now() / 1000.0).floor() as u64
}

/// Largest timestamp accepted (seconds; year 2286), to catch milliseconds passed by mistake.
const MAX_TIMESTAMP_S: u64 = 9_999_999_999;

/// `decryptAccessTokenSecret(encryptionKeyPem, accessTokenSecret)`: the prepend, lowercase hex.
#[wasm_bindgen(js_name = "decryptAccessTokenSecret")]
pub fn decrypt_access_token_secret(
    encryption_key_pem: JsValue,
    access_token_secret: JsValue,
) -> JsResult<JsValue> {
    const F: &str = "decryptAccessTokenSecret";
    let pem = args::secret(F, "encryptionKeyPem", &encryption_key_pem)?;
    let secret = args::secret(F, "accessTokenSecret", &access_token_secret)?;
    let key = PrivateKey::from_pem(&pem, "encryptionKeyPem")?;
    Ok(secret_out(
        &lst::decrypt_access_token_secret(&key, &secret)?.expose_hex(),
    ))
}

/// `parseDhParams(dhparamPem)`: `{ prime, generator }`, prime as lowercase hex.
#[wasm_bindgen(js_name = "parseDhParams")]
pub fn parse_dh_params(dhparam_pem: JsValue) -> JsResult<JsValue> {
    let pem = args::string("parseDhParams", "dhparamPem", &dhparam_pem)?;
    let dh = DhParams::from_pem(&pem)?;
    #[derive(serde::Serialize)]
    struct Params {
        prime: String,
        generator: u32,
    }
    Ok(to_js_value(&Params {
        prime: dh.prime_hex(),
        generator: dh.generator(),
    }))
}

/// `dhRandom()`: a fresh 256-bit DH exponent as hex, from the platform's secure random source.
#[wasm_bindgen(js_name = "dhRandom")]
pub fn dh_random() -> JsResult<JsValue> {
    Ok(secret_out(&DhSecret::random_hex()?))
}

/// `dhChallenge({ prime, random, generator = 2 })`: `A = g^random mod p`, lowercase hex.
#[wasm_bindgen(js_name = "dhChallenge")]
pub fn dh_challenge(o: JsValue) -> JsResult<String> {
    const F: &str = "dhChallenge";
    let o = Opts::new(F, &o)?;
    let prime = o.string("prime")?;
    let random = o.secret("random")?;
    let generator = o.opt_uint("generator", u64::from(u32::MAX))?.unwrap_or(2);
    Ok(lst::challenge_from_hex(
        &prime,
        &random,
        u32::try_from(generator).unwrap_or(u32::MAX),
    )?)
}

/// `liveSessionToken({ dhResponse, random, prime, prepend })`: the LST, base64.
#[wasm_bindgen(js_name = "liveSessionToken")]
pub fn live_session_token(o: JsValue) -> JsResult<JsValue> {
    const F: &str = "liveSessionToken";
    let o = Opts::new(F, &o)?;
    let dh_response = o.string("dhResponse")?;
    let random = o.secret("random")?;
    let prime = o.string("prime")?;
    let prepend = o.secret("prepend")?;
    let token = lst::lst_from_hex(&prime, &random, &dh_response, &prepend)?;
    Ok(secret_out(&lst::lst_base64(&token)))
}

/// `verifyLiveSessionToken({ token, consumerKey, signature })`: constant-time check of IBKR's
/// `live_session_token_signature`.
#[wasm_bindgen(js_name = "verifyLiveSessionToken")]
pub fn verify_live_session_token(o: JsValue) -> JsResult<bool> {
    const F: &str = "verifyLiveSessionToken";
    let o = Opts::new(F, &o)?;
    let token = lst::lst_from_base64(&o.secret("token")?)?;
    let consumer_key = o.string("consumerKey")?;
    let signature = o.string("signature")?;
    Ok(lst::verify_lst(&token, &consumer_key, &signature)?)
}

/// `baseString({ method, url, params, prepend?, signQuery = true })`.
#[wasm_bindgen(js_name = "baseString")]
pub fn base_string(o: JsValue) -> JsResult<String> {
    const F: &str = "baseString";
    let o = Opts::new(F, &o)?;
    let method = o.string("method")?;
    let url = o.string("url")?;
    let params = o.record("params")?;
    let prepend = o.opt_secret("prepend")?;
    let sign_query = o.opt_bool("signQuery")?.unwrap_or(true);
    Ok(oauth1::base_string(
        &method,
        &url,
        &params,
        prepend.as_ref().map(|p| p.as_str()),
        sign_query,
    )?)
}

/// `signRsaSha256(privateKeyPem, text)`: RSASSA-PKCS1-v1_5 SHA-256, base64.
#[wasm_bindgen(js_name = "signRsaSha256")]
pub fn sign_rsa_sha256(private_key_pem: JsValue, text: JsValue) -> JsResult<String> {
    const F: &str = "signRsaSha256";
    let pem = args::secret(F, "privateKeyPem", &private_key_pem)?;
    let text = args::string(F, "text", &text)?;
    let key = PrivateKey::from_pem(&pem, "privateKeyPem")?;
    Ok(request::Signer::RsaSha256(&key).sign(&text)?)
}

/// `signHmacSha256(liveSessionToken, text)`: HMAC-SHA256 keyed by the LST's bytes, base64.
#[wasm_bindgen(js_name = "signHmacSha256")]
pub fn sign_hmac_sha256(live_session_token: JsValue, text: JsValue) -> JsResult<String> {
    const F: &str = "signHmacSha256";
    let token = lst::lst_from_base64(&args::secret(F, "liveSessionToken", &live_session_token)?)?;
    let text = args::string(F, "text", &text)?;
    Ok(request::hmac_sha256_base64(&token, &text)?)
}

/// `authorizationHeader({ realm, params, signature })`.
#[wasm_bindgen(js_name = "authorizationHeader")]
pub fn authorization_header(o: JsValue) -> JsResult<String> {
    const F: &str = "authorizationHeader";
    let o = Opts::new(F, &o)?;
    let realm = o.string("realm")?;
    let params = o.record("params")?;
    let signature = o.string("signature")?;
    Ok(oauth1::authorization_header(&realm, &params, &signature)?)
}

/// The parts every request builder reads: consumer key, realm, nonce, timestamp, base URL.
struct Common {
    consumer_key: String,
    realm: String,
    nonce: String,
    timestamp: u64,
    base_url: String,
}

impl Common {
    fn read(o: &Opts<'_>) -> Result<Self> {
        let consumer_key = o.string("consumerKey")?;
        let realm = o
            .opt_string("realm")?
            .unwrap_or_else(|| request::default_realm(&consumer_key).to_owned());
        let nonce = match o.opt_string("nonce")? {
            Some(n) => n,
            None => request::generate_nonce()?,
        };
        let timestamp = o
            .opt_uint("timestamp", MAX_TIMESTAMP_S)?
            .unwrap_or_else(now_seconds);
        let base_url = o
            .opt_string("baseUrl")?
            .unwrap_or_else(|| request::DEFAULT_BASE_URL.to_owned());
        Ok(Common {
            consumer_key,
            realm,
            nonce,
            timestamp,
            base_url,
        })
    }

    fn ctx(&self) -> request::Context<'_> {
        request::Context {
            consumer_key: &self.consumer_key,
            realm: &self.realm,
            nonce: &self.nonce,
            timestamp: self.timestamp,
        }
    }
}

/// A `SignedRequest` as JS sees it (`{ method, url, baseString, signature, authorization,
/// oauthParams }`), its strings copied straight into JS.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct SignedRequestJs<'a> {
    method: &'a str,
    url: &'a str,
    base_string: &'a str,
    signature: &'a str,
    authorization: &'a str,
    #[serde(serialize_with = "pairs_as_map")]
    oauth_params: &'a [(String, String)],
}

fn pairs_as_map<S: serde::Serializer>(
    pairs: &&[(String, String)],
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    serializer.collect_map(pairs.iter().map(|(k, v)| (k, v)))
}

fn signed_to_js(s: &request::SignedRequest) -> JsValue {
    to_js_value(&SignedRequestJs {
        method: &s.method,
        url: &s.url,
        base_string: &s.base_string,
        signature: &s.signature,
        authorization: &s.authorization,
        oauth_params: &s.oauth_params,
    })
}

/// Reads the options object and the common fields, builds the request, returns it to JS.
fn signed(
    func: &'static str,
    o: &JsValue,
    build: impl FnOnce(&Opts<'_>, &Common) -> Result<request::SignedRequest>,
) -> JsResult<JsValue> {
    let o = Opts::new(func, o)?;
    let common = Common::read(&o)?;
    Ok(signed_to_js(&build(&o, &common)?))
}

fn signature_key(o: &Opts<'_>) -> Result<PrivateKey> {
    PrivateKey::from_pem(&o.secret("signatureKey")?, "signatureKey")
}

/// `liveSessionTokenRequest({ consumerKey, accessToken, challenge, prepend, signatureKey, ... })`:
/// the signed `POST /oauth/live_session_token`.
#[wasm_bindgen(js_name = "liveSessionTokenRequest")]
pub fn live_session_token_request(o: JsValue) -> JsResult<JsValue> {
    signed("liveSessionTokenRequest", &o, |o, c| {
        let access_token = o.string("accessToken")?;
        let challenge = o.string("challenge")?;
        let prepend = lst::prepend_from_hex(&o.secret("prepend")?)?;
        let key = signature_key(o)?;
        request::live_session_token_request(
            &c.base_url,
            &c.ctx(),
            &access_token,
            &challenge,
            &prepend,
            &key,
        )
    })
}

/// `requestTokenRequest({ consumerKey, signatureKey, callback = "oob", ... })`: third-party step 1.
#[wasm_bindgen(js_name = "requestTokenRequest")]
pub fn request_token_request(o: JsValue) -> JsResult<JsValue> {
    signed("requestTokenRequest", &o, |o, c| {
        let callback = o
            .opt_string("callback")?
            .unwrap_or_else(|| "oob".to_owned());
        request::request_token_request(&c.base_url, &c.ctx(), &callback, &signature_key(o)?)
    })
}

/// `authorizeUrl({ requestToken, base? })`: third-party step 2, the browser URL.
#[wasm_bindgen(js_name = "authorizeUrl")]
pub fn authorize_url(o: JsValue) -> JsResult<String> {
    let o = Opts::new("authorizeUrl", &o)?;
    let token = o.string("requestToken")?;
    let base = o.opt_string("base")?;
    Ok(request::authorize_url(&token, base.as_deref())?)
}

/// `accessTokenRequest({ consumerKey, signatureKey, requestToken, verifier, ... })`: third-party step 3.
#[wasm_bindgen(js_name = "accessTokenRequest")]
pub fn access_token_request(o: JsValue) -> JsResult<JsValue> {
    signed("accessTokenRequest", &o, |o, c| {
        let request_token = o.string("requestToken")?;
        let verifier = o.string("verifier")?;
        request::access_token_request(
            &c.base_url,
            &c.ctx(),
            &request_token,
            &verifier,
            &signature_key(o)?,
        )
    })
}

/// `signRequest({ method, url, consumerKey, accessToken, liveSessionToken, signQuery = true, ... })`:
/// an API call signed with HMAC-SHA256.
#[wasm_bindgen(js_name = "signRequest")]
pub fn sign_request(o: JsValue) -> JsResult<JsValue> {
    signed("signRequest", &o, |o, c| {
        let method = o.string("method")?;
        let url = o.string("url")?;
        let access_token = o.string("accessToken")?;
        let token = lst::lst_from_base64(&o.secret("liveSessionToken")?)?;
        let sign_query = o.opt_bool("signQuery")?.unwrap_or(true);
        request::api_request(&method, &url, &c.ctx(), &access_token, &token, sign_query)
    })
}

fn now_or(o: &Opts<'_>) -> Result<i64> {
    Ok(o.opt_uint("now", MAX_TIMESTAMP_S)?
        .map_or_else(|| now_seconds() as i64, |n| n as i64))
}

/// `clientAssertion({ clientId, clientKeyId, privateKey, now })`: the RS256 client assertion
/// for IBKR's OAuth 2.0 token endpoint (`now` in Unix seconds; default now).
#[wasm_bindgen(js_name = "clientAssertion")]
pub fn client_assertion(o: JsValue) -> JsResult<String> {
    let o = Opts::new("clientAssertion", &o)?;
    let key = PrivateKey::from_pem(&o.secret("privateKey")?, "privateKey")?;
    Ok(crate::oauth2::client_assertion(
        &o.string("clientId")?,
        &o.string("clientKeyId")?,
        &key,
        now_or(&o)?,
    )?)
}

/// `ssoSessionJwt({ clientId, clientKeyId, credential, ip, privateKey, now, alternativeIps? })`:
/// the signed body of `POST /gw/api/v1/sso-sessions`.
#[wasm_bindgen(js_name = "ssoSessionJwt")]
pub fn sso_session_jwt(o: JsValue) -> JsResult<String> {
    let opts = Opts::new("ssoSessionJwt", &o)?;
    let key = PrivateKey::from_pem(&opts.secret("privateKey")?, "privateKey")?;
    let alternative_ips = opts.opt_string_list("alternativeIps")?;
    Ok(crate::oauth2::sso_session_jwt(
        &opts.string("clientId")?,
        &opts.string("clientKeyId")?,
        &opts.secret("credential")?,
        &opts.string("ip")?,
        &key,
        now_or(&opts)?,
        &alternative_ips,
    )?)
}

/// The wasm linear memory's size in bytes (for `make bench`; not part of the API).
#[wasm_bindgen(js_name = "__memoryBytes")]
pub fn memory_bytes() -> f64 {
    (core::arch::wasm32::memory_size(0) * 65_536) as f64
}
