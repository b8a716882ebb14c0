//! Uptime accounting: online time of a host inside an interval, from its signed history.
//!
//! Integer milliseconds throughout, a pure function of the set of statements, so every node
//! holding the same statements credits the same figure (the ledger consumes it as a number).

use std::collections::BTreeMap;

use subspace_crypto::{Hash256, hash};

use crate::statement::{Rank, Statement};

/// The whitepaper's penalty for a proven fault: 24 hours of accrued time.
pub const FAULT_PENALTY_MS: u64 = 24 * 3600 * 1000;

/// A contract interval `[start_ms, end_ms)` in Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval {
    /// First millisecond of the interval.
    pub start_ms: u64,
    /// First millisecond after the interval.
    pub end_ms: u64,
}

impl Interval {
    /// The interval `[start_ms, end_ms)`.
    pub fn new(start_ms: u64, end_ms: u64) -> Interval {
        Interval { start_ms, end_ms }
    }

    /// Its length in milliseconds (0 if reversed).
    pub fn len_ms(&self) -> u64 {
        self.end_ms.saturating_sub(self.start_ms)
    }
}

/// Distinct members that must accuse an incarnation of a host (suspect it or declare it failed)
/// before a failure of that incarnation stops the host's clock. Fewer accusers (a lone liar,
/// or a network of at most this many hosts) cost the host no uptime at all.
pub const CORROBORATION: usize = 3;

/// How long before the [`CORROBORATION`]-th accusation of an incarnation a failure of it may
/// stop the clock (two minutes): what fewer than [`CORROBORATION`] accusers gain by dating
/// their accusations early, when honest ones corroborate them.
pub const MAX_BACKDATE_MS: u64 = 120_000;

/// An accusation of `(subject's) incarnation` by `author` taking effect at `time_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Accusation {
    pub(crate) time_ms: u64,
    pub(crate) author: subspace_crypto::NodeId,
}

/// The accusation a statement makes, if it is one: `(incarnation, accusation)`.
pub(crate) fn accusation(s: &Statement) -> Option<(u64, Accusation)> {
    let (inc, author) = match s {
        Statement::Suspect(x) => (x.incarnation, x.by),
        Statement::Failure(x) => (x.incarnation, x.by),
        _ => return None,
    };
    Some((
        inc,
        Accusation {
            time_ms: s.effective_ms(),
            author,
        },
    ))
}

/// The first [`CORROBORATION`] accusers of each incarnation: each author's earliest
/// accusation, ordered by time then author. The first `k` of a union are among the first `k`
/// of its parts, so nodes that share these converge on the same ones.
pub(crate) fn first_accusers<'a>(
    statements: impl IntoIterator<Item = &'a Statement>,
) -> BTreeMap<u64, Vec<Accusation>> {
    let mut by: BTreeMap<(u64, subspace_crypto::NodeId), u64> = BTreeMap::new();
    for s in statements {
        if let Some((inc, a)) = accusation(s) {
            let t = by.entry((inc, a.author)).or_insert(a.time_ms);
            *t = (*t).min(a.time_ms);
        }
    }
    let mut out: BTreeMap<u64, Vec<Accusation>> = BTreeMap::new();
    for ((inc, author), time_ms) in by {
        out.entry(inc)
            .or_default()
            .push(Accusation { time_ms, author });
    }
    for list in out.values_mut() {
        list.sort_unstable();
        list.truncate(CORROBORATION);
    }
    out
}

/// The status statements that raise the running maximum precedence when taken in time order
/// (at equal times the higher precedence first): the others change neither the status nor
/// the uptime. Returns their indexes in `statements`.
pub(crate) fn raising(statements: &[&Statement]) -> Vec<usize> {
    // Time order, and at equal times the higher precedence first.
    type TimeOrder = (u64, core::cmp::Reverse<(u64, Rank)>, usize);
    let mut order: Vec<TimeOrder> = statements
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            s.precedence()
                .map(|p| (s.effective_ms(), core::cmp::Reverse(p), i))
        })
        .collect();
    order.sort_unstable();
    let mut best: Option<(u64, Rank)> = None;
    let mut out = Vec::new();
    for (_, core::cmp::Reverse(p), i) in order {
        if best.is_none_or(|b| b < p) {
            best = Some(p);
            out.push(i);
        }
    }
    out
}

/// Online milliseconds in `interval` implied by `statements` (all about one host), minus
/// [`FAULT_PENALTY_MS`] per distinct proven fault signed inside the interval, floored at zero.
///
/// The host is online from a join until a statement of higher precedence (SWIM order:
/// incarnation, then alive < suspect < failed < left) takes effect; a suspected host still
/// counts as online. A failure stops the clock only once [`CORROBORATION`] distinct members
/// accused that incarnation, at the earliest accusation but no earlier than
/// [`MAX_BACKDATE_MS`] before the [`CORROBORATION`]-th; an uncorroborated failure counts as a
/// suspicion. So one accuser, whatever it signs, costs a host no uptime, and fewer than
/// [`CORROBORATION`] accusers backdating their accusations cost it at most
/// [`MAX_BACKDATE_MS`] more than the honest accusers' own times.
///
/// Only the statements that raise the running precedence in time order are taken, and of the
/// accusations only each incarnation's first [`CORROBORATION`] accusers: exactly what
/// anti-entropy shares, so nodes that share them agree.
pub fn accrued_ms<'a>(
    statements: impl IntoIterator<Item = &'a Statement>,
    interval: Interval,
) -> u64 {
    let all: Vec<&Statement> = statements.into_iter().collect();
    let accusers = first_accusers(all.iter().copied());
    let mut timeline: Vec<(u64, (u64, Rank))> = Vec::new();
    for i in raising(&all) {
        let s = all[i];
        let Some((inc, rank)) = s.precedence() else {
            continue;
        };
        let mut at = s.effective_ms();
        let mut rank = rank;
        if rank == Rank::Failed {
            match accusers.get(&inc) {
                Some(list) if list.len() >= CORROBORATION => {
                    let first = list[0].time_ms;
                    let kth = list[CORROBORATION - 1].time_ms;
                    at = first.max(kth.saturating_sub(MAX_BACKDATE_MS));
                }
                _ => rank = Rank::Suspect,
            }
        }
        timeline.push((at, (inc, rank)));
    }
    let mut faults: BTreeMap<Hash256, u64> = BTreeMap::new();
    for s in &all {
        if let Statement::Fault(f) = s {
            let e = faults.entry(hash::blake3(&f.proof)).or_insert(f.at_ms);
            *e = (*e).min(f.at_ms);
        }
    }
    // Time order, and at equal times the higher precedence first.
    timeline.sort_unstable_by_key(|(t, p)| (*t, core::cmp::Reverse(*p)));
    let mut up_ms = 0u64;
    let mut current: Option<(u64, Rank)> = None;
    let mut since = 0u64;
    let online = |c: Option<(u64, Rank)>| matches!(c, Some((_, Rank::Alive | Rank::Suspect)));
    for (t, p) in timeline {
        let next = match current {
            Some(c) if c >= p => c,
            _ => p,
        };
        if online(current) != online(Some(next)) {
            if online(current) {
                up_ms = up_ms.saturating_add(overlap(since, t, interval));
            } else {
                since = t;
            }
        }
        current = Some(next);
    }
    if online(current) {
        up_ms = up_ms.saturating_add(overlap(since, interval.end_ms, interval));
    }
    let penalties = faults
        .values()
        .filter(|t| **t >= interval.start_ms && **t < interval.end_ms)
        .count() as u64;
    up_ms.saturating_sub(penalties.saturating_mul(FAULT_PENALTY_MS))
}

fn overlap(from: u64, to: u64, i: Interval) -> u64 {
    to.min(i.end_ms).saturating_sub(from.max(i.start_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statement::{Evidence, Failure, Fault, Join, Leave, Suspect};
    use subspace_crypto::{ContractId, Keypair, NodeId};

    fn join(inc: u64, at: u64) -> Statement {
        Statement::Join(Join {
            public_key: Keypair::from_seed(&[1; 32]).public().to_bytes(),
            contract: ContractId::default(),
            pledged_bytes: 1,
            incarnation: inc,
            at_ms: at,
        })
    }

    fn failure_by(by: u8, inc: u64, first: u64, at: u64) -> Statement {
        Statement::Failure(Failure {
            about: NodeId::from_bytes([1; 32]),
            incarnation: inc,
            by: NodeId::from_bytes([by; 32]),
            at_ms: at,
            evidence: Evidence {
                first_failed_probe_ms: first,
                indirect_probers: vec![],
                confirmations: 1,
            },
        })
    }

    fn failure(inc: u64, first: u64, at: u64) -> Statement {
        failure_by(2, inc, first, at)
    }

    fn suspect(by: u8, inc: u64, at: u64) -> Statement {
        Statement::Suspect(Suspect {
            about: NodeId::from_bytes([1; 32]),
            incarnation: inc,
            by: NodeId::from_bytes([by; 32]),
            at_ms: at,
        })
    }

    #[test]
    fn join_leave_rejoin_failure() {
        let about = NodeId::from_bytes([1; 32]);
        let h = [
            join(0, 100),
            suspect(3, 0, 150),
            failure(0, 200, 260),
            suspect(4, 0, 210),
            join(1, 300),
            Statement::Leave(Leave {
                node: about,
                incarnation: 1,
                at_ms: 350,
            }),
        ];
        // Three accusers of incarnation 0: the clock stops at the first accusation. Up
        // 100..150 and 300..350.
        assert_eq!(accrued_ms(&h, Interval::new(0, 1000)), 100);
        assert_eq!(accrued_ms(&h, Interval::new(120, 320)), 50);
        // Order of input does not matter.
        let mut r = h.to_vec();
        r.reverse();
        assert_eq!(accrued_ms(&r, Interval::new(0, 1000)), 100);
    }

    #[test]
    fn stale_join_does_not_revive() {
        // A replayed join at incarnation 0 after a failure at incarnation 0 changes nothing.
        let h = [
            join(0, 0),
            suspect(3, 0, 50),
            suspect(4, 0, 51),
            failure(0, 50, 60),
            join(0, 70),
        ];
        assert_eq!(accrued_ms(&h, Interval::new(0, 1000)), 50);
    }

    #[test]
    fn one_accuser_costs_no_uptime_whatever_it_signs() {
        let day = 24 * 3600 * 1000;
        let now = 30 * day;
        // A lone failure dated 29 days back, evidence and all, then the host refutes.
        let h = [
            join(0, 0),
            failure(0, now - 29 * day, now - 29 * day),
            join(1, now + 5_000),
        ];
        assert_eq!(accrued_ms(&h, Interval::new(0, now + 10_000)), now + 10_000);
        // Two accusers (the second a suspicion) are still one short.
        let h2 = [h[0].clone(), h[1].clone(), suspect(3, 0, now), h[2].clone()];
        assert_eq!(
            accrued_ms(&h2, Interval::new(0, now + 10_000)),
            now + 10_000
        );
    }

    #[test]
    fn evidence_counts_from_at_most_two_minutes_before_the_declaration() {
        let t = 10_000_000;
        let f = failure(0, 0, t);
        assert_eq!(f.effective_ms(), t - crate::statement::MAX_EVIDENCE_AGE_MS);
        assert_eq!(failure(0, t - 5, t).effective_ms(), t - 5);
        // Corroborated at t by two honest suspecters, a failure whose evidence claims the
        // host failed days ago stops its clock two minutes before the declaration at most.
        let h = [join(0, 0), f, suspect(3, 0, t), suspect(4, 0, t)];
        let i = Interval::new(0, t + 1);
        assert_eq!(accrued_ms(&h, i), t - crate::statement::MAX_EVIDENCE_AGE_MS);
    }

    #[test]
    fn fewer_than_three_liars_backdate_by_at_most_the_bound() {
        let day = 24 * 3600 * 1000;
        let t = 30 * day;
        // Two accusers date their accusations 29 days back; one honest suspecter probed at t.
        let h = [
            join(0, 0),
            failure_by(2, 0, t - 29 * day, t - 29 * day),
            suspect(3, 0, t - 29 * day),
            suspect(4, 0, t),
        ];
        let i = Interval::new(0, t + 1);
        assert_eq!(accrued_ms(&h, i), t - MAX_BACKDATE_MS);
        // Three accusers agreeing are believed: the clock stops at the earliest accusation.
        let mut h3 = h.to_vec();
        h3[3] = suspect(4, 0, t - 29 * day);
        assert_eq!(accrued_ms(&h3, i), t - 29 * day);
    }

    #[test]
    fn fault_costs_a_day_once_per_proof() {
        let day = FAULT_PENALTY_MS;
        let f = |by: u8, at: u64| {
            Statement::Fault(Fault {
                about: NodeId::from_bytes([1; 32]),
                by: NodeId::from_bytes([by; 32]),
                at_ms: at,
                proof: b"false answer".to_vec(),
            })
        };
        let h = [join(0, 0), f(2, 10), f(3, 20)];
        let i = Interval::new(0, 3 * day);
        assert_eq!(accrued_ms(&h, i), 2 * day);
        assert_eq!(accrued_ms(&h[..1], Interval::new(0, day / 2)), day / 2);
        assert_eq!(accrued_ms(&h, Interval::new(0, day / 2)), 0);
    }
}
