//! Deterministic, seeded simulations of whole gossip networks in one process.
//!
//! Every message is encoded, possibly dropped, delayed 5–30 ms and decoded by its receiver, so
//! the wire format and the decoder are on the path. Signatures are real. The nodes share one
//! verified-statement cache ([`Gossip::with_cache`]), as identities run by one operator may:
//! each distinct signature is checked once in the process instead of once per node (a million
//! times for a 1,000-node join), which changes what a node accepts in no way — a test checks
//! that the trace is the same with private caches — and `GOSSIP_SIM_PRIVATE_CACHES=1` gives
//! every node its own, to measure what each node verifies.
//!
//! Time advances in windows shorter than the smallest message delay, so within a window no node
//! can hear from another: the nodes with work in a window run on all cores (a window with only a
//! few runs on one), each in its own event order, and their output is merged in node order.
//! Loss and delay are drawn from each sender's own generator, so the same seed gives the same
//! trace however threads interleave.
//!
//! Environment: `GOSSIP_SIM_N` (nodes of the join/kill/loss run), `GOSSIP_SIM_LOSS_PERIODS`
//! (its periods at 10% loss), `GOSSIP_SIM_PARTITION_N` (nodes of the partition run),
//! `GOSSIP_SIM_UPTIME_SEED` (one seed of the uptime test instead of seeds 1–20),
//! `GOSSIP_SIM_STATS=1` (signatures, bytes and misses per period), `GOSSIP_SIM_DEBUG=1` (views
//! of each victim per period).

// The harness's helpers are test code outside `#[test]` functions, which clippy.toml's
// allowance does not reach.
#![allow(clippy::unwrap_used)]

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::time::{Duration, Instant};

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use rayon::prelude::*;
use subspace_crypto::{ContractId, Keypair, NodeId, hash};
use subspace_gossip::{Body, Config, Event, Gossip, Interval, Status, VerifiedCache};

const PERIOD_MS: u64 = 1000;
const UNIX0: u64 = 1_800_000_000_000;
/// Smallest message delay; also the width of a parallel window.
const MIN_DELAY_MS: u64 = 5;
/// Delays are `MIN_DELAY_MS + [0, DELAY_SPREAD_MS)`.
const DELAY_SPREAD_MS: u64 = 26;
/// Statements the nodes' shared verified-statement cache remembers.
const SHARED_CACHE: usize = 1 << 18;
/// Fewest hosts with work in a window for it to run on all cores.
const PARALLEL_HOSTS: usize = 64;

/// A message in flight, ordered by delivery time, receiver, sender and the sender's count.
struct Flight {
    key: (u64, usize, usize, u64),
    bytes: Vec<u8>,
}

impl PartialEq for Flight {
    fn eq(&self, o: &Self) -> bool {
        self.key == o.key
    }
}
impl Eq for Flight {}
impl PartialOrd for Flight {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Flight {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.key.cmp(&o.key)
    }
}

/// What every node reads (and nobody writes) while a window runs.
struct World<'a> {
    t0: Instant,
    ids: &'a [NodeId],
    alive: &'a [bool],
    index: &'a HashMap<NodeId, usize>,
    group: &'a [u8],
    partitioned: bool,
    loss_per_mille: u32,
}

/// One simulated host: its gossip node and everything the harness keeps per node.
struct Host {
    i: usize,
    g: Gossip,
    /// Loss and delay of this node's outgoing messages.
    link: ChaCha20Rng,
    timer: Option<u64>,
    inbox: Vec<Flight>,
    outbox: Vec<Flight>,
    sent: u64,
    bytes_sent: u64,
    trace: u64,
    /// Failed events about nodes that were alive when the event was seen.
    false_failures: Vec<NodeId>,
    /// The first direct probe this node sent to each dead node: (node, time).
    pings_to_dead: Vec<(usize, u64)>,
}

impl Host {
    /// Drains the node's outputs and re-arms its timer, at `now_ms`.
    fn after(&mut self, w: &World, now_ms: u64) {
        while let Some((to, msg)) = self.g.poll_transmit() {
            let bytes = msg.encode().unwrap();
            self.bytes_sent += bytes.len() as u64;
            self.sent += 1;
            let Some(&j) = w.index.get(&to) else {
                continue;
            };
            if !w.alive[j]
                && matches!(msg.body, Body::Ping(_))
                && !self.pings_to_dead.iter().any(|(d, _)| *d == j)
            {
                self.pings_to_dead.push((j, now_ms));
            }
            let lost = self.link.next_u32() % 1000 < w.loss_per_mille;
            let cut = w.partitioned && w.group[self.i] != w.group[j];
            let delay = MIN_DELAY_MS + self.link.next_u64() % DELAY_SPREAD_MS;
            if !lost && !cut {
                self.outbox.push(Flight {
                    key: (now_ms + delay, j, self.i, self.sent),
                    bytes,
                });
            }
        }
        while let Some(ev) = self.g.poll_event() {
            if let Event::Failed { node } = ev
                && let Some(&j) = w.index.get(&node)
                && w.alive[j]
                && !w.partitioned
            {
                self.false_failures.push(node);
                if std::env::var("GOSSIP_SIM_DEBUG").is_ok() {
                    println!(
                        "t={now_ms}: node {} holds live node {j} failed (its lhm {}, stats {:?})",
                        self.i,
                        self.g.local_health(),
                        self.g.stats()
                    );
                }
            }
            let tag = match ev {
                Event::Joined { .. } => 1u64,
                Event::Left { .. } => 2,
                Event::Failed { .. } => 3,
                Event::Suspected { .. } => 4,
                Event::Refuted { .. } => 5,
                Event::FaultProven { .. } => 6,
                Event::UptimeChanged { .. } => 7,
                _ => 8,
            };
            self.trace = self.trace.rotate_left(7) ^ tag ^ now_ms << 8;
        }
        self.timer = self.g.poll_timeout().map(|t| {
            // Round up: a timer must never fire before the instant asked for.
            let ms = t.saturating_duration_since(w.t0).as_micros().div_ceil(1000) as u64;
            ms.max(now_ms)
        });
    }

    /// Runs this node's deliveries and timers before `end` (exclusive), in time order.
    fn run_window(&mut self, w: &World, end: u64) {
        // Latest first, so the earliest pops off the back.
        self.inbox.sort_unstable_by(|a, b| b.cmp(a));
        loop {
            let msg_t = self.inbox.last().map(|f| f.key.0);
            let timer_t = self.timer.filter(|t| *t < end);
            let take_timer = match (timer_t, msg_t) {
                (Some(t), Some(m)) => t <= m,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            if !w.alive[self.i] {
                self.inbox.clear();
                self.timer = None;
                break;
            }
            if take_timer {
                let t = timer_t.unwrap();
                self.timer = None;
                self.g.handle_timeout(w.t0 + Duration::from_millis(t));
                self.after(w, t);
            } else {
                let f = self.inbox.pop().unwrap();
                let t = f.key.0;
                let h = hash::blake3(&f.bytes);
                let mut b = [0u8; 8];
                b.copy_from_slice(&h.0[..8]);
                self.trace = self.trace.rotate_left(5) ^ u64::from_be_bytes(b) ^ t;
                let from = f.key.2;
                let _ = self
                    .g
                    .handle_bytes(w.t0 + Duration::from_millis(t), w.ids[from], &f.bytes);
                self.after(w, t);
            }
        }
    }
}

struct Sim {
    t0: Instant,
    now_ms: u64,
    hosts: Vec<Host>,
    alive: Vec<bool>,
    ids: Vec<NodeId>,
    index: HashMap<NodeId, usize>,
    queue: BinaryHeap<Reverse<Flight>>,
    rng: ChaCha20Rng,
    loss_per_mille: u32,
    group: Vec<u8>,
    partitioned: bool,
    killed: BTreeSet<usize>,
}

impl Sim {
    /// `n` nodes, not yet joined. Unless `private`, they share one verified-statement cache
    /// (see the module docs).
    fn new(n: usize, seed: u64, config: &Config, private: bool) -> Sim {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let shared = (!private).then(|| VerifiedCache::new(SHARED_CACHE));
        let mut hosts = Vec::with_capacity(n);
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let mut s = [0u8; 32];
            rng.fill_bytes(&mut s);
            let kp = Keypair::from_seed(&s);
            ids.push(kp.node_id());
            let mut g = Gossip::new(config.clone(), kp, rng.next_u64());
            if let Some(c) = &shared {
                g = g.with_cache(c.clone());
            }
            hosts.push(Host {
                i,
                g,
                link: ChaCha20Rng::seed_from_u64(rng.next_u64()),
                timer: None,
                inbox: Vec::new(),
                outbox: Vec::new(),
                sent: 0,
                bytes_sent: 0,
                trace: 0,
                false_failures: Vec::new(),
                pings_to_dead: Vec::new(),
            });
        }
        let index = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        Sim {
            t0: Instant::now(),
            now_ms: 0,
            hosts,
            alive: vec![false; n],
            ids,
            index,
            queue: BinaryHeap::new(),
            rng,
            loss_per_mille: 0,
            group: vec![0; n],
            partitioned: false,
            killed: BTreeSet::new(),
        }
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    fn node(&self, i: usize) -> &Gossip {
        &self.hosts[i].g
    }

    fn bytes_sent(&self) -> u64 {
        self.hosts.iter().map(|h| h.bytes_sent).sum()
    }

    /// Signatures verified, messages sent and bytes sent, summed over all nodes.
    fn totals(&self) -> (u64, u64, u64) {
        self.hosts.iter().fold((0, 0, 0), |(v, m, b), h| {
            (
                v + h.g.stats().signatures_verified,
                m + h.sent,
                b + h.bytes_sent,
            )
        })
    }

    /// Times nodes refuted news about themselves, summed.
    fn refutations(&self) -> u64 {
        self.hosts.iter().map(|h| h.g.stats().refutations).sum()
    }

    fn false_failures(&self) -> usize {
        self.hosts.iter().map(|h| h.false_failures.len()).sum()
    }

    /// The whole run's fingerprint: every node's own trace, in node order.
    fn trace(&self) -> u64 {
        self.hosts
            .iter()
            .fold(0u64, |acc, h| acc.rotate_left(9) ^ h.trace)
    }

    /// Lets node `i` act outside the event loop (join, leave) and collects what it sent.
    fn with_node(&mut self, i: usize, f: impl FnOnce(&mut Gossip, Instant)) {
        let now = self.at(self.now_ms);
        f(&mut self.hosts[i].g, now);
        let w = World {
            t0: self.t0,
            alive: &self.alive,
            index: &self.index,
            group: &self.group,
            partitioned: self.partitioned,
            loss_per_mille: self.loss_per_mille,
            ids: &self.ids,
        };
        self.hosts[i].after(&w, self.now_ms);
        for f in self.hosts[i].outbox.drain(..) {
            self.queue.push(Reverse(f));
        }
    }

    fn join(&mut self, i: usize, seeds: &[usize]) {
        let seeds: Vec<NodeId> = seeds.iter().map(|s| self.ids[*s]).collect();
        let pledge = (1 + (i as u64 % 4)) << 30;
        let unix = UNIX0 + self.now_ms;
        self.alive[i] = true;
        self.with_node(i, |g, now| {
            g.join(now, unix, ContractId::default(), pledge, &seeds)
                .unwrap()
        });
    }

    fn kill(&mut self, i: usize) {
        self.alive[i] = false;
        self.killed.insert(i);
    }

    fn run_until(&mut self, end_ms: u64) {
        loop {
            let next_msg = self.queue.peek().map(|f| f.0.key.0);
            let next_timer = self
                .hosts
                .iter()
                .filter(|h| self.alive[h.i])
                .filter_map(|h| h.timer)
                .min();
            let Some(t) = [next_msg, next_timer].into_iter().flatten().min() else {
                break;
            };
            if t > end_ms {
                break;
            }
            let end = (t + MIN_DELAY_MS).min(end_ms + 1);
            while let Some(f) = self.queue.peek_mut() {
                if f.0.key.0 >= end {
                    break;
                }
                let f = std::collections::binary_heap::PeekMut::pop(f).0;
                self.hosts[f.key.1].inbox.push(f);
            }
            let w = World {
                t0: self.t0,
                alive: &self.alive,
                index: &self.index,
                group: &self.group,
                partitioned: self.partitioned,
                loss_per_mille: self.loss_per_mille,
                ids: &self.ids,
            };
            let busy = |h: &Host| !h.inbox.is_empty() || h.timer.is_some_and(|x| x < end);
            let work = self.hosts.iter().filter(|h| busy(h)).count();
            if work >= PARALLEL_HOSTS {
                self.hosts
                    .par_iter_mut()
                    .with_min_len(PARALLEL_HOSTS / 2)
                    .filter(|h| busy(h))
                    .for_each(|h| h.run_window(&w, end));
            } else {
                // Waking the other threads costs more than a few hosts' work.
                for h in self.hosts.iter_mut().filter(|h| busy(h)) {
                    h.run_window(&w, end);
                }
            }
            for h in &mut self.hosts {
                for f in h.outbox.drain(..) {
                    self.queue.push(Reverse(f));
                }
            }
            self.now_ms = end - 1;
        }
        self.now_ms = self.now_ms.max(end_ms);
    }

    fn live(&self) -> Vec<usize> {
        (0..self.hosts.len()).filter(|i| self.alive[*i]).collect()
    }

    /// Whether every live node holds every live node as live and each node in `dead` as failed.
    fn converged(&self, dead: &[usize]) -> bool {
        let live = self.live();
        live.iter().all(|&i| {
            let g = self.node(i);
            live.iter()
                .all(|&j| g.member(&self.ids[j]).is_some_and(|m| m.status.is_live()))
                && dead.iter().all(|&d| {
                    g.member(&self.ids[d])
                        .is_none_or(|m| m.status == Status::Failed || m.status == Status::Left)
                })
        })
    }

    /// Why `converged(dead)` does not hold: (live-pair misses, dead seen as alive, as suspect).
    fn misses(&self, dead: &[usize]) -> (usize, usize, usize) {
        let live = self.live();
        let (mut a, mut b, mut c) = (0, 0, 0);
        for &i in &live {
            let g = self.node(i);
            a += live
                .iter()
                .filter(|&&j| !g.member(&self.ids[j]).is_some_and(|m| m.status.is_live()))
                .count();
            for &d in dead {
                match g.member(&self.ids[d]).map(|m| m.status) {
                    Some(Status::Alive) => b += 1,
                    Some(Status::Suspect) => c += 1,
                    _ => {}
                }
            }
        }
        (a, b, c)
    }

    /// Runs period by period until `converged(dead)`; returns the number of periods taken.
    fn periods_until_converged(&mut self, dead: &[usize], max_periods: u64) -> Option<u64> {
        for p in 1..=max_periods {
            let end = self.now_ms + PERIOD_MS;
            self.run_until(end);
            if self.converged(dead) {
                return Some(p);
            }
            if std::env::var("GOSSIP_SIM_STATS").is_ok() {
                let v: u64 = self
                    .hosts
                    .iter()
                    .map(|h| h.g.stats().signatures_verified)
                    .sum();
                let lh: u32 = self
                    .hosts
                    .iter()
                    .map(|h| h.g.local_health())
                    .max()
                    .unwrap_or(0);
                println!(
                    "t={} verified {v} bytes {} misses {:?} max lhm {lh}",
                    self.now_ms,
                    self.bytes_sent(),
                    self.misses(dead)
                );
            }
            if std::env::var("GOSSIP_SIM_DEBUG").is_ok() {
                println!("period {p}: misses {:?}", self.misses(dead));
                // The live nodes most often not held live, with how they are held instead.
                let live = self.live();
                let mut worst: Vec<(usize, usize)> = live
                    .iter()
                    .map(|&j| {
                        let missed = live
                            .iter()
                            .filter(|&&i| {
                                !self
                                    .node(i)
                                    .member(&self.ids[j])
                                    .is_some_and(|m| m.status.is_live())
                            })
                            .count();
                        (missed, j)
                    })
                    .filter(|(m, _)| *m > 0)
                    .collect();
                worst.sort_unstable_by(|a, b| b.cmp(a));
                for &(missed, j) in worst.iter().take(5) {
                    let views: BTreeSet<(String, u64)> = live
                        .iter()
                        .filter_map(|&i| self.node(i).member(&self.ids[j]))
                        .map(|m| (format!("{:?}", m.status), m.incarnation))
                        .collect();
                    let g = self.node(j);
                    println!(
                        "  node {j}: missed by {missed}, views {views:?}; itself inc {} lhm {}",
                        g.incarnation(),
                        g.local_health()
                    );
                }
                println!("  {} nodes missed by someone", worst.len());
                for &d in dead {
                    let alive: Vec<(u64, u32)> = self
                        .live()
                        .iter()
                        .filter_map(|&i| {
                            self.node(i)
                                .member(&self.ids[d])
                                .filter(|m| m.status == Status::Alive)
                                .map(|m| (m.incarnation, self.node(i).local_health()))
                        })
                        .collect();
                    if alive.len() > 20 {
                        println!(
                            "  victim {d}: {} alive views, e.g. {:?}",
                            alive.len(),
                            &alive[..3]
                        );
                    }
                }
            }
        }
        None
    }
}

fn sim_config() -> Config {
    Config {
        protocol_period: Duration::from_millis(PERIOD_MS),
        probe_timeout: Duration::from_millis(300),
        contract_interval: Duration::from_secs(3600),
        ..Config::default()
    }
}

/// Periods for every live pool to hold every live node after 1,000 join through 3 seeds.
///
/// A joiner asks each seed for a third of the id space and gets it in deltas of at most
/// `anti_entropy_budget` bytes, asking again while they come full; the pools of the earliest
/// joiners fill by anti-entropy, one exchange per period while exchanges bring news: a push-pull
/// epidemic from the seeds, ~log3(1000/3) ≈ 6 exchanges, plus piggy-backed joins meanwhile.
const JOIN_BOUND: u64 = 20;

/// Periods for every live node to hold each of 5% killed nodes failed, under 10% loss: the
/// protocol's worst case, not a measurement.
///
/// - Every victim is probed within a period (the ring schedule probes each live member once a
///   period) unless its scheduled prober is itself dead or slowed by Lifeguard, which with 5%
///   dead and 10% loss delays a few victims a period or two; that probe's period ends: 5.
/// - Its suspicion times out after `α·log10(n)` periods once k = 3 independent suspicions
///   confirm it (9 at 1,000 nodes; every later suspecter tells the earlier ones directly), and
///   after at most `β` times that without any confirmation (27).
/// - The failure spreads newest-first on ~2 messages a node sends each period, ~log2(n)/2 ≈ 5
///   periods, plus one anti-entropy interval for stragglers (4).
fn detect_bound(n: usize, c: &Config) -> u64 {
    let log_n = (n.max(1) as f64).log10().max(1.0);
    let max_suspicion = f64::from(c.suspicion_alpha * c.suspicion_beta) * log_n;
    5 + max_suspicion.ceil() as u64 + 5 + u64::from(c.anti_entropy_every)
}

struct Report {
    join_periods: u64,
    detect_periods: u64,
    bytes_per_node_per_s: u64,
    /// Periods run at 10% loss with every false failure counted.
    loss_periods: u64,
    false_positives: usize,
    /// Suspicions of live nodes that their subjects refuted during the loss periods.
    refutations: u64,
    /// Per live node and period at 10% loss once detection was over: signatures verified,
    /// messages and bytes sent.
    steady: (f64, f64, u64),
    trace: u64,
}

/// `n` nodes join through 3 seeds; then 10% loss; 5% are killed and detected; the network runs
/// on at 10% loss until `loss_periods` periods have passed since the loss began.
fn thousand_nodes(seed: u64, n: usize, loss_periods: u64, private: bool) -> Report {
    let config = sim_config();
    let mut sim = Sim::new(n, seed, &config, private);
    sim.join(0, &[]);
    sim.join(1, &[0]);
    sim.join(2, &[0]);
    sim.run_until(50);
    // Everyone else joins during the first second, through the three seeds.
    let mut order: Vec<usize> = (3..n).collect();
    let mut t = 50;
    for i in order.drain(..) {
        t += 1000 / n as u64;
        sim.run_until(t);
        sim.join(i, &[0, 1, 2]);
    }
    let w0 = std::time::Instant::now();
    let start = sim.now_ms;
    let bytes0 = sim.bytes_sent();
    let join_periods = sim
        .periods_until_converged(&[], 2 * JOIN_BOUND)
        .unwrap_or_else(|| {
            panic!(
                "seed {seed}: pools did not converge in {} periods",
                2 * JOIN_BOUND
            )
        });
    let join_secs = (sim.now_ms - start).max(1000) / 1000;
    let bytes_per_node_per_s = (sim.bytes_sent() - bytes0) / n as u64 / join_secs;

    eprintln!("joined {:?}", w0.elapsed());
    // 10% message loss from here on; kill 5%.
    sim.loss_per_mille = 100;
    sim.run_until(sim.now_ms + 5 * PERIOD_MS);
    let mut victims = BTreeSet::new();
    while victims.len() < n / 20 {
        victims.insert(3 + (sim.rng.next_u64() as usize % (n - 3)));
    }
    let victims: Vec<usize> = victims.into_iter().collect();
    for &v in &victims {
        sim.kill(v);
    }
    let detect_periods = sim
        .periods_until_converged(&victims, 2 * detect_bound(n, &config))
        .unwrap_or_else(|| {
            panic!(
                "seed {seed}: failures not detected in {} periods",
                2 * detect_bound(n, &config)
            )
        });
    eprintln!("detected {:?}", w0.elapsed());
    let refuted0 = sim.refutations();
    let rest = loss_periods.saturating_sub(5 + detect_periods);
    let stats = std::env::var("GOSSIP_SIM_STATS").is_ok();
    let (v0, m0, b0) = sim.totals();
    let mut done = 0;
    while done < rest {
        let step = (rest - done).min(100);
        let (va, ma, ba) = sim.totals();
        let wall = std::time::Instant::now();
        sim.run_until(sim.now_ms + step * PERIOD_MS);
        done += step;
        if std::env::var("GOSSIP_SIM_DEBUG").is_ok() {
            let mut seen = BTreeSet::new();
            for h in &sim.hosts {
                for id in &h.false_failures {
                    seen.insert(sim.index[id]);
                }
            }
            for j in seen {
                let mut views = std::collections::BTreeMap::new();
                for i in sim.live() {
                    if let Some(m) = sim.node(i).member(&sim.ids[j]) {
                        *views
                            .entry((format!("{:?}", m.status), m.incarnation))
                            .or_insert(0) += 1;
                    }
                }
                println!(
                    "  falsely failed {j}: itself inc {} lhm {} stats {:?}; views {views:?}",
                    sim.node(j).incarnation(),
                    sim.node(j).local_health(),
                    sim.node(j).stats()
                );
            }
        }
        if stats {
            let (vb, mb, bb) = sim.totals();
            let per = ((n - victims.len()) as u64 * step) as f64;
            println!(
                "loss periods to {}: per node-period {:.2} verified, {:.2} messages, {:.0} B; \
                 {:.1} s wall; false failures {}",
                5 + detect_periods + done,
                (vb - va) as f64 / per,
                (mb - ma) as f64 / per,
                (bb - ba) as f64 / per,
                wall.elapsed().as_secs_f64(),
                sim.false_failures()
            );
        }
    }
    let (v1, m1, b1) = sim.totals();
    let per = ((n - victims.len()) as u64 * rest.max(1)) as f64;
    assert!(
        sim.converged(&victims),
        "seed {seed}: pools diverged under loss"
    );
    Report {
        join_periods,
        detect_periods,
        bytes_per_node_per_s,
        loss_periods: 5 + detect_periods + rest,
        false_positives: sim.false_failures(),
        refutations: sim.refutations() - refuted0,
        steady: (
            (v1 - v0) as f64 / per,
            (m1 - m0) as f64 / per,
            ((b1 - b0) as f64 / per) as u64,
        ),
        trace: sim.trace(),
    }
}

#[test]
fn thousand_nodes_join_detect_failures_stay_quiet_under_loss_and_replay_identically() {
    let seed = 7;
    // The 1,000 nodes and 1,000 periods at 10% loss: every node verifies every
    // statement itself, so the join alone costs ~1M signature checks (batched), and each
    // period every node signs and checks its probe and ack. ~5.5 minutes alone on two cores
    // (figures in BENCHMARKS.md). `GOSSIP_SIM_N` and `GOSSIP_SIM_LOSS_PERIODS` override.
    let n = env_usize("GOSSIP_SIM_N", 1000);
    let loss_periods = env_usize("GOSSIP_SIM_LOSS_PERIODS", 1000) as u64;
    let r = thousand_nodes(seed, n, loss_periods, private_caches());
    let live_periods = (n - n / 20) as u64 * r.loss_periods;
    println!(
        "seed {seed}: {n} nodes joined in {} periods, {} B/node/s while joining; 5% killed, all \
         marked failed in {} periods; {} periods at 10% loss: false positives {} (rate {:.1e} \
         per live node-period), {} suspicions of live nodes refuted ({:.1e} per node-period); \
         after detection, per node-period: {:.2} signatures verified, {:.2} messages, {} B sent",
        r.join_periods,
        r.bytes_per_node_per_s,
        r.detect_periods,
        r.loss_periods,
        r.false_positives,
        r.false_positives as f64 / live_periods as f64,
        r.refutations,
        r.refutations as f64 / live_periods as f64,
        r.steady.0,
        r.steady.1,
        r.steady.2
    );
    assert!(
        r.join_periods <= JOIN_BOUND,
        "seed {seed}: join took {} periods",
        r.join_periods
    );
    let bound = detect_bound(n, &sim_config());
    assert!(
        r.detect_periods <= bound,
        "seed {seed}: detection took {} periods (bound {bound})",
        r.detect_periods
    );
    assert_eq!(
        r.false_positives, 0,
        "seed {seed}: live nodes declared failed"
    );
    assert!(r.loss_periods >= loss_periods);
    // Same seed, same trace (a smaller network keeps the second run cheap); and the same
    // trace whether the nodes share their verified-statement cache or each verifies alone.
    let a = thousand_nodes(11, 100, 60, false);
    let b = thousand_nodes(11, 100, 60, true);
    assert_eq!(a.trace, b.trace, "seed 11: two runs diverged");
    assert!(
        a.steady.0 < b.steady.0,
        "the private caches verified no more"
    );
    assert_ne!(a.trace, r.trace);
}

/// Whether `GOSSIP_SIM_PRIVATE_CACHES` asks every node to verify every signature itself.
fn private_caches() -> bool {
    std::env::var("GOSSIP_SIM_PRIVATE_CACHES").is_ok()
}

fn env_usize(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Joins `n` nodes through 3 seeds within the first second and runs until pools converge.
fn joined(n: usize, seed: u64, config: &Config) -> Sim {
    let mut sim = Sim::new(n, seed, config, private_caches());
    sim.join(0, &[]);
    for i in 1..n {
        sim.run_until(sim.now_ms + 1000 / n as u64);
        sim.join(i, &[0, 1.min(i - 1), 2.min(i - 1)]);
    }
    sim.periods_until_converged(&[], 40)
        .unwrap_or_else(|| panic!("seed {seed}: {n} nodes did not converge"));
    sim
}

#[test]
fn partitioned_half_rejoins_through_anti_entropy() {
    let seed = 21;
    let n = env_usize("GOSSIP_SIM_PARTITION_N", 1000);
    let w0 = std::time::Instant::now();
    let mut sim = joined(n, seed, &sim_config());
    eprintln!("joined {:?} at {} ms", w0.elapsed(), sim.now_ms);
    for i in 0..n {
        sim.group[i] = (i % 2) as u8;
    }
    sim.partitioned = true;
    // Long enough for each half to declare most of the other failed (Lifeguard slows a node's
    // probing while half its probes fail, so this takes a while).
    let half_b: Vec<usize> = (0..n).filter(|i| i % 2 == 1).collect();
    let mut declared = 0;
    for _ in 0..120 {
        sim.run_until(sim.now_ms + PERIOD_MS);
        declared = half_b
            .iter()
            .filter(|&&b| {
                sim.node(0)
                    .member(&sim.ids[b])
                    .is_some_and(|m| m.status == Status::Failed)
            })
            .count();
        if declared * 4 >= half_b.len() * 3 {
            break;
        }
    }
    assert!(
        declared * 4 >= half_b.len() * 3,
        "seed {seed}: the partition was never detected ({declared})"
    );
    eprintln!("partitioned {:?} at {} ms", w0.elapsed(), sim.now_ms);
    sim.partitioned = false;
    let p = sim
        .periods_until_converged(&[], 60)
        .unwrap_or_else(|| panic!("seed {seed}: halves did not reconcile in 60 periods"));
    eprintln!("healed {:?}", w0.elapsed());
    println!("seed {seed}: {n} nodes, partitioned halves reconciled {p} periods after healing");
    assert!(p <= 30, "seed {seed}: reconciliation took {p} periods");
}

#[test]
fn uptime_is_credited_identically_by_every_node() {
    // Twenty seeds, so twenty crash phases (under a second each); `GOSSIP_SIM_UPTIME_SEED`
    // runs one.
    let seeds = match std::env::var("GOSSIP_SIM_UPTIME_SEED") {
        Ok(_) => {
            let s = env_usize("GOSSIP_SIM_UPTIME_SEED", 0) as u64;
            s..=s
        }
        Err(_) => 1..=20,
    };
    for seed in seeds {
        uptime_run(seed);
    }
}

fn uptime_run(seed: u64) {
    let n = 40;
    let mut sim = joined(n, seed, &sim_config());
    let (leaver, crasher) = (n - 1, n - 2);
    // Each host goes down 20 periods into a 30-period interval, at a seeded phase of the probe
    // period.
    let phases = hash::blake3(&seed.to_le_bytes()).0;
    let phase = |k: usize| u64::from(u16::from_le_bytes([phases[2 * k], phases[2 * k + 1]]));
    let up = 20 * PERIOD_MS;
    sim.run_until(sim.now_ms + up + phase(0) % PERIOD_MS);
    let t_leave = UNIX0 + sim.now_ms;
    sim.with_node(leaver, |g, now| g.leave(now).unwrap());
    sim.alive[leaver] = false;
    sim.periods_until_converged(&[leaver], 60)
        .unwrap_or_else(|| panic!("seed {seed}: leave not seen"));
    // The crash comes once the leave has settled: views agree again and the nodes that probed
    // the leaver before hearing it left have their local health back (Lifeguard slows a node
    // with bad local health to one probe every few periods, and the member it would have
    // probed goes unprobed meanwhile).
    sim.run_until(sim.now_ms + 3 * PERIOD_MS + phase(1) % PERIOD_MS);
    let t_crash = UNIX0 + sim.now_ms;
    sim.kill(crasher);
    sim.periods_until_converged(&[leaver, crasher], 60)
        .unwrap_or_else(|| panic!("seed {seed}: crash not seen"));
    let intervals = [leaver, crasher].map(|host| {
        let down = if host == leaver { t_leave } else { t_crash };
        Interval::new(down - up, down - up + 30 * PERIOD_MS)
    });
    let last_end = intervals.iter().map(|i| i.end_ms).max().unwrap();
    sim.run_until(last_end - UNIX0 + PERIOD_MS);
    assert_eq!(up * 3, intervals[0].len_ms() * 2);
    // A leave is signed with its time: credited exactly. A crash is seen at the first probe
    // that fails, and the ring schedule has every live member probed once a period, so the
    // clock stops less than a period after the crash (or up to a delivery time before it: a
    // probe whose ack the crash cut off).
    let first_probe = sim
        .hosts
        .iter()
        .flat_map(|h| h.pings_to_dead.iter())
        .filter(|(d, _)| *d == crasher)
        .map(|(_, t)| UNIX0 + t)
        .min()
        .unwrap();
    let lag = first_probe - t_crash;
    for (k, (host, early, late)) in [(leaver, 0, 0), (crasher, PERIOD_MS, PERIOD_MS)]
        .into_iter()
        .enumerate()
    {
        let views: BTreeSet<u64> = sim
            .live()
            .iter()
            .map(|&i| sim.node(i).uptime(&sim.ids[host], intervals[k]).as_millis() as u64)
            .collect();
        println!(
            "seed {seed}: host {host} up {up} ms of {} ms, credited {views:?} (first probe \
             after the crash: {lag} ms)",
            intervals[k].len_ms()
        );
        assert_eq!(
            views.len(),
            1,
            "seed {seed}: nodes disagree on uptime of {host}: {views:?}"
        );
        let credited = *views.iter().next().unwrap();
        assert!(
            credited + early >= up && credited <= up + late,
            "seed {seed}: host {host} credited {credited}"
        );
    }
}
