//! [`Host`]: the node's event loop as a state machine — the put, get and heal workflows wired
//! over the DHT, gossip, PoR, record and store layers.
//!
//! Like the layers it drives, a `Host` performs no IO itself: the driver feeds it transport
//! events ([`Host::handle_event`]) and timer wake-ups ([`Host::handle_timeout`]), sends what
//! [`Host::poll_transmit`] yields, and reads finished client operations from
//! [`Host::poll_completion`]. Time comes from the injected [`Clock`], randomness from a seed.
//! The same code therefore runs under tokio ([`crate::Node`]) and in a single-threaded,
//! seeded simulation over [`crate::MemTransport`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde::{Deserialize, Serialize};
use subspace_crypto::{ContractId, Hash256, Keypair, NodeId, RecordKey, codec};
use subspace_dht::{Announcement, Dht, DhtConfig, HolderKind, QueryId};
use subspace_gossip::Gossip;
use subspace_record::{Receipt, Record};

use crate::cache::RecordCache;
use crate::chain::ChainService;
use crate::clock::Clock;
use crate::ledger::{ContractLedger, LedgerPledges};
use crate::message::{FetchHeader, Message, NodeMessage, PutStep, SignedFetchHeader};
use crate::store::{RecordStore, StoredEntry};
use crate::transport::TransportEvent;
use crate::validators::{
    FaultProof, FetchFaultValidator, ReceiptValidator, build_fault_proof, check_served,
};
use crate::{NodeError, Result};

/// Peers whose reply time a host remembers to rank holders.
const MAX_RTT_PEERS: usize = 4096;
/// Timed-out fetches remembered so that a reply arriving after all can still be judged.
const MAX_LATE_FETCHES: usize = 1024;
/// Most holders' receipts kept per local record (this host's own always among them).
const MAX_HOLDER_RECEIPTS: usize = 32;
/// Most hosts remembered as proven faulty (the oldest forgotten first).
const MAX_FAULTY: usize = 4096;
/// Slices of the stored records re-announced per republish interval.
const REPUBLISH_SLICES: u32 = 32;
/// Most connected peers whose address group is remembered (the transport bounds connections;
/// past this, peers go to the DHT without a group).
const MAX_ADDR_GROUPS: usize = 1 << 16;

/// The DHT address group of a peer connecting from `ip`; none for loopback, where every peer
/// of a local test network shares one address.
fn addr_group(ip: std::net::IpAddr) -> Option<subspace_dht::AddrGroup> {
    (!ip.is_loopback()).then(|| subspace_dht::AddrGroup::from_ip(ip))
}

/// Settings of a [`Host`].
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// Replicas per record (R).
    pub replicas: usize,
    /// Sloth layers per replica piece (a network constant: hosts and clients must agree).
    pub layers: u32,
    /// How long a coordinator waits for a host's receipt before trying another host.
    pub replicate_timeout: Duration,
    /// How long a client waits for a whole put.
    pub put_timeout: Duration,
    /// How long a client waits for a holder's reply (the PoR timeout). It must exceed
    /// [`crate::message::MIN_FETCH_BUDGET_MS`] plus the network's latency, or holders drop
    /// the requests.
    pub fetch_timeout: Duration,
    /// How long a whole get may take.
    pub get_timeout: Duration,
    /// Records kept in the social-replication cache.
    pub cache_entries: usize,
    /// Bytes kept in the social-replication cache.
    pub cache_bytes: usize,
    /// Space this host pledges (announced in its gossip join; weights replica sampling).
    pub pledged_bytes: u64,
    /// Messages queued for the transport before new ones are dropped (and counted).
    pub max_outbox: usize,
    /// Client operations and coordinator jobs running at once.
    pub max_ops: usize,
    /// DHT settings.
    pub dht: DhtConfig,
    /// Gossip settings.
    pub gossip: subspace_gossip::Config,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            replicas: 3,
            layers: subspace_por::DEFAULT_LAYERS,
            replicate_timeout: Duration::from_secs(30),
            put_timeout: Duration::from_secs(120),
            fetch_timeout: Duration::from_secs(5),
            get_timeout: Duration::from_secs(60),
            cache_entries: 1024,
            cache_bytes: 64 << 20,
            pledged_bytes: 1 << 30,
            max_outbox: 65_536,
            max_ops: 4096,
            dht: DhtConfig::default(),
            gossip: subspace_gossip::Config::default(),
        }
    }
}

/// Names a client operation started on a [`Host`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId(pub u64);

/// A finished client operation.
// Completions are few and short-lived; boxing the record would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Completion {
    /// A put: every holder's receipt after the final acknowledgement, or the failing step.
    Put(Result<Vec<Receipt>>),
    /// A get: the valid record (the highest version for a mutable one).
    Get(Result<Record>),
}

/// Counters a host exports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostStats {
    /// Replicas this host encoded and stored.
    pub replicas_stored: u64,
    /// Heal jobs this host started as the deterministic healer.
    pub heals_started: u64,
    /// Heal jobs finished back at R replicas.
    pub heals_done: u64,
    /// Replicas re-announced to the DHT (each with a fresh receipt).
    pub republished: u64,
    /// Faults this host reported through gossip.
    pub faults_reported: u64,
    /// Faults proven through gossip (by anyone) that this host learned of.
    pub faults_seen: u64,
    /// Holder replies that failed validation or PoR.
    pub bad_replies: u64,
    /// Holder replies that timed out.
    pub slow_replies: u64,
    /// Bad replies for which no compact fault proof exists (the holder is only avoided).
    pub unproven_bad_replies: u64,
    /// Messages dropped because the outbox was full.
    pub outbox_dropped: u64,
    /// Operations refused because too many were running.
    pub ops_refused: u64,
    /// Malformed messages received (dropped).
    pub malformed: u64,
}

/// What a host keeps next to each replica: every holder's receipt, for self-healing.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct HolderMeta {
    /// Piece leaves of the padded record ([`crate::pieces::padded_leaves`]): what this host
    /// commits to, piece by piece, when it serves its replica.
    record_leaves: Vec<Hash256>,
    receipts: Vec<Vec<u8>>,
}

impl HolderMeta {
    fn holders(&self) -> BTreeMap<NodeId, Vec<u8>> {
        self.receipts
            .iter()
            .filter_map(|r| Receipt::decode(r).ok().map(|rc| (rc.host_id(), r.clone())))
            .collect()
    }
}

/// Lets a `dyn ContractLedger` stand where the record crate wants a sized validator.
struct LedgerRef<'a>(&'a dyn ContractLedger);

impl subspace_record::ContractValidator for LedgerRef<'_> {
    fn check_contract(
        &self,
        contract: &ContractId,
        owner: &subspace_crypto::PublicKey,
        stored_len: u64,
        now: u64,
    ) -> std::result::Result<(), subspace_record::RecordError> {
        self.0.check_contract(contract, owner, stored_len, now)
    }
}

enum JobKind {
    Put { client: NodeId, req: u64 },
    Heal,
}

struct Job {
    kind: JobKind,
    key: RecordKey,
    record: Vec<u8>,
    contract: ContractId,
    receipts: BTreeMap<NodeId, Receipt>,
    waiting: BTreeMap<u64, (NodeId, Instant)>,
    tried: BTreeSet<NodeId>,
    preferred: Vec<NodeId>,
    announcing: bool,
}

struct ClientPut {
    op: OpId,
    deadline: Instant,
    /// The contract, key and encoded size of a record this host owns (for its usage claim
    /// and contract-state record).
    usage: Option<(ContractId, RecordKey, u64)>,
}

/// Where the owner's contract-state record (see [`crate::contract_state`]) stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Restore {
    /// Not fetched yet: the next try at this instant (`tries` made so far).
    Waiting { at: Instant, tries: u32 },
    /// The fetch of the stored version is under way (`tries` made before it).
    Fetching { tries: u32 },
    /// What the network held is merged in (or there was nothing to find).
    Done,
}

/// A data contract this host owns: its tally and index, and its state record's upkeep.
struct OwnedContract {
    state: crate::contract_state::ContractState,
    /// The state record's keypair.
    record: subspace_record::RecordKeypair,
    restore: Restore,
    /// Changed since the record was last written.
    dirty: bool,
    /// When the record was last written, and whether that write is still in flight.
    last_write: Option<Instant>,
    writing: bool,
}

/// A data contract this host owns, as [`Host::owned_contracts`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedContractStatus {
    /// The contract.
    pub id: ContractId,
    /// Bytes used under it on the network, all replicas counted.
    pub bytes_used: u64,
    /// Record keys in its index.
    pub keys: usize,
    /// The contract-state record stored on SSDB has been read back (or there was none).
    pub restored: bool,
    /// The current tally is stored in the contract-state record.
    pub saved: bool,
}

/// Fetches of a stored contract state before giving up (a first put has nothing to find).
const STATE_FETCH_TRIES: u32 = 3;
/// Pause between state fetch tries, and least time between two writes of one state.
const STATE_PAUSE: Duration = Duration::from_secs(2);

/// What an operation the host started for itself was for.
#[derive(Clone, Copy, Debug)]
enum Internal {
    FetchState(ContractId),
    WriteState(ContractId),
}

struct GetOp {
    key: RecordKey,
    deadline: Instant,
    candidates: VecDeque<NodeId>,
    current: Option<(NodeId, u64, Instant)>,
    best: Option<(Record, Vec<u8>)>,
    replica_answers: usize,
}

enum QueryPurpose {
    Get(OpId),
    Announce(u64),
    MutableHolders(u64),
    Cache,
}

/// The node's state machine: one host (and client) of the storage network.
pub struct Host<S: RecordStore> {
    keypair: Keypair,
    me: NodeId,
    cfg: HostConfig,
    clock: Arc<dyn Clock>,
    store: S,
    dht: Dht<ReceiptValidator>,
    gossip: Gossip,
    ledger: Arc<dyn ContractLedger>,
    rng: ChaCha20Rng,
    outbox: VecDeque<(NodeId, Vec<u8>)>,
    completions: VecDeque<(OpId, Completion)>,
    next_id: u64,
    client_puts: BTreeMap<u64, ClientPut>,
    gets: BTreeMap<OpId, GetOp>,
    fetches: BTreeMap<u64, OpId>,
    queries: BTreeMap<QueryId, QueryPurpose>,
    jobs: BTreeMap<u64, Job>,
    job_of_req: BTreeMap<u64, u64>,
    healing: BTreeSet<RecordKey>,
    /// Hosts with a proven fault: never counted as holders again (bounded by [`MAX_FAULTY`]).
    faulty: BTreeSet<NodeId>,
    /// Address groups of connected peers, passed to the DHT with their messages.
    groups: BTreeMap<NodeId, subspace_dht::AddrGroup>,
    /// When the next slice of replicas is re-announced (set once joined).
    republish_at: Option<Instant>,
    /// The last record key re-announced (the next slice starts after it).
    republish_cursor: Option<RecordKey>,
    rtt: BTreeMap<NodeId, Duration>,
    late_fetches: VecDeque<(u64, NodeId, RecordKey)>,
    cache: RecordCache,
    stats: HostStats,
    chain: Option<ChainService>,
    owned: BTreeMap<ContractId, OwnedContract>,
    internal: BTreeMap<OpId, Internal>,
}

impl<S: RecordStore> std::fmt::Debug for Host<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("id", &self.me)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

mod contracts;
mod dispatch;
mod get;
mod heal;
mod put;

impl<S: RecordStore> Host<S> {
    /// A host with identity `keypair`, shard `store`, contract seam `ledger`, time from `clock`
    /// and every random choice derived from `seed`.
    pub fn new(
        keypair: Keypair,
        store: S,
        ledger: Arc<dyn ContractLedger>,
        clock: Arc<dyn Clock>,
        cfg: HostConfig,
        seed: u64,
    ) -> Host<S> {
        let me = keypair.node_id();
        let dht = Dht::new(cfg.dht.clone(), me, seed ^ 0xD47, ReceiptValidator);
        let gossip = Gossip::new(cfg.gossip.clone(), keypair.clone(), seed ^ 0x6055)
            .with_fault_validator(FetchFaultValidator { layers: cfg.layers })
            .with_pledges(LedgerPledges(ledger.clone()));
        Host {
            keypair,
            me,
            cache: RecordCache::new(cfg.cache_entries, cfg.cache_bytes),
            cfg,
            clock,
            store,
            dht,
            gossip,
            ledger,
            rng: ChaCha20Rng::seed_from_u64(seed),
            outbox: VecDeque::new(),
            completions: VecDeque::new(),
            next_id: 1,
            client_puts: BTreeMap::new(),
            gets: BTreeMap::new(),
            fetches: BTreeMap::new(),
            queries: BTreeMap::new(),
            jobs: BTreeMap::new(),
            job_of_req: BTreeMap::new(),
            healing: BTreeSet::new(),
            faulty: BTreeSet::new(),
            groups: BTreeMap::new(),
            republish_at: None,
            republish_cursor: None,
            rtt: BTreeMap::new(),
            late_fetches: VecDeque::new(),
            stats: HostStats::default(),
            chain: None,
            owned: BTreeMap::new(),
            internal: BTreeMap::new(),
        }
    }

    /// Runs the ledger on the network too: blocks and transactions by broadcast, catch-up,
    /// and farming if the service has plots.
    pub fn with_chain(mut self, chain: ChainService) -> Host<S> {
        self.chain = Some(chain);
        self
    }

    /// Replaces the contract seam (e.g. with a [`crate::ChainLedger`] once the chain runs).
    pub fn set_ledger(&mut self, ledger: Arc<dyn ContractLedger>) {
        self.ledger = ledger;
    }

    /// Attaches (or replaces) the ledger service of a running host.
    pub fn set_chain(&mut self, chain: ChainService) {
        let me = self.keypair.public();
        let mine: Vec<ContractId> = chain
            .chain()
            .state()
            .data_contracts()
            .filter(|(_, c)| c.owner == me)
            .map(|(id, _)| *id)
            .collect();
        self.chain = Some(chain);
        // Contracts this host owns on the chain: resume their tallies from SSDB.
        for c in mine {
            self.track_contract(c);
        }
    }

    /// The ledger service, if this host runs one.
    pub fn chain(&self) -> Option<&ChainService> {
        self.chain.as_ref()
    }

    /// Mutable access to the ledger service (submitting transactions, reclaiming plots).
    pub fn chain_mut(&mut self) -> Option<&mut ChainService> {
        self.chain.as_mut()
    }

    /// Live gossip members other than this host: where chain messages go.
    fn chain_peers(&self) -> Vec<NodeId> {
        let mut peers = self.gossip.live_members();
        peers.retain(|p| *p != self.me);
        peers
    }

    /// Replaces the gossip layer's signature cache (simulations share one across hosts).
    pub fn with_gossip_cache(mut self, cache: subspace_gossip::VerifiedCache) -> Host<S> {
        let gossip = Gossip::new(self.cfg.gossip.clone(), self.keypair.clone(), self.next_id)
            .with_fault_validator(FetchFaultValidator {
                layers: self.cfg.layers,
            })
            .with_pledges(LedgerPledges(self.ledger.clone()))
            .with_cache(cache);
        self.gossip = gossip;
        self
    }

    /// Live members other than this host that replica placement can choose (weight above
    /// zero: a pledge the ledger backs, or any claim on a network without a chain).
    pub fn placeable_members(&self) -> usize {
        self.gossip
            .live_members()
            .iter()
            .filter(|n| **n != self.me && self.gossip.pool().weight(n) > 0)
            .count()
    }

    /// This host's id.
    pub fn id(&self) -> NodeId {
        self.me
    }

    /// This host's public key.
    pub fn public_key(&self) -> subspace_crypto::PublicKey {
        self.keypair.public()
    }

    /// The local shard.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Direct access to the local shard, bypassing the workflows (tooling, fault injection in
    /// tests). Changing replicas here can make this host serve wrong answers and be faulted.
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Counters.
    pub fn stats(&self) -> HostStats {
        self.stats
    }

    /// The gossip layer (membership, uptime, faults).
    pub fn gossip(&self) -> &Gossip {
        &self.gossip
    }

    /// The DHT layer.
    pub fn dht(&self) -> &Dht<ReceiptValidator> {
        &self.dht
    }

    /// Client operations and coordinator jobs still running.
    pub fn running(&self) -> usize {
        self.client_puts.len() + self.gets.len() + self.jobs.len()
    }

    /// Joins the network through `seeds`: gossip join (pledging [`HostConfig::pledged_bytes`]
    /// under `contract`) and a DHT bootstrap.
    pub fn join(&mut self, contract: ContractId, seeds: &[NodeId]) -> Result<()> {
        let now = self.clock.now();
        let unix_ms = self.clock.unix_secs().saturating_mul(1000);
        self.gossip
            .join(now, unix_ms, contract, self.cfg.pledged_bytes, seeds)
            .map_err(|e| NodeError::InvalidRecord(e.to_string()))?;
        let seeds: Vec<NodeId> = seeds.iter().copied().filter(|s| *s != self.me).collect();
        for s in &seeds {
            self.dht.add_peer(now, *s, None);
        }
        if !seeds.is_empty() {
            let _ = self.dht.bootstrap(now, &seeds);
        }
        // What this host kept (a restart) is announced again from the first step on.
        let step = self.cfg.dht.republish_interval() / REPUBLISH_SLICES;
        self.republish_at = Some(now + step.max(Duration::from_secs(1)));
        self.pump(now);
        Ok(())
    }

    /// Leaves gracefully (gossip leave); holders of this host's records start healing.
    pub fn leave(&mut self) -> Result<()> {
        let now = self.clock.now();
        self.gossip
            .leave(now)
            .map_err(|e| NodeError::InvalidRecord(e.to_string()))?;
        self.pump(now);
        Ok(())
    }

    /// Input: something the transport reported.
    pub fn handle_event(&mut self, event: TransportEvent) {
        let now = self.clock.now();
        match event {
            TransportEvent::Message { from, bytes } => match Message::decode(&bytes) {
                Ok(Message::Dht(m)) => {
                    let group = self.groups.get(&from).copied();
                    self.dht.handle_message_with_group(now, from, group, m)
                }
                Ok(Message::Gossip(m)) => {
                    if let Err(e) = self.gossip.handle_message(now, from, m) {
                        tracing::debug!(%from, error = %e, "gossip message rejected");
                    }
                }
                Ok(Message::Node(m)) => self.handle_node(now, from, m),
                Ok(Message::Chain(m)) => {
                    let peers = self.chain_peers();
                    let unix = self.clock.unix_secs();
                    if let Some(chain) = self.chain.as_mut() {
                        chain.handle_message(unix, from, m, &peers, &mut self.rng);
                    }
                }
                Err(e) => {
                    self.stats.malformed += 1;
                    tracing::debug!(%from, error = %e, "malformed message dropped");
                }
            },
            TransportEvent::Connected { peer, addr } => {
                let group = addr.and_then(|a| addr_group(a.ip()));
                match group {
                    Some(g) if self.groups.len() < MAX_ADDR_GROUPS => {
                        self.groups.insert(peer, g);
                    }
                    _ => {
                        self.groups.remove(&peer);
                    }
                }
                self.dht.add_peer(now, peer, group)
            }
            TransportEvent::Disconnected(peer) => {
                self.groups.remove(&peer);
            }
        }
        self.pump(now);
    }

    /// Input: the timer set by [`Host::poll_timeout`] fired (calling it early is harmless).
    pub fn handle_timeout(&mut self) {
        let now = self.clock.now();
        if self.dht.poll_timeout().is_some_and(|t| t <= now) {
            self.dht.handle_timeout(now);
        }
        if self.gossip.poll_timeout().is_some_and(|t| t <= now) {
            self.gossip.handle_timeout(now);
        }
        let unix = self.clock.unix_secs();
        if self
            .chain
            .as_mut()
            .is_some_and(|c| c.poll_timeout(unix) <= unix)
        {
            let peers = self.chain_peers();
            let gossip = &self.gossip;
            let uptime = |host: &subspace_crypto::PublicKey, start: u64, end: u64| {
                let interval = subspace_gossip::Interval::new(
                    start.saturating_mul(1000),
                    end.saturating_mul(1000),
                );
                gossip.uptime(&host.node_id(), interval).as_secs()
            };
            if let Some(chain) = self.chain.as_mut() {
                chain.handle_timeout(unix, &peers, &uptime, &mut self.rng);
            }
        }
        self.upkeep_contract_states(now);
        self.republish(now);
        self.expire(now);
        self.pump(now);
    }

    /// When [`Host::handle_timeout`] should next be called.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let chain = self.chain.as_mut().map(|c| {
            // The chain keeps Unix seconds: wake at the start of its second (or at once).
            let unix_ms = self.clock.unix_ms();
            let due_ms = c.poll_timeout(unix_ms / 1000).saturating_mul(1000);
            self.clock.now() + Duration::from_millis(due_ms.saturating_sub(unix_ms))
        });
        let mut t = [self.dht.poll_timeout(), self.gossip.poll_timeout(), chain]
            .into_iter()
            .flatten()
            .min();
        let mut consider = |d: Instant| t = Some(t.map_or(d, |x| x.min(d)));
        for p in self.client_puts.values() {
            consider(p.deadline);
        }
        for g in self.gets.values() {
            consider(g.deadline);
            if let Some((_, _, d)) = g.current {
                consider(d);
            }
        }
        for j in self.jobs.values() {
            for (_, d) in j.waiting.values() {
                consider(*d);
            }
        }
        if let Some(at) = self.republish_at {
            consider(at);
        }
        let clock_now = self.clock.now();
        // A fetch waits for peers (gossip wakes the host when they come), not for the clock.
        let peers = self.gossip.live_members().len() > 1;
        for o in self.owned.values() {
            match o.restore {
                Restore::Waiting { at, .. } if peers => consider(at),
                Restore::Done if o.dirty && !o.writing => {
                    consider(o.last_write.map_or(clock_now, |w| w + STATE_PAUSE))
                }
                _ => {}
            }
        }
        t
    }

    /// Output: the next message for the transport.
    pub fn poll_transmit(&mut self) -> Option<(NodeId, Vec<u8>)> {
        self.outbox.pop_front()
    }

    /// Output: the next finished client operation.
    pub fn poll_completion(&mut self) -> Option<(OpId, Completion)> {
        while let Some((op, c)) = self.completions.pop_front() {
            match self.internal.remove(&op) {
                Some(what) => self.finish_internal(what, c),
                None => return Some((op, c)),
            }
        }
        None
    }

    fn next_op(&mut self) -> OpId {
        OpId(self.next_req())
    }

    fn next_req(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn send(&mut self, to: NodeId, msg: NodeMessage) {
        self.send_message(to, &Message::Node(msg));
    }

    fn send_message(&mut self, to: NodeId, msg: &Message) {
        if self.outbox.len() >= self.cfg.max_outbox {
            self.stats.outbox_dropped += 1;
            return;
        }
        match msg.encode() {
            Ok(b) => self.outbox.push_back((to, b)),
            Err(e) => tracing::debug!(error = %e, "could not encode an outgoing message"),
        }
    }

    /// Moves the layers' output into the outbox and reacts to their events.
    fn pump(&mut self, now: Instant) {
        loop {
            let mut progressed = false;
            while let Some((to, m)) = self.dht.poll_transmit() {
                progressed = true;
                self.send_message(to, &Message::Dht(m));
            }
            while let Some((to, m)) = self.gossip.poll_transmit() {
                progressed = true;
                self.send_message(to, &Message::Gossip(m));
            }
            while let Some((to, m)) = self.chain.as_mut().and_then(|c| c.poll_transmit()) {
                progressed = true;
                self.send_message(to, &Message::Chain(m));
            }
            while let Some((block, parent)) = self.chain.as_mut().and_then(|c| c.poll_archive()) {
                progressed = true;
                match crate::archive::archive_record(&self.keypair, &block, parent, &mut self.rng) {
                    Ok(record) => {
                        // Stored like any put; its completion is nobody's client operation.
                        let _ = self.start_put(&record);
                    }
                    Err(e) => tracing::debug!(error = %e, "block not archived"),
                }
            }
            while let Some(ev) = self.dht.poll_event() {
                progressed = true;
                self.on_dht_event(now, ev);
            }
            while let Some(ev) = self.gossip.poll_event() {
                progressed = true;
                self.on_gossip_event(now, ev);
            }
            if !progressed {
                break;
            }
        }
    }

    fn expire(&mut self, now: Instant) {
        let late: Vec<u64> = self
            .client_puts
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(r, _)| *r)
            .collect();
        for req in late {
            if let Some(p) = self.client_puts.remove(&req) {
                self.completions.push_back((
                    p.op,
                    Completion::Put(Err(NodeError::PutFailed {
                        step: PutStep::Coordinator,
                        reason: "no final acknowledgement in time".into(),
                    })),
                ));
            }
        }
        let gets: Vec<OpId> = self.gets.keys().copied().collect();
        for op in gets {
            let Some(g) = self.gets.get_mut(&op) else {
                continue;
            };
            if g.deadline <= now {
                self.finish_get(op);
                continue;
            }
            if let Some((_, req, d)) = g.current
                && d <= now
            {
                // Too slow: no replica could be that late if it was stored; try the next.
                let key = g.key;
                let holder = g.current.take().map(|(n, _, _)| n);
                self.fetches.remove(&req);
                self.stats.slow_replies += 1;
                if let Some(h) = holder {
                    self.deprioritise(h);
                    if self.late_fetches.len() >= MAX_LATE_FETCHES {
                        self.late_fetches.pop_front();
                    }
                    self.late_fetches.push_back((req, h, key));
                }
                self.next_holder(now, op);
            }
        }
        let jobs: Vec<u64> = self.jobs.keys().copied().collect();
        for job in jobs {
            let Some(j) = self.jobs.get_mut(&job) else {
                continue;
            };
            let late: Vec<u64> = j
                .waiting
                .iter()
                .filter(|(_, (_, d))| *d <= now)
                .map(|(r, _)| *r)
                .collect();
            if late.is_empty() {
                continue;
            }
            for r in &late {
                j.waiting.remove(r);
                self.job_of_req.remove(r);
            }
            self.dispatch(now, job);
        }
    }
}
