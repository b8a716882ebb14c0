//! Put/get/heal over a seeded in-process network of hosts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

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

#[test]
fn the_same_seed_gives_the_same_run() {
    let run = |seed| {
        let mut sim = Sim::new(seed, 8, config(1));
        sim.run_for(Duration::from_secs(3));
        let ids = sim.ids();
        let mut out = Vec::new();
        for (i, client) in ids.iter().copied().enumerate().take(4) {
            let rec = sim.record(1000 + i * 3000);
            let op = sim.put(client, &rec);
            let ok = matches!(
                sim.wait(client, op, Duration::from_secs(60)),
                Completion::Put(Ok(_))
            );
            out.push((ok, sim.holders(&rec.key())));
        }
        let stats: Vec<_> = sim.hosts.values().map(|(h, _)| h.stats()).collect();
        (out, stats, sim.net.stats())
    };
    let a = run(31);
    assert_eq!(a, run(31), "seed 31: two runs differ");
}

#[test]
fn a_newer_mutable_version_replaces_the_old_one_and_a_tombstone_deletes() {
    use subspace_record::{OwnerGrant, RecordBuilder};
    let seed = 41;
    let mut sim = Sim::new(seed, 10, config(1));
    sim.run_for(Duration::from_secs(5));
    let ids = sim.ids();
    let record_kp = subspace_crypto::Keypair::from_seed(&[0x42; 32]);
    let v1 = RecordBuilder::new(sim.contract, sim.owner.public(), common::UNIX_START)
        .data(b"version one".to_vec())
        .public()
        .mutable(record_kp.public(), 1)
        .grant(OwnerGrant::sign(&sim.owner, &record_kp.public(), &sim.contract).unwrap())
        .build(&record_kp, &mut sim.rng)
        .unwrap();
    let key = v1.key();
    let op = sim.put(ids[0], &v1);
    assert!(
        matches!(
            sim.wait(ids[0], op, Duration::from_secs(60)),
            Completion::Put(Ok(_))
        ),
        "seed {seed}"
    );
    let v2 = RecordBuilder::next_version(&v1, common::UNIX_START + 10)
        .unwrap()
        .data(b"version two".to_vec())
        .build(&record_kp, &mut sim.rng)
        .unwrap();
    let op = sim.put(ids[5], &v2);
    assert!(
        matches!(
            sim.wait(ids[5], op, Duration::from_secs(60)),
            Completion::Put(Ok(_))
        ),
        "seed {seed}"
    );
    let op = sim.get(ids[8], key);
    match sim.wait(ids[8], op, Duration::from_secs(60)) {
        Completion::Get(Ok(r)) => assert_eq!(r, v2, "seed {seed}: not the newest version"),
        other => panic!("seed {seed}: {other:?}"),
    }
    // An older version is refused by every holder that has the newer one.
    let op = sim.put(ids[2], &v1);
    let _ = sim.wait(ids[2], op, Duration::from_secs(60));
    let tomb = RecordBuilder::next_version(&v2, common::UNIX_START + 20)
        .unwrap()
        .build(&record_kp, &mut sim.rng)
        .unwrap();
    let op = sim.put(ids[3], &tomb);
    assert!(
        matches!(
            sim.wait(ids[3], op, Duration::from_secs(60)),
            Completion::Put(Ok(_))
        ),
        "seed {seed}"
    );
    let op = sim.get(ids[9], key);
    match sim.wait(ids[9], op, Duration::from_secs(60)) {
        Completion::Get(Ok(r)) => {
            assert_eq!(r.seq(), Some(3), "seed {seed}");
            assert_eq!(r.data_len(), 0, "seed {seed}: tombstone carries data");
        }
        other => panic!("seed {seed}: {other:?}"),
    }
}

#[test]
fn a_graceful_leave_is_healed_like_a_failure() {
    let seed = 51;
    let mut sim = Sim::new(seed, 10, config(1));
    sim.run_for(Duration::from_secs(5));
    let ids = sim.ids();
    let rec = sim.record(2000);
    let key = rec.key();
    let op = sim.put(ids[0], &rec);
    assert!(
        matches!(
            sim.wait(ids[0], op, Duration::from_secs(60)),
            Completion::Put(Ok(_))
        ),
        "seed {seed}"
    );
    let leaver = sim.holders(&key)[0];
    sim.hosts.get_mut(&leaver).unwrap().0.leave().unwrap();
    sim.run_for(Duration::from_secs(30));
    let others: Vec<_> = sim
        .holders(&key)
        .into_iter()
        .filter(|h| *h != leaver)
        .collect();
    assert_eq!(
        others.len(),
        3,
        "seed {seed}: the leaver's replica was not re-created"
    );
}

#[test]
fn every_holder_of_a_mutable_record_gets_each_newer_version() {
    use subspace_record::{OwnerGrant, RecordBuilder};
    let seed = 43;
    let mut sim = Sim::new(seed, 12, config(1));
    sim.run_for(Duration::from_secs(5));
    let ids = sim.ids();
    let record_kp = subspace_crypto::Keypair::from_seed(&[0x43; 32]);
    let mut current = RecordBuilder::new(sim.contract, sim.owner.public(), common::UNIX_START)
        .data(b"v1".to_vec())
        .public()
        .mutable(record_kp.public(), 1)
        .grant(OwnerGrant::sign(&sim.owner, &record_kp.public(), &sim.contract).unwrap())
        .build(&record_kp, &mut sim.rng)
        .unwrap();
    let key = current.key();
    for round in 0..8u64 {
        if round > 0 {
            current = RecordBuilder::next_version(&current, common::UNIX_START + round)
                .unwrap()
                .data(format!("version {}", round + 1).into_bytes())
                .build(&record_kp, &mut sim.rng)
                .unwrap();
        }
        // A different client (so usually a different coordinator) for every version.
        let client = ids[(round as usize * 5) % ids.len()];
        let op = sim.put(client, &current);
        match sim.wait(client, op, Duration::from_secs(60)) {
            Completion::Put(Ok(rs)) => assert!(rs.len() >= 3, "seed {seed} round {round}"),
            other => panic!("seed {seed} round {round}: {other:?}"),
        }
        let seqs = sim.stored_seqs(&key, 1);
        assert!(seqs.len() >= 3, "seed {seed} round {round}: {seqs:?}");
        assert!(
            seqs.values().all(|s| *s == current.seq()),
            "seed {seed} round {round}: a holder kept a stale version: {seqs:?}"
        );
        let reader = ids[(round as usize * 7 + 3) % ids.len()];
        let op = sim.get(reader, key);
        match sim.wait(reader, op, Duration::from_secs(60)) {
            Completion::Get(Ok(r)) => assert_eq!(r.seq(), current.seq(), "seed {seed}"),
            other => panic!("seed {seed} round {round}: {other:?}"),
        }
    }
}
