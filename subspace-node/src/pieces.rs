//! Piece commitments: a Merkle tree over the 4 KiB pieces of a replica or a record, so a host's
//! signature over one root commits it to every piece and a single disputed piece can be proven
//! with a short path instead of the whole body.
//!
//! The tree is [`subspace_crypto::merkle`]'s (RFC 6962 shape: leaves `SHA-256(0x00 || piece)`,
//! inner nodes `SHA-256(0x01 || left || right)`, an unpaired last node promoted). The number of
//! leaves is part of every statement that cites a root, so an opening's shape is fixed by
//! `(index, n)` and an index at or past `n` never verifies. The empty body has one empty piece.

use subspace_crypto::{Hash256, merkle};
use subspace_por::PIECE_SIZE;

pub use merkle::{MAX_PATH_LEN, path, root, verify_path};

/// The hash of one piece (the last piece of a body may be shorter than [`PIECE_SIZE`]).
pub fn leaf(piece: &[u8]) -> Hash256 {
    merkle::leaf(piece)
}

/// The leaves of `body`: one per [`PIECE_SIZE`] chunk (one empty leaf for an empty body).
pub fn leaves(body: &[u8]) -> Vec<Hash256> {
    if body.is_empty() {
        return vec![leaf(&[])];
    }
    body.chunks(PIECE_SIZE).map(leaf).collect()
}

/// The leaves of `record` padded as `subspace-por` pads it before encoding
/// ([`subspace_por::padded_last_piece`]: `0x80`, then zeros
/// to whole pieces, always at least one padding byte): piece `i` of a host's replica decodes to
/// the plaintext under leaf `i`.
pub fn padded_leaves(record: &[u8]) -> Vec<Hash256> {
    let mut out: Vec<Hash256> = record.chunks_exact(PIECE_SIZE).map(leaf).collect();
    out.push(leaf(&subspace_por::padded_last_piece(record)));
    out
}

/// The number of leaves of a body of `len` bytes.
pub fn leaf_count(len: usize) -> u64 {
    len.div_ceil(PIECE_SIZE).max(1) as u64
}

/// The root over the pieces of `body`.
pub fn body_root(body: &[u8]) -> Hash256 {
    root(&leaves(body)).unwrap_or_else(|| leaf(&[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_roots() {
        // One piece: the root is its leaf.
        assert_eq!(body_root(b"abc"), leaf(b"abc"));
        // Three pieces: ((a b) c), with c promoted.
        let body = vec![7u8; 2 * PIECE_SIZE + 1];
        let l = leaves(&body);
        assert_eq!(l.len(), 3);
        assert_eq!(
            body_root(&body),
            merkle::node(&merkle::node(&l[0], &l[1]), &l[2])
        );
        assert_eq!(
            subspace_crypto::hex::encode(leaf(&[]).as_bytes()),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
    }

    #[test]
    fn padded_leaves_are_the_leaves_of_a_decoded_replica_piece_by_piece() {
        let host = subspace_crypto::Keypair::from_seed(&[9; 32]).public();
        for len in [0, 1, PIECE_SIZE - 1, PIECE_SIZE, PIECE_SIZE + 5] {
            let record = vec![0x5A; len];
            let replica = subspace_por::encode(&record, &host, &[3; 32], 1).unwrap();
            let mut plain = Vec::new();
            for (i, p) in replica.as_bytes().chunks(PIECE_SIZE).enumerate() {
                let mut piece: [u8; PIECE_SIZE] = p.try_into().unwrap();
                let id = subspace_por::ReplicaId::new(&host, &[3; 32], i as u64);
                subspace_por::decode_piece(&mut piece, &id, 1);
                plain.push(leaf(&piece));
            }
            assert_eq!(padded_leaves(&record), plain, "len {len}");
        }
    }
}
