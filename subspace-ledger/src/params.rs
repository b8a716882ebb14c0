//! Consensus parameters.

use crate::{LedgerError, Result};

/// The rules every node of one network must share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsensusParams {
    /// Target mean block interval in seconds (below 2^32).
    pub target_block_secs: u64,
    /// Difficulty is retargeted every this many blocks, from the last this many intervals.
    pub retarget_window: u64,
    /// Difficulty of the first blocks: the expected number of competing proofs.
    pub initial_difficulty: u64,
    /// One retarget changes difficulty by at most this factor either way.
    pub max_retarget_factor: u64,
    /// The challenge of height h is derived from the qualities of blocks h−1 … h−window.
    pub challenge_window: u64,
    /// Credits minted per block.
    pub block_reward: u64,
    /// Minimum fee per encoded byte of a transfer, data contract or renewal.
    pub fee_per_byte: u64,
    /// Largest accepted block, in encoded bytes (at most [`crate::block::MAX_BLOCK_BYTES`]).
    pub max_block_bytes: usize,
    /// How far a block's timestamp may be ahead of the validator's clock, in seconds.
    pub max_future_drift_secs: u64,
    /// After its interval ends, a host has this many seconds to request payment before its
    /// contract lapses.
    pub payment_grace_secs: u64,
    /// Forks deeper than this many blocks are refused.
    pub max_reorg_depth: u64,
    /// Smallest plot size parameter accepted in blocks and pledges.
    pub min_k: u8,
}

impl Default for ConsensusParams {
    fn default() -> Self {
        ConsensusParams {
            target_block_secs: 20,
            retarget_window: 32,
            initial_difficulty: 64,
            max_retarget_factor: 4,
            challenge_window: 3,
            block_reward: 50_000_000,
            fee_per_byte: 10,
            max_block_bytes: 2 * 1024 * 1024,
            max_future_drift_secs: 15,
            payment_grace_secs: 24 * 3600,
            max_reorg_depth: 100,
            min_k: 12,
        }
    }
}

impl ConsensusParams {
    /// Refuses parameters the consensus arithmetic does not support.
    pub fn check(&self) -> Result<()> {
        let ok = self.target_block_secs > 0
            && self.target_block_secs < (1 << 32)
            && self.retarget_window >= 2
            && self.initial_difficulty > 0
            && self.max_retarget_factor >= 1
            && self.challenge_window >= 1
            && self.max_block_bytes <= crate::block::MAX_BLOCK_BYTES
            && self.max_reorg_depth >= 1;
        if ok {
            Ok(())
        } else {
            Err(LedgerError::Malformed("consensus parameters out of range"))
        }
    }
}
