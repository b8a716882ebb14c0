//! A deterministic, single-threaded simulation of many `Host`s over `MemTransport`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use subspace_crypto::{ContractId, Keypair, NodeId, RecordKey};
use subspace_node::{
    Completion, Host, HostConfig, LinkConfig, ManualClock, MemNetwork, MemTransport, MemoryLedger,
    MemoryStore, OpId, RecordStore, StoredEntry, Transport, Usage,
};
use subspace_record::{Record, RecordBuilder};

pub const UNIX_START: u64 = 1_700_000_000;

/// A [`MemoryStore`] that can be made slow: each read then moves the shared simulated clock
/// forward, as a slow disk would make its host answer late.
pub struct SimStore {
    inner: MemoryStore,
    pub slow: Option<(ManualClock, Duration)>,
}

impl RecordStore for SimStore {
    fn put(&mut self, key: RecordKey, entry: StoredEntry) -> subspace_node::Result<()> {
        self.inner.put(key, entry)
    }
    fn get(&self, key: &RecordKey) -> subspace_node::Result<Option<StoredEntry>> {
        if let Some((clock, d)) = &self.slow {
            clock.advance(*d);
        }
        self.inner.get(key)
    }
    fn get_meta(&self, key: &RecordKey) -> subspace_node::Result<Option<Vec<u8>>> {
        self.inner.get_meta(key)
    }
    fn delete(&mut self, key: &RecordKey) -> subspace_node::Result<bool> {
        self.inner.delete(key)
    }
    fn contains(&self, key: &RecordKey) -> subspace_node::Result<bool> {
        self.inner.contains(key)
    }
    fn keys(&self) -> subspace_node::Result<Vec<RecordKey>> {
        self.inner.keys()
    }
    fn usage(&self) -> Usage {
        self.inner.usage()
    }
}

pub struct Sim {
    pub seed: u64,
    pub clock: ManualClock,
    pub net: MemNetwork,
    pub hosts: BTreeMap<NodeId, (Host<SimStore>, MemTransport)>,
    pub keys: BTreeMap<NodeId, Keypair>,
    pub ledger: MemoryLedger,
    pub done: BTreeMap<(NodeId, OpId), Completion>,
    pub owner: Keypair,
    pub contract: ContractId,
    pub rng: ChaCha20Rng,
}

pub fn config(layers: u32) -> HostConfig {
    let mut cfg = HostConfig {
        layers,
        replicate_timeout: Duration::from_secs(5),
        put_timeout: Duration::from_secs(60),
        fetch_timeout: Duration::from_secs(2),
        ..HostConfig::default()
    };
    // Simulated coordinators announce far more often than a real peer would.
    cfg.dht.max_requests_per_peer_per_sec = 1_000_000;
    cfg.dht.k = 8;
    cfg
}

impl Sim {
    pub fn new(seed: u64, n: usize, cfg: HostConfig) -> Sim {
        Sim::with_claims(seed, n, cfg, |_| None)
    }

    /// As [`Sim::new`]; every host's host contract pledges `cfg.pledged_bytes` on the ledger,
    /// and host `i`'s gossip join claims `claim(i)` bytes instead when that is `Some`.
    pub fn with_claims(
        seed: u64,
        n: usize,
        cfg: HostConfig,
        claim: impl Fn(usize) -> Option<u64>,
    ) -> Sim {
        let clock = ManualClock::new(Instant::now(), UNIX_START);
        let link = LinkConfig {
            latency_min: Duration::from_millis(1),
            latency_max: Duration::from_millis(20),
            ..LinkConfig::default()
        };
        let net = MemNetwork::new(Arc::new(clock.clone()), link, seed);
        let ledger = MemoryLedger::new();
        let owner = Keypair::from_seed(&[0xEE; 32]);
        let contract = ContractId::from_bytes([0xC0; 32]);
        ledger.open_contract(contract, owner.public(), 2 << 20);
        let cache = subspace_gossip::VerifiedCache::new(1 << 20);
        let mut hosts = BTreeMap::new();
        let mut ids = Vec::new();
        let mut keys = BTreeMap::new();
        for i in 0..n {
            let mut s = [0u8; 32];
            s[..8].copy_from_slice(&seed.to_be_bytes());
            s[8..16].copy_from_slice(&(i as u64).to_be_bytes());
            let kp = Keypair::from_seed(&s);
            let id = kp.node_id();
            keys.insert(id, kp.clone());
            ledger.open_host_contract(ContractId::from_bytes(id.to_bytes()), id, cfg.pledged_bytes);
            let mut host_cfg = cfg.clone();
            host_cfg.pledged_bytes = claim(i).unwrap_or(cfg.pledged_bytes);
            let host = Host::new(
                kp,
                SimStore {
                    inner: MemoryStore::new(u64::MAX),
                    slow: None,
                },
                Arc::new(ledger.clone()),
                Arc::new(clock.clone()),
                host_cfg,
                seed.wrapping_add(i as u64),
            )
            .with_gossip_cache(cache.clone());
            let t = net.endpoint(id);
            hosts.insert(id, (host, t));
            ids.push(id);
        }
        let mut sim = Sim {
            seed,
            clock,
            net,
            hosts,
            keys,
            ledger,
            done: BTreeMap::new(),
            owner,
            contract,
            rng: ChaCha20Rng::seed_from_u64(seed ^ 0xABCD),
        };
        let seeds = [ids[0], ids[1 % n]];
        for id in &ids {
            let (h, _) = sim.hosts.get_mut(id).unwrap();
            h.join(ContractId::from_bytes(id.to_bytes()), &seeds)
                .unwrap();
        }
        sim
    }

    pub fn ids(&self) -> Vec<NodeId> {
        self.hosts.keys().copied().collect()
    }

    /// Processes everything due now, then jumps the clock to the next event.
    pub fn step(&mut self) {
        loop {
            let mut busy = false;
            let now = subspace_node::Clock::now(&self.clock);
            for (id, (h, t)) in self.hosts.iter_mut() {
                while let Some(ev) = t.try_recv() {
                    busy = true;
                    h.handle_event(ev);
                }
                if h.poll_timeout().is_some_and(|d| d <= now) {
                    busy = true;
                    h.handle_timeout();
                }
                while let Some((to, bytes)) = h.poll_transmit() {
                    busy = true;
                    let _ = t.send(to, bytes);
                }
                while let Some((op, c)) = h.poll_completion() {
                    self.done.insert((*id, op), c);
                }
            }
            if !busy {
                break;
            }
        }
        let now = subspace_node::Clock::now(&self.clock);
        let next = self
            .hosts
            .values_mut()
            .filter_map(|(h, _)| h.poll_timeout())
            .chain(self.net.next_due())
            .min()
            .unwrap_or(now + Duration::from_millis(100));
        let to = next.max(now + Duration::from_millis(1));
        self.clock.advance(to - now);
        self.net.deliver_due();
    }

    pub fn run_for(&mut self, d: Duration) {
        let end = subspace_node::Clock::now(&self.clock) + d;
        while subspace_node::Clock::now(&self.clock) < end {
            self.step();
        }
    }

    /// Runs until `op` on `node` completed (or `limit` of virtual time passed).
    pub fn wait(&mut self, node: NodeId, op: OpId, limit: Duration) -> Completion {
        let end = subspace_node::Clock::now(&self.clock) + limit;
        loop {
            if let Some(c) = self.done.remove(&(node, op)) {
                return c;
            }
            assert!(
                subspace_node::Clock::now(&self.clock) < end,
                "seed {}: operation did not complete in {limit:?}",
                self.seed
            );
            self.step();
        }
    }

    pub fn record(&mut self, len: usize) -> Record {
        let mut data = vec![0u8; len];
        self.rng.fill(&mut data[..]);
        RecordBuilder::new(self.contract, self.owner.public(), UNIX_START)
            .data(data)
            .public()
            .build(&self.owner, &mut self.rng)
            .unwrap()
    }

    pub fn put(&mut self, client: NodeId, record: &Record) -> OpId {
        self.hosts.get_mut(&client).unwrap().0.start_put(record)
    }

    pub fn get(&mut self, client: NodeId, key: RecordKey) -> OpId {
        self.hosts.get_mut(&client).unwrap().0.start_get(key)
    }

    /// Live hosts storing a replica of `key`.
    pub fn holders(&self, key: &RecordKey) -> Vec<NodeId> {
        self.hosts
            .iter()
            .filter(|(_, (h, _))| h.store().contains(key).unwrap())
            .map(|(id, _)| *id)
            .collect()
    }

    /// The version of the mutable record `key` each live holder stores, decoded from its own
    /// replica.
    pub fn stored_seqs(&self, key: &RecordKey, layers: u32) -> BTreeMap<NodeId, Option<u64>> {
        self.hosts
            .iter()
            .filter_map(|(id, (h, _))| {
                let entry = h.store().get(key).unwrap()?;
                let replica = subspace_por::Replica::from_bytes(entry.body).unwrap();
                let bytes = replica
                    .decode(&self.keys[id].public(), key.as_bytes(), layers)
                    .unwrap();
                Some((*id, Record::decode(&bytes).unwrap().seq()))
            })
            .collect()
    }

    pub fn kill(&mut self, id: &NodeId) {
        self.net.kill(id);
        self.hosts.remove(id);
    }
}
