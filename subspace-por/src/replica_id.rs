//! The replica id: what makes each host's copy of each piece different.

use subspace_crypto::PublicKey;
use subspace_crypto::hash::sha256_parts;

/// Seed of one piece's encoding chain: SHA-256(host public key ‖ record key ‖ piece index as
/// 8 big-endian bytes).
///
/// Two hosts holding the same record get unrelated ids for every piece, so one host's encoded
/// copy cannot be turned into another's without decoding and re-encoding it (the slow way).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReplicaId([u8; 32]);

impl ReplicaId {
    /// The id of piece `piece_index` of the record `record_key` as held by `host`.
    pub fn new(host: &PublicKey, record_key: &[u8; 32], piece_index: u64) -> ReplicaId {
        let h = sha256_parts(&[&host.to_bytes(), record_key, &piece_index.to_be_bytes()]);
        ReplicaId(h.to_bytes())
    }

    /// Wraps 32 raw bytes as an id (for callers that derive ids their own way, and for tests).
    pub fn from_bytes(bytes: [u8; 32]) -> ReplicaId {
        ReplicaId(bytes)
    }

    /// The 32 bytes of the id; they seed the chain as a little-endian 256-bit integer.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl core::fmt::Debug for ReplicaId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ReplicaId({})", subspace_crypto::hex::encode(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use subspace_crypto::Keypair;

    #[test]
    fn every_input_changes_the_id() {
        let a = Keypair::from_seed(&[1; 32]).public();
        let b = Keypair::from_seed(&[2; 32]).public();
        let base = ReplicaId::new(&a, &[9; 32], 0);
        assert_ne!(base, ReplicaId::new(&b, &[9; 32], 0));
        assert_ne!(base, ReplicaId::new(&a, &[8; 32], 0));
        assert_ne!(base, ReplicaId::new(&a, &[9; 32], 1));
        assert_eq!(base, ReplicaId::new(&a, &[9; 32], 0));
    }
}
