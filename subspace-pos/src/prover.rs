//! Walking a plot's tables to quality strings and full proofs, whatever stores them.

use crate::constants::EXTRA_BITS;
use crate::error::PosError;
use crate::f1::F1;
use crate::fx::{fx, is_match};
use crate::id::{Challenge, PlotId};
use crate::proof::{Proof, Quality};
use crate::verify::verify;

/// Read access to plot-ordered tables (in memory or in a plot file).
pub(crate) trait Layout {
    /// Space parameter.
    fn k(&self) -> u8;
    /// The plot's id.
    fn plot_id(&self) -> &PlotId;
    /// Positions in table 6 of the entries whose f7 (top k bits) equals `target`.
    fn f7_matches(&self, target: u64) -> Result<Vec<u32>, PosError>;
    /// First f7 value in `[lo, hi)`, if the plot has one.
    fn first_f7_in(&self, lo: u64, hi: u64) -> Result<Option<u64>, PosError>;
    /// Entry `pos` of pair table `table` (1..=6): the two children, smaller first.
    fn pair(&self, table: usize, pos: u32) -> Result<[u32; 2], PosError>;
}

/// Qualities for a challenge: one leaf pair per f7 match, chosen by the challenge's last bits.
pub(crate) fn qualities(
    layout: &impl Layout,
    challenge: &Challenge,
) -> Result<Vec<Quality>, PosError> {
    let k = layout.k();
    let qi = challenge.quality_index();
    let mut out = Vec::new();
    for mut pos in layout.f7_matches(challenge.target(k))? {
        for table in (2..=6).rev() {
            let [low, high] = layout.pair(table, pos)?;
            pos = if (qi >> (table - 2)) & 1 == 0 {
                low
            } else {
                high
            };
        }
        let [x_low, x_high] = layout.pair(1, pos)?;
        if u64::from(x_high) >> k != 0 || x_low >= x_high {
            return Err(PosError::Corrupt("x value out of range"));
        }
        out.push(Quality::from_pair(
            k,
            challenge,
            u64::from(x_low),
            u64::from(x_high),
        ));
    }
    Ok(out)
}

/// Full proofs for a challenge, each checked with [`verify`] before it is returned, so a
/// damaged plot gives an error and never a wrong proof.
pub(crate) fn prove(layout: &impl Layout, challenge: &Challenge) -> Result<Vec<Proof>, PosError> {
    let k = layout.k();
    let f1 = F1::new(k, layout.plot_id());
    let mut out = Vec::new();
    for pos in layout.f7_matches(challenge.target(k))? {
        let (y7, _, xs) = subtree(layout, &f1, 6, pos)?;
        if y7 >> EXTRA_BITS != challenge.target(k) {
            return Err(PosError::Corrupt("f7 does not match its table"));
        }
        let xs: Vec<u64> = xs.iter().map(|&x| u64::from(x)).collect();
        let proof = Proof::from_xs(k, &xs).ok_or(PosError::Corrupt("x value out of range"))?;
        verify(layout.plot_id(), k, challenge, &proof)
            .map_err(|_| PosError::Corrupt("proof does not verify"))?;
        out.push(proof);
    }
    Ok(out)
}

/// Evaluates the subtree under entry `pos` of pair table `table`: its output y, metadata and
/// leaves in proof ordering (at each node, the child with the smaller y first).
fn subtree(
    layout: &impl Layout,
    f1: &F1,
    table: usize,
    pos: u32,
) -> Result<(u64, u128, Vec<u32>), PosError> {
    let k = layout.k();
    let [a, b] = layout.pair(table, pos)?;
    let (ca, cb) = if table == 1 {
        for x in [a, b] {
            if u64::from(x) >> k != 0 {
                return Err(PosError::Corrupt("x value out of range"));
            }
        }
        (
            (f1.eval(u64::from(a)), u128::from(a), vec![a]),
            (f1.eval(u64::from(b)), u128::from(b), vec![b]),
        )
    } else {
        (
            subtree(layout, f1, table - 1, a)?,
            subtree(layout, f1, table - 1, b)?,
        )
    };
    let (mut left, right) = if is_match(ca.0, cb.0) {
        (ca, cb)
    } else if is_match(cb.0, ca.0) {
        (cb, ca)
    } else {
        return Err(PosError::Corrupt("children do not match"));
    };
    let (y, meta) = fx(k, table + 1, left.0, left.1, right.1);
    left.2.extend_from_slice(&right.2);
    Ok((y, meta, left.2))
}
