//! Substring search for the few places that look for a fixed string: PEM markers, URL schemes,
//! words in a server's message, and splitting at an ASCII separator (URLs, dates, PEM lines).
//! The texts are short, so a plain scan does; the standard library's two-way searcher behind
//! `str::find(&str)` is ~3 KB of the `.wasm`, and its `char` patterns bring `memchr` and a
//! UTF-8 searcher (~1 KB).

/// The byte offset of the first `needle` in `hay`.
pub fn find(hay: &str, needle: &str) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.as_bytes()
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
}

/// Whether `hay` contains `needle`.
pub fn contains(hay: &str, needle: &str) -> bool {
    find(hay, needle).is_some()
}

/// Whether `hay` contains `needle`, ASCII letters compared without case.
pub fn contains_ignore_ascii_case(hay: &str, needle: &str) -> bool {
    needle.is_empty()
        || hay
            .as_bytes()
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// `hay` split around the first `sep`.
pub fn split_once<'a>(hay: &'a str, sep: &str) -> Option<(&'a str, &'a str)> {
    let i = find(hay, sep)?;
    Some((hay.get(..i)?, hay.get(i + sep.len()..)?))
}

/// The byte offset of the first `sep` (an ASCII byte, so the offset is a `char` boundary).
pub fn find_byte(hay: &str, sep: u8) -> Option<usize> {
    hay.bytes().position(|b| b == sep)
}

/// Whether `hay` contains the ASCII byte `b`.
pub fn contains_byte(hay: &str, b: u8) -> bool {
    find_byte(hay, b).is_some()
}

/// `hay` split around the first ASCII `sep`.
pub fn split_once_byte(hay: &str, sep: u8) -> Option<(&str, &str)> {
    let i = find_byte(hay, sep)?;
    Some((hay.get(..i)?, hay.get(i + 1..)?))
}

/// `hay` split around the last ASCII `sep`.
pub fn rsplit_once_byte(hay: &str, sep: u8) -> Option<(&str, &str)> {
    let i = hay.bytes().rposition(|b| b == sep)?;
    Some((hay.get(..i)?, hay.get(i + 1..)?))
}

/// Whether `hay` starts with the ASCII byte `b`.
pub fn starts_with_byte(hay: &str, b: u8) -> bool {
    hay.as_bytes().first() == Some(&b)
}

/// `hay` without the ASCII `b`s at its start.
pub fn trim_start_byte(hay: &str, b: u8) -> &str {
    let n = hay.bytes().take_while(|&c| c == b).count();
    hay.get(n..).unwrap_or_default()
}

/// `hay` without the ASCII `b`s at its end.
pub fn trim_end_byte(hay: &str, b: u8) -> &str {
    let n = hay.bytes().rev().take_while(|&c| c == b).count();
    hay.get(..hay.len() - n).unwrap_or_default()
}

/// The first `n` characters of `s` (all of it if shorter).
pub fn truncate_chars(s: &str, n: usize) -> &str {
    // a character starts at every byte that is not a UTF-8 continuation byte (10xxxxxx)
    let end = s
        .bytes()
        .enumerate()
        .filter(|&(_, b)| b & 0xc0 != 0x80)
        .nth(n)
        .map_or(s.len(), |(i, _)| i);
    s.get(..end).unwrap_or_default()
}

/// The parts of `hay` between ASCII `sep`s, like `str::split(char)`.
pub fn split_byte(hay: &str, sep: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(hay);
    std::iter::from_fn(move || {
        let r = rest?;
        match split_once_byte(r, sep) {
            Some((part, after)) => {
                rest = Some(after);
                Some(part)
            }
            None => rest.take(),
        }
    })
}

/// A whole number written in ASCII digits only (no sign, no spaces), if it fits in a `u64`.
pub fn parse_digits(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.bytes().try_fold(0u64, |n, b| {
        let d = b.is_ascii_digit().then(|| u64::from(b - b'0'))?;
        n.checked_mul(10)?.checked_add(d)
    })
}

/// `hay` with every `from` replaced by `to`, left to right.
pub fn replace(hay: &str, from: &str, to: &str) -> String {
    if from.is_empty() {
        return hay.to_owned();
    }
    let mut out = String::with_capacity(hay.len());
    let mut rest = hay;
    while let Some((before, after)) = split_once(rest, from) {
        out.push_str(before);
        out.push_str(to);
        rest = after;
    }
    out.push_str(rest);
    out
}

/// `bytes` as text, each invalid sequence replaced by U+FFFD as `String::from_utf8_lossy` does
/// (one per maximal invalid subpart), through `str::from_utf8`, which the module has anyway:
/// the standard library's version brings its own decoder (~1 KB of the `.wasm`).
pub fn utf8_lossy(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                return out;
            }
            Err(e) => {
                let (valid, bad) = rest.split_at(e.valid_up_to());
                // `valid` is valid UTF-8 by the error's own account
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                out.push('\u{FFFD}');
                rest = bad
                    .get(e.error_len().unwrap_or(bad.len())..)
                    .unwrap_or_default();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_the_standard_library() {
        let hays = [
            "",
            "a",
            "abc",
            "ab~1c~0~01",
            "-----BEGIN X-----",
            "é€://x://",
            "aaab",
            "NO Bridge",
        ];
        let needles = [
            "", "a", "ab", "~1", "~0", "-----", "://", "€", "aab", "bridge", "x",
        ];
        for h in hays {
            for n in needles {
                assert_eq!(find(h, n), h.find(n), "{h:?} {n:?}");
                assert_eq!(contains(h, n), h.contains(n));
                assert_eq!(split_once(h, n), h.split_once(n), "{h:?} {n:?}");
                assert_eq!(
                    contains_ignore_ascii_case(h, n),
                    h.to_ascii_lowercase().contains(&n.to_ascii_lowercase())
                );
                if !n.is_empty() {
                    assert_eq!(replace(h, n, "/"), h.replace(n, "/"), "{h:?} {n:?}");
                }
            }
        }
        assert_eq!(replace("abc", "", "-"), "abc");
        for h in hays {
            for n in 0..8 {
                assert_eq!(
                    truncate_chars(h, n),
                    h.chars().take(n).collect::<String>(),
                    "{h:?} {n}"
                );
            }
        }
        for h in hays
            .iter()
            .chain(&["a?b?c", "?", "??", "x:y:z", "é:€:", ":", "::é::", "aaaéaa"])
        {
            for sep in [b'?', b':', b'a', b'-', b'~'] {
                let c = char::from(sep);
                assert_eq!(find_byte(h, sep), h.find(c), "{h:?} {c:?}");
                assert_eq!(contains_byte(h, sep), h.contains(c));
                assert_eq!(split_once_byte(h, sep), h.split_once(c), "{h:?} {c:?}");
                assert_eq!(rsplit_once_byte(h, sep), h.rsplit_once(c), "{h:?} {c:?}");
                assert_eq!(starts_with_byte(h, sep), h.starts_with(c));
                assert_eq!(trim_start_byte(h, sep), h.trim_start_matches(c));
                assert_eq!(trim_end_byte(h, sep), h.trim_end_matches(c));
                let ours: Vec<&str> = split_byte(h, sep).collect();
                assert_eq!(ours, h.split(c).collect::<Vec<_>>(), "{h:?} {c:?}");
            }
        }
    }

    #[test]
    fn lossy_as_the_standard_library() {
        let cases: [&[u8]; 12] = [
            b"",
            b"plain",
            "é€😀".as_bytes(),
            b"\xff",
            b"a\xffb",
            b"\xe2\x82",         // a truncated 3-byte sequence: one replacement
            b"\xe2\x82x\xe2",    // truncated in the middle and at the end
            b"\xf0\x9f\x98",     // truncated 4-byte sequence
            b"\xed\xa0\x80",     // a surrogate: three replacements
            b"\xc0\xaf",         // overlong
            b"\xf4\x90\x80\x80", // above U+10FFFF
            b"%\x80\x80ok\xc3",
        ];
        for c in cases {
            assert_eq!(utf8_lossy(c), String::from_utf8_lossy(c), "{c:?}");
        }
        // every short byte string over a mix of ASCII, lead, continuation and invalid bytes
        let alphabet = [
            b'a', 0x80, 0xbf, 0xc2, 0xe0, 0xed, 0xf0, 0xf4, 0xff, 0xa0, 0x90,
        ];
        let mut buf = Vec::new();
        for n in 0..=4u32 {
            for mut k in 0..alphabet.len().pow(n) {
                buf.clear();
                for _ in 0..n {
                    buf.push(alphabet[k % alphabet.len()]);
                    k /= alphabet.len();
                }
                assert_eq!(utf8_lossy(&buf), String::from_utf8_lossy(&buf), "{buf:?}");
            }
        }
    }

    #[test]
    fn digits() {
        for s in [
            "0",
            "7",
            "0042",
            "18446744073709551615",
            "18446744073709551616",
            "",
            "-1",
            "+1",
            "1 ",
            "1a",
            "١",
        ] {
            let std = s.parse::<u64>().ok().filter(|_| !s.starts_with('+'));
            assert_eq!(parse_digits(s), std, "{s:?}");
        }
    }
}
