#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod aead;
pub mod codec;
pub mod domain;
mod error;
pub mod hash;
pub mod hd;
pub mod hex;
mod identity;
pub mod ids;
pub mod merkle;
pub mod pairwise;
mod serde_array;
pub mod wrap;

pub use aead::{Aead, ContentKey, Sealed};
pub use domain::Domain;
pub use error::CryptoError;
pub use identity::{Keypair, PublicKey, Signature, verify_batch};
pub use ids::{BlockHash, ContractId, Hash256, NodeId, RecordKey};
pub use wrap::{WrappedKey, unwrap_key, wrap_key};

/// Result type of this crate.
pub type Result<T, E = CryptoError> = core::result::Result<T, E>;
