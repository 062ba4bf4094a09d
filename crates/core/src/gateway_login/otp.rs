//! What TOTP (RFC 6238) and OCRA (RFC 6287) share: HMAC over SHA-1/256/512 (the `hmac`, `sha1`
//! and `sha2` crates) and HOTP's dynamic truncation to decimal digits (RFC 4226 §5.3).

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};
use zeroize::Zeroizing;

use crate::error::{Error, ErrorCode, Result};

/// The hash under an OTP's HMAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtpHash {
    /// SHA-1 (the default of TOTP apps and of IB Key).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-512.
    Sha512,
}

impl OtpHash {
    /// Reads `SHA1`, `SHA256`, `SHA512` (any case, `-` allowed: `sha-256`).
    pub fn parse(name: &str) -> Option<Self> {
        let n: String = name
            .chars()
            .filter(|&c| c != '-')
            .collect::<String>()
            .to_ascii_uppercase();
        match n.as_str() {
            "SHA1" => Some(OtpHash::Sha1),
            "SHA256" => Some(OtpHash::Sha256),
            "SHA512" => Some(OtpHash::Sha512),
            _ => None,
        }
    }

    /// The digest's length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            OtpHash::Sha1 => 20,
            OtpHash::Sha256 => 32,
            OtpHash::Sha512 => 64,
        }
    }

    /// The plain hash of `data` (OCRA's PIN hash).
    pub fn digest(self, data: &[u8]) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(match self {
            OtpHash::Sha1 => Sha1::digest(data).to_vec(),
            OtpHash::Sha256 => Sha256::digest(data).to_vec(),
            OtpHash::Sha512 => Sha512::digest(data).to_vec(),
        })
    }

    /// HMAC of `message` under `key`.
    pub fn hmac(self, key: &[u8], message: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        fn run<M: Mac + KeyInit>(key: &[u8], message: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
            let mut mac = <M as KeyInit>::new_from_slice(key)
                .map_err(|_| Error::new(ErrorCode::Internal, "HMAC refused the key length."))?;
            mac.update(message);
            Ok(Zeroizing::new(mac.finalize().into_bytes().to_vec()))
        }
        match self {
            OtpHash::Sha1 => run::<Hmac<Sha1>>(key, message),
            OtpHash::Sha256 => run::<Hmac<Sha256>>(key, message),
            OtpHash::Sha512 => run::<Hmac<Sha512>>(key, message),
        }
    }
}

/// Dynamic truncation (RFC 4226 §5.3) to `digits` decimal digits (1 to 10), zero-padded.
pub fn truncate(mac: &[u8], digits: u32) -> String {
    let offset = usize::from(mac.last().copied().unwrap_or(0) & 0x0f);
    let mut word = [0u8; 4];
    if let Some(bytes) = mac.get(offset..offset + 4) {
        word.copy_from_slice(bytes);
    }
    let binary = u64::from(u32::from_be_bytes(word) & 0x7fff_ffff);
    let code = binary % 10u64.pow(digits.min(10));
    format!("{code:0width$}", width = digits as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4226_truncation_example() {
        // RFC 4226 §5.4: the HMAC-SHA-1 value and its 6-digit result.
        let mac = hex::decode("1f8698690e02ca16618550ef7f19da8e945b555a").unwrap();
        assert_eq!(truncate(&mac, 6), "872921");
        assert_eq!(truncate(&mac, 10), "1357872921");
    }

    #[test]
    fn hash_names() {
        assert_eq!(OtpHash::parse("sha-256"), Some(OtpHash::Sha256));
        assert_eq!(OtpHash::parse("SHA1"), Some(OtpHash::Sha1));
        assert_eq!(OtpHash::parse("md5"), None);
    }
}
