#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod economics;
mod error;

pub use economics::Cos;
pub use error::LedgerError;

/// Result with this crate's error.
pub type Result<T, E = LedgerError> = core::result::Result<T, E>;
