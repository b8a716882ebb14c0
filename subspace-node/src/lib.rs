#![doc = include_str!("../README.md")]

pub mod archive;
pub mod cache;
pub mod chain;
pub mod chain_store;
pub mod clock;
pub mod config;
pub mod contract_state;
pub mod contracts;
pub mod control;
pub mod disk;
pub mod error;
pub mod genesis;
pub mod host;
pub mod ledger;
pub mod mem_transport;
pub mod message;
pub mod node;
pub mod pieces;
pub mod store;
pub mod tcp_transport;
pub mod transport;
pub mod validators;

pub use cache::RecordCache;
pub use chain::{ChainConfig, ChainMessage, ChainService, ChainStats};
pub use chain_store::{DynChainStore, RedbChainStore};
pub use clock::{Clock, ManualClock, SystemClock};
pub use contract_state::ContractState;
pub use contracts::{ChainContracts, ChainLedger, ContractTerms, UsageClaim};
pub use disk::{DiskStore, DiskStoreConfig, Recovery, VerifyReport};
pub use error::{NodeError, Result};
pub use genesis::NetworkGenesis;
pub use host::{Completion, Host, HostConfig, HostStats, OpId, OwnedContractStatus};
pub use ledger::{ContractLedger, MemoryLedger};
pub use mem_transport::{LinkConfig, MemNetwork, MemTransport, NetStats};
pub use message::{Message, NodeMessage, PutStep};
pub use node::{ChainStatus, Node, NodeBuilder, NodeHandle, NodeStatus};
pub use store::{MemoryStore, RecordStore, StoredEntry, Usage};
pub use tcp_transport::{TcpConfig, TcpDialer, TcpTransport};
pub use transport::{Transport, TransportEvent};
pub use validators::{
    FaultProof, FetchFaultValidator, ReceiptValidator, build_fault_proof, check_served,
};
