//! Replays the fuzzing corpus on stable Rust: every file under `tests/fuzz/corpus/<target>/` and every
//! saved crash under `tests/fuzz/regressions/<target>/` goes through the same entry function the
//! libFuzzer target calls (`fuzz/src/entries.rs`). Each must end without a panic, with typed
//! errors and no secret in any message or log line (the entries assert that).
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../fuzz/src/entries.rs"]
mod entries;

use std::path::{Path, PathBuf};

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    v.retain(|p| p.is_file());
    v.sort();
    v
}

fn replay(kind: &str, must_exist: bool) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz")
        .join(kind);
    let mut failures = Vec::new();
    let mut count = 0;
    for &(name, entry) in entries::TARGETS {
        let found = files(&root.join(name));
        assert!(
            !must_exist || !found.is_empty(),
            "tests/fuzz/{kind}/{name}/ has no files: run `python3 fuzz/make_seeds.py`"
        );
        for file in found {
            let data = std::fs::read(&file).unwrap();
            count += 1;
            if std::panic::catch_unwind(|| entry(&data)).is_err() {
                failures.push(file.display().to_string());
            }
        }
    }
    assert!(failures.is_empty(), "inputs that fail: {failures:#?}");
    count
}

#[test]
fn every_corpus_input_ends_in_a_value_or_a_typed_error() {
    let n = replay("corpus", true);
    assert!(n >= entries::TARGETS.len());
}

#[test]
fn every_saved_crash_is_fixed() {
    replay("regressions", false);
}

#[test]
fn every_target_has_a_libfuzzer_binary() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets");
    for &(name, _) in entries::TARGETS {
        assert!(
            dir.join(format!("{name}.rs")).is_file(),
            "no fuzz target {name}"
        );
    }
}

/// A session script: kind (0 OAuth 1.0a, 1 OAuth 2.0, 2 gateway), operation, target, answers.
fn session(kind: u8, op: u8, lines: &[&str]) -> ibkr_auth::Result<String> {
    let mut data = vec![kind, op];
    data.extend_from_slice(lines.join("\n").as_bytes());
    entries::run_session(&data)
}

fn code<T: std::fmt::Debug>(r: ibkr_auth::Result<T>) -> &'static str {
    r.unwrap_err().code().as_str()
}

#[test]
fn a_hostile_dh_response_is_bad_dh_response() {
    let prime = ibkr_auth::DhParams::from_pem(include_str!("vectors/oauth1a/dhparam.pem"))
        .unwrap()
        .prime_hex();
    let p_minus_1 = format!("{}{}", &prime[..prime.len() - 1], {
        let last = u8::from_str_radix(&prime[prime.len() - 1..], 16).unwrap();
        format!("{:x}", last - 1)
    });
    let above = format!("1{prime}");
    for b in ["0", "1", &p_minus_1, &prime, &above, "zz", ""] {
        let answer = format!(
            "200||{{\"diffie_hellman_response\":\"{b}\",\"live_session_token_signature\":\"{}\"}}",
            "ab".repeat(20)
        );
        assert_eq!(
            code(session(0, 0, &["/iserver/accounts", &answer])),
            "BAD_DH_RESPONSE",
            "{b}"
        );
    }
}

#[test]
fn an_lst_signature_of_the_wrong_length_is_a_mismatch() {
    let v: serde_json::Value =
        serde_json::from_str(include_str!("vectors/oauth1a/vectors.json")).unwrap();
    let r = &v["live_session_token"]["lst_k_needs_sign_byte"]["simulated_server"]["response_json"];
    let (b, sig) = (
        r["diffie_hellman_response"].as_str().unwrap(),
        r["live_session_token_signature"].as_str().unwrap(),
    );
    let mut data = format!("{b}\n{sig}").into_bytes();
    entries::dh_response(&data); // the right one passes the entry's checks
    for bad in [&sig[2..], &format!("{sig}00")[..], "", "xyz"] {
        data = format!("{b}\n{bad}").into_bytes();
        entries::dh_response(&data);
    }
    // Through a session: the handshake fails with the typed error.
    let answer = format!(
        "200||{{\"diffie_hellman_response\":\"{b}\",\"live_session_token_signature\":\"{}\"}}",
        &sig[..38]
    );
    assert_eq!(
        code(session(0, 0, &["/iserver/accounts", &answer])),
        "LST_SIGNATURE_MISMATCH"
    );
}

/// Found while writing the session target: an OAuth 2.0 access token with CR/LF or non-ASCII went into
/// the Authorization header, where the HTTP stack refused it as a network failure (or, on a
/// lax stack, split the header). Now the answer is refused as unexpected.
#[test]
fn an_access_token_that_cannot_be_a_header_is_unexpected() {
    for token in ["b\\r\\nX-Evil: 1", "with space", "\u{e9}t\u{e9}", ""] {
        let answer = format!("200||{{\"access_token\":\"{token}\",\"expires_in\":60}}");
        assert_eq!(
            code(session(1, 0, &["/iserver/accounts", &answer])),
            "UNEXPECTED_RESPONSE",
            "{token:?}"
        );
    }
}

/// A numeric OCRA question (the gateway's challenge) of a million digits is refused at once;
/// its conversion to bytes used to be quadratic in the length (minutes for this one).
#[test]
fn a_huge_numeric_ocra_question_is_refused_at_once() {
    let q = "7".repeat(1_000_000);
    let r = ibkr_auth::gateway_login::ocra(
        "OCRA-1:HOTP-SHA1-8:QN08",
        b"12345678901234567890",
        &ibkr_auth::gateway_login::OcraInput {
            question: &q,
            ..Default::default()
        },
    );
    assert_eq!(code(r), "INVALID_ARGUMENT");
}

/// Found by the dh_params target: a BEGIN line that lost its closing dashes made the "label" run
/// into the body, and the error message quoted it — for a private key, its base64.
#[test]
fn a_damaged_begin_line_is_not_quoted() {
    let pem = include_str!("vectors/oauth1a/private_signature.pem");
    let body_line = pem.lines().nth(3).unwrap();
    for (from, to) in [
        ("PRIVATE KEY-----\n", "PRIVATE KEY---"),
        ("PRIVATE KEY-----\n", "PRIVATE KEY--\n"),
        ("PRIVATE KEY-----\n", "PRIVATE KEY "),
    ] {
        let damaged = pem.replacen(from, to, 1);
        let e = ibkr_auth::PrivateKey::from_pem(&damaged, "signatureKey").unwrap_err();
        assert_eq!(e.code().as_str(), "INVALID_KEY");
        assert!(
            !e.message().contains(&body_line[..20]),
            "the key leaks: {}",
            e.message()
        );
        let dh = ibkr_auth::DhParams::from_pem(&damaged).unwrap_err();
        assert!(!dh.message().contains(&body_line[..20]), "{}", dh.message());
    }
}

/// Found by the otp target: a time step whose last character is multi-byte (`T1é`) panicked.
#[test]
fn an_ocra_suite_with_a_multibyte_time_step_is_refused() {
    for suite in [
        "OCRA-1:HOTP-SHA1-8:QN08-T1\u{e9}",
        "OCRA-1:HOTP-SHA1-8:QN08-T\u{1f600}",
    ] {
        let r = ibkr_auth::gateway_login::ocra::Suite::parse(suite);
        assert_eq!(code(r.map(|_| ())), "INVALID_ARGUMENT");
    }
}

/// Found by the url_query target: a base URL with a control character before its trailing `/`
/// was accepted and used, yet its own URLs were then not recognised as its own. Such a base is
/// refused now, at run time and in the options.
#[test]
fn a_base_url_with_whitespace_or_control_characters_is_refused() {
    use ibkr_auth::session::{Auth, Options, Session};
    let host = entries::Mock::new(Vec::new(), false);
    let s = Session::new(host.clone(), Auth::Gateway, Options::default()).unwrap();
    for bad in [
        "https://api.ibkr.com/v1/api\u{c}/",
        "https://api.ibkr.com/v1 /api",
        "https://api.ibkr.com/v1/\napi",
    ] {
        assert_eq!(code(s.set_base_url(bad)), "INVALID_ARGUMENT", "{bad:?}");
        let opts = Options {
            base_urls: vec![bad.into()],
            ..Options::default()
        };
        assert_eq!(
            code(Session::new(host.clone(), Auth::Gateway, opts).map(|_| ())),
            "INVALID_ARGUMENT"
        );
    }
    assert!(s.set_base_url(" https://1.api.ibkr.com/v1/api/ ").is_ok());
}
