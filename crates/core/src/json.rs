//! A small JSON reader (RFC 8259) for the few fields the session reads from IBKR's answers.
//!
//! The session only looks up strings, booleans and whole numbers (expiry times), so numbers are
//! converted simply: whole numbers exactly (up to 2^53), others within a few ulps. It never
//! panics: nesting is limited to [`MAX_DEPTH`] levels, and anything malformed (or a number beyond
//! the range of an `f64`) is `None`.

/// Deepest nesting accepted (IBKR's answers nest two or three levels).
pub const MAX_DEPTH: usize = 64;

/// A parsed JSON value. Objects keep their members in order; a repeated key finds the first.
#[derive(Clone, PartialEq)]
pub enum Value {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number (see [`Value::as_f64`] for its precision).
    Number(f64),
    /// A string, unescaped.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object.
    Object(Vec<(String, Value)>),
}

impl std::fmt::Debug for Value {
    // Answers can carry tokens: never print contents.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Value::Null => "Null",
            Value::Bool(_) => "Bool(..)",
            Value::Number(_) => "Number(..)",
            Value::String(_) => "String(..)",
            Value::Array(_) => "Array(..)",
            Value::Object(_) => "Object(..)",
        })
    }
}

impl Value {
    /// Parses a whole document (surrounding whitespace allowed). `None` when it is not JSON.
    pub fn parse(text: &str) -> Option<Value> {
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
        };
        p.ws();
        let v = p.value(0)?;
        p.ws();
        (p.i == p.s.len()).then_some(v)
    }

    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A value by JSON Pointer (RFC 6901), e.g. `/iserver/authStatus`.
    pub fn pointer(&self, pointer: &str) -> Option<&Value> {
        if pointer.is_empty() {
            return Some(self);
        }
        let rest = pointer.strip_prefix("/")?;
        crate::text::split_byte(rest, b'/').try_fold(self, |v, token| {
            let token = crate::text::replace(&crate::text::replace(token, "~1", "/"), "~0", "~");
            match v {
                Value::Object(_) => v.get(&token),
                Value::Array(items) => {
                    let ok = !token.is_empty()
                        && token.bytes().all(|b| b.is_ascii_digit())
                        && (token == "0" || !crate::text::starts_with_byte(&token, b'0'));
                    items.get(token.parse::<usize>().ok().filter(|_| ok)?)
                }
                _ => None,
            }
        })
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The number as an `f64`, if this is one: exact for whole numbers up to 2^53 in magnitude.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }
}

/// Converts a number that the parser accepted. Digits beyond the 19th only scale the result.
fn number_to_f64(b: &[u8]) -> f64 {
    let (neg, mut i) = match b.first() {
        Some(b'-') => (true, 1),
        _ => (false, 0),
    };
    // Up to 19 significant digits in `mant` (leading zeros do not count); later digits of the
    // whole part only scale by 10, later fraction digits are dropped.
    let mut mant: u64 = 0;
    let mut significant = 0u32;
    let mut exp10: i64 = 0;
    let mut digit = |d: u8, fraction: bool| {
        if significant < 19 {
            if mant != 0 || d != b'0' {
                significant += 1;
            }
            mant = mant * 10 + u64::from(d - b'0');
            exp10 -= i64::from(fraction);
        } else {
            exp10 += i64::from(!fraction);
        }
    };
    while let Some(&d) = b.get(i).filter(|d| d.is_ascii_digit()) {
        digit(d, false);
        i += 1;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while let Some(&d) = b.get(i).filter(|d| d.is_ascii_digit()) {
            digit(d, true);
            i += 1;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        let eneg = b.get(i) == Some(&b'-');
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let mut e: i64 = 0;
        while let Some(&d) = b.get(i).filter(|d| d.is_ascii_digit()) {
            e = (e * 10 + i64::from(d - b'0')).min(100_000);
            i += 1;
        }
        exp10 += if eneg { -e } else { e };
    }
    let m = mant as f64;
    // 10^k is exact in f64 for k ≤ 22, so whole numbers and short decimals come out exactly
    // rounded; beyond that a few ulps of error are irrelevant here.
    let v = if mant == 0 {
        0.0
    } else if exp10 >= 0 {
        m * 10f64.powi(exp10.min(400) as i32)
    } else if exp10 >= -22 {
        m / 10f64.powi((-exp10) as i32)
    } else {
        m / 10f64.powi(22) / 10f64.powi((-exp10 - 22).min(400) as i32)
    };
    if neg {
        -v
    } else {
        v
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, lit: &[u8]) -> Option<()> {
        let end = self.i.checked_add(lit.len())?;
        (self.s.get(self.i..end)? == lit).then(|| self.i = end)
    }

    fn value(&mut self, depth: usize) -> Option<Value> {
        match self.peek()? {
            b'n' => self.eat(b"null").map(|()| Value::Null),
            b't' => self.eat(b"true").map(|()| Value::Bool(true)),
            b'f' => self.eat(b"false").map(|()| Value::Bool(false)),
            b'"' => self.string().map(Value::String),
            b'[' if depth < MAX_DEPTH => self.seq(b']', |p| p.value(depth + 1)).map(Value::Array),
            b'{' if depth < MAX_DEPTH => self
                .seq(b'}', |p| {
                    let k = p.string()?;
                    p.ws();
                    p.eat(b":")?;
                    p.ws();
                    Some((k, p.value(depth + 1)?))
                })
                .map(Value::Object),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// The items of an array or object: the opening bracket is at `self.i`; items separated by
    /// commas up to `close`, whitespace allowed around each.
    fn seq<T>(
        &mut self,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Option<T>,
    ) -> Option<Vec<T>> {
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(close) {
            self.i += 1;
            return Some(items);
        }
        loop {
            self.ws();
            items.push(item(self)?);
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                c if c == close => {
                    self.i += 1;
                    return Some(items);
                }
                _ => return None,
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return None;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        // Like serde_json: a number too large for an f64 is refused, not read as infinity.
        let v = number_to_f64(self.s.get(start..self.i)?);
        (!v.is_infinite()).then_some(Value::Number(v))
    }

    fn hex4(&mut self) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = char::from(self.peek()?).to_digit(16)?;
            v = v * 16 + d;
            self.i += 1;
        }
        Some(v)
    }

    fn string(&mut self) -> Option<String> {
        self.eat(b"\"")?;
        let mut out = Vec::new();
        loop {
            // Copy the run up to the next quote, backslash or control character at once.
            let run = self.s.get(self.i..)?;
            let n = run
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .unwrap_or(run.len());
            out.extend_from_slice(&run[..n]);
            self.i += n;
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    // The input is a &str and escapes add whole characters: always UTF-8.
                    return String::from_utf8(out).ok();
                }
                b'\\' => {
                    self.i += 1;
                    let c = match self.peek()? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            self.i += 1;
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi) {
                                // A high surrogate must be followed by an escaped low one.
                                self.eat(b"\\u")?;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return None;
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            let c = char::from_u32(cp)?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                            continue;
                        }
                        _ => return None,
                    };
                    self.i += 1;
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                _ => return None, // a raw control character
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ibkr_answers() {
        let v = Value::parse(
            r#" {"iserver":{"authStatus":{"authenticated":true,"competing":false}},"expires_in":86399,
                "live_session_token_expiration":1732233600123,"error":"no \"bridge\"\u00e9\ud83d\ude00"} "#,
        )
        .unwrap();
        assert_eq!(
            v.pointer("/iserver/authStatus/authenticated")
                .and_then(Value::as_bool),
            Some(true)
        );
        assert_eq!(v.get("expires_in").and_then(Value::as_f64), Some(86399.0));
        assert_eq!(
            v.get("live_session_token_expiration")
                .and_then(Value::as_f64),
            Some(1_732_233_600_123.0)
        );
        assert_eq!(
            v.get("error").and_then(Value::as_str),
            Some("no \"bridge\"é😀")
        );
        assert_eq!(v.get("missing"), None);
    }

    #[test]
    fn numbers() {
        for (text, want) in [
            ("0", 0.0),
            ("-0", 0.0),
            ("12", 12.0),
            ("-7", -7.0),
            ("1.5", 1.5),
            ("2.5e3", 2500.0),
            ("1E2", 100.0),
            ("9007199254740993", 9_007_199_254_740_992.0),
            ("123456789012345678901234", 1.234_567_890_123_456_8e23),
            ("0.000001", 1e-6),
            ("1e-30", 1e-30),
            ("0.0000000000000000000001234", 1.234e-22),
            ("-12.5e-1", -1.25),
        ] {
            let got = Value::parse(text).and_then(|v| v.as_f64()).unwrap();
            assert!(
                (got - want).abs() <= want.abs() * 1e-15,
                "{text}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn rejects_what_is_not_json() {
        for bad in [
            "",
            " ",
            "{",
            "}",
            "[1,]",
            "{\"a\":1,}",
            "{a:1}",
            "01",
            "1.",
            ".5",
            "-",
            "1e",
            "+1",
            "\"\\x\"",
            "\"\\ud800\"",
            "\"\\udc00x\"",
            "\"a\nb\"",
            "nul",
            "truex",
            "[1 2]",
            "{\"a\" 1}",
            "\"abc",
            "1 2",
        ] {
            assert!(Value::parse(bad).is_none(), "{bad:?} accepted");
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(Value::parse(&ok).is_some());
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(Value::parse(&deep).is_none());
    }

    #[test]
    fn pointer_escapes_and_arrays() {
        let v = Value::parse(r#"{"a/b":{"m~n":[10,{"x":"y"}]}}"#).unwrap();
        assert_eq!(
            v.pointer("/a~1b/m~0n/1/x").and_then(Value::as_str),
            Some("y")
        );
        assert_eq!(
            v.pointer("/a~1b/m~0n/0").and_then(Value::as_f64),
            Some(10.0)
        );
        assert_eq!(v.pointer("/a~1b/m~0n/01"), None);
        assert_eq!(v.pointer("/a~1b/m~0n/2"), None);
        assert_eq!(v.pointer(""), Some(&v));
        assert_eq!(v.pointer("a"), None);
    }

    #[test]
    fn debug_hides_contents() {
        let v = Value::parse(r#"{"access_token":"secret-value"}"#).unwrap();
        assert!(!format!("{v:?}").contains("secret"));
    }
}
