//! Arithmetic modulo the prime p = 2^256 − 189, on four little-endian 64-bit limbs.
//!
//! Values between operations are kept *lazily reduced*: any 256-bit integer congruent to the
//! intended residue, so a value in [p, 2^256) is allowed. Only [`canonical`] brings a value into
//! [0, p). Products are 512 bits wide; because 2^256 ≡ 189 (mod p), the high half is folded onto
//! the low half by one multiplication by 189 per limb, and the few bits that spill over are folded
//! once more. Everything is safe Rust on `u128` products; the compiler turns the `u128` additions
//! into add-with-carry chains.

/// A field element as four little-endian limbs, lazily reduced (see the module docs).
pub(crate) type Fe = [u64; 4];

/// The low limb of p; the other three limbs of p are all ones.
#[cfg(test)]
const P0: u64 = 0u64.wrapping_sub(189);

/// p itself, as limbs.
#[cfg(test)]
pub(crate) const P: Fe = [P0, u64::MAX, u64::MAX, u64::MAX];

/// `a + b + carry` as (sum, carry out).
#[inline(always)]
fn adc(a: u64, b: u64, carry: u64) -> (u64, u64) {
    let t = (a as u128) + (b as u128) + (carry as u128);
    (t as u64, (t >> 64) as u64)
}

/// `x · y` as a full 128-bit product.
#[inline(always)]
fn m(x: u64, y: u64) -> u128 {
    (x as u128) * (y as u128)
}

/// Low 64 bits of a product, widened.
#[inline(always)]
fn lo(x: u128) -> u128 {
    x as u64 as u128
}

/// High 64 bits of a product, widened.
#[inline(always)]
fn hi(x: u128) -> u128 {
    x >> 64
}

/// Reduces a 512-bit value given as eight *column sums* `c[k]` (value = Σ c[k]·2^(64k), each
/// column < 2^70) to a lazily reduced 256-bit value.
///
/// Why columns: summing each column of the schoolbook product into a `u128` keeps the additions
/// independent of each other, so the only carry chain left is one pass over four columns after
/// the fold. That is the latency that bounds a chain of squarings; the straightforward
/// row-by-row form with the reduction as a second `mac` carry chain measured about 1.4× slower
/// per squaring on the project machine.
#[inline(always)]
fn fold(c: [u128; 8]) -> Fe {
    // 2^256 ≡ 189: fold columns 4..8 onto 0..4 before propagating any carry.
    let d0 = c[0] + c[4] * 189;
    let d1 = c[1] + c[5] * 189;
    let d2 = c[2] + c[6] * 189;
    let d3 = c[3] + c[7] * 189;
    let t1 = d1 + hi(d0);
    let t2 = d2 + hi(t1);
    let t3 = d3 + hi(t2);
    // What spilled over 2^256 is below 2^16; fold it once more (189·top < 2^24).
    let top = (t3 >> 64) as u64;
    let (r0, wrapped) = (d0 as u64).overflowing_add(top * 189);
    let mut r = [r0, t1 as u64, t2 as u64, t3 as u64];
    // Taken with probability about 2^-40, so it is a branch (predicted not taken, off the
    // critical path) rather than a carry chain every time. If the ripple leaves the top limb,
    // the limbs are now tiny and adding the last 189 cannot carry.
    if wrapped {
        let (r1, k) = r[1].overflowing_add(1);
        let (r2, k) = r[2].overflowing_add(k as u64);
        let (r3, k) = r[3].overflowing_add(k as u64);
        r = [r[0].wrapping_add(k as u64 * 189), r1, r2, r3];
    }
    r
}

/// `a · b` mod p, lazily reduced.
#[inline(always)]
pub(crate) fn mul(a: &Fe, b: &Fe) -> Fe {
    let p = |i: usize, j: usize| m(a[i], b[j]);
    let (p00, p01, p02, p03) = (p(0, 0), p(0, 1), p(0, 2), p(0, 3));
    let (p10, p11, p12, p13) = (p(1, 0), p(1, 1), p(1, 2), p(1, 3));
    let (p20, p21, p22, p23) = (p(2, 0), p(2, 1), p(2, 2), p(2, 3));
    let (p30, p31, p32, p33) = (p(3, 0), p(3, 1), p(3, 2), p(3, 3));
    fold([
        lo(p00),
        hi(p00) + lo(p01) + lo(p10),
        hi(p01) + hi(p10) + lo(p02) + lo(p11) + lo(p20),
        hi(p02) + hi(p11) + hi(p20) + lo(p03) + lo(p12) + lo(p21) + lo(p30),
        hi(p03) + hi(p12) + hi(p21) + hi(p30) + lo(p13) + lo(p22) + lo(p31),
        hi(p13) + hi(p22) + hi(p31) + lo(p23) + lo(p32),
        hi(p23) + hi(p32) + lo(p33),
        hi(p33),
    ])
}

/// `a * b + c + d` as (low, high). Cannot overflow: (2^64−1)^2 + 2·(2^64−1) = 2^128 − 1.
#[inline(always)]
fn mac(a: u64, b: u64, c: u64, d: u64) -> (u64, u64) {
    let t = (a as u128) * (b as u128) + (c as u128) + (d as u128);
    (t as u64, (t >> 64) as u64)
}

/// `a²` mod p, lazily reduced: 6 cross products (doubled) and 4 squares instead of 16 products.
///
/// The cross products are summed row by row into exact limbs (short carry chains, few
/// registers), doubled with shifts, and the squares join them as column sums for [`fold`].
/// Measured against summing the cross products as columns too, this was a few percent faster
/// (fewer live 128-bit values, so fewer spills).
#[inline(always)]
pub(crate) fn square(a: &Fe) -> Fe {
    let [a0, a1, a2, a3] = *a;
    let (r1, c) = mac(a0, a1, 0, 0);
    let (r2, c) = mac(a0, a2, c, 0);
    let (r3, r4) = mac(a0, a3, c, 0);
    let (r3, c) = mac(a1, a2, r3, 0);
    let (r4, r5) = mac(a1, a3, r4, c);
    let (r5, r6) = mac(a2, a3, r5, 0);
    // Double: the cross sum is below 2^383, so nothing leaves r7.
    let r7 = r6 >> 63;
    let r6 = (r6 << 1) | (r5 >> 63);
    let r5 = (r5 << 1) | (r4 >> 63);
    let r4 = (r4 << 1) | (r3 >> 63);
    let r3 = (r3 << 1) | (r2 >> 63);
    let r2 = (r2 << 1) | (r1 >> 63);
    let r1 = r1 << 1;
    let (p00, p11, p22, p33) = (m(a0, a0), m(a1, a1), m(a2, a2), m(a3, a3));
    fold([
        lo(p00),
        hi(p00) + r1 as u128,
        lo(p11) + r2 as u128,
        hi(p11) + r3 as u128,
        lo(p22) + r4 as u128,
        hi(p22) + r5 as u128,
        lo(p33) + r6 as u128,
        hi(p33) + r7 as u128,
    ])
}

/// `a^(2^n)` by `n` successive squarings.
///
/// One out-of-line loop shared by every step of the chain, rather than thirteen inlined copies:
/// the same source measured up to 1.3× apart between builds when the copies were inlined
/// (code placement), and one small hot loop keeps that placement stable.
#[inline(never)]
fn square_n(a: &Fe, n: u32) -> Fe {
    let mut x = *a;
    for _ in 0..n {
        x = square(&x);
    }
    x
}

/// `a^((p+1)/4)`, lazily reduced: a square root of `a` or of `−a` (p ≡ 3 mod 4).
///
/// (p+1)/4 = 2^254 − 47, in binary 248 ones followed by `010001`. The chain builds
/// `x_k = a^(2^k − 1)` for k = 1, 2, 3, 6, 12, 24, 48, 96, 192, 240, 246, 248, then appends the
/// last six bits: 253 squarings (the minimum for a 254-bit exponent) and 13 multiplications.
///
/// Kept out of line so the piece loops stay small: one call per block is noise next to 266
/// field operations, and inlining it measured no faster.
#[inline(never)]
pub(crate) fn pow_p_plus_1_over_4(a: &Fe) -> Fe {
    let x1 = *a;
    let x2 = mul(&square(&x1), &x1);
    let x3 = mul(&square(&x2), &x1);
    let x6 = mul(&square_n(&x3, 3), &x3);
    let x12 = mul(&square_n(&x6, 6), &x6);
    let x24 = mul(&square_n(&x12, 12), &x12);
    let x48 = mul(&square_n(&x24, 24), &x24);
    let x96 = mul(&square_n(&x48, 48), &x48);
    let x192 = mul(&square_n(&x96, 96), &x96);
    let x240 = mul(&square_n(&x192, 48), &x48);
    let x246 = mul(&square_n(&x240, 6), &x6);
    let x248 = mul(&square_n(&x246, 2), &x2);
    let t = mul(&square_n(&x248, 2), &x1); // ...01
    mul(&square_n(&t, 4), &x1) // ...0001
}

/// True when the 256-bit integer `a` is ≥ p (so it is not a canonical residue).
#[inline(always)]
pub(crate) fn is_ge_p(a: &Fe) -> bool {
    // a ≥ p  ⇔  a + 189 ≥ 2^256.
    let (_, k) = adc(a[0], 189, 0);
    let (_, k) = adc(a[1], 0, k);
    let (_, k) = adc(a[2], 0, k);
    let (_, k) = adc(a[3], 0, k);
    k != 0
}

/// The canonical representative of `a` in [0, p).
#[inline(always)]
pub(crate) fn canonical(a: &Fe) -> Fe {
    // A lazily reduced value is < 2^256 < 2p, so one conditional subtraction of p suffices;
    // subtracting p is adding 189 modulo 2^256.
    let (s0, k) = adc(a[0], 189, 0);
    let (s1, k) = adc(a[1], 0, k);
    let (s2, k) = adc(a[2], 0, k);
    let (s3, k) = adc(a[3], 0, k);
    if k != 0 { [s0, s1, s2, s3] } else { *a }
}

/// `−a` mod p when `negate` is true, else `a`, for a canonical `a`; canonical.
///
/// Branch-free: the choice depends on the parity of a field element, which is a coin flip per
/// block, and a mispredicted branch per block would cost decoding more than the negation does.
#[inline(always)]
pub(crate) fn cneg(a: &Fe, negate: bool) -> Fe {
    let nonzero = (a[0] | a[1] | a[2] | a[3]) != 0;
    let mask = 0u64.wrapping_sub((negate & nonzero) as u64);
    // p − a = (2^256 − 1 − a) − 188 = !a − 188; for 0 < a < p, !a ≥ 189, so no borrow out.
    let (d0, b) = (!a[0]).overflowing_sub(188);
    let (d1, b) = (!a[1]).overflowing_sub(b as u64);
    let (d2, b) = (!a[2]).overflowing_sub(b as u64);
    let d3 = (!a[3]).wrapping_sub(b as u64);
    [
        (d0 & mask) | (a[0] & !mask),
        (d1 & mask) | (a[1] & !mask),
        (d2 & mask) | (a[2] & !mask),
        (d3 & mask) | (a[3] & !mask),
    ]
}

/// `−a` mod p for a canonical `a`, canonical.
#[cfg(test)]
pub(crate) fn neg(a: &Fe) -> Fe {
    cneg(a, true)
}

/// Reads 32 little-endian bytes as limbs.
#[inline(always)]
pub(crate) fn from_le_bytes(b: &[u8; 32]) -> Fe {
    let mut out = [0u64; 4];
    for (limb, chunk) in out.iter_mut().zip(b.as_chunks::<8>().0) {
        *limb = u64::from_le_bytes(*chunk);
    }
    out
}

/// Writes limbs as 32 little-endian bytes.
#[inline(always)]
pub(crate) fn to_le_bytes(a: &Fe, b: &mut [u8; 32]) {
    for (limb, chunk) in a.iter().zip(b.as_chunks_mut::<8>().0) {
        *chunk = limb.to_le_bytes();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Reference multiplication mod p by shift-and-add on canonical values: slow, obviously right.
    fn slow_mul(a: &Fe, b: &Fe) -> Fe {
        let a = canonical(a);
        let b = canonical(b);
        let mut acc = [0u64; 4];
        for i in (0..256).rev() {
            acc = slow_add(&acc, &acc);
            if (b[i / 64] >> (i % 64)) & 1 == 1 {
                acc = slow_add(&acc, &a);
            }
        }
        acc
    }

    /// (a + b) mod p for canonical inputs.
    fn slow_add(a: &Fe, b: &Fe) -> Fe {
        let mut s = [0u64; 4];
        let mut k = 0;
        for i in 0..4 {
            (s[i], k) = adc(a[i], b[i], k);
        }
        // If it wrapped, the true sum is s + 2^256 ≡ s + 189, and s < 2p − 2^256 keeps
        // s + 189 below p, so adding 189 neither wraps nor needs reducing.
        if k != 0 {
            let mut c = 189;
            for limb in &mut s {
                (*limb, c) = adc(*limb, 0, c);
            }
            return s;
        }
        canonical(&s)
    }

    fn fe() -> impl Strategy<Value = Fe> {
        prop_oneof![
            any::<[u64; 4]>(),
            // Values around p and 2^256 where reduction bugs live.
            (0u64..400).prop_map(|d| [
                P0.wrapping_add(d).wrapping_sub(200),
                u64::MAX,
                u64::MAX,
                u64::MAX
            ]),
            (0u64..400).prop_map(|d| [d, 0, 0, 0]),
        ]
    }

    #[test]
    fn two_to_the_256_is_189() {
        let two128 = [0, 0, 1, 0];
        assert_eq!(canonical(&mul(&two128, &two128)), [189, 0, 0, 0]);
        assert_eq!(canonical(&square(&two128)), [189, 0, 0, 0]);
    }

    #[test]
    fn p_minus_one_squared_is_one() {
        let m1 = [P0 - 1, u64::MAX, u64::MAX, u64::MAX];
        assert_eq!(canonical(&square(&m1)), [1, 0, 0, 0]);
        assert_eq!(neg(&[1, 0, 0, 0]), m1);
    }

    #[test]
    fn fold_handles_the_rare_wrap_of_the_last_carry() {
        const M: u128 = u64::MAX as u128;
        // (2^256 − 1) + 2^448 ≡ 188 + 189·2^192: the last fold wraps the low limb and the
        // ripple stops in limb 1.
        assert_eq!(fold([M, M, M, M, 0, 0, 0, 1]), [188, 0, 0, 189]);
        // (2^256 − 1) + 2^256 ≡ 188 + 189: the ripple runs out of the top limb.
        assert_eq!(fold([M, M, M, (M << 1) | 1, 0, 0, 0, 0]), [377, 0, 0, 0]);
    }

    #[test]
    fn ge_p_boundary() {
        assert!(!is_ge_p(&[P0 - 1, u64::MAX, u64::MAX, u64::MAX]));
        assert!(is_ge_p(&P));
        assert!(is_ge_p(&[u64::MAX; 4]));
        assert_eq!(canonical(&P), [0; 4]);
        assert_eq!(canonical(&[u64::MAX; 4]), [188, 0, 0, 0]);
    }

    proptest! {
        #[test]
        fn mul_matches_slow_reference(a in fe(), b in fe()) {
            prop_assert_eq!(canonical(&mul(&a, &b)), slow_mul(&a, &b));
        }

        #[test]
        fn square_is_mul_by_self(a in fe()) {
            prop_assert_eq!(canonical(&square(&a)), canonical(&mul(&a, &a)));
        }

        #[test]
        fn lazy_values_stay_below_2_256_and_congruent(a in fe(), b in fe()) {
            // mul of the canonical forms and of the lazy forms agree after canonicalisation.
            prop_assert_eq!(canonical(&mul(&canonical(&a), &canonical(&b))), canonical(&mul(&a, &b)));
        }

        #[test]
        fn pow_gives_a_root_of_plus_or_minus(a in fe()) {
            let a = canonical(&a);
            let x = pow_p_plus_1_over_4(&a);
            let sq = canonical(&square(&x));
            prop_assert!(sq == a || sq == neg(&a));
        }

        #[test]
        fn neg_is_additive_inverse(a in fe()) {
            let a = canonical(&a);
            prop_assert_eq!(slow_add(&a, &neg(&a)), [0; 4]);
        }

        #[test]
        fn bytes_round_trip(b in any::<[u8; 32]>()) {
            let mut out = [0u8; 32];
            to_le_bytes(&from_le_bytes(&b), &mut out);
            prop_assert_eq!(out, b);
        }
    }
}
