//! OCRA, the OATH challenge–response algorithm (RFC 6287), for the suites of its Appendix C and
//! IB Key's `OCRA-1:HOTP-SHA1-8:C-QN06-PSHA1`.
//!
//! `OCRA = HMAC(K, suite ‖ 00 ‖ C ‖ Q ‖ P ‖ S ‖ T)`, truncated to the suite's digits:
//! - C (8 bytes): the counter's **decimal digits read as hex** (counter 10 is hashed as `0x10`),
//!   the way the RFC's reference code takes a hex counter string; the same for counters 0–9.
//! - Q (128 bytes): numeric questions are converted from decimal to hex, alphanumeric ones are
//!   their bytes in hex, hex ones are taken as they are; then **right**-padded with `0` to 256 hex
//!   digits.
//! - P: the hash (SHA-1/256/512, as the suite says) of the PIN as text, or a given PIN hash.
//! - S (`Snnn`, nnn bytes): session information in hex, left-padded with zeros.
//! - T (8 bytes): time steps since the epoch (`T30S`, `T1M`, `T1H`, …).

use zeroize::Zeroizing;

use super::otp::{truncate, OtpHash};
use crate::encoding::{hex_decode, hex_encode};
use crate::error::{Error, Result};

/// How a suite's question is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuestionFormat {
    /// `QA`: alphanumeric text.
    Alphanumeric,
    /// `QN`: a decimal number.
    Numeric,
    /// `QH`: hex.
    Hex,
}

/// A parsed OCRA suite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suite {
    text: String,
    /// The HMAC's hash.
    pub hash: OtpHash,
    /// Digits of the answer; 0 = no truncation (the whole HMAC, in hex).
    pub digits: u32,
    /// Whether a counter is part of the input.
    pub counter: bool,
    /// The question's format and its stated maximum length (4 to 64).
    pub question: (QuestionFormat, u32),
    /// The PIN hash's algorithm, when a PIN is part of the input.
    pub pin: Option<OtpHash>,
    /// Session information length in bytes, when part of the input.
    pub session: Option<usize>,
    /// The time step in seconds, when a timestamp is part of the input.
    pub time_step: Option<u64>,
}

fn bad_suite(suite: &str, why: &str) -> Error {
    Error::invalid_argument(format!(
        "ocra: the suite `{}` is not an OCRA suite this library reads: {why}. Example: \
         OCRA-1:HOTP-SHA1-8:C-QN06-PSHA1.",
        super::clip(suite, 80)
    ))
}

impl Suite {
    /// Parses `OCRA-1:HOTP-<hash>-<digits>:[C-]Q<F><xx>[-P<hash>][-S<nnn>][-T<G>]` (any case).
    pub fn parse(suite: &str) -> Result<Self> {
        let upper = suite.trim().to_ascii_uppercase();
        let parts: Vec<&str> = upper.split(':').collect();
        let [version, crypto, data] = parts.as_slice() else {
            return Err(bad_suite(
                suite,
                "it must have three parts separated by `:`",
            ));
        };
        if *version != "OCRA-1" {
            return Err(bad_suite(suite, "it must start with OCRA-1"));
        }
        let c: Vec<&str> = crypto.split('-').collect();
        let [hotp, hash, digits] = c.as_slice() else {
            return Err(bad_suite(
                suite,
                "its crypto function must be HOTP-SHA<n>-<digits>",
            ));
        };
        if *hotp != "HOTP" {
            return Err(bad_suite(suite, "its crypto function must be HOTP"));
        }
        let hash = OtpHash::parse(hash)
            .ok_or_else(|| bad_suite(suite, "its hash must be SHA1, SHA256 or SHA512"))?;
        let digits: u32 = digits
            .parse()
            .ok()
            .filter(|d| *d == 0 || (4..=10).contains(d))
            .ok_or_else(|| bad_suite(suite, "its digits must be 0 or 4 to 10"))?;

        let mut tokens = data.split('-').peekable();
        let counter = tokens.next_if_eq(&"C").is_some();
        let q = tokens
            .next()
            .ok_or_else(|| bad_suite(suite, "its data input needs a question (Q…)"))?;
        let question = parse_question(q).ok_or_else(|| {
            bad_suite(
                suite,
                "its question must be QA, QN or QH with a length 04 to 64",
            )
        })?;
        let mut pin = None;
        let mut session = None;
        let mut time_step = None;
        for t in tokens {
            if let Some(h) = t
                .strip_prefix('P')
                .filter(|_| pin.is_none() && session.is_none() && time_step.is_none())
            {
                pin = Some(OtpHash::parse(h).ok_or_else(|| {
                    bad_suite(suite, "its PIN hash must be PSHA1, PSHA256 or PSHA512")
                })?);
            } else if let Some(n) = t
                .strip_prefix('S')
                .filter(|_| session.is_none() && time_step.is_none())
            {
                session = Some(
                    Some(n)
                        .filter(|n| n.len() == 3 && n.bytes().all(|b| b.is_ascii_digit()))
                        .and_then(|n| n.parse::<usize>().ok())
                        .filter(|n| (1..=512).contains(n))
                        .ok_or_else(|| {
                            bad_suite(suite, "its session length must be Snnn, 001 to 512")
                        })?,
                );
            } else if let Some(g) = t.strip_prefix('T').filter(|_| time_step.is_none()) {
                time_step = Some(parse_time_step(g).ok_or_else(|| {
                    bad_suite(
                        suite,
                        "its time step must be T<1-59>S, T<1-59>M or T<1-48>H",
                    )
                })?);
            } else {
                return Err(bad_suite(
                    suite,
                    "its data input must be [C-]Q…[-P…][-S…][-T…], in that order",
                ));
            }
        }
        Ok(Suite {
            text: suite.trim().to_owned(),
            hash,
            digits,
            counter,
            question,
            pin,
            session,
            time_step,
        })
    }
}

fn parse_question(q: &str) -> Option<(QuestionFormat, u32)> {
    let rest = q.strip_prefix('Q')?;
    let mut chars = rest.chars();
    let format = match chars.next()? {
        'A' => QuestionFormat::Alphanumeric,
        'N' => QuestionFormat::Numeric,
        'H' => QuestionFormat::Hex,
        _ => return None,
    };
    let len = chars.as_str();
    if len.len() != 2 {
        return None;
    }
    let len: u32 = len.parse().ok()?;
    (4..=64).contains(&len).then_some((format, len))
}

fn parse_time_step(g: &str) -> Option<u64> {
    // The unit is the last character, whatever its width (found by fuzzing: a split by bytes
    // panicked inside a multi-byte one).
    let unit = g.chars().next_back()?;
    let n: u64 = g.get(..g.len() - unit.len_utf8())?.parse().ok()?;
    match unit {
        'S' if (1..=59).contains(&n) => Some(n),
        'M' if (1..=59).contains(&n) => Some(n * 60),
        'H' if (1..=48).contains(&n) => Some(n * 3600),
        _ => None,
    }
}

/// The PIN: as text (hashed here with the suite's P hash) or already hashed.
#[derive(Clone, Copy)]
pub enum OcraPin<'a> {
    /// The PIN as the person types it.
    Text(&'a str),
    /// Its hash, bytes.
    Hash(&'a [u8]),
}

/// One OCRA computation's inputs; each must be given exactly when the suite names it.
#[derive(Clone, Copy, Default)]
pub struct OcraInput<'a> {
    /// C: the counter (its decimal digits are read as hex; at most 16 digits).
    pub counter: Option<u64>,
    /// Q: the question as written in the suite's format.
    pub question: &'a str,
    /// P: the PIN.
    pub pin: Option<OcraPin<'a>>,
    /// S: session information, hex.
    pub session_hex: Option<&'a str>,
    /// T: the time, in seconds since the epoch.
    pub unix_seconds: Option<u64>,
}

fn arg(message: String) -> Error {
    Error::invalid_argument(format!("ocra: {message}"))
}

/// Decimal digits → minimal big-endian bytes (schoolbook multiply by 10; no secret involved).
fn decimal_to_bytes(digits: &str) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::new();
    for d in digits.bytes() {
        let mut carry = u32::from(d - b'0');
        for b in out.iter_mut().rev() {
            let v = u32::from(*b) * 10 + carry;
            *b = (v & 0xff) as u8;
            carry = v >> 8;
        }
        while carry > 0 {
            out.insert(0, (carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    out
}

/// The question as hex, before padding.
fn question_hex(format: QuestionFormat, q: &str) -> Result<String> {
    if q.is_empty() {
        return Err(arg("`question` is empty.".into()));
    }
    Ok(match format {
        QuestionFormat::Numeric => {
            if !q.bytes().all(|b| b.is_ascii_digit()) {
                return Err(arg(
                    "the suite's question is numeric (QN): `question` must be decimal digits only."
                        .into(),
                ));
            }
            // 128 bytes hold at most 309 decimal digits; longer ones are refused before the
            // quadratic conversion (a gateway's challenge is outside input).
            if q.trim_start_matches('0').len() > 309 {
                return Err(arg("`question` is longer than OCRA's 128 bytes.".into()));
            }
            crate::keys::hex_minimal(&decimal_to_bytes(q))
        }
        QuestionFormat::Alphanumeric => hex_encode(q.as_bytes()),
        QuestionFormat::Hex => {
            if !q.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(arg(
                    "the suite's question is hex (QH): `question` must be hex digits only.".into(),
                ));
            }
            q.to_ascii_lowercase()
        }
    })
}

/// The OCRA answer of `suite` for `key` and `input`.
pub fn ocra(suite: &str, key: &[u8], input: &OcraInput<'_>) -> Result<String> {
    let s = Suite::parse(suite)?;
    if key.is_empty() {
        return Err(arg("`key` is empty.".into()));
    }
    let mut msg = Zeroizing::new(Vec::with_capacity(
        s.text.len() + 1 + 8 + 128 + 64 + 512 + 8,
    ));
    msg.extend_from_slice(s.text.as_bytes());
    msg.push(0);

    match (s.counter, input.counter) {
        (true, Some(c)) => {
            let c = u64::from_str_radix(&c.to_string(), 16)
                .map_err(|_| arg("`counter` has more than 16 digits.".into()))?;
            msg.extend_from_slice(&c.to_be_bytes());
        }
        (true, None) => return Err(arg("the suite has a counter (C): pass `counter`.".into())),
        (false, Some(_)) => {
            return Err(arg(
                "the suite has no counter (C): do not pass `counter`.".into()
            ))
        }
        (false, None) => {}
    }

    let mut q = question_hex(s.question.0, input.question)?;
    if q.len() > 256 {
        return Err(arg("`question` is longer than OCRA's 128 bytes.".into()));
    }
    while q.len() < 256 {
        q.push('0');
    }
    msg.extend_from_slice(
        &hex_decode(&q).map_err(|e| arg(format!("`question`: {}", e.describe())))?,
    );

    match (s.pin, input.pin) {
        (Some(h), Some(OcraPin::Text(pin))) => msg.extend_from_slice(&h.digest(pin.as_bytes())),
        (Some(h), Some(OcraPin::Hash(hash))) => {
            if hash.len() != h.output_len() {
                return Err(arg(format!(
                    "`pinHash` must be the {}-byte hash the suite names ({} hex digits).",
                    h.output_len(),
                    2 * h.output_len()
                )));
            }
            msg.extend_from_slice(hash);
        }
        (Some(_), None) => {
            return Err(arg(
                "the suite has a PIN (P): pass `pin` or `pinHash`.".into()
            ))
        }
        (None, Some(_)) => return Err(arg("the suite has no PIN (P): do not pass one.".into())),
        (None, None) => {}
    }

    match (s.session, input.session_hex) {
        (Some(n), Some(hex)) => {
            let hex = hex.trim();
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) || hex.len() > 2 * n {
                return Err(arg(format!(
                    "`session` must be at most {} hex digits (the suite's S{n:03}).",
                    2 * n
                )));
            }
            let padded = format!("{}{hex}", "0".repeat(2 * n - hex.len()));
            msg.extend_from_slice(
                &hex_decode(&padded).map_err(|e| arg(format!("`session`: {}", e.describe())))?,
            );
        }
        (Some(_), None) => {
            return Err(arg(
                "the suite has session information (S): pass `session`.".into(),
            ))
        }
        (None, Some(_)) => {
            return Err(arg(
                "the suite has no session information (S): do not pass `session`.".into(),
            ))
        }
        (None, None) => {}
    }

    match (s.time_step, input.unix_seconds) {
        (Some(step), Some(t)) => msg.extend_from_slice(&(t / step).to_be_bytes()),
        (Some(_), None) => return Err(arg("the suite has a timestamp (T): pass `time`.".into())),
        (None, Some(_)) => {
            return Err(arg(
                "the suite has no timestamp (T): do not pass `time`.".into()
            ))
        }
        (None, None) => {}
    }

    let mac = s.hash.hmac(key, &msg)?;
    Ok(if s.digits == 0 {
        hex_encode(&mac)
    } else {
        truncate(&mac, s.digits)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suites_parse() {
        let s = Suite::parse("OCRA-1:HOTP-SHA1-8:C-QN06-PSHA1").unwrap();
        assert_eq!(
            (
                s.hash,
                s.digits,
                s.counter,
                s.question,
                s.pin,
                s.session,
                s.time_step
            ),
            (
                OtpHash::Sha1,
                8,
                true,
                (QuestionFormat::Numeric, 6),
                Some(OtpHash::Sha1),
                None,
                None
            )
        );
        let s = Suite::parse("ocra-1:hotp-sha512-0:QH64-S128-T30S").unwrap();
        assert_eq!((s.digits, s.session, s.time_step), (0, Some(128), Some(30)));
        assert_eq!(
            Suite::parse("OCRA-1:HOTP-SHA256-8:QA10-T1H")
                .unwrap()
                .time_step,
            Some(3600)
        );
        for bad in [
            "",
            "OCRA-2:HOTP-SHA1-6:QN08",
            "OCRA-1:TOTP-SHA1-6:QN08",
            "OCRA-1:HOTP-MD5-6:QN08",
            "OCRA-1:HOTP-SHA1-3:QN08",
            "OCRA-1:HOTP-SHA1-11:QN08",
            "OCRA-1:HOTP-SHA1-6:C",
            "OCRA-1:HOTP-SHA1-6:QX08",
            "OCRA-1:HOTP-SHA1-6:QN65",
            "OCRA-1:HOTP-SHA1-6:QN03",
            "OCRA-1:HOTP-SHA1-6:QN08-PMD5",
            "OCRA-1:HOTP-SHA1-6:QN08-S64",
            "OCRA-1:HOTP-SHA1-6:QN08-T60S",
            "OCRA-1:HOTP-SHA1-6:QN08-T1M-PSHA1",
            "OCRA-1:HOTP-SHA1-6:QN08:extra",
        ] {
            assert!(Suite::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn decimal_conversion() {
        assert_eq!(decimal_to_bytes("12345678"), vec![0xbc, 0x61, 0x4e]);
        assert_eq!(decimal_to_bytes("00000000"), Vec::<u8>::new());
        assert_eq!(decimal_to_bytes("256"), vec![1, 0]);
        assert_eq!(question_hex(QuestionFormat::Numeric, "10").unwrap(), "a");
        assert_eq!(question_hex(QuestionFormat::Numeric, "0").unwrap(), "0");
    }

    #[test]
    fn counter_digits_are_read_as_hex() {
        // Counter 10 is hashed as 0x10 = 16: the same answer as a counter whose hex is 10.
        let key = [7u8; 20];
        let suite = "OCRA-1:HOTP-SHA1-8:C-QN06-PSHA1";
        let with = |counter| {
            ocra(
                suite,
                &key,
                &OcraInput {
                    counter: Some(counter),
                    question: "123456",
                    pin: Some(OcraPin::Text("1234")),
                    ..Default::default()
                },
            )
            .unwrap()
        };
        // Build the expected message by hand for counter 10 → bytes 00..00 10.
        let mut msg = suite.as_bytes().to_vec();
        msg.push(0);
        msg.extend_from_slice(&0x10u64.to_be_bytes());
        let mut q = format!("{:x}", 123456);
        while q.len() < 256 {
            q.push('0');
        }
        msg.extend_from_slice(&hex::decode(q).unwrap());
        msg.extend_from_slice(&OtpHash::Sha1.digest(b"1234"));
        let want = truncate(&OtpHash::Sha1.hmac(&key, &msg).unwrap(), 8);
        assert_eq!(with(10), want);
        assert_ne!(with(10), with(11));
        assert!(ocra(
            suite,
            &key,
            &OcraInput {
                counter: Some(99_999_999_999_999_999),
                question: "1",
                pin: Some(OcraPin::Text("1")),
                ..Default::default()
            }
        )
        .is_err());
    }

    #[test]
    fn inputs_must_match_the_suite() {
        let key = [1u8; 20];
        let base = OcraInput {
            question: "12345678",
            ..Default::default()
        };
        let s = "OCRA-1:HOTP-SHA1-6:QN08";
        assert!(ocra(s, &key, &base).is_ok());
        assert!(ocra(
            s,
            &key,
            &OcraInput {
                counter: Some(1),
                ..base
            }
        )
        .is_err());
        assert!(ocra(
            s,
            &key,
            &OcraInput {
                pin: Some(OcraPin::Text("1")),
                ..base
            }
        )
        .is_err());
        assert!(ocra(
            s,
            &key,
            &OcraInput {
                unix_seconds: Some(1),
                ..base
            }
        )
        .is_err());
        assert!(ocra(
            s,
            &key,
            &OcraInput {
                session_hex: Some("ab"),
                ..base
            }
        )
        .is_err());
        assert!(ocra(
            s,
            &key,
            &OcraInput {
                question: "12a",
                ..base
            }
        )
        .is_err());
        assert!(ocra(
            s,
            &key,
            &OcraInput {
                question: "",
                ..base
            }
        )
        .is_err());
        assert!(ocra(s, &[], &base).is_err());
        assert!(ocra("OCRA-1:HOTP-SHA1-6:C-QN08", &key, &base).is_err());
        assert!(ocra(
            "OCRA-1:HOTP-SHA1-6:QN08-PSHA1",
            &key,
            &OcraInput {
                pin: Some(OcraPin::Hash(&[0; 19])),
                ..base
            }
        )
        .is_err());
        assert!(ocra(
            "OCRA-1:HOTP-SHA1-6:QH08",
            &key,
            &OcraInput {
                question: "zz",
                ..base
            }
        )
        .is_err());
        assert!(ocra(
            "OCRA-1:HOTP-SHA1-6:QH08",
            &key,
            &OcraInput {
                question: &"a".repeat(257),
                ..base
            }
        )
        .is_err());
        assert!(ocra(
            "OCRA-1:HOTP-SHA1-6:QN08-S064",
            &key,
            &OcraInput {
                session_hex: Some(&"a".repeat(129)),
                ..base
            }
        )
        .is_err());
        assert!(ocra(
            "OCRA-1:HOTP-SHA1-6:QN08-S064",
            &key,
            &OcraInput {
                session_hex: Some("ab"),
                ..base
            }
        )
        .is_ok());
        // No truncation: the whole HMAC in hex.
        assert_eq!(
            ocra("OCRA-1:HOTP-SHA256-0:QN08", &key, &base)
                .unwrap()
                .len(),
            64
        );
    }
}
