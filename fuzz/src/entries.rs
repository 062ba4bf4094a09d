//! The fuzzing entry points: one function per parser that sees outside input, each taking raw
//! bytes. A panic is a bug; so is an error without its documented code, or a message, log line
//! or error that carries a secret. The same functions run in two places: under libFuzzer
//! (`fuzz/fuzz_targets/*.rs`, `make fuzz`) and, on stable Rust, over every committed corpus
//! file and saved crash (`tests/fuzz_corpus.rs`, part of `cargo test --workspace`).
//!
//! Inputs with several fields split them on `\n` (the last field keeps the rest), so seed files
//! stay readable text.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::OnceLock;

use futures_executor::block_on;
use ibkr_auth::encoding;
use ibkr_auth::gateway_login::{self, reply, GatewayLogin, OtpHash};
use ibkr_auth::keys::{DhParams, PrivateKey, SecretBytes};
use ibkr_auth::oauth1::{self, base, lst, request};
use ibkr_auth::session::{
    self, Auth, Call, Host, HttpRequest, HttpResponse, Level, Oauth1Credentials, Oauth1Inputs,
    Oauth2Credentials, Options, Session,
};
use ibkr_auth::{Error, ErrorCode, Result};

/// One entry: raw bytes in; a panic is a finding.
pub type Entry = fn(&[u8]);

/// What the scripted server received: (url, Authorization header).
type Sent = Vec<(String, Option<String>)>;

/// Every target: its name (the corpus folder and the libFuzzer binary) and its entry.
pub const TARGETS: &[(&str, Entry)] = &[
    ("pem_key", pem_key),
    ("der_key", der_key),
    ("dh_params", dh_params),
    ("access_token_secret", access_token_secret),
    ("dh_response", dh_response),
    ("encodings", encodings),
    ("url_query", url_query),
    ("http_date", http_date),
    ("gateway_xml", gateway_xml),
    ("gateway_login", gateway_login),
    ("otp", otp),
    ("fleet_entry", fleet_entry),
    ("session_responses", session_responses),
];

// ---------------------------------------------------------------------------------------------
// Fixtures: the test vectors' keys and values (public test material, never real credentials).

const SIGNATURE_PEM: &str = include_str!("../../tests/vectors/oauth1a/private_signature.pem");
const ENCRYPTION_PEM: &str = include_str!("../../tests/vectors/oauth1a/private_encryption.pem");
const DHPARAM_PEM: &str = include_str!("../../tests/vectors/oauth1a/dhparam.pem");
const OAUTH2_PEM: &str = include_str!("../../tests/vectors/oauth2/private_key.pem");
const VECTORS: &str = include_str!("../../tests/vectors/oauth1a/vectors.json");

const CONSUMER_KEY: &str = "TESTVECTR";
const ACCESS_TOKEN: &str = "a1b2c3d4e5f6a7b8c9d0";
/// The DH exponent the scripted server uses for its half of the handshake.
const SERVER_B_HEX: &str = "4a6e262535744933263915f8b621f728572a482642fad848250348c5dfa7c562";
const BASE: &str = "https://api.ibkr.com/v1/api";

struct Fixtures {
    encryption_key: PrivateKey,
    dh: DhParams,
    access_token_secret: String,
    prepend_hex: String,
    dh_random_hex: String,
    /// Text that must never appear in an error message or a log line.
    secrets: Vec<String>,
}

fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let v: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
        let s = |p: &str| v.pointer(p).and_then(|x| x.as_str()).unwrap().to_owned();
        let encryption_key = PrivateKey::from_pem(ENCRYPTION_PEM, "encryptionKey").unwrap();
        let access_token_secret = s("/inputs/access_token_secret");
        let prepend = lst::decrypt_access_token_secret(&encryption_key, &access_token_secret)
            .unwrap()
            .expose_hex()
            .to_string();
        let mut secrets = vec![prepend.clone(), access_token_secret.clone()];
        // A line from the middle of each private key.
        for pem in [SIGNATURE_PEM, ENCRYPTION_PEM, OAUTH2_PEM] {
            secrets.extend(pem.lines().nth(5).map(str::to_owned));
        }
        Fixtures {
            encryption_key,
            dh: DhParams::from_pem(DHPARAM_PEM).unwrap(),
            access_token_secret,
            prepend_hex: prepend,
            dh_random_hex: s("/inputs/dh_random_hex"),
            secrets,
        }
    })
}

/// `data` as text, the way the JavaScript side hands strings over (invalid UTF-8 replaced).
fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// Up to `n` fields split on `\n`; missing ones are empty.
fn fields(data: &[u8], n: usize) -> Vec<String> {
    let t = text(data);
    let mut v: Vec<String> = t.splitn(n, '\n').map(str::to_owned).collect();
    v.resize(n, String::new());
    v
}

/// An error is well-formed: one of `codes` (any code when empty), a message that explains
/// (not empty) and carries no secret.
fn check_error(e: &Error, codes: &[ErrorCode], what: &str) {
    assert!(
        codes.is_empty() || codes.contains(&e.code()),
        "{what}: unexpected code {:?}: {}",
        e.code(),
        e.message()
    );
    assert!(!e.message().trim().is_empty(), "{what}: empty message");
    check_no_secret(&format!("{e} {e:?}"), what);
}

fn check_no_secret(text: &str, what: &str) {
    for s in &fixtures().secrets {
        assert!(
            !text.contains(s.as_str()),
            "{what}: a secret leaks into {text:?}"
        );
    }
}

/// With `IBKR_FUZZ_TRACE` set, prints where an input ended (to see how deep seeds reach).
fn trace<T: std::fmt::Debug>(what: &str, r: &Result<T>) {
    if std::env::var_os("IBKR_FUZZ_TRACE").is_some() {
        match r {
            Ok(v) => eprintln!("{what}: ok {:.120}", format!("{v:?}")),
            Err(e) => eprintln!("{what}: {} {:.160}", e.code(), e.message()),
        }
    }
}

fn check<T>(r: &Result<T>, codes: &[ErrorCode], what: &str) {
    if let Err(e) = r {
        check_error(e, codes, what);
    }
}

// ---------------------------------------------------------------------------------------------
// Keys and parameters.

/// `signatureKey` / `encryptionKey` / `privateKey`: any text as PEM.
pub fn pem_key(data: &[u8]) {
    let t = text(data);
    let r = PrivateKey::from_pem(&t, "signatureKey");
    check(&r, &[ErrorCode::InvalidKey], "pem_key");
    if let Ok(k) = r {
        let bits = k.bits();
        assert!(
            (2048..=4096).contains(&bits),
            "pem_key: accepted {bits} bits"
        );
        // A key it accepts works: it signs, and its signature verifies.
        let sig = k.sign_sha256(b"m").unwrap();
        assert!(k.verify_sha256(b"m", &sig));
    }
}

/// DER (PKCS#1 or PKCS#8) inside PEM armour and as bare base64, so the fuzzer mutates the DER.
pub fn der_key(data: &[u8]) {
    let b64 = encoding::b64_encode(data);
    for label in ["RSA PRIVATE KEY", "PRIVATE KEY"] {
        let pem = format!("-----BEGIN {label}-----\n{b64}\n-----END {label}-----\n");
        check(
            &PrivateKey::from_pem(&pem, "privateKey"),
            &[ErrorCode::InvalidKey],
            "der_key",
        );
    }
    check(
        &PrivateKey::from_pem(&b64, "privateKey"),
        &[ErrorCode::InvalidKey],
        "der_key (bare)",
    );
}

/// `dhParams`: the first byte picks PEM text, DER in armour, or a hex prime.
pub fn dh_params(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let codes = [ErrorCode::InvalidDhParams];
    let r = match mode % 3 {
        0 => DhParams::from_pem(&text(rest)),
        1 => DhParams::from_pem(&format!(
            "-----BEGIN DH PARAMETERS-----\n{}\n-----END DH PARAMETERS-----\n",
            encoding::b64_encode(rest)
        )),
        _ => DhParams::from_hex(&text(rest), 2),
    };
    check(&r, &codes, "dh_params");
    if let Ok(p) = r {
        assert!((1024..=8192).contains(&p.bits()));
        assert_eq!(
            p.prime().last().map(|b| b & 1),
            Some(1),
            "even prime accepted"
        );
        assert!(p.generator() >= 2);
    }
}

/// `accessTokenSecret`: text as the user pastes it, or (first byte odd) raw ciphertext of the
/// key's size, which reaches the RSA decryption and the padding check.
pub fn access_token_secret(data: &[u8]) {
    let f = fixtures();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let input = if mode & 1 == 0 {
        text(rest)
    } else {
        let mut c = rest.to_vec();
        c.resize(f.encryption_key.size(), 0);
        encoding::b64_encode(&c)
    };
    let r = lst::decrypt_access_token_secret(&f.encryption_key, &input);
    check(
        &r,
        &[
            ErrorCode::InvalidAccessTokenSecret,
            ErrorCode::DecryptFailed,
        ],
        "access_token_secret",
    );
    if let Ok(p) = r {
        assert!(!p.is_empty());
        assert!(format!("{p:?}").contains("redacted"));
    }
}

/// The server's `diffie_hellman_response` and `live_session_token_signature` (two fields).
pub fn dh_response(data: &[u8]) {
    let f = fixtures();
    let v = fields(data, 2);
    let a = lst::DhSecret::from_hex(&f.dh_random_hex, &f.dh).unwrap();
    let prepend = lst::prepend_from_hex(&f.prepend_hex).unwrap();
    let r = lst::compute_lst(&f.dh, &v[0], &a, &prepend);
    check(&r, &[ErrorCode::BadDhResponse], "dh_response");
    if let Ok(token) = r {
        let c = lst::check_lst(&token, CONSUMER_KEY, &v[1]);
        check(&c, &[ErrorCode::LstSignatureMismatch], "lst signature");
    }
}

// ---------------------------------------------------------------------------------------------
// Encodings, URLs, dates.

/// Hex, hex numbers, lenient base64 and form decoding, with round trips.
pub fn encodings(data: &[u8]) {
    let t = text(data);
    if let Ok(b) = encoding::hex_decode(&t) {
        assert_eq!(encoding::hex_encode(&b), t.trim().to_ascii_lowercase());
    }
    if let Ok(b) = encoding::hex_number(&t) {
        assert!(b.first() != Some(&0), "hex_number kept a leading zero byte");
    }
    if let Ok(b) = encoding::b64_decode_lenient(&t) {
        assert_eq!(
            encoding::b64_decode_lenient(&encoding::b64_encode(&b)).ok(),
            Some(b)
        );
    }
    let _ = encoding::form_decode(&t);
    assert_eq!(
        encoding::form_decode(&encoding::pct_encode(&t)),
        t,
        "percent-encoding does not round-trip"
    );
    assert_eq!(
        encoding::b64_decode_lenient(&encoding::b64_encode(data)).ok(),
        (!data.is_empty()).then(|| data.to_vec())
    );
}

/// A URL and a method (two fields): splitting, the base string, the signed header, the
/// session's base URLs and its resolving of call targets with a query.
pub fn url_query(data: &[u8]) {
    let v = fields(data, 3);
    let (url, method, query) = (&v[0], &v[1], &v[2]);
    let split = base::split_url(url);
    check(&split, &[ErrorCode::InvalidArgument], "split_url");
    let _ = base::join_url(BASE, url);
    let _ = base::normalise_method(method);
    let _ = base::check_realm(method);
    let params = [("oauth_nonce", "n"), ("oauth_timestamp", "1")];
    let b = oauth1::base_string(method, url, &params, None, true);
    check(&b, &[ErrorCode::InvalidArgument], "base_string");
    if split.is_ok() && b.is_ok() {
        let h = oauth1::authorization_header("limited_poa", &params, "sig");
        check(&h, &[ErrorCode::InvalidArgument], "authorization_header");
        let key = oauth1::HmacSha256Key::new(b"k");
        let ctx = request::Context {
            consumer_key: CONSUMER_KEY,
            realm: "limited_poa",
            nonce: "n",
            timestamp: 1,
        };
        let r = request::api_authorization_keyed(method, url, &ctx, ACCESS_TOKEN, &key, true);
        check(&r, &[ErrorCode::InvalidArgument], "api_authorization_keyed");
    }
    // The session: a base URL set at run time, a target and a query (`k=v&…`, raw values).
    let host = Mock::new(vec!["200||{}".to_owned(); 4], false);
    let s = Session::new(host.clone(), Auth::Gateway, gateway_options()).unwrap();
    if s.set_base_url(url).is_ok() {
        assert!(s.is_own_url(&s.base_url()));
    }
    let mut call = Call::new("GET", query);
    call.query = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    let r = block_on(s.request(call));
    check(&r, &[], "session request");
    // Whatever was sent went to the session's own base.
    for (url, _) in host.sent.borrow().iter() {
        assert!(s.is_own_url(url), "sent to a URL off the base: {url}");
    }
}

/// The `Date` header (the clock) and `Retry-After`.
pub fn http_date(data: &[u8]) {
    let t = text(data);
    if let Some(ms) = session::http_date::parse_http_date(&t) {
        assert!(ms.is_finite() && ms >= 0.0);
    }
    assert!(session::recovery::retry_after_secs(Some(&t)) <= 120);
}

// ---------------------------------------------------------------------------------------------
// The gateway's login.

const STEPS: [&str; 5] = [
    "INIT",
    "COMPLETEAUTH",
    "COMPLETEAUTH_1",
    "COMPLETETWOFACT",
    "DISPATCHER",
];

/// One XML reply; the first byte picks the step.
pub fn gateway_xml(data: &[u8]) {
    let Some((&step, rest)) = data.split_first() else {
        return;
    };
    let xml = text(rest);
    let step = STEPS[usize::from(step) % STEPS.len()];
    let r = reply::parse(step, &xml);
    check(&r, &[ErrorCode::UnexpectedResponse], "gateway reply");
    if let Ok(r) = r {
        let _ = r.second_factors();
        let _ = r.reached_max_login();
        if let Some(ini) = &r.ini {
            if let Some(k) = ini.rsapub.as_deref() {
                check(
                    &gateway_login::ekx::LoginKey::from_hex(k),
                    &[ErrorCode::UnexpectedResponse],
                    "rsapub",
                );
            }
        }
    }
}

/// A whole login against scripted replies (five fields: INIT, COMPLETEAUTH, COMPLETEAUTH_1,
/// COMPLETETWOFACT, the dispatcher's body; `$M2` in COMPLETEAUTH's is the right proof).
pub fn gateway_login(data: &[u8]) {
    let v = fields(data, 5);
    let login_codes = [
        ErrorCode::UnexpectedResponse,
        ErrorCode::LoginFailed,
        ErrorCode::SecondFactorFailed,
        ErrorCode::AccountLocked,
        ErrorCode::InvalidArgument,
    ];
    let password = "correct horse battery";
    let mut g = GatewayLogin::with_secret("user1", password, &[7u8; 32]).unwrap();
    let leak = |e: &Error| {
        check_error(e, &login_codes, "gateway login");
        assert!(!e.message().contains(password), "the password leaks");
    };
    let mut run = || -> Result<()> {
        let mut outcome = g.init_reply(&v[0])?;
        if outcome.again {
            outcome = g.init_reply(&v[0])?;
            if outcome.again {
                return Ok(());
            }
        }
        let _ = g.complete_auth_form()?;
        // `$M2` stands for the right proof, so that the fuzzer reaches the steps after it.
        let m2 = g
            .srp_proof()
            .map(|p| p.m2_hex().to_string())
            .unwrap_or_default();
        let factors = g.complete_auth_reply(&v[1].replace("$M2", &m2))?;
        let _ = g.login_cookie()?;
        if let Some(sf) = factors.first() {
            let _ = g.second_factor_form(sf)?;
            let c = g.challenge_reply(&v[2])?;
            let answer = match c.challenge.as_deref() {
                Some(q) => gateway_login::ocra(
                    "OCRA-1:HOTP-SHA1-8:QN08",
                    b"12345678901234567890",
                    &gateway_login::OcraInput {
                        question: q,
                        ..Default::default()
                    },
                )
                .unwrap_or_else(|_| "12345678".into()),
                None => "123456".into(),
            };
            let _ = g.two_factor_form(sf, &answer)?;
            g.two_factor_reply(&v[3])?;
        }
        let _ = g.dispatcher_form("")?;
        g.dispatcher_reply(&v[4])
    };
    let r = run();
    trace("gateway login", &r);
    if let Err(e) = r {
        leak(&e);
    }
    check_no_secret(&format!("{g:?}"), "GatewayLogin Debug");
    assert!(!format!("{g:?}").contains(password));
}

/// The second factor's inputs: an OCRA suite and question, a base32 TOTP secret (three fields).
pub fn otp(data: &[u8]) {
    let v = fields(data, 3);
    let r = gateway_login::ocra::Suite::parse(&v[0]);
    check(&r, &[ErrorCode::InvalidArgument], "ocra suite");
    let input = gateway_login::OcraInput {
        counter: Some(1),
        question: &v[1],
        pin: Some(gateway_login::OcraPin::Text("1234")),
        session_hex: Some("00"),
        unix_seconds: Some(1_700_000_000),
    };
    check(
        &gateway_login::ocra(&v[0], b"0123456789", &input),
        &[ErrorCode::InvalidArgument],
        "ocra",
    );
    let question_only = gateway_login::OcraInput {
        question: &v[1],
        ..Default::default()
    };
    if let Ok(answer) = gateway_login::ocra("OCRA-1:HOTP-SHA1-8:QN08", b"k", &question_only) {
        assert_eq!(answer.len(), 8);
    }
    let s = gateway_login::decode_base32_secret(&v[2]);
    check(&s, &[ErrorCode::InvalidArgument], "base32 secret");
    if let Ok(s) = s {
        for hash in ["SHA1", "SHA256", "SHA512"] {
            let h = OtpHash::parse(hash).unwrap();
            let r = gateway_login::totp(s.expose(), 1_700_000_000, 30, 6, h);
            check(&r, &[ErrorCode::InvalidArgument], "totp");
        }
    }
}

/// An entry of the shared token store (another process, or whoever can write to the store):
/// opened, never trusted; and a sealed entry opens to what was sealed.
pub fn fleet_entry(data: &[u8]) {
    use ibkr_auth::fleet::{FleetAccount, Sealed};
    let f = fixtures();
    let prepend = lst::prepend_from_hex(&f.prepend_hex).unwrap();
    let acct = FleetAccount::oauth1(CONSUMER_KEY, ACCESS_TOKEN, &prepend).unwrap();
    let t = text(data);
    if let Some(s) = acct.open(&t) {
        assert!(s.expires_at.is_finite());
    }
    let sealed = Sealed {
        generation: data.len() as u64,
        expires_at: 1.7e12,
        secret: SecretBytes::new(data.iter().take(300).copied().collect()),
        ip: Some(t.chars().take(40).collect()),
    };
    match acct.seal(&sealed) {
        Ok(v) => {
            let back = acct.open(&v).expect("a sealed entry opens");
            assert_eq!(back.generation, sealed.generation);
            assert_eq!(back.secret.expose(), sealed.secret.expose());
        }
        Err(e) => check_error(&e, &[], "fleet seal"),
    }
}

// ---------------------------------------------------------------------------------------------
// Sessions against a scripted server.

/// One scripted answer: `STATUS|Header: v;Header: v|BODY`. Bodies `$LST` (a correct live
/// session token answer for the request's challenge), `$NET` (a network failure) and
/// `$TIMEOUT` are special.
struct Scripted {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

fn parse_line(line: &str) -> Scripted {
    let mut parts = line.splitn(3, '|');
    let status = parts.next().unwrap_or("").trim().parse().unwrap_or(200);
    let headers = parts
        .next()
        .unwrap_or("")
        .split(';')
        .filter_map(|h| h.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Scripted {
        status,
        headers,
        body: parts.next().unwrap_or("").to_owned(),
    }
}

/// A response of the scripted server.
pub struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
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

/// An in-memory host: a virtual clock, the scripted answers in order, and a record of what was
/// sent and logged.
#[derive(Clone)]
pub struct Mock {
    clock: Rc<Cell<f64>>,
    script: Rc<RefCell<std::collections::VecDeque<String>>>,
    /// (url, authorization) of every request.
    sent: Rc<RefCell<Sent>>,
    logs: Rc<RefCell<Vec<String>>>,
    sleeps: Rc<Cell<u32>>,
    ip: bool,
    /// The live session tokens the server made (base64), which must never be logged.
    tokens: Rc<RefCell<Vec<String>>>,
}

impl Mock {
    pub fn new(script: Vec<String>, ip: bool) -> Self {
        Mock {
            clock: Rc::new(Cell::new(1_700_000_000_000.0)),
            script: Rc::new(RefCell::new(script.into())),
            sent: Rc::default(),
            logs: Rc::default(),
            sleeps: Rc::default(),
            ip,
            tokens: Rc::default(),
        }
    }

    /// A correct answer to a live session token request, from its Authorization header.
    fn lst_answer(&self, authorization: &str) -> String {
        let f = fixtures();
        let challenge = authorization
            .split("diffie_hellman_challenge=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or("");
        let prime = f.dh.prime_hex();
        let (Ok(b_pub), Ok(token)) = (
            lst::challenge_from_hex(&prime, SERVER_B_HEX, 2),
            lst::lst_from_hex(&prime, SERVER_B_HEX, challenge, &f.prepend_hex),
        ) else {
            return "{}".into();
        };
        let sig = OtpHash::parse("SHA1")
            .unwrap()
            .hmac(token.expose(), CONSUMER_KEY.as_bytes())
            .unwrap();
        self.tokens
            .borrow_mut()
            .push(lst::lst_base64(&token).to_string());
        format!(
            "{{\"diffie_hellman_response\":\"{b_pub}\",\"live_session_token_signature\":\"{}\",\"live_session_token_expiration\":{}}}",
            encoding::hex_encode(&sig),
            self.clock.get() + 86_400_000.0
        )
    }
}

impl Host for Mock {
    type Value = String;
    type Response = Resp;

    async fn fetch(&self, req: &HttpRequest<String>) -> Result<Resp> {
        let auth = req
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .map(|(_, v)| v.clone());
        self.sent.borrow_mut().push((req.url.clone(), auth.clone()));
        self.clock.set(self.clock.get() + 5.0);
        let Some(line) = self.script.borrow_mut().pop_front() else {
            return Err(Error::new(ErrorCode::Network, "the script has ended"));
        };
        let s = parse_line(&line);
        let body = match s.body.as_str() {
            "$NET" => return Err(Error::new(ErrorCode::Network, "scripted network failure")),
            "$TIMEOUT" => return Err(Error::new(ErrorCode::Timeout, "scripted timeout")),
            "$LST" => self.lst_answer(auth.as_deref().unwrap_or("")),
            _ => s.body,
        };
        Ok(Resp {
            status: s.status,
            headers: s.headers,
            body,
        })
    }
    fn text_body(&self, text: &str) -> String {
        text.to_owned()
    }
    fn now_ms(&self) -> f64 {
        self.clock.get()
    }
    async fn sleep(&self, ms: u64) {
        let n = self.sleeps.get() + 1;
        self.sleeps.set(n);
        assert!(
            n < 10_000,
            "a session slept 10 000 times without ending: a loop"
        );
        self.clock.set(self.clock.get() + ms as f64);
    }
    fn log(&self, _level: Level, message: &str) {
        self.logs.borrow_mut().push(message.to_owned());
    }
    async fn public_ip(&self) -> Result<Option<String>> {
        Ok(self.ip.then(|| "203.0.113.7".to_owned()))
    }
}

fn gateway_options() -> Options {
    Options {
        base_urls: vec!["https://localhost:5000/v1/api".into()],
        ..Options::default()
    }
}

/// A session of the kind the first byte picks, one operation (the second byte) against the
/// scripted answers (one per line; the first line is the call's target).
pub fn session_responses(data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    let _ = run_session(data);
}

/// [`session_responses`], returning the operation's outcome (for regression tests).
pub fn run_session(data: &[u8]) -> Result<String> {
    let (kind, op) = (data[0] % 3, data[1] % 10);
    let t = text(&data[2..]);
    let mut lines = t.split('\n');
    let target = lines.next().unwrap_or("").to_owned();
    let script: Vec<String> = lines.take(64).map(str::to_owned).collect();
    let f = fixtures();
    let host = Mock::new(script, true);
    let (auth, opts): (Auth, Options) = match kind {
        0 => (
            Oauth1Credentials::new(Oauth1Inputs {
                consumer_key: CONSUMER_KEY,
                access_token: ACCESS_TOKEN,
                access_token_secret: &f.access_token_secret,
                signature_key: SIGNATURE_PEM,
                encryption_key: ENCRYPTION_PEM,
                dh_params: DHPARAM_PEM,
                realm: None,
            })
            .unwrap()
            .into(),
            Options {
                base_urls: vec![BASE.into()],
                ..Options::default()
            },
        ),
        1 => (
            Oauth2Credentials::new("client", "kid", "user1", OAUTH2_PEM, None, Vec::new())
                .unwrap()
                .into(),
            Options {
                base_urls: vec![BASE.into()],
                ..Options::default()
            },
        ),
        _ => (Auth::Gateway, gateway_options()),
    };
    let s = Session::new(host.clone(), auth, opts).unwrap();
    let call = |m: &str| {
        let mut c = Call::new(m, &target);
        c.query = vec![("q".into(), target.clone())];
        c
    };
    let outcome: Result<String> = block_on(async {
        match op {
            0 => s.request(call("GET")).await,
            1 => s.request(call("POST")).await,
            2 => s.ensure_authenticated(true).await,
            3 => s.keep_alive_round(60_000).await.map(|r| format!("{r:?}")),
            4 => s.init_brokerage(true, true).await,
            5 => {
                s.status().await?;
                s.tickle().await
            }
            6 => s.refresh(0.0).await.map(|r| format!("{r:?}")),
            7 => s.logout().await,
            8 => s.validate().await,
            _ => third_party(&host, &target).await,
        }
    });
    trace("session", &outcome);
    check(&outcome, &[], "session");
    // Nothing secret in what the session logged; signatures only went to its own hosts.
    let logs = host.logs.borrow();
    let tokens = host.tokens.borrow();
    for line in logs.iter() {
        check_no_secret(line, "log");
        for t in tokens.iter() {
            assert!(!line.contains(t.as_str()), "the LST leaks into a log line");
        }
    }
    if let Err(e) = &outcome {
        for t in tokens.iter() {
            assert!(!format!("{e:?}").contains(t.as_str()), "the LST leaks");
        }
    }
    for (url, auth) in host.sent.borrow().iter() {
        if auth.is_some() {
            assert!(
                url.starts_with(BASE) || url.starts_with("https://api.ibkr.com/"),
                "a signed request went to {url}"
            );
        }
    }
    drop((logs, tokens));
    outcome
}

/// The third-party flow's two JSON answers (request token, access token).
async fn third_party(host: &Mock, verifier: &str) -> Result<String> {
    let key = PrivateKey::from_pem(SIGNATURE_PEM, "signatureKey")?;
    let flow = session::third_party::ThirdParty::new(
        host.clone(),
        CONSUMER_KEY,
        key,
        None,
        BASE,
        15_000,
        "ibkr-auth-fuzz",
    )?;
    let token = flow.request_token("oob").await?;
    let url = flow.authorize_url(&token, None)?;
    let a = flow.access_token(&token, verifier).await?;
    Ok(format!("{url} {a:?}"))
}
