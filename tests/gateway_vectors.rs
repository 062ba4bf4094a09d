//! The gateway login's published and independent vectors: every row of RFC 6238 Appendix B
//! (TOTP), every row of RFC 6287 Appendix C (OCRA: one-way, mutual server and client, plain
//! signature), and the SRP-6 vectors of `tests/vectors/gateway/srp.json`, which are computed
//! independently of this crate (plain JavaScript BigInt and node:crypto, both sides of SRP).
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ibkr_auth::gateway_login::srp::{self, Group, ServerValues};
use ibkr_auth::gateway_login::{
    decode_base32_secret, ocra, totp, GatewayLogin, OcraInput, OcraPin, OtpHash,
};
use serde_json::Value;

fn load(name: &str) -> Option<Value> {
    let path = format!(
        "{}/tests/vectors/gateway/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).ok()?;
    Some(serde_json::from_str(&text).unwrap())
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key} in {v}"))
}

#[test]
fn rfc6238_appendix_b() {
    let file = load("rfc6238.json").expect("tests/vectors/gateway/rfc6238.json");
    let vectors = file["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 18, "6 times × 3 hashes");
    for v in vectors {
        let secret = decode_base32_secret(s(v, "secretBase32")).unwrap();
        assert_eq!(hex::encode(secret.expose()), s(v, "secretHex"));
        let hash = OtpHash::parse(s(v, "algorithm")).unwrap();
        let code = totp(
            secret.expose(),
            v["time"].as_u64().unwrap(),
            v["period"].as_u64().unwrap(),
            v["digits"].as_u64().unwrap() as u32,
            hash,
        )
        .unwrap();
        assert_eq!(code, s(v, "totp"), "{v}");
    }
}

#[test]
fn rfc6287_appendix_c() {
    let file = load("rfc6287.json").expect("tests/vectors/gateway/rfc6287.json");
    let vectors = file["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 70);
    let pin_hash = hex::decode(s(&file, "pinSha1")).unwrap();
    for v in vectors {
        let key = hex::decode(s(v, "keyHex")).unwrap();
        let time = v["time"].as_u64();
        if let Some(t) = time {
            // The RFC's T (minutes, hex) is the time in 1-minute steps.
            assert_eq!(format!("{:x}", t / 60), s(v, "T"));
        }
        let mut input = OcraInput {
            counter: v["counter"].as_u64(),
            question: s(v, "question"),
            pin: v["pin"].as_str().map(OcraPin::Text),
            session_hex: None,
            unix_seconds: time,
        };
        assert_eq!(
            ocra(s(v, "suite"), &key, &input).unwrap(),
            s(v, "ocra"),
            "{v}"
        );
        // The same with the PIN's hash given instead of the PIN.
        if input.pin.is_some() {
            input.pin = Some(OcraPin::Hash(&pin_hash));
            assert_eq!(
                ocra(s(v, "suite"), &key, &input).unwrap(),
                s(v, "ocra"),
                "{v}"
            );
        }
    }
}

/// Hex numbers compared as numbers (the vectors' digests keep their leading zeros).
fn same_number(a: &str, b: &str) -> bool {
    a.trim_start_matches('0') == b.trim_start_matches('0')
}

/// The INIT reply a gateway sends for a vector (`rsapub`: any odd modulus of 512+ bits does
/// for the login's side of EKX; the vector's N is one).
fn init_xml(v: &Value) -> String {
    format!(
        "<?xml version=\"1.0\"?><ib_auth_res><ini_params><g>{}</g><N>{}</N><proto>6</proto>\
         <hash>SHA1</hash><s>{}</s><B>{}</B><lp>{}</lp><rsapub>{}</rsapub><paper>false</paper>\
         </ini_params></ib_auth_res>",
        s(v, "g"),
        s(v, "N"),
        s(v, "salt"),
        s(v, "B"),
        v["lp"].as_bool().unwrap(),
        s(v, "N"),
    )
}

#[test]
fn srp_vectors_computed_independently() {
    let Some(file) = load("srp.json") else {
        eprintln!(
            "SKIPPED: tests/vectors/gateway/srp.json is absent (it comes from the independent \
             simulator's branch); the SRP vectors were not checked."
        );
        return;
    };
    let vectors = file["vectors"].as_array().unwrap();
    assert!(!vectors.is_empty());
    for v in vectors {
        let name = s(v, "name");
        let n = hex::decode(format!(
            "{:0>width$}",
            s(v, "N"),
            width = s(v, "N").len().div_ceil(2) * 2
        ))
        .unwrap();
        let g: u64 = s(v, "g").parse().unwrap();
        let group = Group::new(&n, g).unwrap();
        let num = |key: &str| ibkr_auth::encoding::hex_number(s(v, key)).unwrap();
        let a = num("a");
        let a = group.clamp_secret(&a);
        let proof = srp::prove(
            &group,
            s(v, "username"),
            s(v, "password"),
            &a,
            &ServerValues {
                salt: &num("salt"),
                b: &num("B"),
                long_passwords: v["lp"].as_bool().unwrap(),
            },
        );
        assert_eq!(proof.a_pub_hex(), s(v, "A"), "{name}: A");
        assert!(same_number(&proof.x_hex(), s(v, "x")), "{name}: x");
        assert!(same_number(&proof.u_hex(), s(v, "u")), "{name}: u");
        assert_eq!(proof.s_hex().as_str(), s(v, "S"), "{name}: S");
        assert_eq!(proof.k_hex().as_str(), s(v, "K"), "{name}: K");
        assert_eq!(proof.m1_hex().as_str(), s(v, "M1"), "{name}: M1");
        assert_eq!(proof.m2_hex().as_str(), s(v, "M2"), "{name}: M2");
        assert_eq!(
            proof.cookie_hex().as_str(),
            s(v, "loginCookie"),
            "{name}: cookie"
        );

        // The whole state machine over the same values.
        let mut login =
            GatewayLogin::with_secret(s(v, "username"), s(v, "password"), &num("a")).unwrap();
        let init = login.init_form();
        assert_eq!(init.get("A"), Some(s(v, "A")), "{name}");
        assert_eq!(init.get("USER"), Some(s(v, "username")));
        let outcome = login.init_reply(&init_xml(v)).unwrap();
        assert!(
            !outcome.again,
            "{name}: the vector's group is the default one"
        );
        assert_eq!(outcome.paper, Some(false));
        let form = login.complete_auth_form().unwrap();
        assert_eq!(form.get("M1"), Some(s(v, "M1")), "{name}");
        assert_eq!(
            form.get("USER"),
            Some(s(v, "username").to_lowercase().as_str())
        );
        assert_eq!(login.login_cookie().unwrap().as_str(), s(v, "loginCookie"));
        let reply = format!(
            "<ib_auth_res><ini_params><M2>{}</M2></ini_params><auth_info>\
             <reached_max_login>false</reached_max_login></auth_info></ib_auth_res>",
            s(v, "M2").to_uppercase()
        );
        assert_eq!(
            login.complete_auth_reply(&reply).unwrap(),
            Vec::<String>::new()
        );
        let finish = login.dispatcher_form("").unwrap();
        assert_eq!(finish.get("M1"), Some(s(v, "M1")));
        assert_eq!(finish.get("M2"), Some(s(v, "M2")));
    }
}
