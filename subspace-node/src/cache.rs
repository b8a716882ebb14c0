//! The bounded LRU of records a client fetched (social replication serves from it).

use std::collections::BTreeMap;

use subspace_crypto::RecordKey;

/// Least-recently-used record bytes, bounded by entries and by bytes, with an eviction counter.
#[derive(Debug)]
pub struct RecordCache {
    entries: BTreeMap<RecordKey, (u64, Vec<u8>)>,
    order: BTreeMap<u64, RecordKey>,
    tick: u64,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
    evicted: u64,
}

impl RecordCache {
    /// A cache of at most `max_entries` records and `max_bytes` bytes.
    pub fn new(max_entries: usize, max_bytes: usize) -> RecordCache {
        RecordCache {
            entries: BTreeMap::new(),
            order: BTreeMap::new(),
            tick: 0,
            bytes: 0,
            max_entries,
            max_bytes,
            evicted: 0,
        }
    }

    /// Inserts (or refreshes) `key`; evicts the least recently used to stay within bounds.
    pub fn insert(&mut self, key: RecordKey, bytes: Vec<u8>) {
        if bytes.len() > self.max_bytes || self.max_entries == 0 {
            return;
        }
        self.remove(&key);
        self.tick += 1;
        self.bytes += bytes.len();
        self.order.insert(self.tick, key);
        self.entries.insert(key, (self.tick, bytes));
        while self.entries.len() > self.max_entries || self.bytes > self.max_bytes {
            let Some((_, old)) = self.order.pop_first() else {
                break;
            };
            if let Some((_, b)) = self.entries.remove(&old) {
                self.bytes -= b.len();
                self.evicted += 1;
            }
        }
    }

    /// The bytes for `key`, marking it recently used.
    pub fn get(&mut self, key: &RecordKey) -> Option<&[u8]> {
        let (t, _) = self.entries.get(key)?;
        let t = *t;
        self.tick += 1;
        self.order.remove(&t);
        self.order.insert(self.tick, *key);
        let e = self.entries.get_mut(key)?;
        e.0 = self.tick;
        Some(&e.1)
    }

    /// Drops `key`.
    pub fn remove(&mut self, key: &RecordKey) {
        if let Some((t, b)) = self.entries.remove(key) {
            self.order.remove(&t);
            self.bytes -= b.len();
        }
    }

    /// Records evicted to stay within bounds.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Records held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(i: u8) -> RecordKey {
        RecordKey::from_bytes([i; 32])
    }

    #[test]
    fn evicts_least_recently_used_by_count_and_bytes() {
        let mut c = RecordCache::new(2, 100);
        c.insert(k(1), vec![0; 10]);
        c.insert(k(2), vec![0; 10]);
        assert!(c.get(&k(1)).is_some());
        c.insert(k(3), vec![0; 10]);
        assert!(c.get(&k(2)).is_none(), "2 was least recently used");
        assert!(c.get(&k(1)).is_some() && c.get(&k(3)).is_some());
        c.insert(k(4), vec![0; 95]);
        assert_eq!(c.len(), 1);
        assert_eq!(c.evicted(), 3);
    }
}
