//! The streaming WebSocket's authentication, for every kind of session: what to open
//! ([`WsInfo`]: the URL, the headers, the cookie and the `{"session":…}` message), the session
//! value `/tickle` returns (kept per token generation: a new token means a new value), and what
//! to do when the socket closes ([`decide_close`]: reconnect now, after a back-off, with a new
//! session value, after repairing the brokerage session, or give up with a typed error). The
//! socket itself is the host's (JavaScript's `IbkrStream`); the decisions are here so that every
//! runtime makes the same ones.
//!
//! How IBKR authenticates the socket (its "Websockets" page; ibind's `IbkrWsClient`):
//!
//! | kind | URL | upgrade headers | without headers (browsers) |
//! |---|---|---|---|
//! | OAuth 1.0a | `wss://…/v1/api/ws?oauth_token=<access token>` | `Cookie: api=<session>`, `User-Agent` | first message `{"session":"<session>"}` |
//! | OAuth 2.0 | `wss://…/v1/api/ws` | `Authorization: Bearer <bearer>`, `Cookie: api=<session>`, `User-Agent` | the same first message |
//! | gateway | `wss://localhost:5000/v1/api/ws` | `Cookie: api={"session":"<session>"}`, `User-Agent` | the same first message |
//!
//! `<session>` is the `session` field of a `POST /tickle` answer made with the current token.

use zeroize::Zeroizing;

use super::auth::{Auth, AuthKind};
use super::brokerage::{tickle_answer, tickle_flags_of};
use super::url::without_query;
use super::{Host, Level, Session};
use crate::encoding::pct_encode;
use crate::error::{Error, ErrorCode, Result};

/// The `tic` keep-alive message's default interval: half of the 60 s after which IBKR closes a
/// socket it has heard nothing on.
pub const TIC_MS: u64 = 30_000;
/// The default interval of the keep-alive round (`/tickle` and the brokerage repair) a stream
/// runs: one a minute, as `keepAlive`.
pub const KEEP_ALIVE_MS: u64 = 60_000;
/// The longest pause between two reconnects.
pub const MAX_BACKOFF_MS: u64 = 30_000;
/// Refusals of the socket in a row, each with a new session value, before giving up.
pub const MAX_AUTH_REFUSALS: u32 = 2;
/// Attempts at a stream's first socket before giving up (the back-off between them adds up to
/// about 15 s). Once a socket of the stream has authenticated, it reconnects for as long as it
/// is open.
pub const MAX_OPEN_ATTEMPTS: u32 = 6;

/// What the host needs to open an authenticated socket. Holds secrets (the session value, and
/// for OAuth 2.0 the bearer in `headers`): never log it.
pub struct WsInfo {
    /// `wss://…/ws` (`ws://` on an `http://` base), with `oauth_token` for OAuth 1.0a.
    pub url: String,
    /// The upgrade request's headers, for runtimes that can send them.
    pub headers: Vec<(String, Zeroizing<String>)>,
    /// The `Cookie` header's value.
    pub cookie: Zeroizing<String>,
    /// The session value from `/tickle`.
    pub session: Zeroizing<String>,
    /// `{"session":"<session>"}`, for runtimes that cannot send headers.
    pub first_message: Zeroizing<String>,
    /// The generation of the token the session value belongs to.
    pub generation: u64,
}

impl std::fmt::Debug for WsInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsInfo")
            .field("url", &without_query(&self.url))
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

/// The session value `/tickle` gave for a token generation.
pub(crate) struct SessionValue {
    pub(crate) generation: u64,
    pub(crate) value: Zeroizing<String>,
}

/// The API base `https://host/v1/api` → `wss://host/v1/api/ws` (`http` → `ws`).
pub fn ws_url(base: &str) -> Result<String> {
    let base = base.trim().trim_end_matches('/');
    let rest = if let Some(r) = strip_prefix_ci(base, "https://") {
        format!("wss://{r}")
    } else if let Some(r) = strip_prefix_ci(base, "http://") {
        format!("ws://{r}")
    } else {
        return Err(Error::invalid_argument(
            "the API base URL must start with https:// or http:// to derive the WebSocket URL.",
        ));
    };
    Ok(format!("{rest}/ws"))
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

/// The `session` field of a `/tickle` answer (parsed), if it is there and plain (letters,
/// digits, `-`, `_`, `.`: it goes into a cookie and a JSON string unescaped).
pub fn tickle_session(v: &serde_json::Value) -> Option<Zeroizing<String>> {
    let s = v.get("session")?.as_str()?;
    let plain = !s.is_empty()
        && s.len() <= 256
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    plain.then(|| Zeroizing::new(s.to_owned()))
}

/// The `Cookie` value: `api=<session>`; the gateway's is `api={"session":"<session>"}`, as
/// ibind sends it.
pub fn cookie(gateway: bool, session: &str) -> Zeroizing<String> {
    Zeroizing::new(if gateway {
        format!("api={{\"session\":\"{session}\"}}")
    } else {
        format!("api={session}")
    })
}

/// The first message for runtimes that cannot set headers: `{"session":"<session>"}`.
pub fn first_message(session: &str) -> Zeroizing<String> {
    Zeroizing::new(format!("{{\"session\":\"{session}\"}}"))
}

/// How a socket ended, as the host saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Closed {
    /// The close code (1006 when the connection broke or never opened).
    pub code: u16,
    /// The close reason (IBKR's words; never holds our secret).
    pub reason: String,
    /// The socket had opened.
    pub opened: bool,
    /// IBKR had confirmed it authenticated (`{"topic":"system","success":…}`).
    pub authenticated: bool,
    /// The HTTP status of a refused upgrade, where the runtime tells it (Node's `ws`, Workers).
    pub http_status: Option<u16>,
    /// Reconnects since a socket last stayed authenticated for a `tic` interval (not merely
    /// authenticated: a server that closes each socket right after it authenticates must not
    /// make a loop without back-off).
    pub attempt: u32,
    /// Refusals in a row (each after a new session value).
    pub auth_refusals: u32,
    /// Getting the session value failed with this code (no socket was opened).
    pub prepare_error: Option<ErrorCode>,
    /// A socket of this stream has authenticated before: it is a reconnect of a stream that
    /// worked, not its first open.
    pub streamed: bool,
    /// IBKR's `sts` said the brokerage session is not authenticated, and the stream closed the
    /// socket itself to reopen it once the session is repaired.
    pub brokerage_lost: bool,
}

/// What to do after a close.
#[derive(Debug, Clone, PartialEq)]
pub enum CloseAction {
    /// Open again.
    Reconnect {
        /// After this pause.
        delay_ms: u64,
        /// Ask `/tickle` for the session value again (even if one for this token is known).
        fresh: bool,
        /// Make sure the brokerage session is authenticated first (the keep-alive's repair).
        repair: bool,
        /// The close counts as a refusal (the next one in a row fails).
        refused: bool,
    },
    /// Give up with this error.
    Fail(Error),
}

/// The pause before reconnect number `attempt` (0-based): 500 ms doubling to 30 s, times
/// 0.75–1.25 by `jitter` (0–1) so that a fleet does not reconnect in step.
pub fn backoff_ms(attempt: u32, jitter: f64) -> u64 {
    let base = (500u64 << attempt.min(16)).min(MAX_BACKOFF_MS) as f64;
    (base * (0.75 + 0.5 * jitter.clamp(0.0, 1.0))).round() as u64
}

/// Whether the close refused the socket's authentication: a 401 or 403 on the upgrade, or a
/// 1008 (policy violation) before IBKR confirmed the socket authenticated. A 1008 on a socket
/// already authenticated says its session ended, as 4001 does; it is not counted as a refusal.
fn is_refusal(c: &Closed) -> bool {
    matches!(c.http_status, Some(401 | 403)) || (c.code == 1008 && !c.authenticated)
}

/// What to do when the socket closed (the host's `close()` excepted: that ends the stream).
/// `what_to_check` is the kind's hint for the error message.
///
/// A stream's first socket gets [`MAX_OPEN_ATTEMPTS`]: then it gives up with the last failure's
/// code (`WS_UNAUTHENTICATED` for a refusal, `NETWORK` for another close), so that opening a
/// stream to a host it cannot reach ends.
pub fn decide_close(c: &Closed, jitter: f64, what_to_check: &str) -> CloseAction {
    match decide(c, jitter, what_to_check) {
        CloseAction::Reconnect { .. } if !c.streamed && c.attempt + 1 >= MAX_OPEN_ATTEMPTS => {
            let code = match c.prepare_error {
                Some(code) => code,
                None if is_refusal(c) => ErrorCode::WebSocketUnauthenticated,
                None => ErrorCode::Network,
            };
            CloseAction::Fail(Error::new(
                code,
                format!(
                    "the streaming WebSocket could not be opened: {MAX_OPEN_ATTEMPTS} attempts in a row failed (the last: {}). Check that the API base URL is right and reachable from here (its /ws path too, through any proxy). {what_to_check}",
                    what_happened(c)
                ),
            ))
        }
        action => action,
    }
}

fn decide(c: &Closed, jitter: f64, what_to_check: &str) -> CloseAction {
    let backoff = backoff_ms(c.attempt, jitter);
    if let Some(code) = c.prepare_error {
        // The session value could not be had: transient failures are retried, IBKR's verdicts
        // on the credentials are not. An answer that is not what IBKR sends (a proxy's or a
        // maintenance page) ends a first open, where it most likely means a wrong base URL; a
        // stream that worked retries it.
        let transient = matches!(
            code,
            ErrorCode::Network
                | ErrorCode::Timeout
                | ErrorCode::RateLimited
                | ErrorCode::HttpError
                | ErrorCode::NoBridge
                | ErrorCode::Gone
        ) || (code == ErrorCode::UnexpectedResponse && c.streamed);
        return if transient {
            CloseAction::Reconnect {
                delay_ms: backoff,
                fresh: true,
                repair: code == ErrorCode::NoBridge,
                refused: false,
            }
        } else {
            CloseAction::Fail(Error::new(
                code,
                format!("the streaming WebSocket cannot reconnect: preparing it (the token, the brokerage session's status, POST /tickle for its session value) failed with {code}. {what_to_check}"),
            ))
        };
    }
    if is_refusal(c) {
        if c.auth_refusals + 1 >= MAX_AUTH_REFUSALS {
            let how = match c.http_status {
                Some(s) if !c.opened => format!("HTTP {s} on the upgrade"),
                _ => format!(
                    "close {}{}",
                    c.code,
                    if c.reason.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", c.reason)
                    }
                ),
            };
            return CloseAction::Fail(
                Error::new(
                    ErrorCode::WebSocketUnauthenticated,
                    format!(
                        "IBKR refused the streaming WebSocket as unauthenticated ({how}), {} times in a row, each with a new session value from /tickle. {what_to_check}",
                        c.auth_refusals + 1
                    ),
                )
                .with_server_message(c.reason.clone()),
            );
        }
        return CloseAction::Reconnect {
            delay_ms: if c.auth_refusals == 0 { 0 } else { backoff },
            fresh: true,
            repair: true,
            refused: true,
        };
    }
    if c.brokerage_lost {
        // Repaired first, then a new session value; after the back-off, so that a login
        // elsewhere that takes the session after every repair makes no loop.
        return CloseAction::Reconnect {
            delay_ms: backoff,
            fresh: true,
            repair: true,
            refused: false,
        };
    }
    match c.code {
        // The session ended on the server (an expired token, a logout; a 1008 on an
        // authenticated socket): a new token and session value, the brokerage session
        // repaired, at once.
        4001 | 1008 => CloseAction::Reconnect {
            delay_ms: if c.attempt == 0 { 0 } else { backoff },
            fresh: true,
            repair: true,
            refused: false,
        },
        // Closed for silence: the `tic` came late (a suspended timer); reopen at once.
        4002 => CloseAction::Reconnect {
            delay_ms: if c.attempt == 0 { 0 } else { backoff },
            fresh: false,
            repair: false,
            refused: false,
        },
        // Anything else (going away, a broken connection, a server error, a protocol error):
        // after the back-off; a socket that never opened may have been refused where the runtime
        // cannot tell (browsers), so its session value is asked for again.
        _ => CloseAction::Reconnect {
            delay_ms: backoff,
            fresh: !c.opened,
            repair: false,
            refused: false,
        },
    }
}

/// What happened to the socket, for the log and errors (no secret: codes and IBKR's reasons).
fn what_happened(c: &Closed) -> String {
    match (c.prepare_error, c.http_status) {
        (Some(code), _) => format!("could not get its session value ({code})"),
        (None, Some(s)) if !c.opened => format!("upgrade refused with HTTP {s}"),
        _ if c.brokerage_lost => {
            "closed: sts says the brokerage session is not authenticated".to_owned()
        }
        _ if !c.opened => "could not open".to_owned(),
        _ if c.reason.is_empty() => format!("closed ({})", c.code),
        _ => format!("closed ({} {})", c.code, c.reason),
    }
}

/// One line for the log about a close and the decision (no secret: codes, reasons, delays).
pub fn describe(c: &Closed, action: &CloseAction) -> String {
    let what = what_happened(c);
    match action {
        CloseAction::Fail(e) => format!("WebSocket {what}; giving up: {}", e.code()),
        CloseAction::Reconnect {
            delay_ms,
            fresh,
            repair,
            ..
        } => format!(
            "WebSocket {what}; reconnecting in {delay_ms} ms{}{}",
            if *repair {
                ", after checking the brokerage session"
            } else {
                ""
            },
            if *fresh {
                ", with a new session value"
            } else {
                ""
            }
        ),
    }
}

impl<H: Host> Session<H> {
    /// The kind's hint for a refused socket.
    fn ws_hint(&self) -> &'static str {
        match &self.inner.auth {
            Auth::OAuth1(_) => "Check that the access token is live (a new live session token is made on a 401) and that nothing between this process and IBKR strips the api cookie or the first {\"session\"} message.",
            Auth::OAuth2(_) => "Check that the SSO session is live (the bearer token and its /tickle session value belong together) and that nothing strips the Authorization header, the api cookie or the first {\"session\"} message.",
            Auth::Gateway => "Log in to the gateway again (in a browser on the gateway machine, or with gatewayLogin); its session ended.",
        }
    }

    /// What to open an authenticated socket with. The session value comes from `/tickle` made
    /// with the current token, once per token generation (`fresh`: ask again even so); `repair`:
    /// first make sure the brokerage session is authenticated (the keep-alive's repair). The
    /// periodic tickle that keeps the session alive is not this: it is the keep-alive round,
    /// one per fleet.
    pub async fn websocket_info(&self, fresh: bool, repair: bool) -> Result<WsInfo> {
        if repair {
            self.ensure_authenticated(self.inner.opts.compete).await?;
        }
        let token = self.token().await?;
        let known = {
            let st = self.inner.state.borrow();
            st.ws_session
                .as_ref()
                .filter(|v| !fresh && v.generation == token.generation)
                .map(|v| (v.generation, v.value.clone()))
        };
        let (generation, session) = match known {
            Some(k) => k,
            None => {
                let generation_now = || {
                    self.inner
                        .state
                        .borrow()
                        .tokens
                        .current_generation()
                        .unwrap_or(token.generation)
                };
                // At most two tickles: a repair that makes a new token (a 401 on the way) makes
                // the first value that of the old token, so it is asked for again once.
                let mut repaired = repair;
                let (generation, session) = loop {
                    let text = Zeroizing::new(self.tickle().await?);
                    // The tickle may have made a new token (after a 401): the value is that one's.
                    let generation = generation_now();
                    let answer = tickle_answer(&text)?;
                    let (authenticated, _) = tickle_flags_of(&answer);
                    let session = tickle_session(&answer).ok_or_else(|| {
                        Error::new(
                            ErrorCode::UnexpectedResponse,
                            "POST /tickle answered without a session value; the streaming WebSocket needs it. Is the API base the Web API's (…/v1/api)?",
                        )
                    })?;
                    if !authenticated && !repaired {
                        self.log(
                            Level::Warn,
                            "WebSocket: the brokerage session is not authenticated; repairing it first",
                        );
                        self.ensure_authenticated(self.inner.opts.compete).await?;
                        repaired = true;
                        if generation_now() != generation {
                            self.log(
                                Level::Debug,
                                "WebSocket: the repair made a new token; asking /tickle for its session value",
                            );
                            continue;
                        }
                    }
                    break (generation, session);
                };
                self.inner.state.borrow_mut().ws_session = Some(SessionValue {
                    generation,
                    value: session.clone(),
                });
                (generation, session)
            }
        };
        let mut url = ws_url(&self.base_url())?;
        let mut headers = vec![(
            "User-Agent".to_owned(),
            Zeroizing::new(self.inner.opts.user_agent.clone()),
        )];
        match &self.inner.auth {
            Auth::OAuth1(c) => {
                url.push_str("?oauth_token=");
                url.push_str(&pct_encode(c.access_token()));
            }
            Auth::OAuth2(_) => {
                let token = self.token().await?;
                if let Some(a) =
                    self.inner
                        .auth
                        .authorization(self, &token, "GET", &url, self.now())?
                {
                    headers.push(("Authorization".to_owned(), Zeroizing::new(a)));
                }
            }
            Auth::Gateway => {}
        }
        let cookie = cookie(self.is_gateway(), &session);
        headers.push(("Cookie".to_owned(), cookie.clone()));
        self.log(
            Level::Debug,
            &format!(
                "WebSocket: {} (token generation {generation})",
                without_query(&url)
            ),
        );
        Ok(WsInfo {
            url,
            headers,
            cookie,
            first_message: first_message(&session),
            session,
            generation,
        })
    }

    /// Whether `generation` is still the token in use (a stream reopens when it is not: the
    /// token was renewed, so IBKR wants the new session value).
    pub fn websocket_current(&self, generation: u64) -> bool {
        self.inner
            .state
            .borrow()
            .tokens
            .current_generation()
            .is_none_or(|g| g == generation)
    }

    /// [`decide_close`] for this session, logged.
    pub fn websocket_closed(&self, c: &Closed) -> CloseAction {
        let action = decide_close(c, super::jitter_fraction(), self.ws_hint());
        let level = match (&action, c.code) {
            (CloseAction::Fail(_), _) => Level::Error,
            (_, 1000 | 1001 | 4001) => Level::Info,
            _ => Level::Warn,
        };
        self.log(level, &describe(c, &action));
        action
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed(code: u16) -> Closed {
        Closed {
            code,
            opened: true,
            authenticated: true,
            ..Closed::default()
        }
    }

    #[test]
    fn the_url_follows_the_base() {
        assert_eq!(
            ws_url("https://api.ibkr.com/v1/api").unwrap(),
            "wss://api.ibkr.com/v1/api/ws"
        );
        assert_eq!(
            ws_url("HTTP://127.0.0.1:5000/v1/api/").unwrap(),
            "ws://127.0.0.1:5000/v1/api/ws"
        );
        assert_eq!(
            ws_url("ftp://x").unwrap_err().code(),
            ErrorCode::InvalidArgument
        );
    }

    #[test]
    fn the_session_value_is_read_from_the_tickle_and_must_be_plain() {
        let tickle_session = |t: &str| {
            serde_json::from_str(t)
                .ok()
                .and_then(|v| super::tickle_session(&v))
        };
        let v = tickle_session(r#"{"session":"0123abcd","iserver":{}}"#).unwrap();
        assert_eq!(v.as_str(), "0123abcd");
        assert!(tickle_session(r#"{"session":"a\"b"}"#).is_none());
        assert!(tickle_session(r#"{"session":"a;b"}"#).is_none());
        assert!(tickle_session(r#"{"session":""}"#).is_none());
        assert!(tickle_session(r#"{"iserver":{}}"#).is_none());
        assert!(tickle_session("<html>").is_none());
    }

    #[test]
    fn cookies_and_first_message_per_kind() {
        assert_eq!(cookie(false, "s1").as_str(), "api=s1");
        assert_eq!(cookie(true, "s1").as_str(), r#"api={"session":"s1"}"#);
        assert_eq!(first_message("s1").as_str(), r#"{"session":"s1"}"#);
    }

    #[test]
    fn backoff_doubles_to_a_ceiling_within_the_jitter() {
        assert_eq!(backoff_ms(0, 0.5), 500);
        assert_eq!(backoff_ms(1, 0.5), 1000);
        assert_eq!(backoff_ms(3, 0.5), 4000);
        assert_eq!(backoff_ms(6, 0.5), 30_000);
        assert_eq!(backoff_ms(40, 0.5), 30_000);
        assert_eq!(backoff_ms(0, 0.0), 375);
        assert_eq!(backoff_ms(0, 1.0), 625);
        assert_eq!(backoff_ms(0, 7.0), 625);
    }

    #[test]
    fn a_server_going_away_reconnects_after_the_backoff() {
        for code in [1001, 1006, 1011, 1002, 1009] {
            let c = Closed {
                attempt: 2,
                ..closed(code)
            };
            assert_eq!(
                decide_close(&c, 0.5, ""),
                CloseAction::Reconnect {
                    delay_ms: 2000,
                    fresh: false,
                    repair: false,
                    refused: false
                },
                "{code}"
            );
        }
        // Never opened: maybe refused where the runtime cannot tell; a new value.
        let c = Closed {
            code: 1006,
            opened: false,
            authenticated: false,
            ..Closed::default()
        };
        assert!(matches!(
            decide_close(&c, 0.5, ""),
            CloseAction::Reconnect {
                delay_ms: 500,
                fresh: true,
                ..
            }
        ));
    }

    #[test]
    fn an_expired_session_reconnects_at_once_with_a_new_value_after_the_repair() {
        assert_eq!(
            decide_close(&closed(4001), 0.5, ""),
            CloseAction::Reconnect {
                delay_ms: 0,
                fresh: true,
                repair: true,
                refused: false
            }
        );
        let again = Closed {
            attempt: 1,
            ..closed(4001)
        };
        assert!(matches!(
            decide_close(&again, 0.5, ""),
            CloseAction::Reconnect { delay_ms: 1000, .. }
        ));
        assert!(matches!(
            decide_close(&closed(4002), 0.5, ""),
            CloseAction::Reconnect {
                delay_ms: 0,
                fresh: false,
                ..
            }
        ));
    }

    #[test]
    fn a_refusal_is_retried_once_with_a_new_value_then_fails_typed() {
        let first = Closed {
            code: 1008,
            reason: "invalid session: stale".into(),
            opened: true,
            ..Closed::default()
        };
        assert_eq!(
            decide_close(&first, 0.5, "hint"),
            CloseAction::Reconnect {
                delay_ms: 0,
                fresh: true,
                repair: true,
                refused: true
            }
        );
        let second = Closed {
            auth_refusals: 1,
            attempt: 1,
            ..first.clone()
        };
        let CloseAction::Fail(e) = decide_close(&second, 0.5, "Check the token.") else {
            panic!("expected a failure");
        };
        assert_eq!(e.code(), ErrorCode::WebSocketUnauthenticated);
        assert!(e.message().contains("close 1008 (invalid session: stale)"));
        assert!(e.message().ends_with("Check the token."));
        assert_eq!(e.server_message(), Some("invalid session: stale"));
        let upgrade = Closed {
            code: 1006,
            http_status: Some(401),
            auth_refusals: 1,
            ..Closed::default()
        };
        let CloseAction::Fail(e) = decide_close(&upgrade, 0.5, "") else {
            panic!("expected a failure");
        };
        assert!(e.message().contains("HTTP 401 on the upgrade"), "{e:?}");
    }

    #[test]
    fn a_1008_on_an_authenticated_socket_is_a_session_that_ended_not_a_refusal() {
        // However many refusals came before, it does not end the stream, nor count as one.
        let c = Closed {
            code: 1008,
            reason: "session ended".into(),
            auth_refusals: MAX_AUTH_REFUSALS - 1,
            ..closed(1008)
        };
        assert_eq!(
            decide_close(&c, 0.5, ""),
            CloseAction::Reconnect {
                delay_ms: 0,
                fresh: true,
                repair: true,
                refused: false
            }
        );
        // Before the socket was confirmed authenticated, the same close is a refusal.
        let refused = Closed {
            authenticated: false,
            ..c
        };
        assert!(matches!(
            decide_close(&refused, 0.5, ""),
            CloseAction::Fail(_)
        ));
    }

    #[test]
    fn a_brokerage_session_lost_reopens_after_the_backoff_repaired_with_a_new_value() {
        let c = Closed {
            brokerage_lost: true,
            streamed: true,
            attempt: 1,
            ..closed(1000)
        };
        let action = decide_close(&c, 0.5, "");
        assert_eq!(
            action,
            CloseAction::Reconnect {
                delay_ms: 1000,
                fresh: true,
                repair: true,
                refused: false
            }
        );
        assert_eq!(
            describe(&c, &action),
            "WebSocket closed: sts says the brokerage session is not authenticated; reconnecting in 1000 ms, after checking the brokerage session, with a new session value"
        );
    }

    #[test]
    fn a_first_open_gives_up_after_its_attempts_a_stream_that_worked_never_does() {
        let never = |attempt, prepare_error| Closed {
            code: 1006,
            opened: false,
            authenticated: false,
            attempt,
            prepare_error,
            ..Closed::default()
        };
        for attempt in 0..MAX_OPEN_ATTEMPTS - 1 {
            assert!(
                matches!(
                    decide_close(&never(attempt, None), 0.5, ""),
                    CloseAction::Reconnect { .. }
                ),
                "{attempt}"
            );
        }
        let CloseAction::Fail(e) = decide_close(&never(MAX_OPEN_ATTEMPTS - 1, None), 0.5, "Hint.")
        else {
            panic!("the first open must end");
        };
        assert_eq!(e.code(), ErrorCode::Network);
        assert!(
            e.message()
                .contains("6 attempts in a row failed (the last: could not open)")
                && e.message().ends_with("Hint."),
            "{}",
            e.message()
        );
        // The last failure's own code when the session value could not be had.
        let CloseAction::Fail(e) = decide_close(
            &never(MAX_OPEN_ATTEMPTS - 1, Some(ErrorCode::Timeout)),
            0.5,
            "",
        ) else {
            panic!("the first open must end");
        };
        assert_eq!(e.code(), ErrorCode::Timeout);
        // A refusal (its first in a row, so not yet the refusals' own end) as the last failure.
        let refused = Closed {
            http_status: Some(401),
            ..never(MAX_OPEN_ATTEMPTS - 1, None)
        };
        assert!(
            matches!(decide_close(&refused, 0.5, ""), CloseAction::Fail(e) if e.code() == ErrorCode::WebSocketUnauthenticated)
        );
        // A stream that has authenticated before reconnects however long it takes.
        let c = Closed {
            streamed: true,
            ..never(500, None)
        };
        assert!(matches!(
            decide_close(&c, 0.5, ""),
            CloseAction::Reconnect {
                delay_ms: MAX_BACKOFF_MS,
                ..
            }
        ));
    }

    #[test]
    fn an_answer_that_is_not_ibkrs_ends_a_first_open_and_is_retried_by_a_stream_that_worked() {
        let c = |streamed| Closed {
            code: 1006,
            prepare_error: Some(ErrorCode::UnexpectedResponse),
            attempt: 1,
            streamed,
            ..Closed::default()
        };
        assert!(
            matches!(decide_close(&c(false), 0.5, ""), CloseAction::Fail(e) if e.code() == ErrorCode::UnexpectedResponse)
        );
        assert_eq!(
            decide_close(&c(true), 0.5, ""),
            CloseAction::Reconnect {
                delay_ms: 1000,
                fresh: true,
                repair: false,
                refused: false
            }
        );
    }

    #[test]
    fn a_failed_tickle_is_retried_only_when_transient() {
        let c = |code| Closed {
            code: 1006,
            prepare_error: Some(code),
            attempt: 1,
            ..Closed::default()
        };
        assert!(matches!(
            decide_close(&c(ErrorCode::Network), 0.5, ""),
            CloseAction::Reconnect { delay_ms: 1000, .. }
        ));
        assert!(matches!(
            decide_close(&c(ErrorCode::NoBridge), 0.5, ""),
            CloseAction::Reconnect { repair: true, .. }
        ));
        let CloseAction::Fail(e) = decide_close(&c(ErrorCode::Unauthorized), 0.5, "Log in.") else {
            panic!("expected a failure");
        };
        assert_eq!(e.code(), ErrorCode::Unauthorized);
        // Any step of preparing the socket may have failed, not only the tickle: all are named.
        assert!(e
            .message()
            .contains("the token, the brokerage session's status, POST /tickle"));
        assert!(e.message().ends_with("Log in."), "{}", e.message());
    }

    #[test]
    fn the_log_line_names_codes_not_secrets() {
        let c = Closed {
            code: 1008,
            reason: "invalid session".into(),
            opened: true,
            ..Closed::default()
        };
        let line = describe(&c, &decide_close(&c, 0.5, ""));
        assert_eq!(
            line,
            "WebSocket closed (1008 invalid session); reconnecting in 0 ms, after checking the brokerage session, with a new session value"
        );
    }
}
