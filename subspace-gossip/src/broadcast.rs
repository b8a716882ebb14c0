//! The queue of news waiting to be piggy-backed, with SWIM's retransmit limit.
//!
//! Newest first, each item going out `λ · ⌈log10(n + 1)⌉` times. memberlist sends the
//! least-transmitted first; under a burst (a thousand joins in a second) that parks every item
//! sent once behind the whole backlog of unsent ones, so a suspicion raised after the burst
//! waited dozens of periods for its second transmission. The newest news is the least spread,
//! so it goes first; a backlog that starves is old news, which anti-entropy delivers anyway.

use core::cmp::Reverse;
use std::collections::BTreeMap;

use crate::statement::Signed;

/// Encoded size of the smallest signed statement (a leave; checked in the tests).
const SMALLEST_STATEMENT_LEN: usize = 116;

#[derive(Debug, Clone)]
struct Item {
    signed: Signed,
    len: usize,
    sent: u32,
}

/// Bounded queue of broadcasts (oldest dropped on overflow, counted).
#[derive(Debug, Clone)]
pub struct BroadcastQueue {
    items: BTreeMap<Reverse<u64>, Item>,
    next_seq: u64,
    capacity: usize,
    /// Broadcasts dropped because the queue was full.
    pub dropped: u64,
}

impl BroadcastQueue {
    /// An empty queue holding at most `capacity` items.
    pub fn new(capacity: usize) -> BroadcastQueue {
        BroadcastQueue {
            items: BTreeMap::new(),
            next_seq: 0,
            capacity: capacity.max(1),
            dropped: 0,
        }
    }

    /// Items waiting.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Queues `signed` for dissemination.
    pub fn push(&mut self, signed: Signed) {
        let len = signed.encoded_len();
        self.items.insert(
            Reverse(self.next_seq),
            Item {
                signed,
                len,
                sent: 0,
            },
        );
        self.next_seq += 1;
        while self.items.len() > self.capacity {
            // The oldest has the smallest sequence number: the last key.
            if self.items.pop_last().is_some() {
                self.dropped += 1;
            }
        }
    }

    /// Takes news fitting in `budget` bytes, counting one transmission each; items reaching
    /// `limit` transmissions leave the queue.
    pub fn take(&mut self, budget: usize, limit: u32) -> Vec<Signed> {
        let mut out = Vec::new();
        let mut used = 0usize;
        let mut picked = Vec::new();
        for (k, item) in &self.items {
            if used + item.len > budget {
                continue;
            }
            used += item.len;
            picked.push(*k);
            // Nothing smaller than a leave exists: stop instead of scanning a long backlog.
            if budget - used < SMALLEST_STATEMENT_LEN {
                break;
            }
        }
        for k in picked {
            if let Some(item) = self.items.get_mut(&k) {
                out.push(item.signed.clone());
                item.sent += 1;
                if item.sent >= limit {
                    self.items.remove(&k);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statement::{Leave, Statement};
    use subspace_crypto::{NodeId, Signature};

    fn leave(i: u64) -> Signed {
        Signed {
            statement: Statement::Leave(Leave {
                node: NodeId::default(),
                incarnation: i,
                at_ms: 0,
            }),
            signature: Signature::from_bytes([0; 64]),
        }
    }

    #[test]
    fn newest_first_up_to_the_retransmit_limit() {
        let mut q = BroadcastQueue::new(10);
        q.push(leave(1));
        q.push(leave(2));
        let len = leave(1).encoded_len();
        // Budget for one: the newest goes out its two times, then the older one.
        assert_eq!(q.take(len, 2), vec![leave(2)]);
        assert_eq!(q.take(len, 2), vec![leave(2)]);
        assert_eq!(q.take(len, 2), vec![leave(1)]);
        // News arriving now overtakes the item already sent once.
        q.push(leave(3));
        assert_eq!(q.take(len, 2), vec![leave(3)]);
        assert_eq!(q.take(10 * len, 2), vec![leave(3), leave(1)]);
        assert!(q.is_empty());
    }

    #[test]
    fn smallest_statement_is_a_leave() {
        assert_eq!(leave(0).encoded_len(), SMALLEST_STATEMENT_LEN);
        let suspect = Signed {
            statement: Statement::Suspect(crate::statement::Suspect {
                about: NodeId::default(),
                incarnation: 0,
                by: NodeId::default(),
                at_ms: 0,
            }),
            signature: Signature::from_bytes([0; 64]),
        };
        assert!(suspect.encoded_len() > SMALLEST_STATEMENT_LEN);
    }

    #[test]
    fn overflow_drops_oldest() {
        let mut q = BroadcastQueue::new(2);
        for i in 0..5 {
            q.push(leave(i));
        }
        assert_eq!(q.dropped, 3);
        let got = q.take(1 << 20, 5);
        assert_eq!(got, vec![leave(4), leave(3)]);
    }
}
