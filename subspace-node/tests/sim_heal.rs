//! The acceptance simulation: 50 hosts, R = 3, records of mixed sizes; then 10 hosts
//! killed one at a time with time to heal in between. Every record must stay readable and be
//! back at 3 replicas: zero data loss.
//!
//! CI runs a reduced load (300 records up to 64 KiB). `SUBSPACE_NODE_FULL_SIM=1` runs the
//! issue's full parameters (2,000 records up to 1 MiB). `SUBSPACE_TEST_SEED` replays a seed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Sim, config};
use rand::Rng;
use subspace_node::Completion;

#[test]
fn fifty_hosts_ten_kills_zero_loss() {
    let full = std::env::var("SUBSPACE_NODE_FULL_SIM").is_ok();
    let (records, max_len) = if full {
        (2000, 1 << 20)
    } else {
        (300, 64 << 10)
    };
    let seed: u64 = std::env::var("SUBSPACE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x51_4D);
    eprintln!("sim seed {seed} ({records} records up to {max_len} bytes)");
    let mut sim = Sim::new(seed, 50, config(1));
    sim.run_for(Duration::from_secs(10));

    // Puts in concurrent batches from random clients.
    let mut stored = BTreeMap::new();
    let mut left = records;
    while left > 0 {
        let batch = left.min(50);
        left -= batch;
        let ids = sim.ids();
        let mut ops = Vec::new();
        for _ in 0..batch {
            let len = match sim.rng.gen_range(0..20) {
                0 => sim
                    .rng
                    .gen_range(256 << 10..=max_len.max(256 << 10))
                    .min(max_len),
                1..=5 => sim.rng.gen_range(16 << 10..=max_len.min(256 << 10)),
                _ => sim.rng.gen_range(0..16 << 10),
            };
            let rec = sim.record(len);
            let client = ids[sim.rng.gen_range(0..ids.len())];
            ops.push((client, sim.put(client, &rec), rec));
        }
        for (client, op, rec) in ops {
            match sim.wait(client, op, Duration::from_secs(300)) {
                Completion::Put(Ok(receipts)) => assert_eq!(receipts.len(), 3, "seed {seed}"),
                other => panic!("seed {seed}: put failed: {other:?}"),
            }
            stored.insert(rec.key(), rec);
        }
    }
    for key in stored.keys() {
        assert_eq!(
            sim.holders(key).len(),
            3,
            "seed {seed}: {key} not at 3 replicas after put"
        );
    }

    // Kill 10 hosts, one at a time, with time to detect the failure and heal in between.
    for round in 0..10 {
        let ids = sim.ids();
        let victim = ids[sim.rng.gen_range(0..ids.len())];
        sim.kill(&victim);
        sim.run_for(Duration::from_secs(90));
        let under: Vec<_> = stored.keys().filter(|k| sim.holders(k).len() < 3).collect();
        assert!(
            under.is_empty(),
            "seed {seed} round {round}: {} records below 3 replicas",
            under.len()
        );
    }

    // Zero data loss: every record reads back, byte-identical, from a random client.
    let keys: Vec<_> = stored.keys().copied().collect();
    for chunk in keys.chunks(50) {
        let ids = sim.ids();
        let ops: Vec<_> = chunk
            .iter()
            .map(|k| {
                let c = ids[sim.rng.gen_range(0..ids.len())];
                (c, sim.get(c, *k), *k)
            })
            .collect();
        for (c, op, k) in ops {
            match sim.wait(c, op, Duration::from_secs(300)) {
                Completion::Get(Ok(r)) => assert_eq!(&r, &stored[&k], "seed {seed}: {k} altered"),
                other => panic!("seed {seed}: {k} unreadable: {other:?}"),
            }
        }
    }
    for key in stored.keys() {
        let n = sim.holders(key).len();
        assert!(n >= 3, "seed {seed}: {key} at {n} replicas");
    }
    let heals: u64 = sim.hosts.values().map(|(h, _)| h.stats().heals_done).sum();
    eprintln!("seed {seed}: {heals} heal jobs completed, all {records} records at >= 3 replicas");
}
