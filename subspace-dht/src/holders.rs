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
    /// An existing entry was refreshed (cache expiry extended, or cache upgraded to replica).
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
    /// `None` for replicas (they never expire).
    expires: Option<Instant>,
}

/// Bounded map from record key to the nodes holding it.
///
/// Replica entries never expire and leave only through [`HolderStore::remove_node`]; cache
/// entries expire at the instant given when stored. When a key is full, a replica displaces
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

    /// Number of (key, holder) entries stored, expired cache entries included until purged.
    pub fn entry_count(&self) -> usize {
        self.entries
    }

    /// Records that `node` holds `key`; `expires` is `None` for replicas.
    pub fn insert(
        &mut self,
        key: RecordKey,
        node: NodeId,
        kind: HolderKind,
        expires: Option<Instant>,
        now: Instant,
    ) -> StoreOutcome {
        if !self.map.contains_key(&key) && self.map.len() >= self.max_keys {
            return StoreOutcome::KeyLimit;
        }
        let list = self.map.entry(key).or_default();
        // Expired cache entries are dead weight: drop them before counting room.
        let before = list.len();
        list.retain(|s| s.expires.is_none_or(|t| t > now));
        self.entries -= before - list.len();
        if let Some(s) = list.iter_mut().find(|s| s.node == node) {
            match (s.kind, kind) {
                (HolderKind::Replica, _) => {}
                (HolderKind::Cache, HolderKind::Replica) => {
                    s.kind = HolderKind::Replica;
                    s.expires = None;
                }
                (HolderKind::Cache, HolderKind::Cache) => {
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
            .filter(|s| s.expires.is_none_or(|t| t > now))
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

    /// Drops every cache entry expired at `now`. Returns how many were dropped.
    pub fn purge(&mut self, now: Instant) -> usize {
        let mut removed = 0;
        self.map.retain(|_, list| {
            let before = list.len();
            list.retain(|s| s.expires.is_none_or(|t| t > now));
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

    fn n(b: u8) -> NodeId {
        NodeId::from_bytes([b; 32])
    }
    fn k(b: u8) -> RecordKey {
        RecordKey::from_bytes([b; 32])
    }

    #[test]
    fn cache_expires_replica_does_not() {
        let t0 = Instant::now();
        let ttl = Duration::from_secs(60);
        let mut s = HolderStore::new(10, 4);
        assert_eq!(
            s.insert(k(1), n(1), HolderKind::Replica, None, t0),
            StoreOutcome::Stored
        );
        assert_eq!(
            s.insert(k(1), n(2), HolderKind::Cache, Some(t0 + ttl), t0),
            StoreOutcome::Stored
        );
        assert_eq!(s.get(&k(1), t0).len(), 2);
        let later = t0 + ttl;
        assert_eq!(
            s.get(&k(1), later),
            vec![Holder {
                node: n(1),
                kind: HolderKind::Replica
            }]
        );
        assert_eq!(s.purge(later), 1);
        assert_eq!(s.entry_count(), 1);
        assert_eq!(s.remove_node(&n(1)), 1);
        assert_eq!(s.key_count(), 0);
        assert_eq!(s.entry_count(), 0);
    }

    #[test]
    fn bounds_drop_and_replicas_displace_caches() {
        let t0 = Instant::now();
        let mut s = HolderStore::new(2, 2);
        let exp = Some(t0 + Duration::from_secs(5));
        s.insert(k(1), n(1), HolderKind::Cache, exp, t0);
        s.insert(k(1), n(2), HolderKind::Cache, exp, t0);
        assert_eq!(
            s.insert(k(1), n(3), HolderKind::Cache, exp, t0),
            StoreOutcome::HolderLimit
        );
        assert_eq!(
            s.insert(k(1), n(4), HolderKind::Replica, None, t0),
            StoreOutcome::Stored
        );
        assert_eq!(
            s.insert(k(1), n(5), HolderKind::Replica, None, t0),
            StoreOutcome::Stored
        );
        assert_eq!(
            s.insert(k(1), n(6), HolderKind::Replica, None, t0),
            StoreOutcome::HolderLimit
        );
        assert_eq!(
            s.get(&k(1), t0)
                .iter()
                .filter(|h| h.kind == HolderKind::Replica)
                .count(),
            2
        );
        s.insert(k(2), n(1), HolderKind::Replica, None, t0);
        assert_eq!(
            s.insert(k(3), n(1), HolderKind::Replica, None, t0),
            StoreOutcome::KeyLimit
        );
        assert_eq!(s.key_count(), 2);
        assert_eq!(s.entry_count(), 3);
    }

    #[test]
    fn cache_upgrades_to_replica_and_refreshes() {
        let t0 = Instant::now();
        let mut s = HolderStore::new(2, 2);
        s.insert(
            k(1),
            n(1),
            HolderKind::Cache,
            Some(t0 + Duration::from_secs(1)),
            t0,
        );
        assert_eq!(
            s.insert(
                k(1),
                n(1),
                HolderKind::Cache,
                Some(t0 + Duration::from_secs(9)),
                t0
            ),
            StoreOutcome::Refreshed
        );
        assert_eq!(s.get(&k(1), t0 + Duration::from_secs(5)).len(), 1);
        s.insert(k(1), n(1), HolderKind::Replica, None, t0);
        assert_eq!(
            s.get(&k(1), t0 + Duration::from_secs(3600))[0].kind,
            HolderKind::Replica
        );
    }
}
