//! How a session authenticates: each kind behind one trait, [`AuthKind`], one file per kind
//! (`oauth1.rs`, `oauth2.rs`, `gateway.rs`). The public [`Auth`] enum is what callers pass;
//! its `AuthKind` implementation is the one place that dispatches on the kind (the
//! `each_kind!` macro lists the kinds once). A new kind is its file, its `mod` line, its
//! variant and its line in `each_kind!`.

mod gateway;
mod oauth1;
mod oauth2;

use gateway::Gateway;
pub(crate) use oauth1::post_oauth;
pub use oauth1::{Oauth1Credentials, Oauth1Inputs};
pub use oauth2::Oauth2Credentials;

use super::recovery::mentions_timestamp;
use super::token::Token;
use super::{Host, Level, Session};
use serde_json::Value;

use crate::error::{Error, ErrorCode, Result};
use crate::fleet::FleetAccount;
use crate::keys::{PrivateKey, SecretBytes};
use crate::oauth1::HmacSha256Key;

/// What a kind of authentication does for a session. The session core calls only these.
pub(crate) trait AuthKind {
    /// Gets a fresh token (the LST, the bearer, or an empty one for the gateway) and its expiry
    /// (ms since the epoch). Called by the session's single-flight handshake only.
    async fn acquire<H: Host>(&self, session: &Session<H>) -> Result<(SecretBytes, f64)>;

    /// The `Authorization` value for a call with `token`, or `None` when nothing is signed.
    /// `now` is the local time the caller already read (one clock read per signature).
    fn authorization<H: Host>(
        &self,
        session: &Session<H>,
        token: &Token,
        method: &str,
        url: &str,
        now: f64,
    ) -> Result<Option<String>>;

    /// Per-token signing state, prepared once when the token is stored (OAuth 1.0a's HMAC pads).
    fn signing_key(&self, _secret: &SecretBytes) -> Option<HmacSha256Key> {
        None
    }

    /// Whether this is the Client Portal Gateway (no token; redirects mean "not logged in").
    fn is_gateway(&self) -> bool {
        false
    }

    /// The end of "IBKR answered 401 even with a fresh …": what was fresh and what to check.
    fn hint_on_401(&self) -> &'static str;

    /// Work before each keep-alive round (OAuth 2.0: notice a changed public IP).
    async fn before_keep_alive<H: Host>(&self, _session: &Session<H>) -> Result<()> {
        Ok(())
    }

    /// How many requests one token acquisition may make, each within `timeout_ms` (the fleet's
    /// lease must outlast them).
    fn handshake_requests(&self) -> u64;

    /// This account's place in a shared token store: its key names (no secret in them) and the
    /// key that seals its token, derived from its own secret. `base_url`: the first API base.
    fn fleet_account(&self, base_url: &str) -> Result<FleetAccount>;
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

/// Runs `$body` with `$k` bound to the kind inside `$auth`: the one `match` on the kind.
macro_rules! each_kind {
    ($auth:expr, |$k:ident| $body:expr) => {
        match $auth {
            Auth::OAuth1($k) => $body,
            Auth::OAuth2($k) => $body,
            Auth::Gateway => {
                let $k = &Gateway;
                $body
            }
        }
    };
}

impl AuthKind for Auth {
    async fn acquire<H: Host>(&self, session: &Session<H>) -> Result<(SecretBytes, f64)> {
        each_kind!(self, |k| k.acquire(session).await)
    }

    fn authorization<H: Host>(
        &self,
        session: &Session<H>,
        token: &Token,
        method: &str,
        url: &str,
        now: f64,
    ) -> Result<Option<String>> {
        each_kind!(self, |k| k.authorization(session, token, method, url, now))
    }

    fn signing_key(&self, secret: &SecretBytes) -> Option<HmacSha256Key> {
        each_kind!(self, |k| k.signing_key(secret))
    }

    fn is_gateway(&self) -> bool {
        each_kind!(self, |k| k.is_gateway())
    }

    fn hint_on_401(&self) -> &'static str {
        each_kind!(self, |k| k.hint_on_401())
    }

    async fn before_keep_alive<H: Host>(&self, session: &Session<H>) -> Result<()> {
        each_kind!(self, |k| k.before_keep_alive(session).await)
    }

    fn fleet_account(&self, base_url: &str) -> Result<FleetAccount> {
        each_kind!(self, |k| k.fleet_account(base_url))
    }

    fn handshake_requests(&self) -> u64 {
        each_kind!(self, |k| k.handshake_requests())
    }
}

/// A 200 answer's body as JSON. A body that is not JSON, or is cut short inside it, is a
/// malformed answer (`UNEXPECTED_RESPONSE`), not an HTTP failure: the message names `what` (the
/// endpoint) and says what to do. Nothing of the body is echoed: a handshake answer carries key
/// material.
pub(crate) fn json_answer(text: &str, what: &str) -> Result<Value> {
    serde_json::from_str::<Value>(text).map_err(|e| {
        let how = if e.is_eof() {
            "is not JSON: it ends inside the JSON (cut short, as by a connection dropped mid-answer)"
        } else {
            "is not JSON"
        };
        Error::new(
            ErrorCode::UnexpectedResponse,
            format!(
                "IBKR's answer to {what} {how}; it was not used. Retry; if it persists, check that the base URL is \
                 the Web API's (…/v1/api) and that no proxy between cuts or rewrites the answers."
            ),
        )
    })
}

/// The string field `k` of IBKR's answer to `what`; its absence is a malformed answer
/// (`UNEXPECTED_RESPONSE`, naming the field, never quoting the answer).
pub(crate) fn answer_str<'a>(v: &'a Value, k: &str, what: &str) -> Result<&'a str> {
    v.get(k).and_then(Value::as_str).ok_or_else(|| {
        Error::new(
            ErrorCode::UnexpectedResponse,
            format!(
                "IBKR's answer to {what} has no {k}; it was not used. Retry; if it persists, check that the base URL \
                 is the Web API's (…/v1/api)."
            ),
        )
    })
}

/// The error for a failed authentication step: the status names the code, `hint_401` the fix.
pub(crate) fn auth_failure(status: u16, msg: Option<String>, what: &str, hint_401: &str) -> Error {
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

impl<H: Host> Session<H> {
    /// RSA-SHA256 of `text`, base64: by the host's WebCrypto when it has it (checked against the
    /// public key), else by the `rsa` crate. Both give the same bytes (PKCS#1 v1.5 signatures
    /// are deterministic).
    pub(crate) async fn sign_rsa_sha256(&self, key: &PrivateKey, text: &str) -> Result<Vec<u8>> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The handshake answers as a connection dropped mid-body leaves them, and bodies that were
    /// never JSON, for each endpoint that reads one.
    #[test]
    fn an_answer_that_is_not_json_is_unexpected_response_naming_the_endpoint() {
        let cases = [
            (
                "the live session token request",
                r#"{"diffie_hellman_response":"ab3f91c07d"#,
            ),
            (
                "the OAuth 2.0 token request",
                r#"{"access_token":"eyJhbGciOiJSUzI1NiJ9.e30","token_ty"#,
            ),
            ("the SSO-session request", r#"{"access_token":"#),
            ("the request_token request", r#"{"oauth_token":"4f0c2a9d"#),
            (
                "the access_token request",
                r#"{"oauth_token":"4f0c2a9d","oauth_token_secret":"c2Vj"#,
            ),
            (
                "the SSO session check (GET /sso/validate)",
                r#"{"RESULT":tr"#,
            ),
        ];
        for (what, body) in cases {
            let e = json_answer(body, what).unwrap_err();
            assert_eq!(e.code(), ErrorCode::UnexpectedResponse, "{what}");
            let m = e.message();
            assert!(
                m.contains(&format!("IBKR's answer to {what} is not JSON")),
                "{m}"
            );
            assert!(m.contains("cut short"), "{m}");
            assert!(m.contains("Retry"), "{m}");
            assert_eq!(e.status(), None, "not an HTTP failure: {m}");
            // Nothing of the body: the values there are key material.
            for secret in ["ab3f91c07d", "eyJhbGci", "4f0c2a9d", "c2Vj", "RESULT"] {
                assert!(!m.contains(secret), "{m}");
            }
        }
        for body in ["<html><body>Sign in</body></html>", "", "ok"] {
            let e = json_answer(body, "the live session token request").unwrap_err();
            assert_eq!(e.code(), ErrorCode::UnexpectedResponse);
            assert!(!e.message().contains("Sign in"), "{}", e.message());
        }
        // "" ends before any JSON: cut short too; "<html>" is not JSON from its first byte.
        assert!(!json_answer("<html>", "x")
            .unwrap_err()
            .message()
            .contains("cut short"));
    }

    #[test]
    fn json_of_any_shape_is_read() {
        let v = json_answer(r#"{"diffie_hellman_response":"ab"}"#, "x").unwrap();
        assert_eq!(v["diffie_hellman_response"], "ab");
        // The shape is each step's own check (BAD_DH_RESPONSE, no access_token, …).
        assert!(json_answer("[]", "x").unwrap().is_array());
    }
}
