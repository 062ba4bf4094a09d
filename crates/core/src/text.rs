//! Substring search for the few places that look for a fixed string: PEM markers, URL schemes,
//! words in a server's message. The texts are short, so a plain scan does; the standard
//! library's two-way searcher behind `str::find(&str)` is ~3 KB of the `.wasm`.

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
