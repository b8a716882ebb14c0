//! The crate's one error type.

use thiserror::Error;

/// Everything that can go wrong in `subspace-pos`.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PosError {
    /// The space parameter is outside what this operation supports (see [`crate::MIN_K`],
    /// [`crate::MAX_K`], [`crate::MAX_PLOT_K`]).
    #[error("k = {0} is not supported")]
    UnsupportedK(u8),
    /// Proof bytes have the wrong length for the stated k (a proof is 8k bytes).
    #[error("proof has {got} bytes, k = {k} needs {}", 8 * *k as usize)]
    ProofLength {
        /// The k the proof was decoded for.
        k: u8,
        /// The number of bytes given.
        got: usize,
    },
    /// The proof does not prove space for this plot id, k and challenge. Deliberately says
    /// nothing more.
    #[error("invalid proof of space")]
    InvalidProof,
    /// A plot file is damaged or was changed: its bytes do not match its checksums or its
    /// structure. The plot must be deleted and plotted again.
    #[error("plot file is corrupt: {0}")]
    Corrupt(&'static str),
    /// The file is not a plot of this format version.
    #[error("not a subspace-pos plot (bad magic or version)")]
    NotAPlot,
    /// A pledge proof does not answer the right number of challenges, or answers too few.
    #[error(
        "pledge proof rejected: {answered} of {challenges} challenges answered, {required} needed"
    )]
    PledgeRejected {
        /// Valid answers found.
        answered: u32,
        /// Challenges asked.
        challenges: u32,
        /// Answers needed for acceptance.
        required: u32,
    },
    /// The pledge is too small to hold even one plot of this k.
    #[error("pledge of {pledged} bytes is smaller than one k = {k} plot")]
    PledgeTooSmall {
        /// Bytes pledged.
        pledged: u64,
        /// Space parameter.
        k: u8,
    },
    /// Bytes that should hold an encoded pledge proof do not.
    #[error("malformed pledge proof encoding")]
    Decode,
    /// A file system operation on a plot or plot directory failed.
    #[error("plot file i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The worker thread pool could not be built.
    #[error("thread pool: {0}")]
    Threads(String),
}
