#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod broadcast;
mod cache;
mod config;
mod error;
mod fault;
mod gossip;
mod index;
pub mod message;
mod pool;
pub mod sampling;
pub mod statement;
pub mod uptime;

pub use broadcast::BroadcastQueue;
pub use cache::VerifiedCache;
pub use config::{Config, ProbeAuth};
pub use error::{GossipError, Result};
pub use fault::{ClaimedPledges, FaultValidator, PledgeOracle, RejectAllFaults};
pub use gossip::{Event, Gossip, Stats};
pub use message::{Body, Message};
pub use pool::{MemberInfo, Pool, Status, Summary};
pub use statement::{Signed, Statement};
pub use uptime::{FAULT_PENALTY_MS, Interval};
