//! Named hash helpers: SHA-256 where the whitepaper fixes it (addresses, record keys) and
//! BLAKE3 everywhere speed matters and no external format is fixed.

use sha2::{Digest, Sha256};

use crate::ids::Hash256;

/// SHA-256 of `data`.
///
/// ```
/// let h = subspace_crypto::hash::sha256(b"abc");
/// assert_eq!(h.to_string(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
/// ```
pub fn sha256(data: &[u8]) -> Hash256 {
    Hash256(Sha256::digest(data).into())
}

/// SHA-256 over the concatenation of `parts`, without building the concatenation.
pub fn sha256_parts(parts: &[&[u8]]) -> Hash256 {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    Hash256(h.finalize().into())
}

/// BLAKE3 of `data`.
pub fn blake3(data: &[u8]) -> Hash256 {
    Hash256(*blake3::hash(data).as_bytes())
}

/// BLAKE3 over the concatenation of `parts`.
pub fn blake3_parts(parts: &[&[u8]]) -> Hash256 {
    let mut h = blake3::Hasher::new();
    for p in parts {
        h.update(p);
    }
    Hash256(*h.finalize().as_bytes())
}

/// An incremental BLAKE3 hasher, for data that arrives in pieces (files, streams).
pub use blake3::Hasher as Blake3Hasher;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        // FIPS 180-2 example and the BLAKE3 hash of the empty input.
        assert_eq!(
            sha256(b"").to_string(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            blake3(b"").to_string(),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
        assert_eq!(sha256_parts(&[b"a", b"bc"]), sha256(b"abc"));
        assert_eq!(blake3_parts(&[b"a", b"bc"]), blake3(b"abc"));
    }
}
