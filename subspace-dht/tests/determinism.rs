//! Replay: the same seed gives the same run, message for message (through the wire codec).

// Helpers outside #[test] fns unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::sim;

use sim::{NetConfig, Sim, valid_proof};
use subspace_crypto::{Hash256, NodeId, RecordKey};
use subspace_dht::{Announcement, DhtConfig, HolderKind};

const SECOND: u64 = 1_000_000;

/// A small network with loss: join, lookups, announces, holder lookups. Returns the trace
/// digest and the number of deliveries.
fn run(seed: u64) -> (Hash256, u64) {
    let net = NetConfig {
        loss_ppm: 20_000,
        check_codec: true,
        ..NetConfig::default()
    };
    let mut cfg = DhtConfig::default();
    cfg.disjoint_paths = 2;
    let mut sim = Sim::new(200, &cfg, net, seed);
    sim.join_all(3, 10_000, 5 * SECOND);
    let mut keys = Vec::new();
    for _ in 0..30 {
        let i = sim.random_live();
        let now = sim.now();
        let target = NodeId::from_bytes(sim.random_id());
        sim.nodes[i].dht.find_node(now, target).unwrap();
        sim.flush(i);
        let key = RecordKey::from_bytes(sim.random_id());
        let h = sim.random_live();
        let ann = Announcement {
            holder: sim.ids[h],
            kind: HolderKind::Replica,
            proof: valid_proof(&key, &sim.ids[h]),
        };
        sim.nodes[i].dht.announce(now, key, vec![ann]).unwrap();
        sim.flush(i);
        keys.push(key);
        let t = sim.now_us + 50_000;
        sim.run_until(t);
    }
    for key in keys {
        let i = sim.random_live();
        let now = sim.now();
        sim.nodes[i].dht.find_holders(now, key).unwrap();
        sim.flush(i);
        let t = sim.now_us + 50_000;
        sim.run_until(t);
    }
    let t = sim.now_us + 90 * SECOND;
    sim.run_until(t);
    (sim.trace_hash(), sim.delivered)
}

#[test]
fn same_seed_same_trace() {
    let seed = sim::seed(0x5eed_0003);
    let (a, n) = run(seed);
    let (b, m) = run(seed);
    println!("trace {a} over {n} deliveries");
    assert_eq!((a, n), (b, m), "seed {seed}: two runs diverged");
    let (c, _) = run(seed ^ 1);
    assert_ne!(a, c, "a different seed must give a different run");
}
