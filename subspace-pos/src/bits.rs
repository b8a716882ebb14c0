//! Big-endian bit strings, as chiapos's `Bits` lays them out: the first bit is the most
//! significant bit of the first byte.

/// Reads `n <= 57` bits starting at bit `start` of `buf`; bytes past the end read as zero.
pub(crate) fn read_bits(buf: &[u8], start: u64, n: u32) -> u64 {
    debug_assert!(n <= 57);
    let byte = (start / 8) as usize;
    let mut window = [0u8; 8];
    let avail = buf.len().saturating_sub(byte).min(8);
    if avail > 0 {
        window[..avail].copy_from_slice(&buf[byte..byte + avail]);
    }
    let v = u64::from_be_bytes(window) << (start % 8);
    if n == 0 { 0 } else { v >> (64 - n) }
}

/// Extracts `n <= 128` bits starting at bit `start` (with `start + n <= 256`) of a 32-byte hash.
pub(crate) fn hash_bits(hash: &[u8; 32], start: u32, n: u32) -> u128 {
    debug_assert!(n <= 128 && start + n <= 256);
    let mut hi = [0u8; 16];
    let mut lo = [0u8; 16];
    hi.copy_from_slice(&hash[..16]);
    lo.copy_from_slice(&hash[16..]);
    let (hi, lo) = (u128::from_be_bytes(hi), u128::from_be_bytes(lo));
    let top = if start == 0 {
        hi
    } else if start < 128 {
        (hi << start) | (lo >> (128 - start))
    } else {
        lo << (start - 128)
    };
    if n == 0 { 0 } else { top >> (128 - n) }
}

/// Appends bit fields to a zeroed 64-byte buffer (the largest f input is 38 + 256 bits).
pub(crate) struct BitWriter {
    buf: [u8; 72],
    len: u32,
}

impl BitWriter {
    pub(crate) fn new() -> Self {
        BitWriter {
            buf: [0; 72],
            len: 0,
        }
    }

    /// Empties the writer for reuse.
    pub(crate) fn reset(&mut self) {
        self.buf = [0; 72];
        self.len = 0;
    }

    /// Appends the low `n <= 128` bits of `v`, most significant first.
    pub(crate) fn put(&mut self, v: u128, n: u32) {
        let mut left = n;
        while left > 0 {
            let take = left.min(56);
            let part = ((v >> (left - take)) as u64) & ((1u64 << take) - 1);
            self.put_small(part, take);
            left -= take;
        }
    }

    fn put_small(&mut self, v: u64, n: u32) {
        let byte = (self.len / 8) as usize;
        let off = self.len % 8;
        let window = (v << (64 - n)) >> off;
        for (dst, src) in self.buf[byte..byte + 8]
            .iter_mut()
            .zip(window.to_be_bytes())
        {
            *dst |= src;
        }
        self.len += n;
    }

    /// The written bits, padded with zero bits to whole bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf[..self.len.div_ceil(8) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_and_reader_agree() {
        let mut w = BitWriter::new();
        w.put(0b101, 3);
        w.put(0x1_2345_6789_abcd_ef01_2345_6789, 100);
        w.put(1, 1);
        let b = w.bytes();
        assert_eq!(b.len(), 13);
        assert_eq!(read_bits(b, 0, 3), 0b101);
        assert_eq!(
            read_bits(b, 3, 40),
            (0x1_2345_6789_abcd_ef01_2345_6789u128 >> 60) as u64
        );
        assert_eq!(read_bits(b, 103, 1), 1);
        assert_eq!(b[0] >> 5, 0b101);
    }

    #[test]
    fn hash_bits_crosses_the_middle() {
        let mut h = [0u8; 32];
        h[15] = 0x01;
        h[16] = 0x80;
        assert_eq!(hash_bits(&h, 127, 2), 0b11);
        assert_eq!(hash_bits(&h, 120, 16), 0x0180);
        assert_eq!(hash_bits(&h, 0, 128), 1);
    }
}
