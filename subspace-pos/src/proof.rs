//! Proofs (64 x values in chiapos's proof ordering) and quality strings.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::bits::{BitWriter, read_bits};
use crate::constants::{MAX_K, MIN_K, PROOF_XS};
use crate::error::PosError;
use crate::id::Challenge;

/// A proof of space: 64 k-bit x values in proof ordering (chiapos's `get_full_proof` order:
/// each adjacent pair matches, left before right, up the tree).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "ProofWire", try_from = "ProofWire")]
pub struct Proof {
    k: u8,
    xs: Vec<u32>,
}

/// What goes on the wire: k and chiapos's proof bytes, validated on decode.
#[derive(Serialize, Deserialize)]
struct ProofWire {
    k: u8,
    bytes: Vec<u8>,
}

impl From<Proof> for ProofWire {
    fn from(p: Proof) -> ProofWire {
        ProofWire {
            k: p.k,
            bytes: p.to_bytes(),
        }
    }
}

impl TryFrom<ProofWire> for Proof {
    type Error = PosError;
    fn try_from(w: ProofWire) -> Result<Proof, PosError> {
        Proof::from_bytes(&w.bytes, w.k)
    }
}

impl Proof {
    /// Builds a proof from x values in proof ordering; `None` unless there are 64 values
    /// that each fit in k bits and k is supported.
    pub fn from_xs(k: u8, xs: &[u64]) -> Option<Proof> {
        if !(MIN_K..=MAX_K).contains(&k) || xs.len() != PROOF_XS {
            return None;
        }
        let xs: Option<Vec<u32>> = xs
            .iter()
            .map(|&x| {
                if x >> k == 0 {
                    u32::try_from(x).ok()
                } else {
                    None
                }
            })
            .collect();
        Some(Proof { k, xs: xs? })
    }

    /// Decodes chiapos's proof bytes (64 k-bit values, big-endian, 8k bytes in all).
    pub fn from_bytes(bytes: &[u8], k: u8) -> Result<Proof, PosError> {
        if !(MIN_K..=MAX_K).contains(&k) {
            return Err(PosError::UnsupportedK(k));
        }
        if bytes.len() != 8 * usize::from(k) {
            return Err(PosError::ProofLength {
                k,
                got: bytes.len(),
            });
        }
        let kb = u64::from(k);
        // Each value fits in 32 bits because k <= 32.
        let xs = (0..PROOF_XS as u64)
            .map(|i| read_bits(bytes, i * kb, u32::from(k)) as u32)
            .collect();
        Ok(Proof { k, xs })
    }

    /// chiapos's proof bytes: the 64 x values as k-bit big-endian fields (8k bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![0u8; 8 * usize::from(self.k)];
        let mut w = BitWriter::new();
        let mut at = 0;
        // Eight x values are k bytes exactly, so write in groups of eight.
        for group in self.xs.chunks(8) {
            w.reset();
            for &x in group {
                w.put(u128::from(x), u32::from(self.k));
            }
            let b = w.bytes();
            out[at..at + b.len()].copy_from_slice(b);
            at += b.len();
        }
        out
    }

    /// The space parameter this proof is for.
    pub fn k(&self) -> u8 {
        self.k
    }

    /// The 64 x values in proof ordering.
    pub fn xs(&self) -> &[u32] {
        &self.xs
    }
}

impl core::fmt::Debug for Proof {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "Proof(k={}, {})",
            self.k,
            subspace_crypto::hex::encode(self.to_bytes())
        )
    }
}

/// chiapos's quality string: SHA-256 of the challenge and two adjacent x values in plot
/// ordering. Lower is better when qualities compete ([`Ord`] compares the bytes).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Quality([u8; 32]);

impl Quality {
    /// The 32-byte quality string, as chiapos returns it.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// Wraps a quality string computed elsewhere.
    pub fn from_bytes(bytes: [u8; 32]) -> Quality {
        Quality(bytes)
    }

    /// The quality of leaf pair `(x_low, x_high)` (already in plot ordering) for a challenge.
    pub(crate) fn from_pair(k: u8, challenge: &Challenge, x_low: u64, x_high: u64) -> Quality {
        let mut w = BitWriter::new();
        w.put(u128::from(x_low), u32::from(k));
        w.put(u128::from(x_high), u32::from(k));
        let mut h = Sha256::new();
        h.update(challenge.as_bytes());
        h.update(w.bytes());
        Quality(h.finalize().into())
    }

    /// The quality of a proof in proof ordering (chiapos `GetQualityString`).
    pub(crate) fn of_proof(proof: &Proof, challenge: &Challenge) -> Quality {
        let mut xs = [0u32; PROOF_XS];
        xs.copy_from_slice(&proof.xs);
        // Proof ordering to plot ordering: at every level, the subtree whose values compare
        // smaller from the last value backwards goes first.
        let mut size = 1;
        while size < PROOF_XS {
            for j in (0..PROOF_XS).step_by(2 * size) {
                let (l, r) = xs[j..j + 2 * size].split_at(size);
                if !l.iter().rev().lt(r.iter().rev()) {
                    let mut tmp = [0u32; PROOF_XS / 2];
                    tmp[..size].copy_from_slice(l);
                    xs.copy_within(j + size..j + 2 * size, j);
                    xs[j + size..j + 2 * size].copy_from_slice(&tmp[..size]);
                }
            }
            size *= 2;
        }
        let i = challenge.quality_index() * 2;
        Quality::from_pair(proof.k, challenge, u64::from(xs[i]), u64::from(xs[i + 1]))
    }
}

impl core::fmt::Debug for Quality {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Quality({})", subspace_crypto::hex::encode(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn bytes_round_trip(k in MIN_K..=MAX_K, seed in any::<[u64; 4]>()) {
            let xs: Vec<u64> = (0..64u64)
                .map(|i| (seed[(i % 4) as usize].rotate_left(i as u32) ^ i.wrapping_mul(0x9e37)) & ((1 << k) - 1))
                .collect();
            let p = Proof::from_xs(k, &xs).unwrap();
            let b = p.to_bytes();
            prop_assert_eq!(b.len(), 8 * usize::from(k));
            prop_assert_eq!(Proof::from_bytes(&b, k).unwrap(), p.clone());
            let wire = subspace_crypto::codec::encode(&p).unwrap();
            prop_assert_eq!(subspace_crypto::codec::decode::<Proof>(&wire).unwrap(), p);
        }

        #[test]
        fn hostile_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400), k in any::<u8>()) {
            match Proof::from_bytes(&bytes, k) {
                Ok(p) => prop_assert_eq!(p.to_bytes(), bytes.clone()),
                Err(PosError::UnsupportedK(_) | PosError::ProofLength { .. }) => {}
                Err(e) => prop_assert!(false, "unexpected error {e}"),
            }
            let _ = subspace_crypto::codec::decode::<Proof>(&bytes);
        }
    }

    #[test]
    fn wire_decode_checks_length_against_k() {
        let p = Proof::from_xs(12, &[3; 64]).unwrap();
        let mut w = ProofWire::from(p);
        w.k = 13;
        let bytes = subspace_crypto::codec::encode(&w).unwrap();
        assert!(subspace_crypto::codec::decode::<Proof>(&bytes).is_err());
    }

    #[test]
    fn from_xs_rejects_wide_values() {
        assert!(Proof::from_xs(12, &[1 << 12; 64]).is_none());
        assert!(Proof::from_xs(12, &[1; 63]).is_none());
        assert!(Proof::from_xs(11, &[1; 64]).is_none());
    }
}
