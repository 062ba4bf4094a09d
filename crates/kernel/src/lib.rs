//! The Montgomery product kernel of `ibkr-auth-bigint`: the few functions an exponentiation
//! spends its time in, in a crate of their own so that they are built for speed (`opt-level =
//! 3`, unrolled) while the rest of the big-integer code is built for size.
//!
//! Numbers are limbs of 14 bits (one per `u32`). A product runs sixteen rows per pass of a
//! vector kernel on WebAssembly SIMD's `i32x4.dot_i16x8_s` (see [`Kernel::mul_lazy`]); without
//! `simd128` (and on native targets) the same algorithm runs on plain arrays. Everything here
//! is constant time. It is tested through `ibkr-auth-bigint`, against reference arithmetic at
//! every operand size.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use zeroize::Zeroize;

mod lanes;
use lanes::V;

/// Wipes a vector: its elements, then its spare capacity. One out-of-line copy per element
/// type; inlined, the volatile writes were unrolled again at every drop (~5 KB of the `.wasm`).
#[inline(never)]
pub fn wipe<T: zeroize::DefaultIsZeroes>(v: &mut Vec<T>) {
    v.zeroize();
}

/// Bits per limb. A product of two limbs takes 28 bits, so the vector kernel can sum 16 of them
/// in a 32-bit lane; limbs are 16-bit halves of its operands, read as signed, so 14 bits also
/// keep every operand positive.
pub const R: u32 = 14;
/// One limb's bits.
pub const MASK: u64 = (1 << R) - 1;
/// Two limbs' bits.
const MASK28: u64 = (1 << 28) - 1;
/// Rows of a product (limbs of one operand) per pass of the vector kernel.
const ROWS: usize = 16;
/// `-m⁻¹ mod 2^224` for odd `m` (14-bit limbs), as eight 28-bit digits, digit by digit: each
/// digit `d` makes the next 28 bits of `1 + m·x` zero.
fn neg_inverse_224(m: &[u32]) -> [u64; 8] {
    let limb = |i: usize| u64::from(m.get(i).copied().unwrap_or(0));
    let m28: [u64; 8] = std::array::from_fn(|w| limb(2 * w) | (limb(2 * w + 1) << R));
    // Newton's iteration for m⁻¹ mod 2^64: each step doubles the correct low bits (3 → 96).
    let mut inv = m28[0];
    for _ in 0..5 {
        inv = inv.wrapping_mul(2u64.wrapping_sub(m28[0].wrapping_mul(inv)));
    }
    let inv0 = inv.wrapping_neg() & MASK28;
    let mut x = [0u64; 8];
    let mut cols = [0u64; 9];
    cols[0] = 1;
    for w in 0..8 {
        let d = ((cols[w] & MASK28) * inv0) & MASK28;
        x[w] = d;
        for (col, &mj) in cols[w..8].iter_mut().zip(&m28) {
            *col += d * mj;
        }
        cols[w + 1] += cols[w] >> 28;
    }
    x
}

/// An odd modulus `m` as the kernel needs it: its limbs, their kernel layout and `-m⁻¹ mod
/// 2^224`. Wiped on drop (RSA primes are secret).
#[derive(Clone)]
pub struct Kernel {
    m: Vec<u32>,
    /// `m` laid out for the kernel (see [`pairs_of`]).
    m_pairs: Pairs,
    /// `-m⁻¹ mod 2^224`, as eight 28-bit digits: one pass's reduction factor in one product.
    m_inv: [u64; 8],
}

impl Drop for Kernel {
    fn drop(&mut self) {
        wipe(&mut self.m);
        self.m_pairs.zeroize();
        self.m_inv.zeroize();
    }
}

impl Kernel {
    /// Prepares the odd modulus `m` (`n` limbs of 14 bits).
    pub fn new(m: Vec<u32>) -> Self {
        let mut m_pairs = Pairs::default();
        pairs_of(&m, m.len(), &mut Vec::new(), &mut m_pairs);
        Kernel {
            m_inv: neg_inverse_224(&m),
            m,
            m_pairs,
        }
    }

    /// Limbs per value.
    pub fn limbs(&self) -> usize {
        self.m.len()
    }

    /// The modulus's limbs.
    pub fn m(&self) -> &[u32] {
        &self.m
    }

    /// `-m⁻¹ mod 2^224` as eight 28-bit digits.
    pub fn m_inv(&self) -> &[u64; 8] {
        &self.m_inv
    }

    /// `x = 2x mod m` for `x < m`, constant time.
    pub fn double_in_place(&self, x: &mut [u32]) {
        let mut carry = 0u64;
        for l in x.iter_mut() {
            let v = (u64::from(*l) << 1) | carry;
            *l = (v & MASK) as u32;
            carry = v >> R;
        }
        self.sub_if_ge(x, carry);
    }

    /// Given `x` (normalised limbs) plus `top` (0 or 1, the limb above), subtracts `m` when
    /// `top·R + x ≥ m`. Constant time.
    pub fn sub_if_ge(&self, x: &mut [u32], top: u64) {
        // Two limbs (28 bits) per step; two passes over x: first find the borrow, then apply
        // the masked subtraction (no second buffer). An odd last limb pairs with a zero.
        let n = self.m.len();
        let (x, m) = (&mut x[..n], &self.m[..]);
        let d = |c: &[u32]| u64::from(c[0]) | (u64::from(c[1]) << R);
        let last = |c: &[u32]| c.first().map_or(0, |&l| u64::from(l));
        let mut borrow = 0u64;
        for (xc, mc) in x.chunks_exact(2).zip(m.chunks_exact(2)) {
            borrow = d(xc).wrapping_sub(d(mc) + borrow) >> 63;
        }
        let (xr, mr) = (x.chunks_exact(2).remainder(), m.chunks_exact(2).remainder());
        borrow = last(xr).wrapping_sub(last(mr) + borrow) >> 63;
        // Subtract when there was no final borrow, or when the limb above was set.
        let take = ((borrow ^ 1) | top) & 1;
        let mask = 0u64.wrapping_sub(take);
        borrow = 0;
        let mut xs = x.chunks_exact_mut(2);
        for (xc, mc) in (&mut xs).zip(m.chunks_exact(2)) {
            let v = d(xc).wrapping_sub((d(mc) & mask) + borrow);
            xc[0] = (v & MASK) as u32;
            xc[1] = ((v >> R) & MASK) as u32;
            borrow = v >> 63;
        }
        if let (Some(xl), Some(&ml)) = (xs.into_remainder().first_mut(), mr.first()) {
            let v = u64::from(*xl).wrapping_sub((u64::from(ml) & mask) + borrow);
            *xl = (v & MASK) as u32;
        }
    }

    /// `a = a + b mod m` for `a, b < m`. Constant time.
    pub fn add_mod_in_place(&self, a: &mut [u32], b: &[u32]) {
        let mut carry = 0u64;
        for (x, &y) in a.iter_mut().zip(b) {
            let v = u64::from(*x) + u64::from(y) + carry;
            *x = (v & MASK) as u32;
            carry = v >> R;
        }
        self.sub_if_ge(a, carry);
    }

    /// `out ≡ a·b/R (mod m)`, below `2m`, for `a, b < 4m`: a Montgomery product without the
    /// final subtraction. With `R ≥ 16m`, `(a·b + u·m)/R < (16m² + R·m)/R ≤ 2m`, so results can
    /// feed further products unreduced (doubled, too); an exponentiation reduces at the end.
    ///
    /// The product `a·b` goes into 64-bit columns sixteen rows per pass of the vector kernel.
    /// The reduction then works sixteen limbs (224 bits) at a time: the pass's sixteen lowest
    /// columns are brought to exact digits (with the carry from the pass before), multiplied by
    /// `-m⁻¹ mod 2^224` (36 scalar 28-bit products) to give sixteen reduction limbs `u`, and
    /// `u·m` is added by the same kernel. Those sixteen columns now sum to a multiple of 2^224,
    /// so their carry into the next pass is exactly `⌈(c₁₅·2^14 + c₁₄) / 2^28⌉`: every column is
    /// below 2^40 (at most 2n products of < 2^28 each, n ≤ 1,171), so the lower fourteen add
    /// less than a quarter. No carry chain runs through the passes.
    // Never inlined: WebAssembly engines move a function to optimised code between calls (there
    // is no on-stack replacement), so an exponentiation must call this thousands of times rather
    // than run it inline in one long call that stays in the baseline tier.
    #[inline(never)]
    pub fn mul_lazy(&self, a: &[u32], b: &[u32], out: &mut [u32], s: &mut Scratch) {
        let n = self.limbs();
        let passes = n.div_ceil(ROWS);
        let Scratch { x, pad, lo, hi } = s;
        lo.fill(V::default());
        hi.fill(V::default());
        pairs_of(a, n, pad, x);
        let limb = |v: &[u32], i: usize| v.get(i).copied().unwrap_or(0);
        for p in 0..passes {
            let i = ROWS * p;
            let rows = std::array::from_fn(|r| limb(b, i + 2 * r) | (limb(b, i + 2 * r + 1) << 16));
            pass(&rows, x, lo, hi, 4 * p);
        }
        // Reduction: pass p's factor comes from its sixteen lowest columns, complete once
        // passes 0..p have run, plus the carry out of the pass before. (Computing it between
        // the two halves of the pass before, to overlap its scalar chain with vector work,
        // measured no faster: the processor overlaps enough of it as it is.)
        let mut carry = 0u64;
        for p in 0..passes {
            if p > 0 {
                let [c14, c15] = hi[4 * p - 1].u64s();
                carry = ((c15 << R) + c14 + MASK28) >> 28;
            }
            let rows = self.reduction_rows(lo, hi, p, carry);
            pass(&rows, &self.m_pairs, lo, hi, 4 * p);
        }
        // The last pass ends below column n; carry from its first column up through 2n, two
        // columns (28 bits) per step, into `pad` (free again), then copy out the top n.
        let (first, last) = carry_blocks(n);
        pad.resize(4 * (last - first), 0);
        let cols = lo[first..last].iter().zip(&hi[first..last]);
        for ((l, h), d) in cols.zip(pad.chunks_exact_mut(4)) {
            let [c0, c1] = l.u64s();
            let [c2, c3] = h.u64s();
            for (d, [x, y]) in d.chunks_exact_mut(2).zip([[c0, c1], [c2, c3]]) {
                let v = x + (y << R) + carry;
                d[0] = (v & MASK) as u32;
                d[1] = ((v >> R) & MASK) as u32;
                carry = v >> 28;
            }
        }
        let low = n - 4 * first;
        debug_assert!(pad[..low].iter().all(|&d| d == 0), "columns not reduced");
        out[..n].copy_from_slice(&pad[low..low + n]);
        // The result is below 2m < R: nothing carries past limb n − 1.
        debug_assert_eq!(carry, 0);
    }

    /// Pass `p`'s sixteen reduction limbs, as the kernel's row pairs: `u = t·(−m⁻¹) mod 2^224`
    /// where `t` is the low 224 bits of the pass's columns plus `carry`. Rows past `n` (in a
    /// last, partial pass) are zero.
    #[inline(always)]
    fn reduction_rows(&self, lo: &[V], hi: &[V], p: usize, carry: u64) -> [u32; 8] {
        let n = self.limbs();
        let i = ROWS * p;
        let mut c = [0u64; 16];
        for (q, c4) in c.chunks_exact_mut(4).enumerate() {
            let [c0, c1] = lo[4 * p + q].u64s();
            let [c2, c3] = hi[4 * p + q].u64s();
            c4.copy_from_slice(&[c0, c1, c2, c3]);
        }
        let mut t = [0u64; 8];
        let mut cy = carry;
        for (tw, c2) in t.iter_mut().zip(c.chunks_exact(2)) {
            let v = c2[0] + (c2[1] << R) + cy;
            *tw = v & MASK28;
            cy = v >> 28;
        }
        let mut uc = [0u64; 8];
        for (w, &tw) in t.iter().enumerate() {
            for (col, &mi) in uc[w..].iter_mut().zip(&self.m_inv) {
                *col += tw * mi;
            }
        }
        // A plain loop, not `array::from_fn`: that stays a call with the carry kept in memory.
        let mut rows = [0u32; 8];
        let mut cy = 0u64;
        for (r, (row, &c)) in rows.iter_mut().zip(&uc).enumerate() {
            let v = c + cy;
            cy = v >> 28;
            let u = v & MASK28;
            let keep = |row: usize| 0u64.wrapping_sub(u64::from(row < n));
            *row = ((u & MASK & keep(i + 2 * r)) | ((u >> R) & keep(i + 2 * r + 1)) << 16) as u32;
        }
        rows
    }

    /// `acc ← 2·x` when `bit` is 1, else `x`, without a branch and not reduced: `2x` must fit
    /// the limbs (a lazy product's result, below `2m`, doubles to below `4m < R`). Out of line,
    /// like the products: see `inverse_vartime` in `ibkr-auth-bigint`.
    #[inline(never)]
    pub fn double_if(&self, acc: &mut [u32], x: &[u32], bit: u8) {
        let take = 0u32.wrapping_sub(u32::from(bit));
        // Limb i of 2x is limb i's low 13 bits shifted up, with limb i − 1's top bit: no carry
        // chain, so the loop vectorises.
        let below = std::iter::once(0).chain(x.iter().copied());
        for ((a, &l), b) in acc.iter_mut().zip(x).zip(below) {
            let twice = ((l << 1) & MASK as u32) | (b >> (R - 1));
            *a = (twice & take) | (l & !take);
        }
        debug_assert_eq!(
            x.last().map_or(0, |&l| l >> (R - 1)),
            0,
            "2x does not fit the limbs"
        );
    }
}

/// An operand laid out for the kernel: block `k` of `even` holds, in 32-bit lane `l`, limbs
/// `x[4k+l]` (low half) and `x[4k+l−1]` (high half); `odd` the same two places lower.
#[derive(Clone, Default)]
struct Pairs {
    even: Vec<V>,
    odd: Vec<V>,
}

impl Pairs {
    fn zeroize(&mut self) {
        wipe(&mut self.even);
        wipe(&mut self.odd);
    }
}

/// Blocks of an `n`-limb operand's kernel layout (see [`Pairs`]) that hold any of its limbs:
/// block `b` holds limbs down to `4b − 3`. A pass touches three column blocks more.
fn x_blocks(n: usize) -> usize {
    (n + 2) / 4 + 1
}

/// The column blocks `first..last` that the final carry of an `n`-limb product reads: from the
/// last pass's first up to column 2n.
fn carry_blocks(n: usize) -> (usize, usize) {
    (ROWS * (n.div_ceil(ROWS) - 1) / 4, (2 * n).div_ceil(4))
}

/// `pad`'s length for `n`-limb operands: the operand's layout (see [`pairs_of`]) or the final
/// carry's digits, whichever is longer. Allocated once at that size, the space is never
/// reallocated, which would free a copy of secret values without wiping it.
fn pad_len(n: usize) -> usize {
    let (first, last) = carry_blocks(n);
    (4 * x_blocks(n) + 4).max(4 * (last - first))
}

/// Lays `x` (`n` limbs) out for the kernel into `p`; `pad` is reused space.
fn pairs_of(x: &[u32], n: usize, pad: &mut Vec<u32>, p: &mut Pairs) {
    let k = x_blocks(n);
    // pad[j + 3] = x[j], zeros around it (also when the space last served a larger modulus)
    pad.resize(4 * k + 4, 0);
    pad[..3].fill(0);
    pad[3..3 + n].copy_from_slice(&x[..n]);
    pad[3 + n..].fill(0);
    p.even.resize(k, V::default());
    p.odd.resize(k, V::default());
    for (b, (e, o)) in p.even.iter_mut().zip(p.odd.iter_mut()).enumerate() {
        let w = &pad[4 * b..4 * b + 7];
        // even lane l: x[4b+l] | x[4b+l−1] << 16; odd lane l: x[4b+l−2] | x[4b+l−3] << 16
        *e = V::pack(V::load(&w[3..]), V::load(&w[2..]));
        *o = V::pack(V::load(&w[1..]), V::load(w));
    }
}

/// One pass: adds `x · (16 rows)` to the columns, where row pair `r` (rows `2r`, `2r+1`) is
/// `rows[r]` (low half row `2r`, high half row `2r+1`). The operand's blocks are taken one at a
/// time: block `j` of `x.even` (`x.odd`) meets row pair `2s` (`2s+1`) in column block `j + s`
/// (relative to `base`, the pass's first). Column block `j` then has all its sixteen products
/// and is added into the 64-bit columns; the three after it stay open, as 32-bit lane sums
/// (sixteen products of 28 bits fit), and are added at the end. Going by operand block, no
/// products of the zeros around the operand are computed (a sliding window of operand blocks
/// per column block multiplies three blocks of zeros at each end of a pass).
#[inline(always)]
fn pass(rows: &[u32; 8], x: &Pairs, lo: &mut [V], hi: &mut [V], base: usize) {
    let b = rows.map(V::splat);
    let k = x.even.len();
    let mut open = [V::default(); 3];
    let (lo, hi) = (&mut lo[base..base + k + 3], &mut hi[base..base + k + 3]);
    let cols = lo.iter_mut().zip(hi.iter_mut());
    for ((l, h), (&e, &o)) in cols.zip(x.even.iter().zip(&x.odd)) {
        let done = open[0].add32(e.dot(b[0]).add32(o.dot(b[1])));
        open = [
            open[1].add32(e.dot(b[2]).add32(o.dot(b[3]))),
            open[2].add32(e.dot(b[4]).add32(o.dot(b[5]))),
            e.dot(b[6]).add32(o.dot(b[7])),
        ];
        *l = l.add64(done.widen_lo());
        *h = h.add64(done.widen_hi());
    }
    for ((l, h), c) in lo[k..].iter_mut().zip(&mut hi[k..]).zip(open) {
        *l = l.add64(c.widen_lo());
        *h = h.add64(c.widen_hi());
    }
}

/// Scratch space for Montgomery products with one modulus.
pub struct Scratch {
    x: Pairs,
    /// The operand with zeros around it while it is laid out; the product's digits at the end.
    pad: Vec<u32>,
    lo: Vec<V>,
    hi: Vec<V>,
}

impl Scratch {
    /// Scratch space for `n`-limb operands.
    pub fn new(n: usize) -> Self {
        let blocks = 4 * n.div_ceil(ROWS) + x_blocks(n) + 3;
        Scratch {
            x: Pairs::default(),
            pad: Vec::with_capacity(pad_len(n)),
            lo: vec![V::default(); blocks],
            hi: vec![V::default(); blocks],
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.x.zeroize();
        wipe(&mut self.pad);
        wipe(&mut self.lo);
        wipe(&mut self.hi);
    }
}

/// Copies entry `index` of a table of `n`-limb entries into `out`, reading every entry.
#[inline(never)]
pub fn select(table: &[u32], n: usize, index: u32, out: &mut [u32]) {
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

    /// The scratch space is never reallocated by a product (a reallocation would free an
    /// unwiped copy of the operands), at every limb count up to 8,192-bit moduli.
    #[test]
    fn products_never_grow_the_scratch_space() {
        for n in 1..=600 {
            // an odd modulus with R ≥ 16m, as the products require
            let mut m = vec![MASK as u32; n];
            m[n - 1] = if n == 1 { 3 } else { 1 };
            let k = Kernel::new(m.clone());
            let mut s = Scratch::new(n);
            let pad = s.pad.capacity();
            let mut out = vec![0u32; n];
            k.mul_lazy(&m, &m, &mut out, &mut s);
            assert_eq!(s.pad.capacity(), pad, "{n} limbs");
        }
    }
}
