//! The one error type of the crate.
//!
//! Every failure carries an [`ErrorCode`] whose string form ([`ErrorCode::as_str`]) is stable and
//! is what JavaScript sees as `err.code`. Messages name the likely cause and the fix; they never
//! contain key material, the access token secret, the prepend or a live session token.

use std::borrow::Cow;
use std::fmt;

/// Stable error codes. The string forms are part of the public contract (see `api.md`).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// An argument is missing, has the wrong type, or has an invalid value.
    InvalidArgument,
    /// A PEM/DER key could not be used: not a private RSA key, wrong size, damaged.
    InvalidKey,
    /// The Diffie-Hellman parameters (prime, generator) are not usable.
    InvalidDhParams,
    /// The access token secret is not base64 or has the wrong length for the key.
    InvalidAccessTokenSecret,
    /// RSA decryption of the access token secret failed (most often: the wrong key).
    DecryptFailed,
    /// The server's `diffie_hellman_response` is malformed or out of range.
    BadDhResponse,
    /// The computed live session token does not match the server's signature.
    LstSignatureMismatch,
    /// The server rejected the credentials (HTTP 401).
    Unauthorized,
    /// No brokerage session ("no bridge"): `ssodh/init` is needed.
    NoBridge,
    /// HTTP 410: the session or host is gone.
    Gone,
    /// HTTP 429 or client-side pacing.
    RateLimited,
    /// A request did not finish in time.
    Timeout,
    /// The request could not be sent or the connection broke.
    Network,
    /// Any other non-success HTTP status.
    HttpError,
    /// The server rejected our timestamp, or our clock is far from the server's.
    ClockSkew,
    /// The platform failed us (no secure random source); not caused by the input.
    Internal,
    /// The caller's `AbortSignal` cancelled the request.
    Aborted,
    /// The gateway login was refused: wrong username or password.
    LoginFailed,
    /// The second factor (TOTP, SMS code, IB Key answer) was refused.
    SecondFactorFailed,
    /// The lockout guard refuses to try another login until a person resets it (thrown by the
    /// JavaScript around the core; the gateway is not contacted).
    LockedOut,
    /// IBKR says the account reached its maximum of failed logins: it is locked.
    AccountLocked,
    /// The server's reply is not what the protocol expects (malformed, a field missing, a value
    /// out of range, or a protocol this library does not speak).
    UnexpectedResponse,
    /// The streaming WebSocket was refused or closed as unauthenticated again with a new
    /// session value from `/tickle` (close 1008, or 401 on the upgrade).
    WebSocketUnauthenticated,
}

impl ErrorCode {
    /// Every code, in declaration order.
    pub const ALL: [ErrorCode; 23] = [
        ErrorCode::InvalidArgument,
        ErrorCode::InvalidKey,
        ErrorCode::InvalidDhParams,
        ErrorCode::InvalidAccessTokenSecret,
        ErrorCode::DecryptFailed,
        ErrorCode::BadDhResponse,
        ErrorCode::LstSignatureMismatch,
        ErrorCode::Unauthorized,
        ErrorCode::NoBridge,
        ErrorCode::Gone,
        ErrorCode::RateLimited,
        ErrorCode::Timeout,
        ErrorCode::Network,
        ErrorCode::HttpError,
        ErrorCode::ClockSkew,
        ErrorCode::Internal,
        ErrorCode::Aborted,
        ErrorCode::LoginFailed,
        ErrorCode::SecondFactorFailed,
        ErrorCode::LockedOut,
        ErrorCode::AccountLocked,
        ErrorCode::UnexpectedResponse,
        ErrorCode::WebSocketUnauthenticated,
    ];

    /// The code named `s` (as [`Self::as_str`] writes it), if there is one.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The stable string form, e.g. `"DECRYPT_FAILED"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "INVALID_ARGUMENT",
            ErrorCode::InvalidKey => "INVALID_KEY",
            ErrorCode::InvalidDhParams => "INVALID_DH_PARAMS",
            ErrorCode::InvalidAccessTokenSecret => "INVALID_ACCESS_TOKEN_SECRET",
            ErrorCode::DecryptFailed => "DECRYPT_FAILED",
            ErrorCode::BadDhResponse => "BAD_DH_RESPONSE",
            ErrorCode::LstSignatureMismatch => "LST_SIGNATURE_MISMATCH",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::NoBridge => "NO_BRIDGE",
            ErrorCode::Gone => "GONE",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::Timeout => "TIMEOUT",
            ErrorCode::Network => "NETWORK",
            ErrorCode::HttpError => "HTTP_ERROR",
            ErrorCode::ClockSkew => "CLOCK_SKEW",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::Aborted => "ABORTED",
            ErrorCode::LoginFailed => "LOGIN_FAILED",
            ErrorCode::SecondFactorFailed => "SECOND_FACTOR_FAILED",
            ErrorCode::LockedOut => "LOCKED_OUT",
            ErrorCode::AccountLocked => "ACCOUNT_LOCKED",
            ErrorCode::UnexpectedResponse => "UNEXPECTED_RESPONSE",
            ErrorCode::WebSocketUnauthenticated => "WS_UNAUTHENTICATED",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error: a stable code, a message for people, and for HTTP failures the status and the
/// server's own message.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    code: ErrorCode,
    message: Cow<'static, str>,
    status: Option<u16>,
    server_message: Option<String>,
}

impl Error {
    /// A new error. `message` must not contain secrets: callers pass fixed text or the names
    /// and sizes of inputs, never their values.
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        Error {
            code,
            message: message.into(),
            status: None,
            server_message: None,
        }
    }

    /// Shorthand for [`ErrorCode::InvalidArgument`].
    pub fn invalid_argument(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }

    /// Attaches an HTTP status and the server's message.
    pub fn with_http(mut self, status: u16, server_message: Option<String>) -> Self {
        self.status = Some(status);
        self.server_message = server_message;
        self
    }

    /// Attaches an HTTP status and message when there is one.
    pub fn with_http_opt(mut self, status: Option<u16>, server_message: Option<String>) -> Self {
        self.status = status;
        self.server_message = server_message;
        self
    }

    /// Attaches the server's own message, for failures that did not come with an HTTP status
    /// (e.g. the text of a refused login step). It must not hold a secret of ours.
    pub fn with_server_message(mut self, server_message: impl Into<String>) -> Self {
        self.server_message = Some(server_message.into());
        self
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The message: cause and fix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status, for failures that came from HTTP.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// The server's own message, for failures that came from HTTP.
    pub fn server_message(&self) -> Option<&str> {
        self.server_message.as_deref()
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("code", &self.code.as_str())
            .field("message", &self.message)
            .field("status", &self.status)
            .field("server_message", &self.server_message)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_screaming_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            let s = c.as_str();
            assert!(seen.insert(s), "duplicate code {s}");
            assert!(
                s.chars().all(|ch| ch.is_ascii_uppercase() || ch == '_'),
                "{s}"
            );
        }
        assert_eq!(seen.len(), ErrorCode::ALL.len());
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(c.as_str()), Some(c));
        }
        assert_eq!(ErrorCode::parse("invalid_argument"), None);
        assert_eq!(seen.len(), 23);
    }

    #[test]
    fn display_and_http_details() {
        let e = Error::new(ErrorCode::Gone, "session gone").with_http(410, Some("gone".into()));
        assert_eq!(e.to_string(), "GONE: session gone");
        assert_eq!(e.status(), Some(410));
        assert_eq!(e.server_message(), Some("gone"));
    }
}
