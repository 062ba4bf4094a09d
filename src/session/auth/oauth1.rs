//! OAuth 1.0a, IBKR's extended flavour: the consumer's credentials (parsed once), the live
//! session token handshake (Diffie-Hellman, RSA-SHA256 signed), and the HMAC-SHA256
//! `Authorization` of every API call.

use crate::fleet::FleetAccount;
use serde_json::Value;

use super::{auth_failure, json_answer, AuthKind};
use crate::error::{Error, ErrorCode, Result};
use crate::keys::{DhParams, PrivateKey, RawRsaDecrypt, SecretBytes};
use crate::oauth1::{self, lst, request, DhSecret};
use crate::session::token::Token;
use crate::session::{
    server_message, tenths, whole, Host, HttpRequest, HttpResponse, Level, Session,
};

/// The user's OAuth 1.0a material, parsed once.
pub struct Oauth1Credentials {
    consumer_key: String,
    access_token: String,
    realm: String,
    signature_key: PrivateKey,
    prepend: SecretBytes,
    dh: DhParams,
}

impl Oauth1Credentials {
    /// The access token (public: it travels in the streaming WebSocket's URL).
    pub(crate) fn access_token(&self) -> &str {
        &self.access_token
    }
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
    json_answer(&text, what)
}

impl AuthKind for Oauth1Credentials {
    async fn acquire<H: Host>(&self, session: &Session<H>) -> Result<(SecretBytes, f64)> {
        session.handshake_once(self).await
    }

    /// An HMAC-SHA256 signature with a fresh nonce and the (corrected) time at `now`.
    fn authorization<H: Host>(
        &self,
        session: &Session<H>,
        token: &Token,
        method: &str,
        url: &str,
        now: f64,
    ) -> Result<Option<String>> {
        let nonce = request::generate_nonce()?;
        let ctx = self.context(&nonce, session.timestamp_at(now));
        // Made with every OAuth 1.0a token (`signing_key`, when the token is stored).
        let key = token
            .hmac
            .as_ref()
            .ok_or_else(|| Error::new(ErrorCode::Internal, "the token has no HMAC key"))?;
        let authorization = request::api_authorization_keyed(
            method,
            url,
            &ctx,
            &self.access_token,
            key,
            session.inner.opts.sign_query,
        )?;
        Ok(Some(authorization))
    }

    fn signing_key(&self, secret: &SecretBytes) -> Option<oauth1::HmacSha256Key> {
        Some(oauth1::HmacSha256Key::new(secret.expose()))
    }

    fn hint_on_401(&self) -> &'static str {
        "live session token. Check the consumer key, the access token and the realm."
    }

    /// Consumer key and access token name it; the prepend (the access token secret, decrypted)
    /// seals its token.
    /// The LST request, and once more after a clock correction.
    fn handshake_requests(&self) -> u64 {
        2
    }

    fn fleet_account(&self, _base_url: &str) -> Result<FleetAccount> {
        FleetAccount::oauth1(&self.consumer_key, &self.access_token, &self.prepend)
    }
}

impl<H: Host> Session<H> {
    /// One live session token handshake: a DH challenge signed with RSA-SHA256, IBKR's answer
    /// turned into the LST, which is checked against IBKR's signature of it.
    async fn handshake_once(&self, c: &Oauth1Credentials) -> Result<(SecretBytes, f64)> {
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
}
