//! f2..f7 (BLAKE3 over y and the collated metadata) and the matching function.

use crate::bits::{BitWriter, hash_bits};
use crate::constants::{EXTRA_BITS, EXTRA_BITS_POW, K_B, K_BC, K_C, VECTOR_LENS};
use crate::lanes::{LANES, Simd, hash_lanes};

/// `(2m + parity)^2 mod kC` for each parity and m, the C-group offset of match target m.
const fn squares() -> [[u16; EXTRA_BITS_POW]; 2] {
    let mut out = [[0u16; EXTRA_BITS_POW]; 2];
    let mut parity = 0;
    while parity < 2 {
        let mut m = 0;
        while m < EXTRA_BITS_POW {
            let v = (2 * m + parity) as u64;
            out[parity][m] = ((v * v) % K_C) as u16;
            m += 1;
        }
        parity += 1;
    }
    out
}

const SQUARES: [[u16; EXTRA_BITS_POW]; 2] = squares();

/// The 64 positions within the next bucket (values of `y % kBC`) that match a left entry.
#[inline]
pub(crate) fn match_targets(y_left: u64, out: &mut [u16; EXTRA_BITS_POW]) {
    let parity = ((y_left / K_BC) % 2) as usize;
    let r = y_left % K_BC;
    let b = (r / K_C) as u16;
    let c = (r % K_C) as u16;
    for (m, slot) in out.iter_mut().enumerate() {
        let mut tb = b + m as u16;
        if tb >= K_B as u16 {
            tb -= K_B as u16;
        }
        let mut tc = c + SQUARES[parity][m];
        if tc >= K_C as u16 {
            tc -= K_C as u16;
        }
        *slot = tb * K_C as u16 + tc;
    }
}

/// Whether `y_left` and `y_right` match: adjacent buckets, and the B/C-group rule of chiapos.
pub(crate) fn is_match(y_left: u64, y_right: u64) -> bool {
    if y_left / K_BC + 1 != y_right / K_BC {
        return false;
    }
    let (l, r) = (y_left % K_BC, y_right % K_BC);
    let m = ((r / K_C) + K_B - (l / K_C)) % K_B;
    if m >= EXTRA_BITS_POW as u64 {
        return false;
    }
    let parity = ((y_left / K_BC) % 2) as usize;
    let want = ((l % K_C) + u64::from(SQUARES[parity][m as usize])) % K_C;
    r % K_C == want
}

/// Bits of metadata an entry of `table` (1..=7) carries, for space parameter `k`.
pub(crate) fn meta_bits(k: u8, table: usize) -> u32 {
    if table >= 7 {
        0
    } else {
        VECTOR_LENS[table + 1] * u32::from(k)
    }
}

/// Computes table `t` (2..=7) from a matched pair: `(y, metadata)`. `y` has k + 6 bits.
#[inline]
pub(crate) fn fx(k: u8, t: usize, y_left: u64, meta_l: u128, meta_r: u128) -> (u64, u128) {
    let in_bits = meta_bits(k, t - 1);
    let y_bits = u32::from(k) + EXTRA_BITS;
    let mut w = BitWriter::new();
    w.put(u128::from(y_left), y_bits);
    w.put(meta_l, in_bits);
    w.put(meta_r, in_bits);
    let hash: [u8; 32] = *blake3::hash(w.bytes()).as_bytes();
    let mut head = [0u8; 8];
    head.copy_from_slice(&hash[..8]);
    let y = u64::from_be_bytes(head) >> (64 - y_bits);
    let meta = match t {
        2 | 3 => (meta_l << in_bits) | meta_r,
        4..=6 => hash_bits(&hash, y_bits, meta_bits(k, t)),
        _ => 0,
    };
    (y, meta)
}

/// A 256-bit value as (high, low) halves, shifted left by `s < 256`.
#[inline(always)]
fn shl256(hi: u128, lo: u128, s: u32) -> (u128, u128) {
    if s == 0 {
        (hi, lo)
    } else if s < 128 {
        ((hi << s) | (lo >> (128 - s)), lo << s)
    } else {
        (lo << (s - 128), 0)
    }
}

/// The parameters of f_t that are the same for every match of one table.
#[derive(Clone, Copy)]
struct Shape {
    t: usize,
    in_bits: u32,
    y_bits: u32,
    out_bits: u32,
    total: u32,
}

impl Shape {
    fn new(k: u8, t: usize) -> Shape {
        let in_bits = meta_bits(k, t - 1);
        let y_bits = u32::from(k) + EXTRA_BITS;
        let total = y_bits + 2 * in_bits;
        // k <= MAX_PLOT_K = 25: 31 + 2 · 100 bits at most, so one 32-byte block.
        debug_assert!(total <= 256);
        Shape {
            t,
            in_bits,
            y_bits,
            out_bits: meta_bits(k, t),
            total,
        }
    }

    /// y ‖ meta_l ‖ meta_r as one big-endian bit string, left-aligned in 256 bits (hi, lo).
    #[inline(always)]
    fn input(&self, y: u64, ml: u128, mr: u128) -> (u128, u128) {
        let (h1, l1) = shl256(0, u128::from(y), 2 * self.in_bits);
        let (h2, l2) = shl256(0, ml, self.in_bits);
        shl256(h1 | h2, l1 | l2 | mr, 256 - self.total)
    }

    /// The result from the first 160 bits of the hash (`head`: bits 0..128, `next`: 128..160).
    #[inline(always)]
    fn output(&self, head: u128, next: u32, ml: u128, mr: u128) -> (u32, u128) {
        let y = (head >> (128 - self.y_bits)) as u32;
        let meta = match self.t {
            2 | 3 => (ml << self.in_bits) | mr,
            4..=6 => {
                // y_bits + out_bits <= 31 + 100 bits: the first 160 bits suffice (y_bits < 32).
                let bits = (head << self.y_bits) | (u128::from(next) >> (32 - self.y_bits));
                bits >> (128 - self.out_bits)
            }
            _ => 0,
        };
        (y, meta)
    }
}

/// [`fx`] for the matches of one table, in batches: the inputs are composed with 128-bit
/// shifts instead of a bit writer and hashed [`LANES`] at a time when the tables are built
/// at a SIMD level (one at a time with the `blake3` crate on CPUs without AVX2).
#[derive(Clone, Copy)]
pub(crate) struct FxBatch {
    shape: Shape,
    lanes: bool,
}

impl FxBatch {
    /// f_t (t in 2..=7) for space parameter `k`, hashing at `simd`'s level.
    pub(crate) fn new(k: u8, t: usize, simd: Simd) -> FxBatch {
        FxBatch {
            shape: Shape::new(k, t),
            lanes: !matches!(simd, Simd::None),
        }
    }

    /// Evaluates every match in `back` (positions of the two children in `ys` and `metas`,
    /// the left one first), appending the results' y to `out_y` and, for t < 7, their
    /// metadata to `out_meta`. Same results as [`fx`]. Call it inside [`Simd::run`] of the
    /// level given to [`FxBatch::new`], or the lanes are not vectorised.
    #[inline(always)]
    pub(crate) fn eval(
        &self,
        ys: &[u32],
        metas: &[u128],
        back: &[[u32; 2]],
        out_y: &mut Vec<u32>,
        out_meta: &mut Vec<u128>,
    ) {
        if self.lanes {
            fx_matches_lanes(self.shape, ys, metas, back, out_y, out_meta);
        } else {
            fx_matches_scalar(self.shape, ys, metas, back, out_y, out_meta);
        }
    }
}

/// [`FxBatch::eval`] one input at a time through the `blake3` crate.
fn fx_matches_scalar(
    shape: Shape,
    ys: &[u32],
    metas: &[u128],
    back: &[[u32; 2]],
    out_y: &mut Vec<u32>,
    out_meta: &mut Vec<u128>,
) {
    let len = shape.total.div_ceil(8) as usize;
    for &[l, r] in back {
        let (l, r) = (l as usize, r as usize);
        let (ml, mr) = (metas[l], metas[r]);
        let (hi, lo) = shape.input(u64::from(ys[l]), ml, mr);
        let mut bytes = [0u8; 32];
        bytes[..16].copy_from_slice(&hi.to_be_bytes());
        bytes[16..].copy_from_slice(&lo.to_be_bytes());
        let hash = blake3::hash(&bytes[..len]);
        let h = hash.as_bytes();
        let mut head = [0u8; 16];
        head.copy_from_slice(&h[..16]);
        let next = u32::from_be_bytes([h[16], h[17], h[18], h[19]]);
        let (y, meta) = shape.output(u128::from_be_bytes(head), next, ml, mr);
        out_y.push(y);
        if shape.t < 7 {
            out_meta.push(meta);
        }
    }
}

/// [`FxBatch::eval`] with [`LANES`] inputs per compression; inlined into [`Simd::run`] so the
/// lane loops compile to the detected vector instructions.
#[inline(always)]
fn fx_matches_lanes(
    shape: Shape,
    ys: &[u32],
    metas: &[u128],
    back: &[[u32; 2]],
    out_y: &mut Vec<u32>,
    out_meta: &mut Vec<u128>,
) {
    let len = shape.total.div_ceil(8);
    for group in back.chunks(LANES) {
        let mut block = [[0u32; LANES]; 8];
        for (lane, &[l, r]) in group.iter().enumerate() {
            let (l, r) = (l as usize, r as usize);
            let (hi, lo) = shape.input(u64::from(ys[l]), metas[l], metas[r]);
            // Message words are little-endian: byte-swapped 32-bit slices of the bit string.
            for w in 0..4 {
                block[w][lane] = ((hi >> (96 - 32 * w)) as u32).swap_bytes();
                block[w + 4][lane] = ((lo >> (96 - 32 * w)) as u32).swap_bytes();
            }
        }
        let h = hash_lanes(&block, len);
        for (lane, &[l, r]) in group.iter().enumerate() {
            let word = |w: usize| u128::from(h[w][lane].swap_bytes());
            let head = (word(0) << 96) | (word(1) << 64) | (word(2) << 32) | word(3);
            let (l, r) = (l as usize, r as usize);
            let (y, meta) = shape.output(head, h[4][lane].swap_bytes(), metas[l], metas[r]);
            out_y.push(y);
            if shape.t < 7 {
                out_meta.push(meta);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_exactly_the_matches() {
        let mut targets = [0u16; EXTRA_BITS_POW];
        for yl in [0u64, 1, 5000, K_BC - 1, K_BC * 7 + 1234] {
            match_targets(yl, &mut targets);
            let base = (yl / K_BC + 1) * K_BC;
            let hits: Vec<u64> = (0..K_BC).filter(|r| is_match(yl, base + r)).collect();
            let mut want: Vec<u64> = targets.iter().map(|t| u64::from(*t)).collect();
            want.sort_unstable();
            assert_eq!(hits, want);
            // Same bucket or two buckets apart never matches.
            assert!(!is_match(yl, yl / K_BC * K_BC + u64::from(targets[0])));
        }
    }

    #[test]
    fn batches_agree_with_single_fx() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for k in [12u8, 18, 20, 25] {
            for t in 2..=7 {
                let mb = meta_bits(k, t - 1);
                let mask = if mb == 128 {
                    u128::MAX
                } else {
                    (1u128 << mb) - 1
                };
                let n = 3 * LANES + 5; // whole groups and a partial one
                let ys: Vec<u32> = (0..n)
                    .map(|_| (next() >> (64 - u32::from(k) - EXTRA_BITS)) as u32)
                    .collect();
                let metas: Vec<u128> = (0..n)
                    .map(|_| ((u128::from(next()) << 64) | u128::from(next())) & mask)
                    .collect();
                let back: Vec<[u32; 2]> = (0..n)
                    .map(|_| [(next() % n as u64) as u32, (next() % n as u64) as u32])
                    .collect();
                for simd in [Simd::detect(), Simd::None] {
                    let (mut oy, mut om) = (Vec::new(), Vec::new());
                    let batch = FxBatch::new(k, t, simd);
                    simd.run(|| batch.eval(&ys, &metas, &back, &mut oy, &mut om));
                    assert_eq!(oy.len(), n);
                    assert_eq!(om.len(), if t < 7 { n } else { 0 });
                    for (i, &[l, r]) in back.iter().enumerate() {
                        let (l, r) = (l as usize, r as usize);
                        let (y, meta) = fx(k, t, u64::from(ys[l]), metas[l], metas[r]);
                        assert_eq!(u64::from(oy[i]), y, "k {k} t {t} {simd:?}");
                        if t < 7 {
                            assert_eq!(om[i], meta, "k {k} t {t} {simd:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn metadata_sizes_follow_chiapos() {
        assert_eq!(meta_bits(20, 1), 20);
        assert_eq!(meta_bits(20, 3), 80);
        assert_eq!(meta_bits(20, 6), 40);
        assert_eq!(meta_bits(20, 7), 0);
        let (y, m) = fx(20, 2, 5, 1, 2);
        assert!(y < 1 << 26);
        assert_eq!(m, (1 << 20) | 2);
    }
}
