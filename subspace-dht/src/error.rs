//! The one error type of this crate.

use thiserror::Error;

/// Every failure `subspace-dht` reports.
///
/// Errors caused by a peer's bytes come from [`Message::decode`](crate::Message::decode);
/// the state machine itself never fails on a peer's input (it drops and counts instead, see
/// [`DhtStats`](crate::DhtStats)).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DhtError {
    /// The bytes are not a well-formed message: truncated, malformed, trailing bytes or over
    /// [`MAX_MESSAGE_LEN`](crate::MAX_MESSAGE_LEN).
    #[error("malformed DHT message: {0}")]
    Decode(String),
    /// A message could not be encoded (only possible for a message that breaks a bound).
    #[error("DHT message could not be encoded: {0}")]
    Encode(String),
    /// A list in a message is longer than the protocol allows.
    #[error("{what} holds {len} entries, at most {max} are allowed")]
    TooMany {
        /// Which list (nodes, holders, announcements).
        what: &'static str,
        /// How many entries it held.
        len: usize,
        /// The protocol's bound.
        max: usize,
    },
    /// An announcement proof longer than [`MAX_PROOF_LEN`](crate::MAX_PROOF_LEN).
    #[error("announcement proof of {len} bytes, at most {max} are allowed")]
    ProofTooLong {
        /// The proof's length.
        len: usize,
        /// The protocol's bound.
        max: usize,
    },
    /// [`DhtConfig::max_queries`](crate::DhtConfig::max_queries) queries are already running;
    /// wait for one to finish.
    #[error("too many queries in flight")]
    TooManyQueries,
    /// An announce with no holders, or more than
    /// [`MAX_ANNOUNCEMENTS`](crate::MAX_ANNOUNCEMENTS).
    #[error("an announce carries 1 to {max} holders, got {len}")]
    BadAnnounce {
        /// Holders given.
        len: usize,
        /// The protocol's bound.
        max: usize,
    },
}
