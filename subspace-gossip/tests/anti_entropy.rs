//! The anti-entropy legs between two nodes, driven by hand: fingerprints, the digest of the
//! buckets that differ, the delta and its answer.

// Helpers outside `#[test]` functions, which clippy.toml's allowance does not reach.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use subspace_crypto::{ContractId, Keypair, NodeId};
use subspace_gossip::message::{Digest, Fingerprints};
use subspace_gossip::statement::Join;
use subspace_gossip::{Body, Config, Gossip, Message, Statement};

const UNIX0: u64 = 1_800_000_000_000;

fn join_of(k: &Keypair) -> subspace_gossip::Signed {
    Statement::Join(Join {
        public_key: k.public().to_bytes(),
        contract: ContractId::default(),
        pledged_bytes: 1 << 30,
        incarnation: 1,
        at_ms: UNIX0,
    })
    .sign(k)
    .unwrap()
}

/// Delivers `statements` to `g` as a delta from `from`.
fn tell(g: &mut Gossip, t0: Instant, from: NodeId, statements: Vec<subspace_gossip::Signed>) {
    let msg = Message {
        body: Body::Delta {
            statements,
            want: vec![],
        },
        piggyback: vec![],
    };
    g.handle_message(t0, from, msg).unwrap();
}

fn fingerprints_of(g: &Gossip, bits: u8) -> Message {
    Message {
        body: Body::Fingerprints(Fingerprints {
            bits,
            buckets: g.pool().fingerprints(bits),
        }),
        piggyback: vec![],
    }
}

fn drain(g: &mut Gossip) -> Vec<(NodeId, Message)> {
    std::iter::from_fn(|| g.poll_transmit()).collect()
}

#[test]
fn fingerprints_find_the_one_bucket_that_differs_and_the_legs_close_it() {
    let t0 = Instant::now();
    let ka = Keypair::from_seed(&[1; 32]);
    let kb = Keypair::from_seed(&[2; 32]);
    let mut a = Gossip::new(Config::default(), ka.clone(), 1);
    let mut b = Gossip::new(Config::default(), kb.clone(), 2);
    a.join(t0, UNIX0, ContractId::default(), 1 << 30, &[])
        .unwrap();
    // Both hold 40 others, and (b joining through a) each other; b alone holds `extra` later.
    let others: Vec<Keypair> = (10..50u8).map(|i| Keypair::from_seed(&[i; 32])).collect();
    let shared: Vec<_> = others.iter().map(join_of).collect();
    tell(&mut a, t0, kb.node_id(), shared.clone());
    drain(&mut a);
    b.join(t0, UNIX0, ContractId::default(), 1 << 30, &[ka.node_id()])
        .unwrap();
    tell(&mut b, t0, ka.node_id(), shared);
    // Let the join's exchange run to its end.
    for _ in 0..8 {
        for (_, m) in drain(&mut b) {
            let _ = a.handle_message(t0, kb.node_id(), m);
        }
        for (_, m) in drain(&mut a) {
            let _ = b.handle_message(t0, ka.node_id(), m);
        }
    }
    assert_eq!(a.pool().len(), 42);
    let bits = 3;
    assert_eq!(a.pool().fingerprints(bits), b.pool().fingerprints(bits));

    // Equal pools: fingerprints cost one message and nothing comes back.
    b.handle_message(t0, ka.node_id(), fingerprints_of(&a, bits))
        .unwrap();
    assert!(drain(&mut b).is_empty());

    let extra = Keypair::from_seed(&[99; 32]);
    tell(&mut b, t0, extra.node_id(), vec![join_of(&extra)]);
    drain(&mut b);
    let differ: Vec<usize> = a
        .pool()
        .fingerprints(bits)
        .iter()
        .zip(b.pool().fingerprints(bits))
        .enumerate()
        .filter(|(_, (x, y))| **x != *y)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(differ.len(), 1);

    // b answers a's fingerprints with one digest, of that bucket only.
    b.handle_message(t0, ka.node_id(), fingerprints_of(&a, bits))
        .unwrap();
    let out = drain(&mut b);
    assert_eq!(out.len(), 1);
    let (to, msg) = &out[0];
    assert_eq!(*to, ka.node_id());
    let Body::Digest(Digest { from, to, entries }) = &msg.body else {
        panic!("expected a digest, got {:?}", msg.body);
    };
    let bucket = differ[0] as u8;
    assert_eq!(from.as_bytes()[0] >> (8 - bits), bucket);
    assert_eq!(to.as_bytes()[0] >> (8 - bits), bucket);
    assert!(entries.iter().any(|e| e.node == extra.node_id()));
    assert!(entries.len() < 12, "{} entries", entries.len());

    // a wants `extra`; b sends it; a now agrees with b.
    a.handle_message(t0, kb.node_id(), msg.clone()).unwrap();
    let out = drain(&mut a);
    assert_eq!(out.len(), 1);
    let Body::Delta { want, .. } = &out[0].1.body else {
        panic!("expected a delta");
    };
    assert_eq!(want, &vec![extra.node_id()]);
    b.handle_message(t0, ka.node_id(), out[0].1.clone())
        .unwrap();
    for (_, m) in drain(&mut b) {
        a.handle_message(t0, kb.node_id(), m).unwrap();
    }
    assert!(a.pool().member(&extra.node_id()).is_some());
    assert_eq!(a.pool().fingerprints(bits), b.pool().fingerprints(bits));
}

#[test]
fn ill_formed_fingerprints_are_refused() {
    let t0 = Instant::now();
    let mut a = Gossip::new(Config::default(), Keypair::from_seed(&[1; 32]), 1);
    a.join(t0, UNIX0, ContractId::default(), 1 << 30, &[])
        .unwrap();
    let bad = Message {
        body: Body::Fingerprints(Fingerprints {
            bits: 4,
            buckets: vec![0; 15],
        }),
        piggyback: vec![],
    };
    assert!(
        a.handle_message(t0, NodeId::from_bytes([5; 32]), bad)
            .is_err()
    );
    assert!(a.poll_transmit().is_none());
}
