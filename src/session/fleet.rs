//! One token for a fleet: the protocol that processes sharing a token store follow, over the
//! host's `store_*` calls.
//!
//! - **A fresh token in the store is used as it is**: no handshake.
//! - **Otherwise a lease elects the one process that handshakes** (`setIfAbsent` with a TTL);
//!   it looks at the store once more (another may have just finished), handshakes, stores the
//!   sealed token with the next generation and gives the lease back. The others poll the store
//!   (100 ms, growing to 1 s) until the new token is there, the lease is free again (its holder
//!   died: they compete for it), or `wait_ms` has passed (`TIMEOUT`, never a stampede).
//! - **Generations**: a 401 on generation `g` asks for a token newer than `g`, so a stale 401 —
//!   one from the token before — picks up the token another process already made instead of
//!   making a second one. A new generation is above the stored one and at least the time in ms,
//!   so generations keep growing even after an entry expired from the store.
//! - **A failed handshake is recorded** (code and message, no secret) for a back-off the whole
//!   fleet honours: the processes waiting for it get the same error, and nobody tries again
//!   until it expires (5 s, doubling to 5 min), so a fleet cannot hammer IBKR with a bad key.
//!   Only IBKR's verdicts on the account are recorded (a refusal, a wrong answer), not one
//!   process's own network or configuration trouble; one record is heeded for 5 min at most.
//! - **The store being down costs nothing but sharing**: a store call that fails or takes longer
//!   than `op_timeout_ms` makes the session use its own handshake, with one warning per outage;
//!   the store is tried again after 5 s. (A call given up on may still complete in the store
//!   later; a lease set that way expires by itself.)
//!
//! The sealing (what is stored, how it is bound to the account) is `crate::fleet`.

use std::cell::Cell;

use futures_util::future::{select, Either};

use super::host::{Host, Level};
use crate::error::{Error, ErrorCode, Result};
use crate::fleet::{FleetAccount, Sealed, Slot};
use crate::keys::SecretBytes;

/// How long a store is left alone after it failed.
const STORE_RETRY_MS: f64 = 5_000.0;
/// The shortest and longest fleet-wide back-off after a failed handshake.
const FAILURE_MIN_MS: u64 = 5_000;
const FAILURE_MAX_MS: u64 = 300_000;

/// The store options.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// How long a process waits for another one's handshake before `TIMEOUT`; 0: the lease's
    /// TTL and 30 s more.
    pub wait_ms: f64,
    /// The lease's TTL: longer than a handshake takes; when its holder dies, the others take
    /// over after this long. 0: 30 s, or longer when a handshake may take longer (its requests'
    /// timeouts together: [`Fleet::new`]).
    pub lease_ms: u64,
    /// One store call; a slower store counts as down.
    pub op_timeout_ms: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            wait_ms: 0.0,
            lease_ms: 0,
            op_timeout_ms: 2_000,
        }
    }
}

/// What a handshake gives: the token, its expiry and (OAuth 2.0) the IP it was made for.
pub struct Minted {
    /// The LST's bytes or the bearer token.
    pub secret: SecretBytes,
    /// Expiry, ms since the epoch.
    pub expires_at: f64,
    /// The OAuth 2.0 session's public IP.
    pub ip: Option<String>,
}

/// A session's membership in a fleet: its account's keys in the store, its own lease value,
/// and whether the store is answering.
pub struct Fleet {
    account: FleetAccount,
    opts: StoreOptions,
    /// This process's lease value: random, so a lease is released only by its holder.
    holder: String,
    down_until: Cell<f64>,
    warned_down: Cell<bool>,
    warned_foreign: Cell<bool>,
    /// The failure record this process last saw, and when it first saw it.
    seen_failure: std::cell::RefCell<Option<(String, f64)>>,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

/// The result of a store call that is given up on after the time limit.
fn store_error(what: &str, e: &Error) -> Error {
    Error::new(
        ErrorCode::Network,
        format!("the token store failed to {what}: {}", e.message()),
    )
}

impl Fleet {
    /// A fleet member for `account`, whose handshake may take up to `handshake_ms` (what the
    /// lease's TTL must outlast when it is not set).
    pub fn new(account: FleetAccount, mut opts: StoreOptions, handshake_ms: u64) -> Result<Self> {
        if opts.lease_ms == 0 {
            opts.lease_ms = handshake_ms.max(30_000);
        }
        if opts.wait_ms <= 0.0 {
            opts.wait_ms = opts.lease_ms as f64 + 30_000.0;
        }
        let mut b = [0u8; 12];
        crate::keys::getrandom_fill(&mut b)?;
        Ok(Fleet {
            account,
            opts,
            holder: crate::encoding::hex_encode(&b),
            down_until: Cell::new(0.0),
            warned_down: Cell::new(false),
            warned_foreign: Cell::new(false),
            seen_failure: std::cell::RefCell::new(None),
        })
    }

    /// The lease's TTL.
    pub fn lease_ms(&self) -> u64 {
        self.opts.lease_ms
    }

    /// How long a process waits for another one's work.
    pub fn wait_ms(&self) -> f64 {
        self.opts.wait_ms
    }

    /// Whether tokens are shared (not for the gateway, which has none; its leases still are).
    pub fn shares_tokens(&self) -> bool {
        self.account.has_token()
    }

    /// The store key of `slot`.
    pub fn key(&self, slot: Slot) -> String {
        self.account.key(slot)
    }

    /// Whether the store is to be used now (it has not failed in the last 5 s).
    pub fn available<H: Host>(&self, host: &H) -> bool {
        host.now_ms() >= self.down_until.get()
    }

    /// Notes a failed store call: one warning per outage, then 5 s without the store.
    fn down<H: Host>(&self, host: &H, e: &Error) {
        self.down_until.set(host.now_ms() + STORE_RETRY_MS);
        if !self.warned_down.replace(true) {
            host.log(
                Level::Warn,
                &format!(
                    "{}; this process uses its own token until the store answers again (tried again every 5 s)",
                    e.message()
                ),
            );
        }
    }

    /// Notes a store call that worked: a later outage is reported again.
    fn up<H: Host>(&self, host: &H) {
        if self.warned_down.replace(false) {
            host.log(Level::Info, "the token store answers again; sharing tokens");
        }
    }

    /// Runs one store call with the time limit; a failure marks the store down.
    async fn call<H: Host, T>(
        &self,
        host: &H,
        what: &str,
        fut: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let fut = std::pin::pin!(fut);
        let timer = std::pin::pin!(host.sleep(self.opts.op_timeout_ms));
        let r = match select(fut, timer).await {
            Either::Left((r, _)) => r.map_err(|e| store_error(what, &e)),
            Either::Right(((), _)) => Err(Error::new(
                ErrorCode::Timeout,
                format!(
                    "the token store did not {what} within {} ms",
                    self.opts.op_timeout_ms
                ),
            )),
        };
        match &r {
            Ok(_) => self.up(host),
            Err(e) => self.down(host, e),
        }
        r
    }

    /// The slot's value.
    pub async fn get<H: Host>(&self, host: &H, slot: Slot) -> Result<Option<String>> {
        let key = self.key(slot);
        self.call(host, "answer a read", host.store_get(&key)).await
    }

    /// Sets the slot for `ttl_ms`.
    pub async fn set<H: Host>(&self, host: &H, slot: Slot, value: &str, ttl_ms: u64) -> Result<()> {
        let key = self.key(slot);
        self.call(
            host,
            "store a value",
            host.store_set(&key, value, ttl_ms.max(1)),
        )
        .await
    }

    /// Takes the slot as a lease (with this process's holder value) for `ttl_ms`.
    pub async fn lease<H: Host>(&self, host: &H, slot: Slot, ttl_ms: u64) -> Result<bool> {
        let key = self.key(slot);
        self.call(
            host,
            "grant a lease",
            host.store_set_if_absent(&key, &self.holder, ttl_ms.max(1)),
        )
        .await
    }

    /// Gives back a lease this process holds: a lease that expired and went to another process
    /// is left alone (`TokenStore` has no compare-and-delete, so this is a read and then a
    /// delete; a lease changing hands in the instant between them is cut short, which costs at
    /// most a duplicate handshake). Errors are ignored: the lease expires by itself.
    pub async fn release<H: Host>(&self, host: &H, slot: Slot) {
        if let Ok(Some(v)) = self.get(host, slot).await {
            if v == self.holder {
                let key = self.key(slot);
                let _ = self
                    .call(host, "remove a lease", host.store_delete(&key))
                    .await;
            }
        }
    }

    /// Removes the slot's value.
    pub async fn delete<H: Host>(&self, host: &H, slot: Slot) -> Result<()> {
        let key = self.key(slot);
        self.call(host, "remove a value", host.store_delete(&key))
            .await
    }

    /// The stored token, if one this account sealed is there. A value that does not open
    /// (tampered with, another account's, damaged) is ignored with a warning.
    pub async fn read<H: Host>(&self, host: &H) -> Result<Option<Sealed>> {
        let Some(value) = self.get(host, Slot::Token).await? else {
            return Ok(None);
        };
        let opened = self.account.open(&value);
        if opened.is_none() && !self.warned_foreign.replace(true) {
            host.log(
                Level::Warn,
                "the token store holds an entry for this account that does not open with its key (tampered with, \
                 damaged, or written with other credentials): ignoring it; a fresh handshake replaces it",
            );
        }
        Ok(opened)
    }

    /// Stores `t`, sealed, until it expires.
    async fn write<H: Host>(&self, host: &H, t: &Sealed) -> Result<()> {
        let sealed = self.account.seal(t)?;
        let ttl = (t.expires_at - host.now_ms()).max(1000.0) as u64;
        self.set(host, Slot::Token, &sealed, ttl).await
    }

    /// The last failed handshake of the fleet: how many failed in a row, until when the fleet
    /// waits, and the error (kept 15 min longer than the wait, so the count keeps growing).
    async fn failure<H: Host>(&self, host: &H) -> Result<Option<(u32, f64, Error)>> {
        let Some(v) = self.get(host, Slot::Failure).await? else {
            return Ok(None);
        };
        // The record is plain (it holds no secret): whatever it says, this process heeds one
        // record for at most the longest back-off from when it first saw it.
        let now = host.now_ms();
        let first_seen = {
            let mut seen = self.seen_failure.borrow_mut();
            match seen.as_ref() {
                Some((value, at)) if *value == v => *at,
                _ => {
                    *seen = Some((v.clone(), now));
                    now
                }
            }
        };
        let mut parts = v.splitn(5, '\n');
        let mut next = || parts.next().unwrap_or("");
        let n = next().parse::<u32>().unwrap_or(1);
        let until = next()
            .parse::<f64>()
            .unwrap_or(0.0)
            .min(first_seen + FAILURE_MAX_MS as f64);
        let code_text = next();
        let code = ErrorCode::parse(code_text).unwrap_or(ErrorCode::Unauthorized);
        let status = next().parse::<u16>().ok();
        let message = match next() {
            "" => "the handshake failed",
            m => m,
        };
        let e = Error::new(
            code,
            format!(
                "{message} (a handshake for this account failed {n} time(s) in a row in this fleet; the next attempt \
                 waits {} s so that IBKR does not lock the account)",
                ((until - host.now_ms()) / 1000.0).ceil().max(0.0) as u64
            ),
        )
        .with_http_opt(status, None);
        Ok(Some((n, until, e)))
    }

    /// Records a failed handshake for the fleet-wide back-off (5 s, doubling, at most 5 min).
    async fn record_failure<H: Host>(&self, host: &H, previous: u32, e: &Error) {
        let n = previous.saturating_add(1);
        let wait = FAILURE_MIN_MS
            .saturating_mul(1u64 << (n - 1).min(16))
            .min(FAILURE_MAX_MS);
        let value = format!(
            "{n}\n{}\n{}\n{}\n{}",
            (host.now_ms() + wait as f64).max(0.0) as u64,
            e.code().as_str(),
            e.status().map(|s| s.to_string()).unwrap_or_default(),
            e.message().replace('\n', " ")
        );
        let _ = self.set(host, Slot::Failure, &value, wait + 900_000).await;
    }

    /// A token newer than generation `stale` that is good for more than `margin_ms`: the stored
    /// one, or one this process makes with `handshake` while it holds the lease (then `true`).
    /// `Ok(None)`: the store is not answering; the caller makes its own token.
    pub async fn obtain<H, F, Fut>(
        &self,
        host: &H,
        stale: u64,
        margin_ms: f64,
        handshake: F,
    ) -> Result<Option<(Sealed, bool)>>
    where
        H: Host,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Minted>>,
    {
        let started = host.now_ms();
        let usable = |t: &Sealed, now: f64| t.generation > stale && now + margin_ms < t.expires_at;
        let mut poll = 100u64;
        // The wait is bounded by the time slept too, so a clock that stands still (a `clock`
        // option frozen in a test) cannot make it endless.
        let mut slept = 0u64;
        let mut waited_for_lease = false;
        loop {
            if !self.available(host) {
                return Ok(None);
            }
            let now = host.now_ms();
            let Ok(stored) = self.read(host).await else {
                return Ok(None);
            };
            if let Some(t) = stored.as_ref().filter(|t| usable(t, now)) {
                if waited_for_lease {
                    host.log(Level::Debug, "fleet: using the token another process made");
                }
                return Ok(Some((t.clone(), false)));
            }
            let floor = stored.map_or(0, |t| t.generation).max(stale);
            let Ok(failure) = self.failure(host).await else {
                return Ok(None);
            };
            if let Some((_, until, e)) = &failure {
                if now < *until {
                    return Err(e.clone());
                }
            }
            let Ok(won) = self.lease(host, Slot::Lease, self.opts.lease_ms).await else {
                return Ok(None);
            };
            if !won {
                let waited = (host.now_ms() - started).max(slept as f64);
                if waited >= self.opts.wait_ms {
                    return Err(Error::new(
                        ErrorCode::Timeout,
                        format!(
                            "waited {} s for another process's handshake for this account (it holds the token store's lease) \
                             and no token came: that process may be stuck. It is taken over when its lease expires \
                             ({} s); raise storeWaitMs to wait longer.",
                            (self.opts.wait_ms / 1000.0).round() as u64,
                            self.opts.lease_ms / 1000
                        ),
                    ));
                }
                if !waited_for_lease {
                    host.log(
                        Level::Debug,
                        "fleet: another process is making the token; waiting for it",
                    );
                }
                waited_for_lease = true;
                host.sleep(poll).await;
                slept += poll;
                poll = (poll * 3 / 2).min(1000);
                continue;
            }
            // The lease is ours. Another process may have stored a token, or recorded a failed
            // handshake, between the reads and the lease: look once more.
            let again = match self.read(host).await {
                Ok(Some(t)) if usable(&t, host.now_ms()) => Ok(Some((t, false))),
                Ok(_) => match self.failure(host).await {
                    Ok(Some((_, until, e))) if host.now_ms() < until => Err(e),
                    Ok(f) => {
                        let previous = f.map_or(0, |(n, _, _)| n);
                        return self.make(host, floor, previous, handshake).await;
                    }
                    Err(_) => Ok(None),
                },
                Err(_) => Ok(None),
            };
            self.release(host, Slot::Lease).await;
            return again;
        }
    }

    /// The lease holder's handshake: the token is stored with the next generation (unless a
    /// newer one got there first: a holder whose lease ran out while it worked), a failure is
    /// recorded for the fleet's back-off, and the lease is given back.
    async fn make<H, F, Fut>(
        &self,
        host: &H,
        floor: u64,
        previous_failures: u32,
        handshake: F,
    ) -> Result<Option<(Sealed, bool)>>
    where
        H: Host,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Minted>>,
    {
        let result = match handshake().await {
            Ok(m) => {
                // Above every generation seen, and above any made before the store lost its
                // entry (it expired): the time in ms grows (on machines whose clocks agree; a
                // process behind in time still stays above what it has seen).
                let t = Sealed {
                    generation: (floor + 1).max(host.now_ms().max(0.0) as u64),
                    expires_at: m.expires_at,
                    secret: m.secret,
                    ip: m.ip,
                };
                let newer =
                    matches!(self.read(host).await, Ok(Some(s)) if s.generation >= t.generation);
                if !newer && self.write(host, &t).await.is_ok() {
                    if previous_failures > 0 {
                        let _ = self.delete(host, Slot::Failure).await;
                    }
                    host.log(
                        Level::Debug,
                        &format!("fleet: stored token generation {}", t.generation),
                    );
                }
                Ok(Some((t, true)))
            }
            Err(e) => {
                if concerns_the_account(&e) {
                    self.record_failure(host, previous_failures, &e).await;
                }
                Err(e)
            }
        };
        self.release(host, Slot::Lease).await;
        result
    }
}

/// Whether a failed handshake says something about the account that every process would meet
/// (IBKR refused it, or its answer was wrong or cut short: the fleet backs off rather than have
/// every process retry at once) — recorded for the fleet's back-off — rather than
/// about this process (its network, its configuration, an abort).
fn concerns_the_account(e: &Error) -> bool {
    matches!(
        e.code(),
        ErrorCode::Unauthorized
            | ErrorCode::ClockSkew
            | ErrorCode::RateLimited
            | ErrorCode::Gone
            | ErrorCode::HttpError
            | ErrorCode::UnexpectedResponse
            | ErrorCode::BadDhResponse
            | ErrorCode::LstSignatureMismatch
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_or_cut_answer_concerns_the_account_a_local_failure_does_not() {
        let e = |c| Error::new(c, "x");
        for c in [
            ErrorCode::UnexpectedResponse,
            ErrorCode::BadDhResponse,
            ErrorCode::Unauthorized,
        ] {
            assert!(concerns_the_account(&e(c)), "{c:?}");
        }
        for c in [
            ErrorCode::Network,
            ErrorCode::Timeout,
            ErrorCode::Aborted,
            ErrorCode::InvalidArgument,
        ] {
            assert!(!concerns_the_account(&e(c)), "{c:?}");
        }
    }
    use crate::session::host::{HttpRequest, HttpResponse};
    use futures_executor::block_on;
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::rc::Rc;

    /// A store and a clock shared by the "processes" of a test; sleeping moves the clock.
    #[derive(Default)]
    struct World {
        now: Cell<f64>,
        entries: RefCell<HashMap<String, (String, f64)>>,
        down: Cell<bool>,
        logs: RefCell<Vec<String>>,
    }

    #[derive(Clone)]
    struct StoreHost(Rc<World>);

    struct NoResponse;
    impl HttpResponse for NoResponse {
        fn status(&self) -> u16 {
            0
        }
        fn header(&self, _: &str) -> Option<String> {
            None
        }
        async fn text(&self) -> Result<String> {
            Ok(String::new())
        }
    }

    impl StoreHost {
        fn live(&self, key: &str) -> Option<String> {
            let now = self.0.now.get();
            self.0
                .entries
                .borrow()
                .get(key)
                .filter(|(_, exp)| *exp > now)
                .map(|(v, _)| v.clone())
        }
        fn check(&self) -> Result<()> {
            if self.0.down.get() {
                Err(Error::new(ErrorCode::Network, "ECONNREFUSED"))
            } else {
                Ok(())
            }
        }
    }

    impl Host for StoreHost {
        type Value = String;
        type Response = NoResponse;
        async fn fetch(&self, _: &HttpRequest<String>) -> Result<NoResponse> {
            Err(Error::new(ErrorCode::Network, "no network in this test"))
        }
        fn text_body(&self, text: &str) -> String {
            text.to_owned()
        }
        fn now_ms(&self) -> f64 {
            self.0.now.get()
        }
        async fn sleep(&self, ms: u64) {
            self.0.now.set(self.0.now.get() + ms as f64);
        }
        fn log(&self, _: Level, message: &str) {
            self.0.logs.borrow_mut().push(message.to_owned());
        }
        fn has_store(&self) -> bool {
            true
        }
        async fn store_get(&self, key: &str) -> Result<Option<String>> {
            self.check()?;
            Ok(self.live(key))
        }
        async fn store_set(&self, key: &str, value: &str, ttl_ms: u64) -> Result<()> {
            self.check()?;
            let exp = self.0.now.get() + ttl_ms as f64;
            self.0
                .entries
                .borrow_mut()
                .insert(key.to_owned(), (value.to_owned(), exp));
            Ok(())
        }
        async fn store_set_if_absent(&self, key: &str, value: &str, ttl_ms: u64) -> Result<bool> {
            self.check()?;
            if self.live(key).is_some() {
                return Ok(false);
            }
            self.store_set(key, value, ttl_ms).await?;
            Ok(true)
        }
        async fn store_delete(&self, key: &str) -> Result<()> {
            self.check()?;
            self.0.entries.borrow_mut().remove(key);
            Ok(())
        }
    }

    const HOUR: f64 = 3_600_000.0;

    fn setup() -> (StoreHost, Fleet) {
        let world = Rc::new(World::default());
        world.now.set(1_700_000_000_000.0);
        (StoreHost(world), member(1))
    }

    fn member(prepend: u8) -> Fleet {
        let account =
            FleetAccount::oauth1("CONS", "tok", &SecretBytes::new(vec![prepend; 32])).unwrap();
        Fleet::new(account, StoreOptions::default(), 15_000).unwrap()
    }

    fn minted(host: &StoreHost, byte: u8) -> Result<Minted> {
        Ok(Minted {
            secret: SecretBytes::new(vec![byte; 20]),
            expires_at: host.now_ms() + 24.0 * HOUR,
            ip: None,
        })
    }

    #[test]
    fn the_first_handshakes_and_stores_the_next_adopts_it() {
        let (host, a) = setup();
        let made = Cell::new(0);
        let t = block_on(a.obtain(&host, 0, 600_000.0, || async {
            made.set(made.get() + 1);
            minted(&host, 1)
        }))
        .unwrap()
        .unwrap()
        .0;
        let b = member(1);
        let u = block_on(b.obtain(&host, 0, 600_000.0, || async {
            made.set(made.get() + 1);
            minted(&host, 2)
        }))
        .unwrap()
        .unwrap()
        .0;
        assert_eq!(made.get(), 1);
        assert_eq!(u, t);
        assert!(t.generation >= 1_700_000_000_000, "a time-based generation");
        // The lease was given back.
        assert_eq!(host.live(&a.key(Slot::Lease)), None);
    }

    #[test]
    fn a_stale_generation_is_not_adopted_and_the_new_one_is_above_it() {
        let (host, a) = setup();
        let t = block_on(a.obtain(&host, 0, 0.0, || async { minted(&host, 1) }))
            .unwrap()
            .unwrap()
            .0;
        let made = Cell::new(false);
        let u = block_on(a.obtain(&host, t.generation, 0.0, || async {
            made.set(true);
            minted(&host, 2)
        }))
        .unwrap()
        .unwrap()
        .0;
        assert!(made.get());
        assert!(u.generation > t.generation);
        // A process still on the older one adopts the newer one.
        let v = block_on(member(1).obtain(&host, t.generation, 0.0, || async { minted(&host, 3) }))
            .unwrap()
            .unwrap()
            .0;
        assert_eq!(v, u);
    }

    #[test]
    fn a_token_inside_the_refresh_margin_is_renewed() {
        let (host, a) = setup();
        block_on(a.obtain(&host, 0, 0.0, || async { minted(&host, 1) })).unwrap();
        host.0.now.set(host.0.now.get() + 23.95 * HOUR);
        let made = Cell::new(false);
        block_on(a.obtain(&host, 0, 600_000.0, || async {
            made.set(true);
            minted(&host, 2)
        }))
        .unwrap();
        assert!(made.get());
    }

    #[test]
    fn a_waiter_takes_over_when_the_lease_holder_died() {
        let (host, a) = setup();
        // A holder that took the lease and never came back.
        block_on(host.store_set_if_absent(&a.key(Slot::Lease), "dead", 30_000)).unwrap();
        let start = host.now_ms();
        let t = block_on(a.obtain(&host, 0, 0.0, || async { minted(&host, 1) }))
            .unwrap()
            .unwrap()
            .0;
        assert_eq!(t.secret.expose(), &[1u8; 20][..]);
        let waited = host.now_ms() - start;
        assert!((30_000.0..32_000.0).contains(&waited), "{waited}");
    }

    #[test]
    fn a_waiter_gives_up_after_the_wait_with_a_timeout() {
        let (host, a) = setup();
        block_on(host.store_set_if_absent(&a.key(Slot::Lease), "stuck", 10_000_000)).unwrap();
        let e = block_on(a.obtain(&host, 0, 0.0, || async { minted(&host, 1) })).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Timeout);
        assert!(e.message().contains("storeWaitMs"), "{}", e.message());
    }

    #[test]
    fn a_failed_handshake_backs_the_whole_fleet_off() {
        let (host, a) = setup();
        let refused = || async {
            Err::<Minted, _>(
                Error::new(ErrorCode::Unauthorized, "IBKR rejected the handshake")
                    .with_http(401, None),
            )
        };
        let e = block_on(a.obtain(&host, 0, 0.0, refused)).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Unauthorized);
        // Another process does not try: it gets the error while the back-off lasts (5 s).
        let tried = Cell::new(false);
        let e = block_on(member(1).obtain(&host, 0, 0.0, || async {
            tried.set(true);
            minted(&host, 1)
        }))
        .unwrap_err();
        assert!(!tried.get());
        assert_eq!((e.code(), e.status()), (ErrorCode::Unauthorized, Some(401)));
        assert!(
            e.message().contains("1 time(s) in a row"),
            "{}",
            e.message()
        );
        // After it, one try; a second failure doubles the wait.
        host.0.now.set(host.0.now.get() + 5_001.0);
        block_on(a.obtain(&host, 0, 0.0, refused)).unwrap_err();
        host.0.now.set(host.0.now.get() + 5_001.0);
        let e = block_on(a.obtain(&host, 0, 0.0, refused)).unwrap_err();
        assert!(
            e.message().contains("2 time(s) in a row"),
            "{}",
            e.message()
        );
        // Success clears it.
        host.0.now.set(host.0.now.get() + 10_001.0);
        block_on(a.obtain(&host, 0, 0.0, || async { minted(&host, 1) })).unwrap();
        assert_eq!(host.live(&a.key(Slot::Failure)), None);
    }

    #[test]
    fn only_ibkrs_verdicts_on_the_account_back_the_fleet_off_and_never_beyond_5_min() {
        let (host, a) = setup();
        let local = || async { Err::<Minted, _>(Error::new(ErrorCode::Network, "ECONNRESET")) };
        block_on(a.obtain(&host, 0, 0.0, local)).unwrap_err();
        assert_eq!(
            host.live(&a.key(Slot::Failure)),
            None,
            "a network error is this process's"
        );
        // A record that says "wait a day" (written by a broken or hostile writer): 5 min at most.
        let day = host.now_ms() + 86_400_000.0;
        block_on(host.store_set(
            &a.key(Slot::Failure),
            &format!("1\n{day}\nUNAUTHORIZED\n401\nrefused"),
            100_000_000,
        ))
        .unwrap();
        let e = block_on(a.obtain(&host, 0, 0.0, || async { minted(&host, 1) })).unwrap_err();
        assert!(e.message().contains("waits 300 s"), "{}", e.message());
        host.0.now.set(host.0.now.get() + 300_001.0);
        assert!(
            block_on(a.obtain(&host, 0, 0.0, || async { minted(&host, 1) }))
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn a_holder_whose_lease_ran_out_does_not_overwrite_a_newer_token() {
        let (host, a) = setup();
        let b = member(1);
        let newer = std::cell::RefCell::new(None);
        let t = block_on(a.obtain(&host, 0, 0.0, || async {
            // While a works, its lease runs out and b stores a token of its own.
            host.0.entries.borrow_mut().remove(&a.key(Slot::Lease));
            host.0.now.set(host.0.now.get() + 10.0);
            let u = b
                .obtain(&host, 0, 0.0, || async { minted(&host, 2) })
                .await
                .unwrap()
                .unwrap()
                .0;
            *newer.borrow_mut() = Some(u);
            host.0.now.set(host.0.now.get() - 5.0);
            minted(&host, 1)
        }))
        .unwrap()
        .unwrap()
        .0;
        let u = newer.borrow().clone().unwrap();
        assert!(u.generation > t.generation);
        let stored = block_on(a.read(&host)).unwrap().unwrap();
        assert_eq!(stored, u, "b's newer token stays");
    }

    #[test]
    fn a_store_that_is_down_is_left_alone_for_a_while_with_one_warning() {
        let (host, a) = setup();
        host.0.down.set(true);
        let r = block_on(a.obtain(&host, 0, 0.0, || async { minted(&host, 1) })).unwrap();
        assert!(r.is_none(), "the caller makes its own token");
        assert!(!a.available(&host));
        block_on(a.obtain(&host, 0, 0.0, || async { minted(&host, 1) })).unwrap();
        let warnings = host
            .0
            .logs
            .borrow()
            .iter()
            .filter(|l| l.contains("token store"))
            .count();
        assert_eq!(warnings, 1);
        host.0.down.set(false);
        host.0.now.set(host.0.now.get() + STORE_RETRY_MS);
        assert!(
            block_on(a.obtain(&host, 0, 0.0, || async { minted(&host, 1) }))
                .unwrap()
                .is_some()
        );
        assert!(host
            .0
            .logs
            .borrow()
            .iter()
            .any(|l| l.contains("answers again")));
    }

    #[test]
    fn another_accounts_or_a_tampered_entry_is_ignored_with_a_warning() {
        let (host, a) = setup();
        let t = block_on(a.obtain(&host, 0, 0.0, || async { minted(&host, 1) }))
            .unwrap()
            .unwrap()
            .0;
        // The same key, another secret: the entry does not open; a fresh token replaces it.
        let b = member(2);
        let u = block_on(b.obtain(&host, 0, 0.0, || async { minted(&host, 2) }))
            .unwrap()
            .unwrap()
            .0;
        assert_ne!(u.secret, t.secret);
        assert!(host
            .0
            .logs
            .borrow()
            .iter()
            .any(|l| l.contains("does not open")));
    }
}
