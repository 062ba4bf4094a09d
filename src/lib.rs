//! # ibkr-auth
//!
//! Authentication for the Interactive Brokers (IBKR) Web API, written once in Rust and shipped
//! to JavaScript as WebAssembly (the npm package `ibkr-auth`).
//!
//! The core is sans-I/O: it builds and signs requests and checks responses, but never opens a
//! socket, reads a file or the clock. Hosts inject those.
//!
//! | module | what |
//! |---|---|
//! | [`error`] | the error type, with stable codes |
//! | [`encoding`] | percent-encoding, hex, base64, read leniently |
//! | [`keys`] | PEM/DER: RSA private keys (PKCS#1, PKCS#8), DH parameters (PKCS#3); secret types |
//! | [`oauth1`] | OAuth 1.0a Extended: base string, header, RSA-SHA256, HMAC-SHA256, the live session token, third-party steps |
//! | [`oauth2`] | OAuth 2.0: the RS256 client assertion and the SSO-session JWT |
//! | [`gateway_login`] | the Client Portal Gateway's headless login: SRP-6, EKX, TOTP, OCRA, XML replies, a sans-I/O state machine |
//! | [`fleet`] | what a fleet keeps in a shared token store: store keys, the sealed token |
//! | [`session`] | the session lifecycle over an injected host: single-flight handshakes, recovery, pacing, keep-alive, the fleet's shared store |
//!
//! The `wasm` module (only on `wasm32`) is the JavaScript binding.
//!
//! ```
//! use ibkr_auth::oauth1::base_string;
//! let b = base_string("GET", "https://api.ibkr.com/v1/api/tickle?x=1,2", &[("oauth_nonce", "n")], None, true)?;
//! assert_eq!(b, "GET&https%3A%2F%2Fapi.ibkr.com%2Fv1%2Fapi%2Ftickle&oauth_nonce%3Dn%26x%3D1%2C2");
//! # Ok::<(), ibkr_auth::Error>(())
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

// The sans-I/O protocol core (`crates/core`): its modules under the same paths.
pub use ibkr_auth_core::{encoding, error, fleet, gateway_login, keys, oauth1, oauth2};

pub mod session;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use error::{Error, ErrorCode, Result};
pub use keys::{DhParams, PrivateKey, SecretBytes};

/// The `.wasm`'s heap allocator: the standard one, wrapped by `zeroizing-alloc` so that every
/// block is cleared when it is freed. Our own buffers that hold secrets are wiped explicitly
/// (`Zeroizing`, `SecretBytes`); this also covers temporaries inside the crates we build on (for
/// example `rsa` copies a key's primes while it precomputes, and does not wipe the copies), so no
/// key, token or secret outlives its use in the module's memory (`tests/session/memory.test.mjs`).
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: zeroizing_alloc::ZeroAlloc<std::alloc::System> =
    zeroizing_alloc::ZeroAlloc(std::alloc::System);
