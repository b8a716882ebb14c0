//! Challenges, deadlines and difficulty: who may extend the chain, and when.
//!
//! **Quality → deadline.** A proof's quality is 32 uniform-looking bytes; its first eight,
//! big-endian, are `q ∈ [0, 2^64)`. With difficulty `N` (the network's expected number of
//! competing proofs per challenge) the block may be stamped no earlier than
//! `parent.timestamp + deadline`, where
//! `deadline = ((q · N) >> 32) · T >> 32` seconds (two floors), i.e. `q / 2^64 · N · T`.
//! The best of `n` proofs has `E[q / 2^64] = 1 / (n + 1)`, so the mean interval is about
//! `T · N / (n + 1)`: better quality means an earlier block, and more plots on the network
//! mean earlier blocks until the difficulty rises to match them.
//!
//! **Retarget.** Every `W = retarget_window` blocks, `N' = N · T · (W − 1) / span` (floor),
//! where `span` is the time the last `W` intervals took (at least 1 s); `N'` is clamped to
//! `[N / f, N · f]` (`f = max_retarget_factor`, floor division) and at least 1. `W − 1`
//! rather than `W` makes the estimate unbiased: the sum of `W` exponential intervals has
//! `E[1/span] = 1 / ((W − 1) · mean)`.
//!
//! **Work.** A block's weight is its difficulty; fork choice takes the most accumulated work.
//!
//! **Challenge.** The challenge of height `h` is
//! `SHA-256("subspace/challenge/v1" ‖ h ‖ quality(h−1) ‖ … ‖ quality(h−w))` over the previous
//! `w = challenge_window` blocks (fewer near genesis, whose quality is its seed). Following
//! SpaceMint, only the proof chain feeds it: not transactions, timestamps, CoS or signatures,
//! which the block's farmer chooses freely and could otherwise grind to steer the next
//! challenge towards its own plots. A farmer's remaining freedom is which of its own proofs to
//! publish (or to withhold one); spreading the challenge over `w` blocks dilutes that one
//! choice among `w` farmers' proofs.

use subspace_crypto::hash;

/// Domain prefix of challenge derivation.
pub const CHALLENGE_TAG: &[u8] = b"subspace/challenge/v1";

/// The 64-bit value of a quality that deadlines and tie-breaks use (first 8 bytes, big-endian).
pub fn quality_value(quality: &[u8; 32]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&quality[..8]);
    u64::from_be_bytes(b)
}

/// Seconds after its parent a block with `quality` may be stamped, at `difficulty` and
/// target interval `target_secs` (< 2^32). Rounding: floor after each 32-bit shift.
pub fn deadline(quality: &[u8; 32], difficulty: u64, target_secs: u64) -> u64 {
    let q = u128::from(quality_value(quality));
    let scaled = (q * u128::from(difficulty)) >> 32; // < 2^96
    let secs = (scaled * u128::from(target_secs)) >> 32; // < 2^96 · 2^32 >> 32
    u64::try_from(secs).unwrap_or(u64::MAX)
}

/// The challenge for `height` from the qualities of its ancestors, nearest first.
pub fn derive_challenge<'a>(
    height: u64,
    ancestors: impl IntoIterator<Item = &'a [u8; 32]>,
) -> [u8; 32] {
    let mut buf = Vec::with_capacity(CHALLENGE_TAG.len() + 8 + 32 * 4);
    buf.extend_from_slice(CHALLENGE_TAG);
    buf.extend_from_slice(&height.to_be_bytes());
    for q in ancestors {
        buf.extend_from_slice(q);
    }
    hash::sha256(&buf).0
}

/// Retargeted difficulty from the previous `difficulty` and the `span` in seconds the last
/// `window` intervals took (see the module docs for the rule and its rounding).
pub fn retarget(difficulty: u64, span: u64, target_secs: u64, window: u64, max_factor: u64) -> u64 {
    let span = u128::from(span.max(1));
    let ideal = u128::from(difficulty)
        * u128::from(target_secs)
        * u128::from(window.saturating_sub(1).max(1))
        / span;
    let lo = u128::from(difficulty / max_factor.max(1));
    let hi = u128::from(difficulty) * u128::from(max_factor.max(1));
    u64::try_from(ideal.clamp(lo, hi))
        .unwrap_or(u64::MAX)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_scales_with_quality_and_difficulty() {
        let mut q = [0u8; 32];
        // q / 2^64 = 1/2: deadline = N · T / 2.
        q[0] = 0x80;
        assert_eq!(deadline(&q, 64, 20), 640);
        assert_eq!(deadline(&q, 1, 20), 10);
        assert_eq!(deadline(&[0; 32], u64::MAX, 20), 0);
        // The largest inputs saturate instead of overflowing: q · N / 2^64 · T ≈ 2^96 s.
        assert_eq!(deadline(&[0xff; 32], u64::MAX, (1 << 32) - 1), u64::MAX);
    }

    #[test]
    fn retarget_follows_the_observed_span_within_the_clamp() {
        // 32 intervals took 320 s against a 20 s target: blocks came twice as fast.
        // N' = 64 · 20 · 31 / 320 = 124 (floor of 124.0).
        assert_eq!(retarget(64, 320, 20, 32, 4), 124);
        // Exactly on target: N' = 64 · 31 / 32 = 62 (the unbiasing factor).
        assert_eq!(retarget(64, 640, 20, 32, 4), 62);
        // Clamps.
        assert_eq!(retarget(64, 1, 20, 32, 4), 256);
        assert_eq!(retarget(64, 1_000_000, 20, 32, 4), 16);
        assert_eq!(retarget(1, 1_000_000, 20, 32, 4), 1);
    }

    #[test]
    fn challenge_depends_on_height_and_each_ancestor() {
        let a = [1u8; 32];
        let b = [2u8; 32];
        let c1 = derive_challenge(5, [&a, &b]);
        assert_ne!(c1, derive_challenge(6, [&a, &b]));
        assert_ne!(c1, derive_challenge(5, [&b, &a]));
        assert_ne!(c1, derive_challenge(5, [&a]));
        assert_eq!(c1, derive_challenge(5, [&a, &b]));
    }
}
