//! Pledges: the plots of one host in one directory ([`PlotSet`]) and the proof that they
//! are all there ([`PledgeProof`]).
//!
//! A pledge of `B` bytes at space parameter `k` is `B / nominal_plot_bytes(k)` plots with ids
//! `PlotId::derive(host, 0..n)`. A seed (for example a contract hash) picks
//! [`PLEDGE_CHALLENGES`] pseudo-random (plot index, challenge) pairs; the host answers each with
//! a proof from that plot whose f7 matches the challenge's first `k - PLEDGE_SLACK_BITS` bits.
//! An honest plot answers with probability `p = 1 - exp(-4 λ)`, `λ = |table 7| / 2^k`
//! (measured λ: 0.75 at k = 16, 0.93 at k = 18), so p = 0.950 at k = 16, 0.976 at k = 18.
//! The verifier accepts at least [`PLEDGE_THRESHOLD`] = 48 of 64 answers:
//! - honest host: false reject P[Bin(64, p) < 48] = 9.6e-9 at k = 16, 1.4e-13 at k = 18;
//! - a host that plotted only half its pledge answers a challenge with probability at most
//!   1/2 (the plot is missing otherwise), so it is accepted with probability at most
//!   P[Bin(64, 1/2) >= 48] = 3.9e-5 (with its real p: 7.0e-6 at k = 16).
//!
//! The two bits of slack make honest answers near-certain while keeping a proof cache more
//! expensive than the plot: answering every window needs `2^(k-2)` stored proofs of `64 k`
//! bits, 16 k 2^k bits, more than the plot's ~11 k 2^k bits.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use subspace_crypto::PublicKey;
use subspace_crypto::hash::blake3_parts;

use crate::constants::{EXTRA_BITS, MAX_PLOT_K};
use crate::error::PosError;
use crate::id::{Challenge, PlotId};
use crate::plot::{Plot, Plotter};
use crate::progress::Progress;
use crate::proof::{Proof, Quality};
use crate::prover::Layout;
use crate::verify::{proof_output, verify};

/// Challenges in one pledge proof.
pub const PLEDGE_CHALLENGES: u32 = 64;
/// Valid answers needed for a pledge proof to be accepted.
pub const PLEDGE_THRESHOLD: u32 = 48;
/// Low bits of the f7 target a pledge answer may differ in.
pub const PLEDGE_SLACK_BITS: u32 = 2;
/// Smallest k for pledges (below it table 7 is too sparse for the statistics above).
pub const PLEDGE_MIN_K: u8 = 16;
/// Largest encoded pledge proof accepted by [`PledgeProof::from_bytes`].
pub const MAX_PLEDGE_PROOF_BYTES: usize = 32 * 1024;

const CHALLENGE_TAG: &[u8] = b"subspace/pos-pledge-challenge/v1";

/// Bytes one plot counts for in a pledge: an upper bound on the plot file's size, 7k + 16
/// bits per x (plot files measure about 0.8–0.9 of it at k = 16..20: about 6.2 · 2^k entries
/// over seven tables at ~k + 2 bits each, directories included).
pub fn nominal_plot_bytes(k: u8) -> u64 {
    (7 * u64::from(k) + 16) << k >> 3
}

/// Number of plots a pledge of `pledged_bytes` at space parameter `k` stands for.
pub fn plot_count(pledged_bytes: u64, k: u8) -> Result<u64, PosError> {
    if !(PLEDGE_MIN_K..=MAX_PLOT_K).contains(&k) {
        return Err(PosError::UnsupportedK(k));
    }
    match pledged_bytes / nominal_plot_bytes(k) {
        0 => Err(PosError::PledgeTooSmall {
            pledged: pledged_bytes,
            k,
        }),
        n => Ok(n),
    }
}

/// Challenge `i` of a pledge proof: which plot, and what to prove on it.
fn pledge_challenge(seed: &[u8; 32], i: u32, plots: u64) -> (u64, Challenge) {
    let h = blake3_parts(&[CHALLENGE_TAG, seed, &i.to_le_bytes()]).to_bytes();
    let mut head = [0u8; 8];
    head.copy_from_slice(&h[..8]);
    // Modulo bias is below plots / 2^64, negligible for any pledge.
    let index = u64::from_le_bytes(head) % plots;
    let c = blake3_parts(&[CHALLENGE_TAG, b"challenge", seed, &i.to_le_bytes()]).to_bytes();
    (index, Challenge::from_bytes(c))
}

/// The plots of one host's pledge, in one directory, named `plot-<index>-k<k>.pos`.
#[derive(Debug)]
pub struct PlotSet {
    dir: PathBuf,
    host: PublicKey,
    k: u8,
    plots: BTreeMap<u64, Plot>,
}

impl PlotSet {
    /// Plots (or resumes plotting) a pledge of `pledged_bytes` in `dir`. Existing valid plots
    /// are kept; `progress` gets the plot index with each report.
    pub fn create(
        dir: impl AsRef<Path>,
        host: &PublicKey,
        k: u8,
        pledged_bytes: u64,
        threads: usize,
        mut progress: impl FnMut(u64, Progress) + Send,
    ) -> Result<PlotSet, PosError> {
        let n = plot_count(pledged_bytes, k)?;
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir)?;
        let mut plots = BTreeMap::new();
        for index in 0..n {
            let path = plot_path(&dir, index, k);
            let id = PlotId::derive(host, index);
            let existing = Plot::open(&path)
                .ok()
                .filter(|p| *p.plot_id() == id && p.k() == k);
            let plot = match existing {
                Some(p) => p,
                None => {
                    Plotter::new(k)
                        .threads(threads)
                        .plot(&id, &path, |p| progress(index, p))?;
                    Plot::open(&path)?
                }
            };
            plots.insert(index, plot);
        }
        Ok(PlotSet {
            dir,
            host: *host,
            k,
            plots,
        })
    }

    /// Opens the host's plots already in `dir` (files of other hosts or k are ignored; a
    /// damaged plot is an error).
    pub fn open(dir: impl AsRef<Path>, host: &PublicKey, k: u8) -> Result<PlotSet, PosError> {
        let dir = dir.as_ref().to_path_buf();
        let mut plots = BTreeMap::new();
        let suffix = format!("-k{k}.pos");
        for entry in std::fs::read_dir(&dir)? {
            let name = entry?.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(index) = name
                .strip_prefix("plot-")
                .and_then(|s| s.strip_suffix(&suffix))
            else {
                continue;
            };
            let Ok(index) = index.parse::<u64>() else {
                continue;
            };
            let plot = Plot::open(dir.join(name))?;
            if *plot.plot_id() == PlotId::derive(host, index) {
                plots.insert(index, plot);
            }
        }
        Ok(PlotSet {
            dir,
            host: *host,
            k,
            plots,
        })
    }

    /// Number of plots present.
    pub fn len(&self) -> usize {
        self.plots.len()
    }

    /// Whether no plot is present.
    pub fn is_empty(&self) -> bool {
        self.plots.is_empty()
    }

    /// Space parameter of the plots.
    pub fn k(&self) -> u8 {
        self.k
    }

    /// The host whose key seeds the plots.
    pub fn host(&self) -> &PublicKey {
        &self.host
    }

    /// The pledge this set can honestly claim now: plots `0..n` all present, in bytes.
    pub fn pledged_bytes(&self) -> u64 {
        let contiguous = self
            .plots
            .keys()
            .enumerate()
            .take_while(|(i, idx)| *i as u64 == **idx)
            .count();
        contiguous as u64 * nominal_plot_bytes(self.k)
    }

    /// Bytes the plot files take on disk.
    pub fn disk_bytes(&self) -> u64 {
        self.plots.values().map(Plot::bytes).sum()
    }

    /// Plot number `index`, if present.
    pub fn plot(&self, index: u64) -> Option<&Plot> {
        self.plots.get(&index)
    }

    /// Deletes whole plots, highest index first, until at least `bytes` are free (or no plot
    /// is left): hosted data overwrites solution space. Returns the bytes freed.
    pub fn reclaim(&mut self, bytes: u64) -> Result<u64, PosError> {
        let mut freed = 0;
        while freed < bytes {
            let Some((_, plot)) = self.plots.pop_last() else {
                break;
            };
            std::fs::remove_file(plot.path())?;
            freed += plot.bytes();
        }
        Ok(freed)
    }

    /// The best (lowest) quality over all plots for `challenge`, with its plot index.
    pub fn best(&self, challenge: &Challenge) -> Result<Option<(u64, Quality)>, PosError> {
        let mut best: Option<(u64, Quality)> = None;
        for (&index, plot) in &self.plots {
            for q in plot.qualities(challenge)? {
                if best.is_none_or(|(_, b)| q < b) {
                    best = Some((index, q));
                }
            }
        }
        Ok(best)
    }

    /// Directory of the plots.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn plot_path(dir: &Path, index: u64, k: u8) -> PathBuf {
    dir.join(format!("plot-{index:06}-k{k}.pos"))
}

/// Replaces the first k bits of `c` by `f7`.
fn with_target(c: &Challenge, k: u8, f7: u64) -> Challenge {
    let mut b = c.to_bytes();
    let mut head = [0u8; 8];
    head.copy_from_slice(&b[..8]);
    let keep = (1u64 << (64 - u32::from(k))) - 1;
    let v = (u64::from_be_bytes(head) & keep) | (f7 << (64 - u32::from(k)));
    b[..8].copy_from_slice(&v.to_be_bytes());
    Challenge::from_bytes(b)
}

/// A host's answers to the challenges a seed picks from its pledge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PledgeProof {
    answers: Vec<Option<Proof>>,
}

impl PledgeProof {
    /// Answers the [`PLEDGE_CHALLENGES`] challenges `seed` picks over the set's pledge
    /// ([`PlotSet::pledged_bytes`]).
    pub fn prove(set: &PlotSet, seed: &[u8; 32]) -> Result<PledgeProof, PosError> {
        PledgeProof::prove_pledge(set, set.pledged_bytes(), seed)
    }

    /// Answers for a claimed pledge of `pledged_bytes`, whatever the set holds: challenges on
    /// missing plots go unanswered (what a host that over-claims would send).
    pub fn prove_pledge(
        set: &PlotSet,
        pledged_bytes: u64,
        seed: &[u8; 32],
    ) -> Result<PledgeProof, PosError> {
        let k = set.k;
        let n = plot_count(pledged_bytes, k)?;
        let mut answers = Vec::with_capacity(PLEDGE_CHALLENGES as usize);
        for i in 0..PLEDGE_CHALLENGES {
            let (index, c) = pledge_challenge(seed, i, n);
            let answer = match set.plots.get(&index) {
                None => None,
                Some(plot) => {
                    let lo = c.target(k) >> PLEDGE_SLACK_BITS << PLEDGE_SLACK_BITS;
                    match plot.first_f7_in(lo, lo + (1 << PLEDGE_SLACK_BITS))? {
                        None => None,
                        Some(f7) => plot.prove(&with_target(&c, k, f7))?.into_iter().next(),
                    }
                }
            };
            answers.push(answer);
        }
        Ok(PledgeProof { answers })
    }

    /// Checks a pledge proof for `host`'s pledge of `pledged_bytes` at `k` under `seed`;
    /// returns the number of valid answers when there are at least [`PLEDGE_THRESHOLD`].
    pub fn verify(
        host: &PublicKey,
        pledged_bytes: u64,
        k: u8,
        seed: &[u8; 32],
        proof: &PledgeProof,
    ) -> Result<u32, PosError> {
        let n = plot_count(pledged_bytes, k)?;
        let reject = |answered| PosError::PledgeRejected {
            answered,
            challenges: PLEDGE_CHALLENGES,
            required: PLEDGE_THRESHOLD,
        };
        if proof.answers.len() != PLEDGE_CHALLENGES as usize {
            return Err(reject(0));
        }
        let mut answered = 0;
        for (i, answer) in (0..PLEDGE_CHALLENGES).zip(proof.answers.iter()) {
            let Some(p) = answer else { continue };
            let (index, c) = pledge_challenge(seed, i, n);
            let id = PlotId::derive(host, index);
            if p.k() != k {
                continue;
            }
            let Some(y7) = proof_output(&id, p) else {
                continue;
            };
            let f7 = y7 >> EXTRA_BITS;
            if f7 >> PLEDGE_SLACK_BITS != c.target(k) >> PLEDGE_SLACK_BITS {
                continue;
            }
            if verify(&id, k, &with_target(&c, k, f7), p).is_ok() {
                answered += 1;
            }
        }
        if answered < PLEDGE_THRESHOLD {
            Err(reject(answered))
        } else {
            Ok(answered)
        }
    }

    /// Encodes with the workspace codec.
    pub fn to_bytes(&self) -> Result<Vec<u8>, PosError> {
        subspace_crypto::codec::encode(self).map_err(|_| PosError::Decode)
    }

    /// Decodes hostile bytes: bounded size, every proof's length checked against its k.
    pub fn from_bytes(bytes: &[u8]) -> Result<PledgeProof, PosError> {
        let p: PledgeProof =
            subspace_crypto::codec::decode_bounded::<_, MAX_PLEDGE_PROOF_BYTES>(bytes)
                .map_err(|_| PosError::Decode)?;
        if p.answers.len() != PLEDGE_CHALLENGES as usize {
            return Err(PosError::Decode);
        }
        Ok(p)
    }

    /// Number of challenges answered (valid or not).
    pub fn answered(&self) -> usize {
        self.answers.iter().filter(|a| a.is_some()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn with_target_replaces_only_the_prefix() {
        let c = Challenge::from_bytes([0xff; 32]);
        let d = with_target(&c, 16, 0x1234);
        assert_eq!(d.target(16), 0x1234);
        assert_eq!(&d.to_bytes()[2..], &[0xff; 30]);
    }

    #[test]
    fn plot_count_needs_a_whole_plot() {
        assert!(matches!(
            plot_count(nominal_plot_bytes(16) - 1, 16),
            Err(PosError::PledgeTooSmall { .. })
        ));
        assert_eq!(plot_count(3 * nominal_plot_bytes(16) + 5, 16).unwrap(), 3);
        assert!(matches!(
            plot_count(1 << 40, 12),
            Err(PosError::UnsupportedK(12))
        ));
    }

    #[test]
    fn challenges_spread_over_plots() {
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..PLEDGE_CHALLENGES {
            seen.insert(pledge_challenge(&[5; 32], i, 4).0);
        }
        assert_eq!(seen.len(), 4);
    }

    proptest! {
        #[test]
        fn hostile_pledge_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let _ = PledgeProof::from_bytes(&bytes);
        }
    }
}
