//! Blocks farmed with real `subspace-pos` plots (eight plots at k = 14, in memory) and verified by
//! [`SubspacePos`]: the proof in a header must be a real Chia-style proof of the farmer's plot.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers of a test file

use subspace_crypto::Keypair;
use subspace_ledger::consensus::{deadline, quality_value};
use subspace_ledger::{
    Chain, ConsensusParams, GenesisBuilder, LedgerError, MemoryChainStore, ProofAnswer,
    ProposalInputs, SubspacePos,
};
use subspace_pos::{Challenge, PlotId, Tables};

const K: u8 = 14;

#[test]
fn blocks_with_real_proofs_of_space() {
    let farmer = Keypair::from_seed(&[1; 32]);
    let plots: Vec<Tables> = (0..8u64)
        .map(|i| Tables::generate(&PlotId::derive(&farmer.public(), i), K).unwrap())
        .collect();
    let params = ConsensusParams {
        min_k: K,
        ..ConsensusParams::default()
    };
    let g = GenesisBuilder::new(1_700_000_000, [5; 32])
        .allocate(&farmer.public(), 1_000)
        .build(&params, &Keypair::from_seed(&[9; 32]))
        .unwrap();
    let mut chain = Chain::new(
        &g,
        params.clone(),
        MemoryChainStore::new(),
        SubspacePos::new(|_, _, _, _, _| false),
    )
    .unwrap();
    let mut made = 0;
    for _ in 0..6 {
        let challenge = chain.state().next_challenge(&params);
        // The farmer's best proof over its plots, verified to learn its quality.
        let best = plots
            .iter()
            .enumerate()
            .flat_map(|(i, t)| {
                t.prove(&Challenge::from_bytes(challenge))
                    .into_iter()
                    .map(move |p| (i as u64, p))
            })
            .map(|(i, p)| {
                let q = subspace_pos::verify(
                    &PlotId::derive(&farmer.public(), i),
                    K,
                    &Challenge::from_bytes(challenge),
                    &p,
                )
                .unwrap();
                (i, p, q.to_bytes())
            })
            .min_by_key(|(_, _, q)| quality_value(q));
        let Some((index, proof, quality)) = best else {
            // No plot answers this challenge: a real network would wait for another farmer.
            break;
        };
        let ts = chain.state().tip().timestamp
            + deadline(
                &quality,
                chain.state().next_difficulty(&params),
                params.target_block_secs,
            );
        let answer = ProofAnswer {
            plot_index: index,
            k: K,
            proof: proof.to_bytes(),
            quality,
        };
        let block = chain
            .propose(&farmer, answer, ts, &ProposalInputs::default())
            .unwrap();
        // A proof claimed for another plot of the same farmer does not verify.
        let mut wrong = block.clone();
        wrong.header.plot_index += 1;
        wrong.header.sign(&farmer).unwrap();
        assert_eq!(chain.insert_block(wrong, ts), Err(LedgerError::BadProof));
        chain.insert_block(block, ts).unwrap();
        made += 1;
    }
    assert!(
        made >= 2,
        "only {made} blocks: the plots answered too few challenges"
    );
}
