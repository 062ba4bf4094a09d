//! The brokerage session's endpoints (`ssodh/init`, `auth/status`, `tickle`, `sso/validate`,
//! `logout`, `reauthenticate`), making sure it is authenticated, and one keep-alive round. The
//! flags IBKR's answers carry are read by small pure functions.
//!
//! With a shared token store the fleet initialises the brokerage session once per token (a
//! marker with the token's generation, set by whoever held the init lease) and tickles once per
//! keep-alive interval (a lease with the interval's TTL); `logout` also clears the store, since
//! it ends the session for every process. Nothing logs out implicitly.

use serde_json::Value;

use super::auth::{json_answer, AuthKind};
use super::{Call, Host, Level, Session};
use crate::error::{Error, ErrorCode, Result};

/// What one keep-alive round found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepAliveReport {
    /// The brokerage session was authenticated after the round.
    pub authenticated: bool,
    /// The session was re-initialised (it was unauthenticated or competing).
    pub reinitialised: bool,
    /// Another process of the fleet tickles this interval; this one did nothing.
    pub skipped: bool,
}

/// `(authenticated, competing)` from an `/iserver/auth/status` answer; both false when the JSON
/// lacks them. A body that is not JSON (cut short, an HTML page) is `UNEXPECTED_RESPONSE`: it
/// says nothing about the session, so it does not start a repair.
pub(crate) fn status_flags(text: &str) -> Result<(bool, bool)> {
    let v = json_answer(text, "POST /iserver/auth/status")?;
    let b = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
    Ok((b("authenticated"), b("competing")))
}

/// `(authenticated, competing)` from a `/tickle` answer: `iserver.authStatus`, and IBKR's
/// `collission` (sic) flag counts as competing. Not JSON: `UNEXPECTED_RESPONSE`, as for the
/// status.
pub(crate) fn tickle_flags(text: &str) -> Result<(bool, bool)> {
    Ok(tickle_flags_of(&tickle_answer(text)?))
}

/// A `/tickle` answer parsed (not JSON: `UNEXPECTED_RESPONSE`).
pub(crate) fn tickle_answer(text: &str) -> Result<Value> {
    json_answer(text, "POST /tickle")
}

/// [`tickle_flags`] of an answer already parsed.
pub(crate) fn tickle_flags_of(v: &Value) -> (bool, bool) {
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

/// What [`Session::fleet_init`] is asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Init {
    /// `ssodh/init` once per token for the fleet (the marker says whether it was done).
    Once,
    /// Again, whatever the marker says: IBKR answered "no bridge".
    Repair,
    /// Again: the status said the brokerage session is not authenticated.
    RepairSeenInStatus,
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

    /// `POST /iserver/auth/ssodh/init {"publish","compete"}`: opens the brokerage session. With
    /// a shared store, once per token for the whole fleet: a process that finds it done (or
    /// waits while another does it) answers with the status instead.
    pub async fn init_brokerage(&self, compete: bool, publish: bool) -> Result<String> {
        if let Some(fleet) = &self.inner.fleet {
            if fleet.available(&self.inner.host) {
                if let Some(text) = self.fleet_init(fleet, compete, publish, Init::Once).await? {
                    return Ok(text);
                }
            }
        }
        self.init_brokerage_now(compete, publish).await
    }

    /// The repair of a brokerage session IBKR dropped ("no bridge", or not authenticated in
    /// keep-alive): `ssodh/init` again, whatever the fleet's marker says, but by one process of
    /// the fleet at a time (the others answer with the status once it is done). `mode`:
    /// [`Init::RepairSeenInStatus`] when the status said so (not a "no bridge" answer): the
    /// process that takes the repair lease asks the status again first, as another process may
    /// have repaired it in between; else [`Init::Repair`].
    pub(crate) async fn repair_brokerage(&self, compete: bool, mode: Init) -> Result<String> {
        if let Some(fleet) = &self.inner.fleet {
            if fleet.available(&self.inner.host) {
                if let Some(text) = self.fleet_init(fleet, compete, true, mode).await? {
                    return Ok(text);
                }
            }
        }
        self.init_brokerage_now(compete, true).await
    }

    /// The marker's value: the generation of the token the brokerage session was opened with
    /// (the gateway has no token the fleet shares: one constant marker), and its TTL.
    async fn brokerage_marker(&self, fleet: &super::fleet::Fleet) -> Result<(String, u64)> {
        if !fleet.shares_tokens() {
            return Ok(("gateway".to_owned(), 3_600_000));
        }
        let token = self.token().await?;
        let ttl = (token.expires_at - self.now()).max(1000.0) as u64;
        Ok((token.generation.to_string(), ttl))
    }

    /// `ssodh/init` once for the fleet: `Some(text)` when it was done here or by another
    /// process (a repair: even if the marker says it was done for this token); `None` when the
    /// store does not answer or the other process did not finish within the store's wait (the
    /// caller does it itself). The init lease has the store's lease TTL.
    async fn fleet_init(
        &self,
        fleet: &super::fleet::Fleet,
        compete: bool,
        publish: bool,
        mode: Init,
    ) -> Result<Option<String>> {
        let force = mode != Init::Once;
        use crate::fleet::Slot;
        let host = &self.inner.host;
        let (marker, ttl) = self.brokerage_marker(fleet).await?;
        if !force {
            match fleet.get(host, Slot::Brokerage).await {
                Ok(Some(v)) if v == marker => {
                    self.log(
                        Level::Debug,
                        "brokerage session already initialised by the fleet",
                    );
                    return Box::pin(self.status()).await.map(Some);
                }
                Ok(_) => {}
                Err(_) => return Ok(None),
            }
        }
        let started = self.now();
        let mut poll = 100;
        loop {
            match fleet
                .lease(host, Slot::BrokerageLease, fleet.lease_ms())
                .await
            {
                Ok(true) => {
                    if mode == Init::RepairSeenInStatus {
                        // Another process may have finished a repair between this one's status
                        // and its lease. Under the lease nobody else repairs, so an authenticated
                        // status now means there is nothing left to do. (Asked without the
                        // "no bridge" repair, which would wait for this very lease.)
                        let mut call = Call::new("POST", "/iserver/auth/status");
                        call.no_bridge_repair = false;
                        if let Ok(status) = Box::pin(self.json_call(call, true)).await {
                            if matches!(status_flags(&status), Ok((true, false))) {
                                fleet.release(host, Slot::BrokerageLease).await;
                                self.log(
                                    Level::Debug,
                                    "brokerage session already repaired by another process of the fleet",
                                );
                                return Ok(Some(status));
                            }
                        }
                    }
                    let r = self.init_brokerage_now(compete, publish).await;
                    if r.is_ok() {
                        let _ = fleet.set(host, Slot::Brokerage, &marker, ttl).await;
                    }
                    fleet.release(host, Slot::BrokerageLease).await;
                    return r.map(Some);
                }
                Ok(false) => {}
                Err(_) => return Ok(None),
            }
            // Another process is initialising: wait until it is done (a repair: its lease is
            // gone; otherwise: its marker is there).
            self.inner.host.sleep(poll).await;
            poll = (poll * 3 / 2).min(1000);
            let (slot, done) = if force {
                (Slot::BrokerageLease, None)
            } else {
                (Slot::Brokerage, Some(marker.as_str()))
            };
            match fleet.get(host, slot).await {
                Ok(v) if v.as_deref() == done => {
                    self.log(
                        Level::Debug,
                        "brokerage session initialised by another process of the fleet",
                    );
                    return Box::pin(self.status()).await.map(Some);
                }
                Ok(_) => {}
                Err(_) => return Ok(None),
            }
            if self.now() - started > fleet.wait_ms() {
                return Ok(None);
            }
        }
    }

    /// `ssodh/init` now, by this process.
    async fn init_brokerage_now(&self, compete: bool, publish: bool) -> Result<String> {
        let mut call = Call::new("POST", "/iserver/auth/ssodh/init");
        // The repair itself: a "no bridge" answer to it is its error, not another repair (which
        // recursed for as long as the server said so).
        call.no_bridge_repair = false;
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
        if let Some(fleet) = &self.inner.fleet {
            use crate::fleet::Slot;
            let host = &self.inner.host;
            // The session is over for every process: the stored token and marker go with it.
            let cleared = fleet.delete(host, Slot::Token).await.is_ok()
                && fleet.delete(host, Slot::Brokerage).await.is_ok();
            self.log(
                Level::Warn,
                if cleared {
                    "logged out: this ends the brokerage session for every process sharing the token store (its token was removed from the store)"
                } else {
                    "logged out: this ends the brokerage session for every process sharing the token store (the store did not answer; its token stays there until it expires)"
                },
            );
            return Ok(text);
        }
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
        let (authenticated, competing) = status_flags(&status)?;
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
        if let Err(e) = self
            .repair_brokerage(compete, Init::RepairSeenInStatus)
            .await
        {
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
            if status_flags(&status)? == (true, false) {
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

    /// One keep-alive round of a timer ticking every `interval_ms`: for OAuth 2.0 without a
    /// fixed IP, notice an IP change; tickle; and re-initialise a brokerage session that is not
    /// authenticated. A competing session is taken over only with the `compete` option. A
    /// gateway still unauthenticated after that is logged out and initialised again (the
    /// "active but not authenticated" repair). With a shared store, the process that takes the
    /// fleet's tickle lease for this interval does the round; the others report it `skipped`
    /// (authenticated when the fleet's marker is for the token in use).
    pub async fn keep_alive_round(&self, interval_ms: u64) -> Result<KeepAliveReport> {
        self.inner.auth.before_keep_alive(self).await?;
        if let Some(fleet) = &self.inner.fleet {
            use crate::fleet::Slot;
            let host = &self.inner.host;
            if fleet.available(host) {
                // A little under the interval, so that the next tick of any process may go.
                let ttl = interval_ms.saturating_mul(9) / 10;
                if let Ok(false) = fleet.lease(host, Slot::Tickle, ttl.max(1)).await {
                    let marker = self.brokerage_marker(fleet).await?.0;
                    let authenticated = matches!(fleet.get(host, Slot::Brokerage).await, Ok(Some(m)) if m == marker);
                    self.log(
                        Level::Debug,
                        "keep-alive: another process of the fleet tickles this interval",
                    );
                    return Ok(KeepAliveReport {
                        authenticated,
                        reinitialised: false,
                        skipped: true,
                    });
                }
            }
        }
        let text = self.tickle().await?;
        let (authenticated, competing) = tickle_flags(&text)?;
        if authenticated && !competing {
            self.log(
                Level::Debug,
                "keep-alive: tickled; brokerage session authenticated",
            );
            return Ok(KeepAliveReport {
                authenticated: true,
                reinitialised: false,
                skipped: false,
            });
        }
        let compete = self.inner.opts.compete;
        if competing && !compete {
            self.log(Level::Warn, "keep-alive: another session holds the brokerage session (competing); not taking it over (compete: false)");
            return Ok(KeepAliveReport {
                authenticated: false,
                reinitialised: false,
                skipped: false,
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
                skipped: false,
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
                    skipped: false,
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
        let f = |t: &str| status_flags(t).ok();
        assert_eq!(
            f(r#"{"authenticated":true,"competing":false}"#),
            Some((true, false))
        );
        assert_eq!(
            f(r#"{"authenticated":true,"competing":true}"#),
            Some((true, true))
        );
        assert_eq!(f(r#"{"authenticated":"yes"}"#), Some((false, false)));
    }

    /// What a body that is not JSON gives: the code, and a message naming the endpoint that
    /// echoes nothing of the body.
    fn not_json(r: Result<(bool, bool)>, endpoint: &str, body_part: &str) {
        let Err(e) = r else {
            unreachable!("not JSON was read as flags: {r:?}");
        };
        assert_eq!(e.code(), ErrorCode::UnexpectedResponse);
        assert!(e.message().contains(endpoint), "{}", e.message());
        assert!(e.message().contains("Retry"), "{}", e.message());
        assert!(!e.message().contains(body_part), "{}", e.message());
    }

    #[test]
    fn a_status_answer_that_is_not_json_is_unexpected_response() {
        let cut = r#"{"authenticated":true,"competing":fal"#;
        not_json(status_flags(cut), "POST /iserver/auth/status", "competing");
        not_json(
            status_flags("<html>sign in</html>"),
            "POST /iserver/auth/status",
            "sign in",
        );
        // An empty answer (nothing to echo) is malformed too.
        let e = status_flags("").unwrap_err();
        assert_eq!(e.code(), ErrorCode::UnexpectedResponse);
        assert!(e.message().contains("POST /iserver/auth/status"));
        let e = status_flags(cut).err().map(|e| e.message().to_owned());
        assert!(e.is_some_and(|m| m.contains("cut short")));
    }

    #[test]
    fn tickle_flags_read_the_auth_status_and_the_collision() {
        let f = |t: &str| tickle_flags(t).ok();
        let ok =
            r#"{"session":"x","iserver":{"authStatus":{"authenticated":true,"competing":false}}}"#;
        assert_eq!(f(ok), Some((true, false)));
        let competing = r#"{"iserver":{"authStatus":{"authenticated":true,"competing":true}}}"#;
        assert_eq!(f(competing), Some((true, true)));
        let collision = r#"{"collission":true,"iserver":{"authStatus":{"authenticated":true}}}"#;
        assert_eq!(f(collision), Some((true, true)));
        assert_eq!(f(r#"{"authenticated":true}"#), Some((false, false)));
    }

    #[test]
    fn a_tickle_answer_that_is_not_json_is_unexpected_response() {
        let cut = r#"{"session":"5ec7e7a1b2","iserver":{"authStatus":{"authent"#;
        not_json(tickle_flags(cut), "POST /tickle", "5ec7e7a1b2");
        not_json(tickle_flags("<html>"), "POST /tickle", "<html>");
    }
}
