//! Piece commitments: a Merkle tree over the 4 KiB pieces of a replica or a record, so a host's
//! signature over one root commits it to every piece and a single disputed piece can be proven
//! with a short path instead of the whole body.
//!
//! Leaves are `SHA-256(0x00 || piece)`, inner nodes `SHA-256(0x01 || left || right)`; a node
//! left without a partner at the end of a level is promoted unchanged. The number of leaves is
//! part of every statement that cites a root, so an opening's shape is fixed by `(index, n)` and
//! an index at or past `n` never verifies. The empty body has one empty piece.

use subspace_crypto::{Hash256, hash::sha256_parts};
use subspace_por::PIECE_SIZE;

/// Longest path a proof may carry (2^32 pieces is far beyond any record).
pub const MAX_PATH_LEN: usize = 32;

/// The hash of one piece (the last piece of a body may be shorter than [`PIECE_SIZE`]).
pub fn leaf(piece: &[u8]) -> Hash256 {
    sha256_parts(&[&[0x00], piece])
}

fn node(l: &Hash256, r: &Hash256) -> Hash256 {
    sha256_parts(&[&[0x01], l.as_bytes(), r.as_bytes()])
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

/// The root over `leaves` (`None` for no leaves).
pub fn root(leaves: &[Hash256]) -> Option<Hash256> {
    let mut level: Vec<Hash256> = leaves.to_vec();
    if level.is_empty() {
        return None;
    }
    while level.len() > 1 {
        level = parent_level(&level);
    }
    level.first().copied()
}

fn parent_level(level: &[Hash256]) -> Vec<Hash256> {
    level
        .chunks(2)
        .map(|p| match p {
            [l, r] => node(l, r),
            // `chunks` never yields an empty slice: this is the promoted last node.
            _ => p[0],
        })
        .collect()
}

/// The root over the pieces of `body`.
pub fn body_root(body: &[u8]) -> Hash256 {
    root(&leaves(body)).unwrap_or_else(|| leaf(&[]))
}

/// The siblings from leaf `index` up to the root of `leaves` (empty if out of range).
pub fn path(leaves: &[Hash256], index: usize) -> Vec<Hash256> {
    let mut out = Vec::new();
    if index >= leaves.len() {
        return out;
    }
    let mut level: Vec<Hash256> = leaves.to_vec();
    let mut i = index;
    while level.len() > 1 {
        let sibling = i ^ 1;
        if let Some(s) = level.get(sibling) {
            out.push(*s);
        }
        level = parent_level(&level);
        i /= 2;
    }
    out
}

/// Whether `path` opens leaf `index` of a tree of `n` leaves with root `root` to `leaf`.
pub fn verify_path(root: &Hash256, n: u64, index: u64, leaf: &Hash256, path: &[Hash256]) -> bool {
    if index >= n || path.len() > MAX_PATH_LEN {
        return false;
    }
    let (mut i, mut width, mut acc) = (index, n, *leaf);
    let mut siblings = path.iter();
    while width > 1 {
        let has_sibling = i ^ 1 < width;
        if has_sibling {
            let Some(s) = siblings.next() else {
                return false;
            };
            acc = if i % 2 == 0 {
                node(&acc, s)
            } else {
                node(s, &acc)
            };
        }
        i /= 2;
        width = width.div_ceil(2);
    }
    siblings.next().is_none() && acc == *root
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn golden_roots() {
        // One piece: the root is its leaf.
        assert_eq!(body_root(b"abc"), leaf(b"abc"));
        // Three pieces: ((a b) c), with c promoted.
        let body = vec![7u8; 2 * PIECE_SIZE + 1];
        let l = leaves(&body);
        assert_eq!(l.len(), 3);
        assert_eq!(body_root(&body), node(&node(&l[0], &l[1]), &l[2]));
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

    proptest! {
        #[test]
        fn every_leaf_opens_and_no_other_position_does(n in 1usize..40, pick in 0usize..40) {
            let leaves: Vec<Hash256> = (0..n).map(|i| leaf(&(i as u32).to_be_bytes())).collect();
            let r = root(&leaves).unwrap();
            let i = pick % n;
            let p = path(&leaves, i);
            prop_assert!(verify_path(&r, n as u64, i as u64, &leaves[i], &p));
            // The same opening at another position, for another size, or past the end fails.
            for j in 0..n + 2 {
                if j != i {
                    prop_assert!(!verify_path(&r, n as u64, j as u64, &leaves[i], &p));
                }
            }
            prop_assert!(!verify_path(&r, n as u64, i as u64, &leaf(b"other"), &p));
        }
    }
}
