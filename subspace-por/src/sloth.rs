//! The Sloth permutation of one 256-bit block: a modular square root, picked by parity so that
//! it is a bijection, and its inverse, a squaring.
//!
//! On canonical residues v ∈ [0, p): if v is a square, the output is its *even* root; otherwise
//! the output is the *odd* root of −v (exactly one of v, −v is a square since p ≡ 3 mod 4). The
//! inverse squares y and negates the result when y is odd. The 189 block values in [p, 2^256),
//! which raw data can hold, are fixed points of both directions: they never meet the field
//! arithmetic, so every 256-bit block round-trips and the map stays a bijection on all of them.

use crate::field::{self, Fe};

/// Encodes one block (slow: one exponentiation by (p+1)/4).
#[inline]
pub(crate) fn encode_block(v: &Fe) -> Fe {
    if field::is_ge_p(v) {
        return *v;
    }
    let x = field::canonical(&field::pow_p_plus_1_over_4(v));
    let is_square = field::canonical(&field::square(&x)) == *v;
    // Squares map to even roots, non-squares to odd roots of their negation.
    let want_odd = !is_square;
    field::cneg(&x, (x[0] & 1 == 1) != want_odd)
}

/// Decodes one block (fast: one squaring).
#[inline(always)]
pub(crate) fn decode_block(y: &Fe) -> Fe {
    if field::is_ge_p(y) {
        return *y;
    }
    let s = field::canonical(&field::square(y));
    field::cneg(&s, y[0] & 1 == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn zero_and_values_at_or_above_p_are_fixed_points() {
        assert_eq!(encode_block(&[0; 4]), [0; 4]);
        assert_eq!(decode_block(&[0; 4]), [0; 4]);
        for d in 0..189u64 {
            let v = [field::P[0] + d, u64::MAX, u64::MAX, u64::MAX];
            assert_eq!(encode_block(&v), v);
            assert_eq!(decode_block(&v), v);
        }
    }

    #[test]
    fn small_squares_map_to_their_even_root() {
        // 4 = 2², and 2 is the even root of 4.
        assert_eq!(encode_block(&[4, 0, 0, 0]), [2, 0, 0, 0]);
        assert_eq!(decode_block(&[2, 0, 0, 0]), [4, 0, 0, 0]);
        // −1 is not a square (p ≡ 3 mod 4), so p − 1 maps to the odd root of 1, which is 1.
        let m1 = field::neg(&[1, 0, 0, 0]);
        assert_eq!(encode_block(&m1), [1, 0, 0, 0]);
        assert_eq!(decode_block(&[1, 0, 0, 0]), m1);
    }

    proptest! {
        #[test]
        fn decode_inverts_encode(v in any::<[u64; 4]>()) {
            prop_assert_eq!(decode_block(&encode_block(&v)), v);
        }

        #[test]
        fn encode_inverts_decode(y in any::<[u64; 4]>()) {
            prop_assert_eq!(encode_block(&decode_block(&y)), y);
        }
    }
}
