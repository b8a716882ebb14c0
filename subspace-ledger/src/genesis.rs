//! The genesis block: pre-farmed credits (the whitepaper's bootstrap reserve).

use subspace_crypto::{BlockHash, Keypair, PublicKey, Signature};

use crate::block::{Block, BlockHeader};
use crate::merkle::merkle_root;
use crate::params::ConsensusParams;
use crate::tx::{Coinbase, Transaction, TxOut};
use crate::{LedgerError, Result};

/// Builds a network's genesis block.
///
/// The genesis coinbase may pay any amount (the bootstrap reserve the whitepaper's gateway
/// nodes pre-farm); every later coinbase is capped at reward plus fees.
#[derive(Clone, Debug)]
pub struct GenesisBuilder {
    timestamp: u64,
    seed: [u8; 32],
    allocations: Vec<TxOut>,
}

impl GenesisBuilder {
    /// A genesis at `timestamp` (Unix seconds); `seed` becomes its quality, so it fixes the
    /// first challenges (choose it after the network's parameters are public).
    pub fn new(timestamp: u64, seed: [u8; 32]) -> GenesisBuilder {
        GenesisBuilder {
            timestamp,
            seed,
            allocations: Vec::new(),
        }
    }

    /// Pre-farms `value` credits to the holder of `to`.
    pub fn allocate(mut self, to: &PublicKey, value: u64) -> GenesisBuilder {
        self.allocations.push(TxOut::to_key(value, to));
        self
    }

    /// Builds the genesis block, signed by the network's bootstrap key.
    pub fn build(self, params: &ConsensusParams, bootstrap: &Keypair) -> Result<Block> {
        params.check()?;
        if self.allocations.is_empty() || self.allocations.iter().any(|o| o.value == 0) {
            return Err(LedgerError::Malformed("genesis needs non-zero allocations"));
        }
        crate::tx::sum_outputs(&self.allocations)?;
        let cb = Transaction::Coinbase(Coinbase {
            height: 0,
            outputs: self.allocations,
        });
        let mut header = BlockHeader {
            parent: BlockHash::default(),
            height: 0,
            timestamp: self.timestamp,
            challenge: [0; 32],
            difficulty: params.initial_difficulty,
            farmer: bootstrap.public(),
            plot_index: 0,
            k: 0,
            proof: Vec::new(),
            quality: self.seed,
            tx_root: merkle_root(&[cb.id()?]),
            cos: None,
            stored_bytes: 0,
            signature: Signature([0; 64]),
        };
        header.sign(bootstrap)?;
        Ok(Block {
            header,
            transactions: vec![cb],
        })
    }
}
