//! The seam through which the node decides which replica announcements are true.

use subspace_crypto::{NodeId, RecordKey};

/// Decides whether a replica announcement carries a valid proof.
///
/// The node implements this from the record and ledger crates (a proof is typically a
/// host-signed receipt from a `put()` or `replicate()`), so this crate never parses proofs.
/// An accepted replica is kept for [`DhtConfig::replica_ttl`](crate::DhtConfig::replica_ttl)
/// after each announcement, so a proof buys a holder slot for one lifetime, not for good: a
/// proof its holder signed for itself can hold slots only while it keeps being re-announced.
/// Cache announcements are not passed here: they need no proof, expire after
/// [`DhtConfig::cache_ttl`](crate::DhtConfig::cache_ttl), and are only accepted from the
/// holder itself.
pub trait AnnounceValidator {
    /// Returns `true` when `proof` shows that `holder` holds a replica of `key`; `announcer`
    /// is the authenticated peer that sent the announce (the holder, or the coordinator of a
    /// put when it multi-announces for all replica holders).
    fn validate_replica(
        &self,
        key: &RecordKey,
        holder: &NodeId,
        announcer: &NodeId,
        proof: &[u8],
    ) -> bool;
}

/// A validator that rejects every replica announcement (cache announcements still work):
/// the safe choice for a node that cannot check proofs, such as a light client.
#[derive(Debug, Clone, Copy, Default)]
pub struct RejectReplicas;

impl AnnounceValidator for RejectReplicas {
    fn validate_replica(&self, _: &RecordKey, _: &NodeId, _: &NodeId, _: &[u8]) -> bool {
        false
    }
}

impl<T: AnnounceValidator + ?Sized> AnnounceValidator for &T {
    fn validate_replica(&self, k: &RecordKey, h: &NodeId, a: &NodeId, p: &[u8]) -> bool {
        (**self).validate_replica(k, h, a, p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reject_replicas_rejects() {
        let k = RecordKey::from_bytes([1; 32]);
        let n = NodeId::from_bytes([2; 32]);
        assert!(!RejectReplicas.validate_replica(&k, &n, &n, b"anything"));
    }
}
