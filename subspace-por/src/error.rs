//! The crate's one error type.

use thiserror::Error;

/// Every failure `subspace-por` reports.
///
/// Verification failures are deliberately uninformative: a replica either proves what the client
/// expected or it does not, and the host learns nothing about which check it failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PorError {
    /// The record is longer than [`crate::MAX_RECORD_LEN`]; split it or raise the limit.
    #[error("record of {len} bytes exceeds the {max}-byte limit")]
    RecordTooLarge {
        /// Length of the record offered.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Replica bytes that are empty, not a whole number of pieces, or longer than the largest
    /// replica a record within the limit can produce.
    #[error("replica of {0} bytes is not 1..=max whole 4096-byte pieces")]
    BadReplicaLength(usize),
    /// `layers` is 0 (which would store the data in the clear) or above [`crate::MAX_LAYERS`].
    #[error("layers must be in 1..={max}, got {got}")]
    BadLayers {
        /// The value given.
        got: u32,
        /// The largest accepted value.
        max: u32,
    },
    /// A decoded replica does not end in valid padding: wrong host, record key, layers, or
    /// corrupted bytes.
    #[error("decoded replica has invalid padding")]
    BadPadding,
    /// The replica does not decode, under this host's key, to the record with the expected hash.
    #[error("replica verification failed")]
    VerificationFailed,
}
