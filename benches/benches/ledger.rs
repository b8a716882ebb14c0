//! `cargo bench -p subspace-benches --bench ledger`
//!
//! Full validation of a block holding 1,000 transfers (next to the cost of its 1,000 signature
//! checks done one by one, measured in the same run), and the per-block economics of a network
//! with 100,000 host contracts: S(t), D(t), CoS, the water-filling level, and a nexus payment
//! for every host.

// criterion_group! generates undocumented public functions.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use criterion::{BatchSize, Criterion, black_box, criterion_group, criterion_main};
use subspace_crypto::{Keypair, PublicKey, domain, hash};
use subspace_ledger::consensus::deadline;
use subspace_ledger::economics;
use subspace_ledger::tx::{Input, Transfer};
use subspace_ledger::{
    Address, ChainState, ConsensusParams, GenesisBuilder, LedgerError, ProofAnswer, ProofVerifier,
    ProposalInputs, Transaction, TxOut,
};

/// Stands in for `subspace-pos`: quality = SHA-256(key ‖ plot ‖ challenge). Its cost (one
/// hash) is negligible next to the block's signatures, so the figure is the ledger's own.
struct ModelPos;

impl ProofVerifier for ModelPos {
    fn verify_block_proof(
        &self,
        pk: &PublicKey,
        i: u64,
        k: u8,
        c: &[u8; 32],
        p: &[u8],
    ) -> Result<[u8; 32], LedgerError> {
        if p != i.to_be_bytes() {
            return Err(LedgerError::BadProof);
        }
        Ok(hash::sha256_parts(&[&pk.to_bytes(), &i.to_be_bytes(), &[k], c]).0)
    }
    fn verify_pledge(
        &self,
        _: &PublicKey,
        _: u64,
        _: u8,
        _: &[u8; 32],
        _: &[u8],
    ) -> Result<(), LedgerError> {
        Err(LedgerError::BadPledge)
    }
}

fn block_validation(c: &mut Criterion) {
    const N: usize = 1000;
    let params = ConsensusParams::default();
    let payers: Vec<Keypair> = (0..N)
        .map(|i| Keypair::from_seed(&hash::sha256(&(i as u64).to_be_bytes()).0))
        .collect();
    let mut g = GenesisBuilder::new(1_700_000_000, [1; 32]);
    for p in &payers {
        g = g.allocate(&p.public(), 1_000_000);
    }
    let genesis = g.build(&params, &Keypair::from_seed(&[9; 32])).unwrap();
    let mut state = ChainState::from_genesis(&genesis, &params).unwrap();
    let to = Keypair::from_seed(&[8; 32]).public();
    let txs: Vec<Transaction> = payers
        .iter()
        .map(|p| {
            let (op, out) = state.outputs_of(&Address::of(&p.public()))[0];
            let mut t = Transaction::Transfer(Transfer {
                inputs: vec![Input {
                    prev: op,
                    public_key: p.public(),
                }],
                outputs: vec![
                    TxOut::to_key(400_000, &to),
                    TxOut::to_key(out.value - 400_000 - 5_000, &p.public()),
                ],
                signatures: vec![],
            });
            t.sign(&[p], None).unwrap();
            t
        })
        .collect();
    let farmer = Keypair::from_seed(&[3; 32]);
    let challenge = state.next_challenge(&params);
    let quality = ModelPos
        .verify_block_proof(&farmer.public(), 0, 20, &challenge, &0u64.to_be_bytes())
        .unwrap();
    let ts = state.tip().timestamp
        + deadline(
            &quality,
            state.next_difficulty(&params),
            params.target_block_secs,
        );
    let answer = ProofAnswer {
        plot_index: 0,
        k: 20,
        proof: 0u64.to_be_bytes().to_vec(),
        quality,
    };
    let inputs = ProposalInputs {
        candidates: txs.clone(),
        ..Default::default()
    };
    let block = state
        .propose(&params, &ModelPos, &farmer, answer, ts, &inputs)
        .unwrap();
    assert_eq!(
        block.transactions.len(),
        N + 1,
        "every transfer made it into the block"
    );
    let msgs: Vec<(PublicKey, Vec<u8>, subspace_crypto::Signature)> = txs
        .iter()
        .map(|t| {
            let Transaction::Transfer(x) = t else {
                unreachable!()
            };
            (
                x.inputs[0].public_key,
                t.signing_bytes().unwrap(),
                x.signatures[0],
            )
        })
        .collect();

    let mut g = c.benchmark_group("ledger");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    g.bench_function("validate_block_1000_transfers", |b| {
        b.iter_batched(
            || state.clone(),
            |mut s| {
                s.apply_block(black_box(&block), &params, &ModelPos, u64::MAX / 2)
                    .unwrap()
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("reference_1000_signature_checks_one_core", |b| {
        b.iter(|| {
            for (pk, m, s) in &msgs {
                pk.verify(domain::TRANSACTION, black_box(m), s).unwrap();
            }
        })
    });
    g.finish();
}

fn economics_100k_hosts(c: &mut Criterion) {
    const HOSTS: u64 = 100_000;
    const GB: u64 = 1_000_000_000;
    let t = 1_700_000_000u64;
    // Pledges from 1 GB to 1 TB, intervals ending over the next 30 days.
    let hosts: Vec<(u64, u64)> = (0..HOSTS)
        .map(|i| {
            let h = hash::sha256(&i.to_be_bytes()).0;
            let pledge = (u64::from_be_bytes(h[..8].try_into().unwrap()) % 1000 + 1) * GB;
            let end = t + u64::from_be_bytes(h[8..16].try_into().unwrap()) % (30 * 86_400);
            (pledge, end)
        })
        .collect();
    let data: Vec<(u128, u64)> = (0..HOSTS / 10)
        .map(|i| (u128::from(3 * GB), t + 1 + i * 7))
        .collect();
    let stored = 20_000 * GB;
    let supply = 21_000_000_000_000_000u64;
    let mut g = c.benchmark_group("ledger");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    g.bench_function("cos_and_water_level_100k_hosts", |b| {
        b.iter(|| {
            let s = economics::space_time(hosts.iter().copied(), t);
            let d = economics::data_time(data.iter().copied(), t);
            let cos = economics::cost_of_storage(supply, s, d);
            // As the chain state does it: collect the valid pledges, sort, fill.
            let mut pledges: Vec<u64> = hosts.iter().map(|h| h.0).collect();
            pledges.sort_unstable();
            (cos, economics::water_level(&pledges, black_box(stored)))
        })
    });
    let cos = economics::cost_of_storage(
        supply,
        economics::space_time(hosts.iter().copied(), t),
        economics::data_time(data.iter().copied(), t),
    )
    .unwrap();
    let level = {
        let mut p: Vec<u64> = hosts.iter().map(|h| h.0).collect();
        p.sort_unstable();
        economics::water_level(&p, stored)
    };
    g.bench_function("nexus_payments_100k_hosts", |b| {
        b.iter(|| {
            let mut total = 0u128;
            for (i, (pledge, _)) in hosts.iter().enumerate() {
                let avg_cos = economics::average_cos(cos.0 * 4320 + i as u128, 4320);
                let util = economics::utilised(*pledge, level);
                total += economics::nexus_payment(avg_cos, util, 2_592_000, 1_728_000 + i as u64)
                    .unwrap();
            }
            black_box(total)
        })
    });
    g.finish();
}

criterion_group!(benches, block_validation, economics_100k_hosts);
criterion_main!(benches);
