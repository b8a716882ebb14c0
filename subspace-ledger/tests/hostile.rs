//! Hostile blocks are refused with their typed error, and leave the state untouched.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers of a test file

use crate::common;

use common::*;
use subspace_crypto::Keypair;
use subspace_ledger::economics::Cos;
use subspace_ledger::{Block, ConsensusParams, LedgerError, Transaction};

fn setup() -> (TestChain, Vec<Farmer>, Block, ConsensusParams) {
    let farmers = vec![farmer(1, 4), farmer(2, 4)];
    let params = params();
    let alice = Keypair::from_seed(&[50; 32]);
    let g = genesis(&params, &[&alice]);
    let mut chain = new_chain(&g, &params, ModelPos::new(&farmers));
    mine(
        &mut chain,
        &farmers,
        vec![host_contract(
            &Keypair::from_seed(&[60; 32]),
            1 << 40,
            3600,
            1,
        )],
    );
    let t = transfer(
        chain.state(),
        &alice,
        &Keypair::from_seed(&[51; 32]).public(),
        1000,
    );
    let b = next_block(&mut chain, &farmers, &inputs(vec![t]), 0);
    (chain, farmers, b, params)
}

/// Applies `edit` to a copy of the valid block, re-signs it (and recomputes the Merkle root
/// unless `keep_root`), and expects `err`.
fn expect(edit: impl Fn(&mut Block), keep_root: bool, now: u64, err: LedgerError) {
    let (mut chain, farmers, good, _) = setup();
    let mut b = good.clone();
    edit(&mut b);
    if !keep_root {
        b.header.tx_root = subspace_ledger::merkle::merkle_root(&b.tx_ids().unwrap());
    }
    let kp = &farmers
        .iter()
        .find(|f| f.kp.public() == b.header.farmer)
        .unwrap()
        .kp;
    b.header.sign(kp).unwrap();
    let before = chain.state().clone();
    assert_eq!(chain.insert_block(b, now), Err(err));
    assert_eq!(chain.state(), &before);
    // The untouched block is still accepted.
    chain.insert_block(good, NOW).unwrap();
}

#[test]
fn bad_proof() {
    expect(
        |b| b.header.proof = 99u64.to_be_bytes().to_vec(),
        false,
        NOW,
        LedgerError::BadProof,
    );
    expect(
        |b| b.header.quality[31] ^= 1,
        false,
        NOW,
        LedgerError::BadProof,
    );
    expect(|b| b.header.k -= 1, false, NOW, LedgerError::BadProof);
}

#[test]
fn wrong_cos() {
    expect(
        |b| b.header.cos = b.header.cos.map(|c| Cos(c.0 + 1)),
        false,
        NOW,
        LedgerError::BadCos,
    );
    expect(|b| b.header.cos = None, false, NOW, LedgerError::BadCos);
    // Claiming more stored bytes than the data contracts reserve.
    expect(
        |b| b.header.stored_bytes = 1,
        false,
        NOW,
        LedgerError::BadCos,
    );
}

#[test]
fn bad_merkle_root() {
    expect(
        |b| b.header.tx_root.0[0] ^= 1,
        true,
        NOW,
        LedgerError::BadMerkleRoot,
    );
    expect(
        |b| {
            b.transactions.swap(0, 1);
        },
        true,
        NOW,
        LedgerError::BadMerkleRoot,
    );
}

#[test]
fn future_timestamp() {
    let (_, _, good, params) = setup();
    let now = good.header.timestamp - params.max_future_drift_secs - 1;
    expect(|_| {}, false, now, LedgerError::FutureTimestamp);
}

#[test]
fn timestamp_before_the_deadline() {
    let (chain, _, _, _) = setup();
    let parent_ts = chain.state().tip().timestamp;
    expect(
        move |b| b.header.timestamp = parent_ts,
        false,
        NOW,
        LedgerError::TooEarly,
    );
}

#[test]
fn inflated_coinbase() {
    expect(
        |b| {
            if let Transaction::Coinbase(c) = &mut b.transactions[0] {
                c.outputs[0].value += 1;
            }
        },
        false,
        NOW,
        LedgerError::BadCoinbase("pays more than reward plus fees"),
    );
    expect(
        |b| {
            b.transactions.remove(0);
        },
        false,
        NOW,
        LedgerError::BadCoinbase("first transaction must be the coinbase"),
    );
}

#[test]
fn wrong_challenge_difficulty_height_and_signature() {
    expect(
        |b| b.header.challenge[0] ^= 1,
        false,
        NOW,
        LedgerError::BadChallenge,
    );
    expect(
        |b| b.header.difficulty += 1,
        false,
        NOW,
        LedgerError::BadDifficulty,
    );
    expect(|b| b.header.height += 1, false, NOW, LedgerError::BadHeight);
    let (mut chain, _, good, _) = setup();
    let mut b = good.clone();
    b.header.signature.0[0] ^= 1;
    assert_eq!(chain.insert_block(b, NOW), Err(LedgerError::BadSignature));
    // A signature by someone other than the named farmer.
    let mut c = good.clone();
    c.header.sign(&Keypair::from_seed(&[99; 32])).unwrap();
    assert_eq!(chain.insert_block(c, NOW), Err(LedgerError::BadSignature));
}

#[test]
fn hostile_bytes_decode_to_typed_errors() {
    let (_, _, good, _) = setup();
    let bytes = good.encode().unwrap();
    assert_eq!(Block::decode(&bytes).unwrap(), good);
    for cut in [0, 1, 10, bytes.len() / 2, bytes.len() - 1] {
        assert!(matches!(
            Block::decode(&bytes[..cut]),
            Err(LedgerError::Decode(_))
        ));
    }
    // A length prefix claiming 2^62 transactions is refused without allocating.
    let mut huge = bytes.clone();
    let hdr_len = subspace_crypto::codec::encode(&good.header).unwrap().len();
    huge[hdr_len..hdr_len + 8].copy_from_slice(&(1u64 << 62).to_be_bytes());
    assert!(matches!(Block::decode(&huge), Err(LedgerError::Decode(_))));
}
