//! The crate's one error type.

use thiserror::Error;

/// Why a message, statement or call was refused. Verification failures say as little as
/// possible about what was wrong, on purpose.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum GossipError {
    /// The bytes are not a well-formed gossip message (bad encoding, over a size limit, or a
    /// field out of its allowed range).
    #[error("malformed gossip message: {0}")]
    Malformed(String),
    /// A signature did not verify under the signer's key and the gossip domain.
    #[error("bad signature")]
    BadSignature,
    /// The signer of a statement or probe is not in the membership pool, so its key is unknown.
    #[error("unknown signer")]
    UnknownSigner,
    /// A statement is older than the retention window or too far in the future.
    #[error("statement outside the accepted time window")]
    OutOfWindow,
    /// A statement refers to a stale incarnation of its subject and carries no news.
    #[error("stale statement")]
    Stale,
    /// A suspicion or failure names an incarnation above the highest its subject signed (or a
    /// subject whose join is not held).
    #[error("accusation of an incarnation its subject never signed")]
    FutureIncarnation,
    /// A fault's proof was rejected by the node's [`FaultValidator`](crate::FaultValidator).
    #[error("fault proof rejected")]
    InvalidFault,
    /// An acknowledgement matched no outstanding probe (late, replayed or forged).
    #[error("unexpected acknowledgement")]
    UnexpectedAck,
    /// The sender of a message is not the party the message claims to come from.
    #[error("sender does not match the signed message")]
    SenderMismatch,
    /// The operation needs the node to have joined first ([`Gossip::join`](crate::Gossip::join)).
    #[error("not joined")]
    NotJoined,
    /// Encoding one of our own values failed (a bug, reported rather than panicking).
    #[error("encoding failed: {0}")]
    Encode(String),
}

/// Result type of this crate.
pub type Result<T, E = GossipError> = core::result::Result<T, E>;
