//! One iterative lookup: α parallel requests per path, finishing when the k closest answered.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use subspace_crypto::{Hash256, NodeId, RecordKey};

use crate::metric::{Dist, dist};

use crate::event::QueryStats;
use crate::{Announcement, Holder};

/// What a query is for, which decides the request it sends and what it reports.
#[derive(Clone, Debug)]
pub(crate) enum Purpose {
    /// A user's `find_node`.
    FindNode,
    /// A user's `find_holders`.
    FindHolders(RecordKey),
    /// A user's `announce`: a lookup, then a store on the closest.
    Announce(RecordKey, Vec<Announcement>),
    /// Joining: a lookup of the local id.
    Bootstrap,
    /// Keeping a bucket fresh: nothing is reported.
    Refresh,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    NotContacted,
    Waiting,
    Succeeded,
    Failed,
}

#[derive(Clone, Debug)]
struct Candidate {
    id: NodeId,
    state: State,
    depth: u32,
}

#[derive(Clone, Debug, Default)]
struct Path {
    /// Keyed by distance to the target: iteration is nearest first.
    candidates: BTreeMap<Dist, Candidate>,
    in_flight: usize,
    done: bool,
}

/// Store phase of an announce.
#[derive(Clone, Debug)]
pub(crate) struct Storing {
    pub(crate) outstanding: usize,
    pub(crate) stored_on: Vec<NodeId>,
}

/// An iterative lookup in progress.
#[derive(Clone, Debug)]
pub(crate) struct Query {
    pub(crate) target: Hash256,
    pub(crate) purpose: Purpose,
    pub(crate) started: Instant,
    pub(crate) deadline: Instant,
    pub(crate) stats: QueryStats,
    pub(crate) holders: BTreeSet<Holder>,
    pub(crate) max_holders: usize,
    pub(crate) storing: Option<Storing>,
    paths: Vec<Path>,
    /// Which path first claimed a node (by its distance): disjoint paths never share one.
    /// Empty with a single path, where the candidate map itself deduplicates.
    claimed: BTreeMap<Dist, usize>,
    k: usize,
    alpha: usize,
    max_candidates: usize,
}

impl Query {
    /// A lookup of `target` starting from `seeds` (nearest first), spread round-robin over
    /// `paths` disjoint paths.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        target: Hash256,
        purpose: Purpose,
        seeds: &[NodeId],
        k: usize,
        alpha: usize,
        paths: usize,
        now: Instant,
        deadline: Instant,
        max_holders: usize,
    ) -> Self {
        let paths = paths.max(1);
        let mut q = Query {
            target,
            purpose,
            started: now,
            deadline,
            stats: QueryStats::default(),
            holders: BTreeSet::new(),
            max_holders,
            storing: None,
            paths: vec![Path::default(); paths],
            claimed: BTreeMap::new(),
            k,
            alpha: alpha.max(1),
            // Spares beyond k cover nodes that fail; farther ones could never be reached.
            max_candidates: 3 * k.max(1),
        };
        for (i, s) in seeds.iter().enumerate() {
            q.add_candidate(i % paths, *s, 1);
        }
        q
    }

    fn add_candidate(&mut self, path: usize, id: NodeId, depth: u32) {
        let d = dist(&id.0, &self.target);
        let disjoint = self.paths.len() > 1;
        if disjoint && self.claimed.get(&d).is_some_and(|&p| p != path) {
            return;
        }
        let p = &mut self.paths[path];
        if let Some(c) = p.candidates.get_mut(&d) {
            // Already known: keep the shortest referral chain.
            c.depth = c.depth.min(depth);
            return;
        }
        if p.candidates.len() >= self.max_candidates {
            // Make room by dropping the farthest candidate not waiting on a reply (waiting
            // ones must stay so their replies are accounted), if it is farther than `id`.
            let victim = p
                .candidates
                .iter()
                .rev()
                .take_while(|(far, _)| **far > d)
                .find(|(_, c)| c.state != State::Waiting)
                .map(|(far, _)| *far);
            let Some(far) = victim else {
                return;
            };
            p.candidates.remove(&far);
            if disjoint {
                self.claimed.remove(&far);
            }
        }
        if disjoint {
            self.claimed.insert(d, path);
        }
        p.candidates.insert(
            d,
            Candidate {
                id,
                state: State::NotContacted,
                depth,
            },
        );
    }

    /// Whether the lookup phase is over on every path.
    pub(crate) fn lookup_done(&self) -> bool {
        self.paths.iter().all(|p| p.done)
    }

    /// Advances every path: returns `(path, node)` pairs to send a request to now. A path is
    /// done when its `k` nearest non-failed candidates have all answered, or it ran dry.
    pub(crate) fn next_requests(&mut self, out: &mut Vec<(usize, NodeId)>) {
        let (k, alpha) = (self.k, self.alpha);
        for (pi, p) in self.paths.iter_mut().enumerate() {
            if p.done {
                continue;
            }
            let mut live = 0;
            let mut settled = true;
            for c in p.candidates.values_mut() {
                if live >= k {
                    break;
                }
                match c.state {
                    State::Failed => {}
                    State::Succeeded => live += 1,
                    State::Waiting => {
                        live += 1;
                        settled = false;
                    }
                    State::NotContacted => {
                        settled = false;
                        if p.in_flight < alpha {
                            c.state = State::Waiting;
                            p.in_flight += 1;
                            live += 1;
                            out.push((pi, c.id));
                        } else {
                            break;
                        }
                    }
                }
            }
            if settled {
                p.done = true;
            }
        }
    }

    /// `from` answered on `path` with `nodes` (nearest first).
    pub(crate) fn on_success(
        &mut self,
        path: usize,
        from: &NodeId,
        nodes: &[NodeId],
        local: &NodeId,
    ) {
        self.stats.responses += 1;
        let Some(p) = self.paths.get_mut(path) else {
            return;
        };
        let d = dist(&from.0, &self.target);
        let Some(c) = p.candidates.get_mut(&d) else {
            return;
        };
        if c.state != State::Waiting {
            return;
        }
        c.state = State::Succeeded;
        let depth = c.depth + 1;
        p.in_flight = p.in_flight.saturating_sub(1);
        if p.done {
            return;
        }
        for n in nodes.iter().take(self.k) {
            if n != local {
                self.add_candidate(path, *n, depth);
            }
        }
    }

    /// The request to `from` on `path` failed (timeout, bad reply, could not be sent).
    pub(crate) fn on_failure(&mut self, path: usize, from: &NodeId) {
        self.stats.failures += 1;
        let Some(p) = self.paths.get_mut(path) else {
            return;
        };
        let d = dist(&from.0, &self.target);
        if let Some(c) = p.candidates.get_mut(&d)
            && c.state == State::Waiting
        {
            c.state = State::Failed;
            p.in_flight = p.in_flight.saturating_sub(1);
        }
    }

    /// Adds holders reported by a peer, up to the bound.
    pub(crate) fn add_holders(&mut self, holders: &[Holder]) {
        for h in holders {
            if self.holders.len() >= self.max_holders {
                break;
            }
            self.holders.insert(*h);
        }
    }

    /// The `k` nearest nodes that answered, across all paths, nearest first; and the longest
    /// referral chain among them.
    pub(crate) fn result(&self) -> (Vec<NodeId>, u32) {
        let mut all: Vec<(Dist, NodeId, u32)> = self
            .paths
            .iter()
            .flat_map(|p| {
                p.candidates
                    .iter()
                    .filter(|(_, c)| c.state == State::Succeeded)
                    .take(self.k)
                    .map(|(d, c)| (*d, c.id, c.depth))
            })
            .collect();
        all.sort_unstable();
        all.dedup_by_key(|x| x.1);
        all.truncate(self.k);
        let hops = all.iter().map(|x| x.2).max().unwrap_or(0);
        (all.into_iter().map(|x| x.1).collect(), hops)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(b: u8) -> NodeId {
        let mut a = [0u8; 32];
        a[0] = b;
        NodeId::from_bytes(a)
    }

    #[test]
    fn stops_when_k_closest_answered() {
        let t0 = Instant::now();
        let local = NodeId::from_bytes([0xff; 32]);
        let seeds = [id(8), id(9), id(10), id(11)];
        let mut q = Query::new(Hash256::ZERO, Purpose::FindNode, &seeds, 2, 2, 1, t0, t0, 8);
        let mut out = Vec::new();
        q.next_requests(&mut out);
        assert_eq!(out, vec![(0, id(8)), (0, id(9))]);
        // id(8) points at two closer nodes.
        q.on_success(0, &id(8), &[id(1), id(2)], &local);
        out.clear();
        q.next_requests(&mut out);
        assert_eq!(out, vec![(0, id(1))]);
        q.on_failure(0, &id(9));
        out.clear();
        q.next_requests(&mut out);
        assert_eq!(out, vec![(0, id(2))]);
        q.on_success(0, &id(1), &[], &local);
        q.on_success(0, &id(2), &[], &local);
        out.clear();
        q.next_requests(&mut out);
        assert!(out.is_empty());
        assert!(q.lookup_done());
        let (res, hops) = q.result();
        assert_eq!(res, vec![id(1), id(2)]);
        assert_eq!(hops, 2);
    }

    #[test]
    fn disjoint_paths_never_share_a_node() {
        let t0 = Instant::now();
        let local = NodeId::from_bytes([0xff; 32]);
        let seeds = [id(8), id(9)];
        let mut q = Query::new(Hash256::ZERO, Purpose::FindNode, &seeds, 4, 3, 2, t0, t0, 8);
        let mut out = Vec::new();
        q.next_requests(&mut out);
        assert_eq!(out, vec![(0, id(8)), (1, id(9))]);
        // Both paths learn of id(1); only the first to hear of it may use it.
        q.on_success(0, &id(8), &[id(1)], &local);
        q.on_success(1, &id(9), &[id(1), id(3)], &local);
        out.clear();
        q.next_requests(&mut out);
        assert_eq!(out, vec![(0, id(1)), (1, id(3))]);
    }
}
