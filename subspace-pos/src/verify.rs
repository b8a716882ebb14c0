//! Proof verification, bit-compatible with chiapos's `Verifier::ValidateProof`.

use crate::constants::{EXTRA_BITS, MAX_K, MIN_K, PROOF_XS};
use crate::error::PosError;
use crate::f1::F1;
use crate::fx::{fx, is_match};
use crate::id::{Challenge, PlotId};
use crate::proof::{Proof, Quality};

/// Checks that `proof` proves space for plot `plot_id` of size `k` under `challenge` and
/// returns its quality string (equal to chiapos's `validate_proof` result).
///
/// Every failure is [`PosError::InvalidProof`] except an unsupported `k`.
pub fn verify(
    plot_id: &PlotId,
    k: u8,
    challenge: &Challenge,
    proof: &Proof,
) -> Result<Quality, PosError> {
    if !(MIN_K..=MAX_K).contains(&k) {
        return Err(PosError::UnsupportedK(k));
    }
    if proof.k() != k {
        return Err(PosError::InvalidProof);
    }
    let y7 = proof_output(plot_id, proof).ok_or(PosError::InvalidProof)?;
    if y7 >> EXTRA_BITS != challenge.target(k) {
        return Err(PosError::InvalidProof);
    }
    Ok(Quality::of_proof(proof, challenge))
}

/// Runs a proof up the tree: f1 on the leaves, then f2..f7 on matching pairs. Returns the
/// (k + 6)-bit f7 output, or `None` if some pair does not match.
pub(crate) fn proof_output(plot_id: &PlotId, proof: &Proof) -> Option<u64> {
    let k = proof.k();
    let f1 = F1::new(k, plot_id);
    let mut ys = [0u64; PROOF_XS];
    let mut metas = [0u128; PROOF_XS];
    for (i, &x) in proof.xs().iter().enumerate() {
        ys[i] = f1.eval(u64::from(x));
        metas[i] = u128::from(x);
    }
    let mut n = PROOF_XS;
    for t in 2..=7 {
        for i in 0..n / 2 {
            let (yl, yr) = (ys[2 * i], ys[2 * i + 1]);
            if !is_match(yl, yr) {
                return None;
            }
            let (y, meta) = fx(k, t, yl, metas[2 * i], metas[2 * i + 1]);
            ys[i] = y;
            metas[i] = meta;
        }
        n /= 2;
    }
    Some(ys[0])
}
