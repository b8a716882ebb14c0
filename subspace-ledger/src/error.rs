//! The one error type of this crate.

use thiserror::Error;

/// Why a transaction, block or chain operation was refused.
///
/// Variants caused by a peer's bytes say which rule failed and nothing about secrets.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// Bytes did not decode as the expected structure (or exceeded its size limit).
    #[error("decoding failed: {0}")]
    Decode(String),
    /// A structure could not be encoded (only for values larger than the codec allows).
    #[error("encoding failed: {0}")]
    Encode(String),
    /// A signature over a transaction or header did not verify.
    #[error("bad signature")]
    BadSignature,
    /// An input spends an output that does not exist or was already spent.
    #[error("input spends a missing or already spent output")]
    MissingOrSpentInput,
    /// The same output is spent twice in one transaction or block.
    #[error("double spend within a transaction or block")]
    DoubleSpend,
    /// The public key of an input does not hash to the address its output is locked to.
    #[error("input key does not match the output's lock")]
    LockMismatch,
    /// Outputs (plus fee) exceed the value of the inputs.
    #[error("outputs exceed inputs")]
    Overspend,
    /// The fee is below the per-byte minimum.
    #[error("fee {paid} below the minimum {required}")]
    FeeTooLow {
        /// Fee the transaction pays.
        paid: u64,
        /// Fee the transaction's size requires.
        required: u64,
    },
    /// An amount sum overflowed 64 bits.
    #[error("amount overflow")]
    AmountOverflow,
    /// A transaction has no inputs or no outputs where it needs them, or a zero-value output.
    #[error("malformed transaction: {0}")]
    Malformed(&'static str),
    /// The pledge proof of a host storage contract did not verify.
    #[error("bad pledge proof")]
    BadPledge,
    /// A host already has an active storage contract.
    #[error("host already has an active contract")]
    DuplicateHostContract,
    /// A data contract asks for more space-time than the network has free.
    #[error("network full: contract needs {needed} byte-seconds, {free} free")]
    NetworkFull {
        /// Space-time the contract reserves.
        needed: u128,
        /// Space-time free at the current state.
        free: u128,
    },
    /// A data contract or renewal pays less than its price at the current Cost of Storage.
    #[error("underfunded contract: pays {paid}, costs {cost}")]
    Underfunded {
        /// Credits the funding transaction moves to the nexus.
        paid: u64,
        /// Credits the reservation costs at the current CoS.
        cost: u128,
    },
    /// A contract id names no known contract of the right kind.
    #[error("unknown contract")]
    UnknownContract,
    /// A payment request arrived before the host's interval ended.
    #[error("payment request before the interval ended")]
    PaymentTooEarly,
    /// The host missed its last payment request, so its contract is no longer valid.
    #[error("contract lapsed: missed its payment request")]
    ContractLapsed,
    /// A payment request does not name the block it builds on.
    #[error("payment request names the wrong last block")]
    StaleRequest,
    /// The nexus transaction does not match the block's payment requests.
    #[error("nexus transaction does not match the payment requests: {0}")]
    BadNexus(&'static str),
    /// The coinbase is missing, misplaced or pays more than reward plus fees.
    #[error("bad coinbase: {0}")]
    BadCoinbase(&'static str),
    /// The block's parent is not known.
    #[error("unknown parent block")]
    UnknownParent,
    /// The header's height is not its parent's plus one.
    #[error("wrong height")]
    BadHeight,
    /// The header's challenge is not the one its ancestors derive.
    #[error("wrong challenge")]
    BadChallenge,
    /// The header's difficulty is not the retarget rule's result.
    #[error("wrong difficulty")]
    BadDifficulty,
    /// The proof of space does not verify or its quality does not match.
    #[error("bad proof of space")]
    BadProof,
    /// The timestamp is earlier than parent timestamp plus the proof's deadline.
    #[error("timestamp before the proof's deadline")]
    TooEarly,
    /// The timestamp is further in the future than the allowed drift.
    #[error("timestamp in the future")]
    FutureTimestamp,
    /// The transactions' Merkle root does not match the header.
    #[error("bad merkle root")]
    BadMerkleRoot,
    /// The header's Cost of Storage (or stored-bytes claim) is not what the state gives.
    #[error("wrong cost of storage")]
    BadCos,
    /// The block exceeds the size or transaction-count limit.
    #[error("block too large")]
    BlockTooLarge,
    /// The block is already known.
    #[error("duplicate block")]
    Duplicate,
    /// The block forks off further back than the reorganisation limit.
    #[error("fork deeper than the reorganisation limit")]
    TooDeep,
    /// The chain store failed or lost data it had accepted.
    #[error("chain store: {0}")]
    Store(String),
    /// Arithmetic left its consensus range (a value too large to represent).
    #[error("arithmetic overflow in consensus math")]
    Overflow,
}

impl From<subspace_crypto::CryptoError> for LedgerError {
    fn from(e: subspace_crypto::CryptoError) -> Self {
        match e {
            subspace_crypto::CryptoError::Decode(s) => LedgerError::Decode(s),
            subspace_crypto::CryptoError::Encode(s) => LedgerError::Encode(s),
            _ => LedgerError::BadSignature,
        }
    }
}
