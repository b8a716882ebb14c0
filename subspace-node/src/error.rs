//! The one error type of `subspace-node`.

use subspace_crypto::{CryptoError, NodeId};
use thiserror::Error;

/// Every failure `subspace-node` reports.
///
/// Failures caused by a peer's bytes (bad frames, failed handshakes) are returned to the
/// connection that caused them and end that connection; they never take the node down.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum NodeError {
    /// An operating-system IO call failed (disk or socket); the message names the operation.
    #[error("io error during {op}: {source}")]
    Io {
        /// What the node was doing, e.g. "fsync slot file".
        op: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The embedded database (redb) failed; the store should be reopened or restored.
    #[error("database error: {0}")]
    Database(String),
    /// Stored bytes fail their checksum or do not decode: the named entry is corrupt.
    #[error("corrupt store entry: {0}")]
    Corrupt(String),
    /// Encoding or decoding through the shared codec failed (malformed or oversized bytes).
    #[error("codec error: {0}")]
    Codec(#[from] CryptoError),
    /// Storing this body would exceed the pledged space; free space or pledge more.
    #[error("store full: {needed} bytes needed, {free} free")]
    StoreFull {
        /// Bytes the put needed.
        needed: u64,
        /// Bytes still free under the pledge.
        free: u64,
    },
    /// A frame announced a length above the configured bound; the connection is dropped.
    #[error("frame of {len} bytes exceeds the {max}-byte bound")]
    FrameTooLarge {
        /// The announced length.
        len: u64,
        /// The configured maximum.
        max: u64,
    },
    /// The Noise handshake or the identity proof that follows it failed.
    #[error("handshake failed: {0}")]
    Handshake(&'static str),
    /// The peer did not answer within the configured time.
    #[error("peer timed out")]
    Timeout,
    /// There is no connection to this peer; connect to its address first.
    #[error("no connection to {0}")]
    NotConnected(NodeId),
    /// A record, replica or receipt failed validation (the reason says which check).
    #[error("invalid: {0}")]
    InvalidRecord(String),
    /// A put failed at `step` (see [`crate::PutStep`]); nothing of it is acknowledged.
    #[error("put failed at {step:?}: {reason}")]
    PutFailed {
        /// The step that failed.
        step: crate::PutStep,
        /// Why.
        reason: String,
    },
    /// No holder served a valid copy of the record.
    #[error("record {0} not found")]
    NotFound(subspace_crypto::RecordKey),
    /// The transport or node has shut down.
    #[error("closed")]
    Closed,
    /// The data directory or configuration file is missing or invalid (the message says what
    /// to fix).
    #[error("{0}")]
    Config(String),
}

impl NodeError {
    /// Wraps an IO error with the operation that produced it.
    pub fn io(op: &'static str) -> impl FnOnce(std::io::Error) -> NodeError {
        move |source| NodeError::Io { op, source }
    }
}

/// Result alias for this crate.
pub type Result<T, E = NodeError> = std::result::Result<T, E>;
