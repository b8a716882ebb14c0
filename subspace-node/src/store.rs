//! The local shard: the [`RecordStore`] trait and the in-memory [`MemoryStore`].

use std::collections::BTreeMap;

use subspace_crypto::RecordKey;

use crate::{NodeError, Result};

/// One stored replica with its index entry, written and read as a unit.
///
/// `body` is the replica's bytes (for a host, its own Sloth-encoded replica); `meta` is the
/// small index entry the node keeps beside it (an encoded receipt, version, holder info).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEntry {
    /// The replica's bytes.
    pub body: Vec<u8>,
    /// The index entry stored atomically with the body.
    pub meta: Vec<u8>,
}

/// Space accounting of a store, in bytes of bodies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    /// Bytes of bodies currently stored.
    pub used: u64,
    /// Bytes pledged for storage; puts beyond this are refused with [`NodeError::StoreFull`].
    pub pledged: u64,
    /// Number of stored entries.
    pub entries: u64,
}

/// The local shard a host keeps: replicas keyed by [`RecordKey`], each with its index entry.
///
/// Implementations make [`RecordStore::put`] atomic and durable: once it returns `Ok`, the
/// entry survives a crash; if it fails or the process dies during it, no partial entry is
/// ever visible. Keys iterate in sorted order so that two nodes with the same content agree.
pub trait RecordStore: Send + 'static {
    /// Stores (or replaces) the replica and its index entry for `key`, atomically.
    fn put(&mut self, key: RecordKey, entry: StoredEntry) -> Result<()>;
    /// The replica and index entry for `key`, if stored; a corrupt entry is an error.
    fn get(&self, key: &RecordKey) -> Result<Option<StoredEntry>>;
    /// Only the index entry for `key` (cheap: does not read a large body).
    fn get_meta(&self, key: &RecordKey) -> Result<Option<Vec<u8>>>;
    /// Removes `key`; returns whether it was stored.
    fn delete(&mut self, key: &RecordKey) -> Result<bool>;
    /// Whether `key` is stored.
    fn contains(&self, key: &RecordKey) -> Result<bool>;
    /// Every stored key, in ascending order.
    fn keys(&self) -> Result<Vec<RecordKey>>;
    /// Bytes used against bytes pledged.
    fn usage(&self) -> Usage;
}

/// A [`RecordStore`] in memory, for tests and simulations. Nothing survives the process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: BTreeMap<RecordKey, StoredEntry>,
    used: u64,
    pledged: u64,
}

impl MemoryStore {
    /// An empty store that accepts up to `pledged` bytes of bodies.
    pub fn new(pledged: u64) -> MemoryStore {
        MemoryStore {
            entries: BTreeMap::new(),
            used: 0,
            pledged,
        }
    }
}

/// Checks the pledge for replacing `old_len` bytes with `new_len` bytes.
pub(crate) fn check_space(used: u64, pledged: u64, old_len: u64, new_len: u64) -> Result<()> {
    let after = used.saturating_sub(old_len).saturating_add(new_len);
    if after > pledged {
        return Err(NodeError::StoreFull {
            needed: new_len,
            free: pledged.saturating_sub(used.saturating_sub(old_len)),
        });
    }
    Ok(())
}

impl RecordStore for MemoryStore {
    fn put(&mut self, key: RecordKey, entry: StoredEntry) -> Result<()> {
        let old = self.entries.get(&key).map_or(0, |e| e.body.len() as u64);
        let new = entry.body.len() as u64;
        check_space(self.used, self.pledged, old, new)?;
        self.used = self.used - old + new;
        self.entries.insert(key, entry);
        Ok(())
    }

    fn get(&self, key: &RecordKey) -> Result<Option<StoredEntry>> {
        Ok(self.entries.get(key).cloned())
    }

    fn get_meta(&self, key: &RecordKey) -> Result<Option<Vec<u8>>> {
        Ok(self.entries.get(key).map(|e| e.meta.clone()))
    }

    fn delete(&mut self, key: &RecordKey) -> Result<bool> {
        match self.entries.remove(key) {
            Some(e) => {
                self.used -= e.body.len() as u64;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn contains(&self, key: &RecordKey) -> Result<bool> {
        Ok(self.entries.contains_key(key))
    }

    fn keys(&self) -> Result<Vec<RecordKey>> {
        Ok(self.entries.keys().copied().collect())
    }

    fn usage(&self) -> Usage {
        Usage {
            used: self.used,
            pledged: self.pledged,
            entries: self.entries.len() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u8) -> RecordKey {
        RecordKey::from_bytes([i; 32])
    }

    #[test]
    fn accounting_follows_puts_replacements_and_deletes() {
        let mut s = MemoryStore::new(100);
        s.put(
            key(1),
            StoredEntry {
                body: vec![0; 60],
                meta: vec![1],
            },
        )
        .unwrap();
        assert_eq!(s.usage().used, 60);
        // Replacing frees the old body first, so 90 fits under a 100-byte pledge.
        s.put(
            key(1),
            StoredEntry {
                body: vec![0; 90],
                meta: vec![2],
            },
        )
        .unwrap();
        assert_eq!(s.usage().used, 90);
        let err = s.put(
            key(2),
            StoredEntry {
                body: vec![0; 11],
                meta: vec![],
            },
        );
        assert!(matches!(
            err,
            Err(NodeError::StoreFull {
                needed: 11,
                free: 10
            })
        ));
        assert!(!s.contains(&key(2)).unwrap());
        assert_eq!(s.get_meta(&key(1)).unwrap(), Some(vec![2]));
        assert!(s.delete(&key(1)).unwrap());
        assert!(!s.delete(&key(1)).unwrap());
        assert_eq!(
            s.usage(),
            Usage {
                used: 0,
                pledged: 100,
                entries: 0
            }
        );
    }

    #[test]
    fn keys_are_sorted() {
        let mut s = MemoryStore::new(u64::MAX);
        for i in [5u8, 1, 9, 3] {
            s.put(
                key(i),
                StoredEntry {
                    body: vec![i],
                    meta: vec![],
                },
            )
            .unwrap();
        }
        assert_eq!(s.keys().unwrap(), vec![key(1), key(3), key(5), key(9)]);
    }
}
