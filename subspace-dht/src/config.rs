//! Tunables of the DHT, with Kademlia's defaults.

use std::time::Duration;

/// Configuration of a [`Dht`](crate::Dht). Start from [`DhtConfig::default`] and change fields.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DhtConfig {
    /// Bucket size and replication width: lookups return, and announces store on, the `k`
    /// closest nodes (default 20, at most [`MAX_NODES`](crate::MAX_NODES)).
    pub k: usize,
    /// Requests in flight per lookup path (default 3).
    pub alpha: usize,
    /// Disjoint lookup paths (S/Kademlia): 1 is plain Kademlia; `d > 1` splits the first hop
    /// over `d` paths that never share a node, so one poisoned path cannot hide the target.
    pub disjoint_paths: usize,
    /// How long to wait for a reply before counting the peer as failed (default 2 s).
    pub request_timeout: Duration,
    /// How long a whole query may run before it finishes with what it has (default 60 s).
    pub query_timeout: Duration,
    /// Consecutive failures after which a routing entry is evicted (default 3).
    pub evict_after_failures: u8,
    /// A bucket not looked into for this long is refreshed by a lookup of a random id in it
    /// (default 15 min).
    pub refresh_interval: Duration,
    /// Period of housekeeping: purging expired holder entries (caches and replicas), bucket
    /// refresh (default 60 s).
    pub maintenance_interval: Duration,
    /// After a bootstrap's self-lookup, refresh every bucket farther than the nearest
    /// neighbour, as Kademlia's join does (default true).
    pub refresh_on_bootstrap: bool,
    /// Lifetime of a cache (social-replication) announcement on the storing node (default 1 h).
    pub cache_ttl: Duration,
    /// Lifetime of a replica announcement on the storing node, counted from when it was
    /// stored or last re-announced (default 2 h).
    ///
    /// The re-announcement contract: a node holding a replica must announce it again, with a
    /// fresh proof, at least every [`DhtConfig::republish_interval`] (`replica_ttl / 2`), or
    /// the storing nodes forget it. Expiry is what frees a key's holder slots from holders
    /// that stopped announcing, including ones that never held the record and filled the
    /// slots with proofs they signed themselves; [`Dht::holder_gone`](crate::Dht::holder_gone)
    /// still removes a holder early.
    pub replica_ttl: Duration,
    /// Holders kept per key (default 32).
    pub max_holders_per_key: usize,
    /// Keys kept in the holder store (default 65 536).
    pub max_keys: usize,
    /// Queries running at once, internal refreshes included (default 64).
    pub max_queries: usize,
    /// Outstanding requests at once (default 1024).
    pub max_pending_requests: usize,
    /// Requests accepted per peer per second; more are dropped (default 50).
    pub max_requests_per_peer_per_sec: u32,
    /// Peers tracked by the rate limiter (default 4096).
    pub max_rate_tracked_peers: usize,
    /// Routing entries sharing one [`AddrGroup`](crate::AddrGroup) per bucket (default 2).
    pub max_per_group_per_bucket: usize,
    /// Routing entries sharing one [`AddrGroup`](crate::AddrGroup) in the table (default 10).
    pub max_per_group: usize,
    /// Capacity of the outgoing message queue and of the event queue each (default 4096).
    pub max_queue: usize,
}

impl Default for DhtConfig {
    fn default() -> Self {
        DhtConfig {
            k: 20,
            alpha: 3,
            disjoint_paths: 1,
            request_timeout: Duration::from_secs(2),
            query_timeout: Duration::from_secs(60),
            evict_after_failures: 3,
            refresh_interval: Duration::from_secs(15 * 60),
            maintenance_interval: Duration::from_secs(60),
            refresh_on_bootstrap: true,
            cache_ttl: Duration::from_secs(3600),
            replica_ttl: Duration::from_secs(2 * 3600),
            max_holders_per_key: 32,
            max_keys: 65_536,
            max_queries: 64,
            max_pending_requests: 1024,
            max_requests_per_peer_per_sec: 50,
            max_rate_tracked_peers: 4096,
            max_per_group_per_bucket: 2,
            max_per_group: 10,
            max_queue: 4096,
        }
    }
}

impl DhtConfig {
    /// How often a node holding a replica must re-announce it (with a fresh proof) to keep it
    /// stored: `replica_ttl / 2`, which leaves a re-announcement (a whole lookup and store, up
    /// to [`DhtConfig::query_timeout`]) half a lifetime to land before the previous one
    /// expires. Schedule re-announcements from this.
    pub fn republish_interval(&self) -> Duration {
        self.replica_ttl / 2
    }
}
