use thiserror::Error;

/// Every failure `subspace-crypto` reports.
///
/// Verification failures are deliberately uninformative: they say *that* something did not
/// verify, never *why*, so that an attacker learns nothing from the answer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// A signature did not verify for this key, domain and message.
    #[error("signature verification failed")]
    BadSignature,
    /// Authenticated decryption failed (wrong key, tampered ciphertext or wrong associated data).
    #[error("decryption failed")]
    DecryptionFailed,
    /// A wrapped content key could not be opened with this keypair.
    #[error("this keypair cannot open the wrapped key")]
    NotARecipient,
    /// 32 bytes that are not a valid ed25519 public key (not a point on the curve).
    #[error("invalid public key")]
    InvalidPublicKey,
    /// A key agreement produced the all-zero secret (a low-order point was supplied).
    #[error("key agreement with a low-order point")]
    WeakKeyAgreement,
    /// A hex string of the wrong length or with a non-hex character.
    #[error("invalid hex: {0}")]
    InvalidHex(&'static str),
    /// A SLIP-0010 path that does not parse, or asks for non-hardened derivation (ed25519 has none).
    #[error("invalid derivation path: {0}")]
    InvalidPath(String),
    /// A SLIP-0010 seed outside 16..=64 bytes.
    #[error("seed must be 16 to 64 bytes, got {0}")]
    InvalidSeedLength(usize),
    /// Encoding failed (a value the codec cannot represent, or larger than the size limit).
    #[error("encoding failed: {0}")]
    Encode(String),
    /// Decoding failed: truncated, malformed, over the size limit, or with trailing bytes.
    #[error("decoding failed: {0}")]
    Decode(String),
}
