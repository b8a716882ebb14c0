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

    /// f1(x) as a (k + 6)-bit value, from one or two ChaCha8 blocks computed here (the
    /// cipher object's setup and seek cost more than the two blocks for single values).
    pub(crate) fn eval(&self, x: u64) -> u64 {
        let k = u64::from(self.k);
        let start = x * k;
        let block = start / BLOCK_BITS;
        let mut buf = [0u8; 136];
        buf[..64].copy_from_slice(&self.block(block as u32));
        let bit = start % BLOCK_BITS;
        if bit + k > BLOCK_BITS {
            buf[64..128].copy_from_slice(&self.block(block as u32 + 1));
        }
        (read_bits(&buf, bit, u32::from(self.k)) << EXTRA_BITS)
            | (x >> (u32::from(self.k) - EXTRA_BITS))
    }

    /// ChaCha8 keystream block `counter` (RFC 8439 state layout with 8 rounds and a zero
    /// nonce; counters stay below 2^32 for every supported k).
    fn block(&self, counter: u32) -> [u8; 64] {
        let mut input = [0u32; 16];
        input[..4].copy_from_slice(&[0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]);
        for (w, chunk) in input[4..12].iter_mut().zip(self.key.chunks_exact(4)) {
            *w = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        input[12] = counter;
        let mut x = input;
        #[inline(always)]
        fn qr(x: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
            x[a] = x[a].wrapping_add(x[b]);
            x[d] = (x[d] ^ x[a]).rotate_left(16);
            x[c] = x[c].wrapping_add(x[d]);
            x[b] = (x[b] ^ x[c]).rotate_left(12);
            x[a] = x[a].wrapping_add(x[b]);
            x[d] = (x[d] ^ x[a]).rotate_left(8);
            x[c] = x[c].wrapping_add(x[d]);
            x[b] = (x[b] ^ x[c]).rotate_left(7);
        }
        for _ in 0..4 {
            qr(&mut x, 0, 4, 8, 12);
            qr(&mut x, 1, 5, 9, 13);
            qr(&mut x, 2, 6, 10, 14);
            qr(&mut x, 3, 7, 11, 15);
            qr(&mut x, 0, 5, 10, 15);
            qr(&mut x, 1, 6, 11, 12);
            qr(&mut x, 2, 7, 8, 13);
            qr(&mut x, 3, 4, 9, 14);
        }
        let mut out = [0u8; 64];
        for (i, chunk) in out.chunks_exact_mut(4).enumerate() {
            chunk.copy_from_slice(&x[i].wrapping_add(input[i]).to_le_bytes());
        }
        out
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
            // `eval` uses the block function here, `eval_range` the chacha20 crate.
            assert_eq!(*y, f1.eval(123 + i as u64));
            assert!(*y < 1 << 20);
        }
    }
}
