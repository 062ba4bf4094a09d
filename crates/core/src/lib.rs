//! # ibkr-auth-core
//!
//! The sans-I/O core of `ibkr-auth`: it builds and signs requests and checks responses, but never
//! opens a socket, reads a file or the clock. The `ibkr-auth` crate re-exports every module here
//! under the same path (`ibkr_auth::oauth1`, …) and adds the session layer and the JS binding.
//! What every signed request runs through (errors, encodings, hashes, HMAC, the base string,
//! nonces, text helpers) lives in `ibkr-auth-prims`, built for speed, and is re-exported here
//! under the same paths; this crate is built for size.
//!
//! | module | what |
//! |---|---|
//! | [`error`] | the error type, with stable codes |
//! | [`encoding`] | RFC 3986 percent-encoding, hex, base64 |
//! | [`json`] | a small JSON reader for the fields read from IBKR's answers |
//! | [`keys`] | PEM/DER: RSA private keys (PKCS#1, PKCS#8), DH parameters (PKCS#3); secret types |
//! | [`oauth1`] | OAuth 1.0a Extended: base string, header, RSA-SHA256, HMAC-SHA256, the live session token, third-party steps |
//! | [`oauth2`] | OAuth 2.0: the RS256 client assertion and the SSO-session JWT |
//! | [`text`] | substring search and byte-level splitting |

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod json;
pub mod keys;
pub mod oauth1;
pub mod oauth2;
mod rsa;

use ibkr_auth_prims::{chacha, hash};
pub use ibkr_auth_prims::{encoding, error, text};

pub use error::{Error, ErrorCode, Result};
pub use keys::{DhParams, PrivateKey, SecretBytes};
