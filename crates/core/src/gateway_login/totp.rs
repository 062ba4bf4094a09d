//! TOTP (RFC 6238) and the base32 secrets authenticator apps show.

use data_encoding::{Encoding, Specification};
use zeroize::Zeroizing;

use super::otp::{truncate, OtpHash};
use crate::error::{Error, Result};
use crate::keys::SecretBytes;

/// Digits a code may have.
pub const DIGITS: std::ops::RangeInclusive<u32> = 4..=10;

/// The TOTP code for `secret` at `unix_seconds`: HOTP over `floor(t / period)` (T0 = 0).
pub fn totp(
    secret: &[u8],
    unix_seconds: u64,
    period: u64,
    digits: u32,
    hash: OtpHash,
) -> Result<String> {
    if period == 0 {
        return Err(Error::invalid_argument(
            "totp: `period` must be at least 1 second (authenticator apps use 30).",
        ));
    }
    if !DIGITS.contains(&digits) {
        return Err(Error::invalid_argument(format!(
            "totp: `digits` must be from {} to {} (authenticator apps use 6).",
            DIGITS.start(),
            DIGITS.end()
        )));
    }
    if secret.is_empty() {
        return Err(Error::invalid_argument("totp: the secret is empty."));
    }
    let counter = (unix_seconds / period).to_be_bytes();
    let mac = hash.hmac(secret, &counter)?;
    Ok(truncate(&mac, digits))
}

/// RFC 4648 base32 without padding, unused trailing bits not checked.
fn base32() -> Option<Encoding> {
    let mut spec = Specification::new();
    spec.symbols.push_str("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
    spec.check_trailing_bits = false;
    spec.encoding().ok()
}

/// Decodes a TOTP secret as authenticator apps and QR-code pages show it: base32 in either case,
/// with spaces or dashes between groups, padding optional. The cleaned copy is wiped.
pub fn decode_base32_secret(text: &str) -> Result<SecretBytes> {
    let mut cleaned = Zeroizing::new(String::with_capacity(text.len()));
    for c in text.chars() {
        if c.is_whitespace() || c == '-' {
            continue;
        }
        cleaned.push(c.to_ascii_uppercase());
    }
    let body = cleaned.trim_end_matches('=');
    if body.is_empty() {
        return Err(Error::invalid_argument(
            "totp: the secret is empty; pass the base32 text your authenticator set-up shows.",
        ));
    }
    if let Some(pos) = body
        .bytes()
        .position(|b| !(b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)))
    {
        return Err(Error::invalid_argument(format!(
            "totp: the secret is not base32 (A–Z and 2–7): it has another character at position \
             {pos} (after removing spaces)."
        )));
    }
    let enc = base32().ok_or_else(|| Error::invalid_argument("totp: base32 is unavailable."))?;
    enc.decode(body.as_bytes())
        .map(SecretBytes::new)
        .map_err(|_| {
            Error::invalid_argument(
                "totp: the secret's length is not possible for base32, so characters were lost or \
                 added when it was copied.",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_as_apps_show_it() {
        let want = b"12345678901234567890".to_vec();
        for text in [
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
            "gezd gnbv gy3t qojq gezd gnbv gy3t qojq",
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ====",
        ] {
            assert_eq!(
                decode_base32_secret(text).unwrap().expose(),
                &want[..],
                "{text}"
            );
        }
        // 10 bytes → 16 characters; 1 byte → 2 characters, padding missing.
        assert_eq!(decode_base32_secret("ge").unwrap().expose(), b"1");
        assert_eq!(decode_base32_secret("ME").unwrap().expose(), b"a");
        assert!(decode_base32_secret("").is_err());
        assert!(decode_base32_secret("GEZ1").is_err());
        assert!(decode_base32_secret("GEZ").is_err()); // 3 characters cannot be base32
    }

    #[test]
    fn refuses_bad_parameters() {
        assert!(totp(b"k", 0, 0, 6, OtpHash::Sha1).is_err());
        assert!(totp(b"k", 0, 30, 3, OtpHash::Sha1).is_err());
        assert!(totp(b"k", 0, 30, 11, OtpHash::Sha1).is_err());
        assert!(totp(b"", 0, 30, 6, OtpHash::Sha1).is_err());
    }

    #[test]
    fn six_digits_are_the_last_six_of_eight() {
        let k = b"12345678901234567890";
        assert_eq!(totp(k, 59, 30, 8, OtpHash::Sha1).unwrap(), "94287082");
        assert_eq!(totp(k, 59, 30, 6, OtpHash::Sha1).unwrap(), "287082");
    }
}
