//! Our base64 against the `base64` crate: the same text for any bytes (standard with padding,
//! base64url without), and the same bytes back from anything the lenient decoder accepts.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::engine::general_purpose::{
    GeneralPurpose, GeneralPurposeConfig, STANDARD, URL_SAFE_NO_PAD,
};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use ibkr_auth::encoding::{b64_decode_lenient, b64_encode, b64url_encode, B64Error};
use proptest::prelude::*;

/// What `b64_decode_lenient` promises after its own clean-up: padding optional, unused low bits
/// of the last symbol ignored.
const REFERENCE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn encodes_like_the_base64_crate(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        prop_assert_eq!(b64_encode(&bytes), STANDARD.encode(&bytes));
        prop_assert_eq!(b64url_encode(&bytes), URL_SAFE_NO_PAD.encode(&bytes));
    }

    #[test]
    fn decodes_what_it_encodes(bytes in prop::collection::vec(any::<u8>(), 1..200)) {
        prop_assert_eq!(b64_decode_lenient(&b64_encode(&bytes)).unwrap(), bytes.clone());
        prop_assert_eq!(b64_decode_lenient(&b64url_encode(&bytes)).unwrap(), bytes);
    }

    #[test]
    fn decodes_like_the_base64_crate(text in "[A-Za-z0-9+/]{1,80}={0,2}") {
        let unpadded = text.trim_end_matches('=');
        let ours = b64_decode_lenient(&text);
        match REFERENCE.decode(unpadded) {
            Ok(want) => prop_assert_eq!(ours.unwrap(), want),
            Err(_) => prop_assert_eq!(ours, Err(B64Error::BadLength)),
        }
    }
}

#[test]
fn rfc4648_vectors() {
    for (plain, enc) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(b64_encode(plain.as_bytes()), enc);
        if !plain.is_empty() {
            assert_eq!(b64_decode_lenient(enc).unwrap(), plain.as_bytes());
        }
    }
    assert_eq!(b64url_encode(&[0xfb, 0xff, 0xbf]), "-_-_");
    assert_eq!(b64_encode(&[0xfb, 0xff, 0xbf]), "+/+/");
}
