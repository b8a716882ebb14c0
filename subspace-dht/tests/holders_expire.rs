//! Replica holder entries expire `replica_ttl` after their last announcement: a peer that fills
//! a key's holder slots with proofs it vouched for itself holds them only while it keeps
//! re-announcing, never for good; a holder that re-announces every `republish_interval` stays.

// Helpers outside #[test] fns unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use subspace_crypto::{NodeId, RecordKey};
use subspace_dht::{
    AnnounceValidator, Announcement, Dht, DhtConfig, Holder, HolderKind, MAX_ANNOUNCEMENTS,
    Message, RequestId,
};

const SECOND: Duration = Duration::from_secs(1);

/// Accepts every replica proof, as the node's receipt validator accepts a receipt that its
/// holder signed for itself: the attacker's proofs are as good as anyone's.
#[derive(Debug)]
struct AcceptAll;

impl AnnounceValidator for AcceptAll {
    fn validate_replica(&self, _: &RecordKey, _: &NodeId, _: &NodeId, _: &[u8]) -> bool {
        true
    }
}

/// A driven node: the DHT, plus a request-id counter for the messages peers send it.
struct Node {
    dht: Dht<AcceptAll>,
    next_id: u64,
}

impl Node {
    fn new() -> Node {
        let local = NodeId::from_bytes([0xee; 32]);
        Node {
            dht: Dht::new(DhtConfig::default(), local, 7, AcceptAll),
            next_id: 1,
        }
    }

    fn rid(&mut self) -> RequestId {
        self.next_id += 1;
        RequestId(self.next_id)
    }

    /// Replies to `to` for request `rid` among the queued output (the rest is discarded).
    fn reply(&mut self, to: NodeId, rid: RequestId) -> Message {
        std::iter::from_fn(|| self.dht.poll_transmit())
            .find(|(peer, m)| *peer == to && m.id() == rid && !m.is_request())
            .map(|(_, m)| m)
            .expect("the request was answered")
    }

    /// `from` sends an Announce of `anns` for `key`; returns how many the node accepted.
    fn announce(&mut self, now: Instant, from: NodeId, key: RecordKey, anns: &[NodeId]) -> u16 {
        let id = self.rid();
        let announcements = anns
            .iter()
            .map(|&holder| Announcement {
                holder,
                kind: HolderKind::Replica,
                proof: b"a receipt the holder signed itself".to_vec(),
            })
            .collect();
        self.dht.handle_message(
            now,
            from,
            Message::Announce {
                id,
                key,
                announcements,
            },
        );
        match self.reply(from, id) {
            Message::AnnounceAck { accepted, .. } => accepted,
            other => panic!("unexpected reply {other:?}"),
        }
    }

    /// The holders a remote lookup is told about when it asks this node (`asker` sends
    /// `FindHolders`).
    fn asked(&mut self, now: Instant, asker: NodeId, key: RecordKey) -> Vec<Holder> {
        let id = self.rid();
        self.dht
            .handle_message(now, asker, Message::FindHolders { id, key });
        match self.reply(asker, id) {
            Message::Holders { holders, .. } => holders,
            other => panic!("unexpected reply {other:?}"),
        }
    }

    /// Fires every timer due up to `until`, as a driver loop would (housekeeping purges
    /// expired entries; refresh lookups go unanswered), discarding the output.
    fn run_timers(&mut self, until: Instant) {
        while let Some(t) = self.dht.poll_timeout() {
            if t > until {
                break;
            }
            self.dht.handle_timeout(t);
            while self.dht.poll_transmit().is_some() {}
            while self.dht.poll_event().is_some() {}
        }
    }
}

fn id(tag: u8, n: usize) -> NodeId {
    let mut b = [tag; 32];
    b[..8].copy_from_slice(&(n as u64).to_be_bytes());
    NodeId::from_bytes(b)
}

fn replica(node: NodeId) -> Holder {
    Holder {
        node,
        kind: HolderKind::Replica,
    }
}

#[test]
fn a_flood_of_self_vouched_replicas_expires_and_the_honest_holder_gets_in() {
    let mut n = Node::new();
    let ttl = n.dht.config().replica_ttl;
    let per_key = n.dht.config().max_holders_per_key;
    let t0 = Instant::now();
    let key = RecordKey::from_bytes([7; 32]);
    let attacker = id(0xa0, 0);
    let asker = id(0x50, 0);
    let honest = id(0x11, 0);

    // The attacker fills every holder slot of the key with holders it made up, multi-announced
    // as a coordinator would.
    let fakes: Vec<NodeId> = (1..=per_key).map(|i| id(0xa0, i)).collect();
    let accepted: usize = fakes
        .chunks(MAX_ANNOUNCEMENTS)
        .map(|c| n.announce(t0, attacker, key, c) as usize)
        .sum();
    assert_eq!(accepted, per_key);
    assert_eq!(n.dht.local_holders(&key, t0).len(), per_key);

    // The real holder's announcement finds no room: dropped and counted.
    let t1 = t0 + SECOND;
    assert_eq!(n.announce(t1, honest, key, &[honest]), 0);
    assert_eq!(n.dht.stats().announces_dropped, 1);
    assert!(!n.asked(t1, asker, key).contains(&replica(honest)));

    // It keeps to the contract and tries again a republish interval later: still full.
    let t2 = t0 + n.dht.config().republish_interval();
    n.run_timers(t2);
    assert_eq!(n.announce(t2, honest, key, &[honest]), 0);
    assert_eq!(n.dht.stats().announces_dropped, 2);
    let just_before = t0 + ttl - SECOND;
    n.run_timers(just_before);
    assert_eq!(n.asked(just_before, asker, key).len(), per_key);

    // The attacker never re-announced: at `replica_ttl` its entries are gone, and the honest
    // holder's next announcement is stored and is the only holder anyone is told about.
    let t3 = t0 + ttl;
    n.run_timers(t3);
    assert_eq!(n.announce(t3, honest, key, &[honest]), 1);
    assert_eq!(n.dht.stats().announces_dropped, 2);
    assert_eq!(n.dht.local_holders(&key, t3), vec![replica(honest)]);
    assert_eq!(n.asked(t3, asker, key), vec![replica(honest)]);
    assert_eq!(n.dht.stored_entries(), 1, "no attacker entry is left");
}

#[test]
fn a_replica_re_announced_every_republish_interval_stays_and_a_silent_one_is_purged() {
    let mut n = Node::new();
    let ttl = n.dht.config().replica_ttl;
    let every = n.dht.config().republish_interval();
    assert_eq!(every, ttl / 2);
    let t0 = Instant::now();
    let (kept, dropped) = (
        RecordKey::from_bytes([1; 32]),
        RecordKey::from_bytes([2; 32]),
    );
    let (a, b) = (id(0x0a, 0), id(0x0b, 0));
    assert_eq!(n.announce(t0, a, kept, &[a]), 1);
    assert_eq!(n.announce(t0, b, dropped, &[b]), 1);
    assert_eq!(n.dht.stored_entries(), 2);
    assert_eq!(
        n.dht.local_holders(&dropped, t0 + ttl - SECOND),
        vec![replica(b)]
    );
    assert!(n.dht.local_holders(&dropped, t0 + ttl).is_empty());

    // `a` re-announces on schedule for three lifetimes; `b` never does.
    let tick = n.dht.config().maintenance_interval;
    let end = t0 + 3 * ttl;
    let mut next = t0 + every;
    while next <= end {
        n.run_timers(next);
        assert_eq!(n.announce(next, a, kept, &[a]), 1);
        next += every;
    }
    let last_announce = next - every;
    n.run_timers(end);
    assert_eq!(n.dht.local_holders(&kept, end), vec![replica(a)]);
    assert!(n.dht.local_holders(&dropped, end).is_empty());
    assert_eq!(
        n.dht.stored_entries(),
        1,
        "the timer purged the silent replica"
    );
    // Each refresh was accepted and none added an entry.
    assert_eq!(n.dht.stats().announces_stored, 2 + 6);

    // `a` stops too: it is live up to one lifetime after its last announcement, then gone,
    // and the next housekeeping tick purges it.
    let gone = last_announce + ttl;
    n.run_timers(gone - SECOND);
    assert_eq!(n.dht.local_holders(&kept, gone - SECOND), vec![replica(a)]);
    assert!(n.dht.local_holders(&kept, gone).is_empty());
    n.run_timers(gone + tick);
    assert_eq!(n.dht.stored_entries(), 0);
}
