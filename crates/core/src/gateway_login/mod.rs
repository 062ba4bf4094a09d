//! Headless login to the Client Portal Gateway: the protocol of its `/sso/Authenticator` and
//! `/sso/Dispatcher` endpoints, without I/O.
//!
//! | file | what |
//! |---|---|
//! | [`quirk`] | the "verifyHexVal" hex quirk: how values become bytes before they are hashed |
//! | [`srp`] | SRP-6 (proto "6", SHA-1, k = 3) on `crypto-bigint` |
//! | [`ekx`] | `EKX`: K's hex under the gateway's RSA key (e = 3), PKCS#1 v1.5 type 2 |
//! | [`otp`] | HMAC and dynamic truncation shared by TOTP and OCRA |
//! | [`totp`] | RFC 6238 TOTP and the base32 secrets authenticator apps show |
//! | [`ocra`] | RFC 6287 OCRA, incl. IB Key's suite `OCRA-1:HOTP-SHA1-8:C-QN06-PSHA1` |
//! | [`reply`] | the XML replies of `/sso/Authenticator` (`<ib_auth_res>`) |
//! | [`login`] | [`GatewayLogin`]: the login as a sans-I/O state machine (forms out, replies in) |
//!
//! The driver (JavaScript) does the HTTP and the cookies; this module builds each request's form
//! fields and judges each reply. Nothing here retries: IBKR locks accounts after repeated failed
//! logins, so every failure is reported with a code that says whether to stop.

pub mod ekx;
pub mod login;
pub mod ocra;
pub mod otp;
pub mod quirk;
pub mod reply;
pub mod srp;
pub mod totp;

pub use login::{Challenge, Form, GatewayLogin, InitOutcome};
pub use ocra::{ocra, OcraInput, OcraPin};
pub use otp::OtpHash;
pub use totp::{decode_base32_secret, totp};

use crate::error::{Error, ErrorCode};

/// An `UNEXPECTED_RESPONSE` error: the gateway's reply is not what this protocol expects.
pub(crate) fn unexpected(what: impl Into<String>) -> Error {
    Error::new(
        ErrorCode::UnexpectedResponse,
        format!(
            "{} The gateway's login protocol may have changed: do not retry in a loop; check the \
             gateway's version and report it.",
            what.into()
        ),
    )
}

/// At most `max` characters of a server's text, for error messages.
pub(crate) fn clip(text: &str, max: usize) -> String {
    let mut out: String = text.chars().take(max).collect();
    if text.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}
