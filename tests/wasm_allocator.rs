//! The `.wasm`'s heap allocator (the standard library's, `dlmalloc`), run in Node by
//! wasm-bindgen-test: random interleavings of allocations, growth and frees of many sizes and
//! alignments, each block filled with its own pattern and checked before it is freed, so any
//! overlap or lost byte shows; then the same workload again must not grow the memory (freed
//! blocks are merged and reused).
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// Linked so that the allocator is the one the package ships with (nothing else of it is used here).
extern crate ibkr_auth;

use wasm_bindgen_test::wasm_bindgen_test;

/// xorshift64: a fixed, reproducible sequence.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }
}

/// A live block: its bytes, the byte every one of them must hold, and (for the aligned kinds)
/// the alignment its address must have.
enum Block {
    Bytes(Vec<u8>, u8),
    Aligned16(Vec<[u128; 1]>, u8),
    Page(Box<Aligned4096>),
}

#[repr(align(4096))]
struct Aligned4096([u8; 64]);

fn pattern(id: usize) -> u8 {
    (id as u8).wrapping_mul(31).wrapping_add(7)
}

fn check(b: &Block) {
    match b {
        Block::Bytes(v, p) => assert!(v.iter().all(|x| x == p), "a block was overwritten"),
        Block::Aligned16(v, p) => {
            assert_eq!(v.as_ptr() as usize % 16, 0, "16-byte alignment lost");
            let want = u128::from_le_bytes([*p; 16]);
            assert!(
                v.iter().all(|x| x[0] == want),
                "an aligned block was overwritten"
            );
        }
        Block::Page(b) => {
            assert_eq!(
                &**b as *const Aligned4096 as usize % 4096,
                0,
                "4096-byte alignment lost"
            );
            assert!(
                b.0.iter().all(|&x| x == 0xa5),
                "a page-aligned block was overwritten"
            );
        }
    }
}

/// One round of the workload: ~20,000 operations over at most 400 live blocks, sizes from 1 byte
/// to 96 KiB (more than a wasm page, so memory has to grow), some grown in place by `Vec`.
fn workload(seed: u64) {
    let mut rng = Rng(seed);
    let mut live: Vec<Block> = Vec::new();
    for id in 0..20_000 {
        let op = rng.below(10);
        if op < 4 && !live.is_empty() {
            let i = rng.below(live.len() as u64);
            let b = live.swap_remove(i);
            check(&b);
        } else if op < 5 && !live.is_empty() {
            // Grow a byte block (realloc), keeping its contents.
            let i = rng.below(live.len() as u64);
            if let Block::Bytes(v, p) = &mut live[i] {
                let extra = 1 + rng.below(2_000);
                v.extend(std::iter::repeat_n(*p, extra));
            }
            check(&live[i]);
        } else if live.len() < 400 {
            let p = pattern(id);
            let size = match rng.below(100) {
                0 => 65_536 + rng.below(32_768),
                1..=10 => 1_024 + rng.below(8_192),
                _ => 1 + rng.below(200),
            };
            let b = match rng.below(8) {
                0 => Block::Aligned16(vec![[u128::from_le_bytes([p; 16])]; 1 + size / 16], p),
                1 if size < 64 => Block::Page(Box::new(Aligned4096([0xa5; 64]))),
                _ => Block::Bytes(vec![p; size], p),
            };
            check(&b);
            live.push(b);
        }
    }
    live.iter().for_each(check);
}

#[wasm_bindgen_test]
fn blocks_never_overlap_and_freed_memory_is_reused() {
    // Two different interleavings, once each: the memory grows to what they need at their peak.
    let seeds = [0x9e37_79b9_7f4a_7c15, 42];
    seeds.into_iter().for_each(workload);
    let pages = core::arch::wasm32::memory_size(0);
    // Both again, in turn: everything fits in the blocks the first rounds freed.
    for _ in 0..2 {
        seeds.into_iter().for_each(workload);
    }
    let after = core::arch::wasm32::memory_size(0);
    assert_eq!(
        after, pages,
        "the same workloads again grew the memory ({pages} → {after} pages): freed blocks were not reused"
    );
}
