//! # ibkr-auth-prims
//!
//! The primitives every signed request runs through, in a crate of their own so that they are
//! built for speed (`opt-level = "s"`) while the rest of the core, which runs once per key or
//! handshake, is built for size. `ibkr-auth-core` re-exports each module under its own name.
//!
//! | module | what |
//! |---|---|
//! | [`base`] | OAuth 1.0a: the signature base string and the `Authorization` header |
//! | [`error`] | the error type, with stable codes |
//! | [`encoding`] | RFC 3986 percent-encoding, hex, base64 |
//! | [`hash`] | SHA-256 and SHA-1 |
//! | [`hmac`] | HMAC-SHA256 with the key's pad states computed once |
//! | [`chacha`] | ChaCha20, for nonces |
//! | [`text`] | substring search and byte-level splitting |

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod base;
pub mod chacha;
pub mod encoding;
pub mod error;
pub mod hash;
pub mod hmac;
pub mod text;
