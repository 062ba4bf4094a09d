//! Sans-I/O builders for every OAuth 1.0a request IBKR takes: the live session token request
//! (RSA-SHA256 with the prepend), the third-party `request_token` and `access_token` steps, the
//! authorize URL, and the HMAC-SHA256 signing of ordinary API calls.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::base::{authorization_header_of, base_string_of, check_realm, join_url};
use crate::encoding::{b64_encode, hex_encode, pct_encode};
use crate::error::{Error, ErrorCode, Result};
use crate::keys::{PrivateKey, SecretBytes};

/// IBKR's public test consumer key, which goes with realm `test_realm`.
pub const TEST_CONSUMER_KEY: &str = "TESTCONS";
/// The default realm for real consumer keys.
pub const DEFAULT_REALM: &str = "limited_poa";
/// The realm of the test consumer key.
pub const TEST_REALM: &str = "test_realm";
/// Where users authorize a request token (third-party flow).
pub const AUTHORIZE_URL: &str = "https://www.interactivebrokers.com/authorize";
/// IBKR's API base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.ibkr.com/v1/api";

/// The realm to use when none is given: `test_realm` for `TESTCONS`, else `limited_poa`.
pub fn default_realm(consumer_key: &str) -> &'static str {
    if consumer_key == TEST_CONSUMER_KEY {
        TEST_REALM
    } else {
        DEFAULT_REALM
    }
}

/// How a request is signed.
#[derive(Clone, Copy)]
pub enum Signer<'a> {
    /// RSA-SHA256 with the private signature key (LST and third-party requests).
    RsaSha256(&'a PrivateKey),
    /// HMAC-SHA256 keyed by the live session token's bytes (every other request).
    HmacSha256(&'a HmacSha256Key),
    /// An RSA-SHA256 signature (base64) already made over this request's base string elsewhere
    /// (a session's host signs with WebCrypto: [`live_session_token_base_string`]).
    RsaSha256Signed(&'a str),
}

impl Signer<'_> {
    fn method_name(&self) -> &'static str {
        match self {
            Signer::RsaSha256(_) | Signer::RsaSha256Signed(_) => "RSA-SHA256",
            Signer::HmacSha256(_) => "HMAC-SHA256",
        }
    }

    /// Signs `text`, returning standard base64.
    pub fn sign(&self, text: &str) -> Result<String> {
        match self {
            Signer::RsaSha256(key) => Ok(b64_encode(&key.sign_sha256(text.as_bytes())?)),
            Signer::HmacSha256(key) => Ok(b64_encode(&key.mac(text.as_bytes()))),
            Signer::RsaSha256Signed(signature) => Ok((*signature).to_owned()),
        }
    }
}

/// An HMAC-SHA256 key (`hmac` + `sha2`) with its keyed state computed once: each message clones
/// the state and hashes only the message, so a session pays for the key's pads once per token.
/// The state is wiped on drop (`hmac`'s `zeroize` feature); `Debug` is redacted.
#[derive(Clone)]
pub struct HmacSha256Key(Hmac<Sha256>);

impl fmt::Debug for HmacSha256Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacSha256Key([redacted])")
    }
}

impl HmacSha256Key {
    /// Prepares the keyed state for `key` (any length).
    pub fn new(key: &[u8]) -> Self {
        // HMAC accepts keys of every length, so this cannot fail; an empty key is the fallback.
        let mac = Hmac::<Sha256>::new_from_slice(key)
            .unwrap_or_else(|_| Hmac::<Sha256>::new(&Default::default()));
        HmacSha256Key(mac)
    }

    /// HMAC-SHA256 of `message`.
    pub fn mac(&self, message: &[u8]) -> [u8; 32] {
        let mut m = self.0.clone();
        m.update(message);
        m.finalize().into_bytes().into()
    }
}

/// HMAC-SHA256 of `text` keyed by `key`, as base64.
pub fn hmac_sha256_base64(key: &SecretBytes, text: &str) -> Result<String> {
    Ok(b64_encode(
        &HmacSha256Key::new(key.expose()).mac(text.as_bytes()),
    ))
}

/// Who signs and when: the parts common to every request.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The consumer key (9 letters; `TESTCONS` for IBKR's test key).
    pub consumer_key: &'a str,
    /// The realm (`limited_poa`, or `test_realm` with `TESTCONS`).
    pub realm: &'a str,
    /// A unique nonce ([`generate_nonce`]).
    pub nonce: &'a str,
    /// Unix time in seconds.
    pub timestamp: u64,
}

/// A signed request, ready to send: method, URL, and the `Authorization` header.
#[derive(Clone)]
pub struct SignedRequest {
    /// The HTTP method, uppercase.
    pub method: String,
    /// The URL to send (with its query, if any).
    pub url: String,
    /// The OAuth parameters that went into the header (without `oauth_signature`).
    pub oauth_params: Vec<(String, String)>,
    /// The base string that was signed. For the LST request it starts with the prepend, which
    /// is secret: treat it as secret.
    pub base_string: Zeroizing<String>,
    /// The base64 signature.
    pub signature: String,
    /// The `Authorization` header value.
    pub authorization: String,
}

impl fmt::Debug for SignedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("oauth_params", &self.oauth_params)
            .field("base_string", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// Random bytes for nonces, drawn from the platform's secure source (`getrandom`) a batch at a
/// time: in wasm each draw is a call into JavaScript, so one call serves 32 nonces.
struct NoncePool {
    bytes: [u8; 512],
    used: usize,
}

thread_local! {
    static NONCE_POOL: std::cell::RefCell<NoncePool> =
        const { std::cell::RefCell::new(NoncePool { bytes: [0; 512], used: 512 }) };
}

/// 16 random bytes as 32 lowercase hex characters.
pub fn generate_nonce() -> Result<String> {
    NONCE_POOL.with(|cell| {
        let mut pool = cell.borrow_mut();
        if pool.used + 16 > pool.bytes.len() {
            super::lst::getrandom_fill(&mut pool.bytes)?;
            pool.used = 0;
        }
        let start = pool.used;
        pool.used += 16;
        Ok(hex_encode(
            pool.bytes.get(start..start + 16).unwrap_or_default(),
        ))
    })
}

fn check_field(name: &str, value: &str, fix: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::invalid_argument(format!("{name} is empty: {fix}")));
    }
    // ASCII (every real value) by bytes: whitespace and control characters are 0..=0x20, 0x7f.
    let bad = if value.is_ascii() {
        value.bytes().any(|b| b <= b' ' || b == 0x7f)
    } else {
        value.chars().any(|c| c.is_whitespace() || c.is_control())
    };
    if bad {
        return Err(Error::invalid_argument(format!(
            "{name} contains whitespace: {fix}"
        )));
    }
    Ok(())
}

fn check_context(ctx: &Context<'_>) -> Result<()> {
    check_field(
        "consumerKey",
        ctx.consumer_key,
        "pass the consumer key from IBKR's portal (9 letters, e.g. TESTCONS for the test key).",
    )?;
    check_field("nonce", ctx.nonce, "leave it out to get a random one.")?;
    check_realm(ctx.realm)
}

/// Signs a request: adds the OAuth parameters, builds the base string, signs it, and builds the
/// header. `extra` holds request-specific OAuth parameters (token, challenge, callback, verifier).
pub fn sign_request(
    method: &str,
    url: &str,
    extra: &[(&str, &str)],
    prepend: Option<&SecretBytes>,
    sign_query: bool,
    ctx: &Context<'_>,
    signer: Signer<'_>,
) -> Result<SignedRequest> {
    let prepend_hex = prepend.map(SecretBytes::expose_hex);
    let timestamp = ctx.timestamp.to_string();
    let params = oauth_params(extra, ctx, signer, &timestamp);
    let (base_string, signature, authorization) = sign(
        method,
        url,
        &params,
        prepend_hex.as_ref().map(|s| s.as_str()),
        sign_query,
        ctx,
        signer,
    )?;
    Ok(SignedRequest {
        method: super::base::normalise_method(method)?,
        url: url.trim().to_owned(),
        oauth_params: params
            .iter()
            .map(|&(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        base_string,
        signature,
        authorization,
    })
}

/// `extra`, then the OAuth parameters every request carries.
fn oauth_params<'a>(
    extra: &[(&'a str, &'a str)],
    ctx: &Context<'a>,
    signer: Signer<'_>,
    timestamp: &'a str,
) -> Vec<(&'a str, &'a str)> {
    let mut params = Vec::with_capacity(extra.len() + 4);
    params.extend_from_slice(extra);
    params.extend([
        ("oauth_consumer_key", ctx.consumer_key),
        ("oauth_nonce", ctx.nonce),
        ("oauth_signature_method", signer.method_name()),
        ("oauth_timestamp", timestamp),
    ]);
    params
}

/// The signing itself, on borrowed parameters: the base string, its signature and the header.
/// [`sign_request`] and [`api_authorization_keyed`] (every API call) share it.
fn sign(
    method: &str,
    url: &str,
    params: &[(&str, &str)],
    prepend_hex: Option<&str>,
    sign_query: bool,
    ctx: &Context<'_>,
    signer: Signer<'_>,
) -> Result<(Zeroizing<String>, String, String)> {
    check_context(ctx)?;
    let base = Zeroizing::new(base_string_of(
        method,
        url,
        params,
        prepend_hex,
        sign_query,
    )?);
    let signature = signer.sign(&base)?;
    let authorization = authorization_header_of(ctx.realm, params, &signature)?;
    Ok((base, signature, authorization))
}

const ACCESS_TOKEN_FIX: &str = "pass the access token from IBKR's portal (20 hex characters).";
const REQUEST_TOKEN_FIX: &str = "pass the oauth_token that the request_token step returned.";

/// `POST {base}/oauth/{endpoint}`, signed with RSA-SHA256: the three steps that come before an LST.
fn rsa_post(
    base_url: &str,
    endpoint: &str,
    extra: &[(&str, &str)],
    prepend: Option<&SecretBytes>,
    ctx: &Context<'_>,
    signature_key: &PrivateKey,
) -> Result<SignedRequest> {
    let url = join_url(base_url, &format!("oauth/{endpoint}"));
    sign_request(
        "POST",
        &url,
        extra,
        prepend,
        false,
        ctx,
        Signer::RsaSha256(signature_key),
    )
}

/// `POST {base}/oauth/live_session_token`: RSA-SHA256 over `prepend + base string`, with the DH
/// challenge and the access token. Send it with an empty body and `Content-Length: 0`.
pub fn live_session_token_request(
    base_url: &str,
    ctx: &Context<'_>,
    access_token: &str,
    challenge_hex: &str,
    prepend: &SecretBytes,
    signature_key: &PrivateKey,
) -> Result<SignedRequest> {
    live_session_token_request_with(
        base_url,
        ctx,
        access_token,
        challenge_hex,
        prepend,
        Signer::RsaSha256(signature_key),
    )
}

/// [`live_session_token_request`] with any RSA-SHA256 signer, such as
/// [`Signer::RsaSha256Signed`] with a signature made over [`live_session_token_base_string`].
pub fn live_session_token_request_with(
    base_url: &str,
    ctx: &Context<'_>,
    access_token: &str,
    challenge_hex: &str,
    prepend: &SecretBytes,
    signer: Signer<'_>,
) -> Result<SignedRequest> {
    let extra = lst_extra(access_token, challenge_hex, prepend)?;
    let url = join_url(base_url, "oauth/live_session_token");
    sign_request("POST", &url, &extra, Some(prepend), false, ctx, signer)
}

/// What the live session token request signs: `prepend + base string` (secret: it starts with
/// the prepend), for a signer outside the core. The same inputs give
/// [`live_session_token_request_with`] the same base string.
pub fn live_session_token_base_string(
    base_url: &str,
    ctx: &Context<'_>,
    access_token: &str,
    challenge_hex: &str,
    prepend: &SecretBytes,
) -> Result<Zeroizing<String>> {
    let extra = lst_extra(access_token, challenge_hex, prepend)?;
    let url = join_url(base_url, "oauth/live_session_token");
    check_context(ctx)?;
    let timestamp = ctx.timestamp.to_string();
    let params = oauth_params(&extra, ctx, Signer::RsaSha256Signed(""), &timestamp);
    let prepend_hex = prepend.expose_hex();
    Ok(Zeroizing::new(base_string_of(
        "POST",
        &url,
        &params,
        Some(&prepend_hex),
        false,
    )?))
}

/// The LST request's own parameters, checked.
fn lst_extra<'a>(
    access_token: &'a str,
    challenge_hex: &'a str,
    prepend: &SecretBytes,
) -> Result<[(&'static str, &'a str); 2]> {
    check_field("accessToken", access_token, ACCESS_TOKEN_FIX)?;
    check_field(
        "challenge",
        challenge_hex,
        "pass the hex that dhChallenge returns.",
    )?;
    if prepend.is_empty() {
        return Err(Error::invalid_argument(
            "prepend is empty: pass what decryptAccessTokenSecret returns.",
        ));
    }
    Ok([
        ("diffie_hellman_challenge", challenge_hex.trim()),
        ("oauth_token", access_token.trim()),
    ])
}

/// Third party, step 1: `POST {base}/oauth/request_token` with `oauth_callback` (`oob` or the
/// registered callback URL) and no token.
pub fn request_token_request(
    base_url: &str,
    ctx: &Context<'_>,
    callback: &str,
    signature_key: &PrivateKey,
) -> Result<SignedRequest> {
    check_field(
        "callback",
        callback,
        "pass \"oob\" or your registered callback URL.",
    )?;
    let extra = [("oauth_callback", callback.trim())];
    rsa_post(base_url, "request_token", &extra, None, ctx, signature_key)
}

/// Third party, step 2: the browser URL where the user authorizes the request token.
pub fn authorize_url(request_token: &str, authorize_base: Option<&str>) -> Result<String> {
    check_field("requestToken", request_token, REQUEST_TOKEN_FIX)?;
    let base = authorize_base.unwrap_or(AUTHORIZE_URL).trim();
    super::base::split_url(base)?;
    let sep = if base.contains('?') { '&' } else { '?' };
    Ok(format!(
        "{base}{sep}oauth_token={}",
        pct_encode(request_token.trim())
    ))
}

/// Third party, step 3: `POST {base}/oauth/access_token` with the request token and the
/// verifier from the callback.
pub fn access_token_request(
    base_url: &str,
    ctx: &Context<'_>,
    request_token: &str,
    verifier: &str,
    signature_key: &PrivateKey,
) -> Result<SignedRequest> {
    check_field("requestToken", request_token, REQUEST_TOKEN_FIX)?;
    check_field(
        "verifier",
        verifier,
        "pass the oauth_verifier from the callback URL.",
    )?;
    let extra = [
        ("oauth_token", request_token.trim()),
        ("oauth_verifier", verifier.trim()),
    ];
    rsa_post(base_url, "access_token", &extra, None, ctx, signature_key)
}

/// An ordinary API call, signed with HMAC-SHA256 keyed by the LST.
pub fn api_request(
    method: &str,
    url: &str,
    ctx: &Context<'_>,
    access_token: &str,
    lst: &SecretBytes,
    sign_query: bool,
) -> Result<SignedRequest> {
    if lst.is_empty() {
        return Err(Error::new(
            ErrorCode::InvalidArgument,
            "the live session token is empty.",
        ));
    }
    let key = HmacSha256Key::new(lst.expose());
    api_request_keyed(method, url, ctx, access_token, &key, sign_query)
}

/// [`api_request`] with the LST's HMAC key prepared once ([`HmacSha256Key::new`]), as a
/// session keeps it: each signature then hashes only the base string.
pub fn api_request_keyed(
    method: &str,
    url: &str,
    ctx: &Context<'_>,
    access_token: &str,
    key: &HmacSha256Key,
    sign_query: bool,
) -> Result<SignedRequest> {
    check_field("accessToken", access_token, ACCESS_TOKEN_FIX)?;
    let extra = [("oauth_token", access_token.trim())];
    sign_request(
        method,
        url,
        &extra,
        None,
        sign_query,
        ctx,
        Signer::HmacSha256(key),
    )
}

/// The `Authorization` header alone for an API call signed with HMAC-SHA256: what
/// [`api_request_keyed`] puts in `authorization`, without building the rest of the
/// [`SignedRequest`]. This runs on every call a trading server makes.
pub fn api_authorization_keyed(
    method: &str,
    url: &str,
    ctx: &Context<'_>,
    access_token: &str,
    key: &HmacSha256Key,
    sign_query: bool,
) -> Result<String> {
    check_field("accessToken", access_token, ACCESS_TOKEN_FIX)?;
    let signer = Signer::HmacSha256(key);
    let timestamp = ctx.timestamp.to_string();
    let extra = [("oauth_token", access_token.trim())];
    let params = oauth_params(&extra, ctx, signer, &timestamp);
    let (mut base, _, authorization) = sign(method, url, &params, None, sign_query, ctx, signer)?;
    // An API call's base string holds nothing secret (no prepend; the header carries the same
    // values), so it is freed without the byte-by-byte wipe.
    drop(std::mem::take(&mut *base));
    Ok(authorization)
}
