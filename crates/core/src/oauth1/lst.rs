//! The live session token (LST) maths: the access token secret ("prepend"), the Diffie-Hellman
//! challenge and shared secret, the LST itself, and its validation.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::encoding::{b64_decode_lenient, b64_encode, hex_decode, hex_encode, hex_number};
use crate::error::{Error, ErrorCode, Result};
pub use crate::keys::getrandom_fill;
use crate::keys::{hex_minimal, DhParams, PrivateKey, RawRsaDecrypt, SecretBytes};

/// Decrypts the access token secret (base64 of RSA-PKCS#1 v1.5 ciphertext) with the private
/// encryption key. The result is the "prepend".
pub fn decrypt_access_token_secret(
    encryption_key: &PrivateKey,
    access_token_secret: &str,
) -> Result<SecretBytes> {
    decrypt_access_token_secret_with(encryption_key, access_token_secret, None)
}

/// [`decrypt_access_token_secret`] with the raw RSA operation by the host when it can
/// ([`PrivateKey::decrypt_pkcs1v15_with`]).
pub fn decrypt_access_token_secret_with(
    encryption_key: &PrivateKey,
    access_token_secret: &str,
    raw: Option<&RawRsaDecrypt<'_>>,
) -> Result<SecretBytes> {
    let ciphertext = Zeroizing::new(b64_decode_lenient(access_token_secret).map_err(|e| {
        Error::new(
            ErrorCode::InvalidAccessTokenSecret,
            format!(
                "the access token secret is not valid base64: {}. Copy it again from IBKR's portal (it is a \
                 long base64 string, often ending in '=').",
                e.describe()
            ),
        )
    })?);
    let k = encryption_key.size();
    if ciphertext.len() != k {
        return Err(Error::new(
            ErrorCode::InvalidAccessTokenSecret,
            format!(
                "the access token secret decodes to {} bytes, but a secret encrypted for this {}-bit encryption \
                 key is exactly {k} bytes. Either it was truncated when copied, or it belongs to another \
                 encryption key.",
                ciphertext.len(),
                encryption_key.bits()
            ),
        ));
    }
    let prepend = encryption_key.decrypt_pkcs1v15_with(&ciphertext, raw)?;
    if prepend.is_empty() {
        return Err(Error::new(
            ErrorCode::DecryptFailed,
            "the access token secret decrypted to nothing: it is not a secret IBKR issued. Regenerate the access token.",
        ));
    }
    Ok(prepend)
}

/// The client's secret Diffie-Hellman exponent `a`. Zeroized on drop; `Debug` is redacted.
pub struct DhSecret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for DhSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DhSecret([redacted])")
    }
}

impl DhSecret {
    /// Parses `a` from hex and checks `1 < a < p - 1`.
    pub fn from_hex(random_hex: &str, params: &DhParams) -> Result<Self> {
        let bytes = Zeroizing::new(hex_number(random_hex).map_err(|e| {
            Error::invalid_argument(format!(
                "random (the DH exponent) must be hex: {}.",
                e.describe()
            ))
        })?);
        let a = trim_be(&bytes);
        if !params.in_open_range(a) {
            return Err(Error::invalid_argument(
                "random (the DH exponent) must be greater than 1 and less than p - 1: use 32 random bytes, as dhRandom() makes.",
            ));
        }
        Ok(DhSecret(Zeroizing::new(a.to_vec())))
    }

    /// A fresh exponent: 256 random bits from the platform's secure random source, the top bit
    /// set so that it has its full length (and so `1 < a < p − 1` for any accepted prime). The
    /// bytes go straight into the secret, with no text form in between.
    pub fn random() -> Result<Self> {
        let mut bytes = Zeroizing::new(vec![0u8; 32]);
        getrandom_fill(&mut bytes)?;
        if let Some(b) = bytes.first_mut() {
            *b |= 0x80;
        }
        Ok(DhSecret(bytes))
    }

    /// [`DhSecret::random`] as hex, for the JS API's `dhRandom()`. The caller owns the text and
    /// must wipe it (it is `Zeroizing`).
    pub fn random_hex() -> Result<Zeroizing<String>> {
        let a = DhSecret::random()?;
        Ok(Zeroizing::new(hex_encode(&a.0)))
    }
}

/// `A = g^a mod p` as lowercase hex, no padding, no `0x`.
pub fn dh_challenge(params: &DhParams, a: &DhSecret) -> String {
    hex_minimal(&params.pow_generator(&a.0))
}

/// `K = B^a mod p`, encoded as Java's `BigInteger.toByteArray()`: minimal big-endian bytes with a
/// `0x00` in front when the top bit of the first byte is set. Rejects `B` unless `1 < B < p - 1`.
pub fn shared_secret(
    params: &DhParams,
    dh_response_hex: &str,
    a: &DhSecret,
) -> Result<SecretBytes> {
    let b_bytes = hex_number(dh_response_hex).map_err(|e| {
        Error::new(
            ErrorCode::BadDhResponse,
            format!("the server's diffie_hellman_response is not hex: {}. Was the whole response passed?", e.describe()),
        )
    })?;
    let b = trim_be(&b_bytes);
    if !params.in_open_range(b) {
        return Err(Error::new(
            ErrorCode::BadDhResponse,
            "the server's diffie_hellman_response is out of range (it must be greater than 1 and less than p - 1). \
             Check that the DH prime is the one from the dhparam.pem uploaded to IBKR; otherwise the response \
             was damaged or did not come from IBKR.",
        ));
    }
    let k = params.pow(b, &a.0);
    let mut bytes = Vec::with_capacity(k.len() + 1);
    if k.first().is_some_and(|&x| x & 0x80 != 0) {
        bytes.push(0);
    }
    bytes.extend_from_slice(&k);
    Ok(SecretBytes::new(bytes))
}

/// HMAC-SHA1 (`hmac` + `sha1`); the tag is wiped by its owner.
fn hmac_sha1(key: &[u8], message: &[u8]) -> Zeroizing<[u8; 20]> {
    // HMAC takes keys of any length, so `new_from_slice` cannot fail.
    let mut out = Zeroizing::new([0u8; 20]);
    if let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key) {
        mac.update(message);
        out.copy_from_slice(&mac.finalize().into_bytes());
    }
    out
}

/// Strips leading zero bytes.
fn trim_be(x: &[u8]) -> &[u8] {
    let start = x.iter().position(|&b| b != 0).unwrap_or(x.len());
    x.get(start..).unwrap_or_default()
}

/// `LST = base64(HMAC-SHA1(key = K bytes, message = prepend bytes))`.
pub fn live_session_token(k_bytes: &SecretBytes, prepend: &SecretBytes) -> Result<SecretBytes> {
    let mac = hmac_sha1(k_bytes.expose(), prepend.expose());
    Ok(SecretBytes::new(mac.to_vec()))
}

/// Parses a prepend given as hex (the decrypted access token secret).
pub fn prepend_from_hex(prepend_hex: &str) -> Result<SecretBytes> {
    hex_decode(prepend_hex).map(SecretBytes::new).map_err(|e| {
        Error::invalid_argument(format!(
            "prepend must be the lowercase hex that decryptAccessTokenSecret returns: {}.",
            e.describe()
        ))
    })
}

/// Parses an LST given as base64.
pub fn lst_from_base64(token: &str) -> Result<SecretBytes> {
    b64_decode_lenient(token)
        .map(SecretBytes::new)
        .map_err(|e| {
            Error::invalid_argument(format!(
                "the live session token must be base64: {}.",
                e.describe()
            ))
        })
}

/// The full client-side computation: from the server's `diffie_hellman_response` to the LST
/// (as raw bytes; base64 them for display).
pub fn compute_lst(
    params: &DhParams,
    dh_response_hex: &str,
    a: &DhSecret,
    prepend: &SecretBytes,
) -> Result<SecretBytes> {
    let k = shared_secret(params, dh_response_hex, a)?;
    live_session_token(&k, prepend)
}

/// Checks `hex(HMAC-SHA1(key = LST, message = consumer key)) == signature` in constant time.
/// A signature that is not 40 hex digits never matches.
pub fn verify_lst(lst: &SecretBytes, consumer_key: &str, signature_hex: &str) -> Result<bool> {
    let ours = hmac_sha1(lst.expose(), consumer_key.as_bytes());
    let Ok(theirs) = hex_decode(signature_hex) else {
        return Ok(false);
    };
    Ok(theirs.len() == ours.len() && bool::from(ours.as_slice().ct_eq(&theirs[..])))
}

/// Like [`verify_lst`], but a mismatch is an [`ErrorCode::LstSignatureMismatch`] error that
/// lists the possible causes.
pub fn check_lst(lst: &SecretBytes, consumer_key: &str, signature_hex: &str) -> Result<()> {
    if verify_lst(lst, consumer_key, signature_hex)? {
        return Ok(());
    }
    Err(Error::new(
        ErrorCode::LstSignatureMismatch,
        "the live session token we computed does not match IBKR's live_session_token_signature. Possible causes: \
         the DH parameters are not the ones uploaded to IBKR; the access token secret belongs to another access \
         token or was decrypted with the wrong encryption key; the consumer key is not the one the token was \
         issued to.",
    ))
}

/// The whole client side from hex inputs, as the JS API takes them: `A = g^random mod p`.
pub fn challenge_from_hex(prime_hex: &str, random_hex: &str, generator: u32) -> Result<String> {
    let params = DhParams::from_hex(prime_hex, generator)?;
    let a = DhSecret::from_hex(random_hex, &params)?;
    Ok(dh_challenge(&params, &a))
}

/// The LST (raw bytes) from hex inputs, as the JS API takes them.
pub fn lst_from_hex(
    prime_hex: &str,
    random_hex: &str,
    dh_response_hex: &str,
    prepend_hex: &str,
) -> Result<SecretBytes> {
    let prepend = prepend_from_hex(prepend_hex)?;
    let params = DhParams::from_hex(prime_hex, 2)?;
    let a = DhSecret::from_hex(random_hex, &params)?;
    compute_lst(&params, dh_response_hex, &a, &prepend)
}

/// Base64 of the LST bytes, wiped when dropped.
pub fn lst_base64(lst: &SecretBytes) -> Zeroizing<String> {
    Zeroizing::new(b64_encode(lst.expose()))
}
