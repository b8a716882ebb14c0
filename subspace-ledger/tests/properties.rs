//! Property tests over random transaction streams: supply conservation and replay.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers of a test file

use crate::common;

use common::*;
use proptest::prelude::*;
use subspace_crypto::Keypair;
use subspace_ledger::{Chain, ConsensusParams, Transaction};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Supply changes only by the coinbase (reward plus re-issued fees, minus fees paid), the
    /// unspent outputs plus the nexus always add up to it, and the chain re-validates from
    /// genesis to the identical state.
    #[test]
    fn supply_is_conserved_and_the_chain_replays_to_the_same_state(
        ops in proptest::collection::vec((0usize..4, 0usize..4, 1u64..50_000_000_000, 0u8..8), 1..30),
    ) {
        let farmers = vec![farmer(1, 3), farmer(2, 5)];
        let params = ConsensusParams { retarget_window: 4, ..params() };
        let keys: Vec<Keypair> = (0..4u8).map(|i| Keypair::from_seed(&[40 + i; 32])).collect();
        let refs: Vec<&Keypair> = keys.iter().collect();
        let g = genesis(&params, &refs);
        let pos = ModelPos::new(&farmers);
        let mut chain = new_chain(&g, &params, pos.clone());
        mine(&mut chain, &farmers, vec![host_contract(&Keypair::from_seed(&[60; 32]), 1 << 45, 600, 1)]);
        for chunk in ops.chunks(3) {
            let mut txs = Vec::new();
            for &(from, to, amount, kind) in chunk {
                let s = chain.state();
                if kind == 0 {
                    // A data contract, priced at the published CoS (maybe unaffordable or too
                    // large: then the proposer leaves it out).
                    if let Some(cos) = s.tip().cos {
                        let price = subspace_ledger::economics::reservation_price(cos, amount, 60).unwrap_or(u128::MAX);
                        if let Ok(p) = u64::try_from(price) && p < 1 << 50 {
                            txs.push(data_contract(s, &keys[from], amount, 60, 1, p));
                        }
                    }
                } else {
                    txs.push(transfer(s, &keys[from], &keys[to].public(), amount));
                }
            }
            let supply = chain.state().supply();
            let b = next_block(&mut chain, &farmers, &inputs(txs), 0);
            let Transaction::Coinbase(cb) = &b.transactions[0] else { panic!() };
            let minted: u64 = cb.outputs.iter().map(|o| o.value).sum();
            chain.insert_block(b, NOW).unwrap();
            // The proposer claims reward + fees; fees left circulation when paid.
            prop_assert!(minted >= params.block_reward);
            prop_assert_eq!(chain.state().supply(), supply + params.block_reward);
            prop_assert_eq!(circulating(chain.state()), u128::from(chain.state().supply()));
        }
        let replayed = Chain::open(&g, params.clone(), chain.store().clone(), pos, NOW).unwrap();
        prop_assert_eq!(replayed.state(), chain.state());
        // And block by block into a bare state.
        let mut s = subspace_ledger::ChainState::from_genesis(&g, &params).unwrap();
        for h in 1..=chain.state().height() {
            let hash = chain.state().summary(h).unwrap().hash;
            let b = subspace_ledger::ChainStore::block(chain.store(), &hash).unwrap().unwrap();
            s.apply_block(&b, &params, &ModelPos::new(&farmers), NOW).unwrap();
        }
        prop_assert_eq!(&s, chain.state());
    }
}
