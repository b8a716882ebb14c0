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

    /// Creates a data contract owned by this host's key (see
    /// [`ChainService::create_data_contract`]).
    pub fn create_data_contract(
        &mut self,
        terms: &crate::contracts::ContractTerms,
    ) -> Result<ContractId> {
        let peers = self.chain_peers();
        let now = self.clock.now();
        let kp = self.keypair.clone();
        let Some(chain) = self.chain.as_mut() else {
            return Err(NodeError::InvalidRecord("this node runs no ledger".into()));
        };
        let mut terms = terms.clone();
        if terms.state_record == RecordKey::from_bytes([0; 32]) {
            // The next numbered state record none of this owner's contracts names.
            let me = kp.public();
            let used = chain
                .chain()
                .state()
                .data_contracts()
                .filter(|(_, c)| c.owner == me)
                .map(|(_, c)| c.state_record)
                .chain(self.owned.values().map(|o| o.record.key()))
                .collect();
            let i = crate::contract_state::free_state_index(&kp, &used).ok_or_else(|| {
                NodeError::InvalidRecord("no free contract-state record index".into())
            })?;
            terms.state_record = crate::contract_state::indexed_state_keypair(&kp, i).key();
        }
        let id = chain
            .create_data_contract(&kp, &terms, &peers)
            .map_err(|e| NodeError::InvalidRecord(format!("contract refused: {e}")))?;
        self.pump(now);
        Ok(id)
    }

    /// Why a put of this host's own record would exceed its chain contract's reservation
    /// (bytes already stored, all replicas, plus this record's R replicas), if it would.
    fn over_reservation(&self, record: &Record, len: u64) -> Option<String> {
        if *record.owner() != self.keypair.public() {
            return None;
        }
        let contract = record.contract();
        let c = self
            .chain
            .as_ref()?
            .chain()
            .state()
            .data_contract(contract)?
            .clone();
        let used = self.owned.get(contract).map_or(0, |o| o.state.bytes_used);
        let after = used.saturating_add(len.saturating_mul(self.cfg.replicas as u64));
        (u128::from(after) > c.network_bytes()).then(|| {
            format!(
                "beyond the contract's reserved size: {used} of {} bytes used (all replicas), this record needs {}",
                c.network_bytes(),
                after - used
            )
        })
    }

    /// Keeps the tally and key index of data contract `contract`, which this host owns, in
    /// its contract-state record on SSDB: the stored version is fetched first (a restarted
    /// owner resumes its count), then every change is written back (at most every
    /// 2 s). Puts of this host's own records track their contract by themselves.
    pub fn track_contract(&mut self, contract: ContractId) {
        let now = self.clock.now();
        if self.owned.contains_key(&contract) {
            return;
        }
        // A chain contract names its state record; a configured one derives it from its id.
        let named = self
            .chain
            .as_ref()
            .and_then(|c| c.chain().state().data_contract(&contract))
            .and_then(|c| crate::contract_state::find_state_index(&self.keypair, &c.state_record));
        let record = match named {
            Some(i) => crate::contract_state::indexed_state_keypair(&self.keypair, i),
            None => crate::contract_state::state_keypair(&self.keypair, &contract),
        };
        self.owned.insert(
            contract,
            OwnedContract {
                state: crate::contract_state::ContractState::new(contract),
                record,
                restore: Restore::Waiting { at: now, tries: 0 },
                dirty: false,
                last_write: None,
                writing: false,
            },
        );
    }

    /// The data contracts this host owns and tracks.
    pub fn owned_contracts(&self) -> Vec<OwnedContractStatus> {
        self.owned
            .iter()
            .map(|(c, o)| OwnedContractStatus {
                id: *c,
                bytes_used: o.state.bytes_used,
                keys: o.state.keys.len(),
                restored: o.restore == Restore::Done,
                saved: o.restore == Restore::Done
                    && !o.dirty
                    && !o.writing
                    && o.last_write.is_some(),
            })
            .collect()
    }

    /// Adds a put of `bytes` (all replicas) under `key` to this owner's tally for `contract`
    /// and, if the chain holds that contract, claims the new total. The tally counts every
    /// successful put (a new version of a mutable record counts again), so it errs high,
    /// within the reservation that caps it.
    fn count_usage(&mut self, contract: ContractId, key: RecordKey, bytes: u64) {
        self.track_contract(contract);
        let Some(o) = self.owned.get_mut(&contract) else {
            return;
        };
        o.state.record_put(key, bytes);
        o.dirty = true;
        self.claim_tally(contract);
    }

    /// Claims the tally of `contract` if the chain holds that contract.
    fn claim_tally(&mut self, contract: ContractId) {
        let Some(used) = self.owned.get(&contract).map(|o| o.state.bytes_used) else {
            return;
        };
        let known = self
            .chain
            .as_ref()
            .is_some_and(|c| c.chain().state().data_contract(&contract).is_some());
        if !known {
            return;
        }
        if let Err(e) = self.claim_usage(contract, used) {
            tracing::debug!(error = %e, "usage claim not made");
        }
    }

    /// Fetches and writes contract-state records as due (see [`Host::track_contract`]).
    fn upkeep_contract_states(&mut self, now: Instant) {
        let peers = self.gossip.live_members().len() > 1;
        let mut fetch = Vec::new();
        let mut write = Vec::new();
        for (c, o) in &self.owned {
            match o.restore {
                Restore::Waiting { at, .. } if peers && at <= now => fetch.push(*c),
                Restore::Done
                    if o.dirty
                        && !o.writing
                        && o.last_write.is_none_or(|t| now >= t + STATE_PAUSE) =>
                {
                    write.push(*c)
                }
                _ => {}
            }
        }
        for c in fetch {
            let Some(o) = self.owned.get_mut(&c) else {
                continue;
            };
            if let Restore::Waiting { tries, .. } = o.restore {
                o.restore = Restore::Fetching { tries };
                tracing::debug!(contract = %c, tries, "fetching the contract-state record");
            }
            let key = o.record.key();
            let op = self.start_get(key);
            self.internal.insert(op, Internal::FetchState(c));
        }
        for c in write {
            let Some(o) = self.owned.get_mut(&c) else {
                continue;
            };
            let record = crate::contract_state::state_record(
                &self.keypair,
                &o.record,
                &o.state,
                self.clock.unix_ms(),
                self.clock.unix_secs(),
                &mut self.rng,
            );
            match record {
                Ok(r) => {
                    o.dirty = false;
                    o.writing = true;
                    o.last_write = Some(now);
                    let op = self.start_put_as(&r, false);
                    self.internal.insert(op, Internal::WriteState(c));
                }
                Err(e) => {
                    o.dirty = false;
                    tracing::warn!(contract = %c, error = %e, "contract-state record not built");
                }
            }
        }
    }

    /// Handles the outcome of an operation the host started for itself.
    fn finish_internal(&mut self, what: Internal, outcome: Completion) {
        let now = self.clock.now();
        match (what, outcome) {
            (Internal::FetchState(c), Completion::Get(got)) => {
                let Some(o) = self.owned.get_mut(&c) else {
                    return;
                };
                let key = o.record.key();
                let found = got
                    .and_then(|r| crate::contract_state::open_state(&self.keypair, &c, &key, &r));
                match found {
                    Ok(stored) => {
                        o.state.merge_older(&stored);
                        o.restore = Restore::Done;
                        o.dirty = true;
                        tracing::info!(contract = %c, bytes_used = o.state.bytes_used, keys = o.state.keys.len(), "contract state restored");
                        self.claim_tally(c);
                    }
                    Err(e) => {
                        let tries = match o.restore {
                            Restore::Fetching { tries } => tries + 1,
                            _ => 1,
                        };
                        o.restore = if tries >= STATE_FETCH_TRIES {
                            tracing::debug!(contract = %c, error = %e, "no contract-state record found");
                            Restore::Done
                        } else {
                            Restore::Waiting {
                                at: now + STATE_PAUSE,
                                tries,
                            }
                        };
                    }
                }
            }
            (Internal::WriteState(c), Completion::Put(done)) => {
                if let Some(o) = self.owned.get_mut(&c) {
                    o.writing = false;
                    if let Err(e) = done {
                        o.dirty = true;
                        tracing::debug!(contract = %c, error = %e, "contract-state record not stored");
                    }
                }
            }
            _ => {}
        }
    }

    /// Claims (signed with this host's key, the contract's owner) that `contract` holds
    /// `bytes_used` bytes on the network, all replicas counted; block producers read the
    /// network's stored bytes from these claims.
    pub fn claim_usage(&mut self, contract: ContractId, bytes_used: u64) -> Result<()> {
        let peers = self.chain_peers();
        let now = self.clock.now();
        let kp = self.keypair.clone();
        let Some(chain) = self.chain.as_mut() else {
            return Err(NodeError::InvalidRecord("this node runs no ledger".into()));
        };
        let seq = self.clock.unix_ms();
        chain
            .claim_usage(&kp, contract, bytes_used, seq, &peers)
            .map_err(|e| NodeError::InvalidRecord(format!("usage claim refused: {e}")))?;
        self.pump(now);
        Ok(())
    }

    /// Submits a ledger transaction (kept for this node's blocks and broadcast).
    pub fn submit_transaction(
        &mut self,
        tx: subspace_ledger::Transaction,
    ) -> Result<subspace_ledger::TxId> {
        let peers = self.chain_peers();
        let now = self.clock.now();
        let Some(chain) = self.chain.as_mut() else {
            return Err(NodeError::InvalidRecord("this node runs no ledger".into()));
        };
        let id = chain
            .submit_transaction(tx, &peers)
            .map_err(|e| NodeError::InvalidRecord(format!("transaction refused: {e}")))?;
        self.pump(now);
        Ok(id)
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

    /// Starts storing `record` with R replicas; the outcome arrives as [`Completion::Put`].
    pub fn start_put(&mut self, record: &Record) -> OpId {
        self.start_put_as(record, true)
    }

    /// [`Host::start_put`]; `tally` says whether the put of a record this host owns counts in
    /// its contract's tally (its own contract-state record does not).
    fn start_put_as(&mut self, record: &Record, tally: bool) -> OpId {
        let op = self.next_op();
        let now = self.clock.now();
        if self.running() >= self.cfg.max_ops {
            self.stats.ops_refused += 1;
            self.fail_put_op(op, PutStep::Coordinator, "too many operations");
            return op;
        }
        let bytes = match record.encode() {
            Ok(b) => b,
            Err(e) => {
                self.fail_put_op(op, PutStep::Validation, &e.to_string());
                return op;
            }
        };
        if let Some(why) = self.over_reservation(record, bytes.len() as u64) {
            self.fail_put_op(op, PutStep::Contract, &why);
            return op;
        }
        // Random peer sampling picks the coordinator.
        let Some(coordinator) = self.gossip.sample(1, &mut self.rng).first().copied() else {
            self.fail_put_op(op, PutStep::Coordinator, "no live peer to coordinate");
            return op;
        };
        let req = self.next_req();
        self.client_puts.insert(
            req,
            ClientPut {
                op,
                deadline: now + self.cfg.put_timeout,
                usage: (tally && *record.owner() == self.keypair.public())
                    .then(|| (*record.contract(), record.key(), bytes.len() as u64)),
            },
        );
        self.send(coordinator, NodeMessage::Put { req, record: bytes });
        op
    }

    /// Starts fetching `key`; the outcome arrives as [`Completion::Get`].
    pub fn start_get(&mut self, key: RecordKey) -> OpId {
        let op = self.next_op();
        let now = self.clock.now();
        if self.running() >= self.cfg.max_ops {
            self.stats.ops_refused += 1;
            self.completions
                .push_back((op, Completion::Get(Err(NodeError::NotFound(key)))));
            return op;
        }
        self.gets.insert(
            op,
            GetOp {
                key,
                deadline: now + self.cfg.get_timeout,
                candidates: VecDeque::new(),
                current: None,
                best: None,
                replica_answers: 0,
            },
        );
        match self.dht.find_holders(now, key) {
            Ok(q) => {
                self.queries.insert(q, QueryPurpose::Get(op));
            }
            Err(_) => self.finish_get(op),
        }
        self.pump(now);
        op
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

    /// Re-announces this host's replicas to the DHT, each with a freshly signed receipt, so
    /// that its holder entries (which expire after [`subspace_dht::DhtConfig::replica_ttl`])
    /// stay: a slice of the stored records every `republish_interval / REPUBLISH_SLICES`, so
    /// that every record is announced again within one republish interval. The first slice
    /// goes out one step after joining (a restarted host announces what it kept).
    fn republish(&mut self, now: Instant) {
        let step = self.cfg.dht.republish_interval() / REPUBLISH_SLICES;
        let Some(at) = self.republish_at else {
            return;
        };
        if now < at {
            return;
        }
        self.republish_at = Some(now + step.max(Duration::from_secs(1)));
        let Ok(keys) = self.store.keys() else {
            return;
        };
        let per_slice = keys.len().div_ceil(REPUBLISH_SLICES as usize).max(1);
        let start = self
            .republish_cursor
            .map_or(0, |c| keys.partition_point(|k| *k <= c));
        let start = if start >= keys.len() { 0 } else { start };
        let unix = self.clock.unix_secs();
        for key in keys.iter().skip(start).take(per_slice) {
            self.republish_cursor = Some(*key);
            let Some(mine) = self
                .store
                .get_meta(key)
                .ok()
                .flatten()
                .and_then(|m| codec::decode::<HolderMeta>(&m).ok())
                .and_then(|m| m.holders().remove(&self.me))
                .and_then(|r| Receipt::decode(&r).ok())
            else {
                continue;
            };
            let Ok(fresh) = Receipt::new(
                &self.keypair,
                *key,
                *mine.replica_hash(),
                *mine.contract(),
                unix,
            ) else {
                continue;
            };
            let Ok(proof) = fresh.encode() else {
                continue;
            };
            let ann = Announcement {
                holder: self.me,
                kind: HolderKind::Replica,
                proof,
            };
            if self.dht.announce(now, *key, vec![ann]).is_ok() {
                self.stats.republished += 1;
            }
        }
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

    fn on_gossip_event(&mut self, now: Instant, ev: subspace_gossip::Event) {
        use subspace_gossip::Event as G;
        match ev {
            G::Joined { node } | G::Refuted { node, .. } => {
                let group = self.groups.get(&node).copied();
                self.dht.add_peer(now, node, group)
            }
            G::Left { node } | G::Failed { node } => {
                self.dht.remove_peer(&node);
                self.dht.holder_gone(&node);
                self.heal_after(now, node);
            }
            G::FaultProven { node } => {
                self.stats.faults_seen += 1;
                tracing::debug!(%node, "fault proven");
                self.on_fault_proven(now, node);
            }
            _ => {}
        }
    }

    fn on_dht_event(&mut self, now: Instant, ev: subspace_dht::Event) {
        use subspace_dht::Event as D;
        match ev {
            D::HoldersFound { query, holders, .. } => match self.queries.remove(&query) {
                Some(QueryPurpose::Get(op)) => {
                    let mut replicas: Vec<NodeId> = Vec::new();
                    let mut caches: Vec<NodeId> = Vec::new();
                    for h in holders.iter().filter(|h| h.node != self.me) {
                        match h.kind {
                            HolderKind::Replica => replicas.push(h.node),
                            HolderKind::Cache => caches.push(h.node),
                        }
                    }
                    // Prefer the fastest seen; unknown peers after known ones, in id order.
                    // A peer never asked ranks as if it answered at the timeout; one that was
                    // late or wrong ranks last.
                    let (rtt, unknown) = (&self.rtt, self.cfg.fetch_timeout);
                    replicas.sort_by_key(|n| (rtt.get(n).copied().unwrap_or(unknown), *n));
                    caches.sort_by_key(|n| (rtt.get(n).copied().unwrap_or(unknown), *n));
                    let local = self.store.contains(
                        &self
                            .gets
                            .get(&op)
                            .map_or(RecordKey::from_bytes([0; 32]), |g| g.key),
                    );
                    if let Some(g) = self.gets.get_mut(&op) {
                        g.candidates = replicas.into_iter().chain(caches).collect();
                        if local.unwrap_or(false) {
                            g.candidates.push_front(self.me);
                        }
                    }
                    self.next_holder(now, op);
                }
                Some(QueryPurpose::MutableHolders(job)) => {
                    let found: Vec<NodeId> = holders
                        .iter()
                        .filter(|h| h.kind == HolderKind::Replica)
                        .map(|h| h.node)
                        .collect();
                    self.add_old_holders(job, &found);
                    self.dispatch(now, job);
                }
                _ => {}
            },
            D::Announced {
                query, stored_on, ..
            } => {
                if let Some(QueryPurpose::Announce(job)) = self.queries.remove(&query) {
                    if stored_on.is_empty() {
                        self.fail_job(job, PutStep::Announce, "no DHT node stored the announce");
                    } else {
                        self.finish_job(job);
                    }
                }
            }
            _ => {}
        }
    }

    fn handle_node(&mut self, now: Instant, from: NodeId, m: NodeMessage) {
        match m {
            NodeMessage::Put { req, record } => self.on_put(now, from, req, record),
            NodeMessage::PutAccepted { .. } => {}
            NodeMessage::PutDone { req, receipts } => {
                if let Some(p) = self.client_puts.remove(&req) {
                    let parsed: Result<Vec<Receipt>> = receipts
                        .iter()
                        .map(|r| {
                            let rc = Receipt::decode(r)
                                .map_err(|e| NodeError::InvalidRecord(e.to_string()))?;
                            rc.verify()
                                .map_err(|e| NodeError::InvalidRecord(e.to_string()))?;
                            Ok(rc)
                        })
                        .collect();
                    let outcome = parsed.and_then(|rs| {
                        if rs.len() >= self.cfg.replicas {
                            Ok(rs)
                        } else {
                            Err(NodeError::PutFailed {
                                step: PutStep::Replication,
                                reason: format!("{} receipts", rs.len()),
                            })
                        }
                    });
                    if let (Ok(rs), Some((contract, key, len))) = (&outcome, p.usage) {
                        self.count_usage(contract, key, len.saturating_mul(rs.len() as u64));
                    }
                    self.completions.push_back((p.op, Completion::Put(outcome)));
                }
            }
            NodeMessage::PutFailed { req, step, reason } => {
                if let Some(p) = self.client_puts.remove(&req) {
                    self.completions.push_back((
                        p.op,
                        Completion::Put(Err(NodeError::PutFailed { step, reason })),
                    ));
                }
            }
            NodeMessage::Replicate { req, record } => {
                let answer = match self.accept_replica(&record) {
                    Ok(receipt) => match receipt.encode() {
                        Ok(receipt) => NodeMessage::Replicated { req, receipt },
                        Err(_) => NodeMessage::ReplicateRefused {
                            req,
                            step: PutStep::Store,
                        },
                    },
                    Err((step, _)) => NodeMessage::ReplicateRefused { req, step },
                };
                self.send(from, answer);
            }
            NodeMessage::Replicated { req, receipt } => {
                self.on_replicated(now, from, req, &receipt)
            }
            NodeMessage::ReplicateRefused { req, .. } => {
                if let Some(job) = self.job_of_req.remove(&req) {
                    if let Some(j) = self.jobs.get_mut(&job) {
                        j.waiting.remove(&req);
                    }
                    self.dispatch(now, job);
                }
            }
            NodeMessage::Holders { key, receipts } => self.on_holders(key, &receipts),
            NodeMessage::Fetch {
                req,
                key,
                deadline_ms,
            } => self.on_fetch(from, req, key, deadline_ms),
            NodeMessage::FetchReply {
                req,
                header,
                bytes,
                record_leaves,
            } => self.on_fetch_reply(now, from, req, &header, &bytes, &record_leaves),
            NodeMessage::FetchMissing { req } => {
                if let Some(op) = self.fetches.remove(&req) {
                    if let Some(g) = self.gets.get_mut(&op) {
                        g.current = None;
                    }
                    self.next_holder(now, op);
                }
            }
        }
    }

    // ---- put: coordinator and hosts ----

    fn on_put(&mut self, now: Instant, client: NodeId, req: u64, bytes: Vec<u8>) {
        if self.jobs.len() >= self.cfg.max_ops {
            self.stats.ops_refused += 1;
            self.send(
                client,
                NodeMessage::PutFailed {
                    req,
                    step: PutStep::Coordinator,
                    reason: "coordinator busy".into(),
                },
            );
            return;
        }
        let record = match Record::decode(&bytes) {
            Ok(r) => r,
            Err(e) => {
                return self.refuse_put(client, req, PutStep::Validation, &e.to_string());
            }
        };
        let key = match subspace_record::validate(&record) {
            Ok(k) => k,
            Err(e) => return self.refuse_put(client, req, PutStep::Validation, &e.to_string()),
        };
        // Optimistic store, then acknowledge, then the contract check.
        let previous = self.store.get(&key).ok().flatten();
        let receipt = match self.store_replica(key, &record, &bytes) {
            Ok(r) => r,
            Err((step, why)) => return self.refuse_put(client, req, step, &why),
        };
        self.send(client, NodeMessage::PutAccepted { req });
        let unix = self.clock.unix_secs();
        if let Err(e) =
            subspace_record::validate_with_contract(&record, &LedgerRef(&*self.ledger), unix)
        {
            // An invalid request: delete what was stored (restoring an older version).
            match previous {
                Some(p) => {
                    let _ = self.store.put(key, p);
                }
                None => {
                    let _ = self.store.delete(&key);
                }
            }
            return self.refuse_put(client, req, PutStep::Contract, &e.to_string());
        }
        let job = self.next_req();
        let mut receipts = BTreeMap::new();
        receipts.insert(self.me, receipt);
        self.jobs.insert(
            job,
            Job {
                kind: JobKind::Put { client, req },
                key,
                record: bytes,
                contract: *record.contract(),
                receipts,
                waiting: BTreeMap::new(),
                tried: BTreeSet::from([self.me, client]),
                preferred: Vec::new(),
                announcing: false,
            },
        );
        if record.is_mutable() {
            // A newer version goes to every host holding an older one: those this coordinator
            // knows from its own copy's holder set, and those the DHT knows.
            if let Some(meta) = previous
                .as_ref()
                .and_then(|p| codec::decode::<HolderMeta>(&p.meta).ok())
            {
                let old: Vec<NodeId> = meta.holders().into_keys().collect();
                self.add_old_holders(job, &old);
            }
            match self.dht.find_holders(now, key) {
                Ok(q) => {
                    self.queries.insert(q, QueryPurpose::MutableHolders(job));
                }
                Err(_) => self.dispatch(now, job),
            }
        } else {
            self.dispatch(now, job);
        }
    }

    fn refuse_put(&mut self, client: NodeId, req: u64, step: PutStep, why: &str) {
        let mut reason = why.to_string();
        reason.truncate(crate::message::MAX_REASON_LEN);
        self.send(client, NodeMessage::PutFailed { req, step, reason });
    }

    fn fail_put_op(&mut self, op: OpId, step: PutStep, why: &str) {
        self.completions.push_back((
            op,
            Completion::Put(Err(NodeError::PutFailed {
                step,
                reason: why.into(),
            })),
        ));
    }

    /// A host's side of replication: validate, check the contract, encode its own replica,
    /// store it with the receipt, all or nothing.
    fn accept_replica(&mut self, bytes: &[u8]) -> std::result::Result<Receipt, (PutStep, String)> {
        let record = Record::decode(bytes).map_err(|e| (PutStep::Validation, e.to_string()))?;
        let unix = self.clock.unix_secs();
        let key = subspace_record::validate_with_contract(&record, &LedgerRef(&*self.ledger), unix)
            .map_err(|e| match e {
                subspace_record::RecordError::Contract(_) => (PutStep::Contract, e.to_string()),
                _ => (PutStep::Validation, e.to_string()),
            })?;
        self.store_replica(key, &record, bytes)
    }

    fn store_replica(
        &mut self,
        key: RecordKey,
        record: &Record,
        bytes: &[u8],
    ) -> std::result::Result<Receipt, (PutStep, String)> {
        // Mutable records: only a valid newer version replaces the stored one.
        if record.is_mutable()
            && let Some(old) = self.local_record(&key)
        {
            if old.seq() >= record.seq() && old != *record {
                return Err((
                    PutStep::Validation,
                    "not newer than the stored version".into(),
                ));
            }
            if old != *record {
                subspace_record::validate_update(&old, record)
                    .map_err(|e| (PutStep::Validation, e.to_string()))?;
            }
        }
        let pk = self.keypair.public();
        let replica = subspace_por::encode(bytes, &pk, key.as_bytes(), self.cfg.layers)
            .map_err(|e| (PutStep::Store, e.to_string()))?;
        let receipt = Receipt::new(
            &self.keypair,
            key,
            replica.hash(),
            *record.contract(),
            self.clock.unix_secs(),
        )
        .map_err(|e| (PutStep::Store, e.to_string()))?;
        let own = receipt
            .encode()
            .map_err(|e| (PutStep::Store, e.to_string()))?;
        let meta = HolderMeta {
            record_leaves: crate::pieces::padded_leaves(bytes),
            receipts: vec![own],
        };
        let meta = codec::encode(&meta).map_err(|e| (PutStep::Store, e.to_string()))?;
        self.store
            .put(
                key,
                StoredEntry {
                    body: replica.into_bytes(),
                    meta,
                },
            )
            .map_err(|e| (PutStep::Store, e.to_string()))?;
        self.cache.remove(&key);
        self.stats.replicas_stored += 1;
        self.reclaim_plots();
        Ok(receipt)
    }

    /// Hosted data overwrites solution space (the whitepaper's trade-off): once stored bytes
    /// plus the plots' nominal size exceed the pledge, whole plots are deleted, highest index
    /// first, so farming odds drop as the host fills.
    fn reclaim_plots(&mut self) {
        let used = self.store.usage().used;
        let pledge = self.cfg.pledged_bytes;
        let Some(plotted) = self
            .chain
            .as_ref()
            .and_then(|c| c.plots())
            .map(|p| p.pledged_bytes())
        else {
            return;
        };
        let over = used.saturating_add(plotted).saturating_sub(pledge);
        let Some(plots) = self
            .chain
            .as_mut()
            .and_then(|c| c.plots_mut())
            .filter(|_| over > 0)
        else {
            return;
        };
        match plots.reclaim(over) {
            Ok(freed) => tracing::info!(
                freed,
                plots = plots.len(),
                "plots deleted to make room for hosted data"
            ),
            Err(e) => tracing::warn!(error = %e, "could not reclaim plot space"),
        }
    }

    /// The record this host stores under `key`, decoded from its own replica.
    fn local_record(&self, key: &RecordKey) -> Option<Record> {
        self.local_record_bytes(key)
            .and_then(|b| Record::decode(&b).ok())
    }

    fn local_record_bytes(&self, key: &RecordKey) -> Option<Vec<u8>> {
        let entry = self.store.get(key).ok()??;
        let replica = subspace_por::Replica::from_bytes(entry.body).ok()?;
        replica
            .decode(&self.keypair.public(), key.as_bytes(), self.cfg.layers)
            .ok()
    }

    /// Adds live holders of an older version to a mutable put's targets (the client too, if it
    /// holds one), up to what one holder set can carry.
    fn add_old_holders(&mut self, job: u64, holders: &[NodeId]) {
        let me = self.me;
        let live: BTreeSet<NodeId> = self.gossip.live_members().into_iter().collect();
        let Some(j) = self.jobs.get_mut(&job) else {
            return;
        };
        for n in holders {
            if *n == me || !live.contains(n) || j.preferred.contains(n) {
                continue;
            }
            if j.preferred.len() + 1 >= crate::message::MAX_RECEIPTS {
                break;
            }
            j.preferred.push(*n);
            if let JobKind::Put { client, .. } = j.kind
                && client == *n
                && !j.waiting.values().any(|(w, _)| w == n)
            {
                j.tried.remove(n);
            }
        }
    }

    /// Sends `Replicate` to every holder of an older version not yet asked and to enough new
    /// hosts to reach R (counting those still answering); announces once R receipts are in
    /// (for a mutable update, once every older holder has answered or timed out too, so none
    /// is left serving a stale version).
    fn dispatch(&mut self, now: Instant, job: u64) {
        let r = self.cfg.replicas;
        let Some(j) = self.jobs.get(&job) else {
            return;
        };
        if j.announcing {
            return;
        }
        let have = j.receipts.len();
        let mut targets: Vec<NodeId> = j
            .preferred
            .iter()
            .filter(|n| !j.tried.contains(n))
            .copied()
            .collect();
        if have >= r && targets.is_empty() {
            if j.preferred.is_empty() || j.waiting.is_empty() {
                return self.announce_job(now, job);
            }
            return;
        }
        let need = r.saturating_sub(have + j.waiting.len() + targets.len());
        if need > 0 {
            // Weighted sampling (by pledged space) among live members not yet asked.
            let want = targets.len() + need;
            let pool = self
                .gossip
                .sample_weighted(need + j.tried.len() + targets.len(), &mut self.rng);
            for n in pool {
                if targets.len() >= want {
                    break;
                }
                if !j.tried.contains(&n) && !targets.contains(&n) && !self.faulty.contains(&n) {
                    targets.push(n);
                }
            }
        }
        if targets.is_empty() && j.waiting.is_empty() {
            return self.fail_job(job, PutStep::Replication, "no more hosts to replicate to");
        }
        let record = j.record.clone();
        let deadline = now + self.cfg.replicate_timeout;
        for t in targets {
            let req = self.next_req();
            if let Some(j) = self.jobs.get_mut(&job) {
                j.tried.insert(t);
                j.waiting.insert(req, (t, deadline));
            }
            self.job_of_req.insert(req, job);
            self.send(
                t,
                NodeMessage::Replicate {
                    req,
                    record: record.clone(),
                },
            );
        }
    }

    fn on_replicated(&mut self, now: Instant, from: NodeId, req: u64, receipt: &[u8]) {
        let Some(job) = self.job_of_req.remove(&req) else {
            return;
        };
        let Some(j) = self.jobs.get_mut(&job) else {
            return;
        };
        if j.waiting.remove(&req).map(|(n, _)| n) != Some(from) {
            return;
        }
        let ok = Receipt::decode(receipt).ok().filter(|rc| {
            rc.verify().is_ok()
                && rc.host_id() == from
                && *rc.record() == j.key
                && *rc.contract() == j.contract
        });
        if let Some(rc) = ok {
            j.receipts.insert(from, rc);
        }
        self.dispatch(now, job);
    }

    fn announce_job(&mut self, now: Instant, job: u64) {
        let Some(j) = self.jobs.get_mut(&job) else {
            return;
        };
        j.announcing = true;
        let anns: Vec<Announcement> = j
            .receipts
            .iter()
            .filter_map(|(n, rc)| {
                rc.encode().ok().map(|proof| Announcement {
                    holder: *n,
                    kind: HolderKind::Replica,
                    proof,
                })
            })
            .collect();
        let key = j.key;
        match self.dht.announce(now, key, anns) {
            Ok(q) => {
                self.queries.insert(q, QueryPurpose::Announce(job));
            }
            Err(e) => self.fail_job(job, PutStep::Announce, &e.to_string()),
        }
    }

    fn finish_job(&mut self, job: u64) {
        let Some(j) = self.jobs.remove(&job) else {
            return;
        };
        for req in j.waiting.keys() {
            self.job_of_req.remove(req);
        }
        let receipts: Vec<Receipt> = j.receipts.values().copied().collect();
        self.ledger.record_receipts(j.key, &receipts);
        let encoded: Vec<Vec<u8>> = receipts.iter().filter_map(|r| r.encode().ok()).collect();
        for holder in j.receipts.keys() {
            if *holder == self.me {
                self.on_holders(j.key, &encoded);
            } else {
                self.send(
                    *holder,
                    NodeMessage::Holders {
                        key: j.key,
                        receipts: encoded.clone(),
                    },
                );
            }
        }
        match j.kind {
            JobKind::Put { client, req } => self.send(
                client,
                NodeMessage::PutDone {
                    req,
                    receipts: encoded,
                },
            ),
            JobKind::Heal => {
                self.healing.remove(&j.key);
                self.stats.heals_done += 1;
            }
        }
    }

    fn fail_job(&mut self, job: u64, step: PutStep, why: &str) {
        let Some(j) = self.jobs.remove(&job) else {
            return;
        };
        for req in j.waiting.keys() {
            self.job_of_req.remove(req);
        }
        match j.kind {
            JobKind::Put { client, req } => self.refuse_put(client, req, step, why),
            JobKind::Heal => {
                self.healing.remove(&j.key);
            }
        }
    }

    /// Merges `receipts` into the holder set of local record `key`: each must be a receipt for
    /// `key` that its holder signed; the set never shrinks by a message (only a holder proven
    /// faulty leaves it), keeps each holder's latest receipt, and is bounded by
    /// [`MAX_HOLDER_RECEIPTS`] (this host's own receipt always stays).
    fn on_holders(&mut self, key: RecordKey, receipts: &[Vec<u8>]) {
        let Ok(Some(meta)) = self.store.get_meta(&key) else {
            return;
        };
        let Ok(mut meta) = codec::decode::<HolderMeta>(&meta) else {
            return;
        };
        let before = meta.receipts.clone();
        let mut merged: BTreeMap<NodeId, (u64, Vec<u8>)> = BTreeMap::new();
        for r in meta.receipts.iter().chain(receipts) {
            let Ok(rc) = Receipt::decode(r) else {
                continue;
            };
            if *rc.record() != key || rc.verify().is_err() || self.faulty.contains(&rc.host_id()) {
                continue;
            }
            let latest = merged
                .get(&rc.host_id())
                .is_none_or(|(t, _)| rc.timestamp() > *t);
            if latest {
                merged.insert(rc.host_id(), (rc.timestamp(), r.clone()));
            }
        }
        if merged.len() > MAX_HOLDER_RECEIPTS {
            // Keep this host's own and the newest others.
            let me = self.me;
            let mut by_age: Vec<(NodeId, u64)> = merged
                .iter()
                .filter(|(n, _)| **n != me)
                .map(|(n, (t, _))| (*n, *t))
                .collect();
            by_age.sort_by_key(|(n, t)| (std::cmp::Reverse(*t), *n));
            let keep: BTreeSet<NodeId> = by_age
                .into_iter()
                .take(MAX_HOLDER_RECEIPTS - 1)
                .map(|(n, _)| n)
                .chain([me])
                .collect();
            merged.retain(|n, _| keep.contains(n));
        }
        meta.receipts = merged.into_values().map(|(_, r)| r).collect();
        if meta.receipts != before {
            self.write_meta(key, &meta);
        }
    }

    /// Replaces the holder metadata of local record `key`.
    fn write_meta(&mut self, key: RecordKey, meta: &HolderMeta) {
        if let (Ok(Some(mut entry)), Ok(m)) = (self.store.get(&key), codec::encode(meta)) {
            entry.meta = m;
            let _ = self.store.put(key, entry);
        }
    }

    /// A fault by `host` was proven: it no longer counts as a holder of anything here, its
    /// announcements leave the DHT, and the records it held are healed as if it had failed.
    fn on_fault_proven(&mut self, now: Instant, host: NodeId) {
        if host == self.me {
            return;
        }
        if self.faulty.len() >= MAX_FAULTY && !self.faulty.contains(&host) {
            self.faulty.pop_first();
        }
        self.faulty.insert(host);
        self.dht.holder_gone(&host);
        // Heal first (it finds the records by the host's receipt), then forget the receipts.
        self.heal_after(now, host);
        let Ok(keys) = self.store.keys() else {
            return;
        };
        for key in keys {
            let Some(mut meta) = self
                .store
                .get_meta(&key)
                .ok()
                .flatten()
                .and_then(|m| codec::decode::<HolderMeta>(&m).ok())
            else {
                continue;
            };
            let before = meta.receipts.len();
            meta.receipts
                .retain(|r| Receipt::decode(r).is_ok_and(|rc| rc.host_id() != host));
            if meta.receipts.len() != before {
                self.write_meta(key, &meta);
            }
        }
    }

    // ---- heal ----

    /// After `gone` left or failed: for every local record it held, the closest surviving
    /// holder to the key re-replicates it to a new host.
    fn heal_after(&mut self, now: Instant, gone: NodeId) {
        let Ok(keys) = self.store.keys() else {
            return;
        };
        let live: BTreeSet<NodeId> = self.gossip.live_members().into_iter().collect();
        for key in keys {
            if self.healing.contains(&key) {
                continue;
            }
            let Some(meta) = self
                .store
                .get_meta(&key)
                .ok()
                .flatten()
                .and_then(|m| codec::decode::<HolderMeta>(&m).ok())
            else {
                continue;
            };
            let holders = meta.holders();
            if !holders.contains_key(&gone) {
                continue;
            }
            let survivors: Vec<NodeId> = holders
                .keys()
                .filter(|n| {
                    **n == self.me
                        || (**n != gone && live.contains(*n) && !self.faulty.contains(*n))
                })
                .copied()
                .collect();
            let healer = survivors
                .iter()
                .min_by_key(|n| n.distance(&NodeId(key.0)))
                .copied();
            if healer != Some(self.me) {
                continue;
            }
            let Some(record) = self.local_record_bytes(&key) else {
                continue;
            };
            let Ok(decoded) = Record::decode(&record) else {
                continue;
            };
            let receipts: BTreeMap<NodeId, Receipt> = holders
                .iter()
                .filter(|(n, _)| survivors.contains(n))
                .filter_map(|(n, r)| Receipt::decode(r).ok().map(|rc| (*n, rc)))
                .collect();
            let job = self.next_req();
            self.healing.insert(key);
            self.stats.heals_started += 1;
            self.jobs.insert(
                job,
                Job {
                    kind: JobKind::Heal,
                    key,
                    record,
                    contract: *decoded.contract(),
                    receipts,
                    waiting: BTreeMap::new(),
                    tried: holders.keys().copied().collect(),
                    preferred: Vec::new(),
                    announcing: false,
                },
            );
            self.dispatch(now, job);
        }
    }

    // ---- get: holders and clients ----

    fn on_fetch(&mut self, from: NodeId, req: u64, key: RecordKey, deadline_ms: u64) {
        let received_ms = self.clock.unix_ms();
        if received_ms.saturating_add(crate::message::MIN_FETCH_BUDGET_MS) > deadline_ms {
            // Too little time left (the requester moved on, or asks the impossible): answering
            // could only sign an admission of lateness for a delay this host did not cause.
            return;
        }
        let pk = self.keypair.public();
        let found = if let Some((entry, meta)) = self.store.get(&key).ok().flatten().and_then(|e| {
            let m = codec::decode::<HolderMeta>(&e.meta).ok()?;
            Some((e, m))
        }) {
            Some((entry.body, meta.record_leaves, true))
        } else {
            self.cache.get(&key).map(|bytes| {
                let bytes = bytes.to_vec();
                let leaves = crate::pieces::leaves(&bytes);
                (bytes, leaves, false)
            })
        };
        // Stamped after the store read: a slow disk shows up in the signed times.
        let served_ms = self.clock.unix_ms();
        let reply = found.and_then(|(bytes, leaves, is_replica)| {
            let record_root = crate::pieces::root(&leaves)?;
            FetchHeader::new(pk, key, record_root, &bytes, is_replica)
                .timed(deadline_ms, received_ms, served_ms)
                .sign(&self.keypair)
                .ok()
                .map(|h| (h, bytes, leaves))
        });
        let msg = match reply {
            Some((header, bytes, record_leaves)) => NodeMessage::FetchReply {
                req,
                header,
                bytes,
                record_leaves,
            },
            None => NodeMessage::FetchMissing { req },
        };
        self.send(from, msg);
    }

    fn next_holder(&mut self, now: Instant, op: OpId) {
        loop {
            let Some(g) = self.gets.get_mut(&op) else {
                return;
            };
            let mutable_done = g
                .best
                .as_ref()
                .is_some_and(|(r, _)| !r.is_mutable() || g.replica_answers >= self.cfg.replicas);
            if mutable_done {
                return self.finish_get(op);
            }
            let Some(next) = g.candidates.pop_front() else {
                return self.finish_get(op);
            };
            if next == self.me {
                // This host holds a replica itself: read it from the store.
                let key = g.key;
                let local = self.local_record_bytes(&key);
                let Some(g) = self.gets.get_mut(&op) else {
                    return;
                };
                if let Some(bytes) = local
                    && let Ok(rec) = Record::decode(&bytes)
                    && subspace_record::validate_at(&rec, &g.key).is_ok()
                {
                    g.replica_answers += 1;
                    if g.best.as_ref().is_none_or(|(b, _)| rec.seq() > b.seq()) {
                        g.best = Some((rec, bytes));
                    }
                }
                continue;
            }
            let req = self.next_id + 1;
            self.next_id = req;
            g.current = Some((next, req, now + self.cfg.fetch_timeout));
            let key = g.key;
            self.fetches.insert(req, op);
            let deadline_ms = self.clock.unix_ms().saturating_add(
                u64::try_from(self.cfg.fetch_timeout.as_millis()).unwrap_or(u64::MAX),
            );
            self.send(
                next,
                NodeMessage::Fetch {
                    req,
                    key,
                    deadline_ms,
                },
            );
            return;
        }
    }

    fn on_fetch_reply(
        &mut self,
        now: Instant,
        from: NodeId,
        req: u64,
        header: &SignedFetchHeader,
        bytes: &[u8],
        record_leaves: &[Hash256],
    ) {
        let authentic = header.header.host.node_id() == from && header.verify().is_ok();
        let Some(op) = self.fetches.remove(&req) else {
            // Perhaps an answer to a fetch that already timed out: judge its lateness.
            if let Some(pos) = self.late_fetches.iter().position(|(r, _, _)| *r == req) {
                let late = self.late_fetches.remove(pos);
                if authentic && late.is_some_and(|(_, n, k)| n == from && k == header.header.key) {
                    self.report_late(now, from, header);
                }
            }
            return;
        };
        let Some(g) = self.gets.get_mut(&op) else {
            return;
        };
        let Some((asked, _, deadline)) = g.current.take() else {
            return;
        };
        if asked != from {
            return;
        }
        let sent = deadline.checked_sub(self.cfg.fetch_timeout).unwrap_or(now);
        // Bounded: peers beyond the cap are simply not ranked.
        if self.rtt.len() < MAX_RTT_PEERS || self.rtt.contains_key(&from) {
            self.rtt.insert(from, now.saturating_duration_since(sent));
        }
        let checked = if authentic {
            check_served(header, bytes, &g.key, self.cfg.layers)
        } else {
            Err(NodeError::InvalidRecord("unsigned reply".into()))
        };
        match checked {
            Ok((record, record_bytes)) => {
                if header.header.is_replica {
                    g.replica_answers += 1;
                }
                if g.best.as_ref().is_none_or(|(b, _)| record.seq() > b.seq()) {
                    g.best = Some((record, record_bytes));
                }
            }
            Err(e) => {
                self.stats.bad_replies += 1;
                tracing::debug!(%from, error = %e, "holder served an invalid copy");
                // The host's own signature over what it served makes this a provable fault:
                // the whole body if small, else the one piece that contradicts its commitment.
                let proof = authentic
                    .then(|| build_fault_proof(header, bytes, record_leaves, self.cfg.layers))
                    .flatten();
                match proof {
                    Some(p) => self.report_fault(now, from, &p),
                    None => {
                        self.stats.unproven_bad_replies += 1;
                        self.deprioritise(from);
                    }
                }
            }
        }
        if authentic && header.header.admits_lateness() {
            self.report_late(now, from, header);
        }
        self.next_holder(now, op);
    }

    fn report_late(&mut self, now: Instant, from: NodeId, header: &SignedFetchHeader) {
        self.deprioritise(from);
        if header.header.admits_lateness() {
            let proof = FaultProof::Late {
                header: header.clone(),
            };
            self.report_fault(now, from, &proof);
        }
    }

    fn report_fault(&mut self, now: Instant, host: NodeId, proof: &FaultProof) {
        if let Ok(p) = codec::encode(proof)
            && self.gossip.report_fault(now, host, p).is_ok()
        {
            self.stats.faults_reported += 1;
        }
    }

    /// Ranks `peer` behind every holder that answered in time (local only: slowness a host
    /// does not admit to cannot be proven to anyone else).
    fn deprioritise(&mut self, peer: NodeId) {
        if self.rtt.len() < MAX_RTT_PEERS || self.rtt.contains_key(&peer) {
            self.rtt.insert(peer, Duration::MAX);
        }
    }

    fn finish_get(&mut self, op: OpId) {
        let Some(g) = self.gets.remove(&op) else {
            return;
        };
        if let Some((_, _, _)) = g.current {
            self.fetches.retain(|_, o| *o != op);
        }
        let outcome = match g.best {
            Some((record, bytes)) => {
                // Social replication: cache immutable records and announce as a cache holder.
                if !record.is_mutable() && !self.store.contains(&g.key).unwrap_or(false) {
                    self.cache.insert(g.key, bytes);
                    let now = self.clock.now();
                    let ann = Announcement {
                        holder: self.me,
                        kind: HolderKind::Cache,
                        proof: Vec::new(),
                    };
                    if let Ok(q) = self.dht.announce(now, g.key, vec![ann]) {
                        self.queries.insert(q, QueryPurpose::Cache);
                    }
                }
                Ok(record)
            }
            None => Err(NodeError::NotFound(g.key)),
        };
        self.completions.push_back((op, Completion::Get(outcome)));
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
