//! Modular arithmetic for RSA and Diffie-Hellman, shaped for WebAssembly.
//!
//! wasm32 multiplies 64-bit integers natively but has no 64×64→128 product, so numbers are kept
//! in limbs of 28 bits (26 above about 3,500 bits), one per `u32`. The product of two limbs then
//! takes at most 56 bits, and a whole column of a Montgomery product — every partial product
//! plus every reduction term — is summed in one `u64` before a carry is taken. There is no carry
//! chain through the inner loops: each multiply-add is independent of the one before it.
//!
//! What touches a secret (RSA primes and exponents, the DH exponent) runs in time that depends
//! only on the sizes of the numbers: Montgomery reduction ends in a masked subtraction, the
//! exponentiation uses a fixed 4-bit window, and table entries are read by scanning every entry.
//! Only public values (the RSA public exponent, the blinding inverse's random input) take the
//! variable-time paths, which are named `*_vartime`.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use zeroize::Zeroize;

/// Bits per limb for a modulus of `limbs28` 28-bit limbs: 28 while a column of `2n` products
/// of 56 bits fits in 64 bits (n ≤ 127), else 26 (n ≤ 2047, far above any size accepted).
fn radix_for_bits(bits: usize) -> u32 {
    if bits.div_ceil(28) <= 127 {
        28
    } else {
        26
    }
}

/// Big-endian bytes → little-endian limbs of `r` bits; exactly `len` limbs (higher limbs of the
/// input must be zero when `len` is smaller than the input needs).
fn limbs_from_be(bytes: &[u8], r: u32, len: usize) -> Vec<u32> {
    let mask = (1u64 << r) - 1;
    let mut out = Vec::with_capacity(len.max(bytes.len() * 8 / r as usize + 1));
    let mut acc = 0u64;
    let mut have = 0u32;
    for &b in bytes.iter().rev() {
        acc |= u64::from(b) << have;
        have += 8;
        while have >= r {
            out.push((acc & mask) as u32);
            acc >>= r;
            have -= r;
        }
    }
    if have > 0 {
        out.push(acc as u32);
    }
    out.resize(len.max(out.len()), 0);
    out.truncate(len);
    out
}

/// Little-endian limbs of `r` bits → big-endian bytes, exactly `len` bytes (higher bits dropped).
fn limbs_to_be(limbs: &[u32], r: u32, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    let mut acc = 0u64;
    let mut have = 0u32;
    let mut pos = len;
    for &l in limbs {
        if pos == 0 {
            break;
        }
        acc |= u64::from(l) << have;
        have += r;
        while have >= 8 && pos > 0 {
            pos -= 1;
            out[pos] = acc as u8;
            acc >>= 8;
            have -= 8;
        }
    }
    while have > 0 && pos > 0 {
        pos -= 1;
        out[pos] = acc as u8;
        acc >>= 8;
        have = have.saturating_sub(8);
    }
    out
}

/// Strips leading zero bytes.
pub fn trim_be(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// Compares two big-endian numbers (leading zeros allowed). Variable time.
pub fn cmp_be_vartime(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let (a, b) = (trim_be(a), trim_be(b));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// `a · b + c` for big-endian inputs, as big-endian bytes of `len` bytes. Constant time in the
/// values for fixed lengths.
pub fn mul_add_be(a: &[u8], b: &[u8], c: &[u8], len: usize) -> Vec<u8> {
    const R: u32 = 26;
    let mask = (1u64 << R) - 1;
    let la = (a.len() * 8).div_ceil(R as usize);
    let lb = (b.len() * 8).div_ceil(R as usize);
    let lc = (c.len() * 8).div_ceil(R as usize);
    let x = limbs_from_be(a, R, la);
    let y = limbs_from_be(b, R, lb);
    let z = limbs_from_be(c, R, lc);
    let mut cols = vec![0u64; (la + lb).max(lc) + 2];
    for (i, &xi) in x.iter().enumerate() {
        for (col, &yj) in cols[i..].iter_mut().zip(&y) {
            *col += u64::from(xi) * u64::from(yj);
        }
    }
    for (col, &zj) in cols.iter_mut().zip(&z) {
        *col += u64::from(zj);
    }
    let mut out = vec![0u32; cols.len()];
    let mut carry = 0u64;
    for (o, &col) in out.iter_mut().zip(&cols) {
        let v = col + carry;
        *o = (v & mask) as u32;
        carry = v >> R;
    }
    limbs_to_be(&out, R, len)
}

/// `a mod m` for big-endian inputs (any `m` > 0, even ones), as big-endian bytes of `m`'s length.
/// Bit-serial with masked subtraction: constant time for fixed lengths. For the one-off checks of
/// a key's numbers; the hot paths reduce with [`Modulus::reduce_be`].
pub fn rem_be(a: &[u8], m: &[u8]) -> Vec<u8> {
    const R: u32 = 26;
    let mask = (1u64 << R) - 1;
    let n = (m.len() * 8).div_ceil(R as usize) + 1;
    let ml = limbs_from_be(m, R, n);
    let mut rem = vec![0u32; n];
    let mut diff = vec![0u32; n];
    for &byte in a {
        for bit in (0..8).rev() {
            // rem = 2·rem + bit (rem < m, so 2·rem + 1 < 2m fits in n limbs)
            let mut carry = u64::from((byte >> bit) & 1);
            for l in rem.iter_mut() {
                let v = (u64::from(*l) << 1) | carry;
                *l = (v & mask) as u32;
                carry = v >> R;
            }
            // if rem ≥ m { rem -= m }
            let mut borrow = 0u64;
            for ((d, &x), &y) in diff.iter_mut().zip(&rem).zip(&ml) {
                let v = u64::from(x).wrapping_sub(u64::from(y) + borrow);
                *d = (v & mask) as u32;
                borrow = v >> 63;
            }
            let keep = 0u32.wrapping_sub(borrow as u32); // all ones when rem < m
            for (x, &d) in rem.iter_mut().zip(&diff) {
                *x = (*x & keep) | (d & !keep);
            }
        }
    }
    let out = limbs_to_be(&rem, R, m.len());
    rem.zeroize();
    diff.zeroize();
    out
}

/// An odd modulus prepared for Montgomery arithmetic. Values "in Montgomery form" are `x·R mod m`
/// with `R = 2^(r·n)`; every value is `n` limbs of `r` bits, fully reduced below `m`.
#[derive(Clone)]
pub struct Modulus {
    r: u32,
    mask: u64,
    m: Vec<u32>,
    /// `-m⁻¹ mod 2^r`.
    m_inv: u64,
    /// `R² mod m`.
    r2: Vec<u32>,
    /// `R mod m`: 1 in Montgomery form.
    one: Vec<u32>,
    bytes: usize,
}

impl Drop for Modulus {
    fn drop(&mut self) {
        // RSA primes are secret; DH primes are not, but the cost is nil.
        self.m.zeroize();
        self.r2.zeroize();
        self.one.zeroize();
    }
}

/// Scratch space for one Montgomery product: `2n + 1` columns.
pub struct Scratch(Vec<u64>);

impl Drop for Scratch {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl Modulus {
    /// Prepares `m` (big-endian). `None` unless `m` is odd and greater than 1.
    pub fn new(m_be: &[u8]) -> Option<Self> {
        let m_be = trim_be(m_be);
        let last = *m_be.last()?;
        if last & 1 == 0 || (m_be.len() == 1 && last == 1) {
            return None;
        }
        let bits = m_be.len() * 8 - m_be[0].leading_zeros() as usize;
        let r = radix_for_bits(bits);
        let n = bits.div_ceil(r as usize);
        let mask = (1u64 << r) - 1;
        let m = limbs_from_be(m_be, r, n);
        // Newton's iteration for m0⁻¹ mod 2^64: each step doubles the correct low bits (3 → 96).
        let m0 = u64::from(m[0]);
        let mut inv = m0;
        for _ in 0..5 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(m0.wrapping_mul(inv)));
        }
        let m_inv = inv.wrapping_neg() & mask;
        let mut md = Modulus {
            r,
            mask,
            m,
            m_inv,
            r2: Vec::new(),
            one: Vec::new(),
            bytes: m_be.len(),
        };
        // R mod m: start from 2^(bits-1) < m and double up to 2^(r·n).
        let mut x = vec![0u32; n];
        let top = bits - 1;
        x[top / r as usize] = 1 << (top % r as usize);
        for _ in top..(r as usize * n) {
            md.double_in_place(&mut x);
        }
        md.one = x.clone();
        // R² = R·2^(r·n): double j more times to get R·2^j, then square s times in Montgomery
        // form, since (R·2^j)² / R = R·2^(2j); j·2^s = r·n.
        let s = r.trailing_zeros();
        let j = (r >> s) as usize * n;
        for _ in 0..j {
            md.double_in_place(&mut x);
        }
        let mut scratch = md.scratch();
        let mut y = vec![0u32; n];
        for _ in 0..s {
            md.mont_sqr(&x, &mut y, &mut scratch);
            std::mem::swap(&mut x, &mut y);
        }
        md.r2 = x;
        Some(md)
    }

    /// Limbs per value.
    pub fn limbs(&self) -> usize {
        self.m.len()
    }

    /// Bytes of the modulus.
    pub fn byte_len(&self) -> usize {
        self.bytes
    }

    /// Scratch space sized for this modulus.
    pub fn scratch(&self) -> Scratch {
        Scratch(vec![0u64; 2 * self.limbs() + 1])
    }

    /// Big-endian bytes → limbs. The value must be below `R` (e.g. below `m`).
    pub fn limbs_of(&self, bytes: &[u8]) -> Vec<u32> {
        limbs_from_be(trim_be(bytes), self.r, self.limbs())
    }

    /// Limbs → big-endian bytes of `len` bytes.
    pub fn to_be(&self, x: &[u32], len: usize) -> Vec<u8> {
        limbs_to_be(x, self.r, len)
    }

    /// `x = 2x mod m` for `x < m`, constant time.
    fn double_in_place(&self, x: &mut [u32]) {
        let mut carry = 0u64;
        for l in x.iter_mut() {
            let v = (u64::from(*l) << 1) | carry;
            *l = (v & self.mask) as u32;
            carry = v >> self.r;
        }
        self.sub_if_ge(x, carry);
    }

    /// Given `x` (normalised limbs) plus `top` (0 or 1, the limb above), subtracts `m` when
    /// `top·R + x ≥ m`. Constant time.
    fn sub_if_ge(&self, x: &mut [u32], top: u64) {
        let mut borrow = 0u64;
        // Two passes over x: first find the borrow, then apply the masked subtraction (no
        // second buffer).
        for (&xi, &mi) in x.iter().zip(&self.m) {
            let v = u64::from(xi).wrapping_sub(u64::from(mi) + borrow);
            borrow = v >> 63;
        }
        // Subtract when there was no final borrow, or when the limb above was set.
        let take = ((borrow ^ 1) | top) & 1;
        let mask = 0u64.wrapping_sub(take);
        borrow = 0;
        for (xi, &mi) in x.iter_mut().zip(&self.m) {
            let v = u64::from(*xi).wrapping_sub((u64::from(mi) & mask) + borrow);
            *xi = (v & self.mask) as u32;
            borrow = v >> 63;
        }
    }

    /// Montgomery reduction of the columns `t[0..2n]` (a product below `m·R`) into `out`, below
    /// `m`. Constant time.
    fn redc(&self, t: &mut [u64], out: &mut [u32]) {
        let n = self.limbs();
        let (r, mask, m_inv) = (self.r, self.mask, self.m_inv);
        let m = &self.m;
        // Two rows at a time: u for row i+1 is known as soon as column i+1 has row i's terms,
        // and each column is then loaded and stored once for two products.
        let mut i = 0;
        let mw = |k: usize| u64::from(m[k]);
        while i + 3 < n {
            // Four rows: each u is fixed once its column has the earlier rows' terms.
            let u0 = ((t[i] & mask) * m_inv) & mask;
            let c0 = (t[i] + u0 * mw(0)) >> r;
            let t1 = t[i + 1] + u0 * mw(1) + c0;
            let u1 = ((t1 & mask) * m_inv) & mask;
            let c1 = (t1 + u1 * mw(0)) >> r;
            let t2 = t[i + 2] + u0 * mw(2) + u1 * mw(1) + c1;
            let u2 = ((t2 & mask) * m_inv) & mask;
            let c2 = (t2 + u2 * mw(0)) >> r;
            let t3 = t[i + 3] + u0 * mw(3) + u1 * mw(2) + u2 * mw(1) + c2;
            let u3 = ((t3 & mask) * m_inv) & mask;
            let c3 = (t3 + u3 * mw(0)) >> r;
            for (col, (((&m0, &m1), &m2), &m3)) in t[i + 4..i + n]
                .iter_mut()
                .zip(m[4..].iter().zip(&m[3..]).zip(&m[2..]).zip(&m[1..]))
            {
                *col += u0 * u64::from(m0)
                    + u1 * u64::from(m1)
                    + u2 * u64::from(m2)
                    + u3 * u64::from(m3);
            }
            t[i + n] += u1 * mw(n - 1) + u2 * mw(n - 2) + u3 * mw(n - 3);
            t[i + n + 1] += u2 * mw(n - 1) + u3 * mw(n - 2);
            t[i + n + 2] += u3 * mw(n - 1);
            t[i + 4] += c3;
            i += 4;
        }
        while i + 1 < n {
            let u0 = ((t[i] & mask) * m_inv) & mask;
            let c0 = (t[i] + u0 * u64::from(m[0])) >> r;
            let t1 = t[i + 1] + u0 * u64::from(m[1]) + c0;
            let u1 = ((t1 & mask) * m_inv) & mask;
            let c1 = (t1 + u1 * u64::from(m[0])) >> r;
            for (col, (&mj, &mj1)) in t[i + 2..i + n].iter_mut().zip(m[2..].iter().zip(&m[1..])) {
                *col += u0 * u64::from(mj) + u1 * u64::from(mj1);
            }
            t[i + n] += u1 * u64::from(m[n - 1]);
            t[i + 2] += c1;
            i += 2;
        }
        if i < n {
            let u = ((t[i] & mask) * m_inv) & mask;
            for (col, &mj) in t[i..i + n].iter_mut().zip(m) {
                *col += u * u64::from(mj);
            }
            let c = t[i] >> r;
            t[i + 1] += c;
        }
        let mut carry = 0u64;
        for (o, &col) in out.iter_mut().zip(&t[n..2 * n]) {
            let v = col + carry;
            *o = (v & mask) as u32;
            carry = v >> r;
        }
        self.sub_if_ge(out, carry);
    }

    /// `out = a·b/R mod m` for `a·b < m·R` (e.g. both below `m`, or one below `R` and the other
    /// below `m`). Constant time.
    // Never inlined: WebAssembly engines move a function to optimised code between calls (there
    // is no on-stack replacement), so an exponentiation must call this thousands of times rather
    // than run it inline in one long call that stays in the baseline tier.
    #[inline(never)]
    pub fn mont_mul(&self, a: &[u32], b: &[u32], out: &mut [u32], s: &mut Scratch) {
        let n = self.limbs();
        let t = &mut s.0[..2 * n + 1];
        t.fill(0);
        let a = &a[..n];
        // Two rows of the product at a time, as in `redc`.
        let mut pairs = b[..n].chunks_exact(2);
        let mut i = 0;
        for pair in &mut pairs {
            let (b0, b1) = (u64::from(pair[0]), u64::from(pair[1]));
            t[i] += u64::from(a[0]) * b0;
            for (col, (&aj, &aj1)) in t[i + 1..i + n].iter_mut().zip(a[1..].iter().zip(a)) {
                *col += u64::from(aj) * b0 + u64::from(aj1) * b1;
            }
            t[i + n] += u64::from(a[n - 1]) * b1;
            i += 2;
        }
        if let [bl] = pairs.remainder() {
            let bl = u64::from(*bl);
            for (col, &aj) in t[i..i + n].iter_mut().zip(a) {
                *col += u64::from(aj) * bl;
            }
        }
        self.redc(t, out);
    }

    /// `out = a²/R mod m` for `a < m`. Constant time; about 3/4 of the work of [`Self::mont_mul`].
    #[inline(never)]
    pub fn mont_sqr(&self, a: &[u32], out: &mut [u32], s: &mut Scratch) {
        let n = self.limbs();
        let t = &mut s.0[..2 * n + 1];
        t.fill(0);
        let a = &a[..n];
        // Rows i and i+1 together: row i's cross products 2·a[i]·a[j] (j > i) land in columns
        // 2i+1 … i+n−1, row i+1's in 2i+3 … i+n, and the squares on the diagonal.
        let mut i = 0;
        while i + 1 < n {
            let (x0, x1) = (u64::from(a[i]), u64::from(a[i + 1]));
            let (d0, d1) = (x0 << 1, x1 << 1);
            t[2 * i] += x0 * x0;
            t[2 * i + 1] += d0 * x1;
            t[2 * i + 2] += x1 * x1;
            if i + 2 < n {
                t[2 * i + 2] += d0 * u64::from(a[i + 2]);
                for (col, (&aj, &aj1)) in t[2 * i + 3..i + n]
                    .iter_mut()
                    .zip(a[i + 3..].iter().zip(&a[i + 2..]))
                {
                    *col += d0 * u64::from(aj) + d1 * u64::from(aj1);
                }
                t[i + n] += d1 * u64::from(a[n - 1]);
            }
            i += 2;
        }
        if let Some(&last) = a.get(i) {
            let x = u64::from(last);
            t[2 * i] += x * x;
        }
        self.redc(t, out);
    }

    /// `x mod m` for a big-endian `x` of any length.
    pub fn reduce_be(&self, x: &[u8]) -> Vec<u32> {
        let n = self.limbs();
        let x = trim_be(x);
        let total = (x.len() * 8).div_ceil(self.r as usize).max(1);
        let chunks = total.div_ceil(n);
        let limbs = limbs_from_be(x, self.r, chunks * n);
        let mut s = self.scratch();
        // Horner in Montgomery form over chunks of n limbs (each below R):
        // acc ← acc·R + chunk, kept as acc·R mod m.
        let mut acc = vec![0u32; n];
        let mut tmp = vec![0u32; n];
        let mut part = vec![0u32; n];
        for chunk in limbs.chunks(n).rev() {
            self.mont_mul(&acc, &self.r2, &mut tmp, &mut s);
            self.mont_mul(chunk, &self.r2, &mut part, &mut s);
            self.add_mod_in_place(&mut tmp, &part);
            std::mem::swap(&mut acc, &mut tmp);
        }
        let mut one = vec![0u32; n];
        one[0] = 1;
        self.mont_mul(&acc, &one, &mut tmp, &mut s);
        acc.zeroize();
        part.zeroize();
        tmp
    }

    /// Into Montgomery form: `x·R mod m` for `x < R`.
    pub fn enter_mont(&self, x: &[u32]) -> Vec<u32> {
        let mut out = vec![0u32; self.limbs()];
        self.mont_mul(x, &self.r2, &mut out, &mut self.scratch());
        out
    }

    /// Out of Montgomery form.
    pub fn leave_mont(&self, x: &[u32]) -> Vec<u32> {
        let mut one = vec![0u32; self.limbs()];
        one[0] = 1;
        let mut out = vec![0u32; self.limbs()];
        self.mont_mul(x, &one, &mut out, &mut self.scratch());
        out
    }

    /// `a = a + b mod m` for `a, b < m`. Constant time.
    pub fn add_mod_in_place(&self, a: &mut [u32], b: &[u32]) {
        let mut carry = 0u64;
        for (x, &y) in a.iter_mut().zip(b) {
            let v = u64::from(*x) + u64::from(y) + carry;
            *x = (v & self.mask) as u32;
            carry = v >> self.r;
        }
        self.sub_if_ge(a, carry);
    }

    /// `a = a − b mod m` for `a, b < m`. Constant time.
    pub fn sub_mod_in_place(&self, a: &mut [u32], b: &[u32]) {
        let mut borrow = 0u64;
        for (x, &y) in a.iter_mut().zip(b) {
            let v = u64::from(*x).wrapping_sub(u64::from(y) + borrow);
            *x = (v & self.mask) as u32;
            borrow = v >> 63;
        }
        // Add m back when the subtraction went below zero.
        let mask = 0u64.wrapping_sub(borrow);
        let mut carry = 0u64;
        for (x, &mi) in a.iter_mut().zip(&self.m) {
            let v = u64::from(*x) + (u64::from(mi) & mask) + carry;
            *x = (v & self.mask) as u32;
            carry = v >> self.r;
        }
    }

    /// `base^exp` in Montgomery form (`base_m` in Montgomery form, `exp` big-endian bytes).
    /// Fixed 4-bit window; every table entry is read for every window. The running time depends
    /// only on the length of `exp` in bytes and the size of `m`.
    pub fn pow_mont(&self, base_m: &[u32], exp: &[u8]) -> Vec<u32> {
        let n = self.limbs();
        let mut s = self.scratch();
        let mut table = vec![0u32; 16 * n];
        table[..n].copy_from_slice(&self.one);
        table[n..2 * n].copy_from_slice(base_m);
        for k in 2..16 {
            let (done, rest) = table.split_at_mut(k * n);
            self.mont_mul(&done[(k - 1) * n..], base_m, &mut rest[..n], &mut s);
        }
        let mut acc = self.one.clone();
        let mut tmp = vec![0u32; n];
        let mut sel = vec![0u32; n];
        let mut first = true;
        for &byte in exp {
            for nibble in [byte >> 4, byte & 15] {
                if !first {
                    for _ in 0..4 {
                        self.mont_sqr(&acc, &mut tmp, &mut s);
                        std::mem::swap(&mut acc, &mut tmp);
                    }
                }
                first = false;
                select(&table, n, u32::from(nibble), &mut sel);
                self.mont_mul(&acc, &sel, &mut tmp, &mut s);
                std::mem::swap(&mut acc, &mut tmp);
            }
        }
        table.zeroize();
        tmp.zeroize();
        sel.zeroize();
        acc
    }

    /// `2^exp` in Montgomery form (the DH challenge with IBKR's generator 2): a squaring and a
    /// masked doubling per exponent bit, no table. Constant time for the length of `exp`.
    pub fn pow2_mont(&self, exp: &[u8]) -> Vec<u32> {
        let n = self.limbs();
        let mut s = self.scratch();
        let mut acc = self.one.clone();
        let mut tmp = vec![0u32; n];
        for &byte in exp {
            for bit in (0..8).rev() {
                self.mont_sqr(&acc, &mut tmp, &mut s);
                // acc ← tmp·2 when the bit is set, else tmp, without a branch
                acc.copy_from_slice(&tmp);
                self.add_mod_in_place(&mut tmp, &acc);
                let take = 0u32.wrapping_sub(u32::from((byte >> bit) & 1));
                for (a, &d) in acc.iter_mut().zip(&tmp) {
                    *a = (d & take) | (*a & !take);
                }
            }
        }
        tmp.zeroize();
        acc
    }

    /// `base^exp` in Montgomery form for a *public* exponent (square-and-multiply; the running
    /// time depends on the exponent's bits).
    pub fn pow_mont_vartime(&self, base_m: &[u32], exp: &[u8]) -> Vec<u32> {
        let mut s = self.scratch();
        let mut acc = self.one.clone();
        let mut tmp = vec![0u32; self.limbs()];
        let exp = trim_be(exp);
        let mut started = false;
        for &byte in exp {
            for bit in (0..8).rev() {
                if started {
                    self.mont_sqr(&acc, &mut tmp, &mut s);
                    std::mem::swap(&mut acc, &mut tmp);
                }
                if (byte >> bit) & 1 == 1 {
                    self.mont_mul(&acc, base_m, &mut tmp, &mut s);
                    std::mem::swap(&mut acc, &mut tmp);
                    started = true;
                }
            }
        }
        acc
    }

    /// `x⁻¹ mod m` for `0 < x < m` by the binary extended Euclidean algorithm, or `None` when
    /// `gcd(x, m) ≠ 1`. **Variable time**: use only on random values (RSA blinding factors).
    pub fn inverse_vartime(&self, x: &[u32]) -> Option<Vec<u32>> {
        let n = self.limbs();
        let len = n + 1;
        let mut m = self.m.clone();
        m.push(0);
        let mut u = x.to_vec();
        u.resize(len, 0);
        let mut v = m.clone();
        let mut x1 = vec![0u32; len];
        x1[0] = 1;
        let mut x2 = vec![0u32; len];
        let is_one = |a: &[u32]| a[0] == 1 && a[1..].iter().all(|&l| l == 0);
        let is_zero = |a: &[u32]| a.iter().all(|&l| l == 0);
        loop {
            if is_one(&u) {
                return Some(x1[..n].to_vec());
            }
            if is_one(&v) {
                return Some(x2[..n].to_vec());
            }
            if is_zero(&u) || is_zero(&v) {
                return None;
            }
            for (a, c) in [(&mut u, &mut x1), (&mut v, &mut x2)] {
                while a[0] & 1 == 0 {
                    self.shr1(a);
                    if c[0] & 1 == 1 {
                        self.add_plain(c, &m);
                    }
                    self.shr1(c);
                }
            }
            if self.ge_vartime(&u, &v) {
                self.sub_plain(&mut u, &v);
                self.sub_mod_plain(&mut x1, &x2, &m);
            } else {
                self.sub_plain(&mut v, &u);
                self.sub_mod_plain(&mut x2, &x1, &m);
            }
        }
    }

    fn shr1(&self, a: &mut [u32]) {
        let r = self.r;
        for i in 0..a.len() {
            let hi = a.get(i + 1).map_or(0, |&h| h & 1);
            a[i] = (a[i] >> 1) | (hi << (r - 1));
        }
    }

    fn add_plain(&self, a: &mut [u32], b: &[u32]) {
        let mut carry = 0u64;
        for (x, &y) in a.iter_mut().zip(b) {
            let v = u64::from(*x) + u64::from(y) + carry;
            *x = (v & self.mask) as u32;
            carry = v >> self.r;
        }
    }

    fn sub_plain(&self, a: &mut [u32], b: &[u32]) -> u64 {
        let mut borrow = 0u64;
        for (x, &y) in a.iter_mut().zip(b) {
            let v = u64::from(*x).wrapping_sub(u64::from(y) + borrow);
            *x = (v & self.mask) as u32;
            borrow = v >> 63;
        }
        borrow
    }

    fn sub_mod_plain(&self, a: &mut [u32], b: &[u32], m: &[u32]) {
        if self.sub_plain(a, b) == 1 {
            self.add_plain(a, m);
            // The top limb wrapped; clear what spilled past the width.
            if let Some(top) = a.last_mut() {
                *top &= self.mask as u32;
            }
        }
    }

    fn ge_vartime(&self, a: &[u32], b: &[u32]) -> bool {
        for (x, y) in a.iter().rev().zip(b.iter().rev()) {
            if x != y {
                return x > y;
            }
        }
        true
    }
}

/// Copies entry `index` of a table of `n`-limb entries into `out`, reading every entry.
fn select(table: &[u32], n: usize, index: u32, out: &mut [u32]) {
    out.fill(0);
    for (k, entry) in table.chunks_exact(n).enumerate() {
        // all ones when k == index, without a branch
        let diff = (k as u32) ^ index;
        let mask = (u64::from(diff).wrapping_sub(1) >> 32) as u32;
        for (o, &e) in out.iter_mut().zip(entry) {
            *o |= e & mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn be(x: u128) -> Vec<u8> {
        x.to_be_bytes().to_vec()
    }

    fn pow_u128(b: u128, e: u128, m: u128) -> u128 {
        // small reference: all values < 2^64 so products fit in u128
        let (mut acc, mut b, mut e) = (1u128, b % m, e);
        while e > 0 {
            if e & 1 == 1 {
                acc = acc * b % m;
            }
            b = b * b % m;
            e >>= 1;
        }
        acc
    }

    #[test]
    fn limb_round_trip() {
        let bytes: Vec<u8> = (1..=40).collect();
        for r in [26, 28] {
            let l = limbs_from_be(&bytes, r, 20);
            assert_eq!(limbs_to_be(&l, r, 40), bytes);
        }
    }

    #[test]
    fn small_moduli_match_reference() {
        let moduli: [u64; 4] = [
            0xffff_ffff_ffff_ffc5,
            0x8000_0000_0000_001d,
            1_000_000_007,
            0x1_0000_0001,
        ];
        for &m in &moduli {
            let md = Modulus::new(&be(u128::from(m))).unwrap();
            for (b, e) in [(2u64, 65_537u64), (m - 2, 0xdead_beef), (12_345, 1), (7, 0)] {
                let base = md.enter_mont(&md.limbs_of(&be(u128::from(b))));
                let want = pow_u128(u128::from(b), u128::from(e), u128::from(m));
                let mut outs = vec![
                    md.pow_mont(&base, &e.to_be_bytes()),
                    md.pow_mont_vartime(&base, &e.to_be_bytes()),
                ];
                if b == 2 {
                    outs.push(md.pow2_mont(&e.to_be_bytes()));
                }
                for out in outs {
                    assert_eq!(
                        md.to_be(&md.leave_mont(&out), 16),
                        be(want),
                        "m={m} b={b} e={e}"
                    );
                }
            }
            let x = md.reduce_be(&be(u128::MAX - 5));
            assert_eq!(md.to_be(&x, 16), be((u128::MAX - 5) % u128::from(m)));
            let inv = md.inverse_vartime(&md.limbs_of(&be(12_345))).unwrap();
            let inv = u128::from_be_bytes(md.to_be(&inv, 16).try_into().unwrap());
            assert_eq!(inv * 12_345 % u128::from(m), 1);
        }
    }

    #[test]
    fn rejects_even_and_one() {
        assert!(Modulus::new(&[0x10]).is_none());
        assert!(Modulus::new(&[0, 1]).is_none());
        assert!(Modulus::new(&[]).is_none());
    }

    #[test]
    fn helpers() {
        assert_eq!(
            mul_add_be(&be(0xffff_ffff_ffff), &be(0x1234_5678_9abc), &be(99), 16),
            be(0xffff_ffff_ffff * 0x1234_5678_9abc + 99)
        );
        assert_eq!(
            rem_be(&be(1 << 100), &be(1_000_000)),
            be((1u128 << 100) % 1_000_000)
        );
        assert_eq!(rem_be(&be(12), &be(12)), be(0));
        assert_eq!(
            rem_be(&be(u128::MAX), &be(1 << 64)),
            be(u128::from(u64::MAX))
        );
        assert_eq!(cmp_be_vartime(&[0, 0, 5], &[5]), std::cmp::Ordering::Equal);
    }

    /// Random moduli of the sizes in use (both radixes), checked against `num-bigint-dig`.
    #[test]
    fn squaring_matches_product_at_every_size() {
        // Every limb count from 1 to 40 and around the radix switch, with the largest limbs
        // possible (m = 2^bits − 1, a = m − 1: every column at its bound) and a sparse value.
        for limbs in (1..=40).chain(120..=130) {
            for bits in [limbs * 28 - 26, limbs * 28] {
                let m = all_ones(bits);
                let md = Modulus::new(&m).unwrap();
                let mut a_be = m.clone();
                let last = a_be.len() - 1;
                a_be[last] ^= 1; // m − 1
                let mut sparse = vec![0u8; m.len()];
                sparse[0] = 1;
                sparse[last] = 3;
                for v in [&a_be, &sparse] {
                    let a = md.limbs_of(&rem_be(v, &m));
                    let (mut x, mut y) = (vec![0u32; md.limbs()], vec![0u32; md.limbs()]);
                    let mut s = md.scratch();
                    md.mont_sqr(&a, &mut x, &mut s);
                    md.mont_mul(&a, &a, &mut y, &mut s);
                    assert_eq!(x, y, "{bits} bits ({} limbs)", md.limbs());
                }
            }
        }
    }

    fn all_ones(bits: usize) -> Vec<u8> {
        let len = bits.div_ceil(8);
        let mut m = vec![0xffu8; len];
        m[0] = 0xffu8 >> (len * 8 - bits);
        m
    }

    #[test]
    fn random_moduli_match_num_bigint() {
        use rand_chacha::rand_core::{RngCore, SeedableRng};
        use rsa::BigUint;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let mut bytes = |n: usize| {
            let mut v = vec![0u8; n];
            rng.fill_bytes(&mut v);
            v
        };
        for bits in [1024usize, 1031, 2048, 3072, 3560, 4096, 8192] {
            let len = bits.div_ceil(8);
            let mut m = bytes(len);
            m[0] &= 0xffu8 >> (len * 8 - bits);
            m[0] |= 0x80u8 >> (len * 8 - bits);
            m[len - 1] |= 1;
            let md = Modulus::new(&m).unwrap();
            let big_m = BigUint::from_bytes_be(&m);
            let x = bytes(len + 9);
            let big_x = BigUint::from_bytes_be(&x);
            let want = |v: BigUint| {
                let b = v.to_bytes_be();
                let mut out = vec![0u8; len - b.len()];
                out.extend_from_slice(&b);
                out
            };
            // reduction of a longer number
            let xr = md.reduce_be(&x);
            assert_eq!(md.to_be(&xr, len), want(&big_x % &big_m), "{bits}: reduce");
            // exponentiation, constant-time and public-exponent paths
            let exps = if bits > 4096 {
                vec![bytes(32)]
            } else {
                vec![bytes(32), bytes(len)]
            };
            let base = md.enter_mont(&xr);
            for e in exps {
                let big_e = BigUint::from_bytes_be(&e);
                assert_eq!(
                    md.to_be(&md.leave_mont(&md.pow2_mont(&e)), len),
                    want(BigUint::from(2u32).modpow(&big_e, &big_m)),
                    "{bits}: pow2"
                );
                let expect = want((&big_x % &big_m).modpow(&big_e, &big_m));
                assert_eq!(
                    md.to_be(&md.leave_mont(&md.pow_mont(&base, &e)), len),
                    expect,
                    "{bits}: pow"
                );
                assert_eq!(
                    md.to_be(&md.leave_mont(&md.pow_mont_vartime(&base, &e)), len),
                    expect,
                    "{bits}: pow_vartime"
                );
            }
            // inverse
            let inv = md.inverse_vartime(&xr).unwrap();
            let prod = (BigUint::from_bytes_be(&md.to_be(&inv, len)) * (&big_x % &big_m)) % &big_m;
            assert_eq!(prod, BigUint::from(1u32), "{bits}: inverse");
            // modular add and subtract
            let y = md.reduce_be(&bytes(len));
            let big_y = BigUint::from_bytes_be(&md.to_be(&y, len));
            let big_xr = &big_x % &big_m;
            let mut sum = xr.clone();
            md.add_mod_in_place(&mut sum, &y);
            assert_eq!(
                md.to_be(&sum, len),
                want((&big_xr + &big_y) % &big_m),
                "{bits}: add"
            );
            let mut diff = xr.clone();
            md.sub_mod_in_place(&mut diff, &y);
            assert_eq!(
                md.to_be(&diff, len),
                want((&big_xr + &big_m - &big_y) % &big_m),
                "{bits}: sub"
            );
            // helpers on plain numbers
            let (a, b, c) = (bytes(len / 2 + 3), bytes(len), bytes(len));
            let big = BigUint::from_bytes_be(&a) * BigUint::from_bytes_be(&b)
                + BigUint::from_bytes_be(&c);
            let out = mul_add_be(&a, &b, &c, a.len() + b.len() + 1);
            assert_eq!(BigUint::from_bytes_be(&out), big, "{bits}: mul_add");
            let even = want(big_m.clone() - 1u32);
            assert_eq!(
                BigUint::from_bytes_be(&rem_be(&out, &even)),
                big % BigUint::from_bytes_be(&even),
                "{bits}: rem"
            );
        }
    }
}
