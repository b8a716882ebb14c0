//! Every bound holds against a hostile peer: excess is dropped and counted, never stored.

// Helpers outside #[test] fns unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use subspace_crypto::{NodeId, RecordKey};
use subspace_dht::{
    AddrGroup, Announcement, Dht, DhtConfig, DhtError, Event, HolderKind, Message, RejectReplicas,
    RequestId,
};

fn id(n: u32) -> NodeId {
    let mut b = [0u8; 32];
    b[..4].copy_from_slice(&n.to_be_bytes());
    b[31] = 0x5a;
    NodeId::from_bytes(b)
}

fn node(cfg: DhtConfig) -> Dht<RejectReplicas> {
    Dht::new(cfg, NodeId::from_bytes([0xee; 32]), 7, RejectReplicas)
}

fn drain(d: &mut Dht<RejectReplicas>) -> Vec<(NodeId, Message)> {
    std::iter::from_fn(|| d.poll_transmit()).collect()
}

#[test]
fn requests_per_peer_per_second_are_capped() {
    let mut cfg = DhtConfig::default();
    cfg.max_requests_per_peer_per_sec = 10;
    let mut d = node(cfg);
    let t0 = Instant::now();
    for i in 0..25 {
        d.handle_message(t0, id(1), Message::Ping { id: RequestId(i) });
    }
    d.handle_message(t0, id(2), Message::Ping { id: RequestId(99) });
    let replies = drain(&mut d);
    assert_eq!(replies.iter().filter(|(to, _)| *to == id(1)).count(), 10);
    assert_eq!(replies.iter().filter(|(to, _)| *to == id(2)).count(), 1);
    assert_eq!(d.stats().dropped_rate_limited, 15);
    // The next second the peer is heard again.
    d.handle_message(
        t0 + Duration::from_secs(1),
        id(1),
        Message::Ping { id: RequestId(100) },
    );
    assert_eq!(drain(&mut d).len(), 1);
}

#[test]
fn unsolicited_and_misaddressed_replies_are_dropped() {
    let mut d = node(DhtConfig::default());
    let t0 = Instant::now();
    d.add_peer(t0, id(1), None);
    d.find_node(t0, id(3)).unwrap();
    let sent = drain(&mut d);
    assert_eq!(sent.len(), 1);
    let (to, req) = &sent[0];
    assert_eq!(*to, id(1));
    // A reply nobody asked for, and the right id from the wrong peer.
    d.handle_message(
        t0,
        id(1),
        Message::Pong {
            id: RequestId(req.id().0 ^ 1),
        },
    );
    d.handle_message(
        t0,
        id(2),
        Message::Nodes {
            id: req.id(),
            nodes: vec![id(9)],
        },
    );
    assert_eq!(d.stats().dropped_unsolicited, 2);
    assert!(
        !d.routing_table().contains(&id(2)),
        "a reply does not buy a table slot"
    );
    // Lists over the protocol bound are refused outright.
    d.handle_message(
        t0,
        id(1),
        Message::Nodes {
            id: req.id(),
            nodes: vec![id(9); 33],
        },
    );
    assert_eq!(d.stats().dropped_malformed, 1);
}

#[test]
fn ids_learnt_from_replies_enter_the_table_only_when_they_answer() {
    let mut d = node(DhtConfig::default());
    let t0 = Instant::now();
    d.add_peer(t0, id(1), None);
    let q = d.find_node(t0, id(3)).unwrap();
    let (_, req) = drain(&mut d).remove(0);
    d.handle_message(
        t0,
        id(1),
        Message::Nodes {
            id: req.id(),
            nodes: vec![id(3), id(4)],
        },
    );
    assert!(!d.routing_table().contains(&id(3)));
    // The lookup contacts them; id(3) answers, id(4) stays silent.
    let reqs = drain(&mut d);
    assert_eq!(reqs.len(), 2);
    for (to, m) in reqs {
        if to == id(3) {
            d.handle_message(
                t0,
                to,
                Message::Nodes {
                    id: m.id(),
                    nodes: vec![],
                },
            );
        }
    }
    assert!(d.routing_table().contains(&id(3)));
    assert!(!d.routing_table().contains(&id(4)));
    let later = t0 + d.config().request_timeout;
    d.handle_timeout(later);
    let done = std::iter::from_fn(|| d.poll_event()).find_map(|e| match e {
        Event::NodesFound {
            query,
            closest,
            stats,
            ..
        } if query == q => Some((closest, stats)),
        _ => None,
    });
    let (closest, stats) = done.unwrap();
    assert_eq!(closest, vec![id(3), id(1)]);
    assert_eq!(stats.failures, 1);
    assert_eq!(stats.hops, 2);
}

#[test]
fn holder_store_bounds_hold_under_announce_flood() {
    let mut cfg = DhtConfig::default();
    cfg.max_keys = 10;
    cfg.max_holders_per_key = 4;
    let mut d = node(cfg);
    let t0 = Instant::now();
    let cache = |n: u32| Announcement {
        holder: id(n),
        kind: HolderKind::Cache,
        proof: vec![],
    };
    // 20 peers each cache-announce a different key: only 10 keys fit.
    for n in 0..20u32 {
        let key = RecordKey::from_bytes([n as u8; 32]);
        d.handle_message(
            t0,
            id(n),
            Message::Announce {
                id: RequestId(n as u64),
                key,
                announcements: vec![cache(n)],
            },
        );
    }
    // 10 more peers announce themselves for key 0: only 4 holders fit.
    for n in 100..110u32 {
        d.handle_message(
            t0,
            id(n),
            Message::Announce {
                id: RequestId(n as u64),
                key: RecordKey::from_bytes([0; 32]),
                announcements: vec![cache(n)],
            },
        );
    }
    assert_eq!(d.stored_entries(), 10 + 3);
    assert_eq!(
        d.local_holders(&RecordKey::from_bytes([0; 32]), t0).len(),
        4
    );
    assert_eq!(d.stats().announces_stored, 13);
    assert_eq!(d.stats().announces_dropped, 17);
    // Replicas are refused by this validator; nothing is stored for them.
    d.handle_message(
        t0,
        id(1),
        Message::Announce {
            id: RequestId(500),
            key: RecordKey::from_bytes([1; 32]),
            announcements: vec![Announcement {
                holder: id(1),
                kind: HolderKind::Replica,
                proof: vec![1, 2, 3],
            }],
        },
    );
    assert_eq!(d.stats().announces_rejected, 1);
    let acks: Vec<u16> = drain(&mut d)
        .into_iter()
        .filter_map(|(_, m)| match m {
            Message::AnnounceAck { accepted, .. } => Some(accepted),
            _ => None,
        })
        .collect();
    assert_eq!(acks.len(), 31);
    assert_eq!(acks.iter().map(|&a| a as u32).sum::<u32>(), 13);
}

#[test]
fn one_address_group_cannot_fill_the_table() {
    let mut cfg = DhtConfig::default();
    cfg.max_per_group = 5;
    let mut d = node(cfg);
    let t0 = Instant::now();
    let g = AddrGroup::from_ip("203.0.113.7".parse().unwrap());
    for n in 0..200u32 {
        let peer = NodeId::from_bytes(subspace_crypto::hash::sha256(&n.to_be_bytes()).0);
        d.handle_message_with_group(
            t0,
            peer,
            Some(g),
            Message::Ping {
                id: RequestId(n as u64),
            },
        );
    }
    assert_eq!(d.routing_table().len(), 5);
    assert!(d.stats().routing_group_limited >= 190);
    // Peers without a known address are not limited by groups.
    for n in 0..50u32 {
        let peer = NodeId::from_bytes(subspace_crypto::hash::sha256(&(n + 1000).to_be_bytes()).0);
        d.handle_message(
            t0,
            peer,
            Message::Ping {
                id: RequestId(n as u64),
            },
        );
    }
    assert!(d.routing_table().len() > 30);
}

#[test]
fn queries_and_outstanding_requests_are_bounded() {
    let mut cfg = DhtConfig::default();
    cfg.max_queries = 3;
    let mut d = node(cfg);
    let t0 = Instant::now();
    for n in 0..10 {
        d.add_peer(t0, id(n), None);
    }
    for n in 0..3 {
        d.find_node(t0, id(100 + n)).unwrap();
    }
    assert_eq!(d.find_node(t0, id(200)), Err(DhtError::TooManyQueries));
    assert_eq!(drain(&mut d).len(), 9);
    // Everything times out; the queries finish and free their slots.
    d.handle_timeout(t0 + Duration::from_secs(120));
    let finished = std::iter::from_fn(|| d.poll_event())
        .filter(|e| matches!(e, Event::NodesFound { .. }))
        .count();
    assert_eq!(finished, 3);
    assert_eq!(d.running_queries(), 0);
    assert!(d.find_node(t0 + Duration::from_secs(120), id(200)).is_ok());

    // Outstanding requests: a query that cannot send fails those candidates at once.
    let mut cfg = DhtConfig::default();
    cfg.max_pending_requests = 4;
    let mut d = node(cfg);
    for n in 0..10 {
        d.add_peer(t0, id(n), None);
    }
    d.find_node(t0, id(100)).unwrap();
    d.find_node(t0, id(101)).unwrap();
    assert_eq!(drain(&mut d).len(), 4);
    assert!(d.stats().dropped_pending_full > 0);
}

#[test]
fn announce_rejects_bad_argument_lists() {
    let mut d = node(DhtConfig::default());
    let t0 = Instant::now();
    let key = RecordKey::from_bytes([1; 32]);
    assert!(matches!(
        d.announce(t0, key, vec![]),
        Err(DhtError::BadAnnounce { .. })
    ));
    let big = Announcement {
        holder: id(1),
        kind: HolderKind::Replica,
        proof: vec![0; subspace_dht::MAX_PROOF_LEN + 1],
    };
    assert!(matches!(
        d.announce(t0, key, vec![big]),
        Err(DhtError::ProofTooLong { .. })
    ));
}

#[test]
fn hostile_bytes_get_typed_errors() {
    assert!(matches!(Message::decode(&[]), Err(DhtError::Decode(_))));
    assert!(matches!(
        Message::decode(&[0, 0, 0, 99, 0, 0]),
        Err(DhtError::Decode(_))
    ));
    // A length prefix claiming 2^60 node ids is refused before any allocation.
    let mut b = vec![0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 1];
    b.extend_from_slice(&[0x10, 0, 0, 0, 0, 0, 0, 0]);
    assert!(Message::decode(&b).is_err());
    let too_long = vec![0u8; subspace_dht::MAX_MESSAGE_LEN + 1];
    assert!(matches!(
        Message::decode(&too_long),
        Err(DhtError::Decode(_))
    ));
}
