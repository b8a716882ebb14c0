//! The seam through which the node checks fault proofs.

use subspace_crypto::{NodeId, PublicKey};

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
