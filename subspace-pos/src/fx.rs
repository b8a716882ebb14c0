//! f2..f7 (BLAKE3 over y and the collated metadata) and the matching function.

use crate::bits::{BitWriter, hash_bits};
use crate::constants::{EXTRA_BITS, EXTRA_BITS_POW, K_B, K_BC, K_C, VECTOR_LENS};

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

/// Matches evaluated per [`fx_lanes`] call.
pub(crate) const LANES: usize = 8;

/// [`fx`] for up to [`LANES`] matches of one table: `inputs[i]` is
/// `(y_left, meta_left, meta_right)`; lanes past `n` are ignored. Same results as [`fx`],
/// without [`BitWriter`]: the input is composed with 128-bit shifts. The batch shape is
/// where a multi-lane BLAKE3 would go; today each lane is one `blake3::hash` call, because a
/// portable 8-lane compression written here was not vectorised on baseline x86-64 (no
/// vector rotate in SSE2) and ran slower than the crate's single-block AVX-512 path.
pub(crate) fn fx_lanes(
    k: u8,
    t: usize,
    inputs: &[(u64, u128, u128); LANES],
    n: usize,
) -> [(u64, u128); LANES] {
    let in_bits = meta_bits(k, t - 1);
    let y_bits = u32::from(k) + EXTRA_BITS;
    let total = y_bits + 2 * in_bits;
    debug_assert!(total <= 256);
    let len = total.div_ceil(8) as usize;
    let out_bits = meta_bits(k, t);
    let mut out = [(0u64, 0u128); LANES];
    for (o, &(y, ml, mr)) in out.iter_mut().zip(inputs.iter()).take(n) {
        // y ‖ meta_l ‖ meta_r as one big-endian bit string, left-aligned in 256 bits.
        let (h1, l1) = shl256(0, u128::from(y), 2 * in_bits);
        let (h2, l2) = shl256(0, ml, in_bits);
        let (hi, lo) = shl256(h1 | h2, l1 | l2 | mr, 256 - total);
        let mut bytes = [0u8; 32];
        bytes[..16].copy_from_slice(&hi.to_be_bytes());
        bytes[16..].copy_from_slice(&lo.to_be_bytes());
        let hash = blake3::hash(&bytes[..len]);
        let h = hash.as_bytes();
        let mut head = [0u8; 16];
        head.copy_from_slice(&h[..16]);
        let head = u128::from_be_bytes(head);
        let y = (head >> (128 - y_bits)) as u64;
        let meta = match t {
            2 | 3 => (ml << in_bits) | mr,
            4..=6 => {
                // y_bits + out_bits <= 31 + 100 bits: the first 160 bits suffice (y_bits < 32).
                let next = u128::from(u32::from_be_bytes([h[16], h[17], h[18], h[19]]));
                let bits = (head << y_bits) | (next >> (32 - y_bits));
                bits >> (128 - out_bits)
            }
            _ => 0,
        };
        *o = (y, meta);
    }
    out
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
    fn lanes_agree_with_single_fx() {
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
                let mut inputs = [(0u64, 0u128, 0u128); LANES];
                for i in inputs.iter_mut() {
                    let wide = |a: u64, b: u64| (u128::from(a) << 64) | u128::from(b);
                    *i = (
                        next() >> (64 - u32::from(k) - EXTRA_BITS),
                        wide(next(), next()) & mask,
                        wide(next(), next()) & mask,
                    );
                }
                for n in [LANES, 3] {
                    let got = fx_lanes(k, t, &inputs, n);
                    for (g, i) in got.iter().zip(inputs.iter()).take(n) {
                        assert_eq!(*g, fx(k, t, i.0, i.1, i.2), "k {k} t {t}");
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
