//! The proof-of-space seam: what the ledger needs from `subspace-pos`.
//!
//! The ledger checks proofs through this trait so that it builds, tests and simulates without
//! depending on one plot format; the node implements it with `subspace-pos`'s `verify` and
//! `PledgeProof::verify`.

use subspace_crypto::PublicKey;

use crate::Result;

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
