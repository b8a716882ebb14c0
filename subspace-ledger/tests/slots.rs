//! Challenge slots: when a whole slot passes without a block (no plot answered, or the
//! answers were withheld), the next slot's challenge is in force, its blocks are valid, and
//! among siblings of equal work the earlier slot wins.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers of a test file

use crate::common;

use common::*;
use subspace_ledger::consensus::{deadline, slot_secs};
use subspace_ledger::{Accepted, Block, LedgerError, ProposalInputs};

/// The best block `farmer` can make on `chain`'s tip in `slot`, stamped at its earliest time
/// plus `late` seconds.
fn block_in_slot(chain: &mut TestChain, f: &Farmer, slot: u64, late: u64) -> Block {
    let params = chain.params().clone();
    let state = chain.state();
    let n = state.next_difficulty(&params);
    let challenge = state.challenge_in_slot(&params, slot);
    let answer = best_answer(f, &challenge);
    let ts = state.tip().timestamp
        + slot * slot_secs(n, params.target_block_secs)
        + deadline(&answer.quality, n, params.target_block_secs)
        + late;
    chain
        .propose(&f.kp.clone(), answer, ts, &ProposalInputs::default())
        .unwrap()
}

fn resign(mut b: Block, f: &Farmer) -> Block {
    b.header.sign(&f.kp).unwrap();
    b
}

#[test]
fn a_block_after_a_silent_slot_answers_the_next_slots_challenge() {
    let params = params();
    let f = farmer(1, 3);
    let g = genesis(&params, &[&f.kp]);
    let mut chain = new_chain(&g, &params, ModelPos::new(std::slice::from_ref(&f)));
    extend(&mut chain, std::slice::from_ref(&f), 2);
    let slot0 = chain.state().next_challenge(&params);
    for slot in 1..=3 {
        let b = block_in_slot(&mut chain, &f, slot, 0);
        let expected = chain.state().challenge_in_slot(&params, slot);
        assert_eq!(b.header.challenge, expected);
        assert_ne!(b.header.challenge, slot0);
        let ts = b.header.timestamp;
        assert_eq!(chain.state().slot_at(&params, ts), slot);

        // The slot-0 challenge is refused for a block stamped in a later slot.
        let mut wrong = b.clone();
        wrong.header.challenge = slot0;
        let wrong = resign(wrong, &f);
        assert!(matches!(
            chain.insert_block(wrong, NOW),
            Err(LedgerError::BadChallenge)
        ));
        // A later slot does not shorten the wait: its deadline counts from the slot's start.
        let n = chain.state().next_difficulty(&params);
        let slot_start =
            chain.state().tip().timestamp + slot * slot_secs(n, params.target_block_secs);
        if ts > slot_start {
            let mut early = b.clone();
            early.header.timestamp -= 1;
            let early = resign(early, &f);
            assert!(matches!(
                chain.insert_block(early, NOW),
                Err(LedgerError::TooEarly)
            ));
        }
        // A later slot cannot be reached before the clock does.
        assert!(matches!(
            chain.insert_block(b.clone(), ts - params.max_future_drift_secs - 1),
            Err(LedgerError::FutureTimestamp)
        ));
        assert_eq!(chain.insert_block(b, NOW).unwrap(), Accepted::Extended);
    }
    assert_eq!(chain.state().height(), 5);
}

#[test]
fn among_siblings_the_earlier_slot_wins_whatever_the_quality() {
    let params = params();
    let (a, b) = (farmer(1, 4), farmer(2, 4));
    let g = genesis(&params, &[&a.kp]);
    let both = [a.clone(), b.clone()];
    // Find a height where the slot-1 block has the better quality, so that only the slot
    // decides.
    let mut base = new_chain(&g, &params, ModelPos::new(&both));
    for _ in 0..64 {
        let late = block_in_slot(&mut base, &b, 1, 0);
        let early = block_in_slot(&mut base, &a, 0, 0);
        if late.header.quality < early.header.quality {
            // Either order of arrival ends on the slot-0 sibling.
            for (first, second, then) in [
                (&late, &early, Accepted::Reorganized { depth: 1 }),
                (&early, &late, Accepted::SideChain),
            ] {
                let mut c = new_chain(&g, &params, ModelPos::new(&both));
                for blk in best_chain(&base) {
                    c.insert_block(blk, NOW).unwrap();
                }
                assert_eq!(
                    c.insert_block(first.clone(), NOW).unwrap(),
                    Accepted::Extended
                );
                assert_eq!(c.insert_block(second.clone(), NOW).unwrap(), then);
                assert_eq!(c.state().tip().hash, early.hash().unwrap());
            }
            return;
        }
        extend(&mut base, &both, 1);
    }
    panic!("no height in 64 where the slot-1 proof was better");
}

/// The best chain's blocks after genesis, in order.
fn best_chain(chain: &TestChain) -> Vec<Block> {
    use subspace_ledger::ChainStore;
    let mut out = Vec::new();
    let mut cur = chain.state().tip().hash;
    for _ in 0..chain.state().height() {
        let b = chain.store().block(&cur).unwrap().unwrap();
        cur = b.header.parent;
        out.push(b);
    }
    out.reverse();
    out
}
