//! Key material: PEM framing, RSA private keys (PKCS#1 and PKCS#8), Diffie-Hellman parameters
//! (PKCS#3), and the secret types that hold what must not leak.
//!
//! PEM is read leniently, the way users paste it: CRLF or LF line endings, a byte-order mark,
//! surrounding text, literal `\n` escapes from environment variables, or base64 DER with no
//! armour at all. What is *not* a private RSA key (a public key, a certificate, DH parameters,
//! an encrypted key, an EC key) is named in the error, with the fix.

use std::fmt;

use std::sync::Arc;

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::encoding::{b64_decode_lenient, hex_encode};
use crate::error::{Error, ErrorCode, Result};
use crate::rsa::{der_take, der_uint, KeyProblem, OpError, RsaKey};
use crate::text;
use ibkr_auth_bigint::{bit_len_be, cmp_be_vartime, trim_be, Modulus};

/// Bytes that must stay secret: zeroized on drop, printed as `[redacted]`.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Takes ownership of `bytes`.
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretBytes(bytes)
    }
    /// The secret bytes. Do not log them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
    /// Lowercase hex of the secret. Do not log it.
    pub fn expose_hex(&self) -> String {
        hex_encode(&self.0)
    }
    /// Length in bytes (not secret).
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// One `-----BEGIN X-----` … `-----END X-----` block.
struct PemBlock {
    label: String,
    der: Zeroizing<Vec<u8>>,
    encrypted_legacy: bool,
}

/// Undoes what copying PEM through environment variables and editors does to it.
fn normalise_pem_text(text: &str) -> std::borrow::Cow<'_, str> {
    let mut t = text;
    while let Some(rest) = t.strip_prefix("\u{feff}") {
        t = rest;
    }
    if !text::contains_byte(t, b'\n') && text::contains(t, "\\n") {
        std::borrow::Cow::Owned(text::replace(
            &text::replace(t, "\\r\\n", "\n"),
            "\\n",
            "\n",
        ))
    } else {
        std::borrow::Cow::Borrowed(t)
    }
}

/// What was found where a PEM block was expected.
enum PemProblem {
    Empty,
    NotPem { looks_like_path: bool },
    Unterminated(String),
    BadBody(String),
}

/// Reads every PEM block in `text`. Text outside the blocks is ignored. Without any
/// `-----BEGIN` line, bare base64 of a DER `SEQUENCE` is accepted as one unlabelled block.
fn read_pem_blocks(text: &str) -> std::result::Result<Vec<PemBlock>, PemProblem> {
    let text = normalise_pem_text(text);
    let text = text.trim();
    if text.is_empty() {
        return Err(PemProblem::Empty);
    }
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = text::find(rest, "-----BEGIN ") {
        let after = rest.get(start + 11..).unwrap_or_default();
        let Some(label_end) = text::find(after, "-----") else {
            return Err(PemProblem::NotPem {
                looks_like_path: false,
            });
        };
        let label = after.get(..label_end).unwrap_or_default().trim().to_owned();
        let body_and_rest = after.get(label_end + 5..).unwrap_or_default();
        let end_marker = format!("-----END {label}-----");
        let Some(end) = text::find(body_and_rest, &end_marker) else {
            return Err(PemProblem::Unterminated(label));
        };
        let body = body_and_rest.get(..end).unwrap_or_default();
        rest = body_and_rest
            .get(end + end_marker.len()..)
            .unwrap_or_default();

        let mut b64 = Zeroizing::new(String::with_capacity(body.len()));
        let mut encrypted_legacy = false;
        for line in text::split_byte(body, b'\n') {
            let line = line.trim();
            if text::contains_byte(line, b':') {
                // RFC 1421 headers, e.g. "Proc-Type: 4,ENCRYPTED".
                encrypted_legacy |= text::contains(line, "ENCRYPTED");
                continue;
            }
            b64.push_str(line);
        }
        let der = b64_decode_lenient(&b64).map_err(|_| PemProblem::BadBody(label.clone()))?;
        blocks.push(PemBlock {
            label,
            der: Zeroizing::new(der),
            encrypted_legacy,
        });
    }
    if blocks.is_empty() {
        if let Ok(der) = b64_decode_lenient(text) {
            if der.first() == Some(&0x30) && der.len() > 8 {
                blocks.push(PemBlock {
                    label: String::new(),
                    der: Zeroizing::new(der),
                    encrypted_legacy: false,
                });
                return Ok(blocks);
            }
        }
        let looks_like_path = !text.contains(char::is_whitespace)
            && (text::starts_with_byte(text, b'/')
                || text.starts_with("./")
                || text.starts_with("~/")
                || text::contains(text, ":\\")
                || text.ends_with(".pem")
                || text.ends_with(".key"));
        return Err(PemProblem::NotPem { looks_like_path });
    }
    Ok(blocks)
}

fn pem_problem_message(what: &str, problem: PemProblem, expected: &str) -> String {
    match problem {
        PemProblem::Empty => format!("{what} is empty: pass the PEM text of {expected}."),
        PemProblem::NotPem { looks_like_path: true } => format!(
            "{what} looks like a file path, not PEM text: read the file and pass its contents \
             (the text that starts with -----BEGIN)."
        ),
        PemProblem::NotPem { looks_like_path: false } => format!(
            "{what} is not PEM text: expected {expected}, starting with a -----BEGIN line. \
             Check that the whole file was copied."
        ),
        PemProblem::Unterminated(label) => format!(
            "{what} has a '-----BEGIN {label}-----' line but no matching '-----END {label}-----' line: \
             the PEM text was cut off when it was copied."
        ),
        PemProblem::BadBody(label) => format!(
            "{what}: the body of the '{label}' PEM block is not valid base64, so the file is damaged. \
             Copy it again from the original file."
        ),
    }
}

const RSA_PRIVATE_LABELS: [&str; 2] = ["RSA PRIVATE KEY", "PRIVATE KEY"];
const DH_LABELS: [&str; 2] = ["DH PARAMETERS", "X9.42 DH PARAMETERS"];

/// What a PEM label is, and the fix when it is not what was wanted.
fn describe_wrong_label(label: &str) -> Option<(&'static str, &'static str)> {
    Some(match label {
        "PUBLIC KEY" | "RSA PUBLIC KEY" => (
            "a public key",
            " Pass the private key (the file IBKR did not receive; its PEM label is PRIVATE KEY or RSA PRIVATE KEY).",
        ),
        "ENCRYPTED PRIVATE KEY" => (
            "a password-protected private key",
            " Remove the password first, e.g. `openssl pkcs8 -in key.pem -out key-plain.pem` (keep the result private).",
        ),
        "CERTIFICATE" | "TRUSTED CERTIFICATE" => ("a certificate", ""),
        "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => ("a certificate request", ""),
        "DH PARAMETERS" | "X9.42 DH PARAMETERS" => ("Diffie-Hellman parameters (dhparam.pem)", ""),
        "EC PRIVATE KEY" => ("an EC private key (IBKR needs RSA)", ""),
        "EC PARAMETERS" => ("EC parameters", ""),
        "OPENSSH PRIVATE KEY" => ("an OpenSSH-format key", ""),
        _ => return None,
    })
}

/// The first PEM block in `text` with one of `labels` (or bare base64 DER), else an error with
/// `code` that says what was found instead and how to fix it.
fn select_block(
    text: &str,
    what: &str,
    expected: &str,
    labels: &[&str],
    code: ErrorCode,
) -> Result<PemBlock> {
    let mut blocks = read_pem_blocks(text)
        .map_err(|p| Error::new(code, pem_problem_message(what, p, expected)))?;
    if let Some(i) = blocks
        .iter()
        .position(|b| labels.contains(&b.label.as_str()) || b.label.is_empty())
    {
        return Ok(blocks.swap_remove(i));
    }
    let label = blocks.first().map(|b| b.label.as_str()).unwrap_or_default();
    let msg = match describe_wrong_label(label) {
        Some((kind, fix)) => format!("{what} is {kind}, not {expected}.{fix}"),
        None => format!("{what} is a PEM block labelled '{label}', not {expected}."),
    };
    Err(Error::new(code, msg))
}

/// An RSA private key of 2048 to 4096 bits. Zeroized on drop; `Debug` prints `[redacted]`.
#[derive(Clone)]
pub struct PrivateKey {
    inner: RsaKey,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({} bits, [redacted])", self.bits())
    }
}

/// Smallest and largest RSA modulus accepted, in bits.
pub const RSA_BITS: (usize, usize) = (2048, 4096);

impl PrivateKey {
    /// Parses an RSA private key from PEM (PKCS#1 `RSA PRIVATE KEY` or PKCS#8 `PRIVATE KEY`).
    /// `what` names the argument in error messages, e.g. `"signatureKey"`.
    pub fn from_pem(text: &str, what: &str) -> Result<Self> {
        let expected = "a private RSA key (PEM labelled PRIVATE KEY or RSA PRIVATE KEY)";
        let block = select_block(
            text,
            what,
            expected,
            &RSA_PRIVATE_LABELS,
            ErrorCode::InvalidKey,
        )?;
        if block.encrypted_legacy {
            return Err(Error::new(
                ErrorCode::InvalidKey,
                format!(
                    "{what} is encrypted with a password (Proc-Type: 4,ENCRYPTED): remove it first, e.g. \
                     `openssl rsa -in key.pem -out key-plain.pem` (keep the result private)."
                ),
            ));
        }
        let inner = RsaKey::from_der(&block.der).map_err(|p| key_problem(p, what))?;
        let key = PrivateKey { inner };
        let bits = key.bits();
        if bits < RSA_BITS.0 || bits > RSA_BITS.1 {
            return Err(Error::new(
                ErrorCode::InvalidKey,
                format!(
                    "{what} is a {bits}-bit RSA key; IBKR keys are {} to {} bits. Generate a new one with \
                     `openssl genrsa -out key.pem 2048`.",
                    RSA_BITS.0, RSA_BITS.1
                ),
            ));
        }
        Ok(key)
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        self.inner.bits()
    }

    /// The modulus size in bytes (the size of a signature or ciphertext).
    pub fn size(&self) -> usize {
        self.inner.size()
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `message`, blinded.
    pub fn sign_sha256(&self, message: &[u8]) -> Result<Vec<u8>> {
        let digest = crate::hash::sha256(message);
        self.inner.sign_sha256_digest(&digest).map_err(op_error)
    }

    /// RSAES-PKCS1-v1_5 decryption, blinded. Padding is checked (explicit rejection), so a
    /// ciphertext made for another key fails with [`ErrorCode::DecryptFailed`].
    pub fn decrypt_pkcs1v15(&self, ciphertext: &[u8]) -> Result<SecretBytes> {
        match self.inner.decrypt_pkcs1v15(ciphertext) {
            Ok(m) => Ok(SecretBytes::new(m.to_vec())),
            Err(OpError::Rejected) => Err(Error::new(
                ErrorCode::DecryptFailed,
                "the access token secret does not decrypt with this encryption key. Check that \
                 encryptionKey is your private *encryption* key (not the signature key), and that the \
                 access token secret is the one issued with this access token for this consumer key \
                 (regenerate the access token in IBKR's portal if unsure).",
            )),
            Err(e) => Err(op_error(e)),
        }
    }
}

fn key_problem(problem: KeyProblem, what: &str) -> Error {
    let msg = match problem {
        KeyProblem::Damaged => format!(
            "{what} has PEM armour but its contents are not a valid RSA private key: the file is \
             damaged or truncated. Copy it again from the original."
        ),
        KeyProblem::OtherAlgorithm => format!(
            "{what} is a private key for another algorithm (not RSA); IBKR's OAuth keys are RSA. \
             Generate one with `openssl genrsa -out key.pem 2048`."
        ),
        KeyProblem::MultiPrime => format!(
            "{what} is a multi-prime RSA key, which IBKR does not use. Generate a standard one with \
             `openssl genrsa -out key.pem 2048`."
        ),
        KeyProblem::Inconsistent => format!(
            "{what} is not a consistent RSA private key (its numbers do not fit together): the file is damaged."
        ),
    };
    Error::new(ErrorCode::InvalidKey, msg)
}

fn op_error(e: OpError) -> Error {
    match e {
        OpError::NoRandom => Error::new(
            ErrorCode::Internal,
            "RSA failed: no secure random source is available for blinding",
        ),
        OpError::Fault | OpError::Rejected => Error::new(
            ErrorCode::Internal,
            "the RSA result did not verify against the public key (a computation fault); nothing was \
             released. Retry; if it repeats, report it.",
        ),
    }
}

/// Fills `buf` from the platform's secure random source.
pub fn getrandom_fill(buf: &mut [u8]) -> Result<()> {
    use rand_core::RngCore;
    rand_core::OsRng.try_fill_bytes(buf).map_err(|_| {
        Error::new(
            ErrorCode::Internal,
            "no secure random source is available on this platform",
        )
    })
}

/// Diffie-Hellman group parameters: prime `p` and generator `g`.
#[derive(Clone)]
pub struct DhParams {
    /// The prime, big-endian without leading zeros.
    prime: Vec<u8>,
    generator: u32,
    modulus: Arc<Modulus>,
}

impl PartialEq for DhParams {
    fn eq(&self, other: &Self) -> bool {
        self.prime == other.prime && self.generator == other.generator
    }
}
impl Eq for DhParams {}

impl fmt::Debug for DhParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DhParams({}-bit prime, g = {})",
            self.bits(),
            self.generator
        )
    }
}

/// Smallest and largest DH prime accepted, in bits.
pub const DH_PRIME_BITS: (usize, usize) = (1024, 8192);

impl DhParams {
    /// Builds checked parameters from a prime (big-endian bytes) and a generator.
    pub fn new(prime: &[u8], generator: u32) -> Result<Self> {
        let prime = trim_be(prime);
        let bits = bit_len_be(prime);
        let bad = |m: String| Error::new(ErrorCode::InvalidDhParams, m);
        if bits < DH_PRIME_BITS.0 || bits > DH_PRIME_BITS.1 {
            return Err(bad(format!(
                "the DH prime has {bits} bits; IBKR uses a 2048-bit prime ({} to {} bits accepted). \
                 Pass the prime from your dhparam.pem.",
                DH_PRIME_BITS.0, DH_PRIME_BITS.1
            )));
        }
        let Some(modulus) = Modulus::new(prime) else {
            return Err(bad("the DH prime is even, so it is not a prime: check that the right value was passed.".into()));
        };
        // g < p − 1 always holds for a prime of ≥ 1024 bits and a u32 generator.
        if generator < 2 {
            return Err(bad(format!("the DH generator must be at least 2 and below p - 1 (IBKR uses 2); got {generator}.")));
        }
        Ok(DhParams {
            prime: prime.to_vec(),
            generator,
            modulus: Arc::new(modulus),
        })
    }

    /// Builds checked parameters from the prime as hex (any case, `0x`, `:` separators allowed).
    pub fn from_hex(prime_hex: &str, generator: u32) -> Result<Self> {
        let bytes = crate::encoding::hex_number(prime_hex).map_err(|e| {
            Error::new(
                ErrorCode::InvalidDhParams,
                format!(
                    "the DH prime must be hex (parseDhParams(dhparamPem).prime gives it): {}.",
                    e.describe()
                ),
            )
        })?;
        DhParams::new(&bytes, generator)
    }

    /// Reads `dhparam.pem`: PKCS#3 `DH PARAMETERS` (`SEQUENCE { p, g [, length] }`) or X9.42.
    pub fn from_pem(text: &str) -> Result<Self> {
        let what = "dhParams";
        let expected = "the DH parameters file (dhparam.pem, -----BEGIN DH PARAMETERS-----)";
        let block = select_block(text, what, expected, &DH_LABELS, ErrorCode::InvalidDhParams)?;
        let damaged = || {
            Error::new(
                ErrorCode::InvalidDhParams,
                format!("{what}: the PEM block is not DER-encoded DH parameters (SEQUENCE {{ prime, generator }}); the file is damaged."),
            )
        };
        let (seq, _) = der_take(&block.der, 0x30).ok_or_else(damaged)?;
        let (p, rest) = der_uint(seq).ok_or_else(damaged)?;
        let (g, _) = der_uint(rest).ok_or_else(damaged)?;
        if g.len() > 4 {
            return Err(Error::new(
                ErrorCode::InvalidDhParams,
                "the DH generator is unusually large; IBKR uses 2.".to_owned(),
            ));
        }
        let generator = g.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b));
        DhParams::new(p, generator)
    }

    /// The prime, big-endian without leading zeros.
    pub fn prime(&self) -> &[u8] {
        &self.prime
    }

    /// The generator.
    pub fn generator(&self) -> u32 {
        self.generator
    }

    /// The prime's size in bits.
    pub fn bits(&self) -> usize {
        bit_len_be(&self.prime)
    }

    /// The prime as lowercase hex without leading zeros.
    pub fn prime_hex(&self) -> String {
        hex_minimal(&self.prime)
    }

    /// `1 < x < p − 1` for a big-endian `x` (p is odd, so `p − 1` only changes the last byte):
    /// the range of DH exponents and public values.
    pub(crate) fn in_open_range(&self, x: &[u8]) -> bool {
        let x = trim_be(x);
        let above_one = x.len() > 1 || x.first().is_some_and(|&b| b > 1);
        let mut pm1 = self.prime.clone();
        if let Some(last) = pm1.last_mut() {
            *last -= 1;
        }
        above_one && cmp_be_vartime(x, &pm1).is_lt()
    }

    /// `g^exp mod p` (constant time in `exp` for its length), big-endian without leading zeros.
    pub(crate) fn pow_generator(&self, exp: &[u8]) -> Zeroizing<Vec<u8>> {
        if self.generator != 2 {
            return self.pow(&self.generator.to_be_bytes(), exp);
        }
        self.out_of_mont(Zeroizing::new(self.modulus.pow2_mont(exp)))
    }

    /// `base^exp mod p` (constant time in `exp` for its length), big-endian without leading zeros.
    pub(crate) fn pow(&self, base: &[u8], exp: &[u8]) -> Zeroizing<Vec<u8>> {
        let md = &self.modulus;
        let base_m = Zeroizing::new(md.enter_mont(&md.reduce_be(base)));
        self.out_of_mont(Zeroizing::new(md.pow_mont(&base_m, exp)))
    }

    /// A Montgomery-form result as minimal big-endian bytes; every copy is zeroized.
    fn out_of_mont(&self, r: Zeroizing<Vec<u32>>) -> Zeroizing<Vec<u8>> {
        let md = &self.modulus;
        let plain = Zeroizing::new(md.leave_mont(&r));
        let bytes = Zeroizing::new(md.to_be(&plain, md.byte_len()));
        Zeroizing::new(trim_be(&bytes).to_vec())
    }
}

/// Lowercase hex of a big-endian number without leading zeros (`"0"` for zero).
pub(crate) fn hex_minimal(x: &[u8]) -> String {
    let h = hex_encode(trim_be(x));
    match h.strip_prefix('0') {
        Some(rest) => rest.to_owned(),
        None if h.is_empty() => "0".to_owned(),
        None => h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_take_bounds() {
        use crate::rsa::der_take;
        assert_eq!(
            der_take(&[0x02, 0x01, 0x05, 0xff], 0x02),
            Some((&[0x05][..], &[0xff][..]))
        );
        assert_eq!(der_take(&[0x02, 0x05, 0x05], 0x02), None);
        assert_eq!(der_take(&[0x02, 0x85, 0, 0, 0, 0, 1], 0x02), None);
        assert_eq!(
            der_take(&[0x02, 0x81, 0x01, 0x07], 0x02),
            Some((&[0x07][..], &[][..]))
        );
        assert_eq!(der_take(&[], 0x02), None);
        assert_eq!(der_take(&[0x30, 0x00], 0x02), None);
    }

    #[test]
    fn secret_debug_is_redacted() {
        let s = SecretBytes::new(vec![1, 2, 3]);
        assert_eq!(format!("{s:?}"), "[redacted]");
    }

    #[test]
    fn pem_normalisation() {
        assert!(normalise_pem_text("-----BEGIN X-----\\nAAAA\\n-----END X-----").contains('\n'));
        assert_eq!(normalise_pem_text("\u{feff}abc"), "abc");
    }
}
