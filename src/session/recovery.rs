//! Recovery: what the session does with each answer to a call it sent. One pure function,
//! [`decide`], of what was observed (the status or the fetch's error, IBKR's message, which
//! retries were already used, whether the call is idempotent) returns an [`Action`]; the
//! session's driver (`Session::send`) only performs it. README.md's "Recovery" table is this
//! function in words, and a test below reads that table and checks every row against it.
//!
//! The rule behind it: never duplicate an order. A call that is not idempotent is sent again
//! only after a 401 (IBKR rejects before processing anything).
//!
//! Next to it, `status_error`: the error `Session::request` makes of a final non-2xx status.

use super::clock::clock_skew_error;
use crate::error::{Error, ErrorCode};

/// What came back from one send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A response with this status.
    Status(u16),
    /// No response: the fetch failed with this code (`NETWORK`, `TIMEOUT`, `ABORTED`, …).
    Error(ErrorCode),
}

/// Which one-time recoveries a call has used, and how many of its `max_retries`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retries {
    /// A 401 has already brought a new token.
    pub new_token: bool,
    /// A second 401 came on a token adopted from the fleet's store, and brought another one.
    pub stale_token: bool,
    /// A 400 "no bridge" has already called `ssodh/init`.
    pub init_brokerage: bool,
    /// A 410 has already been retried on the next host.
    pub next_host: bool,
    /// Retries spent on 429, 5xx and network errors.
    pub attempts: u32,
}

impl Retries {
    /// The retries used once `action` has been taken.
    #[must_use]
    pub fn after(self, action: Action) -> Self {
        let mut r = self;
        match action {
            Action::NewTokenAndRetry if r.new_token => r.stale_token = true,
            Action::NewTokenAndRetry => r.new_token = true,
            Action::NextHostAndRetry => r.next_host = true,
            Action::InitBrokerageAndRetry | Action::InitBrokerageAndReturn => {
                r.init_brokerage = true;
            }
            Action::WaitAndRetry { .. } | Action::BackoffAndRetry => {
                r.attempts = r.attempts.saturating_add(1);
            }
            Action::Return | Action::Fail | Action::NextHostAndReturn => {}
        }
        r
    }
}

/// Everything [`decide`] looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed<'a> {
    /// The status, or the fetch's error.
    pub outcome: Outcome,
    /// IBKR's message (the JSON `error` or `message`, else the text), when it was read: only
    /// when [`needs_message`] says so.
    pub message: Option<&'a str>,
    /// The `Retry-After` header of a 429.
    pub retry_after: Option<&'a str>,
    /// The recoveries already used for this call.
    pub retries: Retries,
    /// The call may be repeated (GET, HEAD, OPTIONS, or said so).
    pub idempotent: bool,
    /// The session talks to a Client Portal Gateway (no token to renew).
    pub is_gateway: bool,
    /// The token the answer was for came from the fleet's shared store, not from a handshake of
    /// this process: IBKR may have revoked it already (another process's 401 is on its way).
    pub token_adopted: bool,
    /// The `max_retries` option.
    pub max_retries: u32,
}

/// What the session does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Hand the response back as it is (`Session::request` makes an error of a non-2xx).
    Return,
    /// Hand the fetch's error back.
    Fail,
    /// Drop the token, get a new one (one shared handshake), send again.
    NewTokenAndRetry,
    /// Drop the token, move to the next base URL, send again.
    NextHostAndRetry,
    /// Drop the token, move to the next base URL, hand the response back.
    NextHostAndReturn,
    /// `ssodh/init`, then send again.
    InitBrokerageAndRetry,
    /// `ssodh/init`, then hand the response back (the call was not repeated).
    InitBrokerageAndReturn,
    /// Wait this many seconds (IBKR's `Retry-After`), send again.
    WaitAndRetry {
        /// Seconds to wait.
        secs: u64,
    },
    /// Wait a jittered, growing pause (by [`Retries::attempts`]), send again.
    BackoffAndRetry,
}

/// Whether IBKR's message says there is no brokerage session.
pub fn is_no_bridge(message: Option<&str>) -> bool {
    message.is_some_and(|m| m.to_ascii_lowercase().contains("no bridge"))
}

/// Whether IBKR's message is about the timestamp (a clock off).
pub fn mentions_timestamp(message: Option<&str>) -> bool {
    message.is_some_and(|m| m.to_ascii_lowercase().contains("timestamp"))
}

/// `Retry-After` in whole seconds, at most 120; an HTTP-date, anything else or nothing: 1 s.
pub fn retry_after_secs(header: Option<&str>) -> u64 {
    header
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(1)
        .min(120)
}

/// Whether [`decide`] needs IBKR's message for `o` (its `message` not read yet): for a 400
/// that may be "no bridge", and for the log line of a 401 that brings a new token. Reading a
/// body the session has no use for is avoided.
pub fn needs_message(o: &Observed<'_>) -> bool {
    match o.outcome {
        Outcome::Status(401) => renews_token(o),
        Outcome::Status(400) => !o.retries.init_brokerage,
        _ => false,
    }
}

/// Whether a 401 brings a new token: the first time (not the gateway), and once more when the
/// token that was refused again had been adopted from the fleet's store — the retry then uses a
/// token of this process's own handshake (or a newer stored one), never the same one twice.
fn renews_token(o: &Observed<'_>) -> bool {
    !o.is_gateway && (!o.retries.new_token || (o.token_adopted && !o.retries.stale_token))
}

/// What to do after one send: README.md's "Recovery" table.
pub fn decide(o: &Observed<'_>) -> Action {
    let may_repeat = o.idempotent && o.retries.attempts < o.max_retries;
    let status = match o.outcome {
        Outcome::Error(code) => {
            return if may_repeat && matches!(code, ErrorCode::Network | ErrorCode::Timeout) {
                Action::BackoffAndRetry
            } else {
                Action::Fail
            };
        }
        Outcome::Status(s) => s,
    };
    match status {
        401 if renews_token(o) => Action::NewTokenAndRetry,
        410 if o.idempotent && !o.retries.next_host => Action::NextHostAndRetry,
        410 => Action::NextHostAndReturn,
        400 if !o.retries.init_brokerage && is_no_bridge(o.message) => {
            if o.idempotent {
                Action::InitBrokerageAndRetry
            } else {
                Action::InitBrokerageAndReturn
            }
        }
        429 if may_repeat => Action::WaitAndRetry {
            secs: retry_after_secs(o.retry_after),
        },
        500..=599 if may_repeat => Action::BackoffAndRetry,
        _ => Action::Return,
    }
}

/// What [`status_error`] needs to know of the session.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ErrorContext<'a> {
    /// The session talks to a Client Portal Gateway.
    pub(crate) is_gateway: bool,
    /// The auth kind's end of "IBKR answered 401 even with a fresh …".
    pub(crate) hint_401: &'a str,
    /// The measured offset to the server's clock (ms).
    pub(crate) clock_offset_ms: f64,
}

/// The error for a final non-2xx `status` of `method target`, with IBKR's message.
pub(crate) fn status_error(
    status: u16,
    msg: Option<String>,
    method: &str,
    target: &str,
    cx: &ErrorContext<'_>,
) -> Error {
    if cx.is_gateway && matches!(status, 0 | 301 | 302 | 303 | 307 | 401) {
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
        401 if mentions_timestamp(msg.as_deref()) => clock_skew_error(cx.clock_offset_ms),
        401 => Error::new(
            ErrorCode::Unauthorized,
            format!(
                "{method} {target}: IBKR answered 401 even with a fresh {}",
                cx.hint_401
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

#[cfg(test)]
mod tests;
