//! The hashes under the signatures: SHA-256 (the `sha2` crate's compression function with our
//! padding, so its generic hashing front end is not linked in) and SHA-1 (a plain rolled loop:
//! it only makes and checks the live session token, once per handshake), and HMAC-SHA1. Every
//! buffer that held key material is wiped.

use sha2::digest::generic_array::GenericArray;
use zeroize::Zeroize;

const BLOCK: usize = 64;

/// SHA-256's initial state.
pub(crate) const SHA256_IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// One SHA-256 block into `state`.
pub(crate) fn compress256(state: &mut [u32; 8], block: &[u8; BLOCK]) {
    sha2::compress256(state, std::slice::from_ref(GenericArray::from_slice(block)));
}

/// Finishes a SHA-256 over `prefix_len` bytes already compressed into `state` plus `tail`.
pub(crate) fn finish256(state: &mut [u32; 8], prefix_len: usize, tail: &[u8]) -> [u8; 32] {
    let mut chunks = tail.chunks_exact(BLOCK);
    let mut block = [0u8; 64];
    for c in &mut chunks {
        block.copy_from_slice(c);
        compress256(state, &block);
    }
    let rest = chunks.remainder();
    block = [0u8; 64];
    block[..rest.len()].copy_from_slice(rest);
    block[rest.len()] = 0x80;
    let bits = ((prefix_len + tail.len()) as u64) * 8;
    if rest.len() + 9 > 64 {
        compress256(state, &block);
        block = [0u8; 64];
    }
    block[56..].copy_from_slice(&bits.to_be_bytes());
    compress256(state, &block);
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
    finish256(&mut SHA256_IV.clone(), 0, message)
}

/// An HMAC key as one block: the key, or its `hash` when longer than a block (RFC 2104),
/// zero-padded. Wipe it after use.
pub(crate) fn key_block<const N: usize>(key: &[u8], hash: fn(&[u8]) -> [u8; N]) -> [u8; BLOCK] {
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        let mut hashed = hash(key);
        k[..N].copy_from_slice(&hashed);
        hashed.zeroize();
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    k
}

/// A running SHA-1. Zeroized on drop (with an HMAC key in it, its state is secret).
struct Sha1 {
    h: [u32; 5],
    buf: [u8; BLOCK],
    filled: usize,
    total: u64,
}

impl Drop for Sha1 {
    fn drop(&mut self) {
        self.h.zeroize();
        self.buf.zeroize();
    }
}

fn compress_sha1(h: &mut [u32; 5], block: &[u8; BLOCK]) {
    let mut w = [0u32; 80];
    for (wi, b) in w.iter_mut().zip(block.chunks_exact(4)) {
        *wi = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    }
    for i in 16..80 {
        w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
    }
    let [mut a, mut b, mut c, mut d, mut e] = *h;
    for (i, &wi) in w.iter().enumerate() {
        let (f, k) = match i / 20 {
            0 => ((b & c) | (!b & d), 0x5a82_7999),
            1 => (b ^ c ^ d, 0x6ed9_eba1),
            2 => ((b & c) | (b & d) | (c & d), 0x8f1b_bcdc),
            _ => (b ^ c ^ d, 0xca62_c1d6),
        };
        let t = a
            .rotate_left(5)
            .wrapping_add(f)
            .wrapping_add(e)
            .wrapping_add(k)
            .wrapping_add(wi);
        e = d;
        d = c;
        c = b.rotate_left(30);
        b = a;
        a = t;
    }
    for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
        *x = x.wrapping_add(y);
    }
    w.zeroize();
}

impl Sha1 {
    fn new() -> Self {
        Sha1 {
            h: [
                0x6745_2301,
                0xefcd_ab89,
                0x98ba_dcfe,
                0x1032_5476,
                0xc3d2_e1f0,
            ],
            buf: [0; BLOCK],
            filled: 0,
            total: 0,
        }
    }

    fn update(&mut self, mut data: &[u8]) {
        self.total = self.total.wrapping_add(data.len() as u64);
        while !data.is_empty() {
            let take = (BLOCK - self.filled).min(data.len());
            let (now, rest) = data.split_at(take);
            self.buf[self.filled..self.filled + take].copy_from_slice(now);
            self.filled += take;
            data = rest;
            if self.filled == BLOCK {
                compress_sha1(&mut self.h, &self.buf);
                self.filled = 0;
            }
        }
    }

    fn finish(mut self) -> [u8; 20] {
        let bits = self.total.wrapping_mul(8);
        self.update(&[0x80]);
        while self.filled != BLOCK - 8 {
            self.update(&[0]);
        }
        self.update(&bits.to_be_bytes());
        let mut out = [0u8; 20];
        for (o, w) in out.chunks_exact_mut(4).zip(self.h) {
            o.copy_from_slice(&w.to_be_bytes());
        }
        out
    }
}

/// SHA-1 of `message`.
fn sha1(message: &[u8]) -> [u8; 20] {
    let mut s = Sha1::new();
    s.update(message);
    s.finish()
}

/// `HMAC-SHA1(key, message)`.
pub(crate) fn hmac_sha1(key: &[u8], message: &[u8]) -> [u8; 20] {
    // The DH shared secret K (256 bytes) is longer than a block, so it is hashed first.
    let mut k = key_block(key, sha1);
    let mut pad = k.map(|b| b ^ 0x36);
    let mut inner = Sha1::new();
    inner.update(&pad);
    inner.update(message);
    let mut inner_hash = inner.finish();
    pad = k.map(|b| b ^ 0x5c);
    let mut outer = Sha1::new();
    outer.update(&pad);
    outer.update(&inner_hash);
    k.zeroize();
    pad.zeroize();
    inner_hash.zeroize();
    outer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn fips_180_vectors() {
        assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            hex(&sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex(&sha1(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        let mut s = Sha1::new();
        (0..1000).for_each(|_| s.update(&[b'a'; 1000]));
        assert_eq!(hex(&s.finish()), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    }

    #[test]
    fn rfc_2202_vectors() {
        let cases: [(&[u8], &[u8], &str); 4] = [
            (
                &[0x0b; 20],
                b"Hi There",
                "b617318655057264e28bc0b6fb378c8ef146be00",
            ),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
            ),
            (
                &[0xaa; 80],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "aa4ae5e15272d00e95705637ce8a3b55ed402112",
            ),
            (
                &[0xaa; 80],
                b"Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data",
                "e8e99d0f45237d786d6bbaa7965c7808bbff1a91",
            ),
        ];
        for (key, msg, want) in cases {
            assert_eq!(hex(&hmac_sha1(key, msg)), want);
        }
    }

    #[test]
    fn matches_the_hmac_and_sha1_crates_at_every_length_near_the_block_edges() {
        let data: Vec<u8> = (0..300u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for klen in [0, 1, 19, 20, 63, 64, 65, 128, 256, 257] {
            for mlen in 0..200 {
                let (key, msg) = (&data[..klen], &data[100..100 + mlen]);
                let mut want = <Hmac<::sha1::Sha1> as Mac>::new_from_slice(key).unwrap();
                want.update(msg);
                assert_eq!(
                    hmac_sha1(key, msg)[..],
                    want.finalize().into_bytes()[..],
                    "{klen} {mlen}"
                );
            }
        }
    }

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
}
