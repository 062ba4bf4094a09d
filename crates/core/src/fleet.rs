//! What a fleet of processes keeps in a shared token store, sealed.
//!
//! Sessions of one account that share a store (Redis, Workers KV, a file, …) keep the current
//! token there, so that one handshake serves them all. The store is not trusted with it:
//! - **The entry is encrypted and authenticated** with AES-256-GCM (RustCrypto `aes-gcm`); its
//!   key comes from HKDF-SHA256 over the account's own secret — the access token secret's
//!   decrypted prepend for OAuth 1.0a, the private key (PKCS#1 DER) for OAuth 2.0 — so a dump of
//!   the store holds no usable token, and only holders of the account's secrets can read or
//!   write an entry.
//! - **It is bound to its account and its slot**: the associated data is the entry's store key,
//!   which is derived from the account; an entry copied from another account or another key
//!   fails to open (it is ignored, and a fresh handshake replaces it).
//! - **Store keys hold no secret**: `ibkr-auth:v1:<32 hex of SHA-256 over the account's public
//!   identifiers>:<slot>`.
//!
//! The plaintext is small and fixed: generation (u64), expiry (ms since epoch, u64), the token
//! (u16 length + bytes) and the OAuth 2.0 session's public IP (u8 length + bytes).

use aes_gcm::aead::{Aead, KeyInit, Nonce, Payload};
use aes_gcm::Aes256Gcm;
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::encoding::{b64_decode_lenient, b64url_encode, hex_encode};
use crate::error::{Error, ErrorCode, Result};
use crate::keys::{getrandom_fill, SecretBytes};

/// The version tag every sealed entry starts with.
const VERSION: &str = "v1.";
/// HKDF salt: names the purpose, so the same secret used elsewhere yields an unrelated key.
const SALT: &[u8] = b"ibkr-auth fleet token store v1";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Entries larger than this are not ours (a bearer token is well under 4 KiB).
const MAX_ENTRY: usize = 16 * 1024;

/// The slots a fleet keeps per account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// The sealed token ([`Sealed`]).
    Token,
    /// The lease: who is making the handshake now.
    Lease,
    /// The last failed handshake (not secret: code and message), for a fleet-wide back-off.
    Failure,
    /// The generation whose brokerage session was initialised (`ssodh/init`).
    Brokerage,
    /// The lease for initialising the brokerage session.
    BrokerageLease,
    /// The keep-alive lease: one tickle per interval for the whole fleet.
    Tickle,
}

impl Slot {
    fn name(self) -> &'static str {
        match self {
            Slot::Token => "token",
            Slot::Lease => "lease",
            Slot::Failure => "failure",
            Slot::Brokerage => "brokerage",
            Slot::BrokerageLease => "brokerage-lease",
            Slot::Tickle => "tickle",
        }
    }
}

/// A token as the fleet shares it.
#[derive(Clone, PartialEq)]
pub struct Sealed {
    /// Counts the fleet's tokens: a 401 on generation `g` asks for one newer than `g`.
    pub generation: u64,
    /// When the token expires, ms since the epoch.
    pub expires_at: f64,
    /// The LST's bytes, or the OAuth 2.0 bearer token.
    pub secret: SecretBytes,
    /// The public IP the OAuth 2.0 session was made for.
    pub ip: Option<String>,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealed")
            .field("generation", &self.generation)
            .field("expires_at", &self.expires_at)
            .field("ip", &self.ip)
            .finish_non_exhaustive()
    }
}

/// One account's place in a shared store: its key names and its sealing key.
pub struct FleetAccount {
    id: String,
    /// `None` for the gateway: it has no token and no secret; only the leases are shared.
    cipher: Option<Aes256Gcm>,
}

impl std::fmt::Debug for FleetAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetAccount")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The public identifiers, length-prefixed so that no two lists hash alike.
fn account_id(kind: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(b"ibkr-auth account v1\0");
    for p in std::iter::once(&kind).chain(parts) {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    let digest = h.finalize();
    hex_encode(digest.get(..16).unwrap_or_default())
}

impl FleetAccount {
    /// An OAuth 1.0a account: identified by consumer key and access token, sealed with a key
    /// derived from the prepend.
    pub fn oauth1(consumer_key: &str, access_token: &str, prepend: &SecretBytes) -> Result<Self> {
        let id = account_id("oauth1", &[consumer_key, access_token]);
        let cipher = Some(cipher_for(prepend.expose(), &id)?);
        Ok(FleetAccount { id, cipher })
    }

    /// An OAuth 2.0 client: identified by client id, key id and username, sealed with a key
    /// derived from the private key.
    pub fn oauth2(
        client_id: &str,
        client_key_id: &str,
        credential: &str,
        private_key_der: &[u8],
    ) -> Result<Self> {
        let id = account_id("oauth2", &[client_id, client_key_id, credential]);
        let cipher = Some(cipher_for(private_key_der, &id)?);
        Ok(FleetAccount { id, cipher })
    }

    /// A Client Portal Gateway, identified by its API base URL. Nothing secret is stored for it.
    pub fn gateway(base_url: &str) -> Self {
        let base = base_url.trim().trim_end_matches('/').to_ascii_lowercase();
        FleetAccount {
            id: account_id("gateway", &[&base]),
            cipher: None,
        }
    }

    /// The store key of `slot` (no secret in it).
    pub fn key(&self, slot: Slot) -> String {
        format!("ibkr-auth:v1:{}:{}", self.id, slot.name())
    }

    /// Whether tokens are stored for this account (not for the gateway).
    pub fn has_token(&self) -> bool {
        self.cipher.is_some()
    }

    /// Seals `t` for this account's token slot: `v1.` + base64url(nonce ‖ ciphertext ‖ tag).
    pub fn seal(&self, t: &Sealed) -> Result<String> {
        let cipher = self
            .cipher
            .as_ref()
            .ok_or_else(|| Error::new(ErrorCode::Internal, "no token is stored for a gateway"))?;
        let ip = t.ip.as_deref().unwrap_or("");
        let token = t.secret.expose();
        let (Ok(token_len), Ok(ip_len)) = (u16::try_from(token.len()), u8::try_from(ip.len()))
        else {
            return Err(Error::new(
                ErrorCode::Internal,
                "the token is too long to store",
            ));
        };
        let mut plain = Zeroizing::new(Vec::with_capacity(19 + token.len() + ip.len()));
        plain.extend_from_slice(&t.generation.to_be_bytes());
        plain.extend_from_slice(&(t.expires_at.max(0.0).min(u64::MAX as f64) as u64).to_be_bytes());
        plain.extend_from_slice(&token_len.to_be_bytes());
        plain.extend_from_slice(token);
        plain.push(ip_len);
        plain.extend_from_slice(ip.as_bytes());
        let mut nonce = [0u8; NONCE_LEN];
        getrandom_fill(&mut nonce)?;
        let aad = self.key(Slot::Token);
        let sealed = cipher
            .encrypt(
                &Nonce::<Aes256Gcm>::from(nonce),
                Payload {
                    msg: &plain,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| Error::new(ErrorCode::Internal, "sealing the token failed"))?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(format!("{VERSION}{}", b64url_encode(&out)))
    }

    /// Opens an entry of this account's token slot; `None` when it is not one this account
    /// sealed there (damaged, tampered with, another account's, another version).
    pub fn open(&self, value: &str) -> Option<Sealed> {
        let cipher = self.cipher.as_ref()?;
        if value.len() > MAX_ENTRY {
            return None;
        }
        let raw = b64_decode_lenient(value.strip_prefix(VERSION)?).ok()?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return None;
        }
        let (nonce, body) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::<Aes256Gcm>::try_from(nonce).ok()?;
        let aad = self.key(Slot::Token);
        let plain = Zeroizing::new(
            cipher
                .decrypt(
                    &nonce,
                    Payload {
                        msg: body,
                        aad: aad.as_bytes(),
                    },
                )
                .ok()?,
        );
        let u64_at = |i: usize| -> Option<u64> {
            Some(u64::from_be_bytes(plain.get(i..i + 8)?.try_into().ok()?))
        };
        let generation = u64_at(0)?;
        let expires_at = u64_at(8)? as f64;
        let token_len = usize::from(u16::from_be_bytes(plain.get(16..18)?.try_into().ok()?));
        let secret = SecretBytes::new(plain.get(18..18 + token_len)?.to_vec());
        let ip_len = usize::from(*plain.get(18 + token_len)?);
        let ip_at = 19 + token_len;
        let ip = std::str::from_utf8(plain.get(ip_at..ip_at + ip_len)?).ok()?;
        if plain.len() != ip_at + ip_len {
            return None;
        }
        Some(Sealed {
            generation,
            expires_at,
            secret,
            ip: (!ip.is_empty()).then(|| ip.to_owned()),
        })
    }
}

/// AES-256-GCM keyed by HKDF-SHA256(salt, secret, info = "aes-256-gcm token " ‖ account id).
fn cipher_for(secret: &[u8], id: &str) -> Result<Aes256Gcm> {
    if secret.is_empty() {
        return Err(Error::new(
            ErrorCode::Internal,
            "no account secret to derive the store key from",
        ));
    }
    let hk = Hkdf::<Sha256>::new(Some(SALT), secret);
    let mut key = Zeroizing::new([0u8; 32]);
    let info = format!("aes-256-gcm token {id}");
    hk.expand(info.as_bytes(), key.as_mut())
        .map_err(|_| Error::new(ErrorCode::Internal, "deriving the store key failed"))?;
    Aes256Gcm::new_from_slice(key.as_ref())
        .map_err(|_| Error::new(ErrorCode::Internal, "the store key has the wrong length"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(generation: u64) -> Sealed {
        Sealed {
            generation,
            expires_at: 1_800_000_000_123.0,
            secret: SecretBytes::new(vec![7u8; 20]),
            ip: None,
        }
    }

    fn account(prepend: u8) -> FleetAccount {
        FleetAccount::oauth1("CONSUMER", "token123", &SecretBytes::new(vec![prepend; 32])).unwrap()
    }

    #[test]
    fn round_trip_with_and_without_ip() {
        let a = account(1);
        let t = token(42);
        let v = a.seal(&t).unwrap();
        assert!(v.starts_with("v1."));
        assert_eq!(a.open(&v), Some(t.clone()));
        let mut with_ip = token(3);
        with_ip.ip = Some("203.0.113.7".into());
        with_ip.secret = SecretBytes::new(b"bearer-token-text".to_vec());
        assert_eq!(a.open(&a.seal(&with_ip).unwrap()), Some(with_ip));
        // A fresh nonce each time: the same token seals differently.
        assert_ne!(a.seal(&t).unwrap(), v);
    }

    #[test]
    fn an_entry_sealed_by_an_independent_aes_gcm_opens() {
        // Sealed outside this crate (Node's AES-256-GCM and HKDF, nonce 00 01 .. 0b) from the
        // format's description: the key, the associated data and the layout are the documented ones.
        let v = "v1.AAECAwQFBgcICQoLtl434ZvFlpG3aAPLT3ovAeDk5iXet-6mqUVrEy0ajrgfv2IoaBK3Te66CrSVg7gLSi1_KvcB6g";
        assert_eq!(account(1).open(v), Some(token(42)));
        assert_eq!(account(2).open(v), None);
    }

    #[test]
    fn the_entry_holds_no_token_bytes_and_the_key_no_identifier() {
        let a = account(1);
        let mut t = token(1);
        t.secret = SecretBytes::new(b"plain-bearer-value".to_vec());
        let v = a.seal(&t).unwrap();
        assert!(!v.contains("plain-bearer-value"));
        let raw = b64_decode_lenient(&v[3..]).unwrap();
        assert!(!raw.windows(18).any(|w| w == b"plain-bearer-value"));
        let key = a.key(Slot::Token);
        assert!(!key.contains("CONSUMER") && !key.contains("token123"));
        assert!(key.starts_with("ibkr-auth:v1:") && key.ends_with(":token"));
    }

    #[test]
    fn tampered_foreign_and_malformed_entries_do_not_open() {
        let a = account(1);
        let v = a.seal(&token(5)).unwrap();
        // Every byte flipped, one at a time.
        let raw = b64_decode_lenient(&v[3..]).unwrap();
        for i in 0..raw.len() {
            let mut r = raw.clone();
            r[i] ^= 0x01;
            assert_eq!(
                a.open(&format!("v1.{}", b64url_encode(&r))),
                None,
                "byte {i}"
            );
        }
        // Same identifiers, another secret: another key.
        assert_eq!(account(2).open(&v), None);
        // Same secret, another account: the key and the associated data differ.
        let b = FleetAccount::oauth1("CONSUMER", "other", &SecretBytes::new(vec![1; 32])).unwrap();
        assert_ne!(a.key(Slot::Token), b.key(Slot::Token));
        assert_eq!(b.open(&v), None);
        for bad in [
            "",
            "v1.",
            "v2.AAAA",
            "v1.!!!!",
            "v1.AAAA",
            &"v1.".repeat(10_000),
        ] {
            assert_eq!(a.open(bad), None, "{bad:.20}");
        }
    }

    #[test]
    fn accounts_of_each_kind_have_distinct_keys() {
        let o1 = account(1).key(Slot::Lease);
        let o2 = FleetAccount::oauth2("client", "kid", "user", b"der")
            .unwrap()
            .key(Slot::Lease);
        let g = FleetAccount::gateway("https://localhost:5000/v1/api/").key(Slot::Lease);
        assert_eq!(
            g,
            FleetAccount::gateway("HTTPS://localhost:5000/v1/api").key(Slot::Lease)
        );
        assert!(o1 != o2 && o2 != g && o1 != g);
        assert!(!FleetAccount::gateway("https://x").has_token());
        assert!(FleetAccount::gateway("https://x").seal(&token(1)).is_err());
        // Length-prefixed parts: ("ab","c") and ("a","bc") differ.
        assert_ne!(account_id("k", &["ab", "c"]), account_id("k", &["a", "bc"]));
    }

    #[test]
    fn debug_shows_no_secret() {
        let s = format!("{:?} {:?}", account(9), token(1));
        assert!(!s.contains("7, 7") && !s.contains("9, 9"), "{s}");
        assert!(
            s.contains("FleetAccount") && s.contains("generation: 1"),
            "{s}"
        );
    }
}
