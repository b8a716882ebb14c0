#![doc = include_str!("../README.md")]

pub mod clock;
pub mod disk;
pub mod error;
pub mod store;

pub use clock::{Clock, ManualClock, SystemClock};
pub use disk::{DiskStore, DiskStoreConfig, Recovery, VerifyReport};
pub use error::{NodeError, Result};
pub use store::{MemoryStore, RecordStore, StoredEntry, Usage};
