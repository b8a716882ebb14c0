//! A sorted set of node ids with rank and select, for the pool's live and down indexes.
//!
//! The probe schedule needs, every period, this node's rank among the live members and the
//! member at a given rank; partner choices need a member at a random rank. A sorted vector
//! does both in O(log n) but pays a memmove of the whole set on every insertion or removal:
//! 32 MB at a million members, for every join and failure the network hears. Here the ids
//! live in sorted chunks of at most `2 · CHUNK`, so a change moves at most a chunk, and rank
//! and select walk the chunk lengths (about a thousand steps at a million members: a chunk
//! that shrinks below half of `CHUNK` joins a neighbour when both fit in one).

use subspace_crypto::NodeId;

/// Chunks are split when they pass twice this.
const CHUNK: usize = 1024;

/// Sorted, duplicate-free node ids with rank and select.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SortedIds {
    chunks: Vec<Vec<NodeId>>,
    len: usize,
}

impl SortedIds {
    /// Ids held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether no id is held.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The chunk `id` belongs in: the first whose last id is not below it, else the last.
    fn chunk_of(&self, id: &NodeId) -> usize {
        let i = self
            .chunks
            .partition_point(|c| c.last().is_some_and(|last| last < id));
        i.min(self.chunks.len().saturating_sub(1))
    }

    /// `Ok(rank)` of `id` if held, else `Err(rank it would have)`, as `slice::binary_search`.
    pub(crate) fn rank(&self, id: &NodeId) -> Result<usize, usize> {
        if self.chunks.is_empty() {
            return Err(0);
        }
        let c = self.chunk_of(id);
        let before: usize = self.chunks[..c].iter().map(Vec::len).sum();
        match self.chunks[c].binary_search(id) {
            Ok(i) => Ok(before + i),
            Err(i) => Err(before + i),
        }
    }

    /// Whether `id` is held.
    #[cfg(test)]
    pub(crate) fn contains(&self, id: &NodeId) -> bool {
        self.rank(id).is_ok()
    }

    /// The id of rank `i`.
    pub(crate) fn get(&self, mut i: usize) -> Option<&NodeId> {
        for c in &self.chunks {
            if i < c.len() {
                return c.get(i);
            }
            i -= c.len();
        }
        None
    }

    /// Adds `id`; returns whether it was new.
    pub(crate) fn insert(&mut self, id: NodeId) -> bool {
        if self.chunks.is_empty() {
            self.chunks.push(vec![id]);
            self.len = 1;
            return true;
        }
        let c = self.chunk_of(&id);
        let chunk = &mut self.chunks[c];
        let Err(at) = chunk.binary_search(&id) else {
            return false;
        };
        chunk.insert(at, id);
        self.len += 1;
        if chunk.len() > 2 * CHUNK {
            let upper = chunk.split_off(CHUNK);
            self.chunks.insert(c + 1, upper);
        }
        true
    }

    /// Takes `id` out; returns whether it was held.
    pub(crate) fn remove(&mut self, id: &NodeId) -> bool {
        if self.chunks.is_empty() {
            return false;
        }
        let c = self.chunk_of(id);
        let chunk = &mut self.chunks[c];
        let Ok(at) = chunk.binary_search(id) else {
            return false;
        };
        chunk.remove(at);
        self.len -= 1;
        if chunk.is_empty() {
            self.chunks.remove(c);
        } else if chunk.len() < CHUNK / 2 {
            // A small chunk joins a neighbour when both fit in one, so removals cannot leave
            // many tiny chunks for rank and select to walk.
            let (a, b) = if c + 1 < self.chunks.len() {
                (c, c + 1)
            } else if c > 0 {
                (c - 1, c)
            } else {
                return true;
            };
            if self.chunks[a].len() + self.chunks[b].len() <= 2 * CHUNK {
                let tail = self.chunks.remove(b);
                self.chunks[a].extend(tail);
            }
        }
        true
    }

    /// The ids in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &NodeId> + '_ {
        self.chunks.iter().flatten()
    }
}

impl FromIterator<NodeId> for SortedIds {
    fn from_iter<I: IntoIterator<Item = NodeId>>(iter: I) -> Self {
        let mut s = SortedIds::default();
        for id in iter {
            s.insert(id);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(x: u16) -> NodeId {
        let mut b = [0u8; 32];
        b[..2].copy_from_slice(&x.to_be_bytes());
        NodeId::from_bytes(b)
    }

    proptest! {
        /// Any sequence of insertions and removals leaves the same answers as a sorted vector,
        /// across chunk splits, merges and emptied chunks.
        #[test]
        fn behaves_as_a_sorted_vector(ops in proptest::collection::vec((any::<bool>(), 0u16..6000), 0..12_000)) {
            let mut s = SortedIds::default();
            let mut v: Vec<NodeId> = Vec::new();
            for (add, x) in ops {
                let x = id(x);
                let expect = match (v.binary_search(&x), add) {
                    (Err(at), true) => { v.insert(at, x); true }
                    (Ok(at), false) => { v.remove(at); true }
                    _ => false,
                };
                let got = if add { s.insert(x) } else { s.remove(&x) };
                prop_assert_eq!(got, expect);
            }
            prop_assert_eq!(s.len(), v.len());
            prop_assert_eq!(s.iter().copied().collect::<Vec<_>>(), v.clone());
            prop_assert!(s.chunks.iter().all(|c| !c.is_empty() && c.len() <= 2 * CHUNK));
            for (i, x) in v.iter().enumerate() {
                prop_assert_eq!(s.get(i), Some(x));
                prop_assert_eq!(s.rank(x), Ok(i));
            }
            prop_assert_eq!(s.get(v.len()), None);
            for probe in (0u16..6000).step_by(97) {
                prop_assert_eq!(s.rank(&id(probe)), v.binary_search(&id(probe)));
            }
        }
    }
}
