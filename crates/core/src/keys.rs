//! Key material: PEM framing, RSA private keys (PKCS#1 and PKCS#8), Diffie-Hellman parameters
//! (PKCS#3), and the secret types that hold what must not leak.
//!
//! PEM is read leniently, the way users paste it: CRLF or LF line endings, a byte-order mark,
//! surrounding text, literal `\n` escapes from environment variables, or base64 DER with no
//! armour at all. What is *not* a private RSA key (a public key, a certificate, DH parameters,
//! an encrypted key, an EC key) is named in the error, with the fix.

use std::fmt;
use std::sync::Arc;

use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams};
use crypto_bigint::{BoxedUint, Odd};
use der::asn1::UintRef;
use der::{Decode, Reader, SliceReader};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use sha2::Sha256;
use subtle::{ConditionallySelectable, ConstantTimeEq};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::encoding::{b64_decode_lenient, hex_encode};
use crate::error::{Error, ErrorCode, Result};

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
    /// Lowercase hex of the secret, wiped when dropped. Do not log it.
    pub fn expose_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex_encode(&self.0))
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
/// The result may be a private key's text, so every copy made here is wiped.
fn normalise_pem_text(text: &str) -> Zeroizing<String> {
    let mut t = text;
    while let Some(rest) = t.strip_prefix("\u{feff}") {
        t = rest;
    }
    if !t.contains('\n') && t.contains("\\n") {
        let crlf = Zeroizing::new(t.replace("\\r\\n", "\n"));
        Zeroizing::new(crlf.replace("\\n", "\n"))
    } else {
        Zeroizing::new(t.to_owned())
    }
}

/// What was found where a PEM block was expected.
enum PemProblem {
    Empty,
    NotPem { looks_like_path: bool },
    Unterminated(String),
    BadBody(String),
    DamagedBegin,
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
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = rest.get(start + 11..).unwrap_or_default();
        let Some(label_end) = after.find("-----") else {
            return Err(PemProblem::NotPem {
                looks_like_path: false,
            });
        };
        let label = after.get(..label_end).unwrap_or_default().trim().to_owned();
        // A label is RFC 7468's: short printable ASCII, no "--". Anything else means the BEGIN
        // line lost its closing dashes and the "label" ran into the body — which may be a key,
        // and messages name labels (found by fuzzing: a key's base64 appeared in the error).
        if !is_pem_label(&label) {
            return Err(PemProblem::DamagedBegin);
        }
        let body_and_rest = after.get(label_end + 5..).unwrap_or_default();
        let end_marker = format!("-----END {label}-----");
        let Some(end) = body_and_rest.find(&end_marker) else {
            return Err(PemProblem::Unterminated(label));
        };
        let body = body_and_rest.get(..end).unwrap_or_default();
        rest = body_and_rest
            .get(end + end_marker.len()..)
            .unwrap_or_default();

        let mut b64 = Zeroizing::new(String::with_capacity(body.len()));
        let mut encrypted_legacy = false;
        for line in body.split('\n') {
            let line = line.trim();
            if line.contains(':') {
                // RFC 1421 headers, e.g. "Proc-Type: 4,ENCRYPTED".
                encrypted_legacy |= line.contains("ENCRYPTED");
                continue;
            }
            b64.push_str(line);
        }
        let der = decode_block(&label, &b64).ok_or_else(|| PemProblem::BadBody(label.clone()))?;
        blocks.push(PemBlock {
            label,
            der,
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
            && (text.starts_with('/')
                || text.starts_with("./")
                || text.starts_with("~/")
                || text.contains(":\\")
                || text.ends_with(".pem")
                || text.ends_with(".key"));
        return Err(PemProblem::NotPem { looks_like_path });
    }
    Ok(blocks)
}

/// Whether `label` can be an RFC 7468 label: at most 64 printable ASCII characters (spaces
/// allowed), no `--`, no `-` at either end.
fn is_pem_label(label: &str) -> bool {
    label.len() <= 64
        && label.bytes().all(|b| (0x20..=0x7e).contains(&b))
        && !label.contains("--")
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// Decodes one block's base64 body with `pem-rfc7468` (constant-time base64), after re-framing it
/// as strict RFC 7468 text: the lenient reading above (line endings, indentation, RFC 1421
/// headers, any line width) is ours; decoding is the crate's. Every copy is wiped.
fn decode_block(label: &str, b64: &str) -> Option<Zeroizing<Vec<u8>>> {
    let mut canonical = Zeroizing::new(String::with_capacity(
        b64.len() * 65 / 64 + 2 * label.len() + 40,
    ));
    canonical.push_str("-----BEGIN ");
    canonical.push_str(label);
    canonical.push_str("-----\n");
    for line in b64.as_bytes().chunks(64) {
        canonical.push_str(std::str::from_utf8(line).ok()?);
        canonical.push('\n');
    }
    canonical.push_str("-----END ");
    canonical.push_str(label);
    canonical.push_str("-----\n");
    let (_, der) = pem_rfc7468::decode_vec(canonical.as_bytes()).ok()?;
    Some(Zeroizing::new(der))
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
        PemProblem::DamagedBegin => format!(
            "{what} has a damaged '-----BEGIN' line (its label is not a PEM label, or its closing \
             '-----' is missing): the PEM text was altered when it was copied. Copy it again from \
             the original file."
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

/// An RSA private key of 2048 to 4096 bits, held by RustCrypto's `rsa` (CRT precomputed,
/// blinded private operations, zeroized on drop). `Debug` prints `[redacted]`.
#[derive(Clone)]
pub struct PrivateKey {
    inner: rsa::PrivateKey,
    /// The key's PKCS#1 `RSAPrivateKey` DER, for a host's native crypto (wiped on drop).
    pkcs1_der: Arc<Zeroizing<Vec<u8>>>,
}

/// A host's raw RSA decryption (`c^d mod n`, no padding removed), given the key and the
/// ciphertext: the encoded message, `None` when the host cannot. Its result is checked.
pub type RawRsaDecrypt<'a> = dyn Fn(&PrivateKey, &[u8]) -> Option<Zeroizing<Vec<u8>>> + 'a;

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({} bits, [redacted])", self.bits())
    }
}

/// Smallest and largest RSA modulus accepted, in bits.
pub const RSA_BITS: (usize, usize) = (2048, 4096);

/// `rsaEncryption`, 1.2.840.113549.1.1.1: the only PKCS#8 algorithm accepted.
const RSA_ENCRYPTION: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// Why DER is not a usable RSA private key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyProblem {
    /// Not the DER of an RSA private key.
    Damaged,
    /// A PKCS#8 key for another algorithm.
    OtherAlgorithm,
    /// A multi-prime key (PKCS#1 version 1).
    MultiPrime,
    /// The numbers do not fit together (`n ≠ p·q`, a wrong exponent, CRT values that disagree).
    Inconsistent,
}

/// Reads PKCS#1 `RSAPrivateKey` DER, or PKCS#8 `PrivateKeyInfo` DER holding one, with the
/// `pkcs1`/`pkcs8` crates; `rsa` checks that the numbers fit together.
fn rsa_from_der(der: &[u8]) -> std::result::Result<(rsa::PrivateKey, &[u8]), KeyProblem> {
    let pkcs1_der: &[u8] = match rsa::pkcs8::PrivateKeyInfoRef::from_der(der) {
        Ok(info) => {
            if info.algorithm.oid != RSA_ENCRYPTION {
                return Err(KeyProblem::OtherAlgorithm);
            }
            info.private_key.as_bytes()
        }
        Err(_) => der,
    };
    let fields = match rsa::pkcs1::RsaPrivateKeyRef::from_der(pkcs1_der) {
        Ok(k) if k.version() != rsa::pkcs1::Version::TwoPrime => {
            return Err(KeyProblem::MultiPrime)
        }
        Ok(k) => k,
        Err(_) => return Err(KeyProblem::Damaged),
    };
    // `rsa` checks n, e, d, p and q, and derives the CRT values itself; the file's copies of
    // them must agree, or the file is damaged (compared in constant time: they are secret).
    let key = rsa::PrivateKey::from_pkcs1_der(pkcs1_der).map_err(|_| KeyProblem::Inconsistent)?;
    let crt = key.crt_coefficient().map(Zeroizing::new);
    let agree = |ours: Option<&BoxedUint>, theirs: UintRef<'_>| {
        ours.is_some_and(|ours| {
            let precision = ours.bits_precision();
            BoxedUint::from_be_slice(theirs.as_bytes(), precision)
                .map(Zeroizing::new)
                .is_ok_and(|theirs| {
                    let (a, b) = (
                        Zeroizing::new(ours.to_be_bytes()),
                        Zeroizing::new(theirs.to_be_bytes()),
                    );
                    bool::from(a.ct_eq(&b))
                })
        })
    };
    let consistent = agree(key.dp(), fields.exponent1)
        & agree(key.dq(), fields.exponent2)
        & agree(crt.as_deref(), fields.coefficient);
    if consistent {
        Ok((key, pkcs1_der))
    } else {
        Err(KeyProblem::Inconsistent)
    }
}

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
        let (inner, pkcs1_der) = rsa_from_der(&block.der).map_err(|p| key_problem(p, what))?;
        let key = PrivateKey {
            inner,
            pkcs1_der: Arc::new(Zeroizing::new(pkcs1_der.to_vec())),
        };
        let bits = key.bits();
        if !(RSA_BITS.0..=RSA_BITS.1).contains(&bits) {
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
        self.inner.n().as_ref().bit_width() as usize
    }

    /// The modulus size in bytes (the size of a signature or ciphertext).
    pub fn size(&self) -> usize {
        self.bits().div_ceil(8)
    }

    /// The modulus, big-endian without leading zeros (public).
    pub fn modulus(&self) -> Vec<u8> {
        self.inner
            .n()
            .as_ref()
            .to_be_bytes_trimmed_vartime()
            .into_vec()
    }

    /// The public exponent, big-endian without leading zeros (public).
    pub fn public_exponent(&self) -> Vec<u8> {
        self.inner.e().to_be_bytes_trimmed_vartime().into_vec()
    }

    /// The key as PKCS#1 `RSAPrivateKey` DER (for a host's native crypto). Secret: do not log.
    pub fn pkcs1_der(&self) -> &[u8] {
        &self.pkcs1_der
    }

    /// [`PrivateKey::decrypt_pkcs1v15`] with the raw RSA operation done by the host when it can
    /// (`raw`): its result is accepted only if it encrypts back to the ciphertext (the public
    /// operation), and the padding is then checked the same way, in constant time. Otherwise the
    /// `rsa` crate decrypts.
    pub fn decrypt_pkcs1v15_with(
        &self,
        ciphertext: &[u8],
        raw: Option<&RawRsaDecrypt<'_>>,
    ) -> Result<SecretBytes> {
        let k = self.size();
        if ciphertext.len() == k {
            if let Some(em) = raw.and_then(|raw| raw(self, ciphertext)) {
                if em.len() == k && self.encrypts_to(&em, ciphertext) {
                    let message = unpad_pkcs1v15_encryption(&em).ok_or_else(not_for_this_key)?;
                    return Ok(SecretBytes::new(message.to_vec()));
                }
            }
        }
        self.decrypt_pkcs1v15(ciphertext)
    }

    /// Whether `m^e mod n` is `c` (both big-endian, `k` bytes).
    fn encrypts_to(&self, m: &[u8], c: &[u8]) -> bool {
        let precision = self.inner.n().as_ref().bits_precision();
        let (Ok(m), Ok(c)) = (
            BoxedUint::from_be_slice(m, precision),
            BoxedUint::from_be_slice(c, precision),
        ) else {
            return false;
        };
        let m = Zeroizing::new(m);
        rsa::hazmat::rsa_encrypt(self.inner.as_public_key(), &m).is_ok_and(|x| x == c)
    }

    /// The key as PKCS#8 DER (for a host's WebCrypto `importKey`), wiped when dropped.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>> {
        use rsa::pkcs8::EncodePrivateKey;
        let doc = self.inner.to_pkcs8_der().map_err(|_| rsa_failed())?;
        Ok(Zeroizing::new(doc.as_bytes().to_vec()))
    }

    /// Whether `signature` is this key's RSASSA-PKCS1-v1_5 SHA-256 signature of `message`
    /// (the public operation: checks a signature made elsewhere before it is used).
    pub fn verify_sha256(&self, message: &[u8], signature: &[u8]) -> bool {
        self.inner
            .as_public_key()
            .pkcs1v15_verify::<Sha256>(message, signature)
            .is_ok()
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `message` (`rsa`, blinded; deterministic).
    pub fn sign_sha256(&self, message: &[u8]) -> Result<Vec<u8>> {
        self.inner
            .pkcs1v15_sign::<Sha256>(message)
            .map_err(|_| rsa_failed())
    }

    /// RSAES-PKCS1-v1_5 decryption with explicit rejection: the raw RSA operation is the `rsa`
    /// crate's (`hazmat::rsa_decrypt_and_check`: blinded, CRT, checked against the public key);
    /// the padding check that follows is ours, in constant time. A ciphertext made for another
    /// key fails with [`ErrorCode::DecryptFailed`]. No oracle is exposed: the only ciphertext
    /// ever decrypted is the user's own access token secret, once per session (README).
    pub fn decrypt_pkcs1v15(&self, ciphertext: &[u8]) -> Result<SecretBytes> {
        let k = self.size();
        if ciphertext.len() != k {
            return Err(not_for_this_key());
        }
        let precision = self.inner.n().as_ref().bits_precision();
        let c = BoxedUint::from_be_slice(ciphertext, precision).map_err(|_| not_for_this_key())?;
        let m = rsa::hazmat::rsa_decrypt_and_check(&self.inner, Some(&mut getrandom::SysRng), &c)
            .map_err(|e| match e {
            rsa::Error::Decryption | rsa::Error::InvalidArguments => not_for_this_key(),
            _ => rsa_failed(),
        })?;
        let m = Zeroizing::new(m);
        let full = Zeroizing::new(m.to_be_bytes());
        let em = full.get(full.len().saturating_sub(k)..).unwrap_or_default();
        let message = unpad_pkcs1v15_encryption(em).ok_or_else(not_for_this_key)?;
        Ok(SecretBytes::new(message.to_vec()))
    }
}

/// EME-PKCS1-v1_5 decoding (RFC 8017 §7.2.2, step 3): `EM = 0x00 ‖ 0x02 ‖ PS ‖ 0x00 ‖ M` with
/// at least eight non-zero bytes of `PS`. Every byte of `em` is looked at whatever its value,
/// and the verdict and the separator's position are computed without branches on them.
fn unpad_pkcs1v15_encryption(em: &[u8]) -> Option<&[u8]> {
    if em.len() < 11 {
        return None;
    }
    let mut ok = em[0].ct_eq(&0) & em[1].ct_eq(&2);
    let mut found = subtle::Choice::from(0);
    let mut sep = 0u32;
    for (i, &b) in em.iter().enumerate().skip(2) {
        let zero = b.ct_eq(&0);
        let first = zero & !found;
        sep.conditional_assign(&(i as u32), first);
        found |= zero;
    }
    ok &= found;
    // The separator must follow at least eight padding bytes: index ≥ 10.
    ok &= !subtle::ConstantTimeLess::ct_lt(&sep, &10);
    if bool::from(ok) {
        em.get(sep as usize + 1..)
    } else {
        None
    }
}

fn not_for_this_key() -> Error {
    Error::new(
        ErrorCode::DecryptFailed,
        "the access token secret does not decrypt with this encryption key. Check that \
         encryptionKey is your private *encryption* key (not the signature key), and that the \
         access token secret is the one issued with this access token for this consumer key \
         (regenerate the access token in IBKR's portal if unsure).",
    )
}

fn rsa_failed() -> Error {
    Error::new(
        ErrorCode::Internal,
        "the RSA operation failed (no secure random source for blinding, or the result did not \
         verify against the public key); nothing was released. Retry; if it repeats, report it.",
    )
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

/// Fills `buf` from the platform's secure random source (`getrandom`).
pub fn getrandom_fill(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|_| {
        Error::new(
            ErrorCode::Internal,
            "no secure random source is available on this platform",
        )
    })
}

/// Diffie-Hellman group parameters: prime `p` and generator `g`. The modular arithmetic is
/// `crypto-bigint`'s (Montgomery form, constant time in the exponent).
#[derive(Clone)]
pub struct DhParams {
    /// The prime, big-endian without leading zeros.
    prime: Vec<u8>,
    generator: u32,
    monty: Arc<BoxedMontyParams>,
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

/// Strips leading zero bytes.
pub(crate) fn trim_be(x: &[u8]) -> &[u8] {
    let start = x.iter().position(|&b| b != 0).unwrap_or(x.len());
    x.get(start..).unwrap_or_default()
}

/// The bit length of a big-endian number.
pub(crate) fn bit_len_be(x: &[u8]) -> usize {
    let x = trim_be(x);
    x.first()
        .map_or(0, |&b| x.len() * 8 - b.leading_zeros() as usize)
}

impl DhParams {
    /// Builds checked parameters from a prime (big-endian bytes) and a generator.
    pub fn new(prime: &[u8], generator: u32) -> Result<Self> {
        let prime = trim_be(prime);
        let bits = bit_len_be(prime);
        let bad = |m: String| Error::new(ErrorCode::InvalidDhParams, m);
        if !(DH_PRIME_BITS.0..=DH_PRIME_BITS.1).contains(&bits) {
            return Err(bad(format!(
                "the DH prime has {bits} bits; IBKR uses a 2048-bit prime ({} to {} bits accepted). \
                 Pass the prime from your dhparam.pem.",
                DH_PRIME_BITS.0, DH_PRIME_BITS.1
            )));
        }
        let p = BoxedUint::from_be_slice_vartime(prime);
        let Some(odd) = Option::<Odd<BoxedUint>>::from(Odd::new(p)) else {
            return Err(bad("the DH prime is even, so it is not a prime: check that the right value was passed.".into()));
        };
        // g < p − 1 always holds for a prime of ≥ 1024 bits and a u32 generator.
        if generator < 2 {
            return Err(bad(format!("the DH generator must be at least 2 and below p - 1 (IBKR uses 2); got {generator}.")));
        }
        Ok(DhParams {
            prime: prime.to_vec(),
            generator,
            monty: Arc::new(BoxedMontyParams::new_vartime(odd)),
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

    /// Reads `dhparam.pem`: PKCS#3 `DH PARAMETERS` (`SEQUENCE { p, g [, length] }`) or X9.42
    /// (`SEQUENCE { p, g, q, … }`), with the `der` crate.
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
        let (p, g) = read_dh_sequence(&block.der).ok_or_else(damaged)?;
        if g.len() > 4 {
            return Err(Error::new(
                ErrorCode::InvalidDhParams,
                "the DH generator is unusually large; IBKR uses 2.".to_owned(),
            ));
        }
        let generator = g.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b));
        DhParams::new(&p, generator)
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
        above_one && (x.len(), x) < (pm1.len(), pm1.as_slice())
    }

    /// `g^exp mod p`, big-endian without leading zeros.
    pub(crate) fn pow_generator(&self, exp: &[u8]) -> Zeroizing<Vec<u8>> {
        self.pow(&self.generator.to_be_bytes(), exp)
    }

    /// `base^exp mod p` (constant time in `exp` for its length; `base < p`), big-endian without
    /// leading zeros. Every intermediate that depends on `exp` is wiped.
    pub(crate) fn pow(&self, base: &[u8], exp: &[u8]) -> Zeroizing<Vec<u8>> {
        let precision = self.monty.bits_precision();
        let base = trim_be(base);
        let b = BoxedUint::from_be_slice(base, precision)
            .unwrap_or_else(|_| BoxedUint::zero_with_precision(precision));
        let exp_bits = u32::try_from(exp.len() * 8).unwrap_or(u32::MAX);
        let e = Zeroizing::new(
            BoxedUint::from_be_slice(exp, exp_bits)
                .unwrap_or_else(|_| BoxedUint::zero_with_precision(exp_bits)),
        );
        let mut r = BoxedMontyForm::new(b, &self.monty).pow(&e);
        let plain = Zeroizing::new(r.retrieve());
        r.zeroize();
        let bytes = Zeroizing::new(plain.to_be_bytes());
        Zeroizing::new(trim_be(&bytes).to_vec())
    }
}

/// `SEQUENCE { INTEGER p, INTEGER g, … }`: the first two integers of PKCS#3 or X9.42 parameters.
fn read_dh_sequence(der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut reader = SliceReader::new(der).ok()?;
    let pg = reader
        .sequence(|r: &mut SliceReader<'_>| {
            let p = UintRef::decode(r)?;
            let g = UintRef::decode(r)?;
            // PKCS#3's privateValueLength or X9.42's q, j, seed: not used.
            let rest = r.remaining_len();
            r.read_slice(rest)?;
            Ok::<_, der::Error>((p.as_bytes().to_vec(), g.as_bytes().to_vec()))
        })
        .ok()?;
    reader.finish().ok()?;
    Some(pg)
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
    fn dh_powers_of_any_exponent_length() {
        // A 1024-bit odd number stands in for the prime: small powers of 2 stay below it.
        let mut p = vec![0xffu8; 128];
        p[127] = 0xc3;
        let dh = DhParams::new(&p, 2).unwrap();
        assert_eq!(&**dh.pow_generator(&[3]), &[8]);
        assert_eq!(&**dh.pow_generator(&[0, 0, 10]), &[4, 0]);
        // 2^256: a one and 32 zero bytes, from a 2-byte exponent (0x0100).
        let mut want = vec![1u8];
        want.extend([0u8; 32]);
        assert_eq!(&**dh.pow_generator(&[1, 0]), &want[..]);
        // 2^1023 < p, with the top bit of a 128-byte result set.
        let r = dh.pow_generator(&[0x03, 0xff]);
        assert_eq!((r.len(), r[0]), (128, 0x80));
        // A base other than the generator: 3^5 = 243.
        assert_eq!(&**dh.pow(&[3], &[5]), &[243]);
    }

    #[test]
    fn pkcs1_padding_check() {
        let k = 256;
        let mut em = vec![0u8; k];
        em[1] = 2;
        for b in &mut em[2..k - 33] {
            *b = 0x5a;
        }
        // em[k - 33] stays 0: the separator; 32 bytes of message follow.
        for (i, b) in em[k - 32..].iter_mut().enumerate() {
            *b = i as u8 + 1;
        }
        let m = unpad_pkcs1v15_encryption(&em).unwrap();
        assert_eq!(m, &em[k - 32..]);
        // Each way the padding can be wrong is refused.
        let mut bad = em.clone();
        bad[0] = 1;
        assert!(unpad_pkcs1v15_encryption(&bad).is_none());
        let mut bad = em.clone();
        bad[1] = 1;
        assert!(unpad_pkcs1v15_encryption(&bad).is_none());
        let mut bad = em.clone();
        bad[9] = 0; // a zero inside the first eight padding bytes
        assert!(unpad_pkcs1v15_encryption(&bad).is_none());
        let mut bad = em.clone();
        bad[k - 33] = 0x5a; // no separator at all
        assert!(unpad_pkcs1v15_encryption(&bad).is_none());
        // The separator may come right after the eight padding bytes; an empty message is allowed.
        let mut short = em.clone();
        short[10] = 0;
        assert_eq!(unpad_pkcs1v15_encryption(&short).unwrap().len(), k - 11);
        let mut empty = em;
        empty[k - 33] = 0x5a;
        for b in &mut empty[k - 32..k - 1] {
            *b = 0x77;
        }
        empty[k - 1] = 0;
        assert_eq!(unpad_pkcs1v15_encryption(&empty).unwrap().len(), 0);
    }

    #[test]
    fn secret_debug_is_redacted() {
        let s = SecretBytes::new(vec![1, 2, 3]);
        assert_eq!(format!("{s:?}"), "[redacted]");
    }

    #[test]
    fn pem_normalisation() {
        assert!(normalise_pem_text("-----BEGIN X-----\\nAAAA\\n-----END X-----").contains('\n'));
        assert_eq!(normalise_pem_text("\u{feff}abc").as_str(), "abc");
    }
}
