#![doc = include_str!("../README.md")]

pub mod clock;
pub mod disk;
pub mod error;
pub mod mem_transport;
pub mod message;
pub mod store;
pub mod tcp_transport;
pub mod transport;

pub use clock::{Clock, ManualClock, SystemClock};
pub use disk::{DiskStore, DiskStoreConfig, Recovery, VerifyReport};
pub use error::{NodeError, Result};
pub use mem_transport::{LinkConfig, MemNetwork, MemTransport, NetStats};
pub use message::{Message, NodeMessage, PutStep};
pub use store::{MemoryStore, RecordStore, StoredEntry, Usage};
pub use tcp_transport::{TcpConfig, TcpTransport};
pub use transport::{Transport, TransportEvent};
