//! The routing table: k-buckets keyed by the ids peers proved, with address-group limits.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Instant;

use subspace_crypto::{Hash256, NodeId};

use crate::metric::{Dist, bit, bucket_index, dist, xor};

/// The network neighbourhood a peer's address belongs to, used to cap how many table entries
/// one operator can hold (S/Kademlia-style sybil resistance).
///
/// The node computes it from the peer's transport address with [`AddrGroup::from_ip`] (IPv4:
/// the /24; IPv6: the /48) and passes it to
/// [`Dht::handle_message_with_group`](crate::Dht::handle_message_with_group). Peers whose
/// address is unknown (relayed) carry no group and are not limited by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AddrGroup(pub [u8; 7]);

impl AddrGroup {
    /// The group of an IP address: the first 3 bytes of an IPv4 address, the first 6 of IPv6
    /// (the first byte tags the family so the two never collide).
    pub fn from_ip(ip: IpAddr) -> Self {
        let mut g = [0u8; 7];
        match ip {
            IpAddr::V4(v4) => {
                g[0] = 4;
                g[1..4].copy_from_slice(&v4.octets()[..3]);
            }
            IpAddr::V6(v6) => {
                g[0] = 6;
                g[1..7].copy_from_slice(&v6.octets()[..6]);
            }
        }
        AddrGroup(g)
    }
}

/// What [`RoutingTable::insert`] did with a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Already present: marked as just seen and moved to the most-recently-seen end.
    Updated,
    /// Added to a bucket that had room.
    Inserted,
    /// Added in place of an entry that had failed to answer, which was evicted.
    Replaced {
        /// The evicted entry.
        evicted: NodeId,
    },
    /// The bucket is full of responsive entries: the caller should ping `probe` (its
    /// least-recently-seen entry). The candidate waits; it replaces `probe` only if the ping
    /// fails ([`RoutingTable::record_failure`]), as Kademlia prescribes.
    Probe {
        /// The entry to ping.
        probe: NodeId,
    },
    /// Not added: the local id itself, a full bucket that already waits on a probe, or the
    /// peer's address group is at its limit.
    Rejected(RejectReason),
}

/// Why a peer was not added to the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectReason {
    /// The local node's own id.
    SelfId,
    /// The bucket is full and already waits on a probe.
    BucketFull,
    /// Too many entries share this peer's address group.
    GroupLimit,
}

/// What [`RoutingTable::record_failure`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureOutcome {
    /// Not in the table.
    Unknown,
    /// Marked as failing (not offered to others until it answers again).
    Marked,
    /// Evicted; `replacement` took its place if a candidate was waiting.
    Evicted {
        /// The candidate that took the slot, if any.
        replacement: Option<NodeId>,
    },
}

#[derive(Clone, Debug)]
struct Entry {
    id: NodeId,
    /// Distance from the local id.
    dist: Dist,
    group: Option<AddrGroup>,
    /// When last heard from, as a table-wide counter: orders entries by recency without
    /// moving them (buckets may be large when `k` is), and never ties.
    last_seen: u64,
    failures: u8,
}

#[derive(Clone, Debug, Default)]
struct Bucket {
    /// In no particular order; `last_seen` says which is least recently seen.
    entries: Vec<Entry>,
    /// A candidate waiting for `entries[..]`'s probe to fail, and the probed id.
    waiting: Option<(Entry, NodeId)>,
    last_refresh: Option<Instant>,
}

/// Kademlia k-buckets around a local id.
///
/// Invariants (checked by proptests): no bucket holds more than `k` entries; every entry lies
/// in the bucket its distance names; an id appears at most once; the local id never appears;
/// no address group exceeds its limits.
#[derive(Clone, Debug)]
pub struct RoutingTable {
    local: NodeId,
    k: usize,
    evict_after: u8,
    per_bucket_group: usize,
    per_table_group: usize,
    /// Grown on demand: only buckets up to the deepest one used exist.
    buckets: Vec<Bucket>,
    groups: BTreeMap<AddrGroup, usize>,
    len: usize,
    clock: u64,
}

impl RoutingTable {
    /// An empty table for `local` holding up to `k` entries per bucket; an entry is evicted
    /// after `evict_after` consecutive failures; at most `per_bucket_group` entries per bucket
    /// and `per_table_group` in all may share an [`AddrGroup`].
    pub fn new(
        local: NodeId,
        k: usize,
        evict_after: u8,
        per_bucket_group: usize,
        per_table_group: usize,
    ) -> Self {
        RoutingTable {
            local,
            k: k.max(1),
            evict_after: evict_after.max(1),
            per_bucket_group,
            per_table_group,
            buckets: Vec::new(),
            groups: BTreeMap::new(),
            len: 0,
            clock: 0,
        }
    }

    /// The local id the table is built around.
    pub fn local(&self) -> NodeId {
        self.local
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the table holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True if `id` is in the table.
    pub fn contains(&self, id: &NodeId) -> bool {
        self.find(id).is_some()
    }

    /// Every entry's id, bucket by bucket (far buckets first).
    pub fn ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.buckets
            .iter()
            .flat_map(|b| b.entries.iter().map(|e| e.id))
    }

    /// Number of buckets that exist (one past the deepest bucket ever used).
    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// Entries in bucket `index`.
    pub fn bucket_len(&self, index: usize) -> usize {
        self.buckets.get(index).map_or(0, |b| b.entries.len())
    }

    fn find(&self, id: &NodeId) -> Option<(usize, usize)> {
        let b = bucket_index(&self.local.distance(id))?;
        let d = dist(&self.local.0, &id.0);
        let pos = self
            .buckets
            .get(b)?
            .entries
            .iter()
            .position(|e| e.dist == d)?;
        Some((b, pos))
    }

    /// Records that `id` (authenticated by the transport) was just heard from, adding it if
    /// there is room. See [`InsertOutcome`] for what the caller must do next.
    pub fn insert(&mut self, id: NodeId, group: Option<AddrGroup>, now: Instant) -> InsertOutcome {
        let Some(b) = bucket_index(&self.local.distance(&id)) else {
            return InsertOutcome::Rejected(RejectReason::SelfId);
        };
        let dist = dist(&self.local.0, &id.0);
        if self.buckets.len() <= b {
            // A new bucket counts as fresh: it is refreshed only if left alone for a period.
            self.buckets.resize_with(b + 1, || Bucket {
                last_refresh: Some(now),
                ..Bucket::default()
            });
        }
        let k = self.k;
        self.clock += 1;
        let seen = self.clock;
        let bucket = &mut self.buckets[b];
        if let Some(e) = bucket.entries.iter_mut().find(|e| e.dist == dist) {
            e.last_seen = seen;
            e.failures = 0;
            // A probed entry that answers keeps its slot; the waiting candidate is dropped.
            if bucket.waiting.as_ref().is_some_and(|(_, p)| *p == id) {
                bucket.waiting = None;
            }
            return InsertOutcome::Updated;
        }
        if let Some(g) = group {
            let in_bucket = bucket.entries.iter().filter(|e| e.group == Some(g)).count();
            let in_table = self.groups.get(&g).copied().unwrap_or(0);
            if in_bucket >= self.per_bucket_group || in_table >= self.per_table_group {
                return InsertOutcome::Rejected(RejectReason::GroupLimit);
            }
        }
        let entry = Entry {
            id,
            dist,
            group,
            last_seen: seen,
            failures: 0,
        };
        if bucket.entries.len() < k {
            bucket.entries.push(entry);
            self.len += 1;
            if let Some(g) = group {
                *self.groups.entry(g).or_insert(0) += 1;
            }
            return InsertOutcome::Inserted;
        }
        // Full: an entry that has failed to answer gives way at once (the most-failed,
        // least-recently seen one); otherwise the least-recently seen is probed first.
        let stale = bucket
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.failures > 0)
            .max_by(|(_, a), (_, b)| {
                a.failures
                    .cmp(&b.failures)
                    .then(b.last_seen.cmp(&a.last_seen))
            })
            .map(|(i, _)| i);
        if let Some(i) = stale {
            let old = std::mem::replace(&mut bucket.entries[i], entry);
            if bucket.waiting.as_ref().is_some_and(|(_, p)| *p == old.id) {
                bucket.waiting = None;
            }
            self.ungroup(old.group);
            if let Some(g) = group {
                *self.groups.entry(g).or_insert(0) += 1;
            }
            return InsertOutcome::Replaced { evicted: old.id };
        }
        if bucket.waiting.is_some() {
            return InsertOutcome::Rejected(RejectReason::BucketFull);
        }
        let Some(probe) = bucket
            .entries
            .iter()
            .min_by_key(|e| e.last_seen)
            .map(|e| e.id)
        else {
            // Unreachable: the bucket is full and k >= 1.
            return InsertOutcome::Rejected(RejectReason::BucketFull);
        };
        bucket.waiting = Some((entry, probe));
        InsertOutcome::Probe { probe }
    }

    fn ungroup(&mut self, group: Option<AddrGroup>) {
        if let Some(g) = group
            && let Some(n) = self.groups.get_mut(&g)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.groups.remove(&g);
            }
        }
    }

    /// Records that `id` failed to answer a request. Evicts it after `evict_after`
    /// consecutive failures, or at once if it was being probed for a waiting candidate.
    pub fn record_failure(&mut self, id: &NodeId) -> FailureOutcome {
        let Some((b, pos)) = self.find(id) else {
            return FailureOutcome::Unknown;
        };
        let bucket = &mut self.buckets[b];
        let probed = bucket.waiting.as_ref().is_some_and(|(_, p)| p == id);
        let e = &mut bucket.entries[pos];
        e.failures = e.failures.saturating_add(1);
        if !probed && e.failures < self.evict_after {
            return FailureOutcome::Marked;
        }
        let old = bucket.entries.swap_remove(pos);
        let waiting = bucket.waiting.take();
        self.len -= 1;
        self.ungroup(old.group);
        let mut replacement = None;
        if let Some((cand, _)) = waiting {
            // Group counts may have moved since the candidate was parked: check again.
            let fits = cand.group.is_none_or(|g| {
                let in_bucket = self.buckets[b]
                    .entries
                    .iter()
                    .filter(|e| e.group == Some(g))
                    .count();
                in_bucket < self.per_bucket_group
                    && self.groups.get(&g).copied().unwrap_or(0) < self.per_table_group
            });
            if fits {
                replacement = Some(cand.id);
                if let Some(g) = cand.group {
                    *self.groups.entry(g).or_insert(0) += 1;
                }
                self.buckets[b].entries.push(cand);
                self.len += 1;
            }
        }
        FailureOutcome::Evicted { replacement }
    }

    /// Removes `id` (a peer reported gone). Returns whether it was present.
    pub fn remove(&mut self, id: &NodeId) -> bool {
        let Some((b, pos)) = self.find(id) else {
            return false;
        };
        let old = self.buckets[b].entries.swap_remove(pos);
        if self.buckets[b]
            .waiting
            .as_ref()
            .is_some_and(|(_, p)| *p == old.id)
        {
            self.buckets[b].waiting = None;
        }
        self.len -= 1;
        self.ungroup(old.group);
        true
    }

    /// The `n` entries closest to `target`, nearest first. Entries that have failed to answer
    /// are only used when there are not `n` responsive ones.
    pub fn closest(&self, target: &Hash256, n: usize) -> Vec<NodeId> {
        let mut out = Vec::with_capacity(n);
        self.closest_into(target, n, &mut out);
        out
    }

    /// [`RoutingTable::closest`] into a caller's buffer (cleared first), to reuse its allocation.
    pub fn closest_into(&self, target: &Hash256, n: usize, out: &mut Vec<NodeId>) {
        out.clear();
        if n == 0 {
            return;
        }
        let d = self.local.0.distance(target);
        let dw = dist(&self.local.0, target);
        // Buckets in increasing distance from `target`: an entry in bucket j has distance
        // `d ^ e` with e's first set bit at j. If d's bit j is set, that distance is below d
        // and shrinks as j falls; if clear, it is above d and shrinks as j grows. So: set-bit
        // buckets by ascending j, then clear-bit buckets by descending j.
        let nb = self.buckets.len();
        let order = (0..nb)
            .filter(|&j| bit(&d, j))
            .chain((0..nb).rev().filter(|&j| !bit(&d, j)));
        let mut scratch: Vec<(Dist, NodeId)> = Vec::with_capacity(self.k);
        let mut stale: Vec<(Dist, NodeId)> = Vec::new();
        for j in order {
            let bucket = &self.buckets[j];
            scratch.clear();
            for e in &bucket.entries {
                let dist = xor(&e.dist, &dw);
                if e.failures == 0 {
                    scratch.push((dist, e.id));
                } else {
                    stale.push((dist, e.id));
                }
            }
            let need = n - out.len();
            if scratch.len() > need {
                // Large buckets (big k): select the nearest `need` before sorting them.
                scratch.select_nth_unstable(need - 1);
                scratch.truncate(need);
            }
            scratch.sort_unstable();
            for (_, id) in scratch.iter() {
                out.push(*id);
            }
            if out.len() >= n {
                return;
            }
        }
        stale.sort_unstable();
        out.extend(stale.iter().take(n - out.len()).map(|(_, id)| *id));
    }

    /// Index of the deepest non-empty bucket (the one holding the closest neighbours).
    pub fn deepest_bucket(&self) -> Option<usize> {
        self.buckets.iter().rposition(|b| !b.entries.is_empty())
    }

    /// Marks bucket `index` as refreshed at `now` (a lookup into it ran).
    pub(crate) fn mark_refreshed(&mut self, index: usize, now: Instant) {
        if let Some(b) = self.buckets.get_mut(index) {
            b.last_refresh = Some(now);
        }
    }

    /// Buckets up to the deepest non-empty one not refreshed since `since`.
    pub(crate) fn stale_buckets(&self, since: Instant) -> Vec<usize> {
        let Some(deepest) = self.deepest_bucket() else {
            return Vec::new();
        };
        (0..=deepest)
            .filter(|&i| self.buckets[i].last_refresh.is_none_or(|t| t < since))
            .collect()
    }

    #[cfg(test)]
    fn check_invariants(&self) {
        let mut seen = std::collections::BTreeSet::new();
        let mut groups: BTreeMap<AddrGroup, usize> = BTreeMap::new();
        let mut len = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            assert!(b.entries.len() <= self.k, "bucket {i} over k");
            let mut per_bucket: BTreeMap<AddrGroup, usize> = BTreeMap::new();
            for e in &b.entries {
                assert_ne!(e.id, self.local);
                assert_eq!(bucket_index(&self.local.distance(&e.id)), Some(i));
                assert_eq!(e.dist, dist(&self.local.0, &e.id.0));
                assert!(seen.insert(e.id), "duplicate entry");
                if let Some(g) = e.group {
                    *groups.entry(g).or_default() += 1;
                    *per_bucket.entry(g).or_default() += 1;
                }
                len += 1;
            }
            assert!(per_bucket.values().all(|&n| n <= self.per_bucket_group));
        }
        assert_eq!(len, self.len);
        assert_eq!(groups, self.groups);
        assert!(groups.values().all(|&n| n <= self.per_table_group));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    fn brute_closest(ids: &[NodeId], target: &Hash256, n: usize) -> Vec<NodeId> {
        let mut v: Vec<_> = ids.iter().map(|i| (i.0.distance(target), *i)).collect();
        v.sort();
        v.into_iter().take(n).map(|(_, i)| i).collect()
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert([u8; 32], Option<u8>),
        /// Fail the entry at this position (mod len) of `ids()`.
        Fail(usize),
        Remove(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (any::<[u8; 32]>(), proptest::option::of(0u8..4)).prop_map(|(b, g)| Op::Insert(b, g)),
            2 => any::<usize>().prop_map(Op::Fail),
            1 => any::<usize>().prop_map(Op::Remove),
        ]
    }

    proptest! {
        #[test]
        fn bucket_invariants_hold(local in any::<[u8; 32]>(), ops in proptest::collection::vec(op(), 1..300)) {
            let t0 = Instant::now();
            let mut t = RoutingTable::new(NodeId::from_bytes(local), 4, 2, 2, 5);
            for (step, op) in ops.into_iter().enumerate() {
                let now = t0 + Duration::from_millis(step as u64);
                match op {
                    Op::Insert(mut b, g) => {
                        // Bias towards deep buckets so they fill up too.
                        b[..2].copy_from_slice(&local[..2]);
                        let id = NodeId::from_bytes(b);
                        let before = t.len();
                        let out = t.insert(id, g.map(|g| AddrGroup([g; 7])), now);
                        match out {
                            InsertOutcome::Inserted => prop_assert_eq!(t.len(), before + 1),
                            InsertOutcome::Updated | InsertOutcome::Replaced { .. } |
                            InsertOutcome::Probe { .. } | InsertOutcome::Rejected(_) => prop_assert_eq!(t.len(), before),
                        }
                        if matches!(out, InsertOutcome::Inserted | InsertOutcome::Updated | InsertOutcome::Replaced { .. }) {
                            prop_assert!(t.contains(&id));
                        }
                    }
                    Op::Fail(i) => {
                        let ids: Vec<_> = t.ids().collect();
                        if !ids.is_empty() {
                            let id = ids[i % ids.len()];
                            if let FailureOutcome::Evicted { .. } = t.record_failure(&id) {
                                prop_assert!(!t.contains(&id));
                            }
                        }
                    }
                    Op::Remove(i) => {
                        let ids: Vec<_> = t.ids().collect();
                        if !ids.is_empty() {
                            let id = ids[i % ids.len()];
                            prop_assert!(t.remove(&id));
                            prop_assert!(!t.contains(&id));
                        }
                    }
                }
                t.check_invariants();
            }
        }

        #[test]
        fn closest_matches_brute_force(local in any::<[u8; 32]>(), ids in proptest::collection::vec(any::<[u8; 32]>(), 0..200), target in any::<[u8; 32]>(), n in 1usize..30) {
            let t0 = Instant::now();
            let mut t = RoutingTable::new(NodeId::from_bytes(local), 8, 3, 100, 100);
            for b in ids {
                t.insert(NodeId::from_bytes(b), None, t0);
            }
            let all: Vec<_> = t.ids().collect();
            let target = Hash256(target);
            prop_assert_eq!(t.closest(&target, n), brute_closest(&all, &target, n));
        }
    }

    #[test]
    fn full_bucket_probes_then_replaces_on_failure() {
        let t0 = Instant::now();
        let local = NodeId::from_bytes([0; 32]);
        let mut t = RoutingTable::new(local, 2, 3, 10, 10);
        let id = |b: u8| {
            let mut a = [0u8; 32];
            a[0] = 0x80;
            a[31] = b;
            NodeId::from_bytes(a)
        };
        assert_eq!(t.insert(id(1), None, t0), InsertOutcome::Inserted);
        assert_eq!(t.insert(id(2), None, t0), InsertOutcome::Inserted);
        assert_eq!(
            t.insert(id(3), None, t0),
            InsertOutcome::Probe { probe: id(1) }
        );
        assert_eq!(
            t.insert(id(4), None, t0),
            InsertOutcome::Rejected(RejectReason::BucketFull)
        );
        // The probe answers: it stays, the candidate is dropped.
        assert_eq!(t.insert(id(1), None, t0), InsertOutcome::Updated);
        assert!(!t.contains(&id(3)));
        // Probe the least-recently seen again (now id(2)); it fails: the candidate replaces it.
        assert_eq!(
            t.insert(id(3), None, t0),
            InsertOutcome::Probe { probe: id(2) }
        );
        assert_eq!(
            t.record_failure(&id(2)),
            FailureOutcome::Evicted {
                replacement: Some(id(3))
            }
        );
        assert!(t.contains(&id(3)) && !t.contains(&id(2)));
        // A failing entry gives way to a newcomer at once.
        assert_eq!(t.record_failure(&id(1)), FailureOutcome::Marked);
        assert_eq!(
            t.insert(id(5), None, t0),
            InsertOutcome::Replaced { evicted: id(1) }
        );
        t.check_invariants();
    }

    #[test]
    fn address_groups_are_capped() {
        let t0 = Instant::now();
        let local = NodeId::from_bytes([0; 32]);
        let mut t = RoutingTable::new(local, 20, 3, 2, 3);
        let g = AddrGroup::from_ip("10.1.2.3".parse().unwrap());
        assert_eq!(g, AddrGroup::from_ip("10.1.2.200".parse().unwrap()));
        assert_ne!(g, AddrGroup::from_ip("10.1.3.3".parse().unwrap()));
        let mut added = 0;
        for i in 0..10u8 {
            let mut a = [0u8; 32];
            a[0] = 0x80 >> (i % 3);
            a[31] = i;
            if t.insert(NodeId::from_bytes(a), Some(g), t0) == InsertOutcome::Inserted {
                added += 1;
            }
        }
        assert_eq!(added, 3);
        t.check_invariants();
    }

    #[test]
    fn failing_entries_are_offered_last() {
        let t0 = Instant::now();
        let local = NodeId::from_bytes([0; 32]);
        let mut t = RoutingTable::new(local, 20, 3, 10, 10);
        let near = NodeId::from_bytes([1; 32]);
        let far = NodeId::from_bytes([0xff; 32]);
        t.insert(near, None, t0);
        t.insert(far, None, t0);
        assert_eq!(t.closest(&Hash256::ZERO, 1), vec![near]);
        t.record_failure(&near);
        assert_eq!(t.closest(&Hash256::ZERO, 1), vec![far]);
        assert_eq!(t.closest(&Hash256::ZERO, 2), vec![far, near]);
    }
}
