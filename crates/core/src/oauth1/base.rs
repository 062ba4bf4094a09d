//! The OAuth 1.0a signature base string and `Authorization` header, as IBKR wants them.
//!
//! ```text
//! param_string = "&".join(k + "=" + v for k, v in sorted(params))   # raw values, code-point order
//! base_string  = [prepend] + METHOD + "&" + pct(url_without_query) + "&" + pct(param_string)
//! ```
//! Values are joined raw and encoded once, as a whole (IBKR's rule; classic RFC 5849 would encode
//! each value first). `realm` and `oauth_signature` never enter the base string.

use crate::encoding::{form_decode, pct_encode_into};
use crate::error::{Error, Result};

/// A URL split into what OAuth signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitUrl {
    /// `scheme://host[:port]/path`, scheme and host lowercased, default port removed.
    pub base: String,
    /// The query's parameters, decoded (`+` is a space), in their original order.
    pub query: Vec<(String, String)>,
}

/// A URL's signed parts, borrowed from it (nothing is allocated until they are written).
struct UrlParts<'a> {
    /// `https` or `http`.
    scheme: &'static str,
    /// `host[:port]` as written, default port removed; lowercased when written.
    host_port: &'a str,
    /// The path, `/` when empty.
    path: &'a str,
    /// The raw query, without `?`.
    query: Option<&'a str>,
}

impl<'a> UrlParts<'a> {
    fn parse(url: &'a str) -> Result<Self> {
        let url = url.trim();
        let bad = |why: &str| {
            Error::invalid_argument(format!(
                "url {why}: pass an absolute URL such as https://api.ibkr.com/v1/api/tickle."
            ))
        };
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(bad("has no scheme"));
        };
        let (scheme, default_port) = if scheme.eq_ignore_ascii_case("https") {
            ("https", "443")
        } else if scheme.eq_ignore_ascii_case("http") {
            ("http", "80")
        } else {
            return Err(bad("must start with https:// or http://"));
        };
        let without_fragment = rest.split_once('#').map_or(rest, |(a, _)| a);
        let (before_query, query) = match without_fragment.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (without_fragment, None),
        };
        // `i` is at an ASCII byte (or the end), so both halves exist; `get` just cannot panic
        let i = before_query.find('/').unwrap_or(before_query.len());
        let authority = before_query.get(..i).unwrap_or_default();
        let path = before_query.get(i..).unwrap_or_default();
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if host_port.is_empty() {
            return Err(bad("has no host"));
        }
        if host_port
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(bad("has whitespace in its host"));
        }
        let host_port = match host_port.rsplit_once(':') {
            Some((h, p)) if p == default_port && !h.is_empty() => h,
            _ => host_port,
        };
        let path = if path.is_empty() { "/" } else { path };
        Ok(UrlParts {
            scheme,
            host_port,
            path,
            query,
        })
    }

    /// The query's parameters, decoded (`+` is a space), in their original order.
    fn query_params(&self) -> Vec<(String, String)> {
        let mut params = Vec::new();
        for pair in self.query.unwrap_or("").split('&') {
            if !pair.is_empty() {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                params.push((form_decode(k), form_decode(v)));
            }
        }
        params
    }

    /// `scheme://host[:port]/path` with the host lowercased, passed to `write` in pieces.
    fn write_base(&self, mut write: impl FnMut(&str)) {
        write(self.scheme);
        write("://");
        if self.host_port.bytes().any(|b| b.is_ascii_uppercase()) {
            write(&self.host_port.to_ascii_lowercase());
        } else {
            write(self.host_port);
        }
        write(self.path);
    }
}

/// Splits an absolute `http(s)` URL into its normalised base and its decoded query parameters.
pub fn split_url(url: &str) -> Result<SplitUrl> {
    let parts = UrlParts::parse(url)?;
    let mut base = String::with_capacity(url.len());
    parts.write_base(|piece| base.push_str(piece));
    Ok(SplitUrl {
        base,
        query: parts.query_params(),
    })
}

fn is_excluded(key: &str) -> bool {
    key == "realm" || key == "oauth_signature"
}

/// Checks an HTTP method (letters only) and returns it trimmed, in its original case.
fn checked_method(method: &str) -> Result<&str> {
    let m = method.trim();
    if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(Error::invalid_argument(
            "method must be an HTTP method such as GET or POST.",
        ));
    }
    Ok(m)
}

/// Checks an HTTP method: letters only; returned uppercased.
pub fn normalise_method(method: &str) -> Result<String> {
    Ok(checked_method(method)?.to_ascii_uppercase())
}

/// Builds the signature base string.
///
/// * `params`: the OAuth parameters (and any form or extra parameters to sign), raw values.
/// * `prepend`: glued in front, unencoded (the LST request's decrypted secret in hex).
/// * `sign_query`: merge the URL's query parameters into the sorted list (IBKR's documented
///   style); `false` signs the URL without them (ibind's style).
///
/// Percent-encoding works byte by byte, so the parameter string is encoded piece by piece
/// straight into the result (`&` is `%26`, `=` is `%3D`) rather than built first.
pub fn base_string<K: AsRef<str>, V: AsRef<str>>(
    method: &str,
    url: &str,
    params: &[(K, V)],
    prepend: Option<&str>,
    sign_query: bool,
) -> Result<String> {
    let params: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect();
    base_string_of(method, url, &params, prepend, sign_query)
}

/// [`base_string`] on borrowed parameters: one instance of the code for every caller, and the
/// signing path's own entry (its parameters are borrowed already).
pub fn base_string_of(
    method: &str,
    url: &str,
    params: &[(&str, &str)],
    prepend: Option<&str>,
    sign_query: bool,
) -> Result<String> {
    let method = checked_method(method)?;
    let parts = UrlParts::parse(url)?;
    let query = if sign_query {
        parts.query_params()
    } else {
        Vec::new()
    };
    let mut all: Vec<(&str, &str)> = Vec::with_capacity(params.len() + query.len());
    all.extend_from_slice(params);
    all.extend(query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    all.retain(|(k, _)| !is_excluded(k));
    sort_params(&mut all);
    let prepend = prepend.unwrap_or("");
    let params_len: usize = all.iter().map(|(k, v)| k.len() + v.len() + 6).sum();
    let mut out =
        String::with_capacity(prepend.len() + method.len() + url.len() * 2 + params_len * 2);
    out.push_str(prepend);
    out.extend(method.chars().map(|c| c.to_ascii_uppercase()));
    out.push('&');
    parts.write_base(|piece| pct_encode_into(&mut out, piece));
    out.push('&');
    for (i, (k, v)) in all.iter().enumerate() {
        if i > 0 {
            out.push_str("%26");
        }
        pct_encode_into(&mut out, k);
        out.push_str("%3D");
        pct_encode_into(&mut out, v);
    }
    Ok(out)
}

/// Checks a realm: it is quoted into the header, so no quotes, backslashes or control characters.
pub fn check_realm(realm: &str) -> Result<()> {
    if realm.is_empty()
        || realm
            .chars()
            .any(|c| c == '"' || c == '\\' || c.is_control())
    {
        return Err(Error::invalid_argument(
            "realm must be a plain word such as limited_poa (or test_realm with the TESTCONS consumer key).",
        ));
    }
    Ok(())
}

/// Builds `OAuth realm="…", k="v", …` with the parameters in code-point order and
/// `oauth_signature` (percent-encoded) among them. Keys and values are percent-encoded, which
/// leaves IBKR's usual values (hex, digits, `RSA-SHA256`, `oob`) unchanged.
pub fn authorization_header<K: AsRef<str>, V: AsRef<str>>(
    realm: &str,
    params: &[(K, V)],
    signature: &str,
) -> Result<String> {
    let params: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect();
    authorization_header_of(realm, &params, signature)
}

/// [`authorization_header`] on borrowed parameters: one instance of the code for every caller,
/// and the signing path's own entry.
pub fn authorization_header_of(
    realm: &str,
    params: &[(&str, &str)],
    signature: &str,
) -> Result<String> {
    check_realm(realm)?;
    if signature.is_empty() {
        return Err(Error::invalid_argument(
            "signature is empty: pass the base64 signature of the base string.",
        ));
    }
    let mut all: Vec<(&str, &str)> = Vec::with_capacity(params.len() + 1);
    all.extend_from_slice(params);
    all.retain(|(k, _)| !is_excluded(k));
    all.push(("oauth_signature", signature));
    sort_params(&mut all);
    let mut out = String::with_capacity(
        64 + all
            .iter()
            .map(|(k, v)| k.len() + v.len() * 2 + 5)
            .sum::<usize>(),
    );
    out.push_str("OAuth realm=\"");
    out.push_str(realm);
    out.push('"');
    for (k, v) in all {
        out.push_str(", ");
        pct_encode_into(&mut out, k);
        out.push_str("=\"");
        pct_encode_into(&mut out, v);
        out.push('"');
    }
    Ok(out)
}

/// Joins a base URL and a path with exactly one `/` between them.
pub fn join_url(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim().trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// Sorts parameters by name, then value, in byte order (for UTF-8, code-point order).
fn sort_params(v: &mut [(&str, &str)]) {
    v.sort_unstable();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_normalises() {
        let s = split_url("HTTPS://API.ibkr.com:443/v1/api/x?b=2&a=1%2C2&flag&c=a+b#frag").unwrap();
        assert_eq!(s.base, "https://api.ibkr.com/v1/api/x");
        assert_eq!(
            s.query,
            vec![
                ("b".into(), "2".into()),
                ("a".into(), "1,2".into()),
                ("flag".into(), "".into()),
                ("c".into(), "a b".into())
            ]
        );
        assert_eq!(split_url("https://h:5000").unwrap().base, "https://h:5000/");
        assert_eq!(split_url("http://h:80/p").unwrap().base, "http://h/p");
        assert_eq!(split_url("https://h:80/p").unwrap().base, "https://h:80/p");
        for bad in [
            "",
            "api.ibkr.com/x",
            "ftp://h/x",
            "https:///x",
            "https://a b/x",
        ] {
            assert!(split_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn excluded_params_never_signed() {
        let with = base_string(
            "get",
            "https://h/p?realm=x",
            &[("a", "1"), ("oauth_signature", "s")],
            None,
            true,
        )
        .unwrap();
        assert_eq!(with, "GET&https%3A%2F%2Fh%2Fp&a%3D1");
    }

    #[test]
    fn sorts_by_key_then_value_in_code_points() {
        let b = base_string(
            "GET",
            "https://h/p?z=1&a=2&a=1&B=0&é=1",
            &[] as &[(&str, &str)],
            None,
            true,
        )
        .unwrap();
        assert_eq!(
            b,
            "GET&https%3A%2F%2Fh%2Fp&B%3D0%26a%3D1%26a%3D2%26z%3D1%26%C3%A9%3D1"
        );
    }

    #[test]
    fn parameter_sort_matches_the_standard_sort() {
        let words = ["", "a", "a", "b", "B", "ab", "é", "a=", "oauth_nonce", "z"];
        let mut seed = 0x9e37_79b9_u32;
        let mut next = |n: usize| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 16) as usize % n
        };
        for len in 0..40 {
            for _ in 0..20 {
                let v: Vec<(&str, &str)> = (0..len)
                    .map(|_| (words[next(words.len())], words[next(words.len())]))
                    .collect();
                let (mut ours, mut std) = (v.clone(), v);
                sort_params(&mut ours);
                std.sort_unstable();
                assert_eq!(ours, std);
            }
        }
    }

    #[test]
    fn header_rejects_unsafe_realm() {
        assert!(authorization_header("a\"b", &[("k", "v")], "sig").is_err());
        assert!(authorization_header("", &[("k", "v")], "sig").is_err());
        assert!(authorization_header("r", &[("k", "v")], "").is_err());
        assert_eq!(
            authorization_header("r", &[("oauth_callback", "https://x/cb")], "a+b=").unwrap(),
            "OAuth realm=\"r\", oauth_callback=\"https%3A%2F%2Fx%2Fcb\", oauth_signature=\"a%2Bb%3D\""
        );
    }

    #[test]
    fn join() {
        assert_eq!(
            join_url("https://api.ibkr.com/v1/api/", "/tickle"),
            "https://api.ibkr.com/v1/api/tickle"
        );
        assert_eq!(
            join_url("https://api.ibkr.com/v1/api", "tickle"),
            "https://api.ibkr.com/v1/api/tickle"
        );
    }
}
