//! What the DHT reports to its driver: finished queries and routing changes.

use std::time::Duration;

use subspace_crypto::{NodeId, RecordKey};

use crate::Holder;

/// Names a query started by [`Dht::find_node`](crate::Dht::find_node) and friends; its
/// result arrives as an [`Event`] carrying the same id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueryId(pub u64);

/// How a query went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Longest chain of referrals behind a node in the result: 1 when the answer came from
    /// nodes already in the local table, 2 when one of them pointed at it, and so on.
    pub hops: u32,
    /// Requests sent (lookup and, for announces, store requests).
    pub requests: u32,
    /// Replies received.
    pub responses: u32,
    /// Requests that timed out or could not be sent.
    pub failures: u32,
    /// Virtual time from start to finish.
    pub duration: Duration,
    /// True when the query hit [`DhtConfig::query_timeout`](crate::DhtConfig::query_timeout)
    /// and reports what it had.
    pub timed_out: bool,
}

/// Something the driver should know; drain with [`Dht::poll_event`](crate::Dht::poll_event).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A [`Dht::find_node`](crate::Dht::find_node) finished.
    NodesFound {
        /// The query.
        query: QueryId,
        /// The id looked up.
        target: NodeId,
        /// The closest responsive nodes found (at most `k`), nearest first.
        closest: Vec<NodeId>,
        /// How it went.
        stats: QueryStats,
    },
    /// A [`Dht::find_holders`](crate::Dht::find_holders) finished.
    HoldersFound {
        /// The query.
        query: QueryId,
        /// The key looked up.
        key: RecordKey,
        /// Every holder reported (bounded), replicas first, then by node id.
        holders: Vec<Holder>,
        /// How it went.
        stats: QueryStats,
    },
    /// A [`Dht::announce`](crate::Dht::announce) finished.
    Announced {
        /// The query.
        query: QueryId,
        /// The key announced.
        key: RecordKey,
        /// Nodes that accepted at least one announcement (the local node included when it is
        /// among the closest), nearest first.
        stored_on: Vec<NodeId>,
        /// How it went.
        stats: QueryStats,
    },
    /// A [`Dht::bootstrap`](crate::Dht::bootstrap) self-lookup finished.
    Bootstrapped {
        /// The query.
        query: QueryId,
        /// Routing entries now held.
        peers: usize,
        /// How it went.
        stats: QueryStats,
    },
    /// A peer entered the routing table.
    PeerAdded(NodeId),
    /// A peer left the routing table (evicted after failures, or reported gone).
    PeerRemoved(NodeId),
}
