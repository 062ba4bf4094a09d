//! The session lifecycle over an injected [`Host`]: when a live session token is needed, one
//! handshake at a time however many callers wait, refresh before expiry, recovery from 401, 410,
//! "no bridge", 429, 5xx and network errors, pacing, the server's clock, and keep-alive.
//!
//! Retries never duplicate an order: a request that is not idempotent (anything but GET, HEAD,
//! OPTIONS and the session's own status calls) is sent again only after a 401, which IBKR
//! returns before processing anything.
//!
//! One file per idea; the decisions are pure, and this file is the thin async driver that does
//! the I/O over the host:
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`Options`], [`Call`], [`Session`]; `send` (sign, pace, fetch, then act on [`recovery::decide`]) |
//! | `token.rs` | the token cache: freshness, generations, the shared handshake, back-off; `obtain`, where a token comes from |
//! | [`fleet`] | the shared token store: lease, generations, fleet-wide back-off, degrading when the store is down |
//! | [`recovery`] | what to do with each answer (README's "Recovery" table), and the error of a final status |
//! | `auth/` | the kinds behind one trait: `oauth1.rs`, `oauth2.rs`, `gateway.rs` |
//! | `brokerage.rs` | `ssodh/init`, status, tickle, validate, logout, reauthenticate, `ensure_authenticated`, keep-alive |
//! | `url.rs` | the API base URLs: switching, the session's own URLs, resolving a call's target |
//! | `clock.rs` | the server's clock from its `Date` header; OAuth timestamps |
//! | [`websocket`] | the streaming WebSocket: its URL, headers and session value per kind, and what to do on each close |
//! | [`pacing`], [`flight`], [`host`], [`http_date`], [`third_party`] | rate limits, single flight, the host trait, `Date` parsing, the third-party flow |

mod auth;
mod brokerage;
mod clock;
pub mod fleet;
pub mod flight;
pub mod host;
pub mod http_date;
pub mod pacing;
pub mod recovery;
pub mod third_party;
mod token;
pub(crate) mod url;
pub mod websocket;

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::oauth1::{lst, request};
pub(crate) use auth::post_oauth;
use auth::AuthKind;
pub use auth::{Auth, Oauth1Credentials, Oauth1Inputs, Oauth2Credentials};
pub use brokerage::KeepAliveReport;
pub use host::{Host, HttpRequest, HttpResponse, Level};
pub use pacing::Pacer;
use recovery::{Action, Observed, Outcome, Retries};
pub use token::RefreshReport;
use token::Token;

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
    /// How the session uses a shared token store, when its host has one.
    pub store: fleet::StoreOptions,
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
            store: fleet::StoreOptions::default(),
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
    /// A "no bridge" answer starts the brokerage repair (true, the default); false for the
    /// repair's own calls.
    pub(crate) no_bridge_repair: bool,
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
            no_bridge_repair: true,
        }
    }

    fn is_idempotent(&self) -> bool {
        self.idempotent
            .unwrap_or(matches!(self.method.as_str(), "GET" | "HEAD" | "OPTIONS"))
    }
}

/// The session's mutable state: each part belongs to its file.
struct State {
    /// The token cache (`token.rs`).
    tokens: token::Cache,
    /// The API base URLs (`url.rs`).
    bases: url::Bases,
    /// The offset to the server's clock (`clock.rs`).
    clock: clock::Clock,
    /// Client-side rate limits.
    pacer: Pacer,
    /// The public IP the current OAuth 2.0 session was made for (`auth/oauth2.rs`).
    session_ip: Option<String>,
    /// The streaming WebSocket's session value and the token generation it is for (`websocket.rs`).
    ws_session: Option<websocket::SessionValue>,
}

struct Inner<H: Host> {
    host: H,
    auth: Auth,
    opts: Options,
    /// The shared token store's protocol, when the host has a store.
    fleet: Option<fleet::Fleet>,
    state: RefCell<State>,
}

/// A session (OAuth 1.0a, OAuth 2.0 or the gateway). Cheap to clone; clones share the token and
/// state.
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

/// IBKR's message in a response: the JSON `error` or `message`, else at most 300 characters of
/// the text.
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
            url::check_base(b)?;
        }
        let bases = url::Bases::new(&opts.base_urls);
        let fleet = if host.has_store() {
            let account = auth.fleet_account(&bases.current())?;
            let handshake_ms = opts.timeout_ms.saturating_mul(auth.handshake_requests());
            Some(fleet::Fleet::new(
                account,
                opts.store.clone(),
                handshake_ms,
            )?)
        } else {
            None
        };
        let state = State {
            tokens: token::Cache::default(),
            bases,
            clock: clock::Clock::default(),
            pacer: opts.pacer.clone(),
            session_ip: None,
            ws_session: None,
        };
        Ok(Session {
            inner: Rc::new(Inner {
                host,
                auth,
                opts,
                fleet,
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

    fn log(&self, level: Level, message: &str) {
        self.inner.host.log(level, message);
    }

    fn now(&self) -> f64 {
        self.inner.host.now_ms()
    }

    fn is_gateway(&self) -> bool {
        self.inner.auth.is_gateway()
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

    /// The signed headers at once, when the token is fresh and nothing needs awaiting; `None`
    /// when a handshake is needed first (use [`Session::authorize`]).
    pub fn authorize_now(&self, method: &str, url: &str) -> Option<Result<Vec<(String, String)>>> {
        let now = self.now();
        let token = self
            .inner
            .state
            .borrow()
            .tokens
            .fresh(now, self.inner.opts.refresh_margin_ms)?;
        Some(
            self.inner
                .auth
                .authorization(self, &token, method, url, now)
                .map(|a| self.standard_headers(a)),
        )
    }

    /// The signed headers for a request made with another HTTP client.
    pub async fn authorize(&self, method: &str, url: &str) -> Result<Vec<(String, String)>> {
        let token = self.token().await?;
        let authorization = self
            .inner
            .auth
            .authorization(self, &token, method, url, self.now())?;
        Ok(self.standard_headers(authorization))
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

    /// The request for one send of `call` to `url`, signed with `token`.
    fn signed_request(
        &self,
        call: &Call<H::Value>,
        url: String,
        token: &Token,
    ) -> Result<HttpRequest<H::Value>> {
        let authorization =
            self.inner
                .auth
                .authorization(self, token, &call.method, &url, self.now())?;
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
            (call.method == "POST" || call.method == "PUT").then(|| self.inner.host.text_body(""))
        });
        Ok(HttpRequest {
            method: call.method.clone(),
            url,
            headers,
            body,
            signal: call.signal.clone(),
            timeout_ms: self.inner.opts.timeout_ms,
            manual_redirect: self.is_gateway(),
        })
    }

    /// Signs and sends a call, recovering where that is safe. Returns the final response
    /// whatever its status (see [`Session::request`] for errors by status); fails on a failed
    /// handshake, or a network error that cannot be retried. What to do after each send is
    /// [`recovery::decide`]'s; this loop only does it.
    pub async fn send(&self, call: Call<H::Value>) -> Result<H::Response> {
        let mut retries = Retries {
            init_brokerage: !call.no_bridge_repair,
            ..Retries::default()
        };
        loop {
            let (url, path) = self.resolve(&call)?;
            let token = self.pace(&path).await?;
            let req = self.signed_request(&call, url, &token)?;
            self.log(Level::Debug, &format!("→ {} {path}", call.method));
            let started = self.now();
            let mut seen = Observed {
                outcome: Outcome::Status(0),
                message: None,
                retry_after: None,
                retries,
                idempotent: call.is_idempotent(),
                is_gateway: self.is_gateway(),
                token_adopted: token.adopted,
                max_retries: self.inner.opts.max_retries,
            };
            let resp = match self.inner.host.fetch(&req).await {
                Ok(r) => r,
                Err(e) => {
                    seen.outcome = Outcome::Error(e.code());
                    let action = recovery::decide(&seen);
                    if action != Action::BackoffAndRetry {
                        return Err(e);
                    }
                    let what = format!("{} {path}: {}", call.method, e.code());
                    self.backoff(retries.attempts, &what).await;
                    retries = retries.after(action);
                    continue;
                }
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
            seen.outcome = Outcome::Status(status);
            let message = if recovery::needs_message(&seen) {
                server_message(&resp).await
            } else {
                None
            };
            let retry_after = if status == 429 {
                resp.header("retry-after")
            } else {
                None
            };
            let action = recovery::decide(&Observed {
                message: message.as_deref(),
                retry_after: retry_after.as_deref(),
                ..seen
            });
            let attempt = retries.attempts;
            retries = retries.after(action);
            match action {
                Action::Return | Action::Fail => return Ok(resp),
                Action::NewTokenAndRetry => {
                    self.log(
                        Level::Warn,
                        &format!(
                            "{} {path}: 401 ({}); one new token and one retry",
                            call.method,
                            message.as_deref().unwrap_or("no message")
                        ),
                    );
                    self.invalidate(token.generation);
                }
                Action::NextHostAndRetry | Action::NextHostAndReturn => {
                    self.invalidate(token.generation);
                    self.next_base();
                    if action == Action::NextHostAndReturn {
                        return Ok(resp);
                    }
                }
                Action::InitBrokerageAndRetry | Action::InitBrokerageAndReturn => {
                    self.log(
                        Level::Warn,
                        &format!(
                            "{} {path}: no brokerage session (\"no bridge\"); calling ssodh/init",
                            call.method
                        ),
                    );
                    self.repair_brokerage(self.inner.opts.compete, brokerage::Init::Repair)
                        .await?;
                    if action == Action::InitBrokerageAndReturn {
                        return Ok(resp);
                    }
                }
                Action::WaitAndRetry { secs } => {
                    self.log(
                        Level::Warn,
                        &format!(
                            "{} {path}: 429; waiting {secs} s as Retry-After says",
                            call.method
                        ),
                    );
                    self.inner.host.sleep(secs * 1000).await;
                }
                Action::BackoffAndRetry => {
                    self.backoff(attempt, &format!("{} {path}: HTTP {status}", call.method))
                        .await;
                }
            }
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
        let cx = recovery::ErrorContext {
            is_gateway: self.is_gateway(),
            hint_401: self.inner.auth.hint_on_401(),
            clock_offset_ms: self.clock_offset_ms(),
        };
        Err(recovery::status_error(status, msg, &method, &target, &cx))
    }
}
