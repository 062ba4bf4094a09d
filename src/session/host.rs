//! What a host provides to a session: HTTP, a clock, timers, a logger and, for a fleet, a shared
//! token store. The wasm binding
//! implements it over JavaScript's `fetch`, `Date.now`, `setTimeout` and the user's logger;
//! tests implement it in memory.

use crate::error::Result;
use crate::keys::PrivateKey;

/// An HTTP request as the session hands it to the host. The `Authorization` header may carry a
/// bearer token: `Debug` redacts it and dropping the request wipes it.
#[derive(Clone)]
pub struct HttpRequest<V> {
    /// Uppercase method.
    pub method: String,
    /// Absolute URL, with its query.
    pub url: String,
    /// Headers to send (the host adds nothing but what its HTTP stack must).
    pub headers: Vec<(String, String)>,
    /// The body, opaque to the session (a string, bytes, … as the host understands it).
    pub body: Option<V>,
    /// The caller's cancellation handle, opaque to the session.
    pub signal: Option<V>,
    /// Give up after this many milliseconds ([`crate::ErrorCode::Timeout`]).
    pub timeout_ms: u64,
    /// Return redirects as they are instead of following them (the gateway's 302 to its login
    /// page means "not logged in").
    pub manual_redirect: bool,
}

impl<V> std::fmt::Debug for HttpRequest<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| {
                let redact = k.eq_ignore_ascii_case("authorization");
                (k.as_str(), if redact { "[redacted]" } else { v.as_str() })
            })
            .collect();
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &headers)
            .field("timeout_ms", &self.timeout_ms)
            .finish_non_exhaustive()
    }
}

impl<V> Drop for HttpRequest<V> {
    fn drop(&mut self) {
        for (k, v) in &mut self.headers {
            if k.eq_ignore_ascii_case("authorization") {
                zeroize::Zeroize::zeroize(v);
            }
        }
    }
}

/// An HTTP response; the body can be read more than once.
#[allow(async_fn_in_trait)]
pub trait HttpResponse {
    /// The status code.
    fn status(&self) -> u16;
    /// A header's value, by case-insensitive name.
    fn header(&self, name: &str) -> Option<String>;
    /// The body as text.
    async fn text(&self) -> Result<String>;
}

/// Log levels, as the injected logger's method names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `logger.debug`
    Debug,
    /// `logger.info`
    Info,
    /// `logger.warn`
    Warn,
    /// `logger.error`
    Error,
}

/// Everything a session needs from outside. Single-threaded: a session lives on one thread (or
/// one wasm instance) and may run many calls concurrently on it.
#[allow(async_fn_in_trait)]
pub trait Host: 'static {
    /// Bodies and signals, opaque to the session.
    type Value: Clone + 'static;
    /// Responses.
    type Response: HttpResponse + 'static;
    /// Sends a request. Fails with `NETWORK`, `TIMEOUT` or `ABORTED`.
    async fn fetch(&self, request: &HttpRequest<Self::Value>) -> Result<Self::Response>;
    /// A body holding `text` (for the JSON the session sends itself).
    fn text_body(&self, text: &str) -> Self::Value;
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> f64;
    /// Resolves after `ms` milliseconds.
    async fn sleep(&self, ms: u64);
    /// A message for the user's logger. Never called with a secret.
    fn log(&self, level: Level, message: &str);
    /// RSASSA-PKCS1-v1_5 with SHA-256 by the host's own audited crypto (WebCrypto in JS), when
    /// it has it; `None` has the session sign with the `rsa` crate. The session checks the
    /// signature against the key's public half before using it, and falls back if it fails.
    async fn sign_rsa_sha256(&self, _key: &PrivateKey, _message: &[u8]) -> Option<Vec<u8>> {
        None
    }
    /// This machine's public IP as IBKR will see it, if the host can find out (OAuth 2.0 puts it
    /// in the SSO-session request). `None` when the host has no way to look it up.
    async fn public_ip(&self) -> Result<Option<String>> {
        Ok(None)
    }
    /// Whether the user gave a shared token store (`store`). Without one the `store_*` methods
    /// are never called.
    fn has_store(&self) -> bool {
        false
    }
    /// The store's value for `key`, `None` when absent or expired. Fails when the store does.
    async fn store_get(&self, _key: &str) -> Result<Option<String>> {
        Ok(None)
    }
    /// Sets `key` to `value` for `ttl_ms`.
    async fn store_set(&self, _key: &str, _value: &str, _ttl_ms: u64) -> Result<()> {
        Ok(())
    }
    /// Sets `key` to `value` for `ttl_ms` only if it is absent (a lease): `true` when it was set.
    async fn store_set_if_absent(&self, _key: &str, _value: &str, _ttl_ms: u64) -> Result<bool> {
        Ok(true)
    }
    /// Removes `key`.
    async fn store_delete(&self, _key: &str) -> Result<()> {
        Ok(())
    }
}
