//! The session lifecycle against an in-memory host: a virtual clock, a scripted server, and
//! fetches that yield to the executor so that concurrent callers really overlap. The cryptography
//! is checked elsewhere (vectors, and the Node simulator); here the server side uses the same
//! maths only to answer handshakes.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_executor::block_on;
use futures_util::future::join_all;
use hmac::{Hmac, Mac};
use ibkr_auth::session::{
    Call, Host, HttpRequest, HttpResponse, Level, Oauth1Credentials, Oauth1Inputs, Options, Pacer,
    Session,
};
use ibkr_auth::{Error, ErrorCode, PrivateKey, Result};
use rsa09::BigUint;
use sha1::Sha1;

/// Returns Pending `n` times, so other tasks run before this one continues: network latency
/// counted in polls. It must exceed a test's concurrency, because every waiter on a shared
/// handshake drives it one poll further.
struct YieldNow(u32);
impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 == 0 {
            Poll::Ready(())
        } else {
            self.0 -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

const LATENCY_POLLS: u32 = 2500;

#[derive(Clone, Debug)]
enum Fault {
    Status(u16, &'static str),
    Network,
    RetryAfter(&'static str),
}

#[derive(Default)]
struct Server {
    prime: Option<BigUint>,
    prepend: Vec<u8>,
    consumer_key: String,
    /// LST generations the server accepts (only the latest).
    current: Option<Vec<u8>>,
    handshakes: u32,
    fail_handshakes: u32,
    faults: Vec<(String, VecDeque<Fault>)>,
    sent: Vec<(String, String, String)>,
    date_offset_ms: Option<f64>,
    authenticated: bool,
    inits: u32,
    /// Milliseconds the LST handshake takes on the server (the mock clock moves on by that).
    handshake_ms: f64,
    /// When each request arrived (path, mock clock).
    arrivals: Vec<(String, f64)>,
}

/// What the mock host does when asked for an RSA signature (a runtime's WebCrypto).
#[derive(Clone, Copy, Default, PartialEq)]
enum HostRsa {
    /// No native signer (the session signs with the `rsa` crate).
    #[default]
    None,
    /// A correct signature.
    Correct,
    /// A signature of the right length that does not verify.
    Wrong,
}

/// A store's entries: key → (value, expiry on the mock clock).
type Entries = HashMap<String, (String, f64)>;

#[derive(Clone)]
struct Mock {
    clock: Rc<Cell<f64>>,
    server: Rc<RefCell<Server>>,
    logs: Rc<RefCell<Vec<(Level, String)>>>,
    host_rsa: Rc<Cell<HostRsa>>,
    /// The signatures the host returned, base64.
    host_signatures: Rc<RefCell<Vec<String>>>,
    /// A token store shared by the sessions of a fleet: key → (value, expiry on the mock clock).
    /// It answers at once (a store call's time limit is a sleep, and the mock's sleeps end after
    /// one poll).
    store: Option<Rc<RefCell<Entries>>>,
}

struct Resp {
    status: u16,
    body: String,
    headers: Vec<(String, String)>,
}

impl HttpResponse for Resp {
    fn status(&self) -> u16 {
        self.status
    }
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
    async fn text(&self) -> Result<String> {
        Ok(self.body.clone())
    }
}

fn header_param(auth: &str, key: &str) -> Option<String> {
    let start = auth.find(&format!("{key}=\""))? + key.len() + 2;
    let end = auth[start..].find('"')? + start;
    Some(auth[start..end].to_owned())
}

fn header_params(auth: &str) -> Vec<(String, String)> {
    auth.trim_start_matches("OAuth ")
        .split(", ")
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            (
                k.to_owned(),
                ibkr_auth::encoding::form_decode(v.trim_matches('"')),
            )
        })
        .collect()
}

fn signature_ok(lst: &[u8], method: &str, url: &str, auth: &str) -> bool {
    let params = header_params(auth);
    let sig = params
        .iter()
        .find(|(k, _)| k == "oauth_signature")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let Ok(base) = ibkr_auth::oauth1::base_string(method, url, &params, None, true) else {
        return false;
    };
    let lst = ibkr_auth::SecretBytes::new(lst.to_vec());
    ibkr_auth::oauth1::request::hmac_sha256_base64(&lst, &base).is_ok_and(|ours| ours == sig)
}

fn http_date(ms: f64) -> String {
    // Only what the tests need: a date in 2023-11-14 (ms near 1_700_000_000_000).
    let secs = (ms / 1000.0) as i64 - 1_699_920_000; // 2023-11-14 00:00:00 UTC
    format!(
        "Tue, 14 Nov 2023 {:02}:{:02}:{:02} GMT",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

impl Mock {
    fn respond(&self, req: &HttpRequest<String>) -> Result<Resp> {
        let now = self.clock.get();
        let mut s = self.server.borrow_mut();
        let auth = req
            .headers
            .iter()
            .find(|(k, _)| k == "Authorization")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let path = req
            .url
            .split("/v1/api")
            .nth(1)
            .unwrap_or("")
            .split('?')
            .next()
            .unwrap_or("")
            .to_owned();
        s.sent
            .push((req.method.clone(), path.clone(), auth.clone()));
        s.arrivals.push((path.clone(), now));
        let mut headers = vec![];
        if let Some(off) = s.date_offset_ms {
            headers.push(("Date".to_owned(), http_date(now + off)));
        }
        let ok = |body: String, headers| {
            Ok(Resp {
                status: 200,
                body,
                headers,
            })
        };
        if let Some((_, q)) = s
            .faults
            .iter_mut()
            .find(|(p, q)| *p == path && !q.is_empty())
        {
            match q.pop_front().unwrap() {
                Fault::Network => return Err(Error::new(ErrorCode::Network, "connection reset")),
                Fault::Status(code, body) => {
                    return Ok(Resp {
                        status: code,
                        body: body.to_owned(),
                        headers,
                    })
                }
                Fault::RetryAfter(secs) => {
                    headers.push(("Retry-After".into(), (*secs).to_owned()));
                    return Ok(Resp {
                        status: 429,
                        body: "{\"error\":\"Too many requests\"}".into(),
                        headers,
                    });
                }
            }
        }
        if path == "/oauth/live_session_token" {
            s.handshakes += 1;
            self.clock.set(now + s.handshake_ms);
            if s.fail_handshakes > 0 {
                s.fail_handshakes -= 1;
                return Ok(Resp {
                    status: 401,
                    body: "{\"error\":\"invalid signature\"}".into(),
                    headers,
                });
            }
            let p = s.prime.clone().unwrap();
            let a_pub = BigUint::parse_bytes(
                header_param(&auth, "diffie_hellman_challenge")
                    .unwrap()
                    .as_bytes(),
                16,
            )
            .unwrap();
            let b = BigUint::from(0x1234_5678_9abc_def1_u64) * BigUint::from(s.handshakes + 7);
            let big_b = BigUint::from(2u32).modpow(&b, &p);
            let mut k = a_pub.modpow(&b, &p).to_bytes_be();
            if k[0] & 0x80 != 0 {
                k.insert(0, 0);
            }
            let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(&k).unwrap();
            mac.update(&s.prepend);
            let lst = mac.finalize().into_bytes().to_vec();
            let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(&lst).unwrap();
            mac.update(s.consumer_key.as_bytes());
            let sig = ibkr_auth::encoding::hex_encode(&mac.finalize().into_bytes());
            s.current = Some(lst);
            let exp = now + 24.0 * 3600.0 * 1000.0;
            return ok(
                format!("{{\"diffie_hellman_response\":\"{}\",\"live_session_token_signature\":\"{sig}\",\"live_session_token_expiration\":{exp}}}", big_b.to_str_radix(16)),
                headers,
            );
        }
        // Everything else must carry a valid HMAC-SHA256 signature under the current LST.
        if !s
            .current
            .as_ref()
            .is_some_and(|lst| signature_ok(lst, &req.method, &req.url, &auth))
        {
            return Ok(Resp {
                status: 401,
                body: "{\"error\":\"invalid signature or live session token expired\"}".into(),
                headers,
            });
        }
        match path.as_str() {
            "/iserver/auth/ssodh/init" => {
                s.inits += 1;
                s.authenticated = true;
                ok("{\"authenticated\":true,\"competing\":false,\"connected\":true}".into(), headers)
            }
            "/iserver/auth/status" => ok(format!("{{\"authenticated\":{},\"competing\":false}}", s.authenticated), headers),
            // The session value belongs to the live session token it was asked with.
            "/tickle" => ok(format!("{{\"session\":\"abc{}\",\"iserver\":{{\"authStatus\":{{\"authenticated\":{},\"competing\":false}}}}}}", s.handshakes, s.authenticated), headers),
            p if p.starts_with("/iserver/") && !s.authenticated => Ok(Resp { status: 400, body: "{\"error\":\"no bridge\"}".into(), headers }),
            _ => ok("{\"ok\":true}".into(), headers),
        }
    }
}

impl Host for Mock {
    type Value = String;
    type Response = Resp;
    async fn fetch(&self, req: &HttpRequest<String>) -> Result<Resp> {
        YieldNow(LATENCY_POLLS).await;
        self.respond(req)
    }
    fn text_body(&self, text: &str) -> String {
        text.to_owned()
    }
    fn now_ms(&self) -> f64 {
        self.clock.get()
    }
    async fn sleep(&self, ms: u64) {
        self.clock.set(self.clock.get() + ms as f64);
        YieldNow(1).await;
    }
    fn log(&self, level: Level, message: &str) {
        self.logs.borrow_mut().push((level, message.to_owned()));
    }
    fn has_store(&self) -> bool {
        self.store.is_some()
    }
    async fn store_get(&self, key: &str) -> Result<Option<String>> {
        let now = self.clock.get();
        Ok(self.store.as_ref().and_then(|s| {
            s.borrow()
                .get(key)
                .filter(|(_, exp)| *exp > now)
                .map(|(v, _)| v.clone())
        }))
    }
    async fn store_set(&self, key: &str, value: &str, ttl_ms: u64) -> Result<()> {
        let exp = self.clock.get() + ttl_ms as f64;
        if let Some(s) = &self.store {
            s.borrow_mut()
                .insert(key.to_owned(), (value.to_owned(), exp));
        }
        Ok(())
    }
    async fn store_set_if_absent(&self, key: &str, value: &str, ttl_ms: u64) -> Result<bool> {
        let now = self.clock.get();
        let Some(s) = &self.store else {
            return Ok(true);
        };
        let mut map = s.borrow_mut();
        if map.get(key).is_some_and(|(_, exp)| *exp > now) {
            return Ok(false);
        }
        map.insert(key.to_owned(), (value.to_owned(), now + ttl_ms as f64));
        Ok(true)
    }
    async fn store_delete(&self, key: &str) -> Result<()> {
        if let Some(s) = &self.store {
            s.borrow_mut().remove(key);
        }
        Ok(())
    }
    async fn sign_rsa_sha256(&self, key: &PrivateKey, message: &[u8]) -> Option<Vec<u8>> {
        let sig = match self.host_rsa.get() {
            HostRsa::None => return None,
            HostRsa::Correct => key.sign_sha256(message).ok()?,
            HostRsa::Wrong => vec![0x5a; key.size()],
        };
        self.host_signatures
            .borrow_mut()
            .push(ibkr_auth::encoding::b64_encode(&sig));
        Some(sig)
    }
}

struct Fixture {
    session: Session<Mock>,
    mock: Mock,
    table: common::Table,
}

fn fixture(configure: impl FnOnce(&mut Options)) -> Fixture {
    let table = common::Table::load();
    let v: serde_json::Value = serde_json::from_str(common::VECTORS).unwrap();
    let creds = Oauth1Credentials::new(Oauth1Inputs {
        consumer_key: "TESTVECTR",
        access_token: v["inputs"]["access_token"].as_str().unwrap(),
        access_token_secret: &table.input("SECRET"),
        signature_key: &table.input("SIG"),
        encryption_key: &table.input("ENC"),
        dh_params: &table.input("DH"),
        realm: None,
    })
    .unwrap();
    let server = Server {
        prime: Some(BigUint::parse_bytes(table.input("PRIME").as_bytes(), 16).unwrap()),
        prepend: ibkr_auth::encoding::hex_decode(&table.input("PREPEND")).unwrap(),
        consumer_key: "TESTVECTR".into(),
        ..Server::default()
    };
    let mock = Mock {
        clock: Rc::new(Cell::new(1_700_000_000_000.0)),
        server: Rc::new(RefCell::new(server)),
        logs: Rc::default(),
        host_rsa: Rc::default(),
        host_signatures: Rc::default(),
        store: None,
    };
    let mut opts = Options {
        base_urls: vec![
            "https://api.ibkr.com/v1/api".into(),
            "https://1.api.ibkr.com/v1/api".into(),
        ],
        pacer: Pacer::off(),
        ..Options::default()
    };
    configure(&mut opts);
    Fixture {
        session: Session::new(mock.clone(), creds, opts).unwrap(),
        mock,
        table,
    }
}

impl Fixture {
    fn fault(&self, path: &str, faults: &[Fault]) {
        self.mock
            .server
            .borrow_mut()
            .faults
            .push((path.to_owned(), faults.iter().cloned().collect()));
    }
    fn sent(&self, path: &str) -> usize {
        self.mock
            .server
            .borrow()
            .sent
            .iter()
            .filter(|(_, p, _)| p == path)
            .count()
    }
    fn handshakes(&self) -> u32 {
        self.mock.server.borrow().handshakes
    }
    fn get(&self, path: &str) -> Result<String> {
        block_on(self.session.request(Call::new("GET", path)))
    }
    fn post(&self, path: &str) -> Result<String> {
        block_on(self.session.request(Call::new("POST", path)))
    }
    fn warmed(self) -> Self {
        self.mock.server.borrow_mut().authenticated = true;
        self.get("/portfolio/accounts").unwrap();
        self
    }
}

#[test]
fn a_thousand_concurrent_calls_share_one_handshake() {
    let f = fixture(|_| {});
    f.mock.server.borrow_mut().authenticated = true;
    let calls = (0..1000).map(|_| f.session.request(Call::new("GET", "/iserver/accounts")));
    let results = block_on(join_all(calls));
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(f.handshakes(), 1);
    assert_eq!(f.session.handshakes(), 1);
}

#[test]
fn a_token_the_server_expires_mid_flight_is_replaced_once_and_nothing_fails() {
    let f = fixture(|_| {}).warmed();
    f.mock.server.borrow_mut().current = Some(vec![0; 20]); // the server forgets our LST
    let calls = (0..1000).map(|i| {
        let method = if i % 10 == 0 { "POST" } else { "GET" };
        f.session.request(Call::new(method, "/iserver/accounts"))
    });
    let results = block_on(join_all(calls));
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 0);
    assert_eq!(f.handshakes(), 2, "exactly one new handshake");
}

#[test]
fn refreshes_before_expiry() {
    let f = fixture(|o| o.refresh_margin_ms = 60_000.0).warmed();
    f.mock
        .clock
        .set(f.mock.clock.get() + 24.0 * 3600.0 * 1000.0 - 59_000.0);
    f.get("/portfolio/accounts").unwrap();
    assert_eq!(f.handshakes(), 2);
    f.get("/portfolio/accounts").unwrap();
    assert_eq!(f.handshakes(), 2);
}

#[test]
fn a_failed_handshake_fails_its_waiters_then_backs_off() {
    let f = fixture(|_| {});
    f.mock.server.borrow_mut().fail_handshakes = 3;
    let calls = (0..20).map(|_| f.session.request(Call::new("GET", "/portfolio/accounts")));
    let results = block_on(join_all(calls));
    assert!(results
        .iter()
        .all(|r| r.as_ref().unwrap_err().code() == ErrorCode::Unauthorized));
    assert_eq!(f.handshakes(), 1, "20 waiters, one handshake");
    // The next call may try again at once.
    assert_eq!(
        f.get("/portfolio/accounts").unwrap_err().code(),
        ErrorCode::Unauthorized
    );
    assert_eq!(f.handshakes(), 2);
    // After two failures in a row, calls fail fast without contacting IBKR until the backoff ends.
    let e = f.get("/portfolio/accounts").unwrap_err();
    assert_eq!(e.code(), ErrorCode::Unauthorized);
    assert!(e.message().contains("waits"), "{}", e.message());
    assert_eq!(f.handshakes(), 2);
    f.mock.clock.set(f.mock.clock.get() + 1_001.0);
    assert_eq!(
        f.get("/portfolio/accounts").unwrap_err().code(),
        ErrorCode::Unauthorized
    );
    assert_eq!(f.handshakes(), 3);
    f.mock.clock.set(f.mock.clock.get() + 2_001.0);
    f.get("/portfolio/accounts").unwrap();
    assert_eq!(f.handshakes(), 4);
}

#[test]
fn a_401_gets_one_new_token_and_one_retry_even_for_a_post() {
    let f = fixture(|_| {}).warmed();
    f.fault(
        "/iserver/account/DU1/orders",
        &[Fault::Status(401, "{\"error\":\"invalid signature\"}")],
    );
    f.post("/iserver/account/DU1/orders").unwrap();
    assert_eq!(f.sent("/iserver/account/DU1/orders"), 2);
    assert_eq!(f.handshakes(), 2);
    f.fault(
        "/iserver/account/DU1/orders",
        &[
            Fault::Status(401, "{}"),
            Fault::Status(401, "{\"error\":\"nope\"}"),
        ],
    );
    let e = f.post("/iserver/account/DU1/orders").unwrap_err();
    assert_eq!(
        (e.code(), e.status(), e.server_message()),
        (ErrorCode::Unauthorized, Some(401), Some("nope"))
    );
    assert_eq!(f.sent("/iserver/account/DU1/orders"), 4);
}

#[test]
fn an_order_is_never_sent_twice_after_5xx_429_network_error_or_410() {
    let f = fixture(|_| {}).warmed();
    let path = "/iserver/account/DU1/orders";
    for (fault, code) in [
        (Fault::Status(500, "{}"), ErrorCode::HttpError),
        (Fault::Status(503, "{}"), ErrorCode::HttpError),
        (Fault::RetryAfter("1"), ErrorCode::RateLimited),
        (Fault::Network, ErrorCode::Network),
        (Fault::Status(410, "{}"), ErrorCode::Gone),
    ] {
        let before = f.sent(path);
        f.fault(path, std::slice::from_ref(&fault));
        assert_eq!(f.post(path).unwrap_err().code(), code, "{fault:?}");
        assert_eq!(f.sent(path), before + 1, "{fault:?}: sent more than once");
    }
}

#[test]
fn idempotent_requests_retry_5xx_network_and_429_with_retry_after() {
    let f = fixture(|_| {}).warmed();
    f.fault(
        "/portfolio/accounts",
        &[Fault::Status(502, "{}"), Fault::Network],
    );
    f.get("/portfolio/accounts").unwrap();
    assert_eq!(f.sent("/portfolio/accounts"), 1 + 3);
    let t0 = f.mock.clock.get();
    f.fault("/portfolio/accounts", &[Fault::RetryAfter("7")]);
    f.get("/portfolio/accounts").unwrap();
    assert!(f.mock.clock.get() - t0 >= 7000.0, "Retry-After honoured");
    // Whole seconds only: an HTTP-date (or anything unreadable) waits 1 s; a huge value 120 s.
    for (value, min_ms, max_ms) in [
        ("Wed, 21 Oct 2015 07:28:00 GMT", 1000.0, 6000.0),
        ("2.5", 1000.0, 2400.0),
        ("100000", 120_000.0, 125_000.0),
    ] {
        let t0 = f.mock.clock.get();
        f.fault("/portfolio/accounts", &[Fault::RetryAfter(value)]);
        f.get("/portfolio/accounts").unwrap();
        let waited = f.mock.clock.get() - t0;
        assert!(
            (min_ms..max_ms).contains(&waited),
            "Retry-After {value}: waited {waited} ms"
        );
    }
    f.fault(
        "/portfolio/accounts",
        &[
            Fault::Status(500, "{}"),
            Fault::Status(500, "{}"),
            Fault::Status(500, "{\"error\":\"down\"}"),
        ],
    );
    let e = f.get("/portfolio/accounts").unwrap_err();
    assert_eq!(
        (e.code(), e.status(), e.server_message()),
        (ErrorCode::HttpError, Some(500), Some("down"))
    );
}

#[test]
fn no_bridge_initialises_once_then_retries_only_idempotent_requests() {
    let f = fixture(|_| {});
    f.get("/iserver/accounts").unwrap();
    assert_eq!(f.mock.server.borrow().inits, 1);
    assert_eq!(f.sent("/iserver/accounts"), 2);
    f.mock.server.borrow_mut().authenticated = false;
    let e = f.post("/iserver/account/DU1/orders").unwrap_err();
    assert_eq!(e.code(), ErrorCode::NoBridge);
    assert_eq!(f.mock.server.borrow().inits, 2);
    assert_eq!(f.sent("/iserver/account/DU1/orders"), 1);
    f.post("/iserver/account/DU1/orders").unwrap();
}

#[test]
fn gone_moves_to_the_next_host_with_a_new_token() {
    let f = fixture(|_| {}).warmed();
    f.fault("/portfolio/accounts", &[Fault::Status(410, "{}")]);
    f.get("/portfolio/accounts").unwrap();
    assert_eq!(f.session.base_url(), "https://1.api.ibkr.com/v1/api");
    assert_eq!(f.handshakes(), 2);
    assert!(f
        .mock
        .server
        .borrow()
        .sent
        .iter()
        .any(|(_, p, _)| p == "/portfolio/accounts"));
}

#[test]
fn a_skewed_clock_is_corrected_from_the_date_header_and_reported() {
    let f = fixture(|_| {});
    f.mock.server.borrow_mut().date_offset_ms = Some(120_000.0);
    f.mock.server.borrow_mut().authenticated = true;
    f.get("/portfolio/accounts").unwrap();
    f.get("/portfolio/accounts").unwrap();
    let last = f.mock.server.borrow().sent.last().unwrap().2.clone();
    let ts: f64 = header_param(&last, "oauth_timestamp")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (ts * 1000.0 - (f.mock.clock.get() + 120_000.0)).abs() < 2000.0,
        "timestamp corrected"
    );
    let warns: Vec<_> = f
        .mock
        .logs
        .borrow()
        .iter()
        .filter(|(l, m)| *l == Level::Warn && m.contains("clock"))
        .cloned()
        .collect();
    assert_eq!(warns.len(), 1, "reported once: {warns:?}");
    f.fault(
        "/portfolio/accounts",
        &[
            Fault::Status(401, "{}"),
            Fault::Status(401, "{\"error\":\"invalid timestamp\"}"),
        ],
    );
    assert_eq!(
        f.get("/portfolio/accounts").unwrap_err().code(),
        ErrorCode::ClockSkew
    );
}

#[test]
fn keep_alive_reinitialises_an_unauthenticated_session() {
    let f = fixture(|_| {});
    let r = block_on(f.session.keep_alive_round(60_000)).unwrap();
    assert_eq!((r.authenticated, r.reinitialised), (true, true));
    let r = block_on(f.session.keep_alive_round(60_000)).unwrap();
    assert_eq!((r.authenticated, r.reinitialised), (true, false));
    assert_eq!(f.mock.server.borrow().inits, 1);
}

#[test]
fn a_websocket_session_value_is_labelled_with_the_token_it_came_with() {
    let f = fixture(|_| {}).warmed();
    assert_eq!(f.handshakes(), 1);
    // The tickle (token 1) finds the brokerage session unauthenticated; the repair's status call
    // gets a 401 and so a new token (2): token 1's value must not pass for token 2's.
    f.mock.server.borrow_mut().authenticated = false;
    f.fault(
        "/iserver/auth/status",
        &[Fault::Status(401, "{\"error\":\"expired\"}")],
    );
    let info = block_on(f.session.websocket_info(false, false)).unwrap();
    assert_eq!(f.handshakes(), 2);
    assert_eq!(info.session.as_str(), "abc2");
    assert!(f.session.websocket_current(info.generation));
    // Cached for that token: no further tickle.
    let tickles = f.sent("/tickle");
    let again = block_on(f.session.websocket_info(false, false)).unwrap();
    assert_eq!(again.session.as_str(), "abc2");
    assert_eq!(again.generation, info.generation);
    assert_eq!(f.sent("/tickle"), tickles);
}

#[test]
fn bases_are_kept_trimmed_and_without_a_trailing_slash() {
    let f = fixture(|o| {
        o.base_urls = vec![
            " https://api.ibkr.com/v1/api/ ".into(),
            "https://1.api.ibkr.com/v1/api/".into(),
        ];
    });
    assert_eq!(f.session.base_url(), "https://api.ibkr.com/v1/api");
    f.mock.server.borrow_mut().authenticated = true;
    f.get("/portfolio/accounts").unwrap();
    assert_eq!(f.sent("/portfolio/accounts"), 1);
    f.fault("/portfolio/accounts", &[Fault::Status(410, "{}")]);
    f.get("/portfolio/accounts").unwrap();
    assert_eq!(f.session.base_url(), "https://1.api.ibkr.com/v1/api");
}

#[test]
fn pacing_spaces_tickles_a_second_apart() {
    let f = fixture(|o| o.pacer = Pacer::ibkr()).warmed();
    let t0 = f.mock.clock.get();
    for _ in 0..3 {
        block_on(f.session.tickle()).unwrap();
    }
    assert!(f.mock.clock.get() - t0 >= 2000.0);
}

/// The first call of a session waits for a handshake; the pacer must count its send from when it
/// goes out, after that wait, or the next call follows it too closely (a 429 from IBKR).
#[test]
fn pacing_counts_a_first_call_from_its_send_after_a_slow_handshake() {
    let f = fixture(|o| o.pacer = Pacer::ibkr());
    f.mock.server.borrow_mut().handshake_ms = 300.0;
    for _ in 0..3 {
        block_on(f.session.tickle()).unwrap();
    }
    let s = f.mock.server.borrow();
    let tickles: Vec<f64> = s
        .arrivals
        .iter()
        .filter(|(p, _)| p == "/tickle")
        .map(|(_, t)| *t)
        .collect();
    assert_eq!(tickles.len(), 3);
    for pair in tickles.windows(2) {
        assert!(pair[1] - pair[0] >= 1000.0, "tickles at {tickles:?}");
    }
}

#[test]
fn foreign_urls_are_never_signed() {
    let f = fixture(|_| {});
    assert!(!f.session.is_own_url("https://evil.example/v1/api/tickle"));
    assert!(!f
        .session
        .is_own_url("https://api.ibkr.com.evil.example/v1/api"));
    assert!(f
        .session
        .is_own_url("https://API.ibkr.com/v1/api/tickle?x=1"));
    let e = block_on(
        f.session
            .request(Call::new("GET", "https://evil.example/v1/api/tickle")),
    )
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidArgument);
    assert_eq!(f.handshakes(), 0);
}

#[test]
fn no_secret_reaches_the_logs() {
    let f = fixture(|_| {});
    f.get("/iserver/accounts").unwrap();
    f.fault(
        "/portfolio/accounts",
        &[Fault::Status(401, "{}"), Fault::Status(500, "{}")],
    );
    f.get("/portfolio/accounts").unwrap();
    let (token, _) = block_on(f.session.live_session_token()).unwrap();
    block_on(f.session.logout()).unwrap();
    let logs = f.mock.logs.borrow();
    assert!(logs.len() > 8, "{logs:?}");
    let mut secrets = f.table.secrets();
    secrets.push(token.to_string());
    for (_, line) in logs.iter() {
        for s in &secrets {
            assert!(!line.contains(s.as_str()), "secret in log line: {line}");
        }
    }
}

/// The LST request's `oauth_signature`, as sent (percent-decoded).
fn sent_lst_signature(mock: &Mock) -> String {
    let s = mock.server.borrow();
    let (_, _, auth) = s
        .sent
        .iter()
        .rev()
        .find(|(_, path, _)| path == "/oauth/live_session_token")
        .unwrap();
    ibkr_auth::encoding::form_decode(&header_param(auth, "oauth_signature").unwrap())
}

#[test]
fn a_host_rsa_signature_is_used_when_it_verifies_and_replaced_when_not() {
    // Correct: the host's signature is the one sent, and nothing is said about it.
    let f = fixture(|_| {});
    f.mock.host_rsa.set(HostRsa::Correct);
    block_on(f.session.live_session_token()).unwrap();
    let host = f.mock.host_signatures.borrow().clone();
    assert_eq!(host.len(), 1);
    assert_eq!(sent_lst_signature(&f.mock), host[0]);
    assert!(!f.mock.logs.borrow().iter().any(|(l, _)| *l == Level::Warn));

    // Wrong: refused before it is sent; the rsa crate signs instead and the handshake succeeds.
    let f = fixture(|_| {});
    f.mock.host_rsa.set(HostRsa::Wrong);
    block_on(f.session.live_session_token()).unwrap();
    let host = f.mock.host_signatures.borrow().clone();
    assert_eq!(host.len(), 1);
    let sent = sent_lst_signature(&f.mock);
    assert_ne!(sent, host[0]);
    assert_eq!(
        ibkr_auth::encoding::b64_decode_lenient(&sent)
            .unwrap()
            .len(),
        256
    );
    assert!(f
        .mock
        .logs
        .borrow()
        .iter()
        .any(|(l, m)| *l == Level::Warn && m.contains("did not verify")));

    // No host signer: the rsa crate signs, and the host is never asked.
    let f = fixture(|_| {});
    block_on(f.session.live_session_token()).unwrap();
    assert!(f.mock.host_signatures.borrow().is_empty());
}

/// `n` sessions of one account over one server, sharing one store: a fleet of processes.
fn fleet(n: usize) -> (Fixture, Vec<Session<Mock>>) {
    let mut f = fixture(|o| o.store = fleet_store_options());
    f.mock.store = Some(Rc::default());
    f.session = session_like(&f, &f.mock);
    let others = (1..n).map(|_| session_like(&f, &f.mock)).collect();
    (f, others)
}

/// Another session of the fixture's account over `mock`.
fn session_like(f: &Fixture, mock: &Mock) -> Session<Mock> {
    let v: serde_json::Value = serde_json::from_str(common::VECTORS).unwrap();
    let creds = Oauth1Credentials::new(Oauth1Inputs {
        consumer_key: "TESTVECTR",
        access_token: v["inputs"]["access_token"].as_str().unwrap(),
        access_token_secret: &f.table.input("SECRET"),
        signature_key: &f.table.input("SIG"),
        encryption_key: &f.table.input("ENC"),
        dh_params: &f.table.input("DH"),
        realm: None,
    })
    .unwrap();
    let opts = Options {
        pacer: Pacer::off(),
        store: fleet_store_options(),
        ..Options::default()
    };
    Session::new(mock.clone(), creds, opts).unwrap()
}

/// The mock's sleeps move its one clock for everyone, so a waiter's polls age the leader's
/// lease: leases and waits far longer than any test runs.
fn fleet_store_options() -> ibkr_auth::session::fleet::StoreOptions {
    ibkr_auth::session::fleet::StoreOptions {
        wait_ms: 1e9,
        lease_ms: 100_000_000,
        op_timeout_ms: 10_000,
    }
}

fn all_sessions(f: &Fixture, others: &[Session<Mock>]) -> Vec<Session<Mock>> {
    std::iter::once(f.session.clone())
        .chain(others.iter().cloned())
        .collect()
}

#[test]
fn a_fleet_sharing_a_store_makes_one_handshake_and_one_more_after_a_401() {
    let (f, others) = fleet(5);
    f.mock.server.borrow_mut().authenticated = true;
    let sessions = all_sessions(&f, &others);
    let calls = sessions
        .iter()
        .flat_map(|s| (0..40).map(move |_| s.request(Call::new("GET", "/iserver/accounts"))));
    assert!(block_on(join_all(calls)).iter().all(Result::is_ok));
    assert_eq!(f.handshakes(), 1, "one handshake for five sessions");

    // IBKR forgets the token: every session sees a 401 on the same generation; one new
    // handshake, the others adopt its token.
    f.mock.server.borrow_mut().current = Some(vec![0; 20]);
    let calls = sessions
        .iter()
        .flat_map(|s| (0..40).map(move |_| s.request(Call::new("GET", "/iserver/accounts"))));
    let results = block_on(join_all(calls));
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 0);
    assert_eq!(f.handshakes(), 2);

    // A session that joins later adopts the stored token.
    let late = session_like(&f, &f.mock);
    block_on(late.request(Call::new("GET", "/iserver/accounts"))).unwrap();
    assert_eq!(f.handshakes(), 2);
    // What is stored holds no token bytes: the stored value is sealed.
    let (lst, _) = block_on(late.live_session_token()).unwrap();
    let store = f.mock.store.as_ref().unwrap().borrow();
    assert!(store.values().all(|(v, _)| !v.contains(lst.as_str())));
    assert!(store.keys().all(|k| k.starts_with("ibkr-auth:v1:")));
}

#[test]
fn a_fleet_initialises_the_brokerage_session_once_and_tickles_once_per_interval() {
    let (f, others) = fleet(3);
    let sessions = all_sessions(&f, &others);
    let inits = sessions.iter().map(|s| s.init_brokerage(true, true));
    assert!(block_on(join_all(inits)).iter().all(Result::is_ok));
    assert_eq!(f.mock.server.borrow().inits, 1);

    let rounds = block_on(join_all(
        sessions.iter().map(|s| s.keep_alive_round(60_000)),
    ));
    let rounds: Vec<_> = rounds.into_iter().map(Result::unwrap).collect();
    assert_eq!(f.sent("/tickle"), 1);
    assert_eq!(rounds.iter().filter(|r| r.skipped).count(), 2);
    assert!(rounds.iter().all(|r| r.authenticated));
    // The next interval: one tickle again.
    f.mock.clock.set(f.mock.clock.get() + 60_000.0);
    block_on(join_all(
        sessions.iter().map(|s| s.keep_alive_round(60_000)),
    ));
    assert_eq!(f.sent("/tickle"), 2);

    // "No bridge" after IBKR dropped the brokerage session: one repair for the fleet.
    f.mock.server.borrow_mut().authenticated = false;
    let calls = sessions
        .iter()
        .map(|s| s.request(Call::new("GET", "/iserver/accounts")));
    assert!(block_on(join_all(calls)).iter().all(Result::is_ok));
    assert_eq!(f.mock.server.borrow().inits, 2);

    // Dropped again, seen by the keep-alive round: re-initialised although the fleet's marker
    // says this token's session was initialised, by the one process that tickles.
    f.mock.server.borrow_mut().authenticated = false;
    f.mock.clock.set(f.mock.clock.get() + 60_000.0);
    let rounds = block_on(join_all(
        sessions.iter().map(|s| s.keep_alive_round(60_000)),
    ));
    let rounds: Vec<_> = rounds.into_iter().map(Result::unwrap).collect();
    assert_eq!(rounds.iter().filter(|r| r.reinitialised).count(), 1);
    assert_eq!(f.mock.server.borrow().inits, 3);
    assert!(f.mock.server.borrow().authenticated);
    // ensureAuthenticated likewise.
    f.mock.server.borrow_mut().authenticated = false;
    block_on(others[0].ensure_authenticated(true)).unwrap();
    assert_eq!(f.mock.server.borrow().inits, 4);
}

#[test]
fn a_repair_finished_by_another_process_before_this_one_takes_the_lease_is_not_repeated() {
    let (f, others) = fleet(2);
    let sessions = all_sessions(&f, &others);
    assert!(block_on(join_all(
        sessions.iter().map(|s| s.init_brokerage(true, true))
    ))
    .iter()
    .all(Result::is_ok));
    assert_eq!(f.mock.server.borrow().inits, 1);
    // This process reads the status while the brokerage session is down; another process
    // repairs it before this one takes the repair lease (the stale answer is the fault).
    f.fault(
        "/iserver/auth/status",
        &[Fault::Status(
            200,
            "{\"authenticated\":false,\"competing\":false}",
        )],
    );
    block_on(others[0].ensure_authenticated(true)).unwrap();
    assert_eq!(
        f.mock.server.borrow().inits,
        1,
        "under the lease the status is asked again: authenticated, so no second ssodh/init"
    );
    // Still down when asked under the lease: repaired.
    f.mock.server.borrow_mut().authenticated = false;
    block_on(others[0].ensure_authenticated(true)).unwrap();
    assert_eq!(f.mock.server.borrow().inits, 2);
    // "No bridge" to the status asked under the lease: repaired at once (that status call does
    // not start a repair of its own, which would wait for this very lease).
    f.fault(
        "/iserver/auth/status",
        &[
            Fault::Status(200, "{\"authenticated\":false,\"competing\":false}"),
            Fault::Status(400, "{\"error\":\"no bridge\"}"),
        ],
    );
    let before = f.mock.clock.get();
    block_on(others[0].ensure_authenticated(true)).unwrap();
    assert_eq!(f.mock.server.borrow().inits, 3);
    assert!(
        f.mock.clock.get() - before < 1000.0,
        "no wait for a lease: {} ms",
        f.mock.clock.get() - before
    );
    // "No bridge" to another call is repaired whatever the status would say: a status that is
    // not the evidence is not asked again.
    f.fault(
        "/iserver/accounts",
        &[Fault::Status(400, "{\"error\":\"no bridge\"}")],
    );
    block_on(others[0].request(Call::new("GET", "/iserver/accounts"))).unwrap();
    assert_eq!(f.mock.server.borrow().inits, 4);
}

#[test]
fn refresh_renews_ahead_of_expiry_once_and_logout_clears_the_store() {
    let (f, others) = fleet(2);
    let r = block_on(f.session.refresh(3_600_000.0)).unwrap();
    assert!(r.refreshed);
    assert_eq!(f.handshakes(), 1);
    // Good for longer than asked: nothing to do, here or in another session.
    let again = block_on(others[0].refresh(3_600_000.0)).unwrap();
    assert!(!again.refreshed);
    assert_eq!((again.generation, f.handshakes()), (r.generation, 1));
    // Within the window: a new token, newer than the one before.
    f.mock.clock.set(f.mock.clock.get() + 23.5 * 3_600_000.0);
    let renewed = block_on(others[0].refresh(3_600_000.0)).unwrap();
    assert!(renewed.refreshed && renewed.generation > r.generation);
    assert_eq!(f.handshakes(), 2);
    // The first session's token is now stale at IBKR; its 401 adopts the new one.
    f.mock.server.borrow_mut().authenticated = true;
    block_on(f.session.request(Call::new("GET", "/iserver/accounts"))).unwrap();
    assert_eq!(f.handshakes(), 2);

    block_on(f.session.logout()).unwrap();
    let store = f.mock.store.as_ref().unwrap().borrow();
    assert!(!store.keys().any(|k| k.ends_with(":token")));
    assert!(f
        .mock
        .logs
        .borrow()
        .iter()
        .any(|(l, m)| *l == Level::Warn && m.contains("every process sharing the token store")));
}

#[test]
fn a_handshake_answer_cut_short_is_unexpected_response() {
    let f = fixture(|o| o.max_retries = 0);
    let cut = "{\"diffie_hellman_response\":\"ab";
    f.fault("/oauth/live_session_token", &[Fault::Status(200, cut)]);
    let e = f.get("/portfolio/accounts").unwrap_err();
    assert_eq!(e.code(), ErrorCode::UnexpectedResponse, "{e:?}");
    assert!(
        e.message()
            .contains("the live session token request is not JSON")
            && e.message().contains("cut short")
            && e.message().contains("Retry"),
        "{}",
        e.message()
    );
    assert!(!e.message().contains("diffie_hellman_response"));
    // The next call makes a new handshake, which succeeds.
    f.mock.server.borrow_mut().authenticated = true;
    f.get("/portfolio/accounts").unwrap();
}

#[test]
fn a_tickle_or_status_answer_that_is_not_json_is_unexpected_response_not_a_repair() {
    let f = fixture(|_| {}).warmed();
    f.fault(
        "/tickle",
        &[Fault::Status(
            200,
            "{\"session\":\"abc\",\"iserver\":{\"authSt",
        )],
    );
    let e = block_on(f.session.keep_alive_round(60_000)).unwrap_err();
    assert_eq!(e.code(), ErrorCode::UnexpectedResponse);
    assert!(e.message().contains("POST /tickle"), "{}", e.message());
    f.fault(
        "/iserver/auth/status",
        &[Fault::Status(200, "<html>Sign in</html>")],
    );
    let e = block_on(f.session.ensure_authenticated(false)).unwrap_err();
    assert_eq!(e.code(), ErrorCode::UnexpectedResponse);
    assert!(
        e.message().contains("POST /iserver/auth/status"),
        "{}",
        e.message()
    );
    assert_eq!(
        f.sent("/iserver/auth/ssodh/init"),
        0,
        "no repair on an answer that says nothing"
    );
    // The next round reads a whole answer again.
    let r = block_on(f.session.keep_alive_round(60_000)).unwrap();
    assert_eq!((r.authenticated, r.reinitialised), (true, false));
}

#[test]
fn ssodh_init_answered_no_bridge_is_an_error_not_a_repair_of_itself() {
    // Alone and in a fleet: the repair's own call does not start another repair (which would
    // recurse, or wait for the lease this process holds).
    for fleet_of in [1, 2] {
        let (f, _others) = if fleet_of == 1 {
            (fixture(|_| {}), vec![])
        } else {
            fleet(fleet_of)
        };
        let no_bridge = Fault::Status(400, "{\"error\":\"no bridge\"}");
        f.fault("/iserver/auth/ssodh/init", &vec![no_bridge; 50]);
        let before = f.mock.clock.get();
        let e = block_on(f.session.init_brokerage(true, true)).unwrap_err();
        assert_eq!(e.code(), ErrorCode::NoBridge, "{e:?}");
        assert_eq!(f.sent("/iserver/auth/ssodh/init"), 1, "fleet of {fleet_of}");
        assert!(f.mock.clock.get() - before < 1000.0, "fleet of {fleet_of}");
    }
}
