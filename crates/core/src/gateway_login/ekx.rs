//! `EKX`: the 40 ASCII characters of K's lowercase hex, encrypted with RSA PKCS#1 v1.5 (type 2,
//! random non-zero padding) under the gateway's `rsapub` (a modulus in hex; the exponent is 3),
//! sent as the ciphertext *integer* in lowercase hex of even length — leading zero bytes dropped,
//! not padded to the modulus length.
//!
//! All of it is the `rsa` crate's `Pkcs1v15Encrypt`. e = 3 needs nothing special: the crate's
//! smallest accepted public exponent is 2 (`PublicKey::MIN_PUB_EXPONENT`). Its default smallest
//! modulus is 1024 bits, which a gateway's login key need not meet, so the key is built with
//! `RsaPublicKey::new_with_size_limits(n, 3, 512..=8192)`: every other check of the crate still
//! applies (n odd, e odd, e < n), and 512 bits leave room for the 40-byte message and the 11
//! bytes of padding PKCS#1 v1.5 needs. Nothing is bypassed with `new_unchecked`, which would
//! also panic on an even modulus.

use rsa::{BoxedUint, Pkcs1v15Encrypt, PublicKey as RsaPublicKey};
use zeroize::Zeroizing;

use super::{quirk, unexpected};
use crate::encoding::{hex_encode, hex_number};
use crate::error::{Error, ErrorCode, Result};

/// The public exponent of the gateway's login key.
pub const EXPONENT: u32 = 3;
/// Modulus sizes accepted, in bits.
pub const MIN_BITS: usize = 512;
/// Largest modulus accepted, in bits.
pub const MAX_BITS: usize = 8192;

/// The gateway's RSA login key, from `rsapub` (hex modulus).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginKey(RsaPublicKey);

impl LoginKey {
    /// Reads and checks `rsapub`.
    pub fn from_hex(rsapub: &str) -> Result<Self> {
        let n = hex_number(rsapub).map_err(|e| {
            unexpected(format!(
                "The gateway's rsapub is not hex: {}.",
                e.describe()
            ))
        })?;
        let n = BoxedUint::from_be_slice_vartime(quirk::number(&n));
        let e = BoxedUint::from(EXPONENT);
        RsaPublicKey::new_with_size_limits(n, e, MIN_BITS..=MAX_BITS)
            .map(LoginKey)
            .map_err(|e| {
                unexpected(format!(
                    "The gateway's rsapub is not a usable RSA modulus with e = 3 ({e}); it must be \
                     odd and {MIN_BITS} to {MAX_BITS} bits."
                ))
            })
    }

    /// Encrypts `message` (K's 40 hex characters) with fresh random padding; the ciphertext as
    /// lowercase hex of even length, without leading zero bytes.
    pub fn encrypt_hex(&self, message: &[u8]) -> Result<String> {
        let c = self
            .0
            .encrypt(&mut getrandom::SysRng, Pkcs1v15Encrypt, message)
            .map_err(|e| match e {
                rsa::Error::Rng => Error::new(
                    ErrorCode::Internal,
                    "The platform's secure random source failed while padding EKX.",
                ),
                _ => unexpected(
                    "The gateway's rsapub is too small to encrypt the login's EKX (it needs 51 bytes).",
                ),
            })?;
        Ok(hex_encode(quirk::number(&c)))
    }
}

/// `EKX` for the key K (20 bytes): its 40 lowercase hex characters encrypted under `key`.
pub fn ekx(key: &LoginKey, k: &[u8]) -> Result<String> {
    let k_hex = Zeroizing::new(hex_encode(k));
    key.encrypt_hex(k_hex.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::traits::PublicKeyParts;

    /// A 1024-bit e = 3 key made by the `rsa` crate, its modulus as `rsapub` hex.
    fn e3_key() -> (rsa::PrivateKey, String) {
        let key =
            rsa::PrivateKey::new_with_exp(&mut getrandom::SysRng, 1024, BoxedUint::from(3u32))
                .unwrap();
        let n = hex_encode(quirk::number(&key.n().to_be_bytes()));
        (key, n)
    }

    #[test]
    fn ekx_decrypts_to_the_40_hex_characters_of_k() {
        let (private, rsapub) = e3_key();
        let login_key = LoginKey::from_hex(&rsapub).unwrap();
        let k: Vec<u8> = (0u8..20).map(|i| i.wrapping_mul(37)).collect();
        for _ in 0..4 {
            let c_hex = ekx(&login_key, &k).unwrap();
            assert!(c_hex.len().is_multiple_of(2));
            assert!(!c_hex.starts_with("00"));
            assert!(c_hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
            let c = hex::decode(&c_hex).unwrap();
            // Left-pad to the modulus length for the decryption.
            let mut padded = vec![0u8; 128 - c.len()];
            padded.extend_from_slice(&c);
            let m = private.decrypt(Pkcs1v15Encrypt, &padded).unwrap();
            assert_eq!(m, hex_encode(&k).into_bytes());
        }
    }

    #[test]
    fn bad_rsapub_is_refused() {
        assert_eq!(
            LoginKey::from_hex("zz").unwrap_err().code(),
            ErrorCode::UnexpectedResponse
        );
        // Even modulus.
        assert!(LoginKey::from_hex(&format!("{}e", "f".repeat(127))).is_err());
        // Too small (256 bits).
        assert!(LoginKey::from_hex(&"f".repeat(64)).is_err());
        // 512 bits, odd: accepted.
        assert!(LoginKey::from_hex(&"f".repeat(128)).is_ok());
    }
}
