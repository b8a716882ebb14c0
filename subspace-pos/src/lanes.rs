//! BLAKE3 of many short inputs at once: the single-block compression of [`LANES`] inputs side
//! by side, one vector lane per input, for f2..f7 (inputs of at most 29 bytes, one block).
//!
//! The `blake3` crate vectorises across the blocks of one long input and, in `hash_many`,
//! across whole 64-byte blocks only, so it hashes our inputs one at a time. Here every
//! compression step is an element-wise operation over `[u32; LANES]` arrays, which LLVM turns
//! into AVX-512 or AVX2 instructions when the code is compiled for them. That compilation
//! happens inside [`Simd::run`], which detects the CPU's features at run time (through
//! `pulp`, whose tokens make the dispatch safe); without AVX2 the callers use the `blake3`
//! crate instead ([`Simd::None`]).

/// Inputs hashed per call of [`hash_lanes`]: one AVX-512 register of 32-bit words.
pub(crate) const LANES: usize = 16;

/// One 32-bit word of every lane.
pub(crate) type Word = [u32; LANES];

const IV: [u32; 8] = [
    0x6A09_E667,
    0xBB67_AE85,
    0x3C6E_F372,
    0xA54F_F53A,
    0x510E_527F,
    0x9B05_688C,
    0x1F83_D9AB,
    0x5BE0_CD19,
];

/// CHUNK_START | CHUNK_END | ROOT: the flags of a whole message that fits in one block.
const SINGLE_BLOCK_FLAGS: u32 = 1 | 2 | 8;

/// Message word order of round r + 1 from round r (the BLAKE3 permutation, applied r times).
const SCHEDULE: [[usize; 16]; 7] = schedule();

const fn schedule() -> [[usize; 16]; 7] {
    const PERMUTATION: [usize; 16] = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];
    let mut out = [[0usize; 16]; 7];
    let mut i = 0;
    while i < 16 {
        out[0][i] = i;
        i += 1;
    }
    let mut r = 1;
    while r < 7 {
        let mut i = 0;
        while i < 16 {
            out[r][i] = out[r - 1][PERMUTATION[i]];
            i += 1;
        }
        r += 1;
    }
    out
}

/// The SIMD level this CPU runs [`hash_lanes`] at.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Simd {
    /// AVX-512 (x86-64-v4).
    #[cfg(target_arch = "x86_64")]
    V4(pulp::x86::V4),
    /// AVX2 (x86-64-v3).
    #[cfg(target_arch = "x86_64")]
    V3(pulp::x86::V3),
    /// Neither: hash one input at a time with the `blake3` crate.
    None,
}

impl Simd {
    /// Detects the best level at run time.
    pub(crate) fn detect() -> Simd {
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(s) = pulp::x86::V4::try_new() {
                return Simd::V4(s);
            }
            if let Some(s) = pulp::x86::V3::try_new() {
                return Simd::V3(s);
            }
        }
        Simd::None
    }

    /// Runs `f` compiled for this level's instruction set: `f` and everything it inlines
    /// (mark it `#[inline(always)]`) may use the level's vector instructions.
    #[inline(always)]
    pub(crate) fn run<R>(self, f: impl FnOnce() -> R) -> R {
        match self {
            #[cfg(target_arch = "x86_64")]
            Simd::V4(s) => s.vectorize(f),
            #[cfg(target_arch = "x86_64")]
            Simd::V3(s) => s.vectorize(f),
            Simd::None => f(),
        }
    }
}

/// One quarter-round of BLAKE3 (its G function) on every lane.
#[inline(always)]
fn g(v: &mut [Word; 16], [a, b, c, d]: [usize; 4], x: &Word, y: &Word) {
    for i in 0..LANES {
        let (mut va, mut vb, mut vc, mut vd) = (v[a][i], v[b][i], v[c][i], v[d][i]);
        va = va.wrapping_add(vb).wrapping_add(x[i]);
        vd = (vd ^ va).rotate_right(16);
        vc = vc.wrapping_add(vd);
        vb = (vb ^ vc).rotate_right(12);
        va = va.wrapping_add(vb).wrapping_add(y[i]);
        vd = (vd ^ va).rotate_right(8);
        vc = vc.wrapping_add(vd);
        vb = (vb ^ vc).rotate_right(7);
        (v[a][i], v[b][i], v[c][i], v[d][i]) = (va, vb, vc, vd);
    }
}

/// BLAKE3 of [`LANES`] messages of `len <= 32` bytes each: `block[w][lane]` is little-endian
/// word `w` of lane `lane`'s message, zero-padded to 32 bytes. Returns the first 8 words
/// (32 bytes, little-endian words) of each lane's hash in the same layout.
///
/// f inputs are at most 31 + 2 · 100 bits (k = 25), so the block's second half is always
/// zero; taking only the first half lets the compiler drop those message additions.
#[inline(always)]
pub(crate) fn hash_lanes(block: &[Word; 8], len: u32) -> [Word; 8] {
    let mut v = [[0u32; LANES]; 16];
    for i in 0..8 {
        v[i] = [IV[i]; LANES];
    }
    for i in 0..4 {
        v[8 + i] = [IV[i]; LANES];
    }
    // Words 12 and 13 (the chunk counter) stay 0.
    v[14] = [len; LANES];
    v[15] = [SINGLE_BLOCK_FLAGS; LANES];
    let mut full = [[0u32; LANES]; 16];
    full[..8].copy_from_slice(block);
    for s in &SCHEDULE {
        let m = |i: usize| &full[s[i]];
        g(&mut v, [0, 4, 8, 12], m(0), m(1));
        g(&mut v, [1, 5, 9, 13], m(2), m(3));
        g(&mut v, [2, 6, 10, 14], m(4), m(5));
        g(&mut v, [3, 7, 11, 15], m(6), m(7));
        g(&mut v, [0, 5, 10, 15], m(8), m(9));
        g(&mut v, [1, 6, 11, 12], m(10), m(11));
        g(&mut v, [2, 7, 8, 13], m(12), m(13));
        g(&mut v, [3, 4, 9, 14], m(14), m(15));
    }
    let mut out = [[0u32; LANES]; 8];
    for (w, o) in out.iter_mut().enumerate() {
        for i in 0..LANES {
            o[i] = v[w][i] ^ v[w + 8][i];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Hashes `inputs` (at most LANES, each at most 32 bytes, all of length `len`) at `simd`.
    fn lanes_of(simd: Simd, inputs: &[Vec<u8>], len: usize) -> Vec<[u8; 32]> {
        let mut block = [[0u32; LANES]; 8];
        for (lane, input) in inputs.iter().enumerate() {
            let mut bytes = [0u8; 32];
            bytes[..len].copy_from_slice(input);
            for (w, chunk) in bytes.chunks_exact(4).enumerate() {
                block[w][lane] = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            }
        }
        let out = simd.run(|| hash_lanes(&block, len as u32));
        (0..inputs.len())
            .map(|lane| {
                let mut h = [0u8; 32];
                for (w, chunk) in h.chunks_exact_mut(4).enumerate() {
                    chunk.copy_from_slice(&out[w][lane].to_le_bytes());
                }
                h
            })
            .collect()
    }

    proptest! {
        // Every lane agrees with the `blake3` crate, at the detected SIMD level and compiled
        // without it, for every input length up to 32 bytes.
        #[test]
        fn lanes_agree_with_the_blake3_crate(
            len in 0usize..=32,
            seeds in proptest::collection::vec(any::<[u8; 32]>(), 1..=LANES),
        ) {
            let inputs: Vec<Vec<u8>> = seeds.iter().map(|s| s[..len].to_vec()).collect();
            for simd in [Simd::detect(), Simd::None] {
                let got = lanes_of(simd, &inputs, len);
                for (g, input) in got.iter().zip(inputs.iter()) {
                    let want = *blake3::hash(input).as_bytes();
                    prop_assert_eq!(*g, want);
                }
            }
        }
    }

    #[test]
    fn schedule_is_blake3s() {
        // Round 2's message order, from the BLAKE3 specification.
        assert_eq!(
            SCHEDULE[1],
            [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8]
        );
        assert_eq!(SCHEDULE[0][5], 5);
    }
}
