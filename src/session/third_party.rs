//! The third-party flow (apps that act for other IBKR users): request token, the user's
//! authorization in a browser, access token. The access token and its (encrypted) secret then
//! start an ordinary first-party session.

use serde_json::Value;

use super::{post_oauth, Host};
use crate::error::{Error, Result};
use crate::keys::PrivateKey;
use crate::oauth1::request;

/// What the access token step returns.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    /// The user's access token.
    pub access_token: String,
    /// Its secret, encrypted for the consumer's encryption key (base64), as the portal gives it.
    pub access_token_secret: String,
    /// Whether the user authorized a paper account.
    pub is_paper: bool,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("access_token", &self.access_token)
            .field("access_token_secret", &"[redacted]")
            .field("is_paper", &self.is_paper)
            .finish()
    }
}

/// A consumer's side of the third-party flow.
pub struct ThirdParty<H: Host> {
    host: H,
    consumer_key: String,
    realm: String,
    base_url: String,
    signature_key: PrivateKey,
    timeout_ms: u64,
    user_agent: String,
}

impl<H: Host> ThirdParty<H> {
    /// A consumer with its signature key; `realm` defaults as for sessions.
    pub fn new(
        host: H,
        consumer_key: &str,
        signature_key: PrivateKey,
        realm: Option<&str>,
        base_url: &str,
        timeout_ms: u64,
        user_agent: &str,
    ) -> Result<Self> {
        if consumer_key.trim().is_empty() {
            return Err(Error::invalid_argument(
                "consumerKey is empty: pass your consumer key.",
            ));
        }
        crate::oauth1::base::split_url(base_url)?;
        let realm = realm
            .unwrap_or_else(|| request::default_realm(consumer_key.trim()))
            .to_owned();
        crate::oauth1::base::check_realm(&realm)?;
        Ok(ThirdParty {
            host,
            consumer_key: consumer_key.trim().to_owned(),
            realm,
            base_url: base_url.to_owned(),
            signature_key,
            timeout_ms,
            user_agent: user_agent.to_owned(),
        })
    }

    /// Builds a signed request with a fresh nonce and the current time.
    fn signed(
        &self,
        build: impl FnOnce(&request::Context<'_>) -> Result<request::SignedRequest>,
    ) -> Result<request::SignedRequest> {
        let nonce = request::generate_nonce()?;
        let timestamp = (self.host.now_ms() / 1000.0).floor().max(0.0) as u64;
        build(&request::Context {
            consumer_key: &self.consumer_key,
            realm: &self.realm,
            nonce: &nonce,
            timestamp,
        })
    }

    async fn post(&self, signed: &request::SignedRequest, what: &str) -> Result<Value> {
        post_oauth(
            &self.host,
            signed,
            self.timeout_ms,
            &self.user_agent,
            what,
            |_| {},
        )
        .await
    }

    /// Step 1: a request token for `callback` (`oob` or the registered callback URL).
    pub async fn request_token(&self, callback: &str) -> Result<String> {
        let signed = self.signed(|ctx| {
            request::request_token_request(&self.base_url, ctx, callback, &self.signature_key)
        })?;
        let v = self.post(&signed, "the request_token request").await?;
        request_token_from(&v)
    }

    /// Step 2: where to send the user's browser.
    pub fn authorize_url(&self, request_token: &str, base: Option<&str>) -> Result<String> {
        request::authorize_url(request_token, base)
    }

    /// Step 3: trade the authorized request token and the verifier for an access token.
    pub async fn access_token(&self, request_token: &str, verifier: &str) -> Result<AccessToken> {
        let signed = self.signed(|ctx| {
            request::access_token_request(
                &self.base_url,
                ctx,
                request_token,
                verifier,
                &self.signature_key,
            )
        })?;
        let v = self.post(&signed, "the access_token request").await?;
        access_token_from(&v)
    }
}

/// A string field of a third-party step's answer; its absence is a malformed answer.
fn answer_field(v: &Value, step: &str, k: &str) -> Result<String> {
    super::auth::answer_str(v, k, &format!("the {step} request")).map(str::to_owned)
}

/// The request token of step 1's answer.
fn request_token_from(v: &Value) -> Result<String> {
    answer_field(v, "request_token", "oauth_token")
}

/// The access token and its secret of step 3's answer.
fn access_token_from(v: &Value) -> Result<AccessToken> {
    Ok(AccessToken {
        access_token: answer_field(v, "access_token", "oauth_token")?,
        access_token_secret: answer_field(v, "access_token", "oauth_token_secret")?,
        is_paper: v.get("is_paper").and_then(Value::as_bool).unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn an_answer_without_its_token_is_unexpected_response() {
        let rt = request_token_from(&serde_json::json!({"oauth_callback_confirmed": "true"}))
            .unwrap_err();
        assert_eq!(rt.code(), ErrorCode::UnexpectedResponse);
        assert!(
            rt.message()
                .contains("request_token request has no oauth_token"),
            "{}",
            rt.message()
        );
        let v = serde_json::json!({"oauth_token": "tok", "oauth_token_secret": "c2VjcmV0"});
        assert_eq!(request_token_from(&v).ok().as_deref(), Some("tok"));
        let at = access_token_from(&serde_json::json!({"oauth_token": "tok"})).unwrap_err();
        assert_eq!(at.code(), ErrorCode::UnexpectedResponse);
        assert!(
            at.message().contains("has no oauth_token_secret"),
            "{}",
            at.message()
        );
        let ok = access_token_from(&v).unwrap();
        assert_eq!(
            (
                ok.access_token.as_str(),
                ok.access_token_secret.as_str(),
                ok.is_paper
            ),
            ("tok", "c2VjcmV0", false)
        );
    }
}
