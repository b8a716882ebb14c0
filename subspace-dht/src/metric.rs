//! The XOR metric and the k-bucket index it induces.
//!
//! The distance itself is [`Hash256::distance`]; this module adds what routing needs on top:
//! which bucket an id falls in, and the order in which buckets hold ever-farther ids.

use subspace_crypto::Hash256;

/// The k-bucket an id at distance `d` from the local id falls in: the number of leading bits
/// it shares with the local id (0 = the far half of the id space, 255 = the one id that
/// differs only in its last bit). `None` for distance zero (the local id itself).
pub fn bucket_index(d: &Hash256) -> Option<usize> {
    let lz = d.leading_zeros() as usize;
    (lz < 256).then_some(lz)
}

/// A distance as four big-endian words: orders exactly like its bytes, but compares without a
/// `memcmp` call (lookups and the routing table compare distances in their inner loops).
pub(crate) type Dist = [u64; 4];

/// The XOR distance of `a` and `b` as a [`Dist`].
pub(crate) fn dist(a: &Hash256, b: &Hash256) -> Dist {
    let mut out = [0u64; 4];
    for (o, (x, y)) in out
        .iter_mut()
        .zip(a.0.chunks_exact(8).zip(b.0.chunks_exact(8)))
    {
        let mut wx = [0u8; 8];
        let mut wy = [0u8; 8];
        wx.copy_from_slice(x);
        wy.copy_from_slice(y);
        *o = u64::from_be_bytes(wx) ^ u64::from_be_bytes(wy);
    }
    out
}

/// XOR of two [`Dist`]s (the distance between the ids they measure from a common origin).
pub(crate) fn xor(a: &Dist, b: &Dist) -> Dist {
    [a[0] ^ b[0], a[1] ^ b[1], a[2] ^ b[2], a[3] ^ b[3]]
}

/// Bit `i` of `h`, counting from the most significant bit (bit 0).
pub(crate) fn bit(h: &Hash256, i: usize) -> bool {
    (h.0[i / 8] >> (7 - (i % 8))) & 1 == 1
}

/// A uniformly random id whose distance from `local` falls in bucket `index` (for refreshes).
pub(crate) fn random_in_bucket(local: &Hash256, index: usize, random: [u8; 32]) -> Hash256 {
    let mut d = random;
    // Clear bits 0..index, set bit `index`: the distance then has exactly `index` leading zeros.
    for i in 0..index.min(256) {
        d[i / 8] &= !(0x80 >> (i % 8));
    }
    if index < 256 {
        d[index / 8] |= 0x80 >> (index % 8);
    }
    local.distance(&Hash256(d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `a + b` as a 257-bit big-endian integer (33 bytes).
    fn add(a: &Hash256, b: &Hash256) -> [u8; 33] {
        let mut out = [0u8; 33];
        let mut carry = 0u16;
        for i in (0..32).rev() {
            let s = a.0[i] as u16 + b.0[i] as u16 + carry;
            out[i + 1] = s as u8;
            carry = s >> 8;
        }
        out[0] = carry as u8;
        out
    }

    fn widen(a: &Hash256) -> [u8; 33] {
        let mut out = [0u8; 33];
        out[1..].copy_from_slice(&a.0);
        out
    }

    fn h() -> impl Strategy<Value = Hash256> {
        any::<[u8; 32]>().prop_map(Hash256)
    }

    proptest! {
        #[test]
        fn identity(a in h()) {
            prop_assert_eq!(a.distance(&a), Hash256::ZERO);
            prop_assert_eq!(bucket_index(&a.distance(&a)), None);
        }

        #[test]
        fn zero_only_for_equal(a in h(), b in h()) {
            prop_assert_eq!(a.distance(&b) == Hash256::ZERO, a == b);
        }

        #[test]
        fn symmetry(a in h(), b in h()) {
            prop_assert_eq!(a.distance(&b), b.distance(&a));
        }

        #[test]
        fn triangle_inequality(a in h(), b in h(), c in h()) {
            let lhs = widen(&a.distance(&c));
            let rhs = add(&a.distance(&b), &b.distance(&c));
            prop_assert!(lhs <= rhs);
        }

        #[test]
        fn unidirectionality(a in h(), d in h(), other in h()) {
            // Exactly one id lies at distance d from a: a ^ d; any other id is elsewhere.
            let y = a.distance(&d);
            prop_assert_eq!(a.distance(&y), d);
            if other != y {
                prop_assert_ne!(a.distance(&other), d);
            }
        }

        #[test]
        fn bucket_index_counts_shared_prefix(a in h(), b in h()) {
            if let Some(i) = bucket_index(&a.distance(&b)) {
                for j in 0..i {
                    prop_assert_eq!(bit(&a, j), bit(&b, j));
                }
                prop_assert_ne!(bit(&a, i), bit(&b, i));
            } else {
                prop_assert_eq!(a, b);
            }
        }

        #[test]
        fn dist_orders_like_bytes(a in h(), b in h(), c in h()) {
            let (ab, ac) = (a.distance(&b), a.distance(&c));
            prop_assert_eq!(dist(&a, &b).cmp(&dist(&a, &c)), ab.cmp(&ac));
            prop_assert_eq!(xor(&dist(&a, &b), &dist(&a, &c)), dist(&b, &c));
        }

        #[test]
        fn random_in_bucket_lands_in_bucket(local in h(), index in 0usize..256, r in any::<[u8; 32]>()) {
            let id = random_in_bucket(&local, index, r);
            prop_assert_eq!(bucket_index(&local.distance(&id)), Some(index));
        }
    }
}
