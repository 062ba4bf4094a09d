//! The session's API base URLs: which one is in use, switching at run time or after a 410,
//! whether a URL is on one of them (only those get signed), and how a call's target becomes the
//! URL to send plus the path the pacer counts. The bookkeeping ([`Bases`]) is pure.

use super::{Call, Host, Level, Session};
use crate::encoding::pct_encode;
use crate::error::{Error, Result};
use crate::oauth1;

/// A base URL as it is kept: trimmed, without a trailing `/`.
pub(crate) fn clean(base: &str) -> &str {
    base.trim().trim_end_matches('/')
}

/// API base URLs (`Options::base_urls`, plus any set at run time) and the one in use. Every
/// entry is kept [`clean`], so nothing that reads them trims again.
#[derive(Debug, Clone, Default)]
pub(crate) struct Bases {
    list: Vec<String>,
    index: usize,
}

impl Bases {
    /// The given bases, the first in use.
    pub(crate) fn new(list: &[String]) -> Self {
        Bases {
            list: list.iter().map(|b| clean(b).to_owned()).collect(),
            index: 0,
        }
    }

    /// The base in use.
    pub(crate) fn current(&self) -> String {
        self.list.get(self.index).cloned().unwrap_or_default()
    }

    /// Makes `url` the base in use, adding it (clean) if it is new; returns it as kept.
    pub(crate) fn select(&mut self, url: &str) -> String {
        let url = clean(url);
        let i = match self.list.iter().position(|b| b.eq_ignore_ascii_case(url)) {
            Some(i) => i,
            None => {
                self.list.push(url.to_owned());
                self.list.len() - 1
            }
        };
        self.index = i;
        self.current()
    }

    /// Moves to the next base (after a 410), when there is more than one; returns it.
    pub(crate) fn advance(&mut self) -> Option<String> {
        let n = self.list.len();
        if n > 1 {
            self.index = (self.index + 1) % n;
            return Some(self.current());
        }
        None
    }

    /// For an absolute URL on one of the bases: the length of the base part of `url.trim()`
    /// (ASCII case-insensitive; the base must end at `/`, `?` or the end). No allocation: this
    /// runs on every signature.
    pub(crate) fn own_prefix(&self, url: &str) -> Option<usize> {
        let url = url.trim();
        self.list.iter().find_map(|base| {
            let head = url.get(..base.len())?;
            let rest = url.get(base.len()..)?;
            (head.eq_ignore_ascii_case(base)
                && matches!(rest.as_bytes().first(), None | Some(b'/' | b'?')))
            .then_some(base.len())
        })
    }

    /// For an absolute URL on one of the bases: the path after the base, with its query.
    pub(crate) fn split_own(&self, url: &str) -> Option<String> {
        let n = self.own_prefix(url)?;
        Some(url.trim().get(n..).unwrap_or_default().to_owned())
    }

    /// The URL for `target` (a path, or an absolute URL on one of the bases) and `query` on the
    /// base in use, and the path used for pacing.
    pub(crate) fn resolve(
        &self,
        target: &str,
        query: &[(String, String)],
    ) -> Result<(String, String)> {
        let rel = if target.starts_with("http://") || target.starts_with("https://") {
            self.split_own(target).ok_or_else(|| {
                Error::invalid_argument("the URL is not on this session's API base URL; the session signs only its own hosts.")
            })?
        } else {
            target.to_owned()
        };
        let rel = if matches!(rel.as_bytes().first(), None | Some(b'/' | b'?')) {
            rel
        } else {
            format!("/{rel}")
        };
        let mut url = format!("{}{}", self.current(), rel);
        if !query.is_empty() {
            url.push(if url.contains('?') { '&' } else { '?' });
            for (i, (k, v)) in query.iter().enumerate() {
                if i > 0 {
                    url.push('&');
                }
                url.push_str(&pct_encode(k));
                url.push('=');
                url.push_str(&pct_encode(v));
            }
        }
        let end = rel.bytes().position(|b| b == b'?' || b == b'#');
        let path = rel
            .get(..end.unwrap_or(rel.len()))
            .unwrap_or_default()
            .to_owned();
        Ok((url, path))
    }
}

/// A base URL: absolute `http(s)`, and no whitespace or control character inside it (found by
/// fuzzing: a base with a form feed before its trailing `/` was used to send, but was not
/// recognised as the session's own when the URL came back). No user name or password (they
/// would reach logs and error messages) and no query or fragment (paths are appended to the
/// base). The messages never repeat the URL.
pub(crate) fn check_base(url: &str) -> Result<()> {
    let trimmed = url.trim();
    let after_scheme = trimmed.find("://").map_or(trimmed, |i| &trimmed[i + 3..]);
    if authority(after_scheme).contains('@') {
        return Err(Error::invalid_argument(
            "baseUrl has a user name or password in it (user:password@host): pass the API base URL without them, such as https://api.ibkr.com/v1/api.",
        ));
    }
    if trimmed.contains(['?', '#']) {
        return Err(Error::invalid_argument(
            "baseUrl has a query (?) or fragment (#) in it: pass the API base URL alone, such as https://api.ibkr.com/v1/api; give query parameters with each call.",
        ));
    }
    oauth1::base::split_url(url)?;
    if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid_argument(
            "baseUrl has a space or a control character in it: pass an API base URL such as https://api.ibkr.com/v1/api.",
        ));
    }
    Ok(())
}

/// The authority (`[user[:password]@]host[:port]`) at the start of what follows `scheme://`.
fn authority(after_scheme: &str) -> &str {
    after_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default()
}

/// Where a URL points: `scheme://host[:port]`, or `//host[:port]` for a scheme-relative one;
/// never its user name or password, path, query or fragment (they may hold secrets). `None`
/// for a path on the same host.
pub(crate) fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) if !scheme.contains(['/', '?', '#']) => (scheme, rest),
        _ => ("", url.strip_prefix("//")?),
    };
    let authority = authority(rest);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    Some(if scheme.is_empty() {
        format!("//{host}")
    } else {
        format!("{scheme}://{host}")
    })
}

/// A URL without its query (the part that may carry a token), for logs and messages.
pub(crate) fn without_query(url: &str) -> &str {
    url.split_once('?').map_or(url, |(before, _)| before)
}

impl<H: Host> Session<H> {
    /// The base URL in use.
    pub fn base_url(&self) -> String {
        self.inner.state.borrow().bases.current()
    }

    /// Switches the API base at run time (e.g. to `https://1.api.ibkr.com/v1/api`). The session's
    /// token stays; if the new host refuses it, the usual 401 recovery makes a new one.
    pub fn set_base_url(&self, url: &str) -> Result<()> {
        check_base(url)?;
        let url = self.inner.state.borrow_mut().bases.select(url);
        self.log(Level::Info, &format!("API base is now {url}"));
        Ok(())
    }

    /// Whether `url` is on one of the session's API bases (only those get a signature).
    pub fn is_own_url(&self, url: &str) -> bool {
        self.inner.state.borrow().bases.own_prefix(url).is_some()
    }

    /// `scheme://host[:port]` of the current API base (OAuth 2.0's endpoints live there too).
    pub(crate) fn origin(&self) -> String {
        let base = self.base_url();
        // A base is absolute (`check_base`), so it always has an origin.
        origin(&base).unwrap_or(base)
    }

    /// The URL for a call on the current base, and the path used for pacing.
    pub(crate) fn resolve(&self, call: &Call<H::Value>) -> Result<(String, String)> {
        self.inner
            .state
            .borrow()
            .bases
            .resolve(&call.target, &call.query)
    }

    /// After a 410: the next base URL, when there is one.
    pub(crate) fn next_base(&self) {
        let moved = self.inner.state.borrow_mut().bases.advance();
        if let Some(to) = moved {
            self.log(Level::Warn, &format!("410 Gone: moving to {to}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base_error(url: &str) -> String {
        let e = check_base(url).unwrap_err();
        assert_eq!(e.code(), crate::error::ErrorCode::InvalidArgument, "{url}");
        e.message().to_owned()
    }

    #[test]
    fn a_base_is_checked() {
        for ok in [
            "https://api.ibkr.com/v1/api",
            "https://api.ibkr.com/v1/api/",
            " http://127.0.0.1:5000/v1/api ",
            "https://api.ibkr.com/v1/api\t",
        ] {
            assert!(check_base(ok).is_ok(), "{ok}");
        }
        for bad in [
            "https://api.ibkr.com/v1/api\u{c}/",
            "https://api.ibkr.com/v1 /api",
            "https://api.ibkr.com/v1\t/api",
            "api.ibkr.com/v1/api",
        ] {
            base_error(bad);
        }
    }

    #[test]
    fn a_base_with_a_password_query_or_fragment_is_refused_without_echoing_it() {
        for bad in [
            "https://user:s3cr3tpw@api.ibkr.com/v1/api",
            "https://user@api.ibkr.com/v1/api",
            " https://user:s3cr3tpw@api.ibkr.com ",
        ] {
            let m = base_error(bad);
            assert!(m.contains("user name or password"), "{m}");
            assert!(!m.contains("s3cr3tpw") && !m.contains("user@"), "{m}");
        }
        for bad in [
            "https://api.ibkr.com/v1/api?x=1",
            "https://api.ibkr.com/v1/api#s3cr3tpw",
            "https://api.ibkr.com?x=1",
            // An '@' in the query is not userinfo either.
            "https://api.ibkr.com?x=a@b",
        ] {
            let m = base_error(bad);
            assert!(m.contains("query (?) or fragment (#)"), "{m}");
            assert!(!m.contains("s3cr3tpw"), "{m}");
        }
        // An '@' in the path is not userinfo.
        assert!(check_base("https://api.ibkr.com/v1/@api").is_ok());
    }

    fn bases() -> Bases {
        Bases::new(&[
            "https://api.ibkr.com/v1/api".into(),
            " https://1.api.ibkr.com/v1/api/".into(),
        ])
    }

    #[test]
    fn own_urls_end_at_a_boundary_and_ignore_case() {
        let b = bases();
        assert_eq!(
            b.split_own(" HTTPS://api.ibkr.com/v1/api/tickle?x=1")
                .as_deref(),
            Some("/tickle?x=1")
        );
        assert_eq!(
            b.split_own("https://1.api.ibkr.com/v1/api").as_deref(),
            Some("")
        );
        assert_eq!(b.split_own("https://api.ibkr.com/v1/apix"), None);
        assert_eq!(b.split_own("https://example.com/v1/api/tickle"), None);
    }

    #[test]
    fn resolve_joins_encodes_the_query_and_returns_the_pacing_path() {
        let b = bases();
        let q = vec![("conids".to_owned(), "1,2".to_owned())];
        let (url, path) = b.resolve("iserver/marketdata/snapshot", &q).unwrap();
        assert_eq!(
            url,
            "https://api.ibkr.com/v1/api/iserver/marketdata/snapshot?conids=1%2C2"
        );
        assert_eq!(path, "/iserver/marketdata/snapshot");
        let (url, path) = b
            .resolve("https://1.api.ibkr.com/v1/api/a?b=c", &q)
            .unwrap();
        assert_eq!(url, "https://api.ibkr.com/v1/api/a?b=c&conids=1%2C2");
        assert_eq!(path, "/a");
        assert!(b.resolve("https://example.com/a", &[]).is_err());
    }

    #[test]
    fn advancing_wraps_and_selecting_adds_once() {
        let mut b = bases();
        // Kept clean: trimmed, without the trailing '/'.
        assert_eq!(
            b.advance().as_deref(),
            Some("https://1.api.ibkr.com/v1/api")
        );
        assert_eq!(b.advance().as_deref(), Some("https://api.ibkr.com/v1/api"));
        b.select(" https://1.API.ibkr.com/v1/api/ ");
        assert_eq!(b.current(), "https://1.api.ibkr.com/v1/api");
        b.select("https://2.api.ibkr.com/v1/api/");
        assert_eq!(b.current(), "https://2.api.ibkr.com/v1/api");
        assert_eq!(b.list.len(), 3);
        assert_eq!(Bases::new(&["https://a/b".into()]).advance(), None);
    }

    #[test]
    fn origin_is_scheme_host_and_port() {
        let o = |u: &str| origin(u);
        assert_eq!(
            o("https://localhost:5000/v1/api").as_deref(),
            Some("https://localhost:5000")
        );
        assert_eq!(
            o("https://api.ibkr.com").as_deref(),
            Some("https://api.ibkr.com")
        );
        // Scheme-relative: another host, not a path.
        assert_eq!(o("//other.host/x?t=1").as_deref(), Some("//other.host"));
        // Never a user name or password, a query or a fragment.
        assert_eq!(
            o("https://u:secret@h.example:8443/x").as_deref(),
            Some("https://h.example:8443")
        );
        assert_eq!(
            o("https://h.example?t=1").as_deref(),
            Some("https://h.example")
        );
        assert_eq!(
            o("https://h.example#f").as_deref(),
            Some("https://h.example")
        );
        // Paths on the same host, even one whose query holds "://".
        assert_eq!(o("/v1/api/x"), None);
        assert_eq!(o("x?next=https://h"), None);
        assert_eq!(o("/x?next=https://h"), None);
    }

    #[test]
    fn without_query_keeps_what_is_before_the_query() {
        assert_eq!(without_query("wss://h/ws?oauth_token=abc"), "wss://h/ws");
        assert_eq!(without_query("https://h/a?b?c"), "https://h/a");
        assert_eq!(without_query("https://h/a"), "https://h/a");
    }
}
