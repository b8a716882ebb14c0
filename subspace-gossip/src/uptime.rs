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

/// Online milliseconds in `interval` implied by `statements` (all about one host), minus
/// [`FAULT_PENALTY_MS`] per distinct proven fault signed inside the interval, floored at zero.
///
/// The host is online from a join until a statement of higher precedence (SWIM order: incarnation,
/// then alive < suspect < failed < left) takes effect; a suspected host still counts as online; a
/// failure takes effect at its evidence's first failed probe.
pub fn accrued_ms<'a>(
    statements: impl IntoIterator<Item = &'a Statement>,
    interval: Interval,
) -> u64 {
    let mut timeline: Vec<(u64, (u64, Rank))> = Vec::new();
    let mut faults: BTreeMap<Hash256, u64> = BTreeMap::new();
    for s in statements {
        match (s, s.precedence()) {
            (Statement::Fault(f), _) => {
                let e = faults.entry(hash::blake3(&f.proof)).or_insert(f.at_ms);
                *e = (*e).min(f.at_ms);
            }
            (_, Some(p)) => timeline.push((s.effective_ms(), p)),
            _ => {}
        }
    }
    timeline.sort_unstable();
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
                up_ms += overlap(since, t, interval);
            } else {
                since = t;
            }
        }
        current = Some(next);
    }
    if online(current) {
        up_ms += overlap(since, interval.end_ms, interval);
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

    fn failure(inc: u64, first: u64, at: u64) -> Statement {
        Statement::Failure(Failure {
            about: NodeId::from_bytes([1; 32]),
            incarnation: inc,
            by: NodeId::from_bytes([2; 32]),
            at_ms: at,
            evidence: Evidence {
                first_failed_probe_ms: first,
                indirect_probers: vec![],
                confirmations: 1,
            },
        })
    }

    #[test]
    fn join_leave_rejoin_failure() {
        let about = NodeId::from_bytes([1; 32]);
        let h = [
            join(0, 100),
            Statement::Suspect(Suspect {
                about,
                incarnation: 0,
                by: NodeId::from_bytes([3; 32]),
                at_ms: 150,
            }),
            failure(0, 200, 260),
            join(1, 300),
            Statement::Leave(Leave {
                node: about,
                incarnation: 1,
                at_ms: 350,
            }),
        ];
        // up 100..200 and 300..350
        assert_eq!(accrued_ms(&h, Interval::new(0, 1000)), 150);
        assert_eq!(accrued_ms(&h, Interval::new(150, 320)), 70);
        // Order of input does not matter.
        let mut r = h.to_vec();
        r.reverse();
        assert_eq!(accrued_ms(&r, Interval::new(0, 1000)), 150);
    }

    #[test]
    fn stale_join_does_not_revive() {
        // A replayed join at incarnation 0 after a failure at incarnation 0 changes nothing.
        let h = [join(0, 0), failure(0, 50, 60), join(0, 70)];
        assert_eq!(accrued_ms(&h, Interval::new(0, 1000)), 50);
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
