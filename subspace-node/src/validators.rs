//! The layer-crossing checks the node implements: receipts as DHT announce proofs, signed
//! fetch replies as gossip fault proofs, and the client's check of what a host served.

use serde::{Deserialize, Serialize};
use subspace_crypto::{NodeId, PublicKey, RecordKey, codec, hash};
use subspace_dht::AnnounceValidator;
use subspace_gossip::FaultValidator;
use subspace_por::Replica;
use subspace_record::{Receipt, Record};

use crate::message::SignedFetchHeader;
use crate::{NodeError, Result};

/// Largest served body a fault proof carries (gossip bounds a proof to 16 KiB).
pub const MAX_FAULT_BODY: usize = 12 * 1024;

/// Accepts a replica announcement when its proof is the holder's own valid receipt for the key.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReceiptValidator;

impl AnnounceValidator for ReceiptValidator {
    fn validate_replica(&self, key: &RecordKey, holder: &NodeId, _: &NodeId, proof: &[u8]) -> bool {
        Receipt::decode(proof)
            .is_ok_and(|r| r.record() == key && r.host_id() == *holder && r.verify().is_ok())
    }
}

/// Evidence that a host served something wrong: its signed claim and the bytes it served.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultProof {
    /// The host's signed claim.
    pub header: SignedFetchHeader,
    /// What it served (at most [`MAX_FAULT_BODY`] bytes).
    pub bytes: Vec<u8>,
}

/// Checks what a host served for `key`: the replica must decode under the host's own replica
/// ids (`subspace_por::verify`) to a record that validates under `key`. Returns the record.
pub fn check_served(
    header: &SignedFetchHeader,
    bytes: &[u8],
    key: &RecordKey,
    layers: u32,
) -> Result<(Record, Vec<u8>)> {
    let invalid = |what: &str| NodeError::InvalidRecord(what.to_string());
    let h = &header.header;
    if h.key != *key || hash::sha256(bytes) != h.served_hash {
        return Err(invalid("reply does not match its signed header"));
    }
    let record_bytes = if h.is_replica {
        let replica = Replica::from_bytes(bytes.to_vec()).map_err(|_| invalid("not a replica"))?;
        subspace_por::verify(&replica, &h.host, key.as_bytes(), layers, &h.record_hash)
            .map_err(|_| invalid("proof of replication failed"))?;
        replica
            .decode(&h.host, key.as_bytes(), layers)
            .map_err(|_| invalid("proof of replication failed"))?
    } else {
        if hash::sha256(bytes) != h.record_hash {
            return Err(invalid("cached record does not match its hash"));
        }
        bytes.to_vec()
    };
    let record = Record::decode(&record_bytes).map_err(|e| invalid(&e.to_string()))?;
    subspace_record::validate_at(&record, key).map_err(|e| invalid(&e.to_string()))?;
    Ok((record, record_bytes))
}

/// Accepts a fault when the host really signed a reply whose bytes fail [`check_served`].
#[derive(Clone, Copy, Debug)]
pub struct FetchFaultValidator {
    /// The network's Sloth layer count.
    pub layers: u32,
}

impl FaultValidator for FetchFaultValidator {
    fn validate(&self, host: &NodeId, host_key: &PublicKey, proof: &[u8]) -> bool {
        let Ok(p) = codec::decode::<FaultProof>(proof) else {
            return false;
        };
        p.header.header.host == *host_key
            && host_key.node_id() == *host
            && p.header.verify().is_ok()
            && hash::sha256(&p.bytes) == p.header.header.served_hash
            && check_served(&p.header, &p.bytes, &p.header.header.key, self.layers).is_err()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn hostile_proofs_never_panic_and_are_never_accepted(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let kp = subspace_crypto::Keypair::from_seed(&[4; 32]);
            let v = FetchFaultValidator { layers: 1 };
            prop_assert!(!v.validate(&kp.node_id(), &kp.public(), &bytes));
            let _ = codec::decode::<FaultProof>(&bytes);
            prop_assert!(!ReceiptValidator.validate_replica(
                &RecordKey::from_bytes([1; 32]),
                &kp.node_id(),
                &kp.node_id(),
                &bytes
            ));
        }
    }
}
