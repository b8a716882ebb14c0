//! The acceptance simulation at its full size: 50 hosts, R = 3, 2,000 records of mixed
//! sizes up to 1 MiB; then 10 hosts killed one at a time with time to heal in between. Every
//! record must stay readable and be back at 3 replicas: zero data loss.
//!
//! Sizes: every 100th record is exactly 1 MiB; the others are log-uniform between 1 byte and
//! 1 MiB (each power-of-two range equally likely: half the records are under 1 KiB, 5 % above
//! 512 KiB; mean about 85 KiB, 170 MB in all). Nearly all the run's CPU is the hosts' own Sloth
//! encoding of their replicas (about 6,000 at put, 1,200 more in healing).
//! `SUBSPACE_TEST_SEED` replays a seed; the seed is printed first and in every failure.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{Sim, config};
use rand::Rng;
use subspace_node::Completion;

#[test]
fn fifty_hosts_ten_kills_zero_loss() {
    let (records, max_len): (usize, usize) = (2000, 1 << 20);
    let seed: u64 = std::env::var("SUBSPACE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x51_4D);
    eprintln!("sim seed {seed} ({records} records up to {max_len} bytes)");
    let mut sim = Sim::new(seed, 50, config(1));
    sim.run_for(Duration::from_secs(10));

    // Puts in concurrent batches from random clients.
    let mut stored = BTreeMap::new();
    let mut seen = BTreeSet::new();
    let mut left = records;
    while left > 0 {
        let batch = left.min(50);
        left -= batch;
        let ids = sim.ids();
        let mut ops = Vec::new();
        for i in 0..batch {
            let len = if (left + i) % 100 == 0 {
                max_len
            } else {
                let bits = sim.rng.gen_range(0.0..=(max_len as f64).log2());
                (bits.exp2().round() as usize).min(max_len)
            };
            // Distinct records: a short one can repeat another's bytes (and so its key); draw again.
            let rec = loop {
                let rec = sim.record(len);
                if seen.insert(rec.key()) {
                    break rec;
                }
            };
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
    assert_eq!(stored.len(), records, "seed {seed}");
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
