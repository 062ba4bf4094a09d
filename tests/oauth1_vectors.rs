//! Byte-exact agreement with every OAuth 1.0a vector in `tests/vectors/oauth1a` (made by running
//! ibind 0.2.2 and cross-checked with OpenSSL).
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ibkr_auth::encoding::{b64_encode, hex_encode, pct_encode};
use ibkr_auth::keys::{DhParams, PrivateKey};
use ibkr_auth::oauth1::{self, lst, request, Context, DhSecret};
use serde_json::Value;

const VECTORS: &str = include_str!("vectors/oauth1a/vectors.json");
const SIG_PKCS1: &str = include_str!("vectors/oauth1a/private_signature.pem");
const SIG_PKCS8: &str = include_str!("vectors/oauth1a/private_signature.pk8.pem");
const ENC_PKCS1: &str = include_str!("vectors/oauth1a/private_encryption.pem");
const ENC_PKCS8: &str = include_str!("vectors/oauth1a/private_encryption.pk8.pem");
const DHPARAM: &str = include_str!("vectors/oauth1a/dhparam.pem");

fn v() -> Value {
    serde_json::from_str(VECTORS).unwrap()
}

fn s<'a>(v: &'a Value, path: &str) -> &'a str {
    let mut cur = v;
    for part in path.split('.') {
        cur = &cur[part];
    }
    cur.as_str()
        .unwrap_or_else(|| panic!("no string at {path}"))
}

fn prepend_hex(v: &Value) -> &str {
    v["derived"]["decrypted_access_token_secret_hex (= prepend)"]
        .as_str()
        .unwrap()
}

#[test]
fn decrypts_access_token_secret_with_pkcs1_and_pkcs8_keys() {
    let v = v();
    for pem in [ENC_PKCS1, ENC_PKCS8, &ENC_PKCS1.replace('\n', "\r\n")] {
        let key = PrivateKey::from_pem(pem, "encryptionKey").unwrap();
        let prepend =
            lst::decrypt_access_token_secret(&key, s(&v, "inputs.access_token_secret")).unwrap();
        assert_eq!(prepend.expose_hex().as_str(), prepend_hex(&v));
    }
}

#[test]
fn reads_dh_params_from_pem() {
    let v = v();
    let dh = DhParams::from_pem(DHPARAM).unwrap();
    assert_eq!(dh.prime_hex(), s(&v, "inputs.dh_prime_hex"));
    assert_eq!(
        u64::from(dh.generator()),
        v["inputs"]["dh_generator"].as_u64().unwrap()
    );
    let crlf = DhParams::from_pem(&DHPARAM.replace('\n', "\r\n")).unwrap();
    assert_eq!(crlf, dh);
}

#[test]
fn dh_challenge_matches() {
    let v = v();
    let dh = DhParams::from_pem(DHPARAM).unwrap();
    let a = DhSecret::from_hex(s(&v, "inputs.dh_random_hex"), &dh).unwrap();
    assert_eq!(
        oauth1::dh_challenge(&dh, &a),
        s(&v, "derived.diffie_hellman_challenge_hex")
    );
}

#[test]
fn live_session_token_cases_match() {
    let v = v();
    let dh = DhParams::from_pem(DHPARAM).unwrap();
    let a = DhSecret::from_hex(s(&v, "inputs.dh_random_hex"), &dh).unwrap();
    let prepend = lst::prepend_from_hex(prepend_hex(&v)).unwrap();
    let cases = v["live_session_token"].as_object().unwrap();
    assert_eq!(cases.len(), 3);
    for (name, case) in cases {
        let comp = &case["computation"];
        let resp = &case["simulated_server"]["response_json"];
        let k =
            lst::shared_secret(&dh, resp["diffie_hellman_response"].as_str().unwrap(), &a).unwrap();
        assert_eq!(
            k.expose_hex().as_str(),
            comp["K_bytes_hex (HMAC key)"].as_str().unwrap(),
            "{name}: K bytes"
        );
        assert_eq!(
            k.len() as u64,
            comp["K_bytes_len"].as_u64().unwrap(),
            "{name}"
        );
        let token = lst::live_session_token(&k, &prepend).unwrap();
        let token_b64 = lst::lst_base64(&token).to_string();
        assert_eq!(token_b64, s(comp, "live_session_token"), "{name}: LST");
        let sig = resp["live_session_token_signature"].as_str().unwrap();
        assert_eq!(sig, s(comp, "live_session_token_signature_check"));
        assert!(
            lst::verify_lst(&token, s(&v, "inputs.consumer_key"), sig).unwrap(),
            "{name}"
        );
        lst::check_lst(&token, s(&v, "inputs.consumer_key"), sig).unwrap();
        // The classic encodings' tokens must not validate when they differ from ours.
        for bad in [
            "negative_lst_if_K_unsigned_minimal",
            "negative_lst_if_K_left_padded_to_256_bytes",
        ] {
            let bad_token = lst::lst_from_base64(s(comp, bad)).unwrap();
            if s(comp, bad) != token_b64 {
                assert!(
                    !lst::verify_lst(&bad_token, s(&v, "inputs.consumer_key"), sig).unwrap(),
                    "{name} {bad}"
                );
                let e = lst::check_lst(&bad_token, s(&v, "inputs.consumer_key"), sig).unwrap_err();
                assert_eq!(e.code().as_str(), "LST_SIGNATURE_MISMATCH");
            }
        }
    }
}

#[test]
fn live_session_token_request_matches_byte_for_byte() {
    let v = v();
    let prepend = lst::prepend_from_hex(prepend_hex(&v)).unwrap();
    for sig_pem in [SIG_PKCS1, SIG_PKCS8] {
        let key = PrivateKey::from_pem(sig_pem, "signatureKey").unwrap();
        for (name, case) in v["live_session_token"].as_object().unwrap() {
            let req = &case["request"];
            let ctx = Context {
                consumer_key: s(&v, "inputs.consumer_key"),
                realm: s(&v, "inputs.realm"),
                nonce: s(req, "oauth_nonce"),
                timestamp: s(req, "oauth_timestamp").parse().unwrap(),
            };
            let signed = request::live_session_token_request(
                s(&v, "inputs.base_url"),
                &ctx,
                s(&v, "inputs.access_token"),
                s(&v, "derived.diffie_hellman_challenge_hex"),
                &prepend,
                &key,
            )
            .unwrap();
            assert_eq!(signed.url, s(req, "url"), "{name}");
            assert_eq!(signed.method, "POST");
            assert_eq!(signed.base_string.as_str(), s(req, "base_string"), "{name}");
            assert_eq!(signed.signature, s(req, "oauth_signature_base64"), "{name}");
            assert_eq!(
                pct_encode(&signed.signature),
                s(req, "oauth_signature_header_value")
            );
            assert_eq!(
                signed.authorization,
                s(req, "authorization_header"),
                "{name}"
            );
            assert_eq!(signed.authorization, s(req, "ibind_headers.Authorization"));

            // Signed outside the core (a session's host signs with WebCrypto): the base string
            // handed out is the one signed, and the request built from its signature is the
            // same request, byte for byte.
            let text = request::live_session_token_base_string(
                s(&v, "inputs.base_url"),
                &ctx,
                s(&v, "inputs.access_token"),
                s(&v, "derived.diffie_hellman_challenge_hex"),
                &prepend,
            )
            .unwrap();
            assert_eq!(text.as_str(), s(req, "base_string"), "{name}");
            let outside =
                ibkr_auth::encoding::b64_encode(&key.sign_sha256(text.as_bytes()).unwrap());
            let again = request::live_session_token_request_with(
                s(&v, "inputs.base_url"),
                &ctx,
                s(&v, "inputs.access_token"),
                s(&v, "derived.diffie_hellman_challenge_hex"),
                &prepend,
                request::Signer::RsaSha256Signed(&outside),
            )
            .unwrap();
            assert_eq!(again.authorization, signed.authorization, "{name}");
            assert!(key.verify_sha256(
                text.as_bytes(),
                &ibkr_auth::encoding::b64_decode_lenient(&outside).unwrap()
            ));
        }
    }
}

#[test]
fn api_requests_match_in_both_query_styles() {
    let v = v();
    let api = &v["api_requests"];
    let token = lst::lst_from_base64(s(api, "live_session_token_used")).unwrap();
    let mut checked = 0;
    for (name, case) in api.as_object().unwrap() {
        if !case.is_object() {
            continue;
        }
        let ctx = Context {
            consumer_key: s(&v, "inputs.consumer_key"),
            realm: s(&v, "inputs.realm"),
            nonce: s(case, "oauth_nonce"),
            timestamp: s(case, "oauth_timestamp").parse().unwrap(),
        };
        let sign_query = case["query_params_in_base_string"].as_bool().unwrap();
        let signed = request::api_request(
            s(case, "method"),
            s(case, "url_sent"),
            &ctx,
            s(&v, "inputs.access_token"),
            &token,
            sign_query,
        )
        .unwrap();
        assert_eq!(
            signed.base_string.as_str(),
            s(case, "base_string"),
            "{name}"
        );
        assert_eq!(
            signed.signature,
            s(case, "oauth_signature_base64"),
            "{name}"
        );
        assert_eq!(
            signed.authorization,
            s(case, "authorization_header"),
            "{name}"
        );
        // The header-only path every API call of a session takes.
        let key = oauth1::HmacSha256Key::new(token.expose());
        let header = request::api_authorization_keyed(
            s(case, "method"),
            s(case, "url_sent"),
            &ctx,
            s(&v, "inputs.access_token"),
            &key,
            sign_query,
        )
        .unwrap();
        assert_eq!(header, s(case, "authorization_header"), "{name}");
        // The same through the raw primitives, with the query given as explicit params.
        let mut params: Vec<(String, String)> = vec![
            ("oauth_consumer_key".into(), ctx.consumer_key.into()),
            ("oauth_nonce".into(), ctx.nonce.into()),
            ("oauth_signature_method".into(), "HMAC-SHA256".into()),
            ("oauth_timestamp".into(), s(case, "oauth_timestamp").into()),
            ("oauth_token".into(), s(&v, "inputs.access_token").into()),
        ];
        if sign_query {
            if let Some(q) = case["query_params"].as_object() {
                params.extend(
                    q.iter()
                        .map(|(k, val)| (k.clone(), val.as_str().unwrap().to_owned())),
                );
            }
        }
        let base = oauth1::base_string(
            s(case, "method"),
            s(case, "url_signed"),
            &params,
            None,
            true,
        )
        .unwrap();
        assert_eq!(base, s(case, "base_string"), "{name} (primitives)");
        assert_eq!(
            request::hmac_sha256_base64(&token, &base).unwrap(),
            s(case, "oauth_signature_base64")
        );
        checked += 1;
    }
    assert_eq!(checked, 8);
}

#[test]
fn third_party_steps_match() {
    let v = v();
    let tp = &v["third_party"];
    let key = PrivateKey::from_pem(SIG_PKCS1, "signatureKey").unwrap();
    let base_url = s(&v, "inputs.base_url");

    let rt = &tp["request_token"];
    let p = &rt["oauth_params"];
    let ctx = Context {
        consumer_key: s(p, "oauth_consumer_key"),
        realm: request::default_realm(s(p, "oauth_consumer_key")),
        nonce: s(p, "oauth_nonce"),
        timestamp: s(p, "oauth_timestamp").parse().unwrap(),
    };
    assert_eq!(ctx.realm, "test_realm");
    let signed =
        request::request_token_request(base_url, &ctx, s(p, "oauth_callback"), &key).unwrap();
    assert_eq!(signed.url, s(rt, "url"));
    assert_eq!(signed.base_string.as_str(), s(rt, "base_string"));
    assert_eq!(
        pct_encode(&signed.signature),
        s(rt, "oauth_signature_header_value")
    );
    assert_eq!(signed.authorization, s(rt, "authorization_header"));

    let request_token = s(rt, "example_response_json.oauth_token");
    assert_eq!(
        request::authorize_url(request_token, None).unwrap(),
        s(tp, "authorize.url")
    );

    let at = &tp["access_token"];
    let p = &at["oauth_params"];
    let ctx = Context {
        nonce: s(p, "oauth_nonce"),
        ..ctx
    };
    let signed = request::access_token_request(
        base_url,
        &ctx,
        s(p, "oauth_token"),
        s(p, "oauth_verifier"),
        &key,
    )
    .unwrap();
    assert_eq!(signed.url, s(at, "url"));
    assert_eq!(signed.base_string.as_str(), s(at, "base_string"));
    assert_eq!(
        pct_encode(&signed.signature),
        s(at, "oauth_signature_header_value")
    );
    assert_eq!(signed.authorization, s(at, "authorization_header"));

    // The access token step's secret is the same kind as the portal's: it decrypts.
    let enc = PrivateKey::from_pem(ENC_PKCS1, "encryptionKey").unwrap();
    let secret = s(at, "example_response_json.oauth_token_secret");
    assert_eq!(
        lst::decrypt_access_token_secret(&enc, secret)
            .unwrap()
            .expose_hex()
            .as_str(),
        prepend_hex(&v)
    );
}

#[test]
fn encoding_examples_are_encoded_once() {
    let v = v();
    for (name, ex) in v["encoding_examples"]["examples"].as_object().unwrap() {
        assert_eq!(pct_encode(s(ex, "pair")), s(ex, "encoded_once"), "{name}");
    }
}

#[test]
fn rsa_signature_is_the_openssl_one() {
    // RSASSA-PKCS1-v1_5 is deterministic: blinding must not change the bytes.
    let v = v();
    let key = PrivateKey::from_pem(SIG_PKCS8, "signatureKey").unwrap();
    let case = &v["live_session_token"]["lst_k_short"]["request"];
    let sig = key.sign_sha256(s(case, "base_string").as_bytes()).unwrap();
    assert_eq!(b64_encode(&sig), s(case, "oauth_signature_base64"));
    assert_eq!(hex_encode(&sig).len(), 512);
}
