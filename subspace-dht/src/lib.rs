#![doc = include_str!("../README.md")]

mod config;
mod dht;
mod error;
mod event;
mod holders;
mod message;
pub mod metric;
mod query;
mod rate;
mod routing;
mod validator;

pub use config::DhtConfig;
pub use dht::{Dht, DhtStats};
pub use error::DhtError;
pub use event::{Event, QueryId, QueryStats};
pub use holders::{HolderStore, StoreOutcome};
pub use message::{
    Announcement, Holder, HolderKind, MAX_ANNOUNCEMENTS, MAX_HOLDERS, MAX_MESSAGE_LEN, MAX_NODES,
    MAX_PROOF_LEN, Message, RequestId,
};
pub use rate::RateLimiter;
pub use routing::{AddrGroup, FailureOutcome, InsertOutcome, RejectReason, RoutingTable};
pub use validator::{AnnounceValidator, RejectReplicas};
