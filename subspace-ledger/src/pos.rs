//! The proof-of-space seam: what the ledger needs from `subspace-pos`.
//!
//! The ledger checks proofs through the [`ProofVerifier`] trait, so simulations can model
//! proofs cheaply; [`SubspacePos`] implements it with `subspace-pos`: its Chia-compatible
//! `verify` for block proofs and `PledgeProof::verify` for host pledges (by default).

use subspace_crypto::PublicKey;
use subspace_pos::{Challenge, PledgeProof, PlotId, Proof};

use crate::{LedgerError, Result};

/// Verifies the two kinds of proof of space the ledger carries.
pub trait ProofVerifier {
    /// Verifies a block's proof for `challenge` from plot number `plot_index` of `farmer`
    /// (plot id derived from the key and index) at size `k`, returning the proof's quality.
    fn verify_block_proof(
        &self,
        farmer: &PublicKey,
        plot_index: u64,
        k: u8,
        challenge: &[u8; 32],
        proof: &[u8],
    ) -> Result<[u8; 32]>;

    /// Verifies a host's pledge proof that it holds `pledged_bytes` of plots at size `k`.
    fn verify_pledge(
        &self,
        host: &PublicKey,
        pledged_bytes: u64,
        k: u8,
        seed: &[u8; 32],
        proof: &[u8],
    ) -> Result<()>;
}

/// Signature of a pledge check: host, pledged bytes, k, seed, proof bytes → valid?
pub type PledgeCheck = fn(&PublicKey, u64, u8, &[u8; 32], &[u8]) -> bool;

/// [`ProofVerifier`] backed by `subspace-pos`: block proofs are verified against the plot
/// `PlotId::derive(farmer, plot_index)`; pledges by the supplied [`PledgeCheck`].
#[derive(Clone, Copy, Debug)]
pub struct SubspacePos {
    pledge: PledgeCheck,
}

/// `subspace-pos`'s pledge check: the proof bytes decode as a `PledgeProof` that verifies.
pub fn pos_pledge_check(
    host: &PublicKey,
    pledged_bytes: u64,
    k: u8,
    seed: &[u8; 32],
    proof: &[u8],
) -> bool {
    PledgeProof::from_bytes(proof)
        .and_then(|p| PledgeProof::verify(host, pledged_bytes, k, seed, &p))
        .is_ok()
}

impl Default for SubspacePos {
    /// Block proofs and pledges both checked by `subspace-pos`.
    fn default() -> Self {
        SubspacePos::new(pos_pledge_check)
    }
}

impl SubspacePos {
    /// A verifier using `pledge` for host pledge proofs (tests and simulations may model
    /// pledges; a node uses [`SubspacePos::default`]).
    pub fn new(pledge: PledgeCheck) -> SubspacePos {
        SubspacePos { pledge }
    }
}

impl ProofVerifier for SubspacePos {
    fn verify_block_proof(
        &self,
        farmer: &PublicKey,
        plot_index: u64,
        k: u8,
        challenge: &[u8; 32],
        proof: &[u8],
    ) -> Result<[u8; 32]> {
        let plot = PlotId::derive(farmer, plot_index);
        let proof = Proof::from_bytes(proof, k).map_err(|_| LedgerError::BadProof)?;
        subspace_pos::verify(&plot, k, &Challenge::from_bytes(*challenge), &proof)
            .map(|q| q.to_bytes())
            .map_err(|_| LedgerError::BadProof)
    }

    fn verify_pledge(
        &self,
        host: &PublicKey,
        pledged_bytes: u64,
        k: u8,
        seed: &[u8; 32],
        proof: &[u8],
    ) -> Result<()> {
        if (self.pledge)(host, pledged_bytes, k, seed, proof) {
            Ok(())
        } else {
            Err(LedgerError::BadPledge)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use subspace_crypto::Keypair;

    #[test]
    fn garbage_proofs_are_refused_with_typed_errors() {
        let pk = Keypair::from_seed(&[1; 32]).public();
        let v = SubspacePos::default();
        assert_eq!(
            v.verify_pledge(&pk, 1 << 30, 14, &[0; 32], b"junk"),
            Err(LedgerError::BadPledge)
        );
        assert_eq!(
            v.verify_block_proof(&pk, 0, 14, &[0; 32], &[0; 7]),
            Err(LedgerError::BadProof)
        );
        assert_eq!(
            v.verify_block_proof(&pk, 0, 14, &[0; 32], &[0; 14 * 8]),
            Err(LedgerError::BadProof)
        );
    }
}
