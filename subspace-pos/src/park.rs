//! Parks: runs of sorted values stored as the first value (kept in the park directory) and
//! Rice-coded deltas, plus optional fixed-width fields. This is what makes a plot about
//! k + 1.5 bits per entry and table instead of two k-bit positions.
//!
//! A Rice code with parameter `r` writes `d >> r` in unary (that many 0 bits, then a 1) and
//! then the low `r` bits of `d`. For geometrically distributed deltas with mean μ the best `r`
//! is about `log2(μ)`, and costs within a few hundredths of a bit of the entropy; the writer
//! picks the best `r` per table by counting, and stores it in the table's descriptor.

use crate::error::PosError;

/// Entries per park. Smaller parks read, checksum and decode faster (a lookup decodes half a
/// park on average), larger ones amortise the 24-byte directory entry: at 128 that is 1.5 bits
/// per entry (about 3.5 % of a k = 20 plot), and a lookup hashes ~350 bytes and decodes ~64
/// deltas. 256 measured 2.6× the v1 format's `qualities` time, 128 about 1.4–2×.
pub(crate) const PARK: usize = 128;

/// Appends big-endian bit fields to a byte vector.
pub(crate) struct BitSink {
    out: Vec<u8>,
    acc: u64,
    bits: u32,
}

impl BitSink {
    pub(crate) fn with_capacity(bytes: usize) -> BitSink {
        BitSink {
            out: Vec::with_capacity(bytes),
            acc: 0,
            bits: 0,
        }
    }

    /// Appends the low `n <= 57` bits of `v`.
    #[inline]
    pub(crate) fn push(&mut self, v: u64, n: u32) {
        debug_assert!(n <= 57 && (n == 64 || v >> n == 0));
        if n == 0 {
            return;
        }
        self.acc = (self.acc << n) | v;
        self.bits += n;
        while self.bits >= 8 {
            self.out.push((self.acc >> (self.bits - 8)) as u8);
            self.bits -= 8;
        }
    }

    /// Appends `q` zero bits and a one bit.
    #[inline]
    fn unary(&mut self, mut q: u64) {
        while q >= 32 {
            self.push(0, 32);
            q -= 32;
        }
        self.push(1, q as u32 + 1);
    }

    /// Appends the Rice code of `d` with parameter `r`.
    #[inline]
    pub(crate) fn rice(&mut self, d: u64, r: u32) {
        self.unary(d >> r);
        self.push(d & ((1u64 << r) - 1), r);
    }

    /// Pads to a whole byte and returns the bytes.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        if self.bits > 0 {
            self.out.push((self.acc << (8 - self.bits)) as u8);
        }
        self.out
    }
}

/// Reads big-endian bit fields from a byte slice; reading past the end is an error.
pub(crate) struct BitSource<'a> {
    buf: &'a [u8],
    /// Next bit to read.
    pos: u64,
    end: u64,
}

impl<'a> BitSource<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> BitSource<'a> {
        BitSource {
            buf,
            pos: 0,
            end: buf.len() as u64 * 8,
        }
    }

    /// 64 bits starting at the current position (zeros past the end).
    #[inline]
    fn window(&self) -> u64 {
        let byte = (self.pos / 8) as usize;
        let rest = self.buf.get(byte..).unwrap_or(&[]);
        let w = match rest.first_chunk::<8>() {
            Some(w) => *w,
            None => {
                let mut w = [0u8; 8];
                for (d, s) in w.iter_mut().zip(rest) {
                    *d = *s;
                }
                w
            }
        };
        u64::from_be_bytes(w) << (self.pos % 8)
    }

    /// Reads `n <= 56` bits.
    #[inline]
    pub(crate) fn read(&mut self, n: u32) -> Result<u64, PosError> {
        if n == 0 {
            return Ok(0);
        }
        if self.pos + u64::from(n) > self.end {
            return Err(PosError::Corrupt("park ends early"));
        }
        let v = self.window() >> (64 - n);
        self.pos += u64::from(n);
        Ok(v)
    }

    /// Moves the read position to bit `pos`.
    pub(crate) fn seek(&mut self, pos: u64) {
        self.pos = pos;
    }

    /// Reads one Rice code with parameter `r <= 56`.
    #[inline]
    pub(crate) fn rice(&mut self, r: u32) -> Result<u64, PosError> {
        // Fast path: the unary part, its stop bit and the r low bits all lie in one window
        // of 57 bits that are really in the buffer.
        let w = self.window();
        let z = w.leading_zeros();
        if z + 1 + r <= 57 && self.pos + u64::from(z + 1 + r) <= self.end {
            let low = if r == 0 {
                0
            } else {
                (w << (z + 1)) >> (64 - r)
            };
            self.pos += u64::from(z + 1 + r);
            return Ok((u64::from(z) << r) | low);
        }
        self.rice_slow(r)
    }

    fn rice_slow(&mut self, r: u32) -> Result<u64, PosError> {
        let mut q = 0u64;
        loop {
            if self.pos >= self.end {
                return Err(PosError::Corrupt("park ends early"));
            }
            // The window holds at least 57 real bits when not near the end; zeros past the
            // end are caught by the position check above on the next round.
            let z = u64::from(self.window().leading_zeros()).min(57);
            if z < 57 {
                self.pos += z + 1;
                q += z;
                break;
            }
            self.pos += 57;
            q += 57;
        }
        if self.pos > self.end {
            return Err(PosError::Corrupt("park ends early"));
        }
        let low = self.read(r)?;
        let high = q
            .checked_shl(r)
            .filter(|h| h >> r == q)
            .ok_or(PosError::Corrupt("delta out of range"))?;
        Ok(high | low)
    }
}

/// Bits that `deltas` take Rice-coded with parameter `r`.
fn rice_cost(deltas: impl Iterator<Item = u64> + Clone, r: u32) -> u64 {
    deltas.map(|d| (d >> r) + 1 + u64::from(r)).sum()
}

/// The Rice parameter (at most `max`) that codes `deltas` in the fewest bits.
pub(crate) fn best_rice(deltas: impl Iterator<Item = u64> + Clone, max: u32) -> u32 {
    let (mut n, mut sum) = (0u64, 0u128);
    for d in deltas.clone() {
        n += 1;
        sum += u128::from(d);
    }
    let mean = (sum / u128::from(n.max(1))).max(1) as u64;
    let guess = 63 - mean.leading_zeros();
    let lo = guess.saturating_sub(3);
    let hi = (guess + 2).min(max);
    (lo.min(hi)..=hi)
        .min_by_key(|&r| rice_cost(deltas.clone(), r))
        .unwrap_or(0)
}

/// Line point of an unordered pair of distinct values: `hi·(hi−1)/2 + lo` (chiapos's
/// `SquareToLinePoint`), a bijection from pairs `lo < hi` onto the integers that preserves
/// the order by (hi, lo).
pub(crate) fn line_point(pair: [u32; 2]) -> u64 {
    let (lo, hi) = (
        u64::from(pair[0].min(pair[1])),
        u64::from(pair[0].max(pair[1])),
    );
    hi * hi.saturating_sub(1) / 2 + lo
}

/// The pair `[lo, hi]` of a line point; `None` when `hi` would not fit in 32 bits.
pub(crate) fn line_point_pair(point: u64) -> Option<[u32; 2]> {
    // hi is the largest h with h·(h−1)/2 <= point; isqrt gives it to within one.
    let mut hi = (8 * u128::from(point) + 1).isqrt().div_ceil(2);
    while hi > 0 && hi * (hi - 1) / 2 > u128::from(point) {
        hi -= 1;
    }
    while (hi + 1) * hi / 2 <= u128::from(point) {
        hi += 1;
    }
    let lo = u128::from(point) - hi * hi.saturating_sub(1) / 2;
    Some([u32::try_from(lo).ok()?, u32::try_from(hi).ok()?])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn line_points_round_trip(a in 0u32..1 << 26, b in 0u32..1 << 26) {
            prop_assume!(a != b);
            let p = line_point([a, b]);
            prop_assert_eq!(line_point_pair(p), Some([a.min(b), a.max(b)]));
        }

        #[test]
        fn rice_round_trips(
            parts in proptest::collection::vec((0u64..200, any::<u64>()), 1..200),
            r in 0u32..50,
        ) {
            // Quotients up to 200 cross the 57-bit fast path; low parts fill all r bits.
            let ds: Vec<u64> = parts.iter().map(|&(q, low)| (q << r) | (low & ((1 << r) - 1))).collect();
            let mut s = BitSink::with_capacity(0);
            for &d in &ds {
                s.rice(d, r);
            }
            s.push(5, 3);
            let bytes = s.finish();
            let mut src = BitSource::new(&bytes);
            for &d in &ds {
                prop_assert_eq!(src.rice(r).unwrap(), d);
            }
            prop_assert_eq!(src.read(3).unwrap(), 5);
        }
    }

    #[test]
    fn line_point_order_is_hi_then_lo() {
        assert!(line_point([0, 5]) < line_point([4, 5]));
        assert!(line_point([4, 5]) < line_point([0, 6]));
        assert_eq!(line_point([0, 1]), 0);
        assert_eq!(line_point_pair(0), Some([0, 1]));
    }

    #[test]
    fn truncated_or_garbage_parks_are_errors() {
        let mut s = BitSink::with_capacity(0);
        s.rice(1000, 3);
        let bytes = s.finish();
        let mut src = BitSource::new(&bytes[..bytes.len() - 1]);
        assert!(src.rice(3).is_err());
        // All zeros: the unary part never ends.
        let zeros = [0u8; 64];
        assert!(BitSource::new(&zeros).rice(0).is_err());
        assert!(BitSource::new(&[]).read(1).is_err());
    }

    #[test]
    fn best_rice_tracks_the_mean() {
        let ds: Vec<u64> = (0..1000u64).map(|i| (i * 7919) % 2000).collect();
        let r = best_rice(ds.iter().copied(), 40);
        assert!((8..=10).contains(&r), "{r}");
        assert_eq!(best_rice([0u64, 0, 1].into_iter(), 40), 0);
    }
}
