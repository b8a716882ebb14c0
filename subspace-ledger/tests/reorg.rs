//! Reorganisations of depth 1..=10 and back restore UTXO and contract state exactly.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers of a test file

use crate::common;

use common::*;
use subspace_crypto::Keypair;
use subspace_ledger::{Accepted, Block, ConsensusParams, LedgerError};

const GB: u64 = 1_000_000_000;

fn feed(chain: &mut TestChain, blocks: &[Block]) -> Vec<Accepted> {
    blocks
        .iter()
        .map(|b| chain.insert_block(b.clone(), NOW).unwrap())
        .collect()
}

#[test]
fn reorg_of_depth_1_to_10_and_back_gives_the_original_state() {
    let fa = vec![farmer(1, 4), farmer(2, 4)];
    let fb = vec![farmer(3, 4), farmer(4, 4)];
    let all: Vec<Farmer> = fa.iter().chain(&fb).cloned().collect();
    // No retarget inside the test, so work is proportional to length.
    let params = ConsensusParams {
        retarget_window: 100_000,
        ..params()
    };
    let alice = Keypair::from_seed(&[50; 32]);
    let (bob, carol, host) = (
        Keypair::from_seed(&[51; 32]),
        Keypair::from_seed(&[52; 32]),
        Keypair::from_seed(&[60; 32]),
    );
    let g = genesis(&params, &[&alice]);
    for depth in 1..=10usize {
        let mut node = new_chain(&g, &params, ModelPos::new(&all));
        let mut a_only = new_chain(&g, &params, ModelPos::new(&all));
        let mut b_only = new_chain(&g, &params, ModelPos::new(&all));
        // Common prefix: a host contract, then a data contract.
        let mut prefix = vec![mine(
            &mut a_only,
            &fa,
            vec![host_contract(&host, 1000 * GB, 3600, 1)],
        )];
        let cos = a_only.state().tip().cos.unwrap();
        let price = subspace_ledger::economics::reservation_price(cos, GB, 600).unwrap() as u64;
        let dc = data_contract(a_only.state(), &alice, GB, 600, 1, price);
        prefix.push(mine(&mut a_only, &fa, vec![dc]));
        feed(&mut node, &prefix);
        feed(&mut b_only, &prefix);

        // Branch A spends alice's coin to bob; branch B spends the same coin to carol.
        let ta = transfer(a_only.state(), &alice, &bob.public(), 5 * GB);
        let mut branch_a = vec![mine(&mut a_only, &fa, vec![ta])];
        branch_a.extend(extend(&mut a_only, &fa, depth - 1));
        let tb = transfer(b_only.state(), &alice, &carol.public(), 7 * GB);
        let mut branch_b = vec![mine(&mut b_only, &fb, vec![tb])];
        let rc = renewal(
            b_only.state(),
            &alice,
            contract_id(&prefix[1].transactions[1]),
            60,
            price,
        );
        branch_b.push(mine(&mut b_only, &fb, vec![rc]));
        branch_b.extend(extend(&mut b_only, &fb, depth - 1));
        assert_eq!(branch_b.len(), depth + 1);

        assert!(
            feed(&mut node, &branch_a)
                .iter()
                .all(|a| *a == Accepted::Extended)
        );
        let original = node.state().clone();
        assert_eq!(&original, a_only.state());

        let got = feed(&mut node, &branch_b);
        assert!(
            got.contains(&Accepted::Reorganized {
                depth: depth as u64
            }),
            "depth {depth}: {got:?}"
        );
        assert_eq!(
            node.state(),
            b_only.state(),
            "depth {depth}: state after the reorg"
        );
        assert!(
            node.state()
                .outputs_of(&subspace_ledger::Address::of(&bob.public()))
                .is_empty()
        );

        // Branch A grows past B again: the node returns to it, state identical.
        let more = extend(&mut a_only, &fa, 2);
        let back = feed(&mut node, &more);
        assert!(
            back.iter()
                .any(|a| matches!(a, Accepted::Reorganized { .. })),
            "depth {depth}: {back:?}"
        );
        assert_eq!(
            node.state(),
            a_only.state(),
            "depth {depth}: state after returning"
        );
        assert_eq!(circulating(node.state()), u128::from(node.state().supply()));
    }
}

#[test]
fn an_invalid_branch_leaves_the_best_chain_untouched() {
    let fa = vec![farmer(1, 4)];
    let fb = vec![farmer(3, 4)];
    let all: Vec<Farmer> = fa.iter().chain(&fb).cloned().collect();
    let params = ConsensusParams {
        retarget_window: 100_000,
        ..params()
    };
    let g = genesis(&params, &[&Keypair::from_seed(&[50; 32])]);
    let mut node = new_chain(&g, &params, ModelPos::new(&all));
    let mut other = new_chain(&g, &params, ModelPos::new(&all));
    extend(&mut node, &fa, 3);
    let before = node.state().clone();
    let mut branch = extend(&mut other, &fb, 4);
    // Corrupt the third block of the longer branch (a coinbase paying too much), re-signed
    // so that it passes the cheap side-branch checks.
    let bad = &mut branch[2];
    if let subspace_ledger::Transaction::Coinbase(c) = &mut bad.transactions[0] {
        c.outputs[0].value += 1;
    }
    bad.header.tx_root = subspace_ledger::merkle::merkle_root(&bad.tx_ids().unwrap());
    bad.header.sign(&fb[0].kp).unwrap();
    let results: Vec<_> = branch[..3]
        .iter()
        .map(|b| node.insert_block(b.clone(), NOW))
        .collect();
    assert_eq!(
        results[2],
        Err(LedgerError::BadCoinbase("pays more than reward plus fees"))
    );
    assert_eq!(node.state(), &before);
    // The block is remembered as invalid and its children are refused.
    assert_eq!(
        node.insert_block(branch[2].clone(), NOW),
        Err(LedgerError::Duplicate)
    );
    assert_eq!(
        node.insert_block(branch[3].clone(), NOW),
        Err(LedgerError::UnknownParent)
    );
}

#[test]
fn side_branch_headers_are_checked_like_best_chain_headers_across_retargets() {
    // Retarget every 4 blocks: a side branch's expected difficulty and challenge come from the
    // index, and must agree with what the state computes on the best chain.
    let fa = vec![farmer(1, 4)];
    let fb = vec![farmer(3, 9)];
    let all: Vec<Farmer> = fa.iter().chain(&fb).cloned().collect();
    let params = ConsensusParams {
        retarget_window: 4,
        initial_difficulty: 2,
        ..params()
    };
    let g = genesis(&params, &[&Keypair::from_seed(&[50; 32])]);
    let mut node = new_chain(&g, &params, ModelPos::new(&all));
    let mut other = new_chain(&g, &params, ModelPos::new(&all));
    let shared = extend(&mut other, &fb, 3);
    feed(&mut node, &shared);
    extend(&mut node, &fa, 14);
    let branch = extend(&mut other, &fb, 14);
    assert!(
        branch.iter().any(|b| b.header.difficulty != 2),
        "the branch crossed a retarget"
    );
    for b in &branch {
        node.insert_block(b.clone(), NOW).unwrap();
    }
    // A side block with a forged difficulty (more claimed work) is refused before it is stored.
    let mut forged = branch[13].clone();
    forged.header.difficulty *= 4;
    forged.header.sign(&fb[0].kp).unwrap();
    let before = node.state().clone();
    assert_eq!(
        node.insert_block(forged, NOW),
        Err(LedgerError::BadDifficulty)
    );
    assert_eq!(node.state(), &before);
}

#[test]
fn a_farmer_republishing_its_tip_with_another_body_changes_nothing() {
    let f = vec![farmer(1, 4)];
    let params = params();
    let alice = Keypair::from_seed(&[50; 32]);
    let bob = Keypair::from_seed(&[51; 32]);
    let g = genesis(&params, &[&alice]);
    let mut base = new_chain(&g, &params, ModelPos::new(&f));
    let prefix = extend(&mut base, &f, 2);
    // The farmer's tip, and the same proof with another body: a transfer it would undo. Among
    // bodies, one whose block hashes lower than the first (what a hash tie-break would prefer).
    let mut a = new_chain(&g, &params, ModelPos::new(&f));
    feed(&mut a, &prefix);
    let first = mine(&mut a, &f, vec![]);
    let second = (1..64u64)
        .map(|amount| {
            let mut b = new_chain(&g, &params, ModelPos::new(&f));
            feed(&mut b, &prefix);
            let t = transfer(b.state(), &alice, &bob.public(), amount * GB);
            mine(&mut b, &f, vec![t])
        })
        .find(|b| b.hash().unwrap() < first.hash().unwrap())
        .expect("a body hashing lower");
    assert_eq!(second.header.height, first.header.height);
    for (seen_first, then) in [(&first, &second), (&second, &first)] {
        let mut node = new_chain(&g, &params, ModelPos::new(&f));
        feed(&mut node, &prefix);
        assert_eq!(
            node.insert_block(seen_first.clone(), NOW).unwrap(),
            Accepted::Extended
        );
        assert_eq!(
            node.insert_block(then.clone(), NOW).unwrap(),
            Accepted::SideChain
        );
        assert_eq!(node.state().tip().hash, seen_first.hash().unwrap());
    }
}
