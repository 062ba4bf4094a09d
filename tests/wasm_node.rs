//! The JS-facing functions, compiled to wasm32 and run in Node by wasm-bindgen-test: every
//! vector, and every case of the bad-input table (including the mistyped-argument cases).
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use ibkr_auth::wasm as api;
use js_sys::{Array, Reflect, JSON};
use serde_json::Value;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;

fn vectors() -> Value {
    serde_json::from_str(common::VECTORS).unwrap()
}

fn to_js(v: &Value) -> JsValue {
    JSON::parse(&serde_json::to_string(v).unwrap()).unwrap()
}

fn get(v: &JsValue, k: &str) -> String {
    Reflect::get(v, &k.into()).unwrap().as_string().unwrap()
}

fn s<'a>(v: &'a Value, path: &str) -> &'a str {
    path.split('.')
        .fold(v, |cur, k| &cur[k])
        .as_str()
        .unwrap_or_else(|| panic!("{path}"))
}

const PREPEND_KEY: &str = "decrypted_access_token_secret_hex (= prepend)";

#[wasm_bindgen_test]
fn handshake_vectors() {
    let v = vectors();
    let enc = common::file("vectors/oauth1a/private_encryption.pem");
    let prepend =
        api::decrypt_access_token_secret(enc.into(), s(&v, "inputs.access_token_secret").into())
            .unwrap()
            .as_string()
            .unwrap();
    assert_eq!(prepend, v["derived"][PREPEND_KEY].as_str().unwrap());

    let dh = api::parse_dh_params(common::file("vectors/oauth1a/dhparam.pem").into()).unwrap();
    assert_eq!(get(&dh, "prime"), s(&v, "inputs.dh_prime_hex"));
    assert_eq!(
        Reflect::get(&dh, &"generator".into()).unwrap().as_f64(),
        Some(2.0)
    );

    let challenge = api::dh_challenge(to_js(&serde_json::json!({
        "prime": s(&v, "inputs.dh_prime_hex"), "random": s(&v, "inputs.dh_random_hex")
    })))
    .unwrap();
    assert_eq!(challenge, s(&v, "derived.diffie_hellman_challenge_hex"));

    for (name, case) in v["live_session_token"].as_object().unwrap() {
        let resp = &case["simulated_server"]["response_json"];
        let token = api::live_session_token(to_js(&serde_json::json!({
            "dhResponse": resp["diffie_hellman_response"], "random": s(&v, "inputs.dh_random_hex"),
            "prime": s(&v, "inputs.dh_prime_hex"), "prepend": prepend,
        })))
        .unwrap()
        .as_string()
        .unwrap();
        assert_eq!(token, s(case, "computation.live_session_token"), "{name}");
        let ok = api::verify_live_session_token(to_js(&serde_json::json!({
            "token": token, "consumerKey": s(&v, "inputs.consumer_key"), "signature": resp["live_session_token_signature"],
        })))
        .unwrap();
        assert!(ok, "{name}");

        let req = &case["request"];
        let signed = api::live_session_token_request(to_js(&serde_json::json!({
            "baseUrl": s(&v, "inputs.base_url"), "consumerKey": s(&v, "inputs.consumer_key"),
            "accessToken": s(&v, "inputs.access_token"), "challenge": challenge, "prepend": prepend,
            "signatureKey": common::file("vectors/oauth1a/private_signature.pk8.pem"),
            "nonce": s(req, "oauth_nonce"), "timestamp": s(req, "oauth_timestamp"),
        })))
        .unwrap();
        assert_eq!(get(&signed, "baseString"), s(req, "base_string"));
        assert_eq!(
            get(&signed, "authorization"),
            s(req, "authorization_header")
        );
        let base = api::base_string(to_js(&serde_json::json!({
            "method": "POST", "url": s(req, "url"), "prepend": prepend, "params": {
                "diffie_hellman_challenge": challenge, "oauth_consumer_key": s(&v, "inputs.consumer_key"),
                "oauth_nonce": s(req, "oauth_nonce"), "oauth_signature_method": "RSA-SHA256",
                "oauth_timestamp": s(req, "oauth_timestamp"), "oauth_token": s(&v, "inputs.access_token"),
            }
        })))
        .unwrap();
        assert_eq!(base, s(req, "base_string"));
        let sig = api::sign_rsa_sha256(
            common::file("vectors/oauth1a/private_signature.pem").into(),
            base.into(),
        )
        .unwrap();
        assert_eq!(sig, s(req, "oauth_signature_base64"));
    }
}

#[wasm_bindgen_test]
fn api_request_vectors() {
    let v = vectors();
    let api_cases = &v["api_requests"];
    let token = s(api_cases, "live_session_token_used");
    let mut n = 0;
    for (name, case) in api_cases
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, c)| c.is_object())
    {
        let signed = api::sign_request(to_js(&serde_json::json!({
            "method": case["method"], "url": case["url_sent"], "consumerKey": s(&v, "inputs.consumer_key"),
            "accessToken": s(&v, "inputs.access_token"), "liveSessionToken": token, "realm": s(&v, "inputs.realm"),
            "nonce": case["oauth_nonce"], "timestamp": case["oauth_timestamp"],
            "signQuery": case["query_params_in_base_string"],
        })))
        .unwrap();
        assert_eq!(get(&signed, "baseString"), s(case, "base_string"), "{name}");
        assert_eq!(
            get(&signed, "authorization"),
            s(case, "authorization_header"),
            "{name}"
        );
        let sig = api::sign_hmac_sha256(token.into(), s(case, "base_string").into()).unwrap();
        assert_eq!(sig, s(case, "oauth_signature_base64"), "{name}");
        n += 1;
    }
    assert_eq!(n, 8);
}

#[wasm_bindgen_test]
fn third_party_vectors() {
    let v = vectors();
    let tp = &v["third_party"];
    let key = common::file("vectors/oauth1a/private_signature.pem");
    let rt = &tp["request_token"];
    let signed = api::request_token_request(to_js(&serde_json::json!({
        "consumerKey": "TESTCONS", "signatureKey": key, "nonce": rt["oauth_params"]["oauth_nonce"], "timestamp": 1_700_000_000,
    })))
    .unwrap();
    assert_eq!(get(&signed, "authorization"), s(rt, "authorization_header"));
    let url = api::authorize_url(to_js(
        &serde_json::json!({ "requestToken": rt["example_response_json"]["oauth_token"] }),
    ))
    .unwrap();
    assert_eq!(url, s(tp, "authorize.url"));
    let at = &tp["access_token"];
    let signed = api::access_token_request(to_js(&serde_json::json!({
        "consumerKey": "TESTCONS", "signatureKey": key, "nonce": at["oauth_params"]["oauth_nonce"], "timestamp": 1_700_000_000,
        "requestToken": at["oauth_params"]["oauth_token"], "verifier": at["oauth_params"]["oauth_verifier"],
    })))
    .unwrap();
    assert_eq!(get(&signed, "authorization"), s(at, "authorization_header"));
    let header = api::authorization_header(to_js(&serde_json::json!({
        "realm": "test_realm", "params": at["oauth_params"], "signature": api::sign_rsa_sha256(key.into(), s(at, "base_string").into()).unwrap(),
    })))
    .unwrap();
    assert_eq!(header, s(at, "authorization_header"));
}

fn call(f: &str, args: &Array) -> Result<JsValue, JsValue> {
    let a = |i: u32| args.get(i);
    let r: Result<JsValue, api::JsError> = match f {
        "signRsaSha256" => api::sign_rsa_sha256(a(0), a(1)).map(Into::into),
        "decryptAccessTokenSecret" => api::decrypt_access_token_secret(a(0), a(1)),
        "parseDhParams" => api::parse_dh_params(a(0)),
        "dhChallenge" => api::dh_challenge(a(0)).map(Into::into),
        "liveSessionToken" => api::live_session_token(a(0)),
        "verifyLiveSessionToken" => api::verify_live_session_token(a(0)).map(Into::into),
        "baseString" => api::base_string(a(0)).map(Into::into),
        "signHmacSha256" => api::sign_hmac_sha256(a(0), a(1)).map(Into::into),
        "authorizationHeader" => api::authorization_header(a(0)).map(Into::into),
        "liveSessionTokenRequest" => api::live_session_token_request(a(0)),
        "requestTokenRequest" => api::request_token_request(a(0)),
        "accessTokenRequest" => api::access_token_request(a(0)),
        "authorizeUrl" => api::authorize_url(a(0)).map(Into::into),
        "signRequest" => api::sign_request(a(0)),
        "clientAssertion" => api::client_assertion(a(0)).map(Into::into),
        "ssoSessionJwt" => api::sso_session_jwt(a(0)).map(Into::into),
        other => panic!("unknown function {other}"),
    };
    r.map_err(JsValue::from)
}

#[wasm_bindgen_test]
fn every_bad_input_gets_its_code_in_wasm() {
    let table = common::Table::load();
    let mut ran = 0;
    for case in table.cases() {
        let name = case["name"].as_str().unwrap();
        let args = table.resolve(&case["args"]);
        let js_args = Array::from(&to_js(&args));
        let err = match call(case["fn"].as_str().unwrap(), &js_args) {
            Ok(_) => panic!("{name}: accepted, but should fail with {}", case["code"]),
            Err(e) => e,
        };
        assert!(
            err.is_instance_of::<js_sys::Error>(),
            "{name}: not an Error"
        );
        let code = get(&err, "code");
        let message = get(&err, "message");
        table.check(case, &args, &code, &message);
        ran += 1;
    }
    assert_eq!(ran, table.cases().len());
}
