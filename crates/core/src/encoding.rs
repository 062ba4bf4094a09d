//! Percent-encoding, hex and base64 as IBKR's OAuth wants them, on the `percent-encoding`, `hex`
//! and `base64` crates. What is ours is only the normalisation in front of them: the lenient
//! reading of values as users paste them (whitespace, URL-safe base64, missing padding, `0x` and
//! `:` in hex numbers) and errors that say what is wrong without echoing the value.

use base64::engine::general_purpose::{
    GeneralPurpose, GeneralPurposeConfig, STANDARD, URL_SAFE_NO_PAD,
};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use percent_encoding::{percent_decode, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use zeroize::Zeroizing;

/// Everything but RFC 3986's unreserved characters `A-Z a-z 0-9 - . _ ~` is encoded.
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Appends `input` to `out`, percent-encoded per RFC 3986: the unreserved characters stay, every
/// other byte of the UTF-8 becomes `%XX` (uppercase hex).
pub fn pct_encode_into(out: &mut String, input: &str) {
    for piece in utf8_percent_encode(input, RFC3986) {
        out.push_str(piece);
    }
}

/// RFC 3986 percent-encoding of `input` (see [`pct_encode_into`]).
pub fn pct_encode(input: &str) -> String {
    utf8_percent_encode(input, RFC3986).to_string()
}

/// Decodes one `application/x-www-form-urlencoded` component: `+` is a space, `%XX` a byte.
/// A `%` not followed by two hex digits is kept literally (as browsers' `URLSearchParams` do),
/// and bytes that are not UTF-8 are replaced, so this never fails.
pub fn form_decode(input: &str) -> String {
    let spaced: Vec<u8> = input
        .bytes()
        .map(|b| if b == b'+' { b' ' } else { b })
        .collect();
    let bytes: Vec<u8> = percent_decode(&spaced).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Lowercase hex of `bytes`.
pub fn hex_encode(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Why a hex string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HexError {
    /// Nothing but whitespace, separators or a `0x` prefix.
    Empty,
    /// A character that is not a hex digit (position in the input, 0-based).
    BadChar(usize),
    /// An odd number of digits where whole bytes are required.
    OddLength,
}

impl HexError {
    /// A short description without the input's value.
    pub fn describe(self) -> String {
        match self {
            HexError::Empty => "it is empty".to_owned(),
            HexError::BadChar(pos) => {
                format!("it has a character that is not a hex digit at position {pos}")
            }
            HexError::OddLength => "it has an odd number of hex digits".to_owned(),
        }
    }
}

/// Decodes hex that must be whole bytes (`a1b2…`), either case, surrounding whitespace ignored.
pub fn hex_decode(input: &str) -> Result<Vec<u8>, HexError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(HexError::Empty);
    }
    // A bad character is the more useful message, so it is looked for before the length.
    if let Some(pos) = s.bytes().position(|c| !c.is_ascii_hexdigit()) {
        return Err(HexError::BadChar(pos));
    }
    hex::decode(s).map_err(|_| HexError::OddLength)
}

/// Decodes a big-endian hex number as people paste it: either case, an optional `0x`, any
/// length (IBKR's values may have an odd number of digits), and `:` or whitespace between
/// digits (the way `openssl dhparam -text` prints a prime). Returns minimal big-endian bytes
/// (empty for zero).
pub fn hex_number(input: &str) -> Result<Vec<u8>, HexError> {
    let s = input.trim();
    let body = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    let prefix_len = s.len() - body.len();
    // Normalise to an even run of digits without leading zeros, then let `hex` decode it. The
    // copy may hold a secret exponent, so it is wiped.
    let mut digits = Zeroizing::new(Vec::with_capacity(body.len() + 1));
    let mut saw_digit = false;
    for (i, c) in body.bytes().enumerate() {
        if c == b':' || c.is_ascii_whitespace() {
            continue;
        }
        if !c.is_ascii_hexdigit() {
            return Err(HexError::BadChar(prefix_len + i));
        }
        saw_digit = true;
        if digits.is_empty() && c == b'0' {
            continue; // a leading zero
        }
        digits.push(c);
    }
    if !saw_digit {
        return Err(HexError::Empty);
    }
    if digits.len() % 2 == 1 {
        digits.insert(0, b'0');
    }
    hex::decode(&*digits).map_err(|_| HexError::OddLength)
}

/// Standard base64 (RFC 4648 §4) with padding.
pub fn b64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// base64url (RFC 4648 §5) without padding, as JWTs use it.
pub fn b64url_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Why base64 was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum B64Error {
    /// Nothing to decode.
    Empty,
    /// A character outside the base64 alphabet (position in the input without whitespace).
    BadChar(usize),
    /// The length cannot be base64 (characters lost in copying).
    BadLength,
}

impl B64Error {
    /// A short description without the input's value.
    pub fn describe(self) -> String {
        match self {
            B64Error::Empty => "it is empty".to_owned(),
            B64Error::BadChar(pos) => {
                format!("it has a character that is not base64 at position {pos} (after removing whitespace)")
            }
            B64Error::BadLength => {
                "its length is not possible for base64, so characters were lost or added when it was copied".to_owned()
            }
        }
    }
}

/// Standard alphabet, padding optional, unused trailing bits ignored: what users paste.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decodes base64 as users paste it: whitespace and line breaks anywhere are ignored, padding
/// is optional, and the URL-safe alphabet (`-`, `_`) is accepted too. The normalised copy is
/// wiped (it may be a private key's DER).
pub fn b64_decode_lenient(input: &str) -> Result<Vec<u8>, B64Error> {
    let mut cleaned = Zeroizing::new(Vec::with_capacity(input.len()));
    for c in input.bytes() {
        match c {
            b'-' => cleaned.push(b'+'),
            b'_' => cleaned.push(b'/'),
            c if c.is_ascii_whitespace() => {}
            c => cleaned.push(c),
        }
    }
    if cleaned.is_empty() {
        return Err(B64Error::Empty);
    }
    let pad = cleaned.iter().rev().take_while(|&&c| c == b'=').count();
    let unpadded = cleaned.get(..cleaned.len() - pad).unwrap_or_default();
    if pad > 2 {
        return Err(B64Error::BadLength);
    }
    // Padding alone ("=", "==") is no value either (found by fuzzing: it decoded to nothing).
    if unpadded.is_empty() {
        return Err(B64Error::Empty);
    }
    if let Some(pos) = unpadded
        .iter()
        .position(|&c| !(c.is_ascii_alphanumeric() || c == b'+' || c == b'/'))
    {
        return Err(B64Error::BadChar(pos));
    }
    if unpadded.len() % 4 == 1 {
        return Err(B64Error::BadLength);
    }
    LENIENT.decode(unpadded).map_err(|_| B64Error::BadLength)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pct_encodes_rfc3986() {
        assert_eq!(pct_encode("a~b.c-d_e"), "a~b.c-d_e");
        assert_eq!(pct_encode("CCCCCC95|48-DF"), "CCCCCC95%7C48-DF");
        assert_eq!(pct_encode("20231114-13:30:00"), "20231114-13%3A30%3A00");
        assert_eq!(pct_encode("a b+c/é"), "a%20b%2Bc%2F%C3%A9");
        assert_eq!(pct_encode("*'()!"), "%2A%27%28%29%21");
    }

    #[test]
    fn form_decodes_leniently() {
        assert_eq!(form_decode("265598%2C8314"), "265598,8314");
        assert_eq!(form_decode("a+b"), "a b");
        assert_eq!(form_decode("100%"), "100%");
        assert_eq!(form_decode("%zz%4"), "%zz%4");
        assert_eq!(form_decode("%C3%A9"), "é");
        assert_eq!(form_decode("%FF"), "\u{FFFD}");
    }

    #[test]
    fn hex_roundtrip_and_errors() {
        assert_eq!(hex_encode(&[0, 0xab, 0x10]), "00ab10");
        assert_eq!(hex_decode("00AB10"), Ok(vec![0, 0xab, 0x10]));
        assert_eq!(hex_decode(" "), Err(HexError::Empty));
        assert_eq!(hex_decode("abc"), Err(HexError::OddLength));
        assert_eq!(hex_decode("abcg"), Err(HexError::BadChar(3)));
    }

    #[test]
    fn hex_numbers_as_pasted() {
        assert_eq!(hex_number("abc"), Ok(vec![0x0a, 0xbc]));
        assert_eq!(hex_number("0x00:cf:94"), Ok(vec![0xcf, 0x94]));
        assert_eq!(hex_number("00 0"), Ok(vec![]));
        assert_eq!(hex_number("0x"), Err(HexError::Empty));
        assert_eq!(hex_number("12z"), Err(HexError::BadChar(2)));
    }

    #[test]
    fn base64_lenient() {
        assert_eq!(b64_decode_lenient("aGVs\nbG8="), Ok(b"hello".to_vec()));
        assert_eq!(b64_decode_lenient("aGVsbG8"), Ok(b"hello".to_vec()));
        assert_eq!(b64_decode_lenient("-_8="), b64_decode_lenient("+/8="));
        assert_eq!(b64_decode_lenient("   "), Err(B64Error::Empty));
        assert_eq!(b64_decode_lenient(" == "), Err(B64Error::Empty));
        assert_eq!(b64_decode_lenient("="), Err(B64Error::Empty));
        assert_eq!(b64_decode_lenient("ab*d"), Err(B64Error::BadChar(2)));
        assert_eq!(b64_decode_lenient("abcde"), Err(B64Error::BadLength));
        assert_eq!(b64_decode_lenient("ab===="), Err(B64Error::BadLength));
        assert_eq!(b64_encode(b"hello"), "aGVsbG8=");
    }
}
