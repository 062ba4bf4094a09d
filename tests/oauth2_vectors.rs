//! Byte-exact agreement with every OAuth 2.0 JWT in `tests/vectors/oauth2` (made by running
//! ibauth 0.1.6, checked with PyJWT and OpenSSL), and the token request's form body.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ibkr_auth::keys::PrivateKey;
use ibkr_auth::oauth2;
use serde_json::Value;

const VECTORS: &str = include_str!("vectors/oauth2/vectors.json");
const KEY_PKCS8: &str = include_str!("vectors/oauth2/private_key.pem");
const KEY_PKCS1: &str = include_str!("vectors/oauth2/private_key_pkcs1.pem");

fn jwt_file(name: &str) -> Value {
    let text = match name {
        "jwt_connect_tickle_status_logout_client_assertion_req0.json" => include_str!("vectors/oauth2/jwt_connect_tickle_status_logout_client_assertion_req0.json"),
        "jwt_connect_tickle_status_logout_sso_session_request_req2.json" => include_str!("vectors/oauth2/jwt_connect_tickle_status_logout_sso_session_request_req2.json"),
        "jwt_tickle_sees_unauthenticated_and_reconnects_client_assertion_req0.json" => include_str!("vectors/oauth2/jwt_tickle_sees_unauthenticated_and_reconnects_client_assertion_req0.json"),
        "jwt_tickle_sees_unauthenticated_and_reconnects_client_assertion_req6.json" => include_str!("vectors/oauth2/jwt_tickle_sees_unauthenticated_and_reconnects_client_assertion_req6.json"),
        "jwt_tickle_sees_unauthenticated_and_reconnects_sso_session_request_req2.json" => include_str!("vectors/oauth2/jwt_tickle_sees_unauthenticated_and_reconnects_sso_session_request_req2.json"),
        "jwt_tickle_sees_unauthenticated_and_reconnects_sso_session_request_req8.json" => include_str!("vectors/oauth2/jwt_tickle_sees_unauthenticated_and_reconnects_sso_session_request_req8.json"),
        other => panic!("unknown JWT file {other}"),
    };
    serde_json::from_str(text).unwrap()
}

#[test]
fn every_jwt_in_every_scenario_is_byte_identical() {
    let v: Value = serde_json::from_str(VECTORS).unwrap();
    let mut checked = 0;
    for key_pem in [KEY_PKCS8, KEY_PKCS1] {
        let key = PrivateKey::from_pem(key_pem, "privateKey").unwrap();
        assert_eq!(key.bits(), 3072);
        for sc in v["scenarios"].as_array().unwrap() {
            let i = &sc["inputs"];
            let (cid, kid, cred, ip) = (
                i["client_id"].as_str().unwrap(),
                i["client_key_id"].as_str().unwrap(),
                i["credential"].as_str().unwrap(),
                i["public_ip"].as_str().unwrap(),
            );
            let now = i["now_unix"].as_i64().unwrap();
            for req in sc["requests"].as_array().unwrap() {
                let Some(file) = req["jwt_file"].as_str() else {
                    continue;
                };
                let expected = jwt_file(file);
                let ours = if file.contains("client_assertion") {
                    let jwt = oauth2::client_assertion(cid, kid, &key, now).unwrap();
                    assert_eq!(
                        req["body"].as_str().unwrap(),
                        oauth2::token_form(&jwt),
                        "{file}: form body"
                    );
                    jwt
                } else {
                    let jwt = oauth2::sso_session_jwt(cid, kid, cred, ip, &key, now, &[]).unwrap();
                    assert_eq!(req["body"].as_str().unwrap(), jwt, "{file}: body");
                    jwt
                };
                assert_eq!(ours, expected["compact"].as_str().unwrap(), "{file}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 12);
}

#[test]
fn bad_inputs_are_typed() {
    let key = PrivateKey::from_pem(KEY_PKCS8, "privateKey").unwrap();
    for (r, what) in [
        (oauth2::client_assertion("", "kid", &key, 1), "clientId"),
        (oauth2::client_assertion("id", " ", &key, 1), "clientKeyId"),
        (
            oauth2::sso_session_jwt("id", "kid", "", "1.2.3.4", &key, 1, &[]),
            "credential",
        ),
        (
            oauth2::sso_session_jwt("id", "kid", "u", "not-an-ip", &key, 1, &[]),
            "ip",
        ),
        (
            oauth2::sso_session_jwt("id", "kid", "u", "1.2.3.4", &key, 1, &["x".into()]),
            "alternativeIps",
        ),
    ] {
        let e = r.unwrap_err();
        assert_eq!(e.code().as_str(), "INVALID_ARGUMENT");
        assert!(e.message().contains(what), "{}", e.message());
    }
    let with_alt =
        oauth2::sso_session_jwt("id", "kid", "u", "1.2.3.4", &key, 100, &["::1".into()]).unwrap();
    let payload = with_alt.split('.').nth(1).unwrap();
    let decoded = ibkr_auth::encoding::b64_decode_lenient(payload).unwrap();
    assert_eq!(
        String::from_utf8(decoded).unwrap(),
        r#"{"ip":"1.2.3.4","credential":"u","iss":"id","exp":86500,"iat":100,"alternativeIps":["::1"]}"#
    );
}
