//! The proof-of-space seam: what the ledger needs from `subspace-pos`.
//!
//! The ledger checks proofs through the [`ProofVerifier`] trait, so simulations can model
//! proofs cheaply; [`SubspacePos`] implements it with `subspace-pos`'s Chia-compatible
//! verifier for block proofs and a pledge check the caller supplies (`subspace-pos`'s
//! `PledgeProof::verify` once that crate publishes it).

use subspace_crypto::PublicKey;
use subspace_pos::{Challenge, PlotId, Proof};

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

impl SubspacePos {
    /// A verifier using `pledge` for host pledge proofs.
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

    fn verify_pledge(&self, host: &PublicKey, pledged_bytes: u64, k: u8, seed: &[u8; 32], proof: &[u8]) -> Result<()> {
        if (self.pledge)(host, pledged_bytes, k, seed, proof) { Ok(()) } else { Err(LedgerError::BadPledge) }
    }
}
