//! The token cache: the session's credential of the moment ([`Token`]), its generation, the
//! single-flight handshake every waiting caller shares (`flight.rs`), and the back-off after
//! failed handshakes so that IBKR does not lock the account. The decisions are pure methods of
//! [`Cache`]; the `Session` methods below do the awaiting.
//!
//! Every token comes through [`Session::obtain`]: the one place where a token store shared by a
//! fleet of processes can be consulted (adopt its token, with its generation) before a
//! handshake of our own.

use std::rc::Rc;

use super::auth::AuthKind;
use super::fleet;
use super::flight::{self, Flight};
use super::{Host, Level, Session};
use crate::error::{Error, ErrorCode, Result};
use crate::keys::SecretBytes;
use crate::oauth1::{lst, HmacSha256Key};

/// The session's credential of the moment: the LST (OAuth 1.0a), the bearer token (OAuth 2.0),
/// or nothing (gateway).
pub(crate) struct Token {
    /// The token's bytes.
    pub(crate) secret: SecretBytes,
    /// The LST's HMAC pads, prepared once per token (OAuth 1.0a only).
    pub(crate) hmac: Option<HmacSha256Key>,
    /// Expiry, ms since the epoch.
    pub(crate) expires_at: f64,
    /// Which token this is: strictly increasing per session (and, with a store, across it).
    pub(crate) generation: u64,
    /// It came from the fleet's store (another process's handshake), not from this process's.
    pub(crate) adopted: bool,
}

/// A handshake in flight, shared by every caller waiting for it.
pub(crate) type Handshake = Flight<Result<Rc<Token>>>;

/// The token part of the session's state.
#[derive(Default)]
pub(crate) struct Cache {
    /// The current token, if any.
    pub(crate) token: Option<Rc<Token>>,
    /// The handshake in flight, if any.
    pub(crate) inflight: Option<Handshake>,
    /// The newest generation this session has held (0: none yet).
    pub(crate) generation: u64,
    /// Failed handshakes in a row.
    pub(crate) failures: u32,
    /// With two failures or more: no handshake before this time (ms since the epoch).
    pub(crate) retry_at: f64,
    /// The last handshake's error, repeated while in back-off.
    pub(crate) last_error: Option<Error>,
    /// Handshakes started.
    pub(crate) handshakes: u64,
    /// Tokens this process made itself (not adopted from a store).
    pub(crate) minted: u64,
}

/// A token as [`Session::obtain`] gives it.
pub(crate) struct Obtained {
    secret: SecretBytes,
    /// Expiry, ms since the epoch.
    expires_at: f64,
    /// The fleet's generation, when it came through the store.
    generation: Option<u64>,
    /// Another process made it.
    adopted: bool,
}

/// What [`Session::refresh`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefreshReport {
    /// This process made a new token (`false`: the one in hand or in the store was good).
    pub refreshed: bool,
    /// The token's expiry, ms since the epoch.
    pub expires_at: f64,
    /// The token's generation.
    pub generation: u64,
}

/// The pause after `failures` failed handshakes in a row: 1 s from the second on, doubling, at
/// most 5 min.
pub(crate) fn backoff_ms(failures: u32) -> f64 {
    (1000.0 * 2f64.powi(failures.saturating_sub(2).min(16) as i32)).min(300_000.0)
}

impl Cache {
    /// The token, if it is fresh at `now`: more than `margin_ms` before its expiry.
    pub(crate) fn fresh(&self, now: f64, margin_ms: f64) -> Option<Rc<Token>> {
        self.token
            .clone()
            .filter(|t| now + margin_ms < t.expires_at)
    }

    /// Why a handshake may not start at `now` (back-off after failures), or `None` if it may.
    pub(crate) fn refused(&self, now: f64) -> Option<Error> {
        if !(self.failures > 1 && now < self.retry_at) {
            return None;
        }
        let wait_s = ((self.retry_at - now) / 1000.0).ceil() as u64;
        let last = self
            .last_error
            .clone()
            .unwrap_or_else(|| Error::new(ErrorCode::Unauthorized, "handshake failed"));
        Some(
            Error::new(
                last.code(),
                format!(
                    "{} (after {} failed handshakes in a row, the next attempt waits {wait_s} s so that IBKR does not lock the account)",
                    last.message(),
                    self.failures
                ),
            )
            .with_http_opt(last.status(), last.server_message().map(str::to_owned)),
        )
    }

    /// Stores a new token; its generation is the next one, or `given` (a token from a store)
    /// when that is higher. `adopted`: another process made it.
    pub(crate) fn succeeded(
        &mut self,
        secret: SecretBytes,
        hmac: Option<HmacSha256Key>,
        expires_at: f64,
        given: Option<u64>,
        adopted: bool,
    ) -> Rc<Token> {
        let next = self.generation.saturating_add(1);
        self.generation = given.map_or(next, |g| g.max(next));
        self.failures = 0;
        self.last_error = None;
        let token = Rc::new(Token {
            secret,
            hmac,
            expires_at,
            generation: self.generation,
            adopted,
        });
        self.token = Some(token.clone());
        token
    }

    /// Counts a failed handshake at `now` and sets the back-off.
    pub(crate) fn failed(&mut self, e: Error, now: f64) {
        self.failures += 1;
        self.retry_at = now + backoff_ms(self.failures);
        self.last_error = Some(e);
    }

    /// Drops the token if it is still generation `generation` (a newer one stays).
    pub(crate) fn invalidate(&mut self, generation: u64) {
        if self
            .token
            .as_ref()
            .is_some_and(|t| t.generation == generation)
        {
            self.token = None;
        }
    }

    /// The current token's generation.
    pub(crate) fn current_generation(&self) -> Option<u64> {
        self.token.as_ref().map(|t| t.generation)
    }
}

impl<H: Host> Session<H> {
    /// How many times this session has started to acquire a token (LST handshakes, OAuth 2.0
    /// connects; the gateway's one trivial acquisition included).
    pub fn handshakes(&self) -> u64 {
        self.inner.state.borrow().tokens.handshakes
    }

    /// The live session token (base64) and its expiry (ms since epoch): cached, refreshed before
    /// expiry, one handshake at a time.
    pub async fn live_session_token(&self) -> Result<(zeroize::Zeroizing<String>, f64)> {
        let t = self.token().await?;
        Ok((lst::lst_base64(&t.secret), t.expires_at))
    }

    /// The token to sign with: the cached one while fresh, else the handshake in flight, else a
    /// new one (unless in back-off).
    pub(crate) async fn token(&self) -> Result<Rc<Token>> {
        let now = self.now();
        let fut = {
            let mut st = self.inner.state.borrow_mut();
            if let Some(t) = st.tokens.fresh(now, self.inner.opts.refresh_margin_ms) {
                return Ok(t);
            }
            if let Some(f) = &st.tokens.inflight {
                f.clone()
            } else {
                if let Some(e) = st.tokens.refused(now) {
                    return Err(e);
                }
                st.tokens.handshakes += 1;
                let stale = st.tokens.generation;
                let f = flight::flight(Box::pin(Self::run_handshake(self.clone(), stale)));
                st.tokens.inflight = Some(f.clone());
                f
            }
        };
        fut.await
    }

    /// The shared handshake: obtains a token and records the outcome in the cache.
    async fn run_handshake(self, stale_generation: u64) -> Result<Rc<Token>> {
        let result = self.obtain(stale_generation).await;
        let now = self.now();
        let mut st = self.inner.state.borrow_mut();
        st.tokens.inflight = None;
        match result {
            Ok(o) => {
                let hmac = self.inner.auth.signing_key(&o.secret);
                Ok(st
                    .tokens
                    .succeeded(o.secret, hmac, o.expires_at, o.generation, o.adopted))
            }
            Err(e) => {
                st.tokens.failed(e.clone(), now);
                Err(e)
            }
        }
    }

    /// Where every new token comes from: the token's secret, its expiry (ms since the epoch),
    /// and its generation when it comes with one. `stale_generation` is the newest generation
    /// this session has held (0: none). With a shared store ([`super::fleet`]), a token newer
    /// than that in the store is adopted with its generation, or this session makes it while it
    /// holds the fleet's lease; without one (or while the store is down), it is
    /// [`Session::acquire`] and the session's own next generation.
    pub(crate) async fn obtain(&self, stale_generation: u64) -> Result<Obtained> {
        if let Some(fleet) = self.inner.fleet.as_ref().filter(|f| f.shares_tokens()) {
            let margin = self.inner.opts.refresh_margin_ms;
            let mint = || async {
                let (secret, expires_at) = self.acquire().await?;
                let ip = self.inner.state.borrow().session_ip.clone();
                Ok(fleet::Minted {
                    secret,
                    expires_at,
                    ip,
                })
            };
            if let Some((t, made)) = fleet
                .obtain(&self.inner.host, stale_generation, margin, mint)
                .await?
            {
                let mut st = self.inner.state.borrow_mut();
                if made {
                    st.tokens.minted += 1;
                }
                if t.ip.is_some() {
                    st.session_ip = t.ip.clone();
                }
                return Ok(Obtained {
                    secret: t.secret.clone(),
                    expires_at: t.expires_at,
                    generation: Some(t.generation),
                    adopted: !made,
                });
            }
        }
        let (secret, expires_at) = self.acquire().await?;
        self.inner.state.borrow_mut().tokens.minted += 1;
        Ok(Obtained {
            secret,
            expires_at,
            generation: None,
            adopted: false,
        })
    }

    /// For a scheduled refresher: makes sure a token good for more than `within_ms` exists —
    /// the cached or stored one, else a new one (stored for the fleet when there is a store).
    pub async fn refresh(&self, within_ms: f64) -> Result<RefreshReport> {
        let minted = || self.inner.state.borrow().tokens.minted;
        let before = minted();
        let mut t = self.token().await?;
        if t.expires_at - self.now() <= within_ms {
            self.invalidate(t.generation);
            t = self.token().await?;
        }
        Ok(RefreshReport {
            refreshed: minted() > before,
            expires_at: t.expires_at,
            generation: t.generation,
        })
    }

    /// Gets a fresh token: the LST handshake (OAuth 1.0a), a new SSO session (OAuth 2.0), or
    /// nothing at all (the gateway holds its own session). If IBKR refuses it and its `Date`
    /// header has just shown our clock to be off, once more with corrected time.
    pub(crate) async fn acquire(&self) -> Result<(SecretBytes, f64)> {
        let offset_before = self.clock_offset_ms();
        let attempt = || self.inner.auth.acquire(self);
        match attempt().await {
            Err(e)
                if matches!(e.code(), ErrorCode::ClockSkew | ErrorCode::Unauthorized)
                    && self.clock_offset_ms() != offset_before =>
            {
                self.log(Level::Warn, "IBKR refused our credentials and its clock differs from ours; retrying once with the server's time");
                attempt().await
            }
            other => other,
        }
    }

    /// Drops the token if it is still generation `generation`.
    pub(crate) fn invalidate(&self, generation: u64) {
        self.inner.state.borrow_mut().tokens.invalidate(generation);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> SecretBytes {
        SecretBytes::new(vec![1, 2, 3])
    }

    #[test]
    fn fresh_means_beyond_the_refresh_margin() {
        let mut c = Cache::default();
        assert!(c.fresh(0.0, 10.0).is_none());
        c.succeeded(secret(), None, 1_000.0, None, false);
        assert!(c.fresh(989.0, 10.0).is_some());
        assert!(c.fresh(990.0, 10.0).is_none());
    }

    #[test]
    fn generations_increase_and_adopt_a_higher_given_one() {
        let mut c = Cache::default();
        assert_eq!(c.succeeded(secret(), None, 1.0, None, false).generation, 1);
        assert_eq!(
            c.succeeded(secret(), None, 1.0, Some(7), true).generation,
            7
        );
        // A given generation never moves the session backwards.
        assert_eq!(
            c.succeeded(secret(), None, 1.0, Some(3), true).generation,
            8
        );
        assert_eq!(c.succeeded(secret(), None, 1.0, None, false).generation, 9);
    }

    #[test]
    fn invalidate_drops_only_that_generation() {
        let mut c = Cache::default();
        c.succeeded(secret(), None, 1.0, None, false);
        c.invalidate(0);
        assert_eq!(c.current_generation(), Some(1));
        c.invalidate(1);
        assert_eq!(c.current_generation(), None);
    }

    #[test]
    fn the_second_failure_in_a_row_starts_a_doubling_back_off() {
        let mut c = Cache::default();
        let e = Error::new(ErrorCode::Unauthorized, "no").with_http(401, Some("bad".into()));
        c.failed(e.clone(), 0.0);
        assert!(
            c.refused(0.0).is_none(),
            "the first failure may retry at once"
        );
        c.failed(e.clone(), 0.0);
        let refused = c.refused(500.0).unwrap();
        assert_eq!(refused.code(), ErrorCode::Unauthorized);
        assert_eq!(refused.status(), Some(401));
        assert!(refused
            .message()
            .contains("after 2 failed handshakes in a row"));
        assert!(refused.message().contains("waits 1 s"));
        assert!(c.refused(1_000.0).is_none());
        c.failed(e, 1_000.0);
        assert_eq!(c.retry_at, 3_000.0);
        assert_eq!(backoff_ms(100), 300_000.0);
        c.succeeded(secret(), None, 1.0, None, false);
        assert_eq!(c.failures, 0);
        assert!(c.refused(1_500.0).is_none());
    }
}
