//! A 10,000-block chain farmed by 20 farmers with 1..=20 plots each (210 plots in all).
//!
//! What it models: every block is produced by the farmer whose best plot quality for the
//! block's challenge gives the earliest deadline, stamped exactly at that deadline (honest,
//! instantly propagated farmers); proofs come from `ModelPos` (one proof per plot per
//! challenge, quality = SHA-256 of key, plot and challenge), so a farmer's chance of winning
//! equals its share of plots, as with real plots. Every block goes through full validation
//! (`Chain::insert_block`). The difficulty starts at 1, far below the 210 proofs competing,
//! so the first retargets must climb.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers of a test file

use crate::common;

use common::*;
use subspace_ledger::ConsensusParams;

const BLOCKS: usize = 10_000;
const WARMUP: usize = 1_000;

fn run(blocks: usize) -> (Vec<u64>, Vec<u64>, subspace_crypto::BlockHash) {
    let farmers: Vec<Farmer> = (1..=20u8).map(|i| farmer(i, u64::from(i))).collect();
    let params = ConsensusParams {
        initial_difficulty: 1,
        ..params()
    };
    let g = genesis(&params, &[&farmers[0].kp]);
    let mut chain = new_chain(&g, &params, ModelPos::new(&farmers));
    let mut wins = vec![0u64; farmers.len()];
    let mut intervals = Vec::with_capacity(blocks);
    for _ in 0..blocks {
        let parent_ts = chain.state().tip().timestamp;
        let b = extend(&mut chain, &farmers, 1).remove(0);
        intervals.push(b.header.timestamp - parent_ts);
        let who = farmers
            .iter()
            .position(|f| f.kp.public() == b.header.farmer)
            .unwrap();
        wins[who] += 1;
    }
    (intervals, wins, chain.state().tip().hash)
}

#[test]
fn ten_thousand_blocks_keep_the_target_interval_and_share_blocks_by_space() {
    let target = params().target_block_secs;
    let (intervals, wins, _) = run(BLOCKS);
    let after = &intervals[WARMUP..];
    let mean_x100 = after.iter().sum::<u64>() * 100 / after.len() as u64;
    eprintln!(
        "mean interval after warm-up: {}.{:02} s (target {target} s)",
        mean_x100 / 100,
        mean_x100 % 100
    );
    // Within 10% of the target.
    assert!(
        mean_x100 >= target * 90 && mean_x100 <= target * 110,
        "mean interval {mean_x100}/100 s"
    );
    // Each farmer's share of blocks is within 5 binomial standard deviations of its share of
    // space: |wins − n·p| ≤ 5·sqrt(n·p·(1−p)), compared in integers as
    // (wins·210 − n·plots)^2 ≤ 25 · n · plots · (210 − plots).
    let total_plots = 210i128;
    let n = BLOCKS as i128;
    for (i, &w) in wins.iter().enumerate() {
        let plots = i as i128 + 1;
        let dev = w as i128 * total_plots - n * plots;
        let bound = 25 * n * plots * (total_plots - plots);
        eprintln!(
            "farmer with {plots:2} plots: {w:4} blocks (expected {})",
            n * plots / total_plots
        );
        assert!(dev * dev <= bound, "farmer {plots} won {w}");
    }
}

#[test]
fn simulation_is_deterministic() {
    let a = run(300);
    let b = run(300);
    assert_eq!(a.2, b.2);
    assert_eq!(a.0, b.0);
}
