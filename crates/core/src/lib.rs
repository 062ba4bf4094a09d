//! # ibkr-auth-core
//!
//! The sans-I/O protocol core of `ibkr-auth`: it builds and signs requests and checks responses,
//! but never opens a socket, reads a file or the clock. The crypto is RustCrypto's (`rsa`,
//! `sha2`, `sha1`, `hmac`, `hkdf`, `aes-gcm`, `crypto-bigint`, `getrandom`); encodings and PEM/DER are the `base64`,
//! `hex`, `percent-encoding` and `pem-rfc7468`/`der`/`pkcs1`/`pkcs8` crates. What is ours is
//! protocol code: IBKR's base string and quirks, the lenient reading of pasted inputs, and errors
//! that explain. The `ibkr-auth` crate adds the session layer and the
//! JS binding.
//!
//! | module | what |
//! |---|---|
//! | [`error`] | the error type, with stable codes |
//! | [`encoding`] | percent-encoding, hex, base64, with the lenient reading of pasted values |
//! | [`keys`] | PEM/DER: RSA private keys (PKCS#1, PKCS#8), DH parameters (PKCS#3); secret types |
//! | [`oauth1`] | OAuth 1.0a Extended: base string, header, RSA-SHA256, HMAC-SHA256, the live session token, third-party steps |
//! | [`oauth2`] | OAuth 2.0: the RS256 client assertion and the SSO-session JWT |
//! | [`gateway_login`] | the Client Portal Gateway's headless login: SRP-6, EKX, TOTP, OCRA, its XML replies, a sans-I/O state machine |
//! | [`fleet`] | what a fleet keeps in a shared token store: store keys, the token sealed with AES-256-GCM under an HKDF-SHA256 key |

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod encoding;
pub mod error;
pub mod fleet;
pub mod gateway_login;
pub mod keys;
pub mod oauth1;
pub mod oauth2;

pub use error::{Error, ErrorCode, Result};
pub use keys::{DhParams, PrivateKey, SecretBytes};
