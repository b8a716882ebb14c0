//! Hostile networks: partitions, and colluding liars against disjoint-path lookups.

// Helpers outside #[test] fns unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::sim;

use sim::{NetConfig, Sim, valid_proof};
use subspace_crypto::{NodeId, RecordKey};
use subspace_dht::{Announcement, DhtConfig, Event, HolderKind};

const SECOND: u64 = 1_000_000;

#[test]
fn lookups_stay_on_their_side_of_a_partition_and_finish() {
    let seed = sim::seed(0x5eed_0004);
    let mut cfg = DhtConfig::default();
    cfg.refresh_on_bootstrap = false;
    let mut sim = Sim::new(400, &cfg, NetConfig::default(), seed);
    sim.join_all(3, 10_000, 10 * SECOND);
    let sides: Vec<u8> = (0..400).map(|_| sim.random_id()[0] & 1).collect();
    sim.partition = Some(sides.clone());
    for _ in 0..40 {
        let i = sim.random_live();
        let now = sim.now();
        let target = NodeId::from_bytes(sim.random_id());
        let q = sim.nodes[i].dht.find_node(now, target).unwrap();
        sim.flush(i);
        let Some(Event::NodesFound { closest, stats, .. }) =
            sim.run_until_result(i as u32, q, 120 * SECOND)
        else {
            panic!("seed {seed}: lookup never finished");
        };
        assert!(!closest.is_empty(), "seed {seed}");
        for n in &closest {
            assert_eq!(
                sides[sim.index_of(n)],
                sides[i],
                "seed {seed}: crossed the partition"
            );
        }
        assert!(
            stats.duration.as_secs() < 60,
            "seed {seed}: finished by timeouts, not the query deadline"
        );
    }
    // Heal: lookups find the true k closest across the whole network again.
    sim.partition = None;
    let mut exact = 0;
    for _ in 0..40 {
        let i = sim.random_live();
        let now = sim.now();
        let target = NodeId::from_bytes(sim.random_id());
        let q = sim.nodes[i].dht.find_node(now, target).unwrap();
        sim.flush(i);
        if let Some(Event::NodesFound { closest, .. }) =
            sim.run_until_result(i as u32, q, 120 * SECOND)
            && closest == sim.true_closest(&target.0, cfg.k, i)
        {
            exact += 1;
        }
    }
    println!("after healing: {exact}/40 lookups exact");
    assert!(
        exact >= 36,
        "seed {seed}: only {exact}/40 exact after healing"
    );
}

/// 20% of nodes collude: they answer lookups with each other and hide holders. Returns the
/// share of honest `find_holders` that still found a holder.
fn with_liars(seed: u64, paths: usize) -> f64 {
    let mut cfg = DhtConfig::default();
    cfg.refresh_on_bootstrap = false;
    cfg.disjoint_paths = paths;
    let n = 1000;
    let mut sim = Sim::new(n, &cfg, NetConfig::default(), seed);
    sim.join_all(3, 10_000, 10 * SECOND);
    let mut keys = Vec::new();
    for _ in 0..200 {
        let i = sim.random_live();
        let key = RecordKey::from_bytes(sim.random_id());
        let h = sim.random_live();
        let ann = Announcement {
            holder: sim.ids[h],
            kind: HolderKind::Replica,
            proof: valid_proof(&key, &sim.ids[h]),
        };
        let now = sim.now();
        let q = sim.nodes[i].dht.announce(now, key, vec![ann]).unwrap();
        sim.flush(i);
        sim.run_until_result(i as u32, q, 120 * SECOND).unwrap();
        keys.push(key);
    }
    let liars: Vec<usize> = (0..n).filter(|_| sim.random_id()[0] < 51).collect();
    sim.make_liars(&liars);
    let mut found = 0;
    for key in &keys {
        let i = loop {
            let i = sim.random_live();
            if !sim.liars[i] {
                break i;
            }
        };
        let now = sim.now();
        let q = sim.nodes[i].dht.find_holders(now, *key).unwrap();
        sim.flush(i);
        if let Some(Event::HoldersFound { holders, .. }) =
            sim.run_until_result(i as u32, q, 120 * SECOND)
            && !holders.is_empty()
        {
            found += 1;
        }
    }
    found as f64 / keys.len() as f64
}

#[test]
fn disjoint_paths_resist_colluding_liars() {
    let seed = sim::seed(0x5eed_0005);
    let one = with_liars(seed, 1);
    let three = with_liars(seed, 3);
    println!(
        "20% colluding liars: holders found by {:.1}% of lookups with 1 path, {:.1}% with 3 disjoint paths",
        one * 100.0,
        three * 100.0
    );
    assert!(three >= one, "seed {seed}: disjoint paths did worse");
    assert!(
        three >= 0.95,
        "seed {seed}: disjoint paths found only {:.1}%",
        three * 100.0
    );
}
