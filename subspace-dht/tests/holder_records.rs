//! Holder records in a simulated network: replicas leave when reported gone (and outlive the
//! cache TTL), caches expire, invalid proofs are stored nowhere. Replica expiry after
//! `replica_ttl` is tested in `holders_expire.rs`; this run lasts minutes, well within it.

// Helpers outside #[test] fns unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::sim;

use std::time::Duration;

use sim::{NetConfig, Sim, valid_proof};
use subspace_crypto::{NodeId, RecordKey};
use subspace_dht::{Announcement, DhtConfig, Event, Holder, HolderKind};

const SECOND: u64 = 1_000_000;

fn find_holders(sim: &mut Sim, from: usize, key: RecordKey) -> Vec<Holder> {
    let now = sim.now();
    let q = sim.nodes[from].dht.find_holders(now, key).unwrap();
    sim.flush(from);
    match sim.run_until_result(from as u32, q, 120 * SECOND) {
        Some(Event::HoldersFound { holders, .. }) => holders,
        other => panic!("unexpected {other:?}"),
    }
}

fn announce(sim: &mut Sim, from: usize, key: RecordKey, anns: Vec<Announcement>) -> Vec<NodeId> {
    let now = sim.now();
    let q = sim.nodes[from].dht.announce(now, key, anns).unwrap();
    sim.flush(from);
    match sim.run_until_result(from as u32, q, 120 * SECOND) {
        Some(Event::Announced { stored_on, .. }) => stored_on,
        other => panic!("unexpected {other:?}"),
    }
}

fn stored_anywhere(sim: &Sim, key: &RecordKey) -> Vec<Holder> {
    let now = sim.now();
    let mut all: Vec<Holder> = sim
        .nodes
        .iter()
        .flat_map(|n| n.dht.local_holders(key, now))
        .collect();
    all.sort();
    all.dedup();
    all
}

fn replica(key: &RecordKey, holder: NodeId) -> Announcement {
    Announcement {
        holder,
        kind: HolderKind::Replica,
        proof: valid_proof(key, &holder),
    }
}

#[test]
fn replicas_caches_and_invalid_proofs() {
    let seed = sim::seed(0x5eed_0002);
    let mut cfg = DhtConfig::default();
    cfg.cache_ttl = Duration::from_secs(120);
    let mut sim = Sim::new(300, &cfg, NetConfig::default(), seed);
    sim.join_all(3, 10_000, 10 * SECOND);
    let ids = sim.ids.clone();

    // A coordinator multi-announces two replica holders.
    let key_a = RecordKey::from_bytes(sim.random_id());
    let (c, h1, h2) = (5, 17, 42);
    let stored = announce(
        &mut sim,
        c,
        key_a,
        vec![replica(&key_a, ids[h1]), replica(&key_a, ids[h2])],
    );
    assert_eq!(stored.len(), cfg.k, "seed {seed}");
    let found: Vec<NodeId> = find_holders(&mut sim, 99, key_a)
        .iter()
        .map(|h| h.node)
        .collect();
    let mut expected = vec![ids[h1], ids[h2]];
    expected.sort();
    assert_eq!(found, expected, "seed {seed}");

    // Gossip delivers a valid leave for h1 to every node: it is no longer returned.
    for n in &mut sim.nodes {
        n.dht.holder_gone(&ids[h1]);
    }
    let found: Vec<NodeId> = find_holders(&mut sim, 123, key_a)
        .iter()
        .map(|h| h.node)
        .collect();
    assert_eq!(found, vec![ids[h2]], "seed {seed}");
    assert!(
        stored_anywhere(&sim, &key_a)
            .iter()
            .all(|h| h.node == ids[h2])
    );

    // A cache announcement lives for its TTL, then disappears.
    let key_b = RecordKey::from_bytes(sim.random_id());
    let x = 77;
    let cache = Announcement {
        holder: ids[x],
        kind: HolderKind::Cache,
        proof: vec![],
    };
    assert_eq!(announce(&mut sim, x, key_b, vec![cache]).len(), cfg.k);
    assert_eq!(
        find_holders(&mut sim, 200, key_b),
        vec![Holder {
            node: ids[x],
            kind: HolderKind::Cache
        }],
        "seed {seed}"
    );
    let t = sim.now_us + 121 * SECOND;
    sim.run_until(t);
    assert!(find_holders(&mut sim, 200, key_b).is_empty(), "seed {seed}");
    assert!(stored_anywhere(&sim, &key_b).is_empty());
    // Replicas outlive the cache TTL (they last `replica_ttl`, 2 h by default).
    assert_eq!(find_holders(&mut sim, 7, key_a).len(), 1);

    // An invalid proof is stored nowhere, and neither is a cache entry claimed for someone else.
    let key_c = RecordKey::from_bytes(sim.random_id());
    let forged = Announcement {
        holder: ids[h2],
        kind: HolderKind::Replica,
        proof: vec![0xde; 16],
    };
    let wrong_key_proof = Announcement {
        holder: ids[h2],
        kind: HolderKind::Replica,
        proof: valid_proof(&key_a, &ids[h2]),
    };
    let not_mine = Announcement {
        holder: ids[h2],
        kind: HolderKind::Cache,
        proof: vec![],
    };
    let stored = announce(&mut sim, c, key_c, vec![forged, wrong_key_proof, not_mine]);
    assert!(stored.is_empty(), "seed {seed}: stored on {stored:?}");
    assert!(stored_anywhere(&sim, &key_c).is_empty());
    assert!(find_holders(&mut sim, 3, key_c).is_empty());
    let rejected: u64 = sim
        .nodes
        .iter()
        .map(|n| n.dht.stats().announces_rejected)
        .sum();
    assert!(
        rejected >= 3 * cfg.k as u64 - 3,
        "every storing node refused all three"
    );

    // In a mixed multi-announce only the valid holder is stored.
    let key_d = RecordKey::from_bytes(sim.random_id());
    let bad = Announcement {
        holder: ids[h1],
        kind: HolderKind::Replica,
        proof: vec![],
    };
    announce(&mut sim, c, key_d, vec![replica(&key_d, ids[h2]), bad]);
    let found: Vec<NodeId> = find_holders(&mut sim, 250, key_d)
        .iter()
        .map(|h| h.node)
        .collect();
    assert_eq!(found, vec![ids[h2]], "seed {seed}");
}
