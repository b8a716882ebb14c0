#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod block;
pub mod chain;
pub mod consensus;
pub mod economics;
mod error;
pub mod genesis;
pub mod merkle;
pub mod params;
pub mod pos;
pub mod state;
pub mod store;
pub mod tx;

pub use block::{Block, BlockHeader};
pub use chain::{Accepted, Chain};
pub use economics::Cos;
pub use error::LedgerError;
pub use genesis::GenesisBuilder;
pub use params::ConsensusParams;
pub use pos::{ProofVerifier, SubspacePos};
pub use state::{ChainState, ProofAnswer, ProposalInputs, Undo};
pub use store::{ChainStore, MemoryChainStore};
pub use tx::{Address, Lock, OutPoint, Transaction, TxId, TxOut};

/// Result with this crate's error.
pub type Result<T, E = LedgerError> = core::result::Result<T, E>;
