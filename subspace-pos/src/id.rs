//! Plot ids and challenges: the two 32-byte inputs of the construction.

use serde::{Deserialize, Serialize};
use subspace_crypto::PublicKey;
use subspace_crypto::hash::blake3_parts;

/// Domain tag hashed in front of a host key when deriving plot ids.
const PLOT_ID_TAG: &[u8] = b"subspace/pos-plot-id/v1";

/// The 32-byte seed of one plot (chiapos's `plot_id`). It keys f1, so every plot is different.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PlotId([u8; 32]);

impl PlotId {
    /// The id of a host's plot number `index`: BLAKE3 of a tag, the host key and the index, so
    /// a proof from this plot is tied to the key that then signs the block.
    pub fn derive(host: &PublicKey, index: u64) -> PlotId {
        PlotId(blake3_parts(&[PLOT_ID_TAG, &host.to_bytes(), &index.to_le_bytes()]).to_bytes())
    }

    /// Wraps an id made elsewhere (for example a chiapos plot id).
    pub fn from_bytes(bytes: [u8; 32]) -> PlotId {
        PlotId(bytes)
    }

    /// The id's bytes, as chiapos takes them.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// Borrows the id's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl core::fmt::Debug for PlotId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PlotId({})", subspace_crypto::hex::encode(self.0))
    }
}

/// A 32-byte proof-of-space challenge. Its first k bits select f7 values; its last 5 bits
/// select which two x values make the quality string.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Challenge([u8; 32]);

impl Challenge {
    /// Wraps a challenge made elsewhere (a block hash, a pledge seed's derivation, chiapos's).
    pub fn from_bytes(bytes: [u8; 32]) -> Challenge {
        Challenge(bytes)
    }

    /// The challenge bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// Borrows the challenge bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first `k` bits, which an f7 output must equal.
    pub(crate) fn target(&self, k: u8) -> u64 {
        let mut head = [0u8; 8];
        head.copy_from_slice(&self.0[..8]);
        u64::from_be_bytes(head) >> (64 - u32::from(k))
    }

    /// The last 5 bits, which pick one of 32 leaf pairs for the quality string.
    pub(crate) fn quality_index(&self) -> usize {
        usize::from(self.0[31] & 0x1f)
    }
}

impl core::fmt::Debug for Challenge {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Challenge({})", subspace_crypto::hex::encode(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use subspace_crypto::Keypair;

    #[test]
    fn derive_separates_hosts_and_indices() {
        let a = Keypair::from_seed(&[1; 32]).public();
        let b = Keypair::from_seed(&[2; 32]).public();
        assert_ne!(PlotId::derive(&a, 0), PlotId::derive(&a, 1));
        assert_ne!(PlotId::derive(&a, 0), PlotId::derive(&b, 0));
        assert_eq!(PlotId::derive(&a, 7), PlotId::derive(&a, 7));
    }

    #[test]
    fn challenge_bits() {
        let mut c = [0u8; 32];
        c[0] = 0xab;
        c[1] = 0xcd;
        c[31] = 0xff;
        let c = Challenge::from_bytes(c);
        assert_eq!(c.target(12), 0xabc);
        assert_eq!(c.quality_index(), 31);
    }
}
