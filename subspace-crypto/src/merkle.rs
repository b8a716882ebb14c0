//! Binary Merkle trees in the RFC 6962 shape, shared by the record layer's piece commitments
//! and the ledger's transaction root.
//!
//! Leaves are `SHA-256(0x00 ‖ data)` and inner nodes `SHA-256(0x01 ‖ left ‖ right)`, so a leaf
//! can never be read as a node. A node left without a partner at the end of a level is
//! promoted unchanged. Whoever cites a root also states the number of leaves `n`, so an
//! opening's shape is fixed by `(index, n)` and an index at or past `n` never verifies.
//!
//! ```
//! use subspace_crypto::merkle;
//! let leaves: Vec<_> = [b"a", b"b", b"c"].iter().map(|d| merkle::leaf(*d)).collect();
//! let root = merkle::root(&leaves).unwrap();
//! let path = merkle::path(&leaves, 2);
//! assert!(merkle::verify_path(&root, 3, 2, &leaves[2], &path));
//! assert!(!merkle::verify_path(&root, 3, 1, &leaves[2], &path));
//! ```

use crate::Hash256;
use crate::hash::sha256_parts;

/// Longest path accepted by [`verify_path`] (a tree of 2^32 leaves).
pub const MAX_PATH_LEN: usize = 32;

/// The hash of one leaf's data.
pub fn leaf(data: &[u8]) -> Hash256 {
    sha256_parts(&[&[0x00], data])
}

/// The hash of an inner node over its two children.
pub fn node(l: &Hash256, r: &Hash256) -> Hash256 {
    sha256_parts(&[&[0x01], l.as_bytes(), r.as_bytes()])
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

/// The siblings from leaf `index` up to the root of `leaves` (empty if out of range).
pub fn path(leaves: &[Hash256], index: usize) -> Vec<Hash256> {
    let mut out = Vec::new();
    if index >= leaves.len() {
        return out;
    }
    let mut level: Vec<Hash256> = leaves.to_vec();
    let mut i = index;
    while level.len() > 1 {
        if let Some(s) = level.get(i ^ 1) {
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
        if i ^ 1 < width {
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
    fn the_shape_is_the_definition() {
        let l: Vec<Hash256> = (0u8..3).map(|i| leaf(&[i])).collect();
        assert_eq!(root(&l[..1]), Some(l[0]));
        assert_eq!(root(&l), Some(node(&node(&l[0], &l[1]), &l[2])));
        assert_eq!(root(&[]), None);
        assert_ne!(leaf(&[]), Hash256::ZERO);
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
