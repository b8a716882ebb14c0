//! Random Peer Sampling over the live members of a pool.

use rand_core::RngCore;
use subspace_crypto::NodeId;

/// `n` distinct items of `items` chosen uniformly (a partial Fisher–Yates shuffle); all of
/// them if `n >= items.len()`. Order of the result is the draw order.
pub fn uniform(mut items: Vec<NodeId>, n: usize, rng: &mut impl RngCore) -> Vec<NodeId> {
    let n = n.min(items.len());
    for i in 0..n {
        let j = i + below(rng, (items.len() - i) as u64) as usize;
        items.swap(i, j);
    }
    items.truncate(n);
    items
}

/// `n` distinct items drawn one after another, each with probability proportional to its weight
/// among those not yet drawn (integer arithmetic; zero-weight items are never drawn).
pub fn weighted(mut items: Vec<(NodeId, u64)>, n: usize, rng: &mut impl RngCore) -> Vec<NodeId> {
    items.retain(|(_, w)| *w > 0);
    let mut out = Vec::with_capacity(n.min(items.len()));
    let mut total: u128 = items.iter().map(|(_, w)| u128::from(*w)).sum();
    while out.len() < n && !items.is_empty() {
        let mut r = below128(rng, total);
        let mut pick = items.len() - 1;
        for (i, (_, w)) in items.iter().enumerate() {
            if r < u128::from(*w) {
                pick = i;
                break;
            }
            r -= u128::from(*w);
        }
        let (id, w) = items.swap_remove(pick);
        total -= u128::from(w);
        out.push(id);
    }
    out
}

/// Uniform in `[0, n)` without modulo bias (Lemire's method); `n` must be non-zero.
pub(crate) fn below(rng: &mut impl RngCore, n: u64) -> u64 {
    if n <= 1 {
        return 0;
    }
    let zone = u64::MAX - (u64::MAX - n + 1) % n;
    loop {
        let v = rng.next_u64();
        if v <= zone {
            return v % n;
        }
    }
}

fn below128(rng: &mut impl RngCore, n: u128) -> u128 {
    if n <= 1 {
        return 0;
    }
    let zone = u128::MAX - (u128::MAX - n + 1) % n;
    loop {
        let v = (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64());
        if v <= zone {
            return v % n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn id(i: u8) -> NodeId {
        NodeId::from_bytes([i; 32])
    }

    #[test]
    fn uniform_is_uniform_and_distinct() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let items: Vec<NodeId> = (0..10).map(id).collect();
        let mut counts = [0u32; 10];
        for _ in 0..20_000 {
            let s = uniform(items.clone(), 3, &mut rng);
            assert_eq!(s.len(), 3);
            assert!(s[0] != s[1] && s[1] != s[2] && s[0] != s[2]);
            for x in s {
                counts[x.as_bytes()[0] as usize] += 1;
            }
        }
        // Expected 6000 each; 5 sigma is about 330.
        for c in counts {
            assert!((5_600..6_400).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn weighted_follows_pledged_space() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let items = vec![(id(0), 1u64 << 40), (id(1), 3u64 << 40), (id(2), 0)];
        let mut first = [0u32; 3];
        for _ in 0..20_000 {
            let s = weighted(items.clone(), 1, &mut rng);
            first[s[0].as_bytes()[0] as usize] += 1;
        }
        assert_eq!(first[2], 0);
        // 1:3 split, expected 5000 / 15000.
        assert!((4_700..5_300).contains(&first[0]), "{first:?}");
        assert_eq!(weighted(items, 5, &mut rng).len(), 2);
    }
}
