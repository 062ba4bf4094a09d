//! Modular arithmetic for RSA and Diffie-Hellman, shaped for WebAssembly.
//!
//! wasm32 has no 64×64→128 multiply, and its scalar 64-bit multiply is one product per cycle at
//! best. WebAssembly SIMD's `i32x4.dot_i16x8_s` does eight 16×16-bit products in one
//! instruction, so numbers are kept in limbs of 14 bits (one per `u32`, or two per 32-bit lane,
//! read as positive 16-bit halves). A Montgomery product runs sixteen rows per pass of a vector
//! kernel: sixteen 28-bit products sum in a 32-bit lane, then widen into 64-bit column sums.
//! The reduction takes sixteen limbs per pass, with its factor from one small scalar product
//! and no carry chain through the passes. That kernel is its own crate, `ibkr-auth-kernel` (see
//! `Kernel::mul_lazy` there), built for speed while this one is built for size. Without
//! `simd128` (and on native targets) the same algorithm runs on plain arrays.
//!
//! What touches a secret (RSA primes and exponents, the DH exponent) runs in time that depends
//! only on the sizes of the numbers: Montgomery reduction ends in a masked subtraction, the
//! exponentiation uses a fixed 4-bit window, and table entries are read by scanning every entry.
//! Only public values (the RSA public exponent, the blinding inverse's random input) take the
//! variable-time paths, which are named `*_vartime`.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use zeroize::Zeroizing;

pub use ibkr_auth_kernel::Scratch;
use ibkr_auth_kernel::{select, wipe, Kernel, MASK, R};

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

/// Bits of a big-endian number, leading zero bytes and bits not counted.
pub fn bit_len_be(x: &[u8]) -> usize {
    let x = trim_be(x);
    x.first()
        .map_or(0, |b| x.len() * 8 - b.leading_zeros() as usize)
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
/// values for fixed lengths. Out of line, as [`rem_be`] is: their loops stay out of the big
/// functions that run once per key or operation (see [`Modulus::inverse_vartime`]).
#[inline(never)]
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
/// Bit-serial with masked subtraction: constant time for fixed lengths (`a`'s in bytes, `m`'s
/// in bits). For the one-off checks of a key's numbers; the hot paths reduce with
/// [`Modulus::reduce_be`].
///
/// Only the bytes of `a` past `m`'s length cost steps: `a`'s leading whole bytes that hold fewer
/// than `bits(m)` bits are below `m` already, so they are loaded as the starting remainder at
/// once. A key check (`e·dp mod (p − 1)`, about 17 bits longer than `p`) takes ~24 steps
/// instead of ~1,050.
#[inline(never)]
pub fn rem_be(a: &[u8], m: &[u8]) -> Vec<u8> {
    const R: u32 = 26;
    let n = (m.len() * 8).div_ceil(R as usize) + 1;
    let ml = limbs_from_be(m, R, n);
    let m_bits = bit_len_be(m);
    // The last `tail` bytes go through the steps; the bytes above them (fewer than bits(m)
    // bits) are the starting remainder.
    let tail = (a.len() * 8 - (a.len() * 8).min(m_bits.saturating_sub(1))).div_ceil(8);
    let (head, tail) = a.split_at(a.len() - tail);
    let mut rem = limbs_from_be(head, R, n);
    let mut diff = vec![0u32; n];
    // One out-of-line call per bit (not one long loop in this function): see `inverse_vartime`
    // on why that is faster on a cold start.
    #[inline(never)]
    fn step(rem: &mut [u32], diff: &mut [u32], ml: &[u32], bit: u8) {
        let mask = (1u64 << R) - 1;
        // rem = 2·rem + bit (rem < m, so 2·rem + 1 < 2m fits in n limbs)
        let mut carry = u64::from(bit);
        for l in rem.iter_mut() {
            let v = (u64::from(*l) << 1) | carry;
            *l = (v & mask) as u32;
            carry = v >> R;
        }
        // if rem ≥ m { rem -= m }
        let mut borrow = 0u64;
        for ((d, &x), &y) in diff.iter_mut().zip(rem.iter()).zip(ml) {
            let v = u64::from(x).wrapping_sub(u64::from(y) + borrow);
            *d = (v & mask) as u32;
            borrow = v >> 63;
        }
        let keep = 0u32.wrapping_sub(borrow as u32); // all ones when rem < m
        for (x, &d) in rem.iter_mut().zip(diff.iter()) {
            *x = (*x & keep) | (d & !keep);
        }
    }
    for &byte in tail {
        for bit in (0..8).rev() {
            step(&mut rem, &mut diff, &ml, (byte >> bit) & 1);
        }
    }
    let out = limbs_to_be(&rem, R, m.len());
    wipe(&mut rem);
    wipe(&mut diff);
    out
}

/// The largest modulus accepted, in bits. Column sums then stay below 2^40 (see `Kernel::mul_lazy`).
const MAX_BITS: usize = 16_384;

/// An odd modulus prepared for Montgomery arithmetic. Values "in Montgomery form" are `x·R mod m`
/// with `R = 2^(14·n)`; every value is `n` limbs of 14 bits, fully reduced below `m`. `n` is
/// chosen so that `R ≥ 16m`.
#[derive(Clone)]
pub struct Modulus {
    /// `m`, with what the product kernel needs (`ibkr_auth_kernel`).
    k: Kernel,
    /// `R² mod m`.
    r2: Vec<u32>,
    /// `R mod m`: 1 in Montgomery form.
    one: Vec<u32>,
    bytes: usize,
}

impl Drop for Modulus {
    fn drop(&mut self) {
        // RSA primes are secret; DH primes are not, but the cost is nil. `k` wipes itself.
        wipe(&mut self.r2);
        wipe(&mut self.one);
    }
}

impl Modulus {
    /// Prepares `m` (big-endian). `None` unless `m` is odd, greater than 1 and at most
    /// 16,384 bits.
    pub fn new(m_be: &[u8]) -> Option<Self> {
        let m_be = trim_be(m_be);
        let last = *m_be.last()?;
        if last & 1 == 0 || (m_be.len() == 1 && last == 1) {
            return None;
        }
        let bits = bit_len_be(m_be);
        if bits > MAX_BITS {
            return None;
        }
        // R = 2^(14n) ≥ 16m keeps a product of values below 4m below 2m (see
        // `Kernel::mul_lazy`), so exponentiations subtract once at the end.
        let n = (bits + 4).div_ceil(R as usize);
        let mut md = Modulus {
            k: Kernel::new(limbs_from_be(m_be, R, n)),
            r2: Vec::new(),
            one: Vec::new(),
            bytes: m_be.len(),
        };
        // R mod m: start from 2^(bits-1) < m and double up to 2^(14n).
        let mut x = vec![0u32; n];
        let top = bits - 1;
        x[top / R as usize] = 1 << (top % R as usize);
        for _ in top..(R as usize * n) {
            md.k.double_in_place(&mut x);
        }
        md.one = x.clone();
        // R² = R·2^(14n): from X = R·2 by square-and-multiply on the exponent, since the
        // Montgomery product of R·2^a and R·2^b is R·2^(a+b). Public values: variable time.
        md.k.double_in_place(&mut x);
        let base = x.clone();
        let e = R as usize * n;
        let mut y = vec![0u32; n];
        let mut s = md.scratch();
        for bit in (0..usize::BITS - 1 - e.leading_zeros()).rev() {
            md.mont_sqr(&x, &mut y, &mut s);
            std::mem::swap(&mut x, &mut y);
            if (e >> bit) & 1 == 1 {
                md.mont_mul(&x, &base, &mut y, &mut s);
                std::mem::swap(&mut x, &mut y);
            }
        }
        md.r2 = x;
        Some(md)
    }

    /// Limbs per value.
    pub fn limbs(&self) -> usize {
        self.k.limbs()
    }

    /// Bytes of the modulus.
    pub fn byte_len(&self) -> usize {
        self.bytes
    }

    /// Scratch space sized for this modulus.
    pub fn scratch(&self) -> Scratch {
        Scratch::new(self.limbs())
    }

    /// Big-endian bytes → limbs. The value must be below `R` (e.g. below `m`).
    pub fn limbs_of(&self, bytes: &[u8]) -> Vec<u32> {
        limbs_from_be(trim_be(bytes), R, self.limbs())
    }

    /// Limbs → big-endian bytes of `len` bytes.
    pub fn to_be(&self, x: &[u32], len: usize) -> Vec<u8> {
        limbs_to_be(x, R, len)
    }

    /// `out = a·b/R mod m` for `a, b < m`. Constant time.
    pub fn mont_mul(&self, a: &[u32], b: &[u32], out: &mut [u32], s: &mut Scratch) {
        self.k.mul_lazy(a, b, out, s);
        self.k.sub_if_ge(out, 0);
    }

    /// `out = a²/R mod m` for `a < m`. Constant time. The full product: a kernel that skips the
    /// mirrored half was measured and saves little at these sizes (bench/notes.md).
    pub fn mont_sqr(&self, a: &[u32], out: &mut [u32], s: &mut Scratch) {
        self.mont_mul(a, a, out, s);
    }

    /// `x mod m` for a big-endian `x` of any length.
    pub fn reduce_be(&self, x: &[u8]) -> Vec<u32> {
        let n = self.limbs();
        let x = trim_be(x);
        let total = (x.len() * 8).div_ceil(R as usize).max(1);
        let chunks = total.div_ceil(n);
        let limbs = limbs_from_be(x, R, chunks * n);
        let mut s = self.scratch();
        // Horner in Montgomery form over chunks of n limbs (each below R):
        // acc ← acc·R + chunk, kept as acc·R mod m.
        let mut acc = vec![0u32; n];
        let mut tmp = vec![0u32; n];
        let mut part = vec![0u32; n];
        for chunk in limbs.chunks(n).rev() {
            self.mont_mul(&acc, &self.r2, &mut tmp, &mut s);
            self.mont_mul(chunk, &self.r2, &mut part, &mut s);
            self.k.add_mod_in_place(&mut tmp, &part);
            std::mem::swap(&mut acc, &mut tmp);
        }
        let mut one = vec![0u32; n];
        one[0] = 1;
        self.mont_mul(&acc, &one, &mut tmp, &mut s);
        wipe(&mut acc);
        wipe(&mut part);
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
        self.k.add_mod_in_place(a, b);
    }

    /// `a = a − b mod m` for `a, b < m`. Constant time.
    pub fn sub_mod_in_place(&self, a: &mut [u32], b: &[u32]) {
        let mut borrow = 0u64;
        for (x, &y) in a.iter_mut().zip(b) {
            let v = u64::from(*x).wrapping_sub(u64::from(y) + borrow);
            *x = (v & MASK) as u32;
            borrow = v >> 63;
        }
        // Add m back when the subtraction went below zero.
        let mask = 0u64.wrapping_sub(borrow);
        let mut carry = 0u64;
        for (x, &mi) in a.iter_mut().zip(self.k.m()) {
            let v = u64::from(*x) + (u64::from(mi) & mask) + carry;
            *x = (v & MASK) as u32;
            carry = v >> R;
        }
    }

    /// `base^exp` in Montgomery form (`base_m` in Montgomery form, `exp` big-endian bytes).
    /// Fixed 4-bit window; every table entry is read for every window. The running time depends
    /// only on the length of `exp` in bytes and the size of `m`. Intermediate values stay below
    /// `2m` (lazy products); the result is reduced once at the end.
    pub fn pow_mont(&self, base_m: &[u32], exp: &[u8]) -> Vec<u32> {
        let n = self.limbs();
        let mut s = self.scratch();
        let mut table = vec![0u32; 16 * n];
        table[..n].copy_from_slice(&self.one);
        table[n..2 * n].copy_from_slice(base_m);
        for k in 2..16 {
            let (done, rest) = table.split_at_mut(k * n);
            self.k
                .mul_lazy(&done[(k - 1) * n..], base_m, &mut rest[..n], &mut s);
        }
        let mut acc = self.one.clone();
        let mut tmp = vec![0u32; n];
        let mut sel = vec![0u32; n];
        let mut first = true;
        for &byte in exp {
            for nibble in [byte >> 4, byte & 15] {
                if !first {
                    for _ in 0..4 {
                        self.k.mul_lazy(&acc, &acc, &mut tmp, &mut s);
                        std::mem::swap(&mut acc, &mut tmp);
                    }
                }
                first = false;
                select(&table, n, u32::from(nibble), &mut sel);
                self.k.mul_lazy(&acc, &sel, &mut tmp, &mut s);
                std::mem::swap(&mut acc, &mut tmp);
            }
        }
        wipe(&mut table);
        wipe(&mut tmp);
        wipe(&mut sel);
        self.k.sub_if_ge(&mut acc, 0);
        acc
    }

    /// `2^exp` in Montgomery form (the DH challenge with IBKR's generator 2): a squaring and a
    /// masked doubling per exponent bit, no table. Constant time for the length of `exp`.
    /// Nothing is reduced on the way: a lazy square is below `2m`, doubled below `4m`, which
    /// the next lazy square takes (`R ≥ 16m`); three masked subtractions end it.
    pub fn pow2_mont(&self, exp: &[u8]) -> Vec<u32> {
        let n = self.limbs();
        let mut s = self.scratch();
        let mut acc = self.one.clone();
        let mut tmp = vec![0u32; n];
        for &byte in exp {
            for bit in (0..8).rev() {
                self.k.mul_lazy(&acc, &acc, &mut tmp, &mut s);
                self.k.double_if(&mut acc, &tmp, (byte >> bit) & 1);
            }
        }
        wipe(&mut tmp);
        for _ in 0..3 {
            self.k.sub_if_ge(&mut acc, 0);
        }
        acc
    }

    /// `base^exp` in Montgomery form for a *public* exponent (square-and-multiply; the running
    /// time depends on the exponent's bits). Lazy products, reduced once at the end.
    pub fn pow_mont_vartime(&self, base_m: &[u32], exp: &[u8]) -> Vec<u32> {
        let mut s = self.scratch();
        let mut acc = self.one.clone();
        let mut tmp = vec![0u32; self.limbs()];
        let exp = trim_be(exp);
        let mut started = false;
        for &byte in exp {
            for bit in (0..8).rev() {
                if started {
                    self.k.mul_lazy(&acc, &acc, &mut tmp, &mut s);
                    std::mem::swap(&mut acc, &mut tmp);
                }
                if (byte >> bit) & 1 == 1 {
                    self.k.mul_lazy(&acc, base_m, &mut tmp, &mut s);
                    std::mem::swap(&mut acc, &mut tmp);
                    started = true;
                }
            }
        }
        self.k.sub_if_ge(&mut acc, 0);
        acc
    }

    /// `x⁻¹ mod m` for `0 ≤ x < m`, or `None` when `gcd(x, m) ≠ 1`. **Variable time**: use only
    /// on random values (RSA blinding factors) with a public `m`.
    ///
    /// The binary GCD in Pornin's optimised form ("Optimized Binary GCD for Modular Inversion",
    /// IACR ePrint 2020/972): 31 steps at a time run on 64-bit approximations of the two
    /// values (their low 31 bits exact, their top 33 bits), collecting the steps into signed
    /// update factors; each round then applies those factors to the full values once, and to
    /// the Bézout coefficients modulo `m` with one Montgomery division by 2^31. At most
    /// `2·bits(m) − 1` steps, so ⌈(2·bits(m) − 1)/31⌉ rounds (133 for a 2048-bit modulus),
    /// each one pass over the words, instead of a pass per step.
    ///
    /// Numbers are 31-bit words in `u32`s: a word times an update factor (the two factors of a
    /// row sum to at most 2^31 in magnitude), plus a carry, fits an `i64`. Each round's parts
    /// are out-of-line functions: a WebAssembly engine moves code to its optimising tier only
    /// between calls, so on a cold start they get there while the loop driving them runs once.
    pub fn inverse_vartime(&self, x: &[u32]) -> Option<Vec<u32>> {
        // One spare word: Montgomery division leaves values in (−m, 2m), and the top word holds
        // only the sign of a signed result.
        let len = self.bytes * 8 / W as usize + 2;
        let m = limbs_from_be(&self.to_be(self.k.m(), self.bytes), W, len);
        let mut a = limbs_from_be(&Zeroizing::new(self.to_be(x, self.bytes)), W, len);
        let mut b = m.clone();
        let mut u = vec![0u32; len];
        u[0] = 1;
        let mut v = vec![0u32; len];
        // −m⁻¹ mod 2^31: the low bits of the modulus's −m⁻¹ mod 2^224 (28-bit digits)
        let m_inv = ((self.k.m_inv()[0] | (self.k.m_inv()[1] << 28)) & WMASK) as u32;
        // invariants: a ≡ u·x, b ≡ v·x (mod m); u, v < m; b odd
        for _ in 0..(2 * bit_len(&m) - 1).div_ceil(W as usize) {
            let f = divsteps(approximate(&a, &b));
            let f = update_values(&mut a, &mut b, f, &m);
            update_coefficients(&mut u, &mut v, f, &m, m_inv);
        }
        // Now a = 0 and b = gcd(x, m).
        let unit = b[0] == 1 && b[1..].iter().all(|&w| w == 0);
        let inverse = unit.then(|| self.limbs_of(&Zeroizing::new(limbs_to_be(&v, W, self.bytes))));
        // the blinding factor and its inverse are secret
        for w in [&mut a, &mut b, &mut u, &mut v] {
            wipe(w);
        }
        inverse
    }
}

/// Bits per word of the modular inverse.
const W: u32 = 31;
/// One inverse word's bits.
const WMASK: u64 = (1 << W) - 1;

/// The number of significant bits of `x` (31-bit words).
fn bit_len(x: &[u32]) -> usize {
    x.iter()
        .rposition(|&w| w != 0)
        .map_or(0, |i| W as usize * i + 32 - x[i].leading_zeros() as usize)
}

/// The two 64-bit approximations of one inverse round: for `n` the larger bit length of `a`
/// and `b` (at least 64), each value's low 31 bits, below its bits `n − 33 .. n`. Exact while
/// both values are below 2^64.
#[inline(never)]
fn approximate(a: &[u32], b: &[u32]) -> [u64; 2] {
    let n = bit_len(a).max(bit_len(b)).max(64);
    let (w, s) = ((n - 33) / W as usize, (n - 33) % W as usize);
    [a, b].map(|x| {
        let word = |i: usize| x.get(i).map_or(0, |&v| u64::from(v));
        let top = (word(w) >> s) | (word(w + 1) << (W as usize - s)) | (word(w + 2) << (62 - s));
        word(0) | ((top & ((1 << 33) - 1)) << W)
    })
}

/// Thirty-one binary GCD steps on the approximations `[a, b]` (`b` odd): while `a` is even it
/// is halved; else the smaller of the two becomes `b` and `a ← (a − b)/2`. Returns the update
/// factors `[f0, g0, f1, g1]`: after the steps, `a = (a₀·f0 + b₀·g0)/2^31` and
/// `b = (a₀·f1 + b₀·g1)/2^31`, with `|f0| + |g0| ≤ 2^31` and `|f1| + |g1| ≤ 2^31`.
#[inline(never)]
fn divsteps([mut a, mut b]: [u64; 2]) -> [i64; 4] {
    let (mut f0, mut g0, mut f1, mut g1) = (1i64, 0i64, 0i64, 1i64);
    for _ in 0..W {
        if a & 1 == 1 {
            if a < b {
                std::mem::swap(&mut a, &mut b);
                std::mem::swap(&mut f0, &mut f1);
                std::mem::swap(&mut g0, &mut g1);
            }
            a -= b;
            f0 -= f1;
            g0 -= g1;
        }
        a >>= 1;
        f1 <<= 1;
        g1 <<= 1;
    }
    [f0, g0, f1, g1]
}

/// `x ← (x·f0 + y·g0 + k₀·m) / 2^31` and `y ← (x·f1 + y·g1 + k₁·m) / 2^31`, where each `k`
/// is the multiple of `m` that clears the low 31 bits: `t·(−m⁻¹) mod 2^31` from `m_inv`, or
/// zero when `m_inv` is zero (the division is then exact by itself). Returns the two signed
/// carries out of the top word: the results are small enough that the top word holds only
/// their signs.
#[inline(never)]
fn combine(
    x: &mut [u32],
    y: &mut [u32],
    [f0, g0, f1, g1]: [i64; 4],
    m: &[u32],
    m_inv: u32,
) -> [i64; 2] {
    let k = |t: i64| i64::from((t as u32).wrapping_mul(m_inv) & WMASK as u32);
    let (x0, y0) = (i64::from(x[0]), i64::from(y[0]));
    let (kx, ky) = (k(x0 * f0 + y0 * g0), k(x0 * f1 + y0 * g1));
    let (mut cx, mut cy) = (0i64, 0i64);
    for i in 0..x.len() {
        let (xi, yi, mi) = (i64::from(x[i]), i64::from(y[i]), i64::from(m[i]));
        // |word·f| + |word·g| < 2^62, k·word < 2^62 and |carry| < 2^33: below 2^63
        let tx = xi * f0 + yi * g0 + kx * mi + cx;
        let ty = xi * f1 + yi * g1 + ky * mi + cy;
        if i > 0 {
            x[i - 1] = (tx as u64 & WMASK) as u32;
            y[i - 1] = (ty as u64 & WMASK) as u32;
        }
        cx = tx >> W;
        cy = ty >> W;
    }
    let top = x.len() - 1;
    x[top] = (cx as u64 & WMASK) as u32;
    y[top] = (cy as u64 & WMASK) as u32;
    [cx, cy]
}

/// One round's update of the values: `a ← |a·f0 + b·g0| / 2^31` and `b ← |a·f1 + b·g1| / 2^31`
/// (both divisions exact; the results are no larger than the larger input). Returns the
/// factors with the signs of the negated rows flipped.
fn update_values(a: &mut [u32], b: &mut [u32], f: [i64; 4], m: &[u32]) -> [i64; 4] {
    let [ca, cb] = combine(a, b, f, m, 0);
    let sa = if ca < 0 { negate(a) } else { 1 };
    let sb = if cb < 0 { negate(b) } else { 1 };
    [f[0] * sa, f[1] * sa, f[2] * sb, f[3] * sb]
}

/// `x ← −x` in 31-bit two's complement words; returns −1.
fn negate(x: &mut [u32]) -> i64 {
    let mut carry = 1u64;
    for w in x.iter_mut() {
        let t = (u64::from(*w) ^ WMASK) + carry;
        *w = (t & WMASK) as u32;
        carry = t >> W;
    }
    -1
}

/// One round's update of the coefficients, for `u, v < m`: `u ← (u·f0 + v·g0) / 2^31 mod m`
/// and `v ← (u·f1 + v·g1) / 2^31 mod m`. Each sum plus its multiple of `m`, shifted, lands in
/// `(−m, 2m)`, and is brought into `[0, m)` by one addition or subtraction of `m`.
fn update_coefficients(u: &mut [u32], v: &mut [u32], f: [i64; 4], m: &[u32], m_inv: u32) {
    let [cu, cv] = combine(u, v, f, m, m_inv);
    for (x, c) in [(u, cu), (v, cv)] {
        if c < 0 {
            add_words(x, m);
        } else if !less_words(x, m) {
            sub_words(x, m);
        }
    }
}

/// `x < m` for equal-length words. Variable time.
fn less_words(x: &[u32], m: &[u32]) -> bool {
    for (a, b) in x.iter().zip(m).rev() {
        if a != b {
            return a < b;
        }
    }
    false
}

/// `x ← x + m` in 31-bit words, the carry out of the top word dropped.
fn add_words(x: &mut [u32], m: &[u32]) {
    let mut carry = 0u64;
    for (w, &mi) in x.iter_mut().zip(m) {
        let t = u64::from(*w) + u64::from(mi) + carry;
        *w = (t & WMASK) as u32;
        carry = t >> W;
    }
}

/// `x ← x − m` in 31-bit words (`x ≥ m`).
fn sub_words(x: &mut [u32], m: &[u32]) {
    let mut borrow = 0u64;
    for (w, &mi) in x.iter_mut().zip(m) {
        let t = u64::from(*w).wrapping_sub(u64::from(mi) + borrow);
        *w = (t & WMASK) as u32;
        borrow = t >> 63;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    // On wasm32 the same tests run under wasm-bindgen-test, with the SIMD kernel.
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

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
    fn inverse_of_a_non_unit_is_none() {
        // odd composites: an x sharing a factor with m has no inverse
        for (m, x) in [(15u128, 3u128), (15, 10), (3 * 0xffff_ffff_ffff_fffb, 3)] {
            let md = Modulus::new(&be(m)).unwrap();
            assert!(
                md.inverse_vartime(&md.limbs_of(&be(x))).is_none(),
                "m={m} x={x}"
            );
        }
        let md = Modulus::new(&be(15)).unwrap();
        assert!(md.inverse_vartime(&md.limbs_of(&be(0))).is_none());
        assert_eq!(
            md.to_be(&md.inverse_vartime(&md.limbs_of(&be(7))).unwrap(), 1),
            [13]
        );
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
        for (x, bits) in [
            (&[][..], 0),
            (&[0, 0], 0),
            (&[1], 1),
            (&[0, 0x80, 0], 16),
            (&[0x7f, 1], 15),
        ] {
            assert_eq!(bit_len_be(x), bits, "{x:?}");
        }
    }

    /// `rem_be` against num-bigint for dividends shorter than, as long as and longer than the
    /// divisor, at every shift of the divisor's top bit, with leading zero bytes on both, and
    /// with all-ones values (the head loaded at once must never reach `m`).
    #[test]
    fn rem_be_matches_num_bigint() {
        use rsa::BigUint;
        let mut bytes = seeded_bytes(7);
        for m_len in [1usize, 2, 3, 8, 9, 33, 128, 129] {
            for top_shift in 0..8 {
                let mut m = bytes(m_len);
                m[0] = (m[0] | 0x80) >> top_shift;
                if trim_be(&m).is_empty() {
                    continue;
                }
                let mut ones = vec![0xffu8; m_len];
                ones[0] >>= top_shift;
                for divisor in [m, ones] {
                    let big_m = BigUint::from_bytes_be(&divisor);
                    for a_len in [
                        0usize,
                        1,
                        m_len.saturating_sub(1),
                        m_len,
                        m_len + 1,
                        m_len + 3,
                        2 * m_len + 5,
                    ] {
                        let mut padded = vec![0u8; 2];
                        padded.extend_from_slice(&divisor);
                        for a in [
                            bytes(a_len),
                            vec![0xff; a_len],
                            [vec![0; 2], bytes(a_len)].concat(),
                        ] {
                            let want = BigUint::from_bytes_be(&a) % &big_m;
                            for d in [&divisor, &padded] {
                                let got = rem_be(&a, d);
                                assert_eq!(got.len(), d.len());
                                assert_eq!(BigUint::from_bytes_be(&got), want, "{a:?} mod {d:?}");
                            }
                        }
                    }
                }
            }
        }
    }

    /// The Montgomery product against `num-bigint-dig` at every limb count from 1 to 70 (every
    /// position of the last, partial pass of sixteen rows) and at the sizes in use, with the
    /// largest operands possible (m = 2^bits − 1, a = b = m − 1: every column at its bound) and
    /// random ones. Debug builds also check that every column the reduction consumes ends at
    /// zero, i.e. that each pass's carry estimate was exact.
    #[test]
    fn mont_mul_matches_reference_at_every_size() {
        use rand_chacha::rand_core::{RngCore, SeedableRng};
        use rsa::BigUint;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(11);
        let sizes = (1usize..=70).chain([73, 74, 75, 146, 147, 148, 293]);
        for n in sizes {
            for bits in [(14 * n).saturating_sub(17), 14 * n - 4]
                .into_iter()
                .filter(|&b| b >= 2)
            {
                let len = bits.div_ceil(8);
                let mut random = vec![0u8; len];
                rng.fill_bytes(&mut random);
                random[0] &= 0xffu8 >> (len * 8 - bits);
                random[0] |= 0x80u8 >> (len * 8 - bits);
                random[len - 1] |= 1;
                for m in [all_ones(bits), random] {
                    let Some(md) = Modulus::new(&m) else {
                        assert_eq!(bits, 2, "only m = 3 is rejected here");
                        continue;
                    };
                    assert_eq!(md.limbs(), n, "{bits} bits");
                    let big_m = BigUint::from_bytes_be(&m);
                    let r = BigUint::from(1u32) << (14 * n);
                    let mut top = m.clone();
                    top[len - 1] ^= 1; // m − 1
                    let mut x = vec![0u8; len];
                    rng.fill_bytes(&mut x);
                    let x = rem_be(&x, &m);
                    for (a, b) in [(&top, &top), (&x, &top), (&x, &x)] {
                        let (la, lb) = (md.limbs_of(a), md.limbs_of(b));
                        let mut s = md.scratch();
                        let mut out = vec![0u32; n];
                        md.mont_mul(&la, &lb, &mut out, &mut s);
                        let got = BigUint::from_bytes_be(&md.to_be(&out, len));
                        assert!(got < big_m, "{bits} bits: not reduced");
                        let (ba, bb) = (BigUint::from_bytes_be(a), BigUint::from_bytes_be(b));
                        assert_eq!(
                            (&got * &r) % &big_m,
                            (ba * bb) % &big_m,
                            "{bits} bits ({n} limbs)"
                        );
                    }
                    // lazy products: inputs up to 4m − 1, results below 2m
                    let top = (&big_m << 2) - 1u32;
                    let top_l = md.limbs_of(&top.to_bytes_be());
                    let x_l = md.limbs_of(&x);
                    for (a, b) in [(&top_l, &top_l), (&x_l, &top_l)] {
                        let mut out = vec![0u32; n];
                        md.k.mul_lazy(a, b, &mut out, &mut md.scratch());
                        let big = |l: &[u32]| BigUint::from_bytes_be(&md.to_be(l, len + 1));
                        let got = big(&out);
                        assert!(got < (&big_m << 1), "{bits} bits: lazy result ≥ 2m");
                        assert_eq!(
                            (&got * &r) % &big_m,
                            (big(a) * big(b)) % &big_m,
                            "{bits} bits ({n} limbs): lazy"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn size_limit() {
        assert!(Modulus::new(&all_ones(MAX_BITS + 1)).is_none());
        let md = Modulus::new(&all_ones(MAX_BITS)).unwrap();
        // 2^(MAX_BITS) ≡ 1 (mod 2^MAX_BITS − 1)
        let x = md.reduce_be(&[&[1u8][..], &vec![0u8; MAX_BITS / 8]].concat());
        assert_eq!(md.to_be(&x, 2), vec![0, 1]);
    }

    fn all_ones(bits: usize) -> Vec<u8> {
        let len = bits.div_ceil(8);
        let mut m = vec![0xffu8; len];
        m[0] = 0xffu8 >> (len * 8 - bits);
        m
    }

    #[test]
    fn inverse_matches_num_bigint() {
        use rand_chacha::rand_core::{RngCore, SeedableRng};
        use rsa::BigUint;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(31);
        let mut random = |bits: usize| {
            let mut v = vec![0u8; bits.div_ceil(8)];
            rng.fill_bytes(&mut v);
            v[0] &= 0xffu8 >> (v.len() * 8 - bits);
            BigUint::from_bytes_be(&v)
        };
        let one = BigUint::from(1u32);
        let gcd = |mut a: BigUint, mut b: BigUint| {
            while b != BigUint::from(0u32) {
                let r = &a % &b;
                a = std::mem::replace(&mut b, r);
            }
            a
        };
        // sizes around the 31-bit words and the 64-bit approximations
        let sizes = [
            2usize, 3, 30, 31, 32, 33, 62, 63, 64, 65, 93, 100, 127, 128, 129, 255, 512,
        ];
        for bits in sizes
            .into_iter()
            .chain([1023, 1024, 1025, 2047, 2048, 3072, 4096])
        {
            for round in 0..(if bits <= 512 { 40 } else { 4 }) {
                let m = random(bits) | (&one << (bits - 1)) | &one;
                if m == one {
                    continue;
                }
                let m_be = m.to_bytes_be();
                let md = Modulus::new(&m_be).unwrap();
                let len = m_be.len();
                // random values, the edges, and a value sharing a factor with m when it has one
                let mut xs = vec![
                    random(bits) % &m,
                    one.clone(),
                    &m - &one,
                    BigUint::from(0u32),
                ];
                if round % 4 == 0 {
                    xs.push(BigUint::from(3u32) % &m);
                    xs.push(&m >> 1); // also even, and large
                }
                for x in xs {
                    let got = md.inverse_vartime(&md.limbs_of(&x.to_bytes_be()));
                    let unit = gcd(m.clone(), x.clone()) == one;
                    match got {
                        Some(inv) => {
                            assert!(unit, "{bits}: inverse of a non-unit");
                            let inv = BigUint::from_bytes_be(&md.to_be(&inv, len));
                            assert!(inv < m, "{bits}: inverse not reduced");
                            assert_eq!(inv * &x % &m, one, "{bits}: x·x⁻¹ ≠ 1");
                        }
                        None => assert!(!unit, "{bits}: no inverse found for a unit"),
                    }
                }
            }
        }
        // a composite modulus and a factor of it
        let (p, q) = (random(512) | &one, random(512) | &one);
        let m = &p * &q;
        let md = Modulus::new(&m.to_bytes_be()).unwrap();
        assert!(md.inverse_vartime(&md.limbs_of(&p.to_bytes_be())).is_none());
        assert!(md
            .inverse_vartime(&md.limbs_of(&(&q * 2u32).to_bytes_be()))
            .is_none());
    }

    /// Random bytes from a seeded generator: `n` at a time.
    fn seeded_bytes(seed: u64) -> impl FnMut(usize) -> Vec<u8> {
        use rand_chacha::rand_core::{RngCore, SeedableRng};
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        move |n| {
            let mut v = vec![0u8; n];
            rng.fill_bytes(&mut v);
            v
        }
    }

    #[test]
    fn random_moduli_match_num_bigint() {
        use rsa::BigUint;
        let mut bytes = seeded_bytes(7);
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
