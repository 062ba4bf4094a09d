//! Every case of `tests/bad_inputs.json` against the Rust core: the right code, a message that
//! says what to fix, and no secret in it. Plus property tests: no input makes the core panic.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use ibkr_auth::keys::{DhParams, PrivateKey};
use ibkr_auth::oauth1::{self, lst, request, Context};
use ibkr_auth::{Error, Result};
use proptest::prelude::*;
use serde_json::Value;

fn st(o: &Value, k: &str) -> String {
    o[k].as_str()
        .unwrap_or_else(|| panic!("field {k} missing; mark the case jsOnly"))
        .to_owned()
}

fn params(o: &Value, k: &str) -> Vec<(String, String)> {
    o[k].as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

/// The Rust-side meaning of each JS function in the table.
fn call(f: &str, a: &[Value]) -> Result<String> {
    let o = a.first().cloned().unwrap_or(Value::Null);
    let common = |o: &Value| -> (String, String, String, u64, String) {
        let ck = st(o, "consumerKey");
        let realm = o["realm"]
            .as_str()
            .map_or_else(|| request::default_realm(&ck).to_owned(), str::to_owned);
        (
            ck,
            realm,
            st(o, "nonce"),
            o["timestamp"].as_u64().unwrap(),
            o["baseUrl"]
                .as_str()
                .unwrap_or(request::DEFAULT_BASE_URL)
                .to_owned(),
        )
    };
    macro_rules! ctx {
        ($c:expr) => {
            Context {
                consumer_key: &$c.0,
                realm: &$c.1,
                nonce: &$c.2,
                timestamp: $c.3,
            }
        };
    }
    match f {
        "signRsaSha256" => {
            let key = PrivateKey::from_pem(a[0].as_str().unwrap(), "privateKeyPem")?;
            request::Signer::RsaSha256(&key).sign(a[1].as_str().unwrap())
        }
        "decryptAccessTokenSecret" => {
            let key = PrivateKey::from_pem(a[0].as_str().unwrap(), "encryptionKeyPem")?;
            Ok(
                lst::decrypt_access_token_secret(&key, a[1].as_str().unwrap())?
                    .expose_hex()
                    .to_string(),
            )
        }
        "parseDhParams" => DhParams::from_pem(a[0].as_str().unwrap()).map(|d| d.prime_hex()),
        "dhChallenge" => {
            let g = o["generator"].as_u64().map_or(2, |g| g as u32);
            lst::challenge_from_hex(&st(&o, "prime"), &st(&o, "random"), g)
        }
        "liveSessionToken" => lst::lst_from_hex(
            &st(&o, "prime"),
            &st(&o, "random"),
            &st(&o, "dhResponse"),
            &st(&o, "prepend"),
        )
        .map(|t| lst::lst_base64(&t).to_string()),
        "verifyLiveSessionToken" => {
            let t = lst::lst_from_base64(&st(&o, "token"))?;
            lst::verify_lst(&t, &st(&o, "consumerKey"), &st(&o, "signature")).map(|b| b.to_string())
        }
        "baseString" => oauth1::base_string(
            &st(&o, "method"),
            &st(&o, "url"),
            &params(&o, "params"),
            None,
            true,
        ),
        "signHmacSha256" => request::hmac_sha256_base64(
            &lst::lst_from_base64(a[0].as_str().unwrap())?,
            a[1].as_str().unwrap(),
        ),
        "authorizationHeader" => oauth1::authorization_header(
            &st(&o, "realm"),
            &params(&o, "params"),
            &st(&o, "signature"),
        ),
        "liveSessionTokenRequest" => {
            let c = common(&o);
            let key = PrivateKey::from_pem(&st(&o, "signatureKey"), "signatureKey")?;
            let prepend = lst::prepend_from_hex(&st(&o, "prepend"))?;
            request::live_session_token_request(
                &c.4,
                &ctx!(c),
                &st(&o, "accessToken"),
                &st(&o, "challenge"),
                &prepend,
                &key,
            )
            .map(|s| s.authorization)
        }
        "requestTokenRequest" => {
            let c = common(&o);
            let key = PrivateKey::from_pem(&st(&o, "signatureKey"), "signatureKey")?;
            request::request_token_request(
                &c.4,
                &ctx!(c),
                o["callback"].as_str().unwrap_or("oob"),
                &key,
            )
            .map(|s| s.authorization)
        }
        "accessTokenRequest" => {
            let c = common(&o);
            let key = PrivateKey::from_pem(&st(&o, "signatureKey"), "signatureKey")?;
            request::access_token_request(
                &c.4,
                &ctx!(c),
                &st(&o, "requestToken"),
                &st(&o, "verifier"),
                &key,
            )
            .map(|s| s.authorization)
        }
        "authorizeUrl" => request::authorize_url(&st(&o, "requestToken"), o["base"].as_str()),
        "signRequest" => {
            let c = common(&o);
            let token = lst::lst_from_base64(&st(&o, "liveSessionToken"))?;
            request::api_request(
                &st(&o, "method"),
                &st(&o, "url"),
                &ctx!(c),
                &st(&o, "accessToken"),
                &token,
                true,
            )
            .map(|s| s.authorization)
        }
        "clientAssertion" => {
            let key = PrivateKey::from_pem(&st(&o, "privateKey"), "privateKey")?;
            ibkr_auth::oauth2::client_assertion(
                &st(&o, "clientId"),
                &st(&o, "clientKeyId"),
                &key,
                o["now"].as_i64().unwrap(),
            )
        }
        "ssoSessionJwt" => {
            let key = PrivateKey::from_pem(&st(&o, "privateKey"), "privateKey")?;
            let alt: Vec<String> = o["alternativeIps"].as_array().map_or_else(Vec::new, |a| {
                a.iter().map(|x| x.as_str().unwrap().to_owned()).collect()
            });
            ibkr_auth::oauth2::sso_session_jwt(
                &st(&o, "clientId"),
                &st(&o, "clientKeyId"),
                &st(&o, "credential"),
                &st(&o, "ip"),
                &key,
                o["now"].as_i64().unwrap(),
                &alt,
            )
        }
        other => panic!("the native table test does not know {other}"),
    }
}

#[test]
fn every_bad_input_gets_its_code() {
    let table = common::Table::load();
    let mut ran = 0;
    for case in table.cases() {
        if case["jsOnly"].as_bool() == Some(true) {
            continue;
        }
        let name = case["name"].as_str().unwrap();
        let args = table.resolve(&case["args"]);
        let err: Error = match call(case["fn"].as_str().unwrap(), args.as_array().unwrap()) {
            Ok(_) => panic!("{name}: accepted, but should fail with {}", case["code"]),
            Err(e) => e,
        };
        table.check(case, &args, err.code().as_str(), err.message());
        // Display is the code and the message, nothing more.
        assert_eq!(
            err.to_string(),
            format!("{}: {}", err.code(), err.message())
        );
        ran += 1;
    }
    assert!(ran >= 60, "only {ran} cases ran");
}

#[test]
fn secrets_print_redacted() {
    let table = common::Table::load();
    let key = PrivateKey::from_pem(&table.input("SIG"), "k").unwrap();
    let dbg = format!("{key:?}");
    assert_eq!(dbg, "PrivateKey(2048 bits, [redacted])");
    let enc = PrivateKey::from_pem(&table.input("ENC"), "k").unwrap();
    let prepend = lst::decrypt_access_token_secret(&enc, &table.input("SECRET")).unwrap();
    assert_eq!(format!("{prepend:?}"), "[redacted]");
    let params = DhParams::from_pem(&table.input("DH")).unwrap();
    let a = oauth1::DhSecret::from_hex(&table.input("RANDOM"), &params).unwrap();
    assert_eq!(format!("{a:?}"), "DhSecret([redacted])");
    let ctx = Context {
        consumer_key: "TESTVECTR",
        realm: "limited_poa",
        nonce: "n",
        timestamp: 1,
    };
    let signed = request::live_session_token_request(
        request::DEFAULT_BASE_URL,
        &ctx,
        "tok",
        "ab",
        &prepend,
        &key,
    )
    .unwrap();
    assert!(signed.base_string.starts_with(&table.input("PREPEND")));
    assert!(!format!("{signed:?}").contains(&table.input("PREPEND")));
}

#[test]
fn key_sizes_2048_to_4096_and_crlf() {
    let table = common::Table::load();
    for (path, bits) in [
        ("fixtures/rsa3072.pk8.pem", 3072),
        ("fixtures/rsa4096.pem", 4096),
    ] {
        let text = common::file(path);
        for variant in [
            text.to_owned(),
            text.replace('\n', "\r\n"),
            text.replace('\n', "\\n"),
        ] {
            let key = PrivateKey::from_pem(&variant, "k").unwrap();
            assert_eq!(key.bits(), bits);
            assert_eq!(key.sign_sha256(b"x").unwrap().len(), bits / 8);
        }
    }
    // A 4096-bit encryption key decrypts a secret made for it.
    let key = PrivateKey::from_pem(common::file("fixtures/rsa4096.pem"), "k").unwrap();
    let prepend =
        lst::decrypt_access_token_secret(&key, common::file("fixtures/secret-for-rsa4096.b64"))
            .unwrap();
    assert_eq!(prepend.expose(), b"0123456789abcdef0123456789abcdef");
    // Bare base64 DER (PEM armour stripped, as some environment variables hold it) works too.
    let sig = table.input("SIG");
    let bare: String = sig.lines().filter(|l| !l.starts_with("-----")).collect();
    assert_eq!(PrivateKey::from_pem(&bare, "k").unwrap().bits(), 2048);
}

fn arb_pemish() -> impl Strategy<Value = String> {
    let labels = prop_oneof![
        Just("RSA PRIVATE KEY"),
        Just("PRIVATE KEY"),
        Just("DH PARAMETERS"),
        Just("PUBLIC KEY"),
        Just("X")
    ];
    (labels, proptest::collection::vec(any::<u8>(), 0..600)).prop_map(|(label, body)| {
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            ibkr_auth::encoding::b64_encode(&body)
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn no_string_makes_a_parser_panic(s in ".{0,300}") {
        let _ = PrivateKey::from_pem(&s, "k");
        let _ = DhParams::from_pem(&s);
        let _ = DhParams::from_hex(&s, 2);
        let _ = lst::lst_from_base64(&s);
        let _ = lst::prepend_from_hex(&s);
        let _ = oauth1::base::split_url(&s);
        let _ = oauth1::base_string(&s, &s, &[(s.as_str(), s.as_str())], Some(&s), true);
        let _ = oauth1::authorization_header(&s, &[(s.as_str(), s.as_str())], &s);
        let _ = request::authorize_url(&s, Some(&s));
        let _ = ibkr_auth::encoding::form_decode(&s);
    }

    #[test]
    fn no_pem_body_makes_key_parsing_panic(pem in arb_pemish()) {
        let _ = PrivateKey::from_pem(&pem, "k");
        let _ = DhParams::from_pem(&pem);
    }

    #[test]
    fn damaged_real_keys_never_panic(pos in 0usize..1200, byte in any::<u8>()) {
        let table = common::Table::load();
        let sig = table.input("SIG");
        let body: String = sig.lines().filter(|l| !l.starts_with("-----")).collect();
        let mut der = base64_decode(&body);
        let i = pos % der.len();
        der[i] ^= byte | 1;
        let pem = format!("-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\n", ibkr_auth::encoding::b64_encode(&der));
        if let Ok(key) = PrivateKey::from_pem(&pem, "k") {
            let _ = key.sign_sha256(b"x");
        }
    }

    #[test]
    fn any_secret_or_dh_response_is_an_error_or_a_value(secret in "[A-Za-z0-9+/=]{0,400}", b in "[0-9a-f]{0,520}") {
        let table = common::Table::load();
        let enc = PrivateKey::from_pem(&table.input("ENC"), "k").unwrap();
        let _ = lst::decrypt_access_token_secret(&enc, &secret);
        let _ = lst::lst_from_hex(&table.input("PRIME"), &table.input("RANDOM"), &b, &table.input("PREPEND"));
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    ibkr_auth::encoding::b64_decode_lenient(s).unwrap()
}
