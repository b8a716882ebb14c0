//! A deterministic discrete-event simulator for `subspace-dht`: one thread, a virtual clock,
//! an event heap, seeded latency, loss and partitions. Every run replays from its seed.

// Test harness code: a failed unwrap here is a failed test.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use subspace_crypto::{Hash256, NodeId, RecordKey, hash};
use subspace_dht::{AnnounceValidator, Dht, DhtConfig, Event, Message, QueryId};

/// Accepts a replica proof iff it is the first 16 bytes of SHA-256(key || holder): a rule a
/// test can satisfy or break on purpose.
#[derive(Clone, Copy, Debug, Default)]
pub struct RuleValidator;

impl AnnounceValidator for RuleValidator {
    fn validate_replica(&self, key: &RecordKey, holder: &NodeId, _: &NodeId, proof: &[u8]) -> bool {
        proof == valid_proof(key, holder)
    }
}

/// The proof [`RuleValidator`] accepts.
pub fn valid_proof(key: &RecordKey, holder: &NodeId) -> Vec<u8> {
    hash::sha256_parts(&[key.as_bytes(), holder.as_bytes()]).0[..16].to_vec()
}

/// Seed for a test: `DHT_SIM_SEED` if set, else the test's default. Printed so a failing run
/// can be replayed.
pub fn seed(default: u64) -> u64 {
    let s = std::env::var("DHT_SIM_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    println!("simulation seed: {s} (replay with DHT_SIM_SEED={s})");
    s
}

/// Network behaviour.
#[derive(Clone, Debug)]
pub struct NetConfig {
    pub min_latency_us: u64,
    pub max_latency_us: u64,
    /// Messages lost per million.
    pub loss_ppm: u32,
    /// Encode and decode every delivered message through the wire codec (slow; for small runs).
    pub check_codec: bool,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            min_latency_us: 10_000,
            max_latency_us: 100_000,
            loss_ppm: 0,
            check_codec: false,
        }
    }
}

/// A heap entry: small, so the heap moves little; messages wait in a slab.
struct Item {
    at: u64,
    seq: u64,
    /// Index into `Sim::slab` for a delivery; `u32::MAX` for a timer.
    slot: u32,
    /// The node whose timer this is (timers only).
    node: u32,
}

impl PartialEq for Item {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Item {}
impl PartialOrd for Item {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Item {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

pub struct SimNode {
    pub dht: Dht<RuleValidator>,
    pub alive: bool,
    timer: Option<u64>,
}

/// The simulated network.
pub struct Sim {
    pub base: Instant,
    pub now_us: u64,
    pub rng: ChaCha20Rng,
    pub nodes: Vec<SimNode>,
    pub ids: Vec<NodeId>,
    index: HashMap<NodeId, u32>,
    heap: BinaryHeap<Reverse<Item>>,
    slab: Vec<Option<(u32, u32, Message)>>,
    free: Vec<u32>,
    seq: u64,
    pub net: NetConfig,
    /// Partition label per node; messages between different labels are dropped.
    pub partition: Option<Vec<u8>>,
    trace: blake3::Hasher,
    pub delivered: u64,
    pub lost: u64,
    /// Query results by (node, query).
    pub results: HashMap<(u32, QueryId), Event>,
    /// Adversarial nodes: they answer every lookup with the liars closest to the target,
    /// report no holders, and claim to store announces they drop.
    pub liars: Vec<bool>,
    liar_ids: Vec<NodeId>,
    k: usize,
}

impl Sim {
    /// `n` nodes with random ids (none started yet).
    pub fn new(n: usize, cfg: &DhtConfig, net: NetConfig, seed: u64) -> Sim {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut nodes = Vec::with_capacity(n);
        let mut ids = Vec::with_capacity(n);
        let mut index = HashMap::with_capacity(n);
        for i in 0..n {
            let mut b = [0u8; 32];
            rng.fill_bytes(&mut b);
            let id = NodeId::from_bytes(b);
            ids.push(id);
            index.insert(id, i as u32);
            nodes.push(SimNode {
                dht: Dht::new(cfg.clone(), id, rng.next_u64(), RuleValidator),
                alive: true,
                timer: None,
            });
        }
        Sim {
            base: Instant::now(),
            now_us: 0,
            rng,
            nodes,
            ids,
            index,
            heap: BinaryHeap::new(),
            slab: Vec::new(),
            free: Vec::new(),
            seq: 0,
            net,
            partition: None,
            trace: blake3::Hasher::new(),
            delivered: 0,
            lost: 0,
            results: HashMap::new(),
            liars: vec![false; n],
            liar_ids: Vec::new(),
            k: cfg.k,
        }
    }

    /// Turns nodes `who` into liars (see [`Sim::liars`]).
    pub fn make_liars(&mut self, who: &[usize]) {
        for &i in who {
            self.liars[i] = true;
        }
        self.liar_ids = (0..self.nodes.len())
            .filter(|&i| self.liars[i])
            .map(|i| self.ids[i])
            .collect();
    }

    /// A liar's answer to `msg`.
    fn lie(&self, msg: &Message) -> Option<Message> {
        let closest_liars = |t: &Hash256| {
            let mut v: Vec<(Hash256, NodeId)> = self
                .liar_ids
                .iter()
                .map(|l| (l.0.distance(t), *l))
                .collect();
            v.sort_unstable();
            v.into_iter().take(self.k).map(|x| x.1).collect::<Vec<_>>()
        };
        Some(match msg {
            Message::Ping { id } => Message::Pong { id: *id },
            Message::FindNode { id, target } => Message::Nodes {
                id: *id,
                nodes: closest_liars(&target.0),
            },
            Message::FindHolders { id, key } => Message::Holders {
                id: *id,
                holders: vec![],
                nodes: closest_liars(&key.0),
            },
            Message::Announce {
                id, announcements, ..
            } => Message::AnnounceAck {
                id: *id,
                accepted: announcements.len() as u16,
            },
            _ => return None,
        })
    }

    pub fn now(&self) -> Instant {
        self.base + Duration::from_micros(self.now_us)
    }

    fn push(&mut self, at: u64, slot: u32, node: u32) {
        self.seq += 1;
        self.heap.push(Reverse(Item {
            at,
            seq: self.seq,
            slot,
            node,
        }));
    }

    fn deliver_later(&mut self, at: u64, from: u32, to: u32, msg: Message) {
        let slot = match self.free.pop() {
            Some(s) => {
                self.slab[s as usize] = Some((from, to, msg));
                s
            }
            None => {
                self.slab.push(Some((from, to, msg)));
                (self.slab.len() - 1) as u32
            }
        };
        self.push(at, slot, to);
    }

    /// Moves node `i`'s output onto the network and re-arms its timer.
    pub fn flush(&mut self, i: usize) {
        while let Some((to, msg)) = self.nodes[i].dht.poll_transmit() {
            let Some(&j) = self.index.get(&to) else {
                continue;
            };
            if self.net.loss_ppm > 0 && (self.rng.next_u32() % 1_000_000) < self.net.loss_ppm {
                self.lost += 1;
                continue;
            }
            if let Some(p) = &self.partition
                && p[i] != p[j as usize]
            {
                self.lost += 1;
                continue;
            }
            let span = self.net.max_latency_us - self.net.min_latency_us + 1;
            let at = self.now_us + self.net.min_latency_us + self.rng.next_u64() % span;
            self.deliver_later(at, i as u32, j, msg);
        }
        while let Some(ev) = self.nodes[i].dht.poll_event() {
            let q = match &ev {
                Event::NodesFound { query, .. }
                | Event::HoldersFound { query, .. }
                | Event::Announced { query, .. }
                | Event::Bootstrapped { query, .. } => *query,
                _ => continue,
            };
            self.results.insert((i as u32, q), ev);
        }
        if let Some(t) = self.nodes[i].dht.poll_timeout() {
            let at = (t.saturating_duration_since(self.base).as_micros() as u64).max(self.now_us);
            // A timer already due no later than `at` will fire and re-arm; only an earlier
            // wake-up needs a new heap entry (handle_timeout called early is harmless).
            if self.nodes[i].timer.is_none_or(|t| at < t) {
                self.nodes[i].timer = Some(at);
                self.push(at, u32::MAX, i as u32);
            }
        }
    }

    /// Processes events up to and including virtual time `until_us`.
    pub fn run_until(&mut self, until_us: u64) {
        while let Some(Reverse(item)) = self.heap.peek() {
            if item.at > until_us {
                break;
            }
            let Some(Reverse(item)) = self.heap.pop() else {
                break;
            };
            self.now_us = item.at;
            if item.slot == u32::MAX {
                let node = item.node as usize;
                let n = &mut self.nodes[node];
                if !n.alive || n.timer != Some(item.at) {
                    continue;
                }
                n.timer = None;
                let now = self.now();
                self.nodes[node].dht.handle_timeout(now);
                self.flush(node);
                continue;
            }
            let Some((from, to, msg)) = self.slab[item.slot as usize].take() else {
                continue;
            };
            self.free.push(item.slot);
            if !self.nodes[to as usize].alive {
                continue;
            }
            self.trace.update(&item.at.to_be_bytes());
            self.trace.update(&from.to_be_bytes());
            self.trace.update(&to.to_be_bytes());
            let msg = if self.net.check_codec {
                let bytes = msg.encode().unwrap();
                let back = Message::decode(&bytes).unwrap();
                assert_eq!(back, msg, "wire round trip changed a message");
                self.trace.update(&bytes);
                back
            } else {
                self.trace.update(&msg.id().0.to_be_bytes());
                msg
            };
            self.delivered += 1;
            if self.liars[to as usize] {
                if let Some(reply) = self.lie(&msg) {
                    let at = self.now_us + self.net.min_latency_us;
                    self.deliver_later(at, to, from, reply);
                }
                continue;
            }
            let now = self.now();
            let sender = self.ids[from as usize];
            self.nodes[to as usize].dht.handle_message(now, sender, msg);
            self.flush(to as usize);
        }
        self.now_us = self.now_us.max(until_us);
    }

    /// Runs until the query `(node, q)` has reported (or `limit_us` of virtual time passed).
    pub fn run_until_result(&mut self, node: u32, q: QueryId, limit_us: u64) -> Option<Event> {
        let end = self.now_us + limit_us;
        while !self.results.contains_key(&(node, q)) && self.now_us < end {
            let step = self.now_us + 100_000;
            self.run_until(step);
        }
        self.results.remove(&(node, q))
    }

    /// Digest of every delivery so far (time, endpoints, message): equal digests mean equal runs.
    pub fn trace_hash(&self) -> Hash256 {
        Hash256(*self.trace.finalize().as_bytes())
    }

    /// Joins node `i` through `seeds` (indices) at the current virtual time.
    pub fn bootstrap(&mut self, i: usize, seeds: &[usize]) -> QueryId {
        let now = self.now();
        let seed_ids: Vec<NodeId> = seeds.iter().map(|&s| self.ids[s]).collect();
        let q = self.nodes[i].dht.bootstrap(now, &seed_ids).unwrap();
        self.flush(i);
        q
    }

    /// Joins nodes one after another, `interval_us` apart, each through `seeds` random nodes
    /// that joined before it; then lets the network settle for `settle_us`.
    pub fn join_all(&mut self, seeds: usize, interval_us: u64, settle_us: u64) {
        let n = self.nodes.len();
        for i in 1..n {
            let mut chosen: Vec<usize> = Vec::new();
            while chosen.len() < seeds.min(i) {
                let s = (self.rng.next_u64() % i as u64) as usize;
                if !chosen.contains(&s) {
                    chosen.push(s);
                }
            }
            self.bootstrap(i, &chosen);
            let t = self.now_us + interval_us;
            self.run_until(t);
        }
        let t = self.now_us + settle_us;
        self.run_until(t);
    }

    /// The `k` live nodes closest to `target` other than `except`, by brute force.
    pub fn true_closest(&self, target: &Hash256, k: usize, except: usize) -> Vec<NodeId> {
        let mut v: Vec<(Hash256, NodeId)> = self
            .ids
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != except && self.nodes[*i].alive)
            .map(|(_, id)| (id.0.distance(target), *id))
            .collect();
        let k = k.min(v.len());
        if k == 0 {
            return Vec::new();
        }
        v.select_nth_unstable(k - 1);
        v.truncate(k);
        v.sort_unstable();
        v.into_iter().map(|x| x.1).collect()
    }

    pub fn index_of(&self, id: &NodeId) -> usize {
        self.index[id] as usize
    }

    /// A uniformly random live node.
    pub fn random_live(&mut self) -> usize {
        loop {
            let i = (self.rng.next_u64() % self.nodes.len() as u64) as usize;
            if self.nodes[i].alive {
                return i;
            }
        }
    }

    pub fn random_id(&mut self) -> [u8; 32] {
        let mut b = [0u8; 32];
        self.rng.fill_bytes(&mut b);
        b
    }
}

/// Percentile `p` (0..=100) of sorted `v`.
pub fn percentile(v: &[u32], p: usize) -> u32 {
    if v.is_empty() {
        return 0;
    }
    v[((v.len() - 1) * p) / 100]
}

/// Prints a histogram of hop counts.
pub fn print_histogram(label: &str, hops: &[u32]) {
    let max = hops.iter().copied().max().unwrap_or(0);
    println!("{label}: hop histogram ({} lookups)", hops.len());
    for h in 0..=max {
        let n = hops.iter().filter(|&&x| x == h).count();
        if n > 0 {
            println!(
                "  {h:>2} hops: {n:>5} {}",
                "#".repeat((n * 60).div_ceil(hops.len()))
            );
        }
    }
}
