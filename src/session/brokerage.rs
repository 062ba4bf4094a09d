//! The brokerage session's endpoints (`ssodh/init`, `auth/status`, `tickle`, `sso/validate`,
//! `logout`, `reauthenticate`), making sure it is authenticated, and one keep-alive round. The
//! flags IBKR's answers carry are read by small pure functions.

use serde_json::Value;

use super::auth::AuthKind;
use super::{Call, Host, Level, Session};
use crate::error::{Error, ErrorCode, Result};

/// What one keep-alive round found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepAliveReport {
    /// The brokerage session was authenticated after the round.
    pub authenticated: bool,
    /// The session was re-initialised (it was unauthenticated or competing).
    pub reinitialised: bool,
}

/// `(authenticated, competing)` from an `/iserver/auth/status` answer; both false when it is
/// not JSON or lacks them.
pub(crate) fn status_flags(text: &str) -> (bool, bool) {
    let v = serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
    let b = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
    (b("authenticated"), b("competing"))
}

/// `(authenticated, competing)` from a `/tickle` answer: `iserver.authStatus`, and IBKR's
/// `collission` (sic) flag counts as competing.
pub(crate) fn tickle_flags(text: &str) -> (bool, bool) {
    let v = serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
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
    (authenticated, competing)
}

impl<H: Host> Session<H> {
    pub(crate) async fn json_call(
        &self,
        mut call: Call<H::Value>,
        idempotent: bool,
    ) -> Result<String> {
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
        self.inner.state.borrow_mut().tokens.token = None;
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
        let status = self.status().await?;
        let (authenticated, competing) = status_flags(&status);
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
            if status_flags(&status) == (true, false) {
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
        self.inner.auth.before_keep_alive(self).await?;
        let text = self.tickle().await?;
        let (authenticated, competing) = tickle_flags(&text);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_flags_read_authenticated_and_competing() {
        assert_eq!(
            status_flags(r#"{"authenticated":true,"competing":false}"#),
            (true, false)
        );
        assert_eq!(
            status_flags(r#"{"authenticated":true,"competing":true}"#),
            (true, true)
        );
        assert_eq!(status_flags(r#"{"authenticated":"yes"}"#), (false, false));
        assert_eq!(status_flags("not json"), (false, false));
        assert_eq!(status_flags(""), (false, false));
    }

    #[test]
    fn tickle_flags_read_the_auth_status_and_the_collision() {
        let ok =
            r#"{"session":"x","iserver":{"authStatus":{"authenticated":true,"competing":false}}}"#;
        assert_eq!(tickle_flags(ok), (true, false));
        let competing = r#"{"iserver":{"authStatus":{"authenticated":true,"competing":true}}}"#;
        assert_eq!(tickle_flags(competing), (true, true));
        let collision = r#"{"collission":true,"iserver":{"authStatus":{"authenticated":true}}}"#;
        assert_eq!(tickle_flags(collision), (true, true));
        assert_eq!(tickle_flags(r#"{"authenticated":true}"#), (false, false));
        assert_eq!(tickle_flags("<html>"), (false, false));
    }
}
