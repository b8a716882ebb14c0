//! Shared test fixtures: a model proof of space and a block-producing harness.
//!
//! `ModelPos` models what the ledger sees of proofs of space: each farmer has a registered
//! number of plots; plot i answers challenge c with quality SHA-256(tag ‖ key ‖ i ‖ k ‖ c),
//! one proof per plot per challenge, so a farmer's chance of the best quality is exactly its
//! share of plots. It proves no space; it stands in for `subspace-pos` in consensus tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]
// Test fixtures: a failed unwrap here is a failed test.

use std::collections::BTreeMap;

use subspace_crypto::{Keypair, PublicKey, hash};
use subspace_ledger::consensus::{deadline, quality_value};
use subspace_ledger::{
    Block, Chain, ConsensusParams, GenesisBuilder, LedgerError, MemoryChainStore, ProofAnswer,
    ProofVerifier, ProposalInputs,
};

/// A validator clock far ahead of every test block.
pub const NOW: u64 = 1 << 40;
/// Genesis time of the test networks.
pub const T0: u64 = 1_700_000_000;
/// Plot size parameter used by the model.
pub const K: u8 = 16;

#[derive(Clone, Default)]
pub struct ModelPos {
    pub plots: BTreeMap<[u8; 32], u64>,
}

impl ModelPos {
    pub fn new(farmers: &[Farmer]) -> ModelPos {
        ModelPos {
            plots: farmers
                .iter()
                .map(|f| (f.kp.public().to_bytes(), f.plots))
                .collect(),
        }
    }
}

pub fn model_quality(pk: &PublicKey, index: u64, k: u8, challenge: &[u8; 32]) -> [u8; 32] {
    hash::sha256_parts(&[
        b"model-pos",
        &pk.to_bytes(),
        &index.to_be_bytes(),
        &[k],
        challenge,
    ])
    .0
}

pub fn pledge_proof(pk: &PublicKey, bytes: u64, seed: &[u8; 32]) -> Vec<u8> {
    hash::sha256_parts(&[b"model-pledge", &pk.to_bytes(), &bytes.to_be_bytes(), seed])
        .0
        .to_vec()
}

impl ProofVerifier for ModelPos {
    fn verify_block_proof(
        &self,
        farmer: &PublicKey,
        plot_index: u64,
        k: u8,
        challenge: &[u8; 32],
        proof: &[u8],
    ) -> Result<[u8; 32], LedgerError> {
        let plots = self.plots.get(&farmer.to_bytes()).copied().unwrap_or(0);
        if plot_index >= plots || k != K || proof != plot_index.to_be_bytes() {
            return Err(LedgerError::BadProof);
        }
        Ok(model_quality(farmer, plot_index, k, challenge))
    }

    fn verify_pledge(
        &self,
        host: &PublicKey,
        bytes: u64,
        _k: u8,
        seed: &[u8; 32],
        proof: &[u8],
    ) -> Result<(), LedgerError> {
        if proof == pledge_proof(host, bytes, seed) {
            Ok(())
        } else {
            Err(LedgerError::BadPledge)
        }
    }
}

#[derive(Clone)]
pub struct Farmer {
    pub kp: Keypair,
    pub plots: u64,
}

pub fn farmer(seed: u8, plots: u64) -> Farmer {
    Farmer {
        kp: Keypair::from_seed(&[seed; 32]),
        plots,
    }
}

/// A farmer's best answer to `challenge` over its plots.
pub fn best_answer(f: &Farmer, challenge: &[u8; 32]) -> ProofAnswer {
    let pk = f.kp.public();
    let (index, quality) = (0..f.plots)
        .map(|i| (i, model_quality(&pk, i, K, challenge)))
        .min_by_key(|(i, q)| (quality_value(q), *i))
        .unwrap();
    ProofAnswer {
        plot_index: index,
        k: K,
        proof: index.to_be_bytes().to_vec(),
        quality,
    }
}

pub fn params() -> ConsensusParams {
    ConsensusParams {
        min_k: K,
        ..ConsensusParams::default()
    }
}

pub fn genesis(params: &ConsensusParams, rich: &[&Keypair]) -> Block {
    let mut g = GenesisBuilder::new(T0, [7; 32]);
    for k in rich {
        g = g.allocate(&k.public(), 1_000_000_000_000_000);
    }
    g.build(params, &Keypair::from_seed(&[200; 32])).unwrap()
}

pub type TestChain = Chain<MemoryChainStore, ModelPos>;

pub fn new_chain(genesis: &Block, params: &ConsensusParams, pos: ModelPos) -> TestChain {
    Chain::new(genesis, params.clone(), MemoryChainStore::new(), pos).unwrap()
}

/// The block the fastest farmer of `farmers` would publish next: best quality, stamped at
/// the earliest time its deadline allows (plus `delay`).
pub fn next_block(
    chain: &mut TestChain,
    farmers: &[Farmer],
    inputs: &ProposalInputs,
    delay: u64,
) -> Block {
    let params = chain.params().clone();
    let challenge = chain.state().next_challenge(&params);
    let difficulty = chain.state().next_difficulty(&params);
    let (f, answer) = farmers
        .iter()
        .map(|f| (f, best_answer(f, &challenge)))
        .min_by_key(|(_, a)| quality_value(&a.quality))
        .unwrap();
    let ts = chain.state().tip().timestamp
        + deadline(&answer.quality, difficulty, params.target_block_secs)
        + delay;
    let kp = f.kp.clone();
    chain.propose(&kp, answer, ts, inputs).unwrap()
}

/// Extends `chain` by `n` empty blocks from `farmers`; returns them.
pub fn extend(chain: &mut TestChain, farmers: &[Farmer], n: usize) -> Vec<Block> {
    extend_stored(chain, farmers, n, 0)
}

/// Like [`extend`], with producers reporting `stored` bytes on the network.
pub fn extend_stored(
    chain: &mut TestChain,
    farmers: &[Farmer],
    n: usize,
    stored: u64,
) -> Vec<Block> {
    let mut out = Vec::new();
    let inputs = ProposalInputs {
        stored_bytes: stored,
        ..Default::default()
    };
    for _ in 0..n {
        let b = next_block(chain, farmers, &inputs, 0);
        chain.insert_block(b.clone(), NOW).unwrap();
        out.push(b);
    }
    out
}

use subspace_crypto::{BlockHash, ContractId, RecordKey, Signature};
use subspace_ledger::tx::{
    ClientDataContract, ContractRenewal, Funding, HostStorageContract, Input, PaymentRequest,
    Transfer,
};
use subspace_ledger::{Address, ChainState, OutPoint, Transaction, TxOut};

pub const FEE: u64 = 10_000;

/// The first unspent output of `kp` with at least `min` credits.
pub fn coin(state: &ChainState, kp: &Keypair, min: u64) -> (OutPoint, TxOut) {
    state
        .outputs_of(&Address::of(&kp.public()))
        .into_iter()
        .find(|(_, o)| o.value >= min)
        .expect("a coin")
}

/// `from` pays `amount` to `to` from one coin, change back, fee FEE.
pub fn transfer(state: &ChainState, from: &Keypair, to: &PublicKey, amount: u64) -> Transaction {
    let (op, out) = coin(state, from, amount + FEE);
    let mut outputs = vec![TxOut::to_key(amount, to)];
    if out.value > amount + FEE {
        outputs.push(TxOut::to_key(out.value - amount - FEE, &from.public()));
    }
    let mut t = Transaction::Transfer(Transfer {
        inputs: vec![Input {
            prev: op,
            public_key: from.public(),
        }],
        outputs,
        signatures: vec![],
    });
    t.sign(&[from], None).unwrap();
    t
}

pub fn host_contract(host: &Keypair, bytes: u64, interval: u64, seed: u8) -> Transaction {
    let mut t = Transaction::HostContract(HostStorageContract {
        host: host.public(),
        pledged_bytes: bytes,
        interval_secs: interval,
        k: K,
        pledge_seed: [seed; 32],
        pledge_proof: pledge_proof(&host.public(), bytes, &[seed; 32]),
        payout: Address::of(&host.public()),
        signature: Signature([0; 64]),
    });
    t.sign(&[], Some(host)).unwrap();
    t
}

fn funding(state: &ChainState, payer: &Keypair, pay: u64) -> Funding {
    let (op, out) = coin(state, payer, pay + FEE);
    let change = out.value - pay - FEE;
    Funding {
        inputs: vec![Input {
            prev: op,
            public_key: payer.public(),
        }],
        change: if change > 0 {
            vec![TxOut::to_key(change, &payer.public())]
        } else {
            vec![]
        },
        fee: FEE,
        signatures: vec![],
    }
}

pub fn data_contract(
    state: &ChainState,
    owner: &Keypair,
    bytes: u64,
    secs: u64,
    r: u8,
    pay: u64,
) -> Transaction {
    let mut t = Transaction::DataContract(ClientDataContract {
        owner: owner.public(),
        reserved_bytes: bytes,
        duration_secs: secs,
        replication: r,
        writers: vec![owner.public()],
        state_record: RecordKey::from_bytes([9; 32]),
        funding: funding(state, owner, pay),
        owner_signature: Signature([0; 64]),
    });
    t.sign(&[owner], Some(owner)).unwrap();
    t
}

pub fn renewal(
    state: &ChainState,
    owner: &Keypair,
    contract: ContractId,
    extra: u64,
    pay: u64,
) -> Transaction {
    let mut t = Transaction::Renewal(ContractRenewal {
        contract,
        extra_secs: extra,
        funding: funding(state, owner, pay),
    });
    t.sign(&[owner], None).unwrap();
    t
}

pub fn payment_request(host: &Keypair, contract: ContractId, last_block: BlockHash) -> Transaction {
    let mut t = Transaction::PaymentRequest(PaymentRequest {
        contract,
        last_block,
        signature: Signature([0; 64]),
    });
    t.sign(&[], Some(host)).unwrap();
    t
}

pub fn contract_id(t: &Transaction) -> ContractId {
    ContractId(t.id().unwrap().0)
}

pub fn inputs(txs: Vec<Transaction>) -> ProposalInputs {
    ProposalInputs {
        candidates: txs,
        ..Default::default()
    }
}

/// Proposes with `txs` and inserts; returns the block (asserting every candidate made it).
pub fn mine(chain: &mut TestChain, farmers: &[Farmer], txs: Vec<Transaction>) -> Block {
    let n = txs.len();
    let b = next_block(chain, farmers, &inputs(txs), 0);
    let body = b
        .transactions
        .iter()
        .filter(|t| !matches!(t, Transaction::Coinbase(_) | Transaction::Nexus(_)))
        .count();
    assert_eq!(body, n, "a candidate was refused");
    chain.insert_block(b.clone(), NOW).unwrap();
    b
}

/// Total value of unspent outputs plus the nexus balance.
pub fn circulating(state: &ChainState) -> u128 {
    state
        .utxos()
        .map(|(_, o)| u128::from(o.value))
        .sum::<u128>()
        + u128::from(state.nexus_balance())
}
