//! f1: ChaCha8 keyed by the plot id, k bits of keystream per x, then the top 6 bits of x.

use chacha20::ChaCha8;
use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};

use crate::bits::read_bits;
use crate::constants::EXTRA_BITS;
use crate::id::PlotId;

/// ChaCha8 keystream block size in bits.
const BLOCK_BITS: u64 = 512;

/// Evaluates f1 for one plot.
#[derive(Clone)]
pub(crate) struct F1 {
    k: u8,
    key: [u8; 32],
}

impl F1 {
    /// chiapos keys ChaCha8 with `1 || plot_id[..31]` and a zero nonce.
    pub(crate) fn new(k: u8, plot_id: &PlotId) -> F1 {
        let mut key = [0u8; 32];
        key[0] = 1;
        key[1..].copy_from_slice(&plot_id.as_bytes()[..31]);
        F1 { k, key }
    }

    /// f1(x) as a (k + 6)-bit value.
    pub(crate) fn eval(&self, x: u64) -> u64 {
        let mut out = [0u64; 1];
        let mut buf = Vec::new();
        self.eval_range(x, &mut out, &mut buf);
        out[0]
    }

    /// f1 of `first_x ..` into `out`, reusing `buf` for keystream.
    pub(crate) fn eval_range(&self, first_x: u64, out: &mut [u64], buf: &mut Vec<u8>) {
        let k = u64::from(self.k);
        let n = out.len() as u64;
        let start_block = first_x * k / BLOCK_BITS;
        let end_block = ((first_x + n) * k).div_ceil(BLOCK_BITS);
        buf.clear();
        buf.resize(((end_block - start_block) * BLOCK_BITS / 8) as usize, 0);
        let mut cipher = ChaCha8::new(&self.key.into(), &[0u8; 12].into());
        cipher.seek(start_block * BLOCK_BITS / 8);
        cipher.apply_keystream(buf);
        let shift = u32::from(self.k) - EXTRA_BITS;
        let mut bit = first_x * k - start_block * BLOCK_BITS;
        for (i, slot) in out.iter_mut().enumerate() {
            let x = first_x + i as u64;
            *slot = (read_bits(buf, bit, u32::from(self.k)) << EXTRA_BITS) | (x >> shift);
            bit += k;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_matches_single_evaluations() {
        let f1 = F1::new(14, &PlotId::from_bytes([7; 32]));
        let mut out = vec![0u64; 1000];
        let mut buf = Vec::new();
        f1.eval_range(123, &mut out, &mut buf);
        for (i, y) in out.iter().enumerate() {
            assert_eq!(*y, f1.eval(123 + i as u64));
            assert!(*y < 1 << 20);
        }
    }
}
