//! The holder store: which nodes hold which records, as announced to this node.

use std::collections::BTreeMap;
use std::time::Instant;

use subspace_crypto::{NodeId, RecordKey};

use crate::{Holder, HolderKind};

/// What [`HolderStore::insert`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreOutcome {
    /// A new entry.
    Stored,
    /// An existing entry was refreshed: its expiry extended (a re-announcement), or a cache
    /// entry upgraded to a replica with the replica's expiry.
    Refreshed,
    /// Dropped: the store already holds its maximum number of keys.
    KeyLimit,
    /// Dropped: the key already has its maximum number of holders.
    HolderLimit,
}

#[derive(Clone, Debug)]
struct Stored {
    node: NodeId,
    kind: HolderKind,
    /// The entry is dead at and after this instant.
    expires: Instant,
}

impl Stored {
    fn live(&self, now: Instant) -> bool {
        self.expires > now
    }
}

/// Bounded map from record key to the nodes holding it.
///
/// Every entry expires at the instant given when it was stored or last refreshed: the
/// [`Dht`](crate::Dht) gives replicas [`DhtConfig::replica_ttl`](crate::DhtConfig::replica_ttl)
/// and caches [`DhtConfig::cache_ttl`](crate::DhtConfig::cache_ttl) from the announcement.
/// Expired entries are invisible to [`HolderStore::get`], make room for new ones in
/// [`HolderStore::insert`], and are dropped by [`HolderStore::purge`];
/// [`HolderStore::remove_node`] removes a holder early. When a key is full, a replica displaces
/// the cache entry nearest expiry; anything else over a bound is dropped (the caller counts).
#[derive(Clone, Debug)]
pub struct HolderStore {
    max_keys: usize,
    max_per_key: usize,
    map: BTreeMap<RecordKey, Vec<Stored>>,
    entries: usize,
}

impl HolderStore {
    /// An empty store of at most `max_keys` keys with at most `max_per_key` holders each.
    pub fn new(max_keys: usize, max_per_key: usize) -> Self {
        HolderStore {
            max_keys,
            max_per_key: max_per_key.max(1),
            map: BTreeMap::new(),
            entries: 0,
        }
    }

    /// Number of keys stored.
    pub fn key_count(&self) -> usize {
        self.map.len()
    }

    /// Number of (key, holder) entries stored, expired entries included until purged.
    pub fn entry_count(&self) -> usize {
        self.entries
    }

    /// Records that `node` holds `key` until `expires`. Inserting an existing entry again
    /// refreshes it: the later expiry wins, and a replica insert upgrades a cache entry to a
    /// replica expiring at `expires`. A cache insert for a replica entry changes nothing (it
    /// carries no proof, so it cannot keep a replica alive).
    pub fn insert(
        &mut self,
        key: RecordKey,
        node: NodeId,
        kind: HolderKind,
        expires: Instant,
        now: Instant,
    ) -> StoreOutcome {
        if !self.map.contains_key(&key) && self.map.len() >= self.max_keys {
            return StoreOutcome::KeyLimit;
        }
        let list = self.map.entry(key).or_default();
        // Expired entries are dead weight: drop them before counting room.
        let before = list.len();
        list.retain(|s| s.live(now));
        self.entries -= before - list.len();
        if let Some(s) = list.iter_mut().find(|s| s.node == node) {
            match (s.kind, kind) {
                (HolderKind::Replica, HolderKind::Cache) => {}
                (HolderKind::Cache, HolderKind::Replica) => {
                    s.kind = HolderKind::Replica;
                    s.expires = expires;
                }
                (HolderKind::Replica, HolderKind::Replica)
                | (HolderKind::Cache, HolderKind::Cache) => {
                    s.expires = s.expires.max(expires);
                }
            }
            return StoreOutcome::Refreshed;
        }
        let new = Stored {
            node,
            kind,
            expires,
        };
        if list.len() < self.max_per_key {
            list.push(new);
            self.entries += 1;
            return StoreOutcome::Stored;
        }
        if kind == HolderKind::Replica
            && let Some(i) = list
                .iter()
                .enumerate()
                .filter(|(_, s)| s.kind == HolderKind::Cache)
                .min_by_key(|(_, s)| s.expires)
                .map(|(i, _)| i)
        {
            list[i] = new;
            return StoreOutcome::Stored;
        }
        if list.is_empty() {
            self.map.remove(&key);
        }
        StoreOutcome::HolderLimit
    }

    /// Live holders of `key` at `now`, replicas first, then by node id.
    pub fn get(&self, key: &RecordKey, now: Instant) -> Vec<Holder> {
        let mut out: Vec<Holder> = self
            .map
            .get(key)
            .into_iter()
            .flatten()
            .filter(|s| s.live(now))
            .map(|s| Holder {
                node: s.node,
                kind: s.kind,
            })
            .collect();
        out.sort_by_key(|h| (h.kind, h.node));
        out
    }

    /// Removes every entry naming `node` (after a valid leave, failure or fault). Returns how
    /// many were removed. Costs one pass over the store; reports of departures are rare.
    pub fn remove_node(&mut self, node: &NodeId) -> usize {
        let mut removed = 0;
        self.map.retain(|_, list| {
            let before = list.len();
            list.retain(|s| s.node != *node);
            removed += before - list.len();
            !list.is_empty()
        });
        self.entries -= removed;
        removed
    }

    /// Drops every entry (replica or cache) expired at `now`, and keys left with none.
    /// Returns how many entries were dropped.
    pub fn purge(&mut self, now: Instant) -> usize {
        let mut removed = 0;
        self.map.retain(|_, list| {
            let before = list.len();
            list.retain(|s| s.live(now));
            removed += before - list.len();
            !list.is_empty()
        });
        self.entries -= removed;
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MIN: Duration = Duration::from_secs(60);
    const HOUR: Duration = Duration::from_secs(3600);

    fn n(b: u8) -> NodeId {
        NodeId::from_bytes([b; 32])
    }
    fn k(b: u8) -> RecordKey {
        RecordKey::from_bytes([b; 32])
    }
    fn nodes(s: &HolderStore, key: u8, now: Instant) -> Vec<NodeId> {
        s.get(&k(key), now).iter().map(|h| h.node).collect()
    }

    #[test]
    fn caches_and_replicas_each_expire_at_their_expiry() {
        let t0 = Instant::now();
        let mut s = HolderStore::new(10, 4);
        assert_eq!(
            s.insert(k(1), n(1), HolderKind::Replica, t0 + 2 * HOUR, t0),
            StoreOutcome::Stored
        );
        assert_eq!(
            s.insert(k(1), n(2), HolderKind::Cache, t0 + MIN, t0),
            StoreOutcome::Stored
        );
        assert_eq!(s.get(&k(1), t0).len(), 2);
        let later = t0 + MIN;
        assert_eq!(
            s.get(&k(1), later),
            vec![Holder {
                node: n(1),
                kind: HolderKind::Replica
            }]
        );
        assert_eq!(s.purge(later), 1);
        assert_eq!(s.entry_count(), 1);
        // The replica is live up to its expiry and dead at it.
        assert_eq!(
            nodes(&s, 1, t0 + 2 * HOUR - Duration::from_nanos(1)),
            [n(1)]
        );
        assert!(s.get(&k(1), t0 + 2 * HOUR).is_empty());
        assert_eq!(s.entry_count(), 1, "counted until purged");
        assert_eq!(s.purge(t0 + 2 * HOUR), 1);
        assert_eq!(s.key_count(), 0);
        assert_eq!(s.entry_count(), 0);
    }

    #[test]
    fn a_re_announced_replica_is_refreshed_and_outlives_its_first_expiry() {
        let t0 = Instant::now();
        let ttl = 2 * HOUR;
        let mut s = HolderStore::new(10, 4);
        s.insert(k(1), n(1), HolderKind::Replica, t0 + ttl, t0);
        s.insert(k(1), n(2), HolderKind::Replica, t0 + ttl, t0);
        // n(1) re-announces halfway; n(2) does not.
        let t1 = t0 + ttl / 2;
        assert_eq!(
            s.insert(k(1), n(1), HolderKind::Replica, t1 + ttl, t1),
            StoreOutcome::Refreshed
        );
        assert_eq!(s.entry_count(), 2, "a refresh adds no entry");
        // A cache announcement cannot keep a replica alive, nor shorten it.
        let t2 = t0 + ttl - MIN;
        assert_eq!(
            s.insert(k(1), n(2), HolderKind::Cache, t2 + 2 * MIN, t2),
            StoreOutcome::Refreshed
        );
        assert_eq!(
            s.insert(k(1), n(1), HolderKind::Cache, t2 + 2 * MIN, t2),
            StoreOutcome::Refreshed
        );
        assert_eq!(
            nodes(&s, 1, t0 + ttl - Duration::from_secs(1)),
            [n(1), n(2)]
        );
        assert_eq!(nodes(&s, 1, t0 + ttl), [n(1)]);
        assert_eq!(s.get(&k(1), t0 + ttl)[0].kind, HolderKind::Replica);
        assert_eq!(s.purge(t0 + ttl), 1);
        assert_eq!((s.key_count(), s.entry_count()), (1, 1));
        assert_eq!(nodes(&s, 1, t1 + ttl - MIN), [n(1)]);
        assert_eq!(s.purge(t1 + ttl), 1);
        assert_eq!((s.key_count(), s.entry_count()), (0, 0));
    }

    #[test]
    fn expired_replicas_give_their_slots_to_new_holders() {
        let t0 = Instant::now();
        let ttl = 2 * HOUR;
        let mut s = HolderStore::new(10, 2);
        s.insert(k(1), n(1), HolderKind::Replica, t0 + ttl, t0);
        s.insert(k(1), n(2), HolderKind::Replica, t0 + ttl, t0);
        assert_eq!(
            s.insert(k(1), n(3), HolderKind::Replica, t0 + MIN + ttl, t0 + MIN),
            StoreOutcome::HolderLimit
        );
        // Unpurged, the expired entries still make room: they are dropped before counting.
        let t1 = t0 + ttl;
        assert_eq!(
            s.insert(k(1), n(3), HolderKind::Replica, t1 + ttl, t1),
            StoreOutcome::Stored
        );
        assert_eq!(nodes(&s, 1, t1), [n(3)]);
        assert_eq!((s.key_count(), s.entry_count()), (1, 1));
        assert_eq!(s.purge(t1), 0);
        // A holder reported gone leaves before its expiry.
        assert_eq!(s.remove_node(&n(3)), 1);
        assert!(s.get(&k(1), t1).is_empty());
        assert_eq!((s.key_count(), s.entry_count()), (0, 0));
    }

    #[test]
    fn bounds_drop_and_replicas_displace_caches() {
        let t0 = Instant::now();
        let mut s = HolderStore::new(2, 2);
        let exp = t0 + Duration::from_secs(5);
        let rexp = t0 + 2 * HOUR;
        s.insert(k(1), n(1), HolderKind::Cache, exp, t0);
        s.insert(k(1), n(2), HolderKind::Cache, exp, t0);
        assert_eq!(
            s.insert(k(1), n(3), HolderKind::Cache, exp, t0),
            StoreOutcome::HolderLimit
        );
        assert_eq!(
            s.insert(k(1), n(4), HolderKind::Replica, rexp, t0),
            StoreOutcome::Stored
        );
        assert_eq!(
            s.insert(k(1), n(5), HolderKind::Replica, rexp, t0),
            StoreOutcome::Stored
        );
        assert_eq!(
            s.insert(k(1), n(6), HolderKind::Replica, rexp, t0),
            StoreOutcome::HolderLimit
        );
        assert_eq!(
            s.get(&k(1), t0)
                .iter()
                .filter(|h| h.kind == HolderKind::Replica)
                .count(),
            2
        );
        s.insert(k(2), n(1), HolderKind::Replica, rexp, t0);
        assert_eq!(
            s.insert(k(3), n(1), HolderKind::Replica, rexp, t0),
            StoreOutcome::KeyLimit
        );
        assert_eq!(s.key_count(), 2);
        assert_eq!(s.entry_count(), 3);
    }

    #[test]
    fn a_cache_upgraded_to_a_replica_takes_the_replica_expiry() {
        let t0 = Instant::now();
        let mut s = HolderStore::new(2, 2);
        s.insert(
            k(1),
            n(1),
            HolderKind::Cache,
            t0 + Duration::from_secs(1),
            t0,
        );
        assert_eq!(
            s.insert(
                k(1),
                n(1),
                HolderKind::Cache,
                t0 + Duration::from_secs(9),
                t0
            ),
            StoreOutcome::Refreshed
        );
        assert_eq!(s.get(&k(1), t0 + Duration::from_secs(5)).len(), 1);
        assert_eq!(
            s.insert(k(1), n(1), HolderKind::Replica, t0 + 2 * HOUR, t0),
            StoreOutcome::Refreshed
        );
        assert_eq!(s.entry_count(), 1);
        let h = s.get(&k(1), t0 + HOUR);
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].kind, HolderKind::Replica);
        assert!(s.get(&k(1), t0 + 2 * HOUR).is_empty());
        assert_eq!(s.purge(t0 + 2 * HOUR), 1);
        assert_eq!(s.entry_count(), 0);
    }
}
