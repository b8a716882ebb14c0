//! Deterministic simulations of whole networks (see `tests/sim/mod.rs`).
//!
//! `DHT_SIM_SEED` replays a run; `DHT_SIM_NODES` changes the size of the large run.

// Helpers outside #[test] fns unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::sim;

use std::time::Instant;

use sim::{NetConfig, Sim, percentile, print_histogram, valid_proof};
use subspace_crypto::{NodeId, RecordKey};
use subspace_dht::{Announcement, DhtConfig, Event, HolderKind, QueryId};

const SECOND: u64 = 1_000_000;

fn nodes_from_env(default: usize) -> usize {
    std::env::var("DHT_SIM_NODES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Starts `count` queries from random live nodes, `gap_us` apart, via `start`, then runs until
/// every one has reported. Returns (querier, event) pairs in start order.
fn run_queries(
    sim: &mut Sim,
    count: usize,
    gap_us: u64,
    mut start: impl FnMut(&mut Sim, usize, usize) -> QueryId,
) -> Vec<(usize, Event)> {
    let mut started = Vec::with_capacity(count);
    for n in 0..count {
        let i = sim.random_live();
        let q = start(sim, i, n);
        sim.flush(i);
        started.push((i, q));
        let t = sim.now_us + gap_us;
        sim.run_until(t);
    }
    started
        .into_iter()
        .map(|(i, q)| {
            let ev = sim
                .run_until_result(i as u32, q, 300 * SECOND)
                .unwrap_or_else(|| panic!("query {q:?} on node {i} never reported"));
            (i, ev)
        })
        .collect()
}

#[test]
fn ten_thousand_nodes_lookups_and_holders_under_churn() {
    let seed = sim::seed(0x5eed_0001);
    let n = nodes_from_env(10_000);
    let wall = Instant::now();
    let mut cfg = DhtConfig::default();
    cfg.refresh_on_bootstrap = std::env::var("DHT_SIM_REFRESH").is_ok();
    let k = cfg.k;
    let mut sim = Sim::new(n, &cfg, NetConfig::default(), seed);
    sim.join_all(3, 10_000, 30 * SECOND);
    let joined = sim.delivered;
    println!(
        "{n} nodes joined in {:.1} s wall, {joined} messages ({:.0} per join)",
        wall.elapsed().as_secs_f64(),
        joined as f64 / n as f64
    );

    // Part 1: find_node for 1,000 random keys against brute force.
    let t1 = Instant::now();
    let before = sim.delivered;
    let results = run_queries(&mut sim, 1000, 5_000, |sim, i, _| {
        let target = NodeId::from_bytes(sim.random_id());
        let now = sim.now();
        sim.nodes[i].dht.find_node(now, target).unwrap()
    });
    let mut exact = 0;
    let mut hops = Vec::new();
    let mut msgs = Vec::new();
    for (i, ev) in &results {
        let Event::NodesFound {
            target,
            closest,
            stats,
            ..
        } = ev
        else {
            panic!("unexpected event {ev:?}");
        };
        if *closest == sim.true_closest(&target.0, k, *i) {
            exact += 1;
        }
        hops.push(stats.hops);
        msgs.push(stats.requests + stats.responses);
    }
    hops.sort_unstable();
    msgs.sort_unstable();
    let rate = exact as f64 / results.len() as f64;
    print_histogram("find_node", &hops);
    println!(
        "find_node: {exact}/{} returned the true {k} closest ({:.1}%); hops median {} p99 {}; \
         messages per lookup median {} mean {:.1} p99 {}; {} deliveries in {:.1} s wall",
        results.len(),
        rate * 100.0,
        percentile(&hops, 50),
        percentile(&hops, 99),
        percentile(&msgs, 50),
        msgs.iter().map(|&m| m as f64).sum::<f64>() / msgs.len() as f64,
        percentile(&msgs, 99),
        sim.delivered - before,
        t1.elapsed().as_secs_f64()
    );
    assert!(
        rate >= 0.995,
        "seed {seed}: only {:.2}% exact",
        rate * 100.0
    );
    assert!(percentile(&hops, 50) <= 4, "seed {seed}: median hops");
    assert!(percentile(&hops, 99) <= 7, "seed {seed}: p99 hops");

    // Part 2: 1,000 keys announced with 3 replica holders each (a coordinator multi-announces).
    let t2 = Instant::now();
    let mut keys: Vec<(RecordKey, [usize; 3])> = Vec::new();
    let announced = run_queries(&mut sim, 1000, 5_000, |sim, i, _| {
        let key = RecordKey::from_bytes(sim.random_id());
        let holders = [sim.random_live(), sim.random_live(), sim.random_live()];
        let anns = holders
            .iter()
            .map(|&h| Announcement {
                holder: sim.ids[h],
                kind: HolderKind::Replica,
                proof: valid_proof(&key, &sim.ids[h]),
            })
            .collect();
        keys.push((key, holders));
        let now = sim.now();
        sim.nodes[i].dht.announce(now, key, anns).unwrap()
    });
    let stored: Vec<usize> = announced
        .iter()
        .map(|(_, ev)| match ev {
            Event::Announced { stored_on, .. } => stored_on.len(),
            other => panic!("unexpected event {other:?}"),
        })
        .collect();
    println!(
        "announce: stored on {:.1} nodes per key on average (min {})",
        stored.iter().sum::<usize>() as f64 / stored.len() as f64,
        stored.iter().min().copied().unwrap_or(0)
    );

    // 20% of nodes vanish silently; 5% of messages are lost from now on.
    let mut killed = 0;
    while killed < n / 5 {
        let i = sim.random_live();
        sim.nodes[i].alive = false;
        killed += 1;
    }
    sim.net.loss_ppm = 50_000;
    let holders_results = run_queries(&mut sim, 1000, 5_000, |sim, i, n| {
        let now = sim.now();
        sim.nodes[i].dht.find_holders(now, keys[n].0).unwrap()
    });
    let mut found_live = 0;
    let mut has_live = 0;
    let mut found_when_possible = 0;
    let mut hops = Vec::new();
    for (n, (_, ev)) in holders_results.iter().enumerate() {
        let Event::HoldersFound {
            key,
            holders,
            stats,
            ..
        } = ev
        else {
            panic!("unexpected event {ev:?}");
        };
        assert_eq!(*key, keys[n].0);
        hops.push(stats.hops);
        let live: Vec<NodeId> = keys[n]
            .1
            .iter()
            .filter(|&&h| sim.nodes[h].alive)
            .map(|&h| sim.ids[h])
            .collect();
        let found = holders.iter().any(|h| live.contains(&h.node));
        // Only announced holders are ever returned.
        assert!(
            holders
                .iter()
                .all(|h| keys[n].1.iter().any(|&x| sim.ids[x] == h.node))
        );
        if !live.is_empty() {
            has_live += 1;
            if found {
                found_when_possible += 1;
            }
        }
        if found {
            found_live += 1;
        }
    }
    hops.sort_unstable();
    print_histogram("find_holders (20% dead, 5% loss)", &hops);
    let possible = found_when_possible as f64 / has_live as f64;
    println!(
        "find_holders with 20% dead and 5% loss: a live holder found for {found_live}/1000 keys \
         ({:.1}%); {has_live} keys still had a live holder, found for {found_when_possible} \
         ({:.1}%); {} messages lost; {:.1} s wall; total {:.1} s wall",
        found_live as f64 / 10.0,
        possible * 100.0,
        sim.lost,
        t2.elapsed().as_secs_f64(),
        wall.elapsed().as_secs_f64()
    );
    assert!(
        possible >= 0.99,
        "seed {seed}: live holder found for only {:.2}%",
        possible * 100.0
    );
}
