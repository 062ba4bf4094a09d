//! RSA private-key operations on [`ibkr_auth_bigint`]: reading PKCS#1 and PKCS#8 DER, checking that
//! the key's numbers fit together, RSASSA-PKCS1-v1_5 with SHA-256, and RSAES-PKCS1-v1_5
//! decryption.
//!
//! Every private operation uses the Chinese remainder theorem, is blinded (the input is
//! multiplied by `rᵉ` for a random `r`, the result by `r⁻¹`), and is checked against the public
//! key before anything leaves (`sᵉ mod n` must give the input back), so a fault can never leak a
//! prime. Blinding pairs are made once per key and renewed by squaring, with a fresh `r` every
//! 32 operations.

use std::sync::Mutex;

use zeroize::Zeroizing;

use ibkr_auth_bigint::{bit_len_be, cmp_be_vartime, mul_add_be, rem_be, trim_be, Modulus};

/// Why DER is not a usable RSA private key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyProblem {
    /// Not the DER of an RSA private key.
    Damaged,
    /// A PKCS#8 key for another algorithm.
    OtherAlgorithm,
    /// A multi-prime key (PKCS#1 version 1).
    MultiPrime,
    /// The numbers do not fit together (`n ≠ p·q`, a wrong CRT exponent or coefficient).
    Inconsistent,
}

/// Why a private operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpError {
    /// No secure random source for blinding.
    NoRandom,
    /// The result did not verify against the public key.
    Fault,
    /// The input is not below the modulus, or the decrypted padding is wrong.
    Rejected,
}

/// `rsaEncryption`, 1.2.840.113549.1.1.1.
const RSA_OID: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// DER `DigestInfo` prefix for SHA-256 (RFC 8017 §9.2, note 1).
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// Operations with one blinding pair before a fresh random `r` is drawn.
const BLINDING_REUSE: u32 = 32;

struct Blinding {
    /// `rᵉ` in Montgomery form mod n.
    re: Zeroizing<Vec<u32>>,
    /// `r⁻¹` in Montgomery form mod n.
    r_inv: Zeroizing<Vec<u32>>,
    uses: u32,
}

/// An RSA private key, prepared for CRT. Secret parts are zeroized on drop.
pub(crate) struct RsaKey {
    n: Vec<u8>,
    e: Vec<u8>,
    q: Zeroizing<Vec<u8>>,
    dp: Zeroizing<Vec<u8>>,
    dq: Zeroizing<Vec<u8>>,
    /// `q⁻¹ mod p` in Montgomery form mod p.
    qinv_m: Zeroizing<Vec<u32>>,
    mod_n: Modulus,
    mod_p: Modulus,
    mod_q: Modulus,
    blinding: Mutex<Option<Blinding>>,
}

impl Clone for RsaKey {
    fn clone(&self) -> Self {
        RsaKey {
            n: self.n.clone(),
            e: self.e.clone(),
            q: self.q.clone(),
            dp: self.dp.clone(),
            dq: self.dq.clone(),
            qinv_m: self.qinv_m.clone(),
            mod_n: self.mod_n.clone(),
            mod_p: self.mod_p.clone(),
            mod_q: self.mod_q.clone(),
            blinding: Mutex::new(None),
        }
    }
}

/// Takes one DER element with tag `tag` from the front of `input`: (contents, rest).
pub(crate) fn der_take(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = input.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let (len_bytes, r) = rest.split_at_checked(n)?;
        rest = r;
        len_bytes
            .iter()
            .fold(0usize, |acc, &b| acc << 8 | usize::from(b))
    };
    rest.split_at_checked(len)
}

/// A non-negative DER INTEGER's magnitude (leading zeros stripped).
pub(crate) fn der_uint(input: &[u8]) -> Option<(&[u8], &[u8])> {
    let (v, rest) = der_take(input, 0x02)?;
    if v.first().map_or(true, |&b| b & 0x80 != 0) {
        return None;
    }
    Some((trim_be(v), rest))
}

impl RsaKey {
    /// Reads PKCS#1 `RSAPrivateKey` or PKCS#8 `PrivateKeyInfo` DER and checks the numbers.
    pub fn from_der(der: &[u8]) -> Result<Self, KeyProblem> {
        use KeyProblem::Damaged;
        let (seq, _) = der_take(der, 0x30).ok_or(Damaged)?;
        let (_version, rest) = der_uint(seq).ok_or(Damaged)?;
        if rest.first() == Some(&0x30) {
            // PKCS#8: version, AlgorithmIdentifier, OCTET STRING { RSAPrivateKey }
            let (alg, rest) = der_take(rest, 0x30).ok_or(Damaged)?;
            let (oid, _) = der_take(alg, 0x06).ok_or(Damaged)?;
            if oid != RSA_OID {
                return Err(KeyProblem::OtherAlgorithm);
            }
            let (inner, _) = der_take(rest, 0x04).ok_or(Damaged)?;
            return Self::from_pkcs1(inner);
        }
        Self::from_pkcs1(der)
    }

    fn from_pkcs1(der: &[u8]) -> Result<Self, KeyProblem> {
        use KeyProblem::{Damaged, Inconsistent};
        let (seq, _) = der_take(der, 0x30).ok_or(Damaged)?;
        let mut fields: [&[u8]; 9] = [&[]; 9];
        let mut rest = seq;
        for f in fields.iter_mut() {
            let (v, r) = der_uint(rest).ok_or(Damaged)?;
            *f = v;
            rest = r;
        }
        let [version, n, e, _d, p, q, dp, dq, qinv] = fields;
        if !version.is_empty() {
            return Err(if version == [1] {
                KeyProblem::MultiPrime
            } else {
                Damaged
            });
        }
        let mod_n = Modulus::new(n).ok_or(Inconsistent)?;
        let mod_p = Modulus::new(p).ok_or(Inconsistent)?;
        let mod_q = Modulus::new(q).ok_or(Inconsistent)?;
        // e odd and at least 3
        if e.last().map_or(true, |&b| b & 1 == 0) || e == [1] {
            return Err(Inconsistent);
        }
        // n = p·q
        let pq = mul_add_be(p, q, &[], p.len() + q.len());
        if cmp_be_vartime(&pq, n).is_ne() {
            return Err(Inconsistent);
        }
        // e·dp ≡ 1 (mod p − 1), e·dq ≡ 1 (mod q − 1)
        for (prime, d) in [(p, dp), (q, dq)] {
            let mut pm1 = Zeroizing::new(prime.to_vec());
            if let Some(last) = pm1.last_mut() {
                *last -= 1; // prime is odd, so no borrow
            }
            let ed = Zeroizing::new(mul_add_be(e, d, &[], e.len() + d.len()));
            let rem = Zeroizing::new(rem_be(&ed, &pm1));
            if trim_be(&rem) != [1] {
                return Err(Inconsistent);
            }
        }
        // qinv < p and qinv·q ≡ 1 (mod p)
        if cmp_be_vartime(qinv, p).is_ge() {
            return Err(Inconsistent);
        }
        let qinv_m = Zeroizing::new(mod_p.enter_mont(&mod_p.limbs_of(qinv)));
        let q_mod_p = Zeroizing::new(mod_p.reduce_be(q));
        let mut check = Zeroizing::new(vec![0u32; mod_p.limbs()]);
        mod_p.mont_mul(&qinv_m, &q_mod_p, &mut check, &mut mod_p.scratch());
        if check[0] != 1 || check[1..].iter().any(|&l| l != 0) {
            return Err(Inconsistent);
        }
        Ok(RsaKey {
            n: n.to_vec(),
            e: e.to_vec(),
            q: Zeroizing::new(q.to_vec()),
            dp: Zeroizing::new(dp.to_vec()),
            dq: Zeroizing::new(dq.to_vec()),
            qinv_m,
            mod_n,
            mod_p,
            mod_q,
            blinding: Mutex::new(None),
        })
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        bit_len_be(&self.n)
    }

    /// The modulus size in bytes.
    pub fn size(&self) -> usize {
        self.n.len()
    }

    /// RSASSA-PKCS1-v1_5 over a SHA-256 `digest`.
    pub fn sign_sha256_digest(&self, digest: &[u8; 32]) -> Result<Vec<u8>, OpError> {
        let k = self.size();
        let t_len = SHA256_DIGEST_INFO.len() + digest.len();
        // EM = 0x00 0x01 FF…FF 0x00 DigestInfo H; keys are ≥ 2048 bits, so PS is long.
        let mut em = vec![0xffu8; k];
        em[0] = 0;
        em[1] = 1;
        em[k - t_len - 1] = 0;
        em[k - t_len..k - digest.len()].copy_from_slice(&SHA256_DIGEST_INFO);
        em[k - digest.len()..].copy_from_slice(digest);
        self.private_op(&em)
    }

    /// RSAES-PKCS1-v1_5 decryption of `c` (at most `size()` bytes). The padding is checked
    /// without branching on secret bytes; a wrong key or damaged ciphertext is `Rejected`.
    pub fn decrypt_pkcs1v15(&self, c: &[u8]) -> Result<Zeroizing<Vec<u8>>, OpError> {
        let k = self.size();
        if c.len() > k || cmp_be_vartime(c, &self.n).is_ge() {
            return Err(OpError::Rejected);
        }
        let mut padded = vec![0u8; k - c.len()];
        padded.extend_from_slice(c);
        let em = Zeroizing::new(self.private_op(&padded)?);
        // EM = 0x00 0x02 PS (≥ 8 non-zero bytes) 0x00 M
        let mut good = u32::from(em[0] == 0) & u32::from(em[1] == 2);
        let mut found = 0u32; // all ones once the separator was seen
        let mut index = 0u32;
        for (i, &b) in em.iter().enumerate().skip(2) {
            let is_zero = u32::from(b == 0).wrapping_neg();
            let first = is_zero & !found;
            index |= (i as u32) & first;
            found |= is_zero;
        }
        good &= found & 1;
        good &= u32::from(index >= 10);
        if good != 1 {
            return Err(OpError::Rejected);
        }
        Ok(Zeroizing::new(em[index as usize + 1..].to_vec()))
    }

    /// `x^d mod n` for a `size()`-byte `x`: blinded, by CRT, checked with `e`.
    fn private_op(&self, x: &[u8]) -> Result<Vec<u8>, OpError> {
        let k = self.size();
        if cmp_be_vartime(x, &self.n).is_ge() {
            return Err(OpError::Rejected);
        }
        let (re, r_inv) = self.next_blinding()?;
        let (nm, pm, qm) = (&self.mod_n, &self.mod_p, &self.mod_q);
        let mut s = nm.scratch();
        let x_l = nm.limbs_of(x);
        // blind: x·rᵉ mod n
        let mut xb = Zeroizing::new(vec![0u32; nm.limbs()]);
        nm.mont_mul(&x_l, &re, &mut xb, &mut s);
        let xb_be = Zeroizing::new(nm.to_be(&xb, k));
        // m1 = xb^dp mod p, m2 = xb^dq mod q
        let half = |md: &Modulus, d: &[u8]| {
            let base = Zeroizing::new(md.enter_mont(&md.reduce_be(&xb_be)));
            let r = Zeroizing::new(md.pow_mont(&base, d));
            Zeroizing::new(md.leave_mont(&r))
        };
        let m1 = half(pm, &self.dp);
        let m2 = half(qm, &self.dq);
        let m2_be = Zeroizing::new(qm.to_be(&m2, qm.byte_len()));
        // Garner: h = qinv·(m1 − m2) mod p; m = m2 + h·q
        let mut diff = m1;
        pm.sub_mod_in_place(&mut diff, &pm.reduce_be(&m2_be));
        let mut h = Zeroizing::new(vec![0u32; pm.limbs()]);
        pm.mont_mul(&diff, &self.qinv_m, &mut h, &mut pm.scratch());
        let h_be = Zeroizing::new(pm.to_be(&h, pm.byte_len()));
        let yb_be = Zeroizing::new(mul_add_be(&h_be, &self.q, &m2_be, k));
        // unblind: · r⁻¹ mod n
        let yb = Zeroizing::new(nm.limbs_of(&yb_be));
        let mut y = vec![0u32; nm.limbs()];
        nm.mont_mul(&yb, &r_inv, &mut y, &mut s);
        // check: yᵉ mod n = x
        let ye = nm.leave_mont(&nm.pow_mont_vartime(&nm.enter_mont(&y), &self.e));
        if nm.to_be(&ye, k) != x {
            return Err(OpError::Fault);
        }
        Ok(nm.to_be(&y, k))
    }

    /// The blinding pair for this operation, renewed afterwards.
    #[allow(clippy::type_complexity)]
    fn next_blinding(&self) -> Result<(Zeroizing<Vec<u32>>, Zeroizing<Vec<u32>>), OpError> {
        let mut slot = self.blinding.lock().unwrap_or_else(|e| e.into_inner());
        if slot.as_ref().map_or(true, |b| b.uses >= BLINDING_REUSE) {
            *slot = Some(self.new_blinding()?);
        }
        let Some(b) = slot.as_mut() else {
            return Err(OpError::NoRandom);
        };
        let out = (b.re.clone(), b.r_inv.clone());
        let nm = &self.mod_n;
        let mut s = nm.scratch();
        let mut t = Zeroizing::new(vec![0u32; nm.limbs()]);
        nm.mont_sqr(&b.re, &mut t, &mut s);
        std::mem::swap(&mut b.re, &mut t);
        nm.mont_sqr(&b.r_inv, &mut t, &mut s);
        std::mem::swap(&mut b.r_inv, &mut t);
        b.uses += 1;
        Ok(out)
    }

    fn new_blinding(&self) -> Result<Blinding, OpError> {
        let nm = &self.mod_n;
        for _ in 0..8 {
            let mut bytes = Zeroizing::new(vec![0u8; self.size() + 16]);
            crate::keys::getrandom_fill(&mut bytes).map_err(|_| OpError::NoRandom)?;
            let r = Zeroizing::new(nm.reduce_be(&bytes));
            if r.iter().all(|&l| l == 0) {
                continue;
            }
            let Some(r_inv) = nm.inverse_vartime(&r) else {
                continue; // r shares a factor with n: astronomically unlikely
            };
            let r_inv = Zeroizing::new(r_inv);
            let r_m = Zeroizing::new(nm.enter_mont(&r));
            return Ok(Blinding {
                re: Zeroizing::new(nm.pow_mont_vartime(&r_m, &self.e)),
                r_inv: Zeroizing::new(nm.enter_mont(&r_inv)),
                uses: 0,
            });
        }
        Err(OpError::NoRandom)
    }
}
