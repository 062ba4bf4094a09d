//! Our key reading and PKCS#1 v1.5 decryption (RustCrypto `rsa` 0.10 on `crypto-bigint`, with our
//! own padding check) against the previous major version of `rsa` (0.9, on `num-bigint-dig`),
//! as an independent key generator, encoder, signer and encryptor: signatures are deterministic,
//! so they must be byte-identical; ciphertexts it makes must decrypt; a key whose numbers were
//! tampered with must be refused when read.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine;
use ibkr_auth::{ErrorCode, PrivateKey};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rsa09::pkcs1::EncodeRsaPrivateKey;
use rsa09::pkcs8::EncodePrivateKey;
use rsa09::traits::{PrivateKeyParts, PublicKeyParts};
use rsa09::{Pkcs1v15Encrypt, Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn keys() -> Vec<RsaPrivateKey> {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2026);
    [2048, 2048, 2050, 3072]
        .iter()
        .map(|&bits| RsaPrivateKey::new(&mut rng, bits).unwrap())
        .collect()
}

#[test]
fn signatures_and_decryption_match_the_rsa_crate() {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    let all = keys();
    let mut refusals = 0;
    for (i, theirs) in all.iter().enumerate() {
        let pkcs1 = pem("RSA PRIVATE KEY", theirs.to_pkcs1_der().unwrap().as_bytes());
        let pkcs8 = pem("PRIVATE KEY", theirs.to_pkcs8_der().unwrap().as_bytes());
        for text in [pkcs1, pkcs8] {
            let ours = PrivateKey::from_pem(&text, "key").unwrap();
            assert_eq!(ours.bits(), theirs.n().bits());
            assert_eq!(ours.size(), theirs.size());
            for len in [0usize, 1, 63, 64, 65, 1000] {
                let mut msg = vec![0u8; len];
                rng.fill_bytes(&mut msg);
                let want = theirs
                    .sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(&msg))
                    .unwrap();
                // twice: the second signature uses the renewed blinding pair
                assert_eq!(
                    ours.sign_sha256(&msg).unwrap(),
                    want,
                    "key {i}, {len} bytes"
                );
                assert_eq!(
                    ours.sign_sha256(&msg).unwrap(),
                    want,
                    "key {i}, {len} bytes"
                );
            }
            let public = RsaPublicKey::from(theirs);
            for len in [1usize, 16, 32, ours.size() - 11] {
                let mut msg = vec![0u8; len];
                rng.fill_bytes(&mut msg);
                let c = public.encrypt(&mut rng, Pkcs1v15Encrypt, &msg).unwrap();
                assert_eq!(ours.decrypt_pkcs1v15(&c).unwrap().expose(), &msg[..]);
            }
            // a ciphertext for another key of the same size is refused, never garbage
            if let Some(other) = all
                .iter()
                .find(|k| k.size() == theirs.size() && k.n() != theirs.n())
            {
                let c = RsaPublicKey::from(other)
                    .encrypt(&mut rng, Pkcs1v15Encrypt, b"secret")
                    .unwrap();
                let err = ours.decrypt_pkcs1v15(&c).unwrap_err();
                assert_eq!(err.code(), ErrorCode::DecryptFailed, "{err:?}");
                refusals += 1;
            }
        }
    }
    // both 2048-bit keys, each as PKCS#1 and PKCS#8
    assert_eq!(refusals, 4);
}

#[test]
fn many_operations_renew_blinding_and_stay_correct() {
    let theirs = &keys()[0];
    let ours = PrivateKey::from_pem(
        &pem("RSA PRIVATE KEY", theirs.to_pkcs1_der().unwrap().as_bytes()),
        "key",
    )
    .unwrap();
    // > 32 uses: a fresh random blinding factor is drawn at least twice
    for i in 0..70u32 {
        let msg = i.to_be_bytes();
        let want = theirs
            .sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(msg))
            .unwrap();
        assert_eq!(ours.sign_sha256(&msg).unwrap(), want, "signature {i}");
    }
    // clones blind independently
    let copy = ours.clone();
    assert_eq!(
        copy.sign_sha256(b"x").unwrap(),
        ours.sign_sha256(b"x").unwrap()
    );
}

/// Finds `needle` (a DER INTEGER's value) in `der` and flips a bit in its last byte.
fn tamper(der: &[u8], needle: &[u8]) -> Vec<u8> {
    let at = der
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("field present");
    let mut out = der.to_vec();
    out[at + needle.len() - 1] ^= 0x02;
    out
}

#[test]
fn keys_with_tampered_numbers_are_refused() {
    let theirs = &keys()[0];
    let der = theirs.to_pkcs1_der().unwrap().as_bytes().to_vec();
    let primes = theirs.primes();
    let dp = theirs.dp().unwrap().to_bytes_be();
    let dq = theirs.dq().unwrap().to_bytes_be();
    let qinv = theirs.crt_coefficient().unwrap().to_bytes_be();
    for (name, field) in [
        ("p", primes[0].to_bytes_be()),
        ("q", primes[1].to_bytes_be()),
        ("n", theirs.n().to_bytes_be()),
        ("dp", dp),
        ("dq", dq),
        ("qinv", qinv),
    ] {
        let bad = tamper(&der, &field);
        let err = PrivateKey::from_pem(&pem("RSA PRIVATE KEY", &bad), "signatureKey").unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidKey, "{name}");
        assert!(
            err.message().contains("not a consistent RSA private key"),
            "{name}: {err}"
        );
    }
    // d is checked too: `rsa` refuses a private exponent that does not invert e.
    let d = theirs.d().to_bytes_be();
    let bad = tamper(&der, &d);
    let err = PrivateKey::from_pem(&pem("RSA PRIVATE KEY", &bad), "k").unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidKey, "d");
}
