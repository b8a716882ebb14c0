//! Hosts that answer wrongly: a copy of another host's replica, altered bytes. Both are caught
//! (PoR, validation), faulted through gossip, and the next holder is tried.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Sim, config};
use subspace_node::{Completion, NodeError, RecordStore};

#[test]
fn copied_and_altered_replicas_are_caught_and_faulted() {
    let seed = 21;
    let mut sim = Sim::new(seed, 12, config(2));
    sim.run_for(Duration::from_secs(5));
    let ids = sim.ids();
    // Small enough that the fault proof carries the served bytes.
    let rec = sim.record(3000);
    let key = rec.key();
    let op = sim.put(ids[0], &rec);
    assert!(matches!(
        sim.wait(ids[0], op, Duration::from_secs(60)),
        Completion::Put(Ok(_))
    ));
    let holders = sim.holders(&key);
    assert_eq!(holders.len(), 3);
    let (copier, alterer, honest) = (holders[0], holders[1], holders[2]);

    // The copier serves the alterer's replica as if it were its own (it never encoded one).
    let theirs = sim.hosts[&alterer].0.store().get(&key).unwrap().unwrap();
    let mut mine = sim.hosts[&copier].0.store().get(&key).unwrap().unwrap();
    mine.body = theirs.body.clone();
    sim.hosts
        .get_mut(&copier)
        .unwrap()
        .0
        .store_mut()
        .put(key, mine)
        .unwrap();
    // The alterer flips one byte of its own replica.
    let mut altered = theirs;
    altered.body[100] ^= 0x01;
    sim.hosts
        .get_mut(&alterer)
        .unwrap()
        .0
        .store_mut()
        .put(key, altered)
        .unwrap();
    // Take the honest copy away for now, so the client must ask both liars.
    let honest_entry = sim.hosts[&honest].0.store().get(&key).unwrap().unwrap();
    sim.hosts
        .get_mut(&honest)
        .unwrap()
        .0
        .store_mut()
        .delete(&key)
        .unwrap();

    let client = *ids.iter().find(|i| !holders.contains(i)).unwrap();
    let op = sim.get(client, key);
    match sim.wait(client, op, Duration::from_secs(60)) {
        Completion::Get(Err(NodeError::NotFound(k))) => assert_eq!(k, key),
        other => panic!("seed {seed}: a wrong copy was accepted: {other:?}"),
    }
    let stats = sim.hosts[&client].0.stats();
    assert_eq!(stats.bad_replies, 2, "seed {seed}");
    assert_eq!(stats.faults_reported, 2, "seed {seed}");
    // The faults spread and every other host verifies them with the fault validator.
    sim.run_for(Duration::from_secs(20));
    let observer = *ids
        .iter()
        .find(|i| **i != client && !holders.contains(i))
        .unwrap();
    assert!(
        sim.hosts[&observer].0.stats().faults_seen >= 2,
        "seed {seed}: faults did not spread"
    );

    // With the honest replica back, the get succeeds despite the liars.
    sim.hosts
        .get_mut(&honest)
        .unwrap()
        .0
        .store_mut()
        .put(key, honest_entry)
        .unwrap();
    let op = sim.get(client, key);
    match sim.wait(client, op, Duration::from_secs(60)) {
        Completion::Get(Ok(r)) => assert_eq!(r, rec),
        other => panic!("seed {seed}: {other:?}"),
    }
}

#[test]
fn a_replica_encoded_for_another_host_fails_the_check_even_though_its_record_is_valid() {
    use subspace_crypto::{Keypair, hash};
    use subspace_node::message::FetchHeader;
    let mut sim = Sim::new(23, 2, config(2));
    let rec = sim.record(9000);
    let bytes = rec.encode().unwrap();
    let key = rec.key();
    let (x, y) = (Keypair::from_seed(&[1; 32]), Keypair::from_seed(&[2; 32]));
    let xs = subspace_por::encode(&bytes, &x.public(), key.as_bytes(), 2).unwrap();
    let record_hash = hash::sha256(&bytes);
    // X serving its own replica passes.
    let hx = FetchHeader::new(x.public(), key, record_hash, xs.as_bytes(), true)
        .sign(&x)
        .unwrap();
    assert_eq!(
        subspace_node::check_served(&hx, xs.as_bytes(), &key, 2)
            .unwrap()
            .0,
        rec
    );
    // Y serving X's replica (a copy it did not encode) fails, though the data inside is valid.
    let hy = FetchHeader::new(y.public(), key, record_hash, xs.as_bytes(), true)
        .sign(&y)
        .unwrap();
    assert!(subspace_node::check_served(&hy, xs.as_bytes(), &key, 2).is_err());
    // And the fault proof for it is accepted by every host's fault validator.
    let proof = subspace_crypto::codec::encode(&subspace_node::FaultProof {
        header: hy,
        bytes: xs.as_bytes().to_vec(),
    })
    .unwrap();
    let v = subspace_node::FetchFaultValidator { layers: 2 };
    use subspace_gossip::FaultValidator;
    assert!(v.validate(&y.node_id(), &y.public(), &proof));
    // Blaming X (whose signature is not on the header) is refused.
    assert!(!v.validate(&x.node_id(), &x.public(), &proof));
}
