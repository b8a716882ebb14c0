//! A bounded set of statements whose signatures have already been checked.
//!
//! ed25519 verification costs ~50 µs; a node hears the same statement many times (piggy-backed
//! copies, anti-entropy), so it verifies each once. Statements the pool holds are recognised
//! by the pool itself; this cache remembers the ids of those that verified but were not kept
//! (superseded, or trimmed at once), so their copies still in flight are not checked again.
//! The id is the hash of the statement *with* its signature, so a forgery never hits the cache.
//! Several identities run by one operator in one process may share a cache through
//! [`Gossip::with_cache`](crate::Gossip::with_cache); nodes that do not trust each other must not.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use subspace_crypto::Hash256;

#[derive(Debug, Default)]
struct Inner {
    set: HashSet<Hash256>,
    order: VecDeque<Hash256>,
    evicted: u64,
}

/// Shared, bounded cache of verified statement ids (oldest evicted first, counted).
#[derive(Debug, Clone)]
pub struct VerifiedCache {
    inner: Arc<Mutex<Inner>>,
    capacity: usize,
}

impl VerifiedCache {
    /// A cache remembering at most `capacity` ids.
    pub fn new(capacity: usize) -> VerifiedCache {
        VerifiedCache {
            inner: Arc::new(Mutex::new(Inner::default())),
            capacity: capacity.max(1),
        }
    }

    /// Whether `id` was verified before.
    pub fn contains(&self, id: &Hash256) -> bool {
        match self.inner.lock() {
            Ok(g) => g.set.contains(id),
            // A poisoned lock only means another holder panicked; treat as a miss and re-verify.
            Err(_) => false,
        }
    }

    /// Records that `id` verified.
    pub fn insert(&self, id: Hash256) {
        if let Ok(mut g) = self.inner.lock()
            && g.set.insert(id)
        {
            g.order.push_back(id);
            while g.order.len() > self.capacity {
                if let Some(old) = g.order.pop_front() {
                    g.set.remove(&old);
                    g.evicted += 1;
                }
            }
        }
    }

    /// Ids evicted because the cache was full.
    pub fn evicted(&self) -> u64 {
        self.inner.lock().map(|g| g.evicted).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_counts_evictions() {
        let c = VerifiedCache::new(2);
        for i in 0..5u8 {
            c.insert(Hash256([i; 32]));
        }
        assert!(!c.contains(&Hash256([0; 32])));
        assert!(c.contains(&Hash256([4; 32])));
        assert_eq!(c.evicted(), 3);
    }
}
