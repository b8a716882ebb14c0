use subspace_crypto::{CryptoError, RecordKey};
use thiserror::Error;

/// Every failure `subspace-record` reports.
///
/// Errors caused by someone else's bytes say which rule failed, never anything secret; a
/// forged signature is [`RecordError::BadSignature`] whatever part of the record was forged.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The plaintext is larger than [`MAX_DATA_LEN`](crate::MAX_DATA_LEN); nothing was sealed or hashed.
    #[error("record data of {len} bytes exceeds the {max}-byte limit")]
    DataTooLarge {
        /// The size that was offered.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// The bytes do not decode: truncated, oversized, trailing bytes, or a malformed field.
    #[error("malformed encoding: {0}")]
    Decode(String),
    /// The first byte names a format version this crate does not know.
    #[error("unknown format version {0}")]
    UnknownVersion(u8),
    /// A structural rule is broken (segment layout, sorted and unique lists, counts, roles).
    #[error("malformed record: {0}")]
    Malformed(&'static str),
    /// The record's signature, its owner grant, or the signer's delegation does not verify.
    #[error("bad signature")]
    BadSignature,
    /// The key a record is stored under does not match its content (or its record public key).
    #[error("record key does not match the content")]
    KeyMismatch,
    /// The signer is neither the record key, the owner (immutable records) nor an identity the
    /// ACL lets write and the record key delegated to.
    #[error("signer is not authorized to write this record")]
    Unauthorized,
    /// The update changes the ACL, contract, visibility or delegations but is not signed by
    /// the record key or an Admin (on the stored ACL, with an Admin delegation).
    #[error("only an admin or the record key may change the ACL")]
    NotAdmin,
    /// The version's seq is above what the signer's delegation allows: the signer may have
    /// been revoked, or needs a fresh delegation from the record key.
    #[error("seq {seq} is above the signer's delegation (max seq {max_seq})")]
    DelegationExpired {
        /// The version's seq.
        seq: u64,
        /// The most the signer's delegation allows.
        max_seq: u64,
    },
    /// The update's seq is not strictly greater than the stored version's (a replay or rollback).
    #[error("seq {new} is not greater than the stored seq {old}")]
    StaleSeq {
        /// The stored version's seq.
        old: u64,
        /// The offered version's seq.
        new: u64,
    },
    /// The update is for a different record (other key, owner, or not a mutable record).
    #[error("update does not match the stored record: {0}")]
    NotSameRecord(&'static str),
    /// The operation needs a mutable record and was given an immutable one.
    #[error("not a mutable record")]
    NotMutable,
    /// This keypair holds no wrapped content key in the record's keychain.
    #[error("this keypair is not a recipient of the record")]
    NotARecipient,
    /// The content did not decrypt (wrong key or tampered ciphertext).
    #[error("decryption failed")]
    DecryptionFailed,
    /// The contract check the node supplies rejected the record.
    #[error("contract check failed: {0}")]
    Contract(String),
    /// A builder was given conflicting or missing settings.
    #[error("invalid builder settings: {0}")]
    Builder(&'static str),
    /// A receipt's signature or fields do not verify.
    #[error("bad receipt")]
    BadReceipt,
    /// Reading the input file failed (SSFS chunking).
    #[error("reading the input failed: {0}")]
    Io(String),
    /// A file needs more chunks than one manifest can list.
    #[error("file too large for one manifest ({max_chunks} chunks at most)")]
    FileTooLarge {
        /// The most chunks a manifest holds.
        max_chunks: u64,
    },
    /// A chunk could not be fetched while reassembling a file.
    #[error("chunk {index} ({key}) is unavailable: {reason}")]
    ChunkUnavailable {
        /// Position of the chunk in the manifest.
        index: u64,
        /// The chunk's record key.
        key: RecordKey,
        /// Why fetching it failed.
        reason: String,
    },
    /// A fetched chunk is forged, of the wrong length, or does not open.
    #[error("chunk {index} ({key}) is forged or corrupt")]
    BadChunk {
        /// Position of the chunk in the manifest.
        index: u64,
        /// The chunk's record key.
        key: RecordKey,
    },
    /// The reassembled file's BLAKE3 or length differs from the manifest's.
    #[error("reassembled file does not match the manifest hash")]
    FileHashMismatch,
    /// A folder entry name is empty, too long, or holds `/` or a NUL byte.
    #[error("invalid folder entry name")]
    InvalidName,
    /// An underlying cryptographic operation failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}
