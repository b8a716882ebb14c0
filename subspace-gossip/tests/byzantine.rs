//! Hostile members: what a member with keys it made for free can sign about others, and what it
//! costs them.

use std::time::Duration;

use proptest::prelude::*;
use subspace_gossip::statement::{Evidence, Failure};
use subspace_gossip::{Body, Interval, Message, ProbeAuth, Signed, Statement, Status};

use crate::hostile::{Hostile, OP_LEN};
use crate::net::{Net, UNIX0, config};

fn news(s: &Signed) -> Message {
    Message {
        body: Body::News,
        piggyback: vec![s.clone()],
    }
}

/// A failure of `victim` signed by `attacker`, evidence from `first_ms`, declared at `at_ms`.
fn failure(
    net: &Net,
    attacker: usize,
    victim: usize,
    inc: u64,
    first_ms: u64,
    at_ms: u64,
) -> Signed {
    Statement::Failure(Failure {
        about: net.id(victim),
        incarnation: inc,
        by: net.id(attacker),
        at_ms,
        evidence: Evidence {
            first_failed_probe_ms: first_ms,
            indirect_probers: vec![],
            confirmations: 3,
        },
    })
    .sign(&net.keys[attacker])
    .unwrap()
}

#[test]
fn a_failure_from_the_future_is_refused_and_its_victim_stays_alive() {
    let mut net = Net::with(4, config(ProbeAuth::Transport));
    let (victim, attacker) = (1, 3);
    let now = net.unix_ms();
    let f = failure(&net, attacker, victim, u64::MAX, now, now);
    let from = net.id(attacker);
    for i in 0..3 {
        let before = net.nodes[i].stats().statements_rejected;
        let _ = net.nodes[i].handle_message(net.now, from, news(&f));
        assert_eq!(
            net.nodes[i].stats().statements_rejected,
            before + 1,
            "node {i}"
        );
    }
    net.run(Duration::from_secs(20));
    for (i, g) in net.nodes.iter().enumerate() {
        let m = g.member(&net.id(victim)).unwrap();
        assert_eq!(m.status, Status::Alive, "node {i} holds the victim {m:?}");
        assert!(m.incarnation < u64::MAX);
    }
    assert!(net.nodes[victim].incarnation() < u64::MAX);
}

#[test]
fn a_lone_accusers_backdated_failure_costs_its_victim_no_uptime() {
    let mut net = Net::with(4, config(ProbeAuth::Transport));
    let (victim, attacker) = (1, 3);
    // Ten minutes of history.
    net.run(Duration::from_secs(600));
    let now = net.unix_ms();
    let inc = net.nodes[0].member(&net.id(victim)).unwrap().incarnation;
    // The victim's incarnation as everyone holds it, with evidence claiming it has been down
    // since it joined; then the same declared back then too.
    let claims = [
        failure(&net, attacker, victim, inc, UNIX0, now),
        failure(&net, attacker, victim, inc, UNIX0, UNIX0 + 1),
    ];
    let from = net.id(attacker);
    for f in &claims {
        for i in 0..3 {
            let _ = net.nodes[i].handle_message(net.now, from, news(f));
        }
        net.run(Duration::from_secs(20));
    }
    let interval = Interval::new(UNIX0, net.unix_ms());
    for (i, g) in net.nodes.iter().enumerate() {
        assert_eq!(
            g.member(&net.id(victim)).unwrap().status,
            Status::Alive,
            "node {i}"
        );
        // One accuser costs nothing, whatever it signs (the rule needs three).
        assert_eq!(
            g.uptime(&net.id(victim), interval).as_millis() as u64,
            interval.len_ms(),
            "node {i}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Arbitrary statements of every kind, signed by a few members, with incarnations and times
    /// up to the extremes, interleaved with time passing: the node never panics and keeps its
    /// invariants (the `gossip_statements` fuzz target runs the same driver on raw bytes).
    #[test]
    fn arbitrary_signed_statements_keep_the_pool_consistent(
        ops in proptest::collection::vec(proptest::array::uniform24(any::<u8>()), 1..48)
    ) {
        let mut h = Hostile::new();
        for op in &ops {
            let op: &[u8; OP_LEN] = op;
            h.step(op);
            h.check();
        }
    }
}
