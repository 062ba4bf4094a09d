//! The gateway's "verifyHexVal" hex quirk, as bytes.
//!
//! The gateway's login page writes a value as hex, pads it to an even length, then drops exactly
//! **one** leading `00` byte, and hashes the resulting bytes. For a number (salt, A, B, S, N, g,
//! H(N) xor H(g)) written without leading zeros this is simply its minimal big-endian bytes (only
//! zero would start with `00`, and becomes empty). For a hash written as 40 hex digits (K, M1) it
//! drops the first byte when, and only when, it is zero.

/// A number's bytes as the quirk hashes them: big-endian without leading zero bytes (empty for 0).
pub fn number(x: &[u8]) -> &[u8] {
    crate::keys::trim_be(x)
}

/// A digest's bytes as the quirk hashes them: one leading zero byte dropped, no more.
pub fn digest(d: &[u8]) -> &[u8] {
    match d.split_first() {
        Some((0, rest)) => rest,
        _ => d,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_lose_all_leading_zero_bytes() {
        assert_eq!(number(&[0, 0, 1, 0]), &[1, 0]);
        assert_eq!(number(&[0x0a, 0xbc]), &[0x0a, 0xbc]);
        assert_eq!(number(&[0, 0]), &[] as &[u8]);
        assert_eq!(number(&[]), &[] as &[u8]);
    }

    #[test]
    fn digests_lose_exactly_one_leading_zero_byte() {
        assert_eq!(digest(&[0, 0, 7]), &[0, 7]);
        assert_eq!(digest(&[0, 7]), &[7]);
        assert_eq!(digest(&[1, 0]), &[1, 0]);
        assert_eq!(digest(&[0x0f, 1]), &[0x0f, 1]);
        assert_eq!(digest(&[]), &[] as &[u8]);
    }
}
