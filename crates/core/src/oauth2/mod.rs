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
    if ip.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    Err(Error::invalid_argument(format!(
        "{name} must be an IPv4 or IPv6 address (the machine's public IP, as IBKR sees it), e.g. 203.0.113.7."
    )))
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
    let input = jwt_signing_input(kid, payload_json);
    let signature = key.sign_sha256(input.as_bytes())?;
    Ok(jwt_signed(&input, &signature))
}

/// What an RS256 JWT signs: `base64url(header).base64url(payload)`.
pub fn jwt_signing_input(kid: &str, payload_json: &str) -> String {
    let header = format!(
        "{{\"alg\":\"RS256\",\"kid\":{},\"typ\":\"JWT\"}}",
        json_str(kid)
    );
    format!(
        "{}.{}",
        b64url_encode(header.as_bytes()),
        b64url_encode(payload_json.as_bytes())
    )
}

/// The compact JWT from its signing input and its RS256 signature (made by [`jwt`] or a host).
pub fn jwt_signed(signing_input: &str, signature: &[u8]) -> String {
    format!("{signing_input}.{}", b64url_encode(signature))
}

/// The client assertion: `{"iss":id,"sub":id,"aud":"/token","exp":now+20,"iat":now-10}`.
pub fn client_assertion(
    client_id: &str,
    client_key_id: &str,
    key: &PrivateKey,
    now_s: i64,
) -> Result<String> {
    let input = client_assertion_input(client_id, client_key_id, now_s)?;
    Ok(jwt_signed(&input, &key.sign_sha256(input.as_bytes())?))
}

/// The client assertion's signing input (see [`client_assertion`]).
pub fn client_assertion_input(client_id: &str, client_key_id: &str, now_s: i64) -> Result<String> {
    check_client(client_id, client_key_id)?;
    let id = json_str(client_id);
    let payload = format!(
        "{{\"iss\":{id},\"sub\":{id},\"aud\":{},\"exp\":{},\"iat\":{}}}",
        json_str(AUDIENCE),
        now_s + 20,
        now_s - 10
    );
    Ok(jwt_signing_input(client_key_id, &payload))
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
    let input = sso_session_jwt_input(
        client_id,
        client_key_id,
        credential,
        ip,
        now_s,
        alternative_ips,
    )?;
    Ok(jwt_signed(&input, &key.sign_sha256(input.as_bytes())?))
}

/// The SSO-session JWT's signing input (see [`sso_session_jwt`]).
pub fn sso_session_jwt_input(
    client_id: &str,
    client_key_id: &str,
    credential: &str,
    ip: &str,
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
    Ok(jwt_signing_input(client_key_id, &payload))
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
    fn python_json_escaping() {
        assert_eq!(json_str("a\"b\\c/d"), "\"a\\\"b\\\\c/d\"");
        assert_eq!(
            json_str("é€😀\u{1}\n"),
            "\"\\u00e9\\u20ac\\ud83d\\ude00\\u0001\\n\""
        );
    }
}
