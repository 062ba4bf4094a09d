//! RFC 3986 percent-encoding, hex and base64, as IBKR's OAuth wants them.

/// Appends `input` to `out`, percent-encoded per RFC 3986: the unreserved characters
/// `A-Z a-z 0-9 - . _ ~` stay, every other byte of the UTF-8 becomes `%XX` (uppercase hex).
/// It does not reserve space itself (a call per piece of a base string would cost more than the
/// encoding): callers size `out` up front.
pub fn pct_encode_into(out: &mut String, input: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    // Copy runs of unreserved characters in one go. A run never starts or ends inside a
    // multi-byte character, since every non-ASCII byte is encoded, so `get` only declines the
    // empty runs between the bytes of one character.
    let mut start = 0;
    for (i, &b) in input.as_bytes().iter().enumerate() {
        if UNRESERVED[usize::from(b)] {
            continue;
        }
        if let Some(run) = input.get(start..i) {
            out.push_str(run);
        }
        out.push('%');
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
        start = i + 1;
    }
    if let Some(run) = input.get(start..) {
        out.push_str(run);
    }
}

/// RFC 3986's unreserved characters, `A-Z a-z 0-9 - . _ ~`, as a table.
const UNRESERVED: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'.' || c == b'_' || c == b'~';
        b += 1;
    }
    t
};

/// RFC 3986 percent-encoding of `input` (see [`pct_encode_into`]).
pub fn pct_encode(input: &str) -> String {
    let mut out = String::with_capacity(input.len() + input.len() / 2);
    pct_encode_into(&mut out, input);
    out
}

/// Decodes one `application/x-www-form-urlencoded` component: `+` is a space, `%XX` a byte.
/// A `%` not followed by two hex digits is kept literally (as browsers' `URLSearchParams` do),
/// and bytes that are not UTF-8 are replaced, so this never fails.
pub fn form_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = bytes.get(i + 1).and_then(|&c| hex_val(c));
                let lo = bytes.get(i + 2).and_then(|&c| hex_val(c));
                if let (Some(hi), Some(lo)) = (hi, lo) {
                    out.push(hi << 4 | lo);
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            _ => out.push(b),
        }
        i += 1;
    }
    crate::text::utf8_lossy(&out)
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Lowercase hex of `bytes`.
pub fn hex_encode(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 0x0f)] as char);
    }
    s
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
    if s.len() % 2 != 0 {
        // Report a bad character first if there is one: it is the more useful message.
        if let Some(pos) = s.bytes().position(|c| hex_val(c).is_none()) {
            return Err(HexError::BadChar(pos));
        }
        return Err(HexError::OddLength);
    }
    let mut out = Vec::with_capacity(s.len() / 2);
    for (i, pair) in s.as_bytes().chunks_exact(2).enumerate() {
        if let [h, l] = *pair {
            let hi = hex_val(h).ok_or(HexError::BadChar(i * 2))?;
            let lo = hex_val(l).ok_or(HexError::BadChar(i * 2 + 1))?;
            out.push(hi << 4 | lo);
        }
    }
    Ok(out)
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
    let mut nibbles = Vec::with_capacity(body.len());
    for (i, c) in body.bytes().enumerate() {
        if c == b':' || c.is_ascii_whitespace() {
            continue;
        }
        nibbles.push(hex_val(c).ok_or(HexError::BadChar(prefix_len + i))?);
    }
    if nibbles.is_empty() {
        return Err(HexError::Empty);
    }
    let start = nibbles
        .iter()
        .position(|&n| n != 0)
        .unwrap_or(nibbles.len());
    let digits = nibbles.get(start..).unwrap_or_default();
    let mut out = Vec::with_capacity(digits.len() / 2 + 1);
    let mut iter = digits.iter();
    if digits.len() % 2 == 1 {
        if let Some(&n) = iter.next() {
            out.push(n);
        }
    }
    while let (Some(&h), Some(&l)) = (iter.next(), iter.next()) {
        out.push(h << 4 | l);
    }
    Ok(out)
}

const B64_STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn b64_encode_with(bytes: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = Vec::with_capacity(bytes.len().div_ceil(3) * 4);
    let sym = |v: u32| alphabet[(v & 63) as usize];
    for chunk in bytes.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let v = b(0) << 16 | b(1) << 8 | b(2);
        // 1, 2 or 3 bytes give 2, 3 or 4 symbols.
        for k in 0..=chunk.len() {
            out.push(sym(v >> (18 - 6 * k)));
        }
        if pad {
            out.resize(out.len() + 3 - chunk.len(), b'=');
        }
    }
    // Both alphabets and '=' are ASCII, so this never falls back.
    String::from_utf8(out).unwrap_or_default()
}

/// Standard base64 (RFC 4648 §4) with padding.
pub fn b64_encode(bytes: &[u8]) -> String {
    b64_encode_with(bytes, B64_STANDARD, true)
}

/// base64url (RFC 4648 §5) without padding, as JWTs use it.
pub fn b64url_encode(bytes: &[u8]) -> String {
    b64_encode_with(bytes, B64_URL, false)
}

/// The value of a standard base64 symbol (the caller has checked it is one).
fn b64_value(c: u8) -> u32 {
    u32::from(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    })
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

/// Decodes base64 as users paste it: whitespace and line breaks anywhere are ignored, padding
/// is optional, and the URL-safe alphabet (`-`, `_`) is accepted too.
pub fn b64_decode_lenient(input: &str) -> Result<Vec<u8>, B64Error> {
    let cleaned: String = input
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    if cleaned.is_empty() {
        return Err(B64Error::Empty);
    }
    let unpadded = crate::text::trim_end_byte(&cleaned, b'=');
    if cleaned.len() - unpadded.len() > 2 {
        return Err(B64Error::BadLength);
    }
    if let Some(pos) = unpadded
        .bytes()
        .position(|c| !(c.is_ascii_alphanumeric() || c == b'+' || c == b'/'))
    {
        return Err(B64Error::BadChar(pos));
    }
    if unpadded.len() % 4 == 1 {
        return Err(B64Error::BadLength);
    }
    // Groups of 4 symbols give 3 bytes; a last group of 3 or 2 gives 2 or 1 (its unused low
    // bits are ignored).
    let mut out = Vec::with_capacity(unpadded.len() / 4 * 3 + 2);
    for group in unpadded.as_bytes().chunks(4) {
        let v = group
            .iter()
            .enumerate()
            .fold(0u32, |v, (k, &c)| v | b64_value(c) << (18 - 6 * k));
        let bytes = v.to_be_bytes();
        out.extend_from_slice(&bytes[1..group.len()]);
    }
    Ok(out)
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
        assert_eq!(b64_decode_lenient("ab*d"), Err(B64Error::BadChar(2)));
        assert_eq!(b64_decode_lenient("abcde"), Err(B64Error::BadLength));
        assert_eq!(b64_decode_lenient("ab===="), Err(B64Error::BadLength));
        assert_eq!(b64_encode(b"hello"), "aGVsbG8=");
    }
}
