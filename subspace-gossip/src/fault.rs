//! The seams through which the node checks what gossip cannot: fault proofs and pledges.

use subspace_crypto::{ContractId, NodeId, PublicKey};

/// Checks that opaque fault proof bytes really show `host` answering falsely (typically a
/// response signed by `host_key` that fails record or proof-of-replication validation). The
/// node implements it from the record and por crates; gossip only carries the bytes.
pub trait FaultValidator {
    /// Whether `proof` proves a fault by `host`.
    fn validate(&self, host: &NodeId, host_key: &PublicKey, proof: &[u8]) -> bool;
}

/// The default validator: accepts no fault (a node that cannot check proofs must not punish).
#[derive(Debug, Clone, Copy, Default)]
pub struct RejectAllFaults;

impl FaultValidator for RejectAllFaults {
    fn validate(&self, _: &NodeId, _: &PublicKey, _: &[u8]) -> bool {
        false
    }
}

/// The chain's word on what a member pledged. A join's `pledged_bytes` is only its signer's
/// claim: a node that runs a ledger installs an oracle ([`Gossip::with_pledges`]) so that
/// replica placement ([`Gossip::sample_weighted`]) weighs each member by its on-chain host
/// contract, and, when the pool is full, members the chain does not back are evicted first.
///
/// [`Gossip::with_pledges`]: crate::Gossip::with_pledges
/// [`Gossip::sample_weighted`]: crate::Gossip::sample_weighted
pub trait PledgeOracle {
    /// The weight of `host`, which joined naming host contract `contract` and claiming
    /// `claimed` bytes: the bytes its host contract pledges on chain, 0 when the chain holds
    /// no such contract of that host.
    fn weight(&self, host: &NodeId, contract: &ContractId, claimed: u64) -> u64;
}

/// The default oracle, for networks without a chain: every member weighs what it claims.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClaimedPledges;

impl PledgeOracle for ClaimedPledges {
    fn weight(&self, _: &NodeId, _: &ContractId, claimed: u64) -> u64 {
        claimed
    }
}
