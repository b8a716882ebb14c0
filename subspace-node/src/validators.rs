//! The layer-crossing checks the node implements: receipts as DHT announce proofs, signed
//! fetch replies as gossip fault proofs, and the client's check of what a host served.

use serde::{Deserialize, Serialize};
use subspace_crypto::{Hash256, NodeId, PublicKey, RecordKey, codec};
use subspace_dht::AnnounceValidator;
use subspace_gossip::FaultValidator;
use subspace_por::{PIECE_SIZE, Replica, ReplicaId};
use subspace_record::{Receipt, Record};

use crate::message::SignedFetchHeader;
use crate::pieces;
use crate::{NodeError, Result};

/// Largest served body a [`FaultProof::Body`] carries (gossip bounds a proof to 16 KiB);
/// larger bodies are disputed one piece at a time ([`FaultProof::Piece`]).
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

/// Evidence that a host answered a fetch wrongly or too late, checkable by anyone from the
/// host's own signature. Every variant fits a gossip fault statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FaultProof {
    /// A small served body (at most [`MAX_FAULT_BODY`] bytes) that fails [`check_served`]
    /// although it matches the host's signed header.
    Body {
        /// The host's signed claim.
        header: SignedFetchHeader,
        /// What it served.
        bytes: Vec<u8>,
    },
    /// One piece of a served body whose plaintext differs from the host's own signed
    /// commitment to that piece of the record (a copied, altered or lost replica).
    Piece {
        /// The host's signed claim.
        header: SignedFetchHeader,
        /// Which piece.
        index: u64,
        /// The piece as served.
        piece: Vec<u8>,
        /// Opens `header.served_root` at `index` to `piece`.
        served_path: Vec<Hash256>,
        /// The plaintext leaf the host committed to at `index`.
        record_leaf: Hash256,
        /// Opens `header.record_root` at `index` to `record_leaf`.
        record_path: Vec<Hash256>,
    },
    /// The host admits under its signature that it took the request before the requester's
    /// deadline and answered after it.
    Late {
        /// The host's signed claim.
        header: SignedFetchHeader,
    },
}

/// Checks what a host served for `key`: the bytes must match the signed header, and a replica
/// must decode under the host's own replica ids (the `subspace_por::verify` check, done with a
/// single decode) to plaintext matching the signed record root, which must be a record valid
/// under `key`. Returns the record and its bytes.
pub fn check_served(
    header: &SignedFetchHeader,
    bytes: &[u8],
    key: &RecordKey,
    layers: u32,
) -> Result<(Record, Vec<u8>)> {
    let invalid = |what: &str| NodeError::InvalidRecord(what.to_string());
    let h = &header.header;
    if h.key != *key
        || h.served_len != bytes.len() as u64
        || pieces::body_root(bytes) != h.served_root
    {
        return Err(invalid("reply does not match its signed header"));
    }
    let record_bytes = if h.is_replica {
        let replica = Replica::from_bytes(bytes.to_vec()).map_err(|_| invalid("not a replica"))?;
        let plain = replica
            .decode(&h.host, key.as_bytes(), layers)
            .map_err(|_| invalid("proof of replication failed"))?;
        if pieces::root(&pieces::padded_leaves(&plain)) != Some(h.record_root) {
            return Err(invalid("proof of replication failed"));
        }
        plain
    } else {
        if h.record_root != h.served_root {
            return Err(invalid("cached record does not match its root"));
        }
        bytes.to_vec()
    };
    let record = Record::decode(&record_bytes).map_err(|e| invalid(&e.to_string()))?;
    subspace_record::validate_at(&record, key).map_err(|e| invalid(&e.to_string()))?;
    Ok((record, record_bytes))
}

/// The plaintext of piece `index` of a served body: decoded under the host's replica id for a
/// replica, as is for a cached record.
fn plaintext_leaf(
    header: &SignedFetchHeader,
    index: u64,
    piece: &[u8],
    layers: u32,
) -> Option<Hash256> {
    let h = &header.header;
    if !h.is_replica {
        return Some(pieces::leaf(piece));
    }
    let mut p: [u8; PIECE_SIZE] = piece.try_into().ok()?;
    subspace_por::decode_piece(
        &mut p,
        &ReplicaId::new(&h.host, h.key.as_bytes(), index),
        layers,
    );
    Some(pieces::leaf(&p))
}

/// Builds the proof for a reply that failed [`check_served`] although its bytes match the
/// signed header: the whole body if small, else the first piece whose plaintext contradicts
/// the host's record leaves. `None` when no compact proof exists (the host's commitments agree
/// with what it served but the record is wrong, or its leaves do not match its root); the
/// client then only avoids the host.
pub fn build_fault_proof(
    header: &SignedFetchHeader,
    bytes: &[u8],
    record_leaves: &[Hash256],
    layers: u32,
) -> Option<FaultProof> {
    let h = &header.header;
    if h.served_len != bytes.len() as u64 || pieces::body_root(bytes) != h.served_root {
        return None;
    }
    if bytes.len() <= MAX_FAULT_BODY {
        return Some(FaultProof::Body {
            header: header.clone(),
            bytes: bytes.to_vec(),
        });
    }
    let n = pieces::leaf_count(bytes.len());
    if record_leaves.len() as u64 != n || pieces::root(record_leaves) != Some(h.record_root) {
        return None;
    }
    let served_leaves = pieces::leaves(bytes);
    let index = bytes
        .chunks(PIECE_SIZE)
        .zip(record_leaves)
        .enumerate()
        .find(|(i, (piece, leaf))| {
            plaintext_leaf(header, *i as u64, piece, layers).is_some_and(|l| l != **leaf)
        })
        .map(|(i, _)| i)?;
    let piece = bytes.chunks(PIECE_SIZE).nth(index)?.to_vec();
    Some(FaultProof::Piece {
        header: header.clone(),
        index: index as u64,
        piece,
        served_path: pieces::path(&served_leaves, index),
        record_leaf: *record_leaves.get(index)?,
        record_path: pieces::path(record_leaves, index),
    })
}

/// Accepts a [`FaultProof`] against `host` when the host really signed the header it cites
/// and the evidence contradicts it (or the host admits lateness).
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
        let header = match &p {
            FaultProof::Body { header, .. }
            | FaultProof::Piece { header, .. }
            | FaultProof::Late { header } => header,
        };
        let h = &header.header;
        if h.host != *host_key || host_key.node_id() != *host || header.verify().is_err() {
            return false;
        }
        match &p {
            FaultProof::Body { bytes, .. } => {
                bytes.len() <= MAX_FAULT_BODY
                    && h.served_len == bytes.len() as u64
                    && pieces::body_root(bytes) == h.served_root
                    && check_served(header, bytes, &h.key, self.layers).is_err()
            }
            FaultProof::Piece {
                index,
                piece,
                served_path,
                record_leaf,
                record_path,
                ..
            } => {
                let n = pieces::leaf_count(usize::try_from(h.served_len).unwrap_or(usize::MAX));
                let piece_size = PIECE_SIZE as u64;
                let expected = h
                    .served_len
                    .saturating_sub(index.saturating_mul(piece_size))
                    .min(piece_size);
                // A replica is whole pieces; the last piece of a cached body may be short.
                piece.len() as u64 == expected
                    && (!h.is_replica || expected == piece_size)
                    && pieces::verify_path(
                        &h.served_root,
                        n,
                        *index,
                        &pieces::leaf(piece),
                        served_path,
                    )
                    && pieces::verify_path(&h.record_root, n, *index, record_leaf, record_path)
                    && plaintext_leaf(header, *index, piece, self.layers)
                        .is_some_and(|l| l != *record_leaf)
            }
            FaultProof::Late { .. } => h.admits_lateness(),
        }
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
