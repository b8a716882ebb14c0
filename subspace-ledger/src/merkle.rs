//! The transactions' Merkle root.
//!
//! RFC 6962 shape: leaf = SHA-256(0x00 ‖ txid), node = SHA-256(0x01 ‖ left ‖ right), an odd
//! node is promoted unchanged. The prefixes keep a leaf from posing as a node, and promotion
//! (instead of Bitcoin's duplication) means two different lists never share a root.

use subspace_crypto::{Hash256, merkle};

use crate::tx::TxId;

/// Merkle root of a list of transaction ids; the empty list gives [`Hash256::ZERO`].
pub fn merkle_root(ids: &[TxId]) -> Hash256 {
    let leaves: Vec<Hash256> = ids.iter().map(|id| merkle::leaf(id.0.as_bytes())).collect();
    merkle::root(&leaves).unwrap_or(Hash256::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;
    use subspace_crypto::hash;

    fn id(n: u8) -> TxId {
        TxId(Hash256([n; 32]))
    }

    #[test]
    fn structure_matches_the_definition() {
        let leaf = |n| hash::sha256_parts(&[&[0u8], &[n; 32]]);
        let node =
            |l: Hash256, r: Hash256| hash::sha256_parts(&[&[1u8], l.as_bytes(), r.as_bytes()]);
        assert_eq!(merkle_root(&[id(1)]), leaf(1));
        assert_eq!(merkle_root(&[id(1), id(2)]), node(leaf(1), leaf(2)));
        assert_eq!(
            merkle_root(&[id(1), id(2), id(3)]),
            node(node(leaf(1), leaf(2)), leaf(3))
        );
        // Duplicating the last id changes the root (no CVE-2012-2459 collision).
        assert_ne!(
            merkle_root(&[id(1), id(2), id(3), id(3)]),
            merkle_root(&[id(1), id(2), id(3)])
        );
        assert_ne!(merkle_root(&[id(2), id(1)]), merkle_root(&[id(1), id(2)]));
    }

    #[test]
    fn golden_root() {
        // Computed independently (Python hashlib) from the definition in the module docs.
        let root = merkle_root(&[id(1), id(2), id(3)]);
        assert_eq!(
            root.to_string(),
            "df896896c799531f1fd1e556cea26a6989ab06853bcbfdd3e4f5097a611f658f"
        );
    }
}
