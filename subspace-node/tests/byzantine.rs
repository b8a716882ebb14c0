//! Hosts that answer wrongly or too late: a copy of another host's replica, altered bytes, a
//! slow disk. Each is caught (PoR, validation, the host's own signed times), faulted through
//! gossip with a proof every host checks, and the next holder is tried.
//!
//! And strangers who put records they have no authority over: a version of someone else's
//! mutable record signed by their own key, or a record charged to someone else's contract.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::time::Duration;

use common::{Sim, config};
use subspace_node::message::PutStep;
use subspace_node::{Completion, NodeError, RecordStore, Transport};

#[test]
fn copied_and_altered_replicas_are_caught_and_faulted() {
    // Small enough that the fault proof carries the whole served body.
    copied_and_altered(21, 3000);
}

#[test]
fn copied_and_altered_large_replicas_are_faulted_with_one_disputed_piece() {
    // 200 KiB: 50 pieces, far above what a gossip fault statement can carry whole.
    copied_and_altered(22, 200 << 10);
}

fn copied_and_altered(seed: u64, len: usize) {
    let mut sim = Sim::new(seed, 12, config(2));
    sim.run_for(Duration::from_secs(5));
    let ids = sim.ids();
    let rec = sim.record(len);
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
    // The alterer flips one byte of its own replica, in its last piece.
    let mut altered = theirs;
    let at = altered.body.len() - 100;
    altered.body[at] ^= 0x01;
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
    assert_eq!(stats.unproven_bad_replies, 0, "seed {seed}");
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
    use subspace_crypto::Keypair;
    use subspace_gossip::FaultValidator;
    use subspace_node::message::FetchHeader;
    use subspace_node::{FaultProof, pieces};
    let mut sim = Sim::new(23, 2, config(2));
    let v = subspace_node::FetchFaultValidator { layers: 2 };
    for len in [9000, 100_000] {
        let rec = sim.record(len);
        let bytes = rec.encode().unwrap();
        let key = rec.key();
        let (x, y) = (Keypair::from_seed(&[1; 32]), Keypair::from_seed(&[2; 32]));
        let xs = subspace_por::encode(&bytes, &x.public(), key.as_bytes(), 2).unwrap();
        let leaves = pieces::padded_leaves(&bytes);
        let record_root = pieces::root(&leaves).unwrap();
        // X serving its own replica passes, and no fault proof can be built against it.
        let hx = FetchHeader::new(x.public(), key, record_root, xs.as_bytes(), true)
            .sign(&x)
            .unwrap();
        assert_eq!(
            subspace_node::check_served(&hx, xs.as_bytes(), &key, 2)
                .unwrap()
                .0,
            rec
        );
        assert!(
            subspace_node::build_fault_proof(&hx, xs.as_bytes(), &leaves, 2).is_none_or(|p| !v
                .validate(
                    &x.node_id(),
                    &x.public(),
                    &subspace_crypto::codec::encode(&p).unwrap()
                ))
        );
        // Y serving X's replica (a copy it did not encode) fails, though the data inside is
        // valid.
        let hy = FetchHeader::new(y.public(), key, record_root, xs.as_bytes(), true)
            .sign(&y)
            .unwrap();
        assert!(subspace_node::check_served(&hy, xs.as_bytes(), &key, 2).is_err());
        // The fault proof for it fits a gossip statement and every host's validator accepts it.
        let proof = subspace_node::build_fault_proof(&hy, xs.as_bytes(), &leaves, 2).unwrap();
        match (&proof, len) {
            (FaultProof::Body { .. }, 9000) | (FaultProof::Piece { index: 0, .. }, 100_000) => {}
            other => panic!("unexpected proof kind for {len} bytes: {other:?}"),
        }
        let proof = subspace_crypto::codec::encode(&proof).unwrap();
        assert!(proof.len() <= 16 * 1024, "{} bytes", proof.len());
        assert!(v.validate(&y.node_id(), &y.public(), &proof));
        // Blaming X (whose signature is not on the header) is refused.
        assert!(!v.validate(&x.node_id(), &x.public(), &proof));
    }
}

#[test]
fn a_piece_proof_against_an_honest_replica_is_refused() {
    use subspace_crypto::{Hash256, Keypair};
    use subspace_gossip::FaultValidator;
    use subspace_node::message::FetchHeader;
    use subspace_node::{FaultProof, pieces};
    let mut sim = Sim::new(24, 2, config(2));
    let rec = sim.record(50_000);
    let bytes = rec.encode().unwrap();
    let key = rec.key();
    let x = Keypair::from_seed(&[1; 32]);
    let xs = subspace_por::encode(&bytes, &x.public(), key.as_bytes(), 2).unwrap();
    let leaves = pieces::padded_leaves(&bytes);
    let header = || {
        FetchHeader::new(
            x.public(),
            key,
            pieces::root(&leaves).unwrap(),
            xs.as_bytes(),
            true,
        )
    };
    let h = header().sign(&x).unwrap();
    let v = subspace_node::FetchFaultValidator { layers: 2 };
    let served = pieces::leaves(xs.as_bytes());
    let piece = |i: usize| xs.as_bytes()[i * 4096..(i + 1) * 4096].to_vec();
    let proof = |index: u64, piece: Vec<u8>, record_leaf: Hash256, ri: usize| FaultProof::Piece {
        header: h.clone(),
        index,
        piece,
        served_path: pieces::path(&served, index as usize),
        record_leaf,
        record_path: pieces::path(&leaves, ri),
    };
    let accepted = |p: FaultProof| {
        v.validate(
            &x.node_id(),
            &x.public(),
            &subspace_crypto::codec::encode(&p).unwrap(),
        )
    };
    // The honest piece against its own leaf, a leaf of another position, a made-up leaf, and
    // an altered piece: none proves anything against X.
    assert!(!accepted(proof(3, piece(3), leaves[3], 3)));
    assert!(!accepted(proof(3, piece(3), leaves[4], 4)));
    assert!(!accepted(proof(3, piece(3), Hash256([7; 32]), 3)));
    let mut altered = piece(3);
    altered[0] ^= 1;
    assert!(!accepted(proof(3, altered, leaves[3], 3)));
    // Lateness X does not admit is no fault either.
    let on_time = header().timed(1_000, 900, 1_000).sign(&x).unwrap();
    assert!(!accepted(FaultProof::Late { header: on_time }));
    // Nor is overrunning a deadline that left X less than the minimum budget.
    let framed = header().timed(1_000, 900, 5_000).sign(&x).unwrap();
    assert!(!accepted(FaultProof::Late { header: framed }));
}

#[test]
fn a_holder_that_admits_answering_late_is_faulted_and_then_avoided() {
    let seed = 25;
    let mut sim = Sim::new(seed, 12, config(1));
    sim.run_for(Duration::from_secs(5));
    let ids = sim.ids();
    let rec = sim.record(20_000);
    let key = rec.key();
    let op = sim.put(ids[0], &rec);
    assert!(matches!(
        sim.wait(ids[0], op, Duration::from_secs(60)),
        Completion::Put(Ok(_))
    ));
    let holders = sim.holders(&key);
    assert_eq!(holders.len(), 3, "seed {seed}");
    let slow = holders[0];
    // Its disk takes longer than the client's fetch timeout (2 s) to read a replica.
    let clock = sim.clock.clone();
    sim.hosts.get_mut(&slow).unwrap().0.store_mut().slow = Some((clock, Duration::from_secs(3)));
    // Hide the other replicas so that the client must ask the slow holder.
    let hidden: Vec<_> = holders[1..]
        .iter()
        .map(|h| {
            let store = sim.hosts.get_mut(h).unwrap().0.store_mut();
            let e = store.get(&key).unwrap().unwrap();
            store.delete(&key).unwrap();
            (*h, e)
        })
        .collect();
    let client = *ids.iter().find(|i| !holders.contains(i)).unwrap();
    let op = sim.get(client, key);
    match sim.wait(client, op, Duration::from_secs(60)) {
        Completion::Get(Err(NodeError::NotFound(_))) => {}
        other => panic!("seed {seed}: {other:?}"),
    }
    sim.run_for(Duration::from_secs(5));
    let stats = sim.hosts[&client].0.stats();
    assert_eq!(stats.slow_replies, 1, "seed {seed}");
    assert_eq!(
        stats.faults_reported, 1,
        "seed {seed}: the late answer was not faulted"
    );
    sim.run_for(Duration::from_secs(20));
    let observer = *ids
        .iter()
        .find(|i| **i != client && !holders.contains(i))
        .unwrap();
    assert!(
        sim.hosts[&observer].0.stats().faults_seen >= 1,
        "seed {seed}: the lateness fault did not spread or was not accepted"
    );
    // With the other replicas back, the client asks them before the slow holder.
    for (h, e) in hidden {
        sim.hosts
            .get_mut(&h)
            .unwrap()
            .0
            .store_mut()
            .put(key, e)
            .unwrap();
    }
    let op = sim.get(client, key);
    match sim.wait(client, op, Duration::from_secs(60)) {
        Completion::Get(Ok(r)) => assert_eq!(r, rec, "seed {seed}"),
        other => panic!("seed {seed}: {other:?}"),
    }
    assert_eq!(
        sim.hosts[&client].0.stats().slow_replies,
        1,
        "seed {seed}: the slow holder was asked first again"
    );
}

/// The sim owner's mutable record, two versions: v1 signed by the record key (which delegates
/// to the owner), v2 by the owner. Both are stored before this returns.
fn owners_mutable_record(
    sim: &mut Sim,
    seed: u64,
) -> (
    subspace_record::RecordKeypair,
    subspace_record::Record,
    subspace_record::Record,
) {
    use subspace_record::{OwnerGrant, RecordBuilder, RecordKeypair, Role};
    let ids = sim.ids();
    let rk = RecordKeypair::from_seed(&[0x5e; 32]);
    let writer = subspace_crypto::Keypair::from_seed(&[0x57; 32]);
    let v1 = RecordBuilder::new(sim.contract, sim.owner.public(), common::UNIX_START)
        .mutable(rk.public(), 1)
        .grant(OwnerGrant::sign(&sim.owner, &rk.public(), &sim.contract).unwrap())
        .share(writer.public(), Role::Write)
        .public()
        .data(b"owner v1".to_vec())
        .build(rk.keypair(), &mut sim.rng)
        .unwrap();
    let v2 = RecordBuilder::next_version(&v1, common::UNIX_START + 10)
        .unwrap()
        .data(b"owner v2".to_vec())
        .build(&sim.owner, &mut sim.rng)
        .unwrap();
    for (client, v) in [(ids[0], &v1), (ids[1], &v2)] {
        let op = sim.put(client, v);
        match sim.wait(client, op, Duration::from_secs(60)) {
            Completion::Put(Ok(_)) => {}
            other => panic!("seed {seed}: the owner's put failed: {other:?}"),
        }
    }
    (rk, v1, v2)
}

fn refused_at(
    sim: &mut Sim,
    client: subspace_crypto::NodeId,
    rec: &subspace_record::Record,
) -> PutStep {
    let op = sim.put(client, rec);
    match sim.wait(client, op, Duration::from_secs(60)) {
        Completion::Put(Err(NodeError::PutFailed { step, .. })) => step,
        other => panic!(
            "seed {}: a stranger's put was not refused: {other:?}",
            sim.seed
        ),
    }
}

#[test]
fn a_strangers_hijacking_version_is_refused_and_a_fresh_client_gets_the_owners_latest() {
    use subspace_record::{RecordBuilder, Role};
    let seed = 26;
    let mut sim = Sim::new(seed, 12, config(1));
    sim.run_for(Duration::from_secs(5));
    let ids = sim.ids();
    let (rk, _v1, v2) = owners_mutable_record(&mut sim, seed);
    let key = rk.key();
    let stranger = subspace_crypto::Keypair::from_seed(&[0x66; 32]);
    // The victim's record key and owner (and its public grant, copied from v2), the stranger
    // on the ACL, the highest seq, signed by the stranger's own key; then the same on top of
    // v2, keeping every real delegation.
    let scratch = RecordBuilder::new(sim.contract, sim.owner.public(), common::UNIX_START + 20)
        .mutable(rk.public(), u64::MAX)
        .grant(*v2.grant().unwrap())
        .share(stranger.public(), Role::Write)
        .public()
        .data(b"hijacked".to_vec())
        .build(&stranger, &mut sim.rng)
        .unwrap();
    let on_top = RecordBuilder::next_version(&v2, common::UNIX_START + 20)
        .unwrap()
        .share(stranger.public(), Role::Admin)
        .seq(u64::MAX)
        .data(b"hijacked".to_vec())
        .build(&stranger, &mut sim.rng)
        .unwrap();
    // Through hosts that hold the record and hosts that do not.
    let holders = sim.holders(&key);
    let outsider = *ids.iter().find(|i| !holders.contains(i)).unwrap();
    for (client, hijack) in [(outsider, &scratch), (holders[0], &on_top)] {
        assert_eq!(hijack.key(), key);
        assert_eq!(refused_at(&mut sim, client, hijack), PutStep::Validation);
    }
    sim.run_for(Duration::from_secs(10));
    let seqs = sim.stored_seqs(&key, 1);
    assert!(
        seqs.values().all(|s| *s == v2.seq()),
        "seed {seed}: a host stored the hijack: {seqs:?}"
    );
    // A client that never saw the record gets the owner's latest version.
    let fresh = *ids
        .iter()
        .rev()
        .find(|i| !sim.holders(&key).contains(i) && **i != outsider)
        .unwrap();
    let op = sim.get(fresh, key);
    match sim.wait(fresh, op, Duration::from_secs(60)) {
        Completion::Get(Ok(r)) => assert_eq!(r, v2, "seed {seed}"),
        other => panic!("seed {seed}: {other:?}"),
    }
}

#[test]
fn a_strangers_record_on_the_victims_contract_is_refused() {
    use subspace_record::{OwnerGrant, RecordBuilder, RecordKeypair};
    let seed = 27;
    let mut sim = Sim::new(seed, 10, config(1));
    sim.run_for(Duration::from_secs(5));
    let ids = sim.ids();
    let stranger = subspace_crypto::Keypair::from_seed(&[0x67; 32]);
    let rk = RecordKeypair::from_seed(&[0x68; 32]);
    // Owned by the stranger (its own signature), charged to the victim's contract: valid, and
    // refused by the contract step, which sees who signed.
    let own_immutable = RecordBuilder::new(sim.contract, stranger.public(), common::UNIX_START)
        .public()
        .data(b"free storage".to_vec())
        .build(&stranger, &mut sim.rng)
        .unwrap();
    let own_mutable = RecordBuilder::new(sim.contract, stranger.public(), common::UNIX_START)
        .mutable(rk.public(), 0)
        .grant(OwnerGrant::sign(&stranger, &rk.public(), &sim.contract).unwrap())
        .public()
        .data(b"free storage".to_vec())
        .build(rk.keypair(), &mut sim.rng)
        .unwrap();
    // Claiming the victim as owner, with a grant the stranger signed: refused at validation,
    // before the contract is consulted.
    let rk2 = RecordKeypair::from_seed(&[0x69; 32]);
    let claimed = RecordBuilder::new(sim.contract, sim.owner.public(), common::UNIX_START)
        .mutable(rk2.public(), 0)
        .grant(OwnerGrant::sign(&stranger, &rk2.public(), &sim.contract).unwrap())
        .public()
        .data(b"free storage".to_vec())
        .build(rk2.keypair(), &mut sim.rng)
        .unwrap();
    for (i, (rec, step)) in [
        (&own_immutable, PutStep::Contract),
        (&own_mutable, PutStep::Contract),
        (&claimed, PutStep::Validation),
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(
            refused_at(&mut sim, ids[i], rec),
            step,
            "seed {seed}: record {i}"
        );
        sim.run_for(Duration::from_secs(5));
        assert!(
            sim.holders(&rec.key()).is_empty(),
            "seed {seed}: record {i} was kept"
        );
    }
}

#[test]
fn a_host_claiming_an_inflated_pledge_gets_only_its_on_chain_share_of_replicas() {
    // 50 hosts, each backed by the same host contract on the ledger (1 GiB); one claims
    // u64::MAX in its gossip join. Placement weighs the ledger's figure, not the claim.
    let seed = 31;
    let n = 50;
    let sybil_at = 17;
    let mut sim =
        common::Sim::with_claims(seed, n, config(1), |i| (i == sybil_at).then_some(u64::MAX));
    sim.run_for(Duration::from_secs(10));
    let ids = sim.ids();
    // The sim's hosts are keyed by id: find the one built at index `sybil_at` by its claim.
    let sybil = *ids
        .iter()
        .find(|id| {
            sim.hosts[&ids[0]]
                .0
                .gossip()
                .member(id)
                .is_some_and(|m| m.pledged_bytes == u64::MAX)
        })
        .unwrap();
    let records = 200;
    let mut held = 0;
    for i in 0..records {
        let client = ids[(i * 7) % n];
        let rec = sim.record(600);
        let key = rec.key();
        let op = sim.put(client, &rec);
        match sim.wait(client, op, Duration::from_secs(60)) {
            Completion::Put(Ok(rs)) => assert_eq!(rs.len(), 3, "seed {seed}"),
            other => panic!("seed {seed}: {other:?}"),
        }
        held += usize::from(sim.holders(&key).contains(&sybil));
    }
    // Fair share: 3 of the 49 other hosts per record, 200 records: mean 12.2, sd 3.4.
    // Believing the claim, the sybil would be drawn for nearly every record.
    println!("seed {seed}: the inflated claimer holds {held} of {records} records");
    assert!(
        held <= 26,
        "seed {seed}: the sybil holds {held} of {records}"
    );
}

#[test]
fn a_holders_message_cannot_shrink_a_holder_set_and_heal_still_fires() {
    let seed = 32;
    let mut sim = Sim::new(seed, 10, config(1));
    sim.run_for(Duration::from_secs(5));
    let ids = sim.ids();
    let rec = sim.record(4000);
    let key = rec.key();
    let op = sim.put(ids[0], &rec);
    let receipts = match sim.wait(ids[0], op, Duration::from_secs(60)) {
        Completion::Put(Ok(rs)) => rs,
        other => panic!("seed {seed}: {other:?}"),
    };
    let holders = sim.holders(&key);
    assert_eq!(holders.len(), 3);
    // A stranger tells every holder that the holder set is just the first holder.
    let only_first: Vec<Vec<u8>> = receipts
        .iter()
        .filter(|r| r.host_id() == holders[0])
        .map(|r| r.encode().unwrap())
        .collect();
    let attacker = *ids.iter().find(|i| !holders.contains(i)).unwrap();
    let msg = subspace_node::Message::Node(subspace_node::NodeMessage::Holders {
        key,
        receipts: only_first,
    })
    .encode()
    .unwrap();
    for h in &holders {
        sim.hosts[&attacker].1.send(*h, msg.clone()).unwrap();
    }
    sim.run_for(Duration::from_secs(5));
    // A real holder dies: the survivors still know it held the record, and heal.
    let victim = holders[2];
    sim.kill(&victim);
    sim.run_for(Duration::from_secs(60));
    let now = sim.holders(&key);
    assert!(
        now.len() >= 3 && !now.contains(&victim),
        "seed {seed}: not healed after the holder set was overwritten: {now:?}"
    );
}

#[test]
fn a_holder_proven_faulty_stops_counting_and_its_records_are_healed() {
    let seed = 33;
    let mut sim = Sim::new(seed, 12, config(1));
    sim.run_for(Duration::from_secs(5));
    let ids = sim.ids();
    let rec = sim.record(3000);
    let key = rec.key();
    let op = sim.put(ids[0], &rec);
    assert!(matches!(
        sim.wait(ids[0], op, Duration::from_secs(60)),
        Completion::Put(Ok(_))
    ));
    let holders = sim.holders(&key);
    assert_eq!(holders.len(), 3);
    let (liar, others) = (holders[0], &holders[1..]);
    // The liar flips a byte of its replica; the others' copies are hidden for one get, so the
    // client must ask the liar, catch it and report the fault.
    let mut bad = sim.hosts[&liar].0.store().get(&key).unwrap().unwrap();
    let at = bad.body.len() / 2;
    bad.body[at] ^= 1;
    sim.hosts
        .get_mut(&liar)
        .unwrap()
        .0
        .store_mut()
        .put(key, bad)
        .unwrap();
    let hidden: Vec<_> = others
        .iter()
        .map(|h| {
            let store = sim.hosts.get_mut(h).unwrap().0.store_mut();
            let e = store.get(&key).unwrap().unwrap();
            store.delete(&key).unwrap();
            (*h, e)
        })
        .collect();
    let client = *ids.iter().find(|i| !holders.contains(i)).unwrap();
    let op = sim.get(client, key);
    assert!(matches!(
        sim.wait(client, op, Duration::from_secs(60)),
        Completion::Get(Err(NodeError::NotFound(_)))
    ));
    assert_eq!(
        sim.hosts[&client].0.stats().faults_reported,
        1,
        "seed {seed}"
    );
    for (h, e) in hidden {
        sim.hosts
            .get_mut(&h)
            .unwrap()
            .0
            .store_mut()
            .put(key, e)
            .unwrap();
    }
    // The fault spreads; the honest holders drop the liar from the holder set and heal.
    sim.run_for(Duration::from_secs(60));
    let honest: Vec<_> = sim
        .holders(&key)
        .into_iter()
        .filter(|h| *h != liar)
        .collect();
    assert!(
        honest.len() >= 3,
        "seed {seed}: only {honest:?} besides the faulty holder"
    );
}

#[test]
fn peers_from_one_address_group_hold_a_bounded_share_of_the_routing_table() {
    // Twelve fresh identities, all connecting from one /24, each pinging one host: its DHT
    // routing table takes at most the per-group limit of them.
    let seed = 34;
    let mut sim = Sim::new(seed, 4, config(1));
    sim.run_for(Duration::from_secs(2));
    let target = sim.ids()[0];
    let mut sybils = Vec::new();
    for i in 0..12u8 {
        let id = subspace_crypto::Keypair::from_seed(&[0xB0 + i; 32]).node_id();
        sim.net
            .set_addr(id, format!("203.0.113.{}:9000", i + 1).parse().unwrap());
        let t = sim.net.endpoint(id);
        let ping = subspace_node::Message::Dht(subspace_dht::Message::Ping {
            id: subspace_dht::RequestId(u64::from(i)),
        })
        .encode()
        .unwrap();
        t.send(target, ping).unwrap();
        sybils.push((id, t));
    }
    sim.run_for(Duration::from_secs(2));
    let host = &sim.hosts[&target].0;
    let table = host.dht().routing_table();
    let held = sybils.iter().filter(|(id, _)| table.contains(id)).count();
    let limit = subspace_dht::DhtConfig::default().max_per_group;
    assert!(
        held <= limit,
        "seed {seed}: {held} of one group in the table"
    );
    assert!(host.dht().stats().routing_group_limited > 0, "seed {seed}");
}

#[test]
fn holders_re_announce_so_their_dht_entries_outlive_the_replica_ttl() {
    // Holder entries expire a minute after their announcement here; the hosts re-announce
    // (every 30 s) and a client that never saw the record still finds it three minutes on.
    let seed = 35;
    let mut cfg = config(1);
    cfg.dht.replica_ttl = Duration::from_secs(60);
    let mut sim = Sim::new(seed, 8, cfg);
    sim.run_for(Duration::from_secs(5));
    let ids = sim.ids();
    let rec = sim.record(2000);
    let op = sim.put(ids[0], &rec);
    assert!(matches!(
        sim.wait(ids[0], op, Duration::from_secs(60)),
        Completion::Put(Ok(_))
    ));
    sim.run_for(Duration::from_secs(180));
    let holders = sim.holders(&rec.key());
    assert!(
        holders
            .iter()
            .all(|h| sim.hosts[h].0.stats().republished > 0)
    );
    let client = *ids
        .iter()
        .find(|i| **i != ids[0] && !holders.contains(i))
        .unwrap();
    let op = sim.get(client, rec.key());
    match sim.wait(client, op, Duration::from_secs(60)) {
        Completion::Get(Ok(r)) => assert_eq!(r, rec, "seed {seed}"),
        other => panic!("seed {seed}: holders forgotten: {other:?}"),
    }
}
