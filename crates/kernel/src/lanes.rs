//! A 128-bit vector with the handful of lane operations the Montgomery kernel needs.
//!
//! On wasm32 built with `simd128` this is WebAssembly's `v128`; `dot` is `i32x4.dot_i16x8_s`,
//! eight 16×16-bit products summed in pairs, which V8 lowers to a single `pmaddwd` on x64.
//! Elsewhere the same operations run on plain arrays, so native tests run exactly the algorithm
//! the WebAssembly build runs.

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod imp {
    use core::arch::wasm32::{
        i32x4_add, i32x4_dot_i16x8, i32x4_shl, i64x2_add, u32x4, u32x4_splat,
        u64x2_extend_high_u32x4, u64x2_extend_low_u32x4, u64x2_extract_lane, u64x2_splat, v128,
        v128_or,
    };

    /// Four 32-bit lanes, or two 64-bit lanes.
    #[derive(Clone, Copy)]
    pub struct V(v128);

    impl Default for V {
        #[inline(always)]
        fn default() -> Self {
            V(u64x2_splat(0))
        }
    }

    impl V {
        /// `x` in every 32-bit lane.
        #[inline(always)]
        pub fn splat(x: u32) -> V {
            V(u32x4_splat(x))
        }
        /// `x[0..4]` as 32-bit lanes.
        #[inline(always)]
        pub fn load(x: &[u32]) -> V {
            let x = &x[..4];
            V(u32x4(x[0], x[1], x[2], x[3]))
        }
        /// `x | y << 16` per 32-bit lane.
        #[inline(always)]
        pub fn pack(x: V, y: V) -> V {
            V(v128_or(x.0, i32x4_shl(y.0, 16)))
        }
        /// Per 32-bit lane: `lo16(x)·lo16(y) + hi16(x)·hi16(y)`, halves read as signed.
        #[inline(always)]
        pub fn dot(self, y: V) -> V {
            V(i32x4_dot_i16x8(self.0, y.0))
        }
        /// 32-bit lane-wise wrapping sum.
        #[inline(always)]
        pub fn add32(self, y: V) -> V {
            V(i32x4_add(self.0, y.0))
        }
        /// 32-bit lanes 0 and 1, zero-extended to two 64-bit lanes.
        #[inline(always)]
        pub fn widen_lo(self) -> V {
            V(u64x2_extend_low_u32x4(self.0))
        }
        /// 32-bit lanes 2 and 3, zero-extended to two 64-bit lanes.
        #[inline(always)]
        pub fn widen_hi(self) -> V {
            V(u64x2_extend_high_u32x4(self.0))
        }
        /// 64-bit lane-wise wrapping sum.
        #[inline(always)]
        pub fn add64(self, y: V) -> V {
            V(i64x2_add(self.0, y.0))
        }
        /// 64-bit lanes `[0, 1]`.
        #[inline(always)]
        pub fn u64s(self) -> [u64; 2] {
            [
                u64x2_extract_lane::<0>(self.0),
                u64x2_extract_lane::<1>(self.0),
            ]
        }
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod imp {
    /// Four 32-bit lanes, or two 64-bit lanes (low half first).
    #[derive(Clone, Copy, Default)]
    pub struct V([u32; 4]);

    impl V {
        #[inline(always)]
        pub fn splat(x: u32) -> V {
            V([x; 4])
        }
        #[inline(always)]
        pub fn load(x: &[u32]) -> V {
            V([x[0], x[1], x[2], x[3]])
        }
        #[inline(always)]
        pub fn pack(x: V, y: V) -> V {
            V(std::array::from_fn(|l| x.0[l] | (y.0[l] << 16)))
        }
        #[inline(always)]
        pub fn dot(self, y: V) -> V {
            let half = |v: u32, s: u32| i32::from((v >> s) as u16 as i16);
            V(std::array::from_fn(|l| {
                let (a, b) = (self.0[l], y.0[l]);
                (half(a, 0) * half(b, 0)).wrapping_add(half(a, 16) * half(b, 16)) as u32
            }))
        }
        #[inline(always)]
        pub fn add32(self, y: V) -> V {
            V(std::array::from_fn(|l| self.0[l].wrapping_add(y.0[l])))
        }
        #[inline(always)]
        pub fn widen_lo(self) -> V {
            V([self.0[0], 0, self.0[1], 0])
        }
        #[inline(always)]
        pub fn widen_hi(self) -> V {
            V([self.0[2], 0, self.0[3], 0])
        }
        #[inline(always)]
        pub fn add64(self, y: V) -> V {
            let [a0, a1] = self.u64s();
            let [b0, b1] = y.u64s();
            let (s0, s1) = (a0.wrapping_add(b0), a1.wrapping_add(b1));
            V([s0 as u32, (s0 >> 32) as u32, s1 as u32, (s1 >> 32) as u32])
        }
        #[inline(always)]
        pub fn u64s(self) -> [u64; 2] {
            let w = |i: usize| u64::from(self.0[i]) | (u64::from(self.0[i + 1]) << 32);
            [w(0), w(2)]
        }
    }
}

pub use imp::V;

// All-zero bytes are the default value, so `zeroize` can wipe vectors of `V`.
impl zeroize::DefaultIsZeroes for V {}
