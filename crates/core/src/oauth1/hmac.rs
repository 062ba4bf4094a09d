//! HMAC-SHA256 with the key's inner and outer pad states computed once (RFC 2104 §4): signing a
//! request then costs only the message's SHA-256 blocks plus one outer block, instead of two
//! more blocks to re-key every time. The pad states are as secret as the key: zeroized on drop,
//! redacted in `Debug`.

use sha2::digest::generic_array::GenericArray;
use zeroize::{Zeroize, ZeroizeOnDrop};

const IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

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

fn compress(state: &mut [u32; 8], block: &[u8; 64]) {
    sha2::compress256(state, std::slice::from_ref(GenericArray::from_slice(block)));
}

/// Finishes a SHA-256 over `prefix_len` bytes already compressed into `state` plus `tail`.
fn finish(state: &mut [u32; 8], prefix_len: usize, tail: &[u8]) -> [u8; 32] {
    let mut chunks = tail.chunks_exact(64);
    let mut block = [0u8; 64];
    for c in &mut chunks {
        block.copy_from_slice(c);
        compress(state, &block);
    }
    let rest = chunks.remainder();
    block = [0u8; 64];
    block[..rest.len()].copy_from_slice(rest);
    block[rest.len()] = 0x80;
    let bits = ((prefix_len + tail.len()) as u64) * 8;
    if rest.len() + 9 > 64 {
        compress(state, &block);
        block = [0u8; 64];
    }
    block[56..].copy_from_slice(&bits.to_be_bytes());
    compress(state, &block);
    block.zeroize();
    let mut out = [0u8; 32];
    for (o, w) in out.chunks_exact_mut(4).zip(state.iter()) {
        o.copy_from_slice(&w.to_be_bytes());
    }
    out
}

/// SHA-256 of `message`: the compression function is the `sha2` crate's, the padding ours
/// (its hashing front end is not linked in).
pub(crate) fn sha256(message: &[u8]) -> [u8; 32] {
    finish(&mut IV.clone(), 0, message)
}

impl HmacSha256Key {
    /// Prepares `key` (hashed first when longer than a block, as RFC 2104 says).
    pub fn new(key: &[u8]) -> Self {
        let mut k = [0u8; 64];
        if key.len() > 64 {
            k[..32].copy_from_slice(&sha256(key));
        } else {
            k[..key.len()].copy_from_slice(key);
        }
        let mut pad = [0u8; 64];
        let mut this = HmacSha256Key {
            inner: IV,
            outer: IV,
        };
        for (state, byte) in [(&mut this.inner, 0x36u8), (&mut this.outer, 0x5c)] {
            for (p, &b) in pad.iter_mut().zip(&k) {
                *p = b ^ byte;
            }
            compress(state, &pad);
        }
        k.zeroize();
        pad.zeroize();
        this
    }

    /// HMAC-SHA256 of `message`.
    pub fn mac(&self, message: &[u8]) -> [u8; 32] {
        let mut state = self.inner;
        let mut inner_hash = finish(&mut state, 64, message);
        state = self.outer;
        let out = finish(&mut state, 64, &inner_hash);
        state.zeroize();
        inner_hash.zeroize();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};

    #[test]
    fn sha256_matches_the_sha2_crate() {
        for len in [0usize, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 129, 1000] {
            let msg: Vec<u8> = (0..len).map(|i| (i * 31 + 3) as u8).collect();
            assert_eq!(sha256(&msg)[..], Sha256::digest(&msg)[..], "{len}");
        }
        assert_eq!(
            crate::encoding::hex_encode(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

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
