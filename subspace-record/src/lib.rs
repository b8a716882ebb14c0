#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod acl;
pub mod authority;
mod builder;
mod error;
pub mod fs;
pub mod payload;
pub mod receipt;
mod record;
mod serde_bytes;
mod validate;

pub use acl::{Acl, AclEntry, Role};
pub use authority::{DELEGATION_SEQ_WINDOW, Delegation, OwnerGrant};
pub use builder::{RecordBuilder, RecordKeypair};
pub use error::RecordError;
pub use payload::Payload;
pub use receipt::Receipt;
pub use record::{FORMAT_VERSION, MAX_RECORD_LEN, Record, RecordKind, mutable_key};
pub use validate::{
    ContractValidator, validate, validate_at, validate_update, validate_with_contract,
};

/// The most plaintext a record holds: 1 MiB.
pub const MAX_DATA_LEN: usize = 1024 * 1024;

/// Result type of this crate.
pub type Result<T, E = RecordError> = core::result::Result<T, E>;
