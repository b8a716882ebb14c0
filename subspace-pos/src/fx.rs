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
