//! OAuth 2.0 with `private_key_jwt`, as IBKR does it: the RS256 client assertion for the token
//! endpoint, and the signed SSO-session request that yields the bearer token for `/v1/api`.
//!
//! JWTs are serialised byte for byte as PyJWT (and so ibauth) does: header keys sorted, claims in
//! a fixed order, compact separators, non-ASCII escaped as `\uXXXX`.

use crate::encoding::{b64url_encode, pct_encode};
use crate::error::{Error, Result};
use crate::keys::PrivateKey;

/// IBKR's token endpoint path, under `https://api.ibkr.com`.
pub const TOKEN_PATH: &str = "/oauth2/api/v1/token";
/// IBKR's SSO-session endpoint path, under `https://api.ibkr.com`.
pub const SSO_SESSIONS_PATH: &str = "/gw/api/v1/sso-sessions";
/// The scope the token is asked for.
pub const SCOPE: &str = "sso-sessions.write";
/// The `aud` of the client assertion.
pub const AUDIENCE: &str = "/token";

/// A JSON string literal with Python's `json.dumps` escaping (`ensure_ascii=True`).
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str("\\u");
                    out.push_str(&crate::encoding::hex_encode(&unit.to_be_bytes()));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn check_text(name: &str, value: &str, fix: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::invalid_argument(format!("{name} is empty: {fix}")));
    }
    Ok(())
}

fn check_ip(name: &str, ip: &str) -> Result<()> {
    if is_ip_address(ip.as_bytes()) {
        return Ok(());
    }
    Err(Error::invalid_argument(format!(
        "{name} must be an IPv4 or IPv6 address (the machine's public IP, as IBKR sees it), e.g. 203.0.113.7."
    )))
}

/// Whether `s` is an IPv4 or IPv6 address in the forms `std::net::IpAddr` accepts (tested
/// against it): dotted decimal without leading zeros; eight groups of one to four hex digits,
/// `::` standing for at least one, the last two optionally as dotted decimal; no zone. Our own
/// because the standard library's general parser is ~3.5 KB of the `.wasm`.
fn is_ip_address(s: &[u8]) -> bool {
    is_ipv4(s) || is_ipv6(s)
}

fn is_ipv4(s: &[u8]) -> bool {
    let mut parts = 0;
    for part in s.split(|&b| b == b'.') {
        parts += 1;
        let ok = matches!(part.len(), 1..=3)
            && (part.len() == 1 || part[0] != b'0')
            && part
                .iter()
                .try_fold(0u32, |v, &b| {
                    b.is_ascii_digit().then(|| v * 10 + u32::from(b - b'0'))
                })
                .is_some_and(|v| v <= 255);
        if !ok || parts > 4 {
            return false;
        }
    }
    parts == 4
}

fn is_ipv6(s: &[u8]) -> bool {
    // Groups in `part` (`:`-separated, none if empty); dotted decimal counts two, last only.
    fn groups(part: &[u8], v4_last: bool) -> Option<usize> {
        if part.is_empty() {
            return Some(0);
        }
        let count = part.split(|&b| b == b':').count();
        let mut n = 0;
        for (i, g) in part.split(|&b| b == b':').enumerate() {
            n += if v4_last && i + 1 == count && is_ipv4(g) {
                2
            } else if matches!(g.len(), 1..=4) && g.iter().all(u8::is_ascii_hexdigit) {
                1
            } else {
                return None;
            };
        }
        Some(n)
    }
    match s.windows(2).position(|w| w == b"::") {
        Some(i) => {
            let (head, tail) = (&s[..i], &s[i + 2..]);
            matches!((groups(head, false), groups(tail, true)), (Some(h), Some(t)) if h + t <= 7)
        }
        None => groups(s, true) == Some(8),
    }
}

fn check_client(client_id: &str, client_key_id: &str) -> Result<()> {
    check_text(
        "clientId",
        client_id,
        "pass the client id IBKR registered for your app.",
    )?;
    check_text(
        "clientKeyId",
        client_key_id,
        "pass the key id (kid) IBKR registered with your public key.",
    )
}

/// A compact RS256 JWT: `base64url(header).base64url(payload).base64url(signature)`.
pub fn jwt(kid: &str, payload_json: &str, key: &PrivateKey) -> Result<String> {
    let header = format!(
        "{{\"alg\":\"RS256\",\"kid\":{},\"typ\":\"JWT\"}}",
        json_str(kid)
    );
    let signing_input = format!(
        "{}.{}",
        b64url_encode(header.as_bytes()),
        b64url_encode(payload_json.as_bytes())
    );
    let signature = key.sign_sha256(signing_input.as_bytes())?;
    Ok(format!("{signing_input}.{}", b64url_encode(&signature)))
}

/// The client assertion: `{"iss":id,"sub":id,"aud":"/token","exp":now+20,"iat":now-10}`.
pub fn client_assertion(
    client_id: &str,
    client_key_id: &str,
    key: &PrivateKey,
    now_s: i64,
) -> Result<String> {
    check_client(client_id, client_key_id)?;
    let id = json_str(client_id);
    let payload = format!(
        "{{\"iss\":{id},\"sub\":{id},\"aud\":{},\"exp\":{},\"iat\":{}}}",
        json_str(AUDIENCE),
        now_s + 20,
        now_s - 10
    );
    jwt(client_key_id, &payload, key)
}

/// Checks what goes into the SSO-session JWT; `ip: None` when it is looked up later.
pub fn check_sso_inputs(
    client_id: &str,
    client_key_id: &str,
    credential: &str,
    ip: Option<&str>,
    alternative_ips: &[String],
) -> Result<()> {
    check_client(client_id, client_key_id)?;
    check_text(
        "credential",
        credential,
        "pass the IBKR username the session is for.",
    )?;
    if let Some(ip) = ip {
        check_ip("ip", ip)?;
    }
    alternative_ips
        .iter()
        .try_for_each(|alt| check_ip("alternativeIps", alt))
}

/// The SSO-session request:
/// `{"ip":ip,"credential":username,"iss":id,"exp":now+86400,"iat":now[,"alternativeIps":[…]]}`.
pub fn sso_session_jwt(
    client_id: &str,
    client_key_id: &str,
    credential: &str,
    ip: &str,
    key: &PrivateKey,
    now_s: i64,
    alternative_ips: &[String],
) -> Result<String> {
    check_sso_inputs(
        client_id,
        client_key_id,
        credential,
        Some(ip),
        alternative_ips,
    )?;
    let mut payload = format!(
        "{{\"ip\":{},\"credential\":{},\"iss\":{},\"exp\":{},\"iat\":{now_s}",
        json_str(ip),
        json_str(credential),
        json_str(client_id),
        now_s + 86_400
    );
    if !alternative_ips.is_empty() {
        payload.push_str(",\"alternativeIps\":[");
        for (i, ip) in alternative_ips.iter().enumerate() {
            if i > 0 {
                payload.push(',');
            }
            payload.push_str(&json_str(ip));
        }
        payload.push(']');
    }
    payload.push('}');
    jwt(client_key_id, &payload, key)
}

/// The token request's form body, in ibauth's field order.
pub fn token_form(client_assertion: &str) -> String {
    format!(
        "grant_type=client_credentials&client_assertion={}&client_assertion_type={}&scope={}",
        pct_encode(client_assertion),
        pct_encode("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        pct_encode(SCOPE)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_addresses_as_std_reads_them() {
        let cases = [
            "203.0.113.7",
            "0.0.0.0",
            "255.255.255.255",
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "1..2.3",
            "1.2.3.4 ",
            "",
            ".",
            "1.2.3.-4",
            "::",
            "::1",
            "1::",
            "1::2",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7:8:9",
            "1:2:3:4:5:6:7",
            "1:2:3:4:5:6:7::",
            "::2:3:4:5:6:7:8",
            "1:2:3:4::5:6:7:8",
            ":::",
            "1:::2",
            ":1::",
            "::1:",
            "1::2::3",
            "12345::",
            "abcd:EF01::",
            "g::",
            "::ffff:1.2.3.4",
            "1:2:3:4:5:6:1.2.3.4",
            "1:2:3:4:5:6:7:1.2.3.4",
            "1.2.3.4::",
            "::1.2.3.04",
            "1:2:3:4:5::1.2.3.4",
            "1:2:3:4:5:6::1.2.3.4",
            "fe80::1%eth0",
            "[::1]",
            "0000:0000::0000",
            "::1.2.3",
            "1.2.3.4:5::",
        ];
        for c in cases {
            assert_eq!(
                is_ip_address(c.as_bytes()),
                c.parse::<std::net::IpAddr>().is_ok(),
                "{c:?}"
            );
        }
        // Random addresses near the edges: octets and groups of every length, one or two `::`,
        // dotted decimal anywhere.
        fn next(state: &mut u64, n: u64) -> u64 {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            *state % n
        }
        fn v4(st: &mut u64) -> String {
            let octets = [
                "0", "7", "00", "01", "10", "99", "199", "255", "256", "1000", "",
            ];
            let parts = 3 + next(st, 3) as usize;
            let o: Vec<&str> = (0..parts).map(|_| octets[next(st, 11) as usize]).collect();
            o.join(".")
        }
        let st = &mut 0x2545_f491_4f6c_dd1du64;
        let mut valid = 0;
        for _ in 0..100_000 {
            let s = if next(st, 3) == 0 {
                v4(st)
            } else {
                let mut s = String::new();
                for g in 0..next(st, 10) {
                    if g > 0 {
                        s.push_str(if next(st, 8) == 0 { "::" } else { ":" });
                    }
                    if next(st, 10) == 0 {
                        s.push_str(&v4(st));
                    } else {
                        for _ in 0..next(st, 6) {
                            s.push(b"0a9Ff"[next(st, 5) as usize] as char);
                        }
                    }
                }
                match next(st, 6) {
                    0 => format!("::{s}"),
                    1 => format!("{s}::"),
                    _ => s,
                }
            };
            let std_ok = s.parse::<std::net::IpAddr>().is_ok();
            assert_eq!(is_ip_address(s.as_bytes()), std_ok, "{s:?}");
            valid += usize::from(std_ok);
        }
        // The generator reaches valid addresses too, not only rejections.
        assert!(valid > 2_000, "{valid}");
    }

    #[test]
    fn python_json_escaping() {
        assert_eq!(json_str("a\"b\\c/d"), "\"a\\\"b\\\\c/d\"");
        assert_eq!(
            json_str("é€😀\u{1}\n"),
            "\"\\u00e9\\u20ac\\ud83d\\ude00\\u0001\\n\""
        );
    }
}
