//! Put/get/heal over a seeded in-process network of hosts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Sim, config};
use subspace_node::{Completion, NodeError, PutStep};

#[test]
fn small_network_put_get_heal() {
    let seed = 11;
    let mut sim = Sim::new(seed, 10, config(1));
    sim.run_for(Duration::from_secs(5));
    let ids = sim.ids();
    let rec = sim.record(5000);
    let key = rec.key();
    let op = sim.put(ids[3], &rec);
    match sim.wait(ids[3], op, Duration::from_secs(120)) {
        Completion::Put(Ok(rs)) => assert_eq!(rs.len(), 3),
        other => panic!("seed {seed}: {other:?}"),
    }
    assert_eq!(sim.holders(&key).len(), 3, "seed {seed}");
    let op = sim.get(ids[7], key);
    match sim.wait(ids[7], op, Duration::from_secs(120)) {
        Completion::Get(Ok(r)) => assert_eq!(r, rec),
        other => panic!("seed {seed}: {other:?}"),
    }
    let victim = sim.holders(&key)[0];
    sim.kill(&victim);
    sim.run_for(Duration::from_secs(60));
    assert_eq!(sim.holders(&key).len(), 3, "seed {seed}: not healed");
}

#[test]
fn unknown_contract_is_refused_and_nothing_stays_stored() {
    let seed = 12;
    let mut sim = Sim::new(seed, 6, config(1));
    sim.run_for(Duration::from_secs(5));
    let ids = sim.ids();
    sim.contract = subspace_crypto::ContractId::from_bytes([0x99; 32]);
    let rec = sim.record(100);
    let op = sim.put(ids[0], &rec);
    match sim.wait(ids[0], op, Duration::from_secs(60)) {
        Completion::Put(Err(NodeError::PutFailed {
            step: PutStep::Contract,
            ..
        })) => {}
        other => panic!("seed {seed}: {other:?}"),
    }
    sim.run_for(Duration::from_secs(5));
    assert!(
        sim.holders(&rec.key()).is_empty(),
        "seed {seed}: something stayed stored"
    );
}
