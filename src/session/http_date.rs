//! Reading the server's clock from its `Date` header, with the `httpdate` crate (RFC 9110's
//! IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`, and the two obsolete forms it allows).

use std::time::UNIX_EPOCH;

/// Milliseconds since the epoch, or `None` if `s` is not an HTTP date.
pub fn parse_http_date(s: &str) -> Option<f64> {
    let t = httpdate::parse_http_date(s.trim()).ok()?;
    let since = t.duration_since(UNIX_EPOCH).ok()?;
    Some(since.as_secs() as f64 * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_imf_fixdate() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777_000.0)
        );
        assert_eq!(
            parse_http_date("Tue, 14 Nov 2023 22:13:20 GMT"),
            Some(1_700_000_000_000.0)
        );
        assert_eq!(
            parse_http_date("Thu, 29 Feb 2024 00:00:00 GMT"),
            Some(1_709_164_800_000.0)
        );
        for bad in [
            "",
            "yesterday",
            "Sun, 06 Nov 1994 08:49:37 CET",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }
}
