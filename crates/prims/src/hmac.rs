//! HMAC-SHA256 with the key's inner and outer pad states computed once (RFC 2104 §4): signing a
//! request then costs only the message's SHA-256 blocks plus one outer block, instead of two
//! more blocks to re-key every time. The pad states are as secret as the key: zeroized on drop,
//! redacted in `Debug`.

use crate::hash::{compress256, finish256, key_block, sha256, SHA256_IV};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// An HMAC-SHA256 key, ready to sign.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct HmacSha256Key {
    inner: [u32; 8],
    outer: [u32; 8],
}

impl std::fmt::Debug for HmacSha256Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacSha256Key([redacted])")
    }
}

impl HmacSha256Key {
    /// Prepares `key` (hashed first when longer than a block, as RFC 2104 says).
    pub fn new(key: &[u8]) -> Self {
        let mut k = key_block(key, sha256);
        let mut pad = [0u8; 64];
        let mut this = HmacSha256Key {
            inner: SHA256_IV,
            outer: SHA256_IV,
        };
        for (state, byte) in [(&mut this.inner, 0x36u8), (&mut this.outer, 0x5c)] {
            for (p, &b) in pad.iter_mut().zip(&k) {
                *p = b ^ byte;
            }
            compress256(state, &pad);
        }
        k.zeroize();
        pad.zeroize();
        this
    }

    /// HMAC-SHA256 of `message`.
    pub fn mac(&self, message: &[u8]) -> [u8; 32] {
        let mut state = self.inner;
        let mut inner_hash = finish256(&mut state, 64, message);
        state = self.outer;
        let out = finish256(&mut state, 64, &inner_hash);
        state.zeroize();
        inner_hash.zeroize();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    #[test]
    fn matches_the_hmac_crate_for_every_length() {
        for key_len in [0usize, 1, 20, 32, 63, 64, 65, 200] {
            let key: Vec<u8> = (0..key_len).map(|i| (i * 7 + 1) as u8).collect();
            let k = HmacSha256Key::new(&key);
            for msg_len in [0usize, 1, 54, 55, 56, 63, 64, 65, 119, 120, 128, 300, 1000] {
                let msg: Vec<u8> = (0..msg_len).map(|i| (i * 13 + 5) as u8).collect();
                let mut want = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
                want.update(&msg);
                assert_eq!(
                    k.mac(&msg)[..],
                    want.finalize().into_bytes()[..],
                    "key {key_len}, message {msg_len}"
                );
            }
        }
    }

    #[test]
    fn rfc_4231_case_2() {
        let k = HmacSha256Key::new(b"Jefe");
        assert_eq!(
            crate::encoding::hex_encode(&k.mac(b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(format!("{k:?}"), "HmacSha256Key([redacted])");
    }
}
