//! OAuth 2.0: the client's credentials (parsed once), the connect (client assertion → access
//! token → SSO session → validate → `ssodh/init`), the bearer `Authorization` of every API call,
//! and the keep-alive's check for a changed public IP.

use crate::fleet::FleetAccount;
use serde_json::Value;

use super::{auth_failure, json_answer, AuthKind};
use crate::error::{Error, ErrorCode, Result};
use crate::keys::{PrivateKey, SecretBytes};
use crate::session::token::Token;
use crate::session::{
    server_message, tenths, whole, Host, HttpRequest, HttpResponse, Level, Session,
};

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

/// The `access_token` of an OAuth 2.0 answer.
/// It goes into an `Authorization` header, so it must be visible ASCII (RFC 6750's token68 and
/// a little more); anything else is refused here rather than by the HTTP stack.
fn token_field<'a>(v: &'a Value, what: &str) -> Result<&'a str> {
    let token = super::answer_str(v, "access_token", what)?;
    if token.is_empty() || token.len() > 16 * 1024 || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::new(
            ErrorCode::UnexpectedResponse,
            format!(
                "IBKR's {what} has an access_token that cannot be a bearer token (empty, over 16 KiB, or with \
                 spaces, control or non-ASCII characters); it was not used."
            ),
        ));
    }
    Ok(token)
}

impl AuthKind for Oauth2Credentials {
    async fn acquire<H: Host>(&self, session: &Session<H>) -> Result<(SecretBytes, f64)> {
        session.oauth2_connect(self).await
    }

    /// `Bearer` and the SSO session's token.
    fn authorization<H: Host>(
        &self,
        _session: &Session<H>,
        token: &Token,
        _method: &str,
        _url: &str,
        _now: f64,
    ) -> Result<Option<String>> {
        // Built in place: no intermediate copy of the token is left unwiped.
        let bearer = String::from_utf8_lossy(token.secret.expose());
        let mut header = String::with_capacity(7 + bearer.len());
        header.push_str("Bearer ");
        header.push_str(&bearer);
        Ok(Some(header))
    }

    fn hint_on_401(&self) -> &'static str {
        "SSO session. Check clientId, clientKeyId, the username and the public IP."
    }

    async fn before_keep_alive<H: Host>(&self, session: &Session<H>) -> Result<()> {
        session.check_ip(self).await
    }

    /// The IP lookup, token, SSO session, validate, `ssodh/init` (twice at most), and a
    /// clock-corrected second try of the first steps.
    fn handshake_requests(&self) -> u64 {
        8
    }

    /// Client id, key id and username name it; the private key seals its token.
    fn fleet_account(&self, _base_url: &str) -> Result<FleetAccount> {
        FleetAccount::oauth2(
            &self.client_id,
            &self.client_key_id,
            &self.credential,
            self.key.pkcs1_der(),
        )
    }
}

impl<H: Host> Session<H> {
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
        let access = token_field(&v, "the token request")?;
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
        let bearer = token_field(&v, "the SSO-session request")?;
        let auth = vec![("Authorization".to_owned(), format!("Bearer {bearer}"))];

        let (status, text, msg) = self
            .raw("GET", &format!("{base}/sso/validate"), auth.clone(), None)
            .await?;
        let valid = if status == 200 {
            json_answer(&text, "the SSO session check (GET /sso/validate)")?
        } else {
            Value::Null
        };
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
        json_answer(&text, what)
    }

    /// OAuth 2.0 without a fixed IP: look the IP up again; if it changed, make a new session now.
    async fn check_ip(&self, c: &Oauth2Credentials) -> Result<()> {
        if c.ip.is_some() {
            return Ok(());
        }
        let Some(now_ip) = self.inner.host.public_ip().await? else {
            return Ok(());
        };
        let (current, generation) = {
            let st = self.inner.state.borrow();
            (st.session_ip.clone(), st.tokens.current_generation())
        };
        if current.as_deref().is_some_and(|ip| ip != now_ip) {
            if let Some(g) = generation {
                self.invalidate(g);
            }
            self.token().await?;
        }
        Ok(())
    }

    /// An RS256 JWT from its signing input (signed as [`Self::sign_rsa_sha256`] does).
    async fn jwt(&self, input: String, key: &PrivateKey) -> Result<String> {
        let signature = self.sign_rsa_sha256(key, &input).await?;
        Ok(crate::oauth2::jwt_signed(&input, &signature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_without_an_access_token_is_unexpected_response() {
        for v in [
            serde_json::json!({"token_type": "Bearer"}),
            serde_json::json!({"access_token": 7}),
        ] {
            let e = token_field(&v, "the token request").unwrap_err();
            assert_eq!(e.code(), ErrorCode::UnexpectedResponse);
            assert!(
                e.message()
                    .contains("IBKR's answer to the token request has no access_token"),
                "{}",
                e.message()
            );
        }
        let v = serde_json::json!({"access_token": "abc.def"});
        assert_eq!(token_field(&v, "the token request").ok(), Some("abc.def"));
    }
}
