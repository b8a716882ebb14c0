//! [`MemTransport`]: an in-process network for tests and simulations, with injectable latency,
//! loss and partitions, deterministic under a seed.
//!
//! All endpoints share one [`MemNetwork`]. A sent message is held in flight until its delivery
//! time on the network's [`Clock`]; [`MemNetwork::deliver_due`] (called on every send and
//! receive, and by a simulation driver after it advances a [`crate::ManualClock`]) moves due
//! messages into the receivers' bounded inboxes. Latency and loss are drawn from one seeded
//! ChaCha RNG in the order calls are made, so a single-threaded simulation replays exactly.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use subspace_crypto::NodeId;
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::transport::{Transport, TransportEvent};
use crate::{NodeError, Result};

/// Link behaviour of a [`MemNetwork`].
#[derive(Clone, Copy, Debug)]
pub struct LinkConfig {
    /// Smallest one-way latency.
    pub latency_min: Duration,
    /// Largest one-way latency (drawn uniformly in between, in microseconds).
    pub latency_max: Duration,
    /// Messages lost per million sent.
    pub loss_ppm: u32,
    /// Events each endpoint's inbox holds before it drops (and counts) new ones.
    pub inbox_capacity: usize,
    /// Largest message accepted by `send`.
    pub max_frame: usize,
    /// Messages in flight on the whole network before new ones are dropped (and counted).
    pub max_in_flight: usize,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            latency_min: Duration::ZERO,
            latency_max: Duration::ZERO,
            loss_ppm: 0,
            inbox_capacity: 65_536,
            max_frame: subspace_crypto::codec::MAX_DECODE_LEN,
            max_in_flight: 1 << 20,
        }
    }
}

/// Counters of a [`MemNetwork`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Messages delivered into an inbox.
    pub delivered: u64,
    /// Messages dropped by the loss rate.
    pub lost: u64,
    /// Messages dropped because sender and receiver are in different partitions.
    pub partitioned: u64,
    /// Messages dropped because the receiver's inbox was full.
    pub inbox_overflow: u64,
    /// Messages to a node that is not (or no longer) on the network.
    pub unroutable: u64,
    /// Messages dropped because [`LinkConfig::max_in_flight`] were already in flight.
    pub in_flight_overflow: u64,
}

struct Endpoint {
    inbox: VecDeque<TransportEvent>,
    notify: Arc<Notify>,
    peers: BTreeSet<NodeId>,
}

struct Net {
    clock: Arc<dyn Clock>,
    rng: ChaCha20Rng,
    config: LinkConfig,
    endpoints: BTreeMap<NodeId, Endpoint>,
    in_flight: BTreeMap<(Instant, u64), (NodeId, NodeId, Vec<u8>)>,
    groups: BTreeMap<NodeId, u32>,
    /// Addresses endpoints appear to connect from ([`MemNetwork::set_addr`]).
    addrs: BTreeMap<NodeId, SocketAddr>,
    seq: u64,
    stats: NetStats,
}

impl Net {
    fn reachable(&self, a: &NodeId, b: &NodeId) -> bool {
        self.groups.get(a).copied().unwrap_or(0) == self.groups.get(b).copied().unwrap_or(0)
    }

    fn push(&mut self, to: &NodeId, ev: TransportEvent) -> bool {
        let cap = self.config.inbox_capacity;
        match self.endpoints.get_mut(to) {
            Some(ep) if ep.inbox.len() < cap => {
                ep.inbox.push_back(ev);
                ep.notify.notify_one();
                true
            }
            Some(_) => {
                self.stats.inbox_overflow += 1;
                false
            }
            None => {
                self.stats.unroutable += 1;
                false
            }
        }
    }

    fn deliver_due(&mut self) {
        let now = self.clock.now();
        while let Some(entry) = self.in_flight.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (from, to, bytes) = entry.remove();
            if !self.reachable(&from, &to) {
                self.stats.partitioned += 1;
                continue;
            }
            if !self.endpoints.contains_key(&to) {
                self.stats.unroutable += 1;
                continue;
            }
            let first = self
                .endpoints
                .get_mut(&to)
                .is_some_and(|ep| ep.peers.insert(from));
            if first {
                let addr = self.addrs.get(&from).copied();
                self.push(&to, TransportEvent::Connected { peer: from, addr });
            }
            if self.push(&to, TransportEvent::Message { from, bytes }) {
                self.stats.delivered += 1;
            }
        }
    }

    fn next_due(&self) -> Option<Instant> {
        self.in_flight.keys().next().map(|(t, _)| *t)
    }
}

/// The shared in-process network; clones refer to the same network.
#[derive(Clone)]
pub struct MemNetwork {
    net: Arc<Mutex<Net>>,
}

impl std::fmt::Debug for MemNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemNetwork")
            .field("stats", &self.stats())
            .finish()
    }
}

impl MemNetwork {
    /// A network on `clock`, with latency and loss drawn from a ChaCha RNG seeded by `seed`.
    pub fn new(clock: Arc<dyn Clock>, config: LinkConfig, seed: u64) -> MemNetwork {
        MemNetwork {
            net: Arc::new(Mutex::new(Net {
                clock,
                rng: ChaCha20Rng::seed_from_u64(seed),
                config,
                endpoints: BTreeMap::new(),
                in_flight: BTreeMap::new(),
                groups: BTreeMap::new(),
                addrs: BTreeMap::new(),
                seq: 0,
                stats: NetStats::default(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Net> {
        // A panic while holding the lock leaves plain data behind; keep using it.
        self.net.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes `id`'s connections appear to come from `addr` (none by default).
    pub fn set_addr(&self, id: NodeId, addr: SocketAddr) {
        self.lock().addrs.insert(id, addr);
    }

    /// Joins `id` to the network and returns its endpoint (replacing an earlier one).
    pub fn endpoint(&self, id: NodeId) -> MemTransport {
        let notify = Arc::new(Notify::new());
        self.lock().endpoints.insert(
            id,
            Endpoint {
                inbox: VecDeque::new(),
                notify: notify.clone(),
                peers: BTreeSet::new(),
            },
        );
        MemTransport {
            id,
            net: self.clone(),
            notify,
        }
    }

    /// Removes `id` as if its process died: its inbox is discarded, messages to it are lost,
    /// and every peer it had talked with gets [`TransportEvent::Disconnected`].
    pub fn kill(&self, id: &NodeId) {
        let mut net = self.lock();
        if let Some(ep) = net.endpoints.remove(id) {
            ep.notify.notify_one();
            for p in ep.peers {
                let had = net
                    .endpoints
                    .get_mut(&p)
                    .is_some_and(|e| e.peers.remove(id));
                if had {
                    net.push(&p, TransportEvent::Disconnected(*id));
                }
            }
        }
    }

    /// Splits the network: nodes in different groups cannot reach each other. Nodes not
    /// listed are in group 0 with the first group.
    pub fn partition(&self, groups: &[&[NodeId]]) {
        let mut net = self.lock();
        net.groups.clear();
        for (g, members) in groups.iter().enumerate() {
            for id in *members {
                net.groups.insert(*id, g as u32);
            }
        }
    }

    /// Removes every partition.
    pub fn heal(&self) {
        self.lock().groups.clear();
    }

    /// Moves every message whose delivery time has come into its receiver's inbox.
    pub fn deliver_due(&self) {
        self.lock().deliver_due();
    }

    /// When the next in-flight message becomes due, if any.
    pub fn next_due(&self) -> Option<Instant> {
        self.lock().next_due()
    }

    /// Messages still in flight.
    pub fn in_flight(&self) -> usize {
        self.lock().in_flight.len()
    }

    /// Delivery and drop counters.
    pub fn stats(&self) -> NetStats {
        self.lock().stats
    }
}

/// One node's endpoint on a [`MemNetwork`].
pub struct MemTransport {
    id: NodeId,
    net: MemNetwork,
    notify: Arc<Notify>,
}

impl std::fmt::Debug for MemTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemTransport")
            .field("id", &self.id)
            .finish()
    }
}

impl MemTransport {
    /// The network this endpoint is on.
    pub fn network(&self) -> &MemNetwork {
        &self.net
    }
}

impl Transport for MemTransport {
    fn local_id(&self) -> NodeId {
        self.id
    }

    fn send(&self, to: NodeId, bytes: Vec<u8>) -> Result<()> {
        let mut net = self.net.lock();
        if !net.endpoints.contains_key(&self.id) {
            return Err(NodeError::Closed);
        }
        if bytes.len() > net.config.max_frame {
            return Err(NodeError::FrameTooLarge {
                len: bytes.len() as u64,
                max: net.config.max_frame as u64,
            });
        }
        let cfg = net.config;
        if net.in_flight.len() >= cfg.max_in_flight {
            net.stats.in_flight_overflow += 1;
            return Ok(());
        }
        if cfg.loss_ppm > 0 && net.rng.next_u32() % 1_000_000 < cfg.loss_ppm {
            net.stats.lost += 1;
            return Ok(());
        }
        let span = cfg.latency_max.saturating_sub(cfg.latency_min).as_micros() as u64;
        let jitter = if span == 0 {
            0
        } else {
            net.rng.next_u64() % (span + 1)
        };
        let at = net.clock.now() + cfg.latency_min + Duration::from_micros(jitter);
        let seq = net.seq;
        net.seq += 1;
        net.in_flight.insert((at, seq), (self.id, to, bytes));
        net.deliver_due();
        Ok(())
    }

    fn try_recv(&mut self) -> Option<TransportEvent> {
        let mut net = self.net.lock();
        net.deliver_due();
        net.endpoints.get_mut(&self.id)?.inbox.pop_front()
    }

    async fn recv(&mut self) -> Option<TransportEvent> {
        loop {
            let wait = {
                let mut net = self.net.lock();
                net.deliver_due();
                let now = net.clock.now();
                let next = net.next_due();
                let ep = net.endpoints.get_mut(&self.id)?;
                if let Some(ev) = ep.inbox.pop_front() {
                    return Some(ev);
                }
                // Wake for the next due message; a simulation that drives a manual clock
                // wakes us through `deliver_due` instead.
                next.map_or(Duration::from_millis(50), |t| {
                    t.saturating_duration_since(now)
                        .min(Duration::from_millis(50))
                })
            };
            let _ = tokio::time::timeout(wait, self.notify.notified()).await;
        }
    }
}

impl Drop for MemTransport {
    fn drop(&mut self) {
        // Only leave if the network still holds this endpoint (not a replacement).
        let same = self
            .net
            .lock()
            .endpoints
            .get(&self.id)
            .is_some_and(|ep| Arc::ptr_eq(&ep.notify, &self.notify));
        if same {
            self.net.kill(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;
    use subspace_crypto::Hash256;

    fn id(i: u8) -> NodeId {
        NodeId(Hash256([i; 32]))
    }

    fn msg(from: NodeId, b: &[u8]) -> TransportEvent {
        TransportEvent::Message {
            from,
            bytes: b.to_vec(),
        }
    }

    fn setup(cfg: LinkConfig, seed: u64) -> (ManualClock, MemNetwork) {
        let clock = ManualClock::new(Instant::now(), 0);
        let net = MemNetwork::new(Arc::new(clock.clone()), cfg, seed);
        (clock, net)
    }

    #[test]
    fn messages_wait_for_their_latency_on_the_clock() {
        let cfg = LinkConfig {
            latency_min: Duration::from_millis(10),
            latency_max: Duration::from_millis(10),
            ..LinkConfig::default()
        };
        let (clock, net) = setup(cfg, 1);
        let a = net.endpoint(id(1));
        let mut b = net.endpoint(id(2));
        a.send(id(2), b"hi".to_vec()).unwrap();
        assert_eq!(b.try_recv(), None);
        clock.advance(Duration::from_millis(9));
        assert_eq!(b.try_recv(), None);
        clock.advance(Duration::from_millis(1));
        assert_eq!(
            b.try_recv(),
            Some(TransportEvent::Connected {
                peer: id(1),
                addr: None
            })
        );
        assert_eq!(b.try_recv(), Some(msg(id(1), b"hi")));
    }

    #[test]
    fn partitions_drop_and_heal_restores() {
        let (_, net) = setup(LinkConfig::default(), 1);
        let a = net.endpoint(id(1));
        let mut b = net.endpoint(id(2));
        net.partition(&[&[id(1)], &[id(2)]]);
        a.send(id(2), b"x".to_vec()).unwrap();
        assert_eq!(b.try_recv(), None);
        assert_eq!(net.stats().partitioned, 1);
        net.heal();
        a.send(id(2), b"y".to_vec()).unwrap();
        assert_eq!(
            b.try_recv(),
            Some(TransportEvent::Connected {
                peer: id(1),
                addr: None
            })
        );
        assert_eq!(b.try_recv(), Some(msg(id(1), b"y")));
    }

    #[test]
    fn kill_reports_disconnects_to_peers() {
        let (_, net) = setup(LinkConfig::default(), 1);
        let a = net.endpoint(id(1));
        let mut b = net.endpoint(id(2));
        a.send(id(2), b"x".to_vec()).unwrap();
        b.send(id(1), b"y".to_vec()).unwrap();
        while b.try_recv().is_some() {}
        net.kill(&id(1));
        assert_eq!(b.try_recv(), Some(TransportEvent::Disconnected(id(1))));
        assert!(matches!(a.send(id(2), vec![]), Err(NodeError::Closed)));
    }

    #[test]
    fn loss_and_latency_replay_exactly_under_a_seed() {
        let run = |seed| {
            let cfg = LinkConfig {
                latency_min: Duration::from_millis(1),
                latency_max: Duration::from_millis(50),
                loss_ppm: 200_000,
                ..LinkConfig::default()
            };
            let (clock, net) = setup(cfg, seed);
            let a = net.endpoint(id(1));
            let mut b = net.endpoint(id(2));
            for i in 0..200u32 {
                a.send(id(2), i.to_be_bytes().to_vec()).unwrap();
            }
            let mut got = Vec::new();
            for _ in 0..60 {
                clock.advance(Duration::from_millis(1));
                while let Some(ev) = b.try_recv() {
                    got.push(ev);
                }
            }
            (got, net.stats())
        };
        let (a, sa) = run(7);
        let (b, sb) = run(7);
        let (c, _) = run(8);
        assert_eq!(a, b);
        assert_eq!(sa, sb);
        assert_ne!(a, c);
        // Roughly 20% lost, the rest delivered, reordered by latency.
        assert!(sa.lost > 20 && sa.lost < 70, "lost {}", sa.lost);
        assert_eq!(sa.lost + sa.delivered, 200);
    }

    #[test]
    fn a_full_inbox_drops_and_counts() {
        let cfg = LinkConfig {
            inbox_capacity: 3,
            ..LinkConfig::default()
        };
        let (_, net) = setup(cfg, 1);
        let a = net.endpoint(id(1));
        let _b = net.endpoint(id(2));
        for _ in 0..5 {
            a.send(id(2), vec![1]).unwrap();
        }
        // Connected + 2 messages fit; 3 messages overflow.
        assert_eq!(net.stats().inbox_overflow, 3);
        assert_eq!(net.stats().delivered, 2);
    }

    #[test]
    fn in_flight_messages_are_bounded() {
        let cfg = LinkConfig {
            latency_min: Duration::from_millis(5),
            latency_max: Duration::from_millis(5),
            max_in_flight: 4,
            ..LinkConfig::default()
        };
        let (_, net) = setup(cfg, 1);
        let a = net.endpoint(id(1));
        let _b = net.endpoint(id(2));
        for _ in 0..10 {
            a.send(id(2), vec![1]).unwrap();
        }
        assert_eq!(net.in_flight(), 4);
        assert_eq!(net.stats().in_flight_overflow, 6);
    }

    #[tokio::test]
    async fn recv_wakes_on_delivery() {
        let clock = crate::SystemClock;
        let net = MemNetwork::new(
            Arc::new(clock),
            LinkConfig {
                latency_min: Duration::from_millis(5),
                latency_max: Duration::from_millis(5),
                ..LinkConfig::default()
            },
            3,
        );
        let a = net.endpoint(id(1));
        let mut b = net.endpoint(id(2));
        a.send(id(2), b"z".to_vec()).unwrap();
        assert_eq!(
            b.recv().await,
            Some(TransportEvent::Connected {
                peer: id(1),
                addr: None
            })
        );
        assert_eq!(b.recv().await, Some(msg(id(1), b"z")));
    }
}
