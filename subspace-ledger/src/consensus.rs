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
//!
//! **Slots (liveness).** A proof's deadline is below `N · T` seconds (`q < 2^64`), so every
//! proof of a challenge can be used within `S = N · T` seconds of the parent (the *slot*).
//! A plot holds a proof for a given challenge only with probability about `1 − 1/e`, so with
//! `n` plots on the network no proof at all exists with probability about `e^−n`; were the
//! challenge fixed by the ancestors alone, the chain would then stop for good. Time therefore
//! moves the challenge on: a block stamped `t` seconds after its parent belongs to slot
//! `s = ⌊t / S⌋`, answers `SHA-256("subspace/challenge/v1" ‖ h ‖ s ‖ quality(h−1) ‖ …)` (slot
//! 0 keeps the form above; the 8 extra bytes keep the two forms apart) and may be stamped no
//! earlier than `parent.timestamp + s · S + deadline`. Slot 0 covers every deadline, so slots
//! only matter after `S` seconds without a block; a farmer cannot reach a later slot sooner
//! than the clock does (the future-timestamp rule), so trying slots costs real time. Siblings
//! of equal work are ordered by slot first (the earlier lottery wins), then by proof quality.

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

/// The challenge for `height` in `slot` from the qualities of its ancestors, nearest first.
pub fn derive_challenge<'a>(
    height: u64,
    slot: u64,
    ancestors: impl IntoIterator<Item = &'a [u8; 32]>,
) -> [u8; 32] {
    let mut buf = Vec::with_capacity(CHALLENGE_TAG.len() + 16 + 32 * 4);
    buf.extend_from_slice(CHALLENGE_TAG);
    buf.extend_from_slice(&height.to_be_bytes());
    if slot > 0 {
        buf.extend_from_slice(&slot.to_be_bytes());
    }
    for q in ancestors {
        buf.extend_from_slice(q);
    }
    hash::sha256(&buf).0
}

/// Length in seconds of one challenge slot at `difficulty` and target interval `target_secs`:
/// `N · T` (saturating, at least 1), above every deadline of that difficulty.
pub fn slot_secs(difficulty: u64, target_secs: u64) -> u64 {
    difficulty.saturating_mul(target_secs).max(1)
}

/// The slot of a block stamped `timestamp` on a parent stamped `parent_timestamp` (see the
/// module docs); a timestamp before its parent's is in slot 0 (and fails the deadline rule).
pub fn slot_of(parent_timestamp: u64, timestamp: u64, difficulty: u64, target_secs: u64) -> u64 {
    timestamp.saturating_sub(parent_timestamp) / slot_secs(difficulty, target_secs)
}

/// The earliest timestamp of a block in `slot` with `quality` on a parent stamped
/// `parent_timestamp` (saturating).
pub fn earliest_timestamp(
    parent_timestamp: u64,
    slot: u64,
    quality: &[u8; 32],
    difficulty: u64,
    target_secs: u64,
) -> u64 {
    parent_timestamp
        .saturating_add(slot.saturating_mul(slot_secs(difficulty, target_secs)))
        .saturating_add(deadline(quality, difficulty, target_secs))
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
        let c1 = derive_challenge(5, 0, [&a, &b]);
        assert_ne!(c1, derive_challenge(6, 0, [&a, &b]));
        assert_ne!(c1, derive_challenge(5, 0, [&b, &a]));
        assert_ne!(c1, derive_challenge(5, 0, [&a]));
        assert_eq!(c1, derive_challenge(5, 0, [&a, &b]));
        // Each slot has its own challenge.
        assert_ne!(c1, derive_challenge(5, 1, [&a, &b]));
        assert_ne!(
            derive_challenge(5, 1, [&a, &b]),
            derive_challenge(5, 2, [&a, &b])
        );
    }

    #[test]
    fn slot_zero_keeps_the_original_challenge_bytes() {
        // SHA-256(tag ‖ height ‖ qualities), as before slots existed.
        let a = [9u8; 32];
        let mut buf = CHALLENGE_TAG.to_vec();
        buf.extend_from_slice(&7u64.to_be_bytes());
        buf.extend_from_slice(&a);
        assert_eq!(derive_challenge(7, 0, [&a]), hash::sha256(&buf).0);
    }

    #[test]
    fn every_deadline_fits_in_slot_zero() {
        for (n, t) in [
            (1u64, 1u64),
            (64, 20),
            (40, 2),
            (u64::MAX, 3),
            (5, (1 << 32) - 1),
        ] {
            let worst = deadline(&[0xff; 32], n, t);
            assert!(worst < slot_secs(n, t) || slot_secs(n, t) == u64::MAX);
            assert_eq!(slot_of(100, 100u64.saturating_add(worst), n, t), 0);
        }
        // A block stamped one slot after its parent answers slot 1, and must wait out slot 0.
        assert_eq!(slot_secs(40, 2), 80);
        assert_eq!(slot_of(1000, 1079, 40, 2), 0);
        assert_eq!(slot_of(1000, 1080, 40, 2), 1);
        assert_eq!(slot_of(1000, 1250, 40, 2), 3);
        assert_eq!(earliest_timestamp(1000, 1, &[0; 32], 40, 2), 1080);
        let mut q = [0u8; 32];
        q[0] = 0x80; // half of the slot
        assert_eq!(earliest_timestamp(1000, 2, &q, 40, 2), 1000 + 160 + 40);
        assert_eq!(slot_of(1000, 10, 40, 2), 0);
    }
}
