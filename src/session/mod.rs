//! The session lifecycle over an injected [`Host`]: when a live session token is needed, one
//! handshake at a time however many callers wait, refresh before expiry, recovery from 401, 410,
//! "no bridge", 429, 5xx and network errors, pacing, the server's clock, and keep-alive.
//!
//! Retries never duplicate an order: a request that is not idempotent (anything but GET, HEAD,
//! OPTIONS and the session's own status calls) is sent again only after a 401, which IBKR
//! returns before processing anything.

pub mod fleet;
pub mod flight;
pub mod host;
pub mod http_date;
pub mod pacing;
pub mod third_party;

use std::cell::RefCell;
use std::rc::Rc;

use flight::Flight;

use crate::encoding::pct_encode;
use crate::error::{Error, ErrorCode, Result};
use crate::keys::{DhParams, PrivateKey, RawRsaDecrypt, SecretBytes};
use crate::oauth1::{self, lst, request, DhSecret};
pub use host::{Host, HttpRequest, HttpResponse, Level};
pub use pacing::Pacer;
use serde_json::Value;

/// The user's OAuth 1.0a material, parsed once.
pub struct Oauth1Credentials {
    consumer_key: String,
    access_token: String,
    realm: String,
    signature_key: PrivateKey,
    prepend: SecretBytes,
    dh: DhParams,
}

impl std::fmt::Debug for Oauth1Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oauth1Credentials")
            .field("consumer_key", &self.consumer_key)
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

/// The PEM texts and strings a user holds, as IBKR's portal hands them out.
#[derive(Clone, Copy)]
pub struct Oauth1Inputs<'a> {
    /// The consumer key.
    pub consumer_key: &'a str,
    /// The access token.
    pub access_token: &'a str,
    /// The encrypted access token secret (base64).
    pub access_token_secret: &'a str,
    /// The private signature key (PEM).
    pub signature_key: &'a str,
    /// The private encryption key (PEM).
    pub encryption_key: &'a str,
    /// `dhparam.pem`.
    pub dh_params: &'a str,
    /// The realm; `None` for the default.
    pub realm: Option<&'a str>,
}

impl Oauth1Credentials {
    fn context<'a>(&'a self, nonce: &'a str, timestamp: u64) -> request::Context<'a> {
        request::Context {
            consumer_key: &self.consumer_key,
            realm: &self.realm,
            nonce,
            timestamp,
        }
    }

    /// Parses the keys, decrypts the access token secret and reads the DH parameters, once.
    pub fn new(i: Oauth1Inputs<'_>) -> Result<Self> {
        Self::new_with_raw_rsa(i, None)
    }

    /// [`Oauth1Credentials::new`], with the one RSA decryption done by the host's native crypto
    /// when it can (its result is checked: [`PrivateKey::decrypt_pkcs1v15_with`]).
    pub fn new_with_raw_rsa(i: Oauth1Inputs<'_>, raw: Option<&RawRsaDecrypt<'_>>) -> Result<Self> {
        let consumer_key = i.consumer_key.trim();
        let access_token = i.access_token.trim();
        if consumer_key.is_empty() {
            return Err(Error::invalid_argument(
                "consumerKey is empty: pass the consumer key from IBKR's portal.",
            ));
        }
        if access_token.is_empty() {
            return Err(Error::invalid_argument(
                "accessToken is empty: pass the access token from IBKR's portal.",
            ));
        }
        let realm = i
            .realm
            .unwrap_or_else(|| request::default_realm(consumer_key))
            .to_owned();
        oauth1::base::check_realm(&realm)?;
        let encryption_key = PrivateKey::from_pem(i.encryption_key, "encryptionKey")?;
        Ok(Oauth1Credentials {
            consumer_key: consumer_key.to_owned(),
            access_token: access_token.to_owned(),
            realm,
            signature_key: PrivateKey::from_pem(i.signature_key, "signatureKey")?,
            prepend: lst::decrypt_access_token_secret_with(
                &encryption_key,
                i.access_token_secret,
                raw,
            )?,
            dh: DhParams::from_pem(i.dh_params)?,
        })
    }
}

/// An OAuth 2.0 client's material, parsed once.
pub struct Oauth2Credentials {
    client_id: String,
    client_key_id: String,
    credential: String,
    key: PrivateKey,
    ip: Option<String>,
    alternative_ips: Vec<String>,
}

impl std::fmt::Debug for Oauth2Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oauth2Credentials")
            .field("client_id", &self.client_id)
            .field("client_key_id", &self.client_key_id)
            .field("credential", &self.credential)
            .finish_non_exhaustive()
    }
}

impl Oauth2Credentials {
    /// `ip`: the public IP for the SSO session; `None` to ask the host each time it connects.
    pub fn new(
        client_id: &str,
        client_key_id: &str,
        credential: &str,
        private_key_pem: &str,
        ip: Option<&str>,
        alternative_ips: Vec<String>,
    ) -> Result<Self> {
        let key = PrivateKey::from_pem(private_key_pem, "privateKey")?;
        // Every input mistake surfaces here, not at the first request.
        crate::oauth2::check_sso_inputs(
            client_id,
            client_key_id,
            credential,
            ip,
            &alternative_ips,
        )?;
        Ok(Oauth2Credentials {
            client_id: client_id.trim().to_owned(),
            client_key_id: client_key_id.trim().to_owned(),
            credential: credential.trim().to_owned(),
            key,
            ip: ip.map(str::to_owned),
            alternative_ips,
        })
    }
}

/// How a session authenticates.
#[derive(Debug)]
pub enum Auth {
    /// OAuth 1.0a: a live session token, HMAC-SHA256 on every request.
    OAuth1(Oauth1Credentials),
    /// OAuth 2.0: client assertion → access token → SSO session → bearer on every request.
    OAuth2(Oauth2Credentials),
    /// The Client Portal Gateway the user runs: the gateway holds the session; no signing.
    Gateway,
}

impl From<Oauth1Credentials> for Auth {
    fn from(c: Oauth1Credentials) -> Self {
        Auth::OAuth1(c)
    }
}

impl From<Oauth2Credentials> for Auth {
    fn from(c: Oauth2Credentials) -> Self {
        Auth::OAuth2(c)
    }
}

/// How a session behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// API base URLs; the first is used until a 410 moves the session to the next.
    pub base_urls: Vec<String>,
    /// The `User-Agent` header (IBKR wants one on every request).
    pub user_agent: String,
    /// Per-request timeout.
    pub timeout_ms: u64,
    /// Start a new handshake this long before the LST expires.
    pub refresh_margin_ms: f64,
    /// Sign query parameters (IBKR's documented style) or not (ibind's).
    pub sign_query: bool,
    /// Client-side rate limiting.
    pub pacer: Pacer,
    /// Retries of idempotent requests after 5xx, 429 and network errors.
    pub max_retries: u32,
    /// `compete` for the automatic `ssodh/init` (after "no bridge" and in keep-alive).
    pub compete: bool,
    /// How many times `ensure_authenticated` polls the status after re-initialising.
    pub auth_polls: u32,
    /// The pause between those polls.
    pub auth_poll_ms: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            base_urls: vec![request::DEFAULT_BASE_URL.to_owned()],
            user_agent: concat!("ibkr-auth/", env!("CARGO_PKG_VERSION")).to_owned(),
            timeout_ms: 15_000,
            refresh_margin_ms: 10.0 * 60_000.0,
            sign_query: true,
            pacer: Pacer::ibkr(),
            max_retries: 2,
            compete: true,
            auth_polls: 8,
            auth_poll_ms: 1000,
        }
    }
}

/// One request to make through the session.
#[derive(Debug, Clone)]
pub struct Call<V> {
    /// HTTP method.
    pub method: String,
    /// A path relative to the API base (`/iserver/accounts`) or an absolute URL on the session's hosts.
    pub target: String,
    /// Query parameters to append, raw values.
    pub query: Vec<(String, String)>,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// The body, opaque.
    pub body: Option<V>,
    /// The caller's cancellation handle, opaque.
    pub signal: Option<V>,
    /// Override whether the request may be repeated; `None`: GET, HEAD and OPTIONS may.
    pub idempotent: Option<bool>,
}

impl<V> Call<V> {
    /// A call with no query, headers or body.
    pub fn new(method: &str, target: &str) -> Self {
        Call {
            method: method.to_ascii_uppercase(),
            target: target.to_owned(),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            signal: None,
            idempotent: None,
        }
    }

    fn is_idempotent(&self) -> bool {
        self.idempotent
            .unwrap_or(matches!(self.method.as_str(), "GET" | "HEAD" | "OPTIONS"))
    }
}

/// The session's credential of the moment: the LST (OAuth 1.0a), the bearer token (OAuth 2.0),
/// or nothing (gateway).
struct Token {
    secret: SecretBytes,
    /// The LST's HMAC pads, prepared once per token (OAuth 1.0a only).
    hmac: Option<oauth1::HmacSha256Key>,
    expires_at: f64,
    generation: u64,
}

type Handshake = Flight<Result<Rc<Token>>>;

#[derive(Default)]
struct State {
    token: Option<Rc<Token>>,
    inflight: Option<Handshake>,
    generation: u64,
    failures: u32,
    retry_at: f64,
    last_error: Option<Error>,
    base_index: usize,
    clock_offset_ms: f64,
    skew_reported: bool,
    handshakes: u64,
    pacer: Pacer,
    /// The public IP the current OAuth 2.0 session was made for.
    session_ip: Option<String>,
    /// API base URLs: `Options::base_urls`, plus any set at run time.
    bases: Vec<String>,
}

struct Inner<H: Host> {
    host: H,
    auth: Auth,
    opts: Options,
    state: RefCell<State>,
}

/// An OAuth 1.0a session. Cheap to clone; clones share the token and state.
pub struct Session<H: Host> {
    inner: Rc<Inner<H>>,
}

impl<H: Host> Clone for Session<H> {
    fn clone(&self) -> Self {
        Session {
            inner: self.inner.clone(),
        }
    }
}

/// What one keep-alive round found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepAliveReport {
    /// The brokerage session was authenticated after the round.
    pub authenticated: bool,
    /// The session was re-initialised (it was unauthenticated or competing).
    pub reinitialised: bool,
}

/// Clock skew beyond this is corrected and reported.
const SKEW_TOLERANCE_MS: f64 = 30_000.0;

/// Whole units for log and error text (rounded; integer formatting keeps the float printer out of
/// the WebAssembly module).
fn whole(x: f64) -> i64 {
    x.round() as i64
}

/// One decimal for log text, e.g. `23.9`, by integer formatting.
fn tenths(x: f64) -> String {
    let t = (x * 10.0).round() as i64;
    let sign = if t < 0 { "-" } else { "" };
    format!("{sign}{}.{}", (t / 10).abs(), (t % 10).abs())
}

fn jitter_fraction() -> f64 {
    let mut b = [0u8; 2];
    if lst::getrandom_fill(&mut b).is_err() {
        return 0.5;
    }
    f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX)
}

async fn server_message<R: HttpResponse>(resp: &R) -> Option<String> {
    let text = resp.text().await.ok()?;
    if let Ok(v) = serde_json::from_str::<Value>(&text) {
        for key in ["error", "message"] {
            if let Some(s) = v.get(key).and_then(Value::as_str) {
                return Some(s.to_owned());
            }
        }
    }
    let t = text.trim();
    // At most 300 characters of it.
    let cut = t.char_indices().nth(300).map_or(t.len(), |(i, _)| i);
    (!t.is_empty()).then(|| t.get(..cut).unwrap_or(t).to_owned())
}

fn is_no_bridge(message: Option<&str>) -> bool {
    message.is_some_and(|m| m.to_ascii_lowercase().contains("no bridge"))
}

fn mentions_timestamp(message: Option<&str>) -> bool {
    message.is_some_and(|m| m.to_ascii_lowercase().contains("timestamp"))
}

/// The error for a failed authentication step: the status names the code, `hint_401` the fix.
fn auth_failure(status: u16, msg: Option<String>, what: &str, hint_401: &str) -> Error {
    let e = match status {
        401 | 403 if mentions_timestamp(msg.as_deref()) => Error::new(
            ErrorCode::ClockSkew,
            format!("IBKR rejected the timestamp of {what}: synchronise this machine's clock (NTP) and retry."),
        ),
        400 | 401 | 403 => Error::new(ErrorCode::Unauthorized, format!("IBKR rejected {what} (HTTP {status}). {hint_401}")),
        410 => Error::new(ErrorCode::Gone, format!("IBKR answered 410 Gone to {what}: try another host (the `hosts` option).")),
        429 => Error::new(ErrorCode::RateLimited, format!("IBKR rate-limited {what} (429): wait before trying again.")),
        _ => Error::new(ErrorCode::HttpError, format!("{what} failed with HTTP {status}.")),
    };
    e.with_http(status, msg)
}

/// The `access_token` of an OAuth 2.0 answer.
fn token_field<'a>(v: &'a Value, what: &str) -> Result<&'a str> {
    v.get("access_token")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Error::new(
                ErrorCode::HttpError,
                format!("IBKR's {what} has no access_token."),
            )
        })
}

/// Sends one of the RSA-signed `POST /oauth/*` requests and returns its JSON, or an error that
/// names the likely cause for each status.
pub(crate) async fn post_oauth<H: Host>(
    host: &H,
    signed: &request::SignedRequest,
    timeout_ms: u64,
    user_agent: &str,
    what: &str,
    on_response: impl FnOnce(&H::Response),
) -> Result<Value> {
    let req = HttpRequest {
        method: signed.method.clone(),
        url: signed.url.clone(),
        headers: vec![
            ("Authorization".into(), signed.authorization.clone()),
            ("User-Agent".into(), user_agent.to_owned()),
            ("Accept".into(), "application/json".into()),
        ],
        body: Some(host.text_body("")),
        signal: None,
        timeout_ms,
        manual_redirect: false,
    };
    let resp = host.fetch(&req).await?;
    on_response(&resp);
    let status = resp.status();
    if status != 200 {
        let msg = server_message(&resp).await;
        let hint = if msg
            .as_deref()
            .unwrap_or("")
            .to_ascii_lowercase()
            .contains("consumer")
        {
            "The consumer key was refused (invalid consumer): a new consumer key can take days until IBKR activates it; \
             otherwise check it for typos and that the realm fits it (test_realm only with TESTCONS)."
        } else {
            "Check that signatureKey is the private half of the signature key uploaded to IBKR, and the access token and \
             its secret; if IBKR says \"No access secret key found\", regenerate the access token in the portal."
        };
        return Err(auth_failure(status, msg, what, hint));
    }
    let text = resp.text().await?;
    serde_json::from_str::<Value>(&text).ok().ok_or_else(|| {
        Error::new(
            ErrorCode::HttpError,
            format!("IBKR's answer to {what} is not JSON."),
        )
        .with_http(status, None)
    })
}

impl<H: Host> Session<H> {
    /// A session over `host`. No I/O happens until the first call.
    pub fn new(host: H, auth: impl Into<Auth>, opts: Options) -> Result<Self> {
        Self::with_auth(host, auth.into(), opts)
    }

    /// [`Session::new`] without the conversion: one copy of the body, not one per credential
    /// type.
    fn with_auth(host: H, auth: Auth, opts: Options) -> Result<Self> {
        if opts.base_urls.is_empty() {
            return Err(Error::invalid_argument(
                "baseUrl: at least one API base URL is needed.",
            ));
        }
        for b in &opts.base_urls {
            oauth1::base::split_url(b)?;
        }
        let state = State {
            pacer: opts.pacer.clone(),
            bases: opts.base_urls.clone(),
            ..State::default()
        };
        Ok(Session {
            inner: Rc::new(Inner {
                host,
                auth,
                opts,
                state: RefCell::new(state),
            }),
        })
    }

    /// The `compete` option.
    pub fn compete_default(&self) -> bool {
        self.inner.opts.compete
    }

    /// The host.
    pub fn host(&self) -> &H {
        &self.inner.host
    }

    /// How many times this session has started to acquire a token (LST handshakes, OAuth 2.0
    /// connects; the gateway's one trivial acquisition included).
    pub fn handshakes(&self) -> u64 {
        self.inner.state.borrow().handshakes
    }

    /// The base URL in use.
    pub fn base_url(&self) -> String {
        let st = self.inner.state.borrow();
        st.bases.get(st.base_index).cloned().unwrap_or_default()
    }

    /// Switches the API base at run time (e.g. to `https://1.api.ibkr.com/v1/api`). The session's
    /// token stays; if the new host refuses it, the usual 401 recovery makes a new one.
    pub fn set_base_url(&self, url: &str) -> Result<()> {
        oauth1::base::split_url(url)?;
        let url = url.trim().trim_end_matches('/').to_owned();
        let mut st = self.inner.state.borrow_mut();
        let i = match st
            .bases
            .iter()
            .position(|b| b.trim_end_matches('/').eq_ignore_ascii_case(&url))
        {
            Some(i) => i,
            None => {
                st.bases.push(url.clone());
                st.bases.len() - 1
            }
        };
        st.base_index = i;
        drop(st);
        self.log(Level::Info, &format!("API base is now {url}"));
        Ok(())
    }

    fn log(&self, level: Level, message: &str) {
        self.inner.host.log(level, message);
    }

    fn now(&self) -> f64 {
        self.inner.host.now_ms()
    }

    /// The live session token (base64) and its expiry (ms since epoch): cached, refreshed before
    /// expiry, one handshake at a time.
    pub async fn live_session_token(&self) -> Result<(zeroize::Zeroizing<String>, f64)> {
        let t = self.token().await?;
        Ok((lst::lst_base64(&t.secret), t.expires_at))
    }

    async fn token(&self) -> Result<Rc<Token>> {
        let now = self.now();
        let fut = {
            let mut st = self.inner.state.borrow_mut();
            if let Some(t) = &st.token {
                if now + self.inner.opts.refresh_margin_ms < t.expires_at {
                    return Ok(t.clone());
                }
            }
            if let Some(f) = &st.inflight {
                f.clone()
            } else {
                if st.failures > 1 && now < st.retry_at {
                    let wait_s = ((st.retry_at - now) / 1000.0).ceil() as u64;
                    let last = st
                        .last_error
                        .clone()
                        .unwrap_or_else(|| Error::new(ErrorCode::Unauthorized, "handshake failed"));
                    return Err(Error::new(
                        last.code(),
                        format!(
                            "{} (after {} failed handshakes in a row, the next attempt waits {wait_s} s so that IBKR does not lock the account)",
                            last.message(),
                            st.failures
                        ),
                    )
                    .with_http_opt(last.status(), last.server_message().map(str::to_owned)));
                }
                st.handshakes += 1;
                let f = flight::flight(Box::pin(Self::run_handshake(self.clone())));
                st.inflight = Some(f.clone());
                f
            }
        };
        fut.await
    }

    async fn run_handshake(self) -> Result<Rc<Token>> {
        let result = self.acquire().await;
        let now = self.now();
        let mut st = self.inner.state.borrow_mut();
        st.inflight = None;
        match result {
            Ok((secret, expires_at)) => {
                st.generation += 1;
                st.failures = 0;
                st.last_error = None;
                let hmac = matches!(self.inner.auth, Auth::OAuth1(_))
                    .then(|| oauth1::HmacSha256Key::new(secret.expose()));
                let token = Rc::new(Token {
                    secret,
                    hmac,
                    expires_at,
                    generation: st.generation,
                });
                st.token = Some(token.clone());
                Ok(token)
            }
            Err(e) => {
                st.failures += 1;
                let backoff = (1000.0 * 2f64.powi(st.failures.saturating_sub(2).min(16) as i32))
                    .min(300_000.0);
                st.retry_at = now + backoff;
                st.last_error = Some(e.clone());
                Err(e)
            }
        }
    }

    /// `scheme://host[:port]` of the current API base (OAuth 2.0's endpoints live there too).
    fn origin(&self) -> String {
        let b = self.base_url();
        let start = b.find("://").map_or(0, |i| i + 3);
        let end = b
            .get(start..)
            .and_then(|r| r.find('/'))
            .map_or(b.len(), |j| start + j);
        b.get(..end).unwrap_or(&b).to_owned()
    }

    /// One unsigned request (the OAuth 2.0 connect steps), outside the recovery loop.
    async fn raw(
        &self,
        method: &str,
        url: &str,
        mut headers: Vec<(String, String)>,
        body: Option<&str>,
    ) -> Result<(u16, String, Option<String>)> {
        headers.extend(self.standard_headers(None));
        let body = body
            .or((method == "POST").then_some(""))
            .map(|b| self.inner.host.text_body(b));
        let req = HttpRequest {
            method: method.to_owned(),
            url: url.to_owned(),
            headers,
            body,
            signal: None,
            timeout_ms: self.inner.opts.timeout_ms,
            manual_redirect: false,
        };
        let resp = self.inner.host.fetch(&req).await?;
        self.learn_clock(&resp);
        let status = resp.status();
        let msg = if status == 200 {
            None
        } else {
            server_message(&resp).await
        };
        Ok((status, resp.text().await?, msg))
    }

    /// OAuth 2.0: client assertion → access token → SSO session (the bearer) → validate → ssodh/init.
    async fn oauth2_connect(&self, c: &Oauth2Credentials) -> Result<(SecretBytes, f64)> {
        let ip = match &c.ip {
            Some(ip) => ip.clone(),
            None => self.inner.host.public_ip().await?.ok_or_else(|| {
                Error::invalid_argument("OAuth 2.0 needs this machine's public IP: pass `ip`, or an `ipLookup` function.")
            })?,
        };
        let previous = self.inner.state.borrow_mut().session_ip.replace(ip.clone());
        if previous.as_ref().is_some_and(|p| *p != ip) {
            self.log(Level::Warn, &format!("public IP changed from {} to {ip}: IBKR drops sessions on an IP change; making a new one", previous.unwrap_or_default()));
        }
        let origin = self.origin();
        let base = self.base_url();
        let now_s = self.timestamp() as i64;
        let started = self.now();

        let assertion = self
            .jwt(
                crate::oauth2::client_assertion_input(&c.client_id, &c.client_key_id, now_s)?,
                &c.key,
            )
            .await?;
        let v = self
            .post_for_token(
                &format!("{origin}{}", crate::oauth2::TOKEN_PATH),
                vec![("Content-Type".into(), "application/x-www-form-urlencoded".into())],
                &crate::oauth2::token_form(&assertion),
                "the OAuth 2.0 token request",
                "Check clientId, clientKeyId (the kid registered with your public key) and that privateKey matches that \
                 public key; a clock off by more than a few seconds also fails the assertion.",
            )
            .await?;
        let access = token_field(&v, "token answer")?;
        let expires_in = v
            .get("expires_in")
            .and_then(Value::as_f64)
            .unwrap_or(86_399.0);

        let input = crate::oauth2::sso_session_jwt_input(
            &c.client_id,
            &c.client_key_id,
            &c.credential,
            &ip,
            now_s,
            &c.alternative_ips,
        )?;
        let jwt = self.jwt(input, &c.key).await?;
        self.log(Level::Debug, &format!("oauth2: SSO session for ip {ip}"));
        let v = self
            .post_for_token(
                &format!("{origin}{}", crate::oauth2::SSO_SESSIONS_PATH),
                vec![("Authorization".into(), format!("Bearer {access}")), ("Content-Type".into(), "application/jwt".into())],
                &jwt,
                "the SSO-session request",
                "Check `credential` (the IBKR username) and `ip`: it must be this machine's public IP as IBKR sees it.",
            )
            .await?;
        let bearer = token_field(&v, "SSO-session answer")?;
        let auth = vec![("Authorization".to_owned(), format!("Bearer {bearer}"))];

        let (status, text, msg) = self
            .raw("GET", &format!("{base}/sso/validate"), auth.clone(), None)
            .await?;
        let valid = serde_json::from_str::<Value>(&text).unwrap_or(Value::Null);
        if status != 200 || valid.get("RESULT").and_then(Value::as_bool) == Some(false) {
            return Err(auth_failure(
                status.max(401),
                msg,
                "the SSO session (sso/validate)",
                "Connect again; if it persists, check the username.",
            ));
        }
        let mut compete = self.inner.opts.compete;
        loop {
            let mut h = auth.clone();
            h.push(("Content-Type".into(), "application/json".into()));
            let body = format!("{{\"publish\":true,\"compete\":{compete}}}");
            let (status, _, msg) = self
                .raw(
                    "POST",
                    &format!("{base}/iserver/auth/ssodh/init"),
                    h,
                    Some(&body),
                )
                .await?;
            if status == 200 {
                break;
            }
            if status == 500 && compete {
                self.log(
                    Level::Warn,
                    &format!(
                        "ssodh/init: HTTP 500 ({}); retrying once with compete=false",
                        msg.as_deref().unwrap_or("")
                    ),
                );
                compete = false;
                continue;
            }
            self.log(
                Level::Warn,
                &format!(
                    "ssodh/init failed (HTTP {status}: {}); /iserver calls will try again (new paper accounts can see this for a week or two)",
                    msg.as_deref().unwrap_or("no message")
                ),
            );
            break;
        }
        let expires_at = self.now() + (expires_in * 1000.0).min(86_400_000.0);
        self.log(
            Level::Info,
            &format!(
                "OAuth 2.0 session ready in {} ms (ip {ip}); it expires in {} h",
                whole(self.now() - started),
                tenths((expires_at - self.now()) / 3_600_000.0)
            ),
        );
        Ok((SecretBytes::new(bearer.as_bytes().to_vec()), expires_at))
    }

    /// One OAuth 2.0 step: POST, and the JSON answer, or an error whose fix is `hint`.
    async fn post_for_token(
        &self,
        url: &str,
        headers: Vec<(String, String)>,
        body: &str,
        what: &str,
        hint: &str,
    ) -> Result<Value> {
        self.log(Level::Debug, &format!("oauth2: POST {url}"));
        let (status, text, msg) = self.raw("POST", url, headers, Some(body)).await?;
        if status != 200 {
            return Err(auth_failure(status, msg, what, hint));
        }
        serde_json::from_str::<Value>(&text).ok().ok_or_else(|| {
            Error::new(
                ErrorCode::HttpError,
                format!("IBKR's answer to {what} is not JSON."),
            )
            .with_http(status, None)
        })
    }

    /// OAuth 2.0 without a fixed IP: look the IP up again; if it changed, make a new session now.
    async fn check_ip(&self) -> Result<()> {
        let Auth::OAuth2(c) = &self.inner.auth else {
            return Ok(());
        };
        if c.ip.is_some() {
            return Ok(());
        }
        let Some(now_ip) = self.inner.host.public_ip().await? else {
            return Ok(());
        };
        let (current, generation) = {
            let st = self.inner.state.borrow();
            (
                st.session_ip.clone(),
                st.token.as_ref().map(|t| t.generation),
            )
        };
        if current.as_deref().is_some_and(|ip| ip != now_ip) {
            if let Some(g) = generation {
                self.invalidate(g);
            }
            self.token().await?;
        }
        Ok(())
    }

    /// Gets a fresh token: the LST handshake (OAuth 1.0a), a new SSO session (OAuth 2.0), or
    /// nothing at all (the gateway holds its own session). If IBKR refuses it and its `Date`
    /// header has just shown our clock to be off, once more with corrected time.
    async fn acquire(&self) -> Result<(SecretBytes, f64)> {
        let offset_before = self.inner.state.borrow().clock_offset_ms;
        let attempt = || async {
            match &self.inner.auth {
                Auth::OAuth1(_) => self.handshake_once().await,
                Auth::OAuth2(c) => self.oauth2_connect(c).await,
                Auth::Gateway => Ok((SecretBytes::new(Vec::new()), f64::INFINITY)),
            }
        };
        match attempt().await {
            Err(e)
                if matches!(e.code(), ErrorCode::ClockSkew | ErrorCode::Unauthorized)
                    && self.inner.state.borrow().clock_offset_ms != offset_before =>
            {
                self.log(Level::Warn, "IBKR refused our credentials and its clock differs from ours; retrying once with the server's time");
                attempt().await
            }
            other => other,
        }
    }

    /// RSA-SHA256 of `text`, base64: by the host's WebCrypto when it has it (checked against the
    /// public key), else by the `rsa` crate. Both give the same bytes (PKCS#1 v1.5 signatures
    /// are deterministic).
    async fn sign_rsa_sha256(&self, key: &PrivateKey, text: &str) -> Result<Vec<u8>> {
        if let Some(sig) = self.inner.host.sign_rsa_sha256(key, text.as_bytes()).await {
            if key.verify_sha256(text.as_bytes(), &sig) {
                self.log(
                    Level::Debug,
                    "RSA-SHA256 signature by the runtime's WebCrypto",
                );
                return Ok(sig);
            }
            self.log(
                Level::Warn,
                "the host's WebCrypto RSA signature did not verify; signing with the rsa crate instead",
            );
        }
        self.log(Level::Debug, "RSA-SHA256 signature by the rsa crate");
        key.sign_sha256(text.as_bytes())
    }

    /// An RS256 JWT from its signing input (signed as [`Self::sign_rsa_sha256`] does).
    async fn jwt(&self, input: String, key: &PrivateKey) -> Result<String> {
        let signature = self.sign_rsa_sha256(key, &input).await?;
        Ok(crate::oauth2::jwt_signed(&input, &signature))
    }

    async fn handshake_once(&self) -> Result<(SecretBytes, f64)> {
        let Auth::OAuth1(c) = &self.inner.auth else {
            return Err(Error::new(
                ErrorCode::Internal,
                "an OAuth 1.0a handshake on a session of another kind",
            ));
        };
        let a = DhSecret::random()?;
        let challenge = oauth1::dh_challenge(&c.dh, &a);
        let nonce = request::generate_nonce()?;
        let ctx = c.context(&nonce, self.timestamp());
        let base = self.base_url();
        let text = request::live_session_token_base_string(
            &base,
            &ctx,
            &c.access_token,
            &challenge,
            &c.prepend,
        )?;
        let signature =
            crate::encoding::b64_encode(&self.sign_rsa_sha256(&c.signature_key, &text).await?);
        let signed = request::live_session_token_request_with(
            &base,
            &ctx,
            &c.access_token,
            &challenge,
            &c.prepend,
            request::Signer::RsaSha256Signed(&signature),
        )?;
        self.log(Level::Debug, &format!("handshake: POST {}", signed.url));
        let started = self.now();
        let o = &self.inner.opts;
        let v = post_oauth(
            &self.inner.host,
            &signed,
            o.timeout_ms,
            &o.user_agent,
            "the live session token request",
            |r| self.learn_clock(r),
        )
        .await?;
        let field = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let dh_response = field("diffie_hellman_response").ok_or_else(|| {
            Error::new(
                ErrorCode::BadDhResponse,
                "IBKR's answer has no diffie_hellman_response.",
            )
        })?;
        let signature = field("live_session_token_signature").ok_or_else(|| {
            Error::new(
                ErrorCode::BadDhResponse,
                "IBKR's answer has no live_session_token_signature.",
            )
        })?;
        let expires_at = v
            .get("live_session_token_expiration")
            .and_then(Value::as_f64)
            .unwrap_or_else(|| self.now() + 24.0 * 3600.0 * 1000.0);
        let token = oauth1::compute_lst(&c.dh, &dh_response, &a, &c.prepend)?;
        lst::check_lst(&token, &c.consumer_key, &signature)?;
        let took = self.now() - started;
        self.log(
            Level::Info,
            &format!(
                "live session token ready in {} ms; it expires in {} h",
                whole(took),
                tenths((expires_at - self.now()) / 3_600_000.0)
            ),
        );
        Ok((token, expires_at))
    }

    /// The `Authorization` value for a call: an HMAC-SHA256 signature with a fresh nonce and the
    /// (corrected) current time, a bearer token, or none for the gateway.
    /// `now` is the local time the caller already read (one clock read per signature).
    fn authorization(
        &self,
        method: &str,
        url: &str,
        token: &Token,
        now: f64,
    ) -> Result<Option<String>> {
        match &self.inner.auth {
            Auth::OAuth1(c) => {
                let nonce = request::generate_nonce()?;
                let ctx = c.context(&nonce, self.timestamp_at(now));
                // Made with every OAuth 1.0a token (run_handshake).
                let key = token
                    .hmac
                    .as_ref()
                    .ok_or_else(|| Error::new(ErrorCode::Internal, "the token has no HMAC key"))?;
                let authorization = request::api_authorization_keyed(
                    method,
                    url,
                    &ctx,
                    &c.access_token,
                    key,
                    self.inner.opts.sign_query,
                )?;
                Ok(Some(authorization))
            }
            Auth::OAuth2(_) => {
                // Built in place: no intermediate copy of the token is left unwiped.
                let bearer = String::from_utf8_lossy(token.secret.expose());
                let mut header = String::with_capacity(7 + bearer.len());
                header.push_str("Bearer ");
                header.push_str(&bearer);
                Ok(Some(header))
            }
            Auth::Gateway => Ok(None),
        }
    }

    fn is_gateway(&self) -> bool {
        matches!(self.inner.auth, Auth::Gateway)
    }

    fn invalidate(&self, generation: u64) {
        let mut st = self.inner.state.borrow_mut();
        if st
            .token
            .as_ref()
            .is_some_and(|t| t.generation == generation)
        {
            st.token = None;
        }
    }

    fn timestamp(&self) -> u64 {
        self.timestamp_at(self.now())
    }

    /// The OAuth timestamp (corrected for the server's clock) at local time `now`.
    fn timestamp_at(&self, now: f64) -> u64 {
        let offset = self.inner.state.borrow().clock_offset_ms;
        ((now + offset) / 1000.0).floor().max(0.0) as u64
    }

    fn learn_clock(&self, resp: &H::Response) {
        let Some(server) = resp
            .header("date")
            .and_then(|d| http_date::parse_http_date(&d))
        else {
            return;
        };
        let local = self.now();
        let skew = server - local;
        let mut st = self.inner.state.borrow_mut();
        if skew.abs() > SKEW_TOLERANCE_MS {
            st.clock_offset_ms = skew;
            if !st.skew_reported {
                st.skew_reported = true;
                drop(st);
                self.log(
                    Level::Warn,
                    &format!(
                        "this machine's clock is {} s {} IBKR's: timestamps are corrected by the server's Date header. Fix the clock (NTP).",
                        whole((skew / 1000.0).abs()),
                        if skew > 0.0 { "behind" } else { "ahead of" }
                    ),
                );
            }
        } else if st.clock_offset_ms != 0.0 {
            st.clock_offset_ms = 0.0;
        }
    }

    fn clock_skew_error(&self) -> Error {
        let offset = self.inner.state.borrow().clock_offset_ms;
        Error::new(
            ErrorCode::ClockSkew,
            format!(
                "IBKR rejected the request's timestamp: this machine's clock is off (measured offset to the server: {} s). \
                 Synchronise the clock (NTP) and retry.",
                whole(offset / 1000.0)
            ),
        )
    }

    fn standard_headers(&self, authorization: Option<String>) -> Vec<(String, String)> {
        let mut h = Vec::with_capacity(3);
        if let Some(a) = authorization {
            h.push(("Authorization".into(), a));
        }
        h.push(("User-Agent".into(), self.inner.opts.user_agent.clone()));
        h.push(("Accept".into(), "application/json".into()));
        h
    }

    /// Whether `url` is on one of the session's API bases (only those get a signature).
    pub fn is_own_url(&self, url: &str) -> bool {
        self.own_prefix(url).is_some()
    }

    /// For an absolute URL on one of our bases: the length of the base part of `url.trim()`
    /// (ASCII case-insensitive; the base must end at `/`, `?` or the end). No allocation: this
    /// runs on every signature.
    fn own_prefix(&self, url: &str) -> Option<usize> {
        let url = url.trim();
        let st = self.inner.state.borrow();
        st.bases.iter().find_map(|b| {
            let base = b.trim().trim_end_matches('/');
            let head = url.get(..base.len())?;
            let rest = url.get(base.len()..)?;
            (head.eq_ignore_ascii_case(base)
                && matches!(rest.as_bytes().first(), None | Some(b'/' | b'?')))
            .then_some(base.len())
        })
    }

    /// For an absolute URL on one of our bases: the path after the base, with its query.
    fn split_own(&self, url: &str) -> Option<String> {
        let n = self.own_prefix(url)?;
        Some(url.trim().get(n..).unwrap_or_default().to_owned())
    }

    /// The URL for a call on the current base, and the path used for pacing.
    fn resolve(&self, call: &Call<H::Value>) -> Result<(String, String)> {
        let rel = if call.target.starts_with("http://") || call.target.starts_with("https://") {
            self.split_own(&call.target).ok_or_else(|| {
                Error::invalid_argument("the URL is not on this session's API base URL; the session signs only its own hosts.")
            })?
        } else {
            call.target.clone()
        };
        let rel = if matches!(rel.as_bytes().first(), None | Some(b'/' | b'?')) {
            rel
        } else {
            format!("/{rel}")
        };
        let mut url = format!("{}{}", self.base_url().trim_end_matches('/'), rel);
        if !call.query.is_empty() {
            url.push(if url.contains('?') { '&' } else { '?' });
            for (i, (k, v)) in call.query.iter().enumerate() {
                if i > 0 {
                    url.push('&');
                }
                url.push_str(&pct_encode(k));
                url.push('=');
                url.push_str(&pct_encode(v));
            }
        }
        let end = rel.bytes().position(|b| b == b'?' || b == b'#');
        let path = rel
            .get(..end.unwrap_or(rel.len()))
            .unwrap_or_default()
            .to_owned();
        Ok((url, path))
    }

    /// Waits until the pacer lets a call to `path` go, and returns the token to sign it with.
    /// The pacer records the send when it admits it, so the token (which may need a handshake,
    /// and a handshake takes a while) comes first and nothing is awaited between the admission
    /// and the send. After a wait the token is looked up again: it may have expired meanwhile.
    async fn pace(&self, path: &str) -> Result<Rc<Token>> {
        loop {
            let token = self.token().await?;
            let wait = {
                let now = self.now();
                self.inner.state.borrow_mut().pacer.acquire(path, now)
            };
            if wait <= 0.0 {
                return Ok(token);
            }
            let wait_ms = wait.ceil() as u64;
            self.log(Level::Debug, &format!("pacing: {path} waits {wait_ms} ms"));
            self.inner.host.sleep(wait_ms).await;
        }
    }

    async fn backoff(&self, attempt: u32, what: &str) {
        let base = 250.0 * 2f64.powi(attempt.min(8) as i32);
        let ms = (base * (0.5 + jitter_fraction())).min(5_000.0) as u64;
        self.log(
            Level::Warn,
            &format!("{what}; retrying in {ms} ms (attempt {})", attempt + 1),
        );
        self.inner.host.sleep(ms).await;
    }

    /// Signs and sends a call, recovering where that is safe. Returns the final response
    /// whatever its status (see [`Session::request`] for errors by status); fails on a failed
    /// handshake, or a network error that cannot be retried.
    pub async fn send(&self, call: Call<H::Value>) -> Result<H::Response> {
        let idempotent = call.is_idempotent();
        let (mut retried_401, mut retried_bridge, mut retried_410, mut attempts) =
            (false, false, false, 0u32);
        loop {
            let (url, path) = self.resolve(&call)?;
            let token = self.pace(&path).await?;
            let authorization = self.authorization(&call.method, &url, &token, self.now())?;
            let mut headers = self.standard_headers(authorization);
            headers.retain(|(k, _)| {
                !call.headers.iter().any(|(ck, _)| {
                    ck.eq_ignore_ascii_case(k) && !k.eq_ignore_ascii_case("authorization")
                })
            });
            headers.extend(
                call.headers
                    .iter()
                    .filter(|(k, _)| !k.eq_ignore_ascii_case("authorization"))
                    .cloned(),
            );
            let body = call.body.clone().or_else(|| {
                (call.method == "POST" || call.method == "PUT")
                    .then(|| self.inner.host.text_body(""))
            });
            let req = HttpRequest {
                method: call.method.clone(),
                url,
                headers,
                body,
                signal: call.signal.clone(),
                timeout_ms: self.inner.opts.timeout_ms,
                manual_redirect: self.is_gateway(),
            };
            self.log(Level::Debug, &format!("→ {} {path}", call.method));
            let started = self.now();
            let resp = match self.inner.host.fetch(&req).await {
                Ok(r) => r,
                Err(e)
                    if idempotent
                        && attempts < self.inner.opts.max_retries
                        && matches!(e.code(), ErrorCode::Network | ErrorCode::Timeout) =>
                {
                    self.backoff(attempts, &format!("{} {path}: {}", call.method, e.code()))
                        .await;
                    attempts += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            self.learn_clock(&resp);
            let status = resp.status();
            self.log(
                Level::Debug,
                &format!(
                    "← {status} {} {path} ({} ms)",
                    call.method,
                    whole(self.now() - started)
                ),
            );
            match status {
                401 if !retried_401 && !self.is_gateway() => {
                    let msg = server_message(&resp).await;
                    retried_401 = true;
                    self.log(
                        Level::Warn,
                        &format!(
                            "{} {path}: 401 ({}); one new token and one retry",
                            call.method,
                            msg.as_deref().unwrap_or("no message")
                        ),
                    );
                    self.invalidate(token.generation);
                    continue;
                }
                410 => {
                    self.invalidate(token.generation);
                    self.next_base();
                    if idempotent && !retried_410 {
                        retried_410 = true;
                        continue;
                    }
                    return Ok(resp);
                }
                400 if !retried_bridge => {
                    let msg = server_message(&resp).await;
                    if !is_no_bridge(msg.as_deref()) {
                        return Ok(resp);
                    }
                    retried_bridge = true;
                    self.log(
                        Level::Warn,
                        &format!(
                            "{} {path}: no brokerage session (\"no bridge\"); calling ssodh/init",
                            call.method
                        ),
                    );
                    self.init_brokerage(self.inner.opts.compete, true).await?;
                    if idempotent {
                        continue;
                    }
                    return Ok(resp);
                }
                429 if idempotent && attempts < self.inner.opts.max_retries => {
                    // Retry-After in whole seconds (an HTTP-date or anything else: 1 s).
                    let secs = resp
                        .header("retry-after")
                        .and_then(|s| s.trim().parse::<u64>().ok())
                        .unwrap_or(1)
                        .min(120);
                    self.log(
                        Level::Warn,
                        &format!(
                            "{} {path}: 429; waiting {secs} s as Retry-After says",
                            call.method
                        ),
                    );
                    self.inner.host.sleep(secs * 1000).await;
                    attempts += 1;
                    continue;
                }
                500..=599 if idempotent && attempts < self.inner.opts.max_retries => {
                    self.backoff(attempts, &format!("{} {path}: HTTP {status}", call.method))
                        .await;
                    attempts += 1;
                    continue;
                }
                _ => return Ok(resp),
            }
        }
    }

    fn next_base(&self) {
        let mut st = self.inner.state.borrow_mut();
        let n = st.bases.len();
        if n > 1 {
            st.base_index = (st.base_index + 1) % n;
            let to = st.bases.get(st.base_index).cloned().unwrap_or_default();
            drop(st);
            self.log(Level::Warn, &format!("410 Gone: moving to {to}"));
        }
    }

    /// [`Session::send`], then the body text of a 2xx response, or an error named by the status.
    pub async fn request(&self, call: Call<H::Value>) -> Result<String> {
        self.request_response(call).await?.text().await
    }

    /// [`Self::request`] without reading the body: a 2xx response as it is (the host reads a
    /// body the session has no use for itself, so it never crosses into the core), or the error.
    pub async fn request_response(&self, call: Call<H::Value>) -> Result<H::Response> {
        let method = call.method.clone();
        let target = call.target.clone();
        let resp = self.send(call).await?;
        let status = resp.status();
        if (200..300).contains(&status) {
            return Ok(resp);
        }
        let msg = server_message(&resp).await;
        Err(self.status_error(status, msg, &method, &target))
    }

    fn status_error(&self, status: u16, msg: Option<String>, method: &str, target: &str) -> Error {
        if self.is_gateway() && matches!(status, 0 | 301 | 302 | 303 | 307 | 401) {
            return Error::new(
                ErrorCode::Unauthorized,
                format!(
                    "{method} {target}: the Client Portal Gateway is not logged in (it answered {}). Log in once in a browser on \
                     the gateway machine (its https://localhost:5000 page) or headless with gatewayLogin() (Node) or \
                     `ibkr-auth gateway login`, then call ensureAuthenticated(). A 401 can also mean \
                     a mismatched Origin or Referer header.",
                    if status == 401 { "401".to_owned() } else { "with a redirect to its login page".to_owned() }
                ),
            )
            .with_http(status, msg);
        }
        let e = match status {
            401 if mentions_timestamp(msg.as_deref()) => self.clock_skew_error(),
            401 => Error::new(
                ErrorCode::Unauthorized,
                format!(
                    "{method} {target}: IBKR answered 401 even with a fresh {}",
                    match self.inner.auth {
                        Auth::OAuth2(_) => "SSO session. Check clientId, clientKeyId, the username and the public IP.",
                        _ => "live session token. Check the consumer key, the access token and the realm.",
                    }
                ),
            ),
            410 => Error::new(ErrorCode::Gone, format!("{method} {target}: IBKR answered 410 Gone. Log in again, or add other hosts (the `hosts` option).")),
            400 if is_no_bridge(msg.as_deref()) => Error::new(
                ErrorCode::NoBridge,
                format!("{method} {target}: no brokerage session (\"no bridge\"). The session called ssodh/init; send the request again (it was not repeated because it is not idempotent)."),
            ),
            429 => Error::new(ErrorCode::RateLimited, format!("{method} {target}: IBKR's rate limit (429). Slow down; pacing is on by default.")),
            _ => Error::new(ErrorCode::HttpError, format!("{method} {target} failed with HTTP {status}.")),
        };
        e.with_http(status, msg)
    }

    /// The signed headers at once, when the token is fresh and nothing needs awaiting; `None`
    /// when a handshake is needed first (use [`Session::authorize`]).
    pub fn authorize_now(&self, method: &str, url: &str) -> Option<Result<Vec<(String, String)>>> {
        let now = self.now();
        let token = {
            let st = self.inner.state.borrow();
            st.token
                .clone()
                .filter(|t| now + self.inner.opts.refresh_margin_ms < t.expires_at)?
        };
        Some(
            self.authorization(method, url, &token, now)
                .map(|a| self.standard_headers(a)),
        )
    }

    /// The signed headers for a request made with another HTTP client.
    pub async fn authorize(&self, method: &str, url: &str) -> Result<Vec<(String, String)>> {
        let token = self.token().await?;
        let authorization = self.authorization(method, url, &token, self.now())?;
        Ok(self.standard_headers(authorization))
    }

    async fn json_call(&self, mut call: Call<H::Value>, idempotent: bool) -> Result<String> {
        call.idempotent = Some(idempotent);
        self.request(call).await
    }

    /// `POST /iserver/auth/ssodh/init {"publish","compete"}`: opens the brokerage session.
    pub async fn init_brokerage(&self, compete: bool, publish: bool) -> Result<String> {
        let mut call = Call::new("POST", "/iserver/auth/ssodh/init");
        call.body = Some(
            self.inner
                .host
                .text_body(&format!("{{\"publish\":{publish},\"compete\":{compete}}}")),
        );
        call.headers
            .push(("Content-Type".into(), "application/json".into()));
        let text = Box::pin(self.json_call(call, false)).await?;
        self.log(Level::Info, "brokerage session initialised (ssodh/init)");
        Ok(text)
    }

    /// `POST /iserver/auth/status`.
    pub async fn status(&self) -> Result<String> {
        self.json_call(Call::new("POST", "/iserver/auth/status"), true)
            .await
    }

    /// `POST /tickle`.
    pub async fn tickle(&self) -> Result<String> {
        self.json_call(Call::new("POST", "/tickle"), true).await
    }

    /// `GET /sso/validate`.
    pub async fn validate(&self) -> Result<String> {
        self.json_call(Call::new("GET", "/sso/validate"), true)
            .await
    }

    /// `POST /logout`, then forget the live session token.
    pub async fn logout(&self) -> Result<String> {
        let text = self.json_call(Call::new("POST", "/logout"), false).await?;
        self.inner.state.borrow_mut().token = None;
        self.log(Level::Info, "logged out");
        Ok(text)
    }

    /// `POST /iserver/reauthenticate` (deprecated by IBKR in favour of ssodh/init, still what
    /// gateway keepers use).
    pub async fn reauthenticate(&self) -> Result<String> {
        self.json_call(Call::new("POST", "/iserver/reauthenticate"), false)
            .await
    }

    /// Makes sure the brokerage session is authenticated: status; if not, ssodh/init (falling
    /// back to reauthenticate), validate, and poll the status until it is, or a clear error.
    /// A competing session is taken over only with `compete`.
    pub async fn ensure_authenticated(&self, compete: bool) -> Result<String> {
        let flags = |text: &str| {
            let v = serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
            let b = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
            (b("authenticated"), b("competing"))
        };
        let status = self.status().await?;
        let (authenticated, competing) = flags(&status);
        if authenticated && !competing {
            return Ok(status);
        }
        if competing && !compete {
            return Err(Error::new(
                ErrorCode::Unauthorized,
                "another session (TWS, IBKR Mobile or the web portal) holds the brokerage session (competing). Pass \
                 compete: true to take it over; that session will be disconnected.",
            ));
        }
        if let Err(e) = self.init_brokerage(compete, true).await {
            self.log(
                Level::Warn,
                &format!(
                    "ssodh/init failed ({}: {}); trying reauthenticate",
                    e.code(),
                    e.message()
                ),
            );
            self.reauthenticate().await?;
        }
        if let Err(e) = self.validate().await {
            self.log(
                Level::Warn,
                &format!("sso/validate failed: {}: {}", e.code(), e.message()),
            );
        }
        for _ in 0..self.inner.opts.auth_polls {
            let status = self.status().await?;
            if flags(&status) == (true, false) {
                self.log(Level::Info, "brokerage session authenticated");
                return Ok(status);
            }
            self.inner.host.sleep(self.inner.opts.auth_poll_ms).await;
        }
        Err(Error::new(
            ErrorCode::Unauthorized,
            format!(
                "the brokerage session is still not authenticated after ssodh/init{} and {} status checks. Log in again{}.",
                if self.is_gateway() { ", reauthenticate" } else { "" },
                self.inner.opts.auth_polls,
                if self.is_gateway() { " in a browser on the gateway machine" } else { "" }
            ),
        ))
    }

    /// One keep-alive round: for OAuth 2.0 without a fixed IP, notice an IP change; tickle; and
    /// re-initialise a brokerage session that is not authenticated. A competing session is taken
    /// over only with the `compete` option. A gateway still unauthenticated after that is logged
    /// out and initialised again (the "active but not authenticated" repair).
    pub async fn keep_alive_tick(&self) -> Result<KeepAliveReport> {
        self.check_ip().await?;
        let text = self.tickle().await?;
        let v = serde_json::from_str::<Value>(&text).unwrap_or(Value::Null);
        let auth = v.pointer("/iserver/authStatus");
        let authenticated = auth
            .and_then(|a| a.get("authenticated"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let competing = auth
            .and_then(|a| a.get("competing"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
            || v.get("collission")
                .and_then(Value::as_bool)
                .unwrap_or(false);
        if authenticated && !competing {
            self.log(
                Level::Debug,
                "keep-alive: tickled; brokerage session authenticated",
            );
            return Ok(KeepAliveReport {
                authenticated: true,
                reinitialised: false,
            });
        }
        let compete = self.inner.opts.compete;
        if competing && !compete {
            self.log(Level::Warn, "keep-alive: another session holds the brokerage session (competing); not taking it over (compete: false)");
            return Ok(KeepAliveReport {
                authenticated: false,
                reinitialised: false,
            });
        }
        self.log(
            Level::Warn,
            &format!(
                "keep-alive: brokerage session {}; re-initialising",
                if competing {
                    "taken by another session (competing)"
                } else {
                    "not authenticated"
                }
            ),
        );
        match self.ensure_authenticated(compete).await {
            Ok(_) => Ok(KeepAliveReport {
                authenticated: true,
                reinitialised: true,
            }),
            Err(e)
                if self.is_gateway()
                    && e.code() == ErrorCode::Unauthorized
                    && e.status().is_none() =>
            {
                self.log(
                    Level::Warn,
                    "keep-alive: still not authenticated; logging out and initialising again",
                );
                self.json_call(Call::new("POST", "/logout"), false).await?;
                self.ensure_authenticated(compete).await?;
                Ok(KeepAliveReport {
                    authenticated: true,
                    reinitialised: true,
                })
            }
            Err(e) => Err(e),
        }
    }
}
