//! [`ChainService`]: the ledger on the network — blocks and transactions by gossip broadcast,
//! catch-up from peers, and farming against the local [`PlotSet`].
//!
//! Like [`crate::Host`], which drives it, the service performs no IO of its own beyond its
//! [`ChainStore`]: the host hands it messages with the sender and the clock's Unix time, asks it
//! when to wake up, and sends what it queues.
//!
//! - **Broadcast.** A block or transaction seen for the first time is validated, then relayed
//!   to [`ChainConfig::fanout`] random live members (not back to its sender). A bounded set of
//!   recently seen hashes stops the flood.
//! - **Catch-up.** A block whose parent is unknown is parked (bounded) and the sender is asked
//!   for the blocks after our best chain, named by a locator (hashes at exponentially spaced
//!   heights, newest first), so a peer on a fork answers from the fork point. Every
//!   [`ChainConfig::tip_interval`] the service tells a few peers its tip; a peer with more work
//!   is asked the same way. A restarted node, or a farmer coming back from a partition, thus
//!   converges on the heaviest chain.
//! - **Farming.** On each new tip the best quality over the local plots for the next challenge
//!   gives a deadline; when it passes and the tip is still the same, the farmer proves,
//!   proposes a block with its mempool and broadcasts it. A better proof from another farmer
//!   that arrives first wins by the fork-choice rule. When a whole challenge slot passes on the
//!   same tip (no plot anywhere answered, see [`subspace_ledger::consensus`]), the farmer
//!   answers the next slot's challenge, so the chain never waits for good.
//! - **Hostile peers.** Blocks that fail validation are counted against their sender; after
//!   [`ChainConfig::max_bad_blocks`] a peer's chain messages are ignored (the peer is not
//!   disconnected: its storage role is judged by gossip, not here). Block requests are
//!   metered per peer ([`ChainConfig::block_request_burst`]), since each answer reads up to
//!   [`MAX_BLOCKS_PER_REPLY`] blocks from the store.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use rand_core::RngCore;
use serde::{Deserialize, Serialize};
use subspace_crypto::{BlockHash, ContractId, Keypair, NodeId, PublicKey, Signature};
use subspace_ledger::tx::{HostStorageContract, PaymentRequest};
use subspace_ledger::{
    Accepted, Address, Block, Chain, ChainStore, ConsensusParams, LedgerError, ProofAnswer,
    ProposalInputs, SubspacePos, Transaction, TxId, consensus,
};
use subspace_pos::{Challenge, PledgeProof, PlotSet};

use crate::chain_store::DynChainStore;
use crate::contracts::{ChainContracts, ContractTerms, UsageClaim, build_data_contract};

/// Most hashes in one catch-up locator.
pub const MAX_LOCATOR: usize = 64;
/// Blocks whose farmers may store archive records ([`crate::archive`]).
pub const RECENT_FARMER_BLOCKS: usize = 256;

/// Most blocks in one catch-up reply.
pub const MAX_BLOCKS_PER_REPLY: usize = 64;

/// Chain messages between nodes (inside [`crate::Message::Chain`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChainMessage {
    /// A block, in its canonical encoding (broadcast).
    Block(Vec<u8>),
    /// A transaction, in its canonical encoding (broadcast).
    Tx(Vec<u8>),
    /// "My best tip": lets a peer with less work notice and catch up.
    Tip {
        /// Height of the tip.
        height: u64,
        /// Accumulated work of the tip.
        work: u128,
        /// The tip's hash.
        hash: BlockHash,
    },
    /// "Send me the blocks of your best chain after the first of these you know."
    GetBlocks {
        /// Best-chain hashes of the asker, newest first, exponentially spaced, ending at
        /// genesis; at most [`MAX_LOCATOR`].
        locator: Vec<BlockHash>,
    },
    /// Consecutive best-chain blocks, oldest first; at most [`MAX_BLOCKS_PER_REPLY`].
    Blocks(Vec<Vec<u8>>),
    /// A data contract owner's claim of the bytes its contract holds (broadcast).
    Usage(UsageClaim),
}

impl ChainMessage {
    /// Checks the bounds a decoder cannot express (list lengths).
    pub fn check_bounds(&self) -> Result<(), &'static str> {
        match self {
            ChainMessage::GetBlocks { locator } if locator.len() > MAX_LOCATOR => {
                Err("locator too long")
            }
            ChainMessage::Blocks(b) if b.len() > MAX_BLOCKS_PER_REPLY => Err("too many blocks"),
            _ => Ok(()),
        }
    }
}

/// Settings of a [`ChainService`].
#[derive(Clone, Debug)]
pub struct ChainConfig {
    /// The network's consensus rules (shared by every node, like the genesis block).
    pub params: ConsensusParams,
    /// Peers a new block or transaction is relayed to.
    pub fanout: usize,
    /// How often the tip is announced to `fanout` random peers.
    pub tip_interval: Duration,
    /// Blocks whose parent is unknown kept while catching up.
    pub max_orphans: usize,
    /// Transactions kept for the next block.
    pub max_mempool: usize,
    /// Blocks a transaction may wait in the mempool; one no block included by then (it
    /// conflicts, is underpriced, or names a stale tip) is dropped, so junk cannot fill the
    /// mempool for good.
    pub mempool_max_age_blocks: u64,
    /// Block and transaction hashes remembered to stop the flood.
    pub max_seen: usize,
    /// Invalid blocks tolerated from one peer before its chain messages are ignored.
    pub max_bad_blocks: u32,
    /// Reward interval of the host storage contract a farmer publishes for its pledge
    /// (`None`: farm without pledging to host).
    pub host_interval_secs: Option<u64>,
    /// Block requests (`GetBlocks`) one peer may make in a burst; each answer reads up to
    /// [`MAX_BLOCKS_PER_REPLY`] blocks from the store, so requests are metered.
    pub block_request_burst: u32,
    /// Seconds for one peer to earn back one block request.
    pub block_request_secs: u64,
}

impl Default for ChainConfig {
    fn default() -> Self {
        ChainConfig {
            params: ConsensusParams::default(),
            fanout: 8,
            tip_interval: Duration::from_secs(5),
            max_orphans: 256,
            max_mempool: 4096,
            mempool_max_age_blocks: 64,
            max_seen: 16_384,
            max_bad_blocks: 8,
            host_interval_secs: None,
            // 16 requests at once, then one a second: a node catching up still fetches
            // about 3,800 blocks a minute (64 per reply) from each peer.
            block_request_burst: 16,
            block_request_secs: 1,
        }
    }
}

/// Counters and the view `status` shows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ChainStats {
    /// Height of the best tip.
    pub height: u64,
    /// Hash of the best tip.
    pub tip: Option<BlockHash>,
    /// Accumulated work of the best tip.
    pub work: u128,
    /// Blocks this node farmed (that it produced, whether or not they stayed best).
    pub blocks_farmed: u64,
    /// Valid blocks received from peers.
    pub blocks_received: u64,
    /// Blocks from peers that failed validation.
    pub invalid_blocks: u64,
    /// Reorganisations of the best chain.
    pub reorgs: u64,
    /// Blocks parked or dropped because their parent was unknown.
    pub orphans_dropped: u64,
    /// Transactions waiting for a block.
    pub mempool: usize,
    /// Transactions dropped from the mempool because no block included them in time.
    pub mempool_expired: u64,
    /// Peers whose chain messages are ignored after too many invalid blocks.
    pub ignored_peers: usize,
    /// This node's active host storage contract on the best chain.
    pub host_contract: Option<ContractId>,
    /// Payment requests this node submitted.
    pub payment_requests: u64,
    /// Block requests from peers left unanswered because the peer asked too often.
    pub block_requests_refused: u64,
}

/// The uptime source for nexus payments: seconds `host` was up in `[start, end)` (Unix
/// seconds), as this node's gossip accounting has it.
pub type UptimeFn<'a> = &'a dyn Fn(&PublicKey, u64, u64) -> u64;

/// The farmer's plan for the current tip and challenge slot.
#[derive(Clone, Debug)]
struct Plan {
    tip: BlockHash,
    /// The challenge slot (see [`subspace_ledger::consensus`]) the plan answers.
    slot: u64,
    /// That slot's challenge.
    challenge: [u8; 32],
    /// The plot and quality to answer with, if any plot answered.
    answer: Option<(u64, [u8; 32])>,
    /// Unix second at which the proposal may be stamped.
    at: u64,
    /// Unix second at which the next slot (and its challenge) begins.
    slot_end: u64,
}

/// A bounded set that forgets its oldest entries first.
#[derive(Debug, Default)]
struct Seen {
    set: BTreeSet<[u8; 32]>,
    order: VecDeque<[u8; 32]>,
}

impl Seen {
    /// Inserts; false if already present.
    fn insert(&mut self, h: [u8; 32], cap: usize) -> bool {
        if !self.set.insert(h) {
            return false;
        }
        self.order.push_back(h);
        while self.order.len() > cap {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}

/// Per-peer token buckets for block requests (bounded: when full, the peers that have earned
/// their whole burst back are forgotten, since a fresh bucket is the same).
#[derive(Debug, Default)]
struct RequestMeter {
    /// Peer → (tokens, Unix second they were counted at).
    buckets: BTreeMap<NodeId, (u32, u64)>,
}

/// Peers a [`RequestMeter`] keeps before forgetting full buckets.
const MAX_METERED_PEERS: usize = 4096;

impl RequestMeter {
    fn allow(&mut self, peer: NodeId, now: u64, cfg: &ChainConfig) -> bool {
        let burst = cfg.block_request_burst;
        let per = cfg.block_request_secs.max(1);
        let refill = |(tokens, at): (u32, u64)| {
            let earned = now.saturating_sub(at) / per;
            let tokens = u64::from(tokens)
                .saturating_add(earned)
                .min(u64::from(burst)) as u32;
            (
                tokens,
                at.saturating_add(earned.saturating_mul(per))
                    .min(now.max(at)),
            )
        };
        if self.buckets.len() >= MAX_METERED_PEERS && !self.buckets.contains_key(&peer) {
            self.buckets.retain(|_, b| refill(*b).0 < burst);
            if self.buckets.len() >= MAX_METERED_PEERS {
                return false;
            }
        }
        let b = self.buckets.entry(peer).or_insert((burst, now));
        *b = refill(*b);
        if b.0 == 0 {
            return false;
        }
        b.0 -= 1;
        true
    }
}

/// The ledger on the network for one node.
pub struct ChainService {
    cfg: ChainConfig,
    chain: Chain<DynChainStore, SubspacePos>,
    farmer: Option<(Keypair, PlotSet)>,
    seen: Seen,
    orphans: BTreeMap<BlockHash, Vec<Block>>,
    orphan_order: VecDeque<BlockHash>,
    mempool: BTreeMap<TxId, Transaction>,
    /// The best height at which each mempool transaction arrived.
    mempool_since: BTreeMap<TxId, u64>,
    bad: BTreeMap<NodeId, u32>,
    outbox: VecDeque<(NodeId, ChainMessage)>,
    plan: Option<Plan>,
    next_tip_announce: u64,
    stats: ChainStats,
    /// This host's contract transaction not yet on the chain: (id, tx, last broadcast).
    pending_host: Option<(ContractId, Transaction, u64)>,
    /// The tip a payment request was last made against.
    requested_at: Option<BlockHash>,
    /// Data contracts published to record validation on every new tip.
    contracts: Option<ChainContracts>,
    /// The latest valid usage claim per data contract.
    usage: BTreeMap<ContractId, UsageClaim>,
    /// Archive keys of blocks (see [`crate::archive`]), computed on demand.
    archive_keys: BTreeMap<BlockHash, subspace_crypto::RecordKey>,
    /// Archive records of this farmer's blocks, for the host to store.
    archive_out: VecDeque<Block>,
    /// Farmers of the blocks inserted last.
    recent_farmers: VecDeque<PublicKey>,
    /// Block requests per peer.
    block_requests: RequestMeter,
}

impl std::fmt::Debug for ChainService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainService")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn is_bad_block(e: &LedgerError) -> bool {
    !matches!(
        e,
        LedgerError::Duplicate | LedgerError::UnknownParent | LedgerError::Store(_)
    )
}

impl ChainService {
    /// A service over `chain` (opened by the caller from genesis and its store).
    pub fn new(cfg: ChainConfig, chain: Chain<DynChainStore, SubspacePos>) -> ChainService {
        let mut s = ChainService {
            cfg,
            chain,
            farmer: None,
            seen: Seen::default(),
            orphans: BTreeMap::new(),
            orphan_order: VecDeque::new(),
            mempool: BTreeMap::new(),
            mempool_since: BTreeMap::new(),
            bad: BTreeMap::new(),
            outbox: VecDeque::new(),
            plan: None,
            next_tip_announce: 0,
            stats: ChainStats::default(),
            pending_host: None,
            requested_at: None,
            contracts: None,
            usage: BTreeMap::new(),
            archive_keys: BTreeMap::new(),
            archive_out: VecDeque::new(),
            recent_farmers: VecDeque::new(),
            block_requests: RequestMeter::default(),
        };
        s.refresh_stats();
        s
    }

    /// Farms with `plots`, signing blocks with `keypair` (the key the plots derive from).
    pub fn with_farmer(mut self, keypair: Keypair, plots: PlotSet) -> ChainService {
        self.farmer = Some((keypair, plots));
        self
    }

    /// This host's storage contract: the active one on the best chain, or else a new one
    /// (pledging the plots with a [`PledgeProof`] for a seed from `rng`) that the service
    /// broadcasts from its next timeout until a block includes it. `None` if the service does
    /// not farm or [`ChainConfig::host_interval_secs`] is unset. The id is what the host's
    /// gossip `Join` references.
    pub fn host_contract(&mut self, now: u64, rng: &mut impl RngCore) -> Option<ContractId> {
        let interval = self.cfg.host_interval_secs?;
        let (kp, plots) = self.farmer.as_ref()?;
        if let Some(id) = self.active_host_contract(now) {
            return Some(id);
        }
        if let Some((id, _, _)) = &self.pending_host {
            return Some(*id);
        }
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let proof = PledgeProof::prove(plots, &seed)
            .and_then(|p| p.to_bytes())
            .map_err(|e| tracing::warn!(error = %e, "cannot prove the pledge"))
            .ok()?;
        let mut tx = Transaction::HostContract(HostStorageContract {
            host: kp.public(),
            pledged_bytes: plots.pledged_bytes(),
            interval_secs: interval,
            k: plots.k(),
            pledge_seed: seed,
            pledge_proof: proof,
            payout: Address::of(&kp.public()),
            signature: Signature([0; 64]),
        });
        tx.sign(&[], Some(kp)).ok()?;
        let id = ContractId(tx.id().ok()?.0);
        self.pending_host = Some((id, tx, 0));
        Some(id)
    }

    /// The active (not lapsed) host contract of this farmer's key on the best chain.
    fn active_host_contract(&self, now: u64) -> Option<ContractId> {
        let (kp, _) = self.farmer.as_ref()?;
        let grace = self.cfg.params.payment_grace_secs;
        self.chain
            .state()
            .host_contracts()
            .find(|(_, c)| c.host == kp.public() && !c.lapsed(now, grace))
            .map(|(id, _)| *id)
    }

    /// Keeps the host contract moving: re-broadcasts it until included, and asks for payment
    /// once an interval has ended (a request names the tip, so it is made again on a new tip).
    fn host_duties(&mut self, now: u64, peers: &[NodeId], rng: &mut impl RngCore) {
        if let Some(id) = self.active_host_contract(now) {
            self.pending_host = None;
            self.stats.host_contract = Some(id);
            let Some((kp, _)) = &self.farmer else { return };
            let Some(st) = self.chain.state().host_contract(&id) else {
                return;
            };
            let tip = self.chain.state().tip().hash;
            if now < st.next_due || self.requested_at == Some(tip) {
                return;
            }
            let mut tx = Transaction::PaymentRequest(PaymentRequest {
                contract: id,
                last_block: tip,
                signature: Signature([0; 64]),
            });
            if tx.sign(&[], Some(kp)).is_err() {
                return;
            }
            // Older requests of ours named an older tip: they can no longer be included.
            self.mempool
                .retain(|_, t| !matches!(t, Transaction::PaymentRequest(r) if r.contract == id));
            let mempool = &self.mempool;
            self.mempool_since.retain(|k, _| mempool.contains_key(k));
            self.requested_at = Some(tip);
            self.stats.payment_requests += 1;
            tracing::info!(contract = %id, "interval ended: payment requested");
            let _ = self.submit_transaction(tx, peers);
            return;
        }
        self.stats.host_contract = None;
        if self.pending_host.is_none() && self.host_contract(now, rng).is_none() {
            return;
        }
        let resend = 4 * self.cfg.params.target_block_secs.max(1);
        let due = match &self.pending_host {
            Some((_, tx, last)) if now >= last.saturating_add(resend) || *last == 0 => {
                Some(tx.clone())
            }
            _ => None,
        };
        if let Some(tx) = due {
            if let Some(p) = self.pending_host.as_mut() {
                p.2 = now.max(1);
            }
            if let Ok(id) = tx.id() {
                // A re-broadcast must pass the seen-set of this node and of its peers.
                self.seen.set.remove(id.0.as_bytes());
                self.add_to_mempool(id, tx.clone());
            }
            if let Ok(bytes) = tx.encode() {
                self.relay(ChainMessage::Tx(bytes), None, peers);
            }
        }
    }

    /// Keeps `contracts` equal to the best chain's data contracts (for a [`crate::ChainLedger`]).
    pub fn with_contracts(mut self, contracts: ChainContracts) -> ChainService {
        contracts.refresh(self.chain.state());
        self.contracts = Some(contracts);
        self
    }

    /// Creates a data contract for `owner` on `terms`, funded from its credits at the tip's
    /// Cost of Storage, and broadcasts it. The id is final; the contract is usable once a
    /// block includes it.
    pub fn create_data_contract(
        &mut self,
        owner: &Keypair,
        terms: &ContractTerms,
        peers: &[NodeId],
    ) -> Result<ContractId, LedgerError> {
        let tx = build_data_contract(self.chain.state(), &self.cfg.params, owner, terms)?;
        let id = self.submit_transaction(tx, peers)?;
        Ok(ContractId(id.0))
    }

    /// Records and broadcasts this node's claim of the bytes `contract` (owned by `owner`)
    /// holds, numbered `seq` (the owner's clock in milliseconds keeps it increasing across
    /// restarts). Claims about contracts the chain does not know, or not newer than the last
    /// one, are refused.
    pub fn claim_usage(
        &mut self,
        owner: &Keypair,
        contract: ContractId,
        bytes_used: u64,
        seq: u64,
        peers: &[NodeId],
    ) -> Result<(), LedgerError> {
        let claim = UsageClaim::new(owner, contract, bytes_used, seq);
        if !self.accept_usage(&claim) {
            return Err(LedgerError::UnknownContract);
        }
        self.relay(ChainMessage::Usage(claim), None, peers);
        Ok(())
    }

    /// Keeps `claim` if it is the owner's, newer than the one held, about a known contract.
    fn accept_usage(&mut self, claim: &UsageClaim) -> bool {
        let Some(c) = self.chain.state().data_contract(&claim.contract) else {
            return false;
        };
        if self
            .usage
            .get(&claim.contract)
            .is_some_and(|old| old.seq >= claim.seq)
            || claim.verify(&c.owner).is_err()
        {
            return false;
        }
        if let Some(c) = &self.contracts {
            c.set_used(claim.contract, claim.bytes_used);
        }
        self.usage.insert(claim.contract, claim.clone());
        true
    }

    /// Bytes stored on the network at `t` as the owners claim them: the latest claim of every
    /// unexpired data contract, each capped by its reservation (reserved × replication).
    pub fn stored_bytes(&self, t: u64) -> u64 {
        let state = self.chain.state();
        self.usage
            .values()
            .filter_map(|u| {
                let c = state.data_contract(&u.contract)?;
                (t < c.expires).then(|| {
                    u.bytes_used
                        .min(u64::try_from(c.network_bytes()).unwrap_or(u64::MAX))
                })
            })
            .fold(0u64, u64::saturating_add)
    }

    /// The archive key of block `hash` (its linked immutable record on SSDB; see
    /// [`crate::archive`]), computed from the stored blocks back to the nearest block whose key
    /// is known (genesis at worst) and remembered.
    pub fn archive_key(&mut self, hash: &BlockHash) -> Option<subspace_crypto::RecordKey> {
        let mut path = Vec::new();
        let mut cur = *hash;
        let mut parent_key = loop {
            if let Some(k) = self.archive_keys.get(&cur) {
                break Some(*k);
            }
            let block = self.chain.store().block(&cur).ok()??;
            let parent = block.header.parent;
            let genesis = block.header.height == 0;
            path.push((cur, block));
            if genesis {
                break None;
            }
            cur = parent;
        };
        for (h, b) in path.into_iter().rev() {
            let k = crate::archive::archive_key(&b, parent_key).ok()?;
            self.archive_keys.insert(h, k);
            parent_key = Some(k);
        }
        if self.archive_keys.len() > 100_000 {
            self.archive_keys.pop_first();
        }
        parent_key
    }

    /// Output: a block this node farmed whose archive record the host should store now that
    /// it is on the best chain, with its parent's archive key.
    pub fn poll_archive(&mut self) -> Option<(Block, Option<subspace_crypto::RecordKey>)> {
        let block = self.archive_out.pop_front()?;
        let parent = self.archive_key(&block.header.parent);
        Some((block, parent))
    }

    /// The chain (state, store, fork choice).
    pub fn chain(&self) -> &Chain<DynChainStore, SubspacePos> {
        &self.chain
    }

    /// Counters and the tip.
    pub fn stats(&self) -> ChainStats {
        self.stats.clone()
    }

    /// The plots farmed, if this node farms.
    pub fn plots(&self) -> Option<&PlotSet> {
        self.farmer.as_ref().map(|(_, p)| p)
    }

    /// Mutable access to the plots (to reclaim space for hosted data). The farming plan is
    /// recomputed from what is left.
    pub fn plots_mut(&mut self) -> Option<&mut PlotSet> {
        self.plan = None;
        self.farmer.as_mut().map(|(_, p)| p)
    }

    /// Spendable credits of `key` on the best chain.
    pub fn balance(&self, key: &PublicKey) -> u64 {
        self.chain
            .state()
            .outputs_of(&Address::of(key))
            .iter()
            .map(|(_, o)| o.value)
            .sum()
    }

    /// Who farmed the last `n` blocks of the best chain (genesis excluded), with counts.
    pub fn recent_farmers(&self, n: u64) -> BTreeMap<PublicKey, u64> {
        let mut out = BTreeMap::new();
        let state = self.chain.state();
        let top = state.height();
        for h in (top.saturating_sub(n) + 1..=top).rev() {
            let Some(s) = state.summary(h) else { break };
            if let Ok(Some(b)) = self.chain.store().block(&s.hash) {
                *out.entry(b.header.farmer).or_insert(0) += 1;
            }
        }
        out
    }

    /// Submits a transaction made by this node: kept for its own blocks and broadcast.
    pub fn submit_transaction(
        &mut self,
        tx: Transaction,
        peers: &[NodeId],
    ) -> Result<TxId, LedgerError> {
        let id = tx.id()?;
        let bytes = tx.encode()?;
        if self.seen.insert(*id.0.as_bytes(), self.cfg.max_seen) {
            self.add_to_mempool(id, tx);
            self.relay(ChainMessage::Tx(bytes), None, peers);
        }
        Ok(id)
    }

    /// Input: a chain message from `from`. `peers` are live members to relay to (random
    /// sample taken inside); `now` is the clock's Unix seconds.
    pub fn handle_message(
        &mut self,
        now: u64,
        from: NodeId,
        msg: ChainMessage,
        peers: &[NodeId],
        rng: &mut impl RngCore,
    ) {
        if self
            .bad
            .get(&from)
            .is_some_and(|n| *n >= self.cfg.max_bad_blocks)
        {
            return;
        }
        match msg {
            ChainMessage::Block(bytes) => {
                let Ok(block) = Block::decode(&bytes) else {
                    self.penalise(from);
                    return;
                };
                let Ok(hash) = block.hash() else { return };
                if !self.seen.insert(*hash.as_bytes(), self.cfg.max_seen) {
                    return;
                }
                if self.offer(now, Some(from), block) {
                    self.relay_sampled(ChainMessage::Block(bytes), Some(from), peers, rng);
                }
            }
            ChainMessage::Tx(bytes) => {
                let Ok(tx) = Transaction::decode(&bytes) else {
                    return;
                };
                let Ok(id) = tx.id() else { return };
                if self.seen.insert(*id.0.as_bytes(), self.cfg.max_seen) {
                    self.add_to_mempool(id, tx);
                    self.relay_sampled(ChainMessage::Tx(bytes), Some(from), peers, rng);
                }
            }
            ChainMessage::Tip { work, hash, .. } => {
                if work > self.chain.state().tip().work && !self.chain.contains(&hash) {
                    self.ask_blocks(from);
                }
            }
            ChainMessage::GetBlocks { locator } => {
                if self.block_requests.allow(from, now, &self.cfg) {
                    self.serve_blocks(from, &locator);
                } else {
                    self.stats.block_requests_refused += 1;
                }
            }
            ChainMessage::Usage(claim) => {
                if self.accept_usage(&claim) {
                    self.relay_sampled(ChainMessage::Usage(claim), Some(from), peers, rng);
                }
            }
            ChainMessage::Blocks(list) => {
                let full = list.len() == MAX_BLOCKS_PER_REPLY;
                let mut progressed = false;
                for bytes in list {
                    let Ok(block) = Block::decode(&bytes) else {
                        self.penalise(from);
                        return;
                    };
                    let Ok(hash) = block.hash() else { return };
                    self.seen.insert(*hash.as_bytes(), self.cfg.max_seen);
                    progressed |= self.offer(now, Some(from), block);
                }
                if full && progressed {
                    self.ask_blocks(from);
                }
            }
        }
    }

    /// Input: time passed. Publishes and pays the host contract, farms (if it is this node's
    /// turn, claiming nexus payments with `uptime`) and announces the tip.
    pub fn handle_timeout(
        &mut self,
        now: u64,
        peers: &[NodeId],
        uptime: UptimeFn<'_>,
        rng: &mut impl RngCore,
    ) {
        self.host_duties(now, peers, rng);
        self.farm(now, peers, uptime);
        if now >= self.next_tip_announce {
            self.next_tip_announce = now + self.cfg.tip_interval.as_secs().max(1);
            let tip = self.chain.state().tip();
            let msg = ChainMessage::Tip {
                height: self.chain.state().height(),
                work: tip.work,
                hash: tip.hash,
            };
            self.relay_sampled(msg, None, peers, rng);
        }
    }

    /// The Unix second at which [`ChainService::handle_timeout`] has work to do, given the
    /// clock's Unix seconds `now`.
    pub fn poll_timeout(&mut self, now: u64) -> u64 {
        let mut t = self.next_tip_announce;
        if self.farmer.is_some() {
            self.ensure_plan(now);
            if let Some(p) = &self.plan {
                // A proposal to stamp, or a new challenge when the slot ends without a block.
                t = t.min(p.slot_end);
                if p.answer.is_some() {
                    t = t.min(p.at);
                }
            }
        }
        t
    }

    /// Output: the next message to send.
    pub fn poll_transmit(&mut self) -> Option<(NodeId, ChainMessage)> {
        self.outbox.pop_front()
    }

    fn penalise(&mut self, from: NodeId) {
        self.stats.invalid_blocks += 1;
        let n = self.bad.entry(from).or_insert(0);
        *n += 1;
        if *n == self.cfg.max_bad_blocks {
            tracing::warn!(peer = %from, "ignoring a peer's chain messages after repeated invalid blocks");
        }
        if self.bad.len() > 4096 {
            self.bad.pop_first();
        }
        self.stats.ignored_peers = self
            .bad
            .values()
            .filter(|n| **n >= self.cfg.max_bad_blocks)
            .count();
    }

    fn add_to_mempool(&mut self, id: TxId, tx: Transaction) {
        if self.mempool.len() >= self.cfg.max_mempool {
            return;
        }
        self.mempool_since
            .entry(id)
            .or_insert(self.chain.state().height());
        self.mempool.insert(id, tx);
        self.stats.mempool = self.mempool.len();
    }

    /// Offers a block to the chain; returns whether it was accepted (and should be relayed).
    fn offer(&mut self, now: u64, from: Option<NodeId>, block: Block) -> bool {
        let parent = block.header.parent;
        match self.chain.insert_block(block.clone(), now) {
            Ok(acc) => {
                if from.is_some() {
                    self.stats.blocks_received += 1;
                }
                if let Accepted::Reorganized { depth } = acc {
                    self.stats.reorgs += 1;
                    tracing::info!(depth, "chain reorganised to a heavier branch");
                }
                self.after_insert(&block);
                // Children that were waiting for this block.
                let children = block
                    .hash()
                    .ok()
                    .and_then(|h| self.orphans.remove(&h))
                    .unwrap_or_default();
                for c in children {
                    self.offer(now, from, c);
                }
                true
            }
            Err(LedgerError::UnknownParent) => {
                self.park(parent, block);
                if let Some(from) = from {
                    self.ask_blocks(from);
                }
                false
            }
            Err(e) => {
                if let Some(from) = from.filter(|_| is_bad_block(&e)) {
                    tracing::debug!(peer = %from, error = %e, "invalid block refused");
                    self.penalise(from);
                }
                false
            }
        }
    }

    fn park(&mut self, parent: BlockHash, block: Block) {
        self.orphans.entry(parent).or_default().push(block);
        self.orphan_order.push_back(parent);
        while self.orphan_order.len() > self.cfg.max_orphans {
            if let Some(old) = self.orphan_order.pop_front() {
                if let Some(list) = self.orphans.get_mut(&old) {
                    if !list.is_empty() {
                        list.remove(0);
                    }
                    if list.is_empty() {
                        self.orphans.remove(&old);
                    }
                }
                self.stats.orphans_dropped += 1;
            }
        }
    }

    fn after_insert(&mut self, block: &Block) {
        if let Ok(ids) = block.tx_ids() {
            for id in ids {
                self.mempool.remove(&id);
                self.mempool_since.remove(&id);
            }
        }
        // Transactions no block took within the age limit are dropped.
        let height = self.chain.state().height();
        let max_age = self.cfg.mempool_max_age_blocks;
        let expired: Vec<TxId> = self
            .mempool_since
            .iter()
            .filter(|(_, since)| height.saturating_sub(**since) > max_age)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.mempool.remove(&id);
            self.mempool_since.remove(&id);
            self.stats.mempool_expired += 1;
        }
        // Farmers of the last RECENT_FARMER_BLOCKS blocks (any branch) may archive them.
        self.recent_farmers.push_back(block.header.farmer);
        while self.recent_farmers.len() > RECENT_FARMER_BLOCKS {
            self.recent_farmers.pop_front();
        }
        if let Some(c) = &self.contracts {
            c.set_farmers(self.recent_farmers.iter().copied().collect());
        }
        self.refresh_stats();
    }

    fn refresh_stats(&mut self) {
        if let Some(c) = &self.contracts {
            c.refresh(self.chain.state());
        }
        let tip = self.chain.state().tip();
        self.stats.height = self.chain.state().height();
        self.stats.tip = Some(tip.hash);
        self.stats.work = tip.work;
        self.stats.mempool = self.mempool.len();
    }

    fn locator(&self) -> Vec<BlockHash> {
        let state = self.chain.state();
        let mut out = Vec::new();
        let mut h = state.height();
        let mut step = 1;
        loop {
            if let Some(s) = state.summary(h) {
                out.push(s.hash);
            }
            if h == 0 || out.len() + 1 >= MAX_LOCATOR {
                break;
            }
            if out.len() >= 10 {
                step *= 2;
            }
            h = h.saturating_sub(step);
        }
        if let Some(g) = state.summary(0).filter(|g| out.last() != Some(&g.hash)) {
            out.push(g.hash);
        }
        out
    }

    fn ask_blocks(&mut self, from: NodeId) {
        let locator = self.locator();
        self.outbox
            .push_back((from, ChainMessage::GetBlocks { locator }));
    }

    fn serve_blocks(&mut self, to: NodeId, locator: &[BlockHash]) {
        let state = self.chain.state();
        // The newest locator entry on our best chain is the fork point.
        let store = self.chain.store();
        let start = locator
            .iter()
            .find_map(|h| {
                let height = store.block(h).ok().flatten()?.header.height;
                state
                    .summary(height)
                    .is_some_and(|s| s.hash == *h)
                    .then_some(height)
            })
            .unwrap_or(0);
        let mut list = Vec::new();
        let mut h = start + 1;
        while h <= state.height() && list.len() < MAX_BLOCKS_PER_REPLY {
            let Some(s) = state.summary(h) else { break };
            match self.chain.store().block(&s.hash).and_then(|b| {
                b.ok_or(LedgerError::Store("best-chain block missing".into()))?
                    .encode()
            }) {
                Ok(bytes) => list.push(bytes),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot serve a stored block");
                    break;
                }
            }
            h += 1;
        }
        if !list.is_empty() {
            self.outbox.push_back((to, ChainMessage::Blocks(list)));
        }
    }

    fn relay(&mut self, msg: ChainMessage, except: Option<NodeId>, peers: &[NodeId]) {
        for p in peers.iter().filter(|p| Some(**p) != except) {
            self.outbox.push_back((*p, msg.clone()));
        }
    }

    fn relay_sampled(
        &mut self,
        msg: ChainMessage,
        except: Option<NodeId>,
        peers: &[NodeId],
        rng: &mut impl RngCore,
    ) {
        let mut pool: Vec<NodeId> = peers
            .iter()
            .copied()
            .filter(|p| Some(*p) != except)
            .collect();
        // Partial Fisher-Yates: the first `fanout` entries become a uniform sample.
        let n = self.cfg.fanout.min(pool.len());
        for i in 0..n {
            let j = i + (rng.next_u64() % (pool.len() - i) as u64) as usize;
            pool.swap(i, j);
        }
        pool.truncate(n);
        self.relay(msg, None, &pool);
    }

    /// Makes the plan answer the tip and the slot `now` falls in: a tip that stays best for a
    /// whole slot gets a fresh challenge, so a challenge no plot answered does not stop the
    /// farmer (see [`subspace_ledger::consensus`]).
    fn ensure_plan(&mut self, now: u64) {
        let Some((_, plots)) = &self.farmer else {
            return;
        };
        let params = &self.cfg.params;
        let state = self.chain.state();
        let tip = state.tip();
        let slot = state.slot_at(params, now);
        if self
            .plan
            .as_ref()
            .is_some_and(|p| p.tip == tip.hash && p.slot == slot)
        {
            return;
        }
        let difficulty = state.next_difficulty(params);
        let challenge = state.challenge_in_slot(params, slot);
        let answer = match plots.best(&Challenge::from_bytes(challenge)) {
            Ok(Some((index, q))) => Some((index, q.to_bytes())),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "plots could not answer the challenge");
                None
            }
        };
        let t = params.target_block_secs;
        let at = answer.map_or(u64::MAX, |(_, q)| {
            consensus::earliest_timestamp(tip.timestamp, slot, &q, difficulty, t)
        });
        let slot_end = tip.timestamp.saturating_add(
            slot.saturating_add(1)
                .saturating_mul(consensus::slot_secs(difficulty, t)),
        );
        if slot > 0 {
            tracing::info!(
                slot,
                height = state.height() + 1,
                "no block for a whole slot: farming the next challenge"
            );
        }
        self.plan = Some(Plan {
            tip: tip.hash,
            slot,
            challenge,
            answer,
            at,
            slot_end,
        });
    }

    fn farm(&mut self, now: u64, peers: &[NodeId], uptime: UptimeFn<'_>) {
        if self.farmer.is_none() {
            return;
        }
        self.ensure_plan(now);
        let Some(plan) = self.plan.clone() else {
            return;
        };
        let Some((index, quality)) = plan.answer else {
            return;
        };
        if now < plan.at {
            return;
        }
        // One attempt per tip and slot: whatever happens, do not retry this one.
        self.plan = Some(Plan {
            answer: None,
            at: u64::MAX,
            ..plan
        });
        match self.propose(now, &plan, index, quality, uptime) {
            Ok(block) => {
                let bytes = match block.encode() {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot encode own block");
                        return;
                    }
                };
                if let Ok(h) = block.hash() {
                    self.seen.insert(*h.as_bytes(), self.cfg.max_seen);
                }
                if self.offer(now, None, block.clone()) {
                    self.stats.blocks_farmed += 1;
                    if self.archive_out.len() < 64 {
                        self.archive_out.push_back(block);
                    }
                    tracing::info!(height = self.stats.height, "farmed a block");
                    self.relay(ChainMessage::Block(bytes), None, peers);
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not propose a block"),
        }
    }

    fn propose(
        &mut self,
        now: u64,
        plan: &Plan,
        index: u64,
        quality: [u8; 32],
        uptime: UptimeFn<'_>,
    ) -> Result<Block, LedgerError> {
        let Some((keypair, plots)) = &self.farmer else {
            return Err(LedgerError::BadProof);
        };
        let challenge = plan.challenge;
        let plot = plots.plot(index).ok_or(LedgerError::BadProof)?;
        let c = Challenge::from_bytes(challenge);
        let proof = plot
            .prove(&c)
            .map_err(|e| LedgerError::Store(format!("proving: {e}")))?
            .into_iter()
            .find(|p| {
                subspace_pos::verify(plot.plot_id(), plot.k(), &c, p)
                    .is_ok_and(|q| q.to_bytes() == quality)
            })
            .ok_or(LedgerError::BadProof)?;
        let answer = ProofAnswer {
            plot_index: index,
            k: plot.k(),
            proof: proof.to_bytes(),
            quality,
        };
        // Uptime over the current interval of every host asking for payment.
        let mut up = BTreeMap::new();
        for t in self.mempool.values() {
            let Transaction::PaymentRequest(r) = t else {
                continue;
            };
            if let Some(c) = self.chain.state().host_contract(&r.contract) {
                let start = c.next_due.saturating_sub(c.interval_secs);
                up.insert(r.contract, uptime(&c.host, start, c.next_due));
            }
        }
        let inputs = ProposalInputs {
            candidates: self.mempool.values().cloned().collect(),
            uptime: up,
            stored_bytes: self.stored_bytes(now),
        };
        // Stamped within the plan's slot, so that the block answers the plan's challenge.
        let ts = now.max(plan.at).min(plan.slot_end.saturating_sub(1));
        let keypair = keypair.clone();
        self.chain.propose(&keypair, answer, ts, &inputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Message;
    use proptest::prelude::*;

    #[test]
    fn block_requests_are_metered_per_peer() {
        let cfg = ChainConfig::default();
        let mut m = RequestMeter::default();
        let (a, b) = (NodeId::from_bytes([1; 32]), NodeId::from_bytes([2; 32]));
        let t = 1_700_000_000;
        let served = (0..100).filter(|_| m.allow(a, t, &cfg)).count();
        assert_eq!(served, cfg.block_request_burst as usize);
        // Another peer has its own burst.
        assert!(m.allow(b, t, &cfg));
        // One request back per block_request_secs, never more than the burst.
        assert!(!m.allow(a, t, &cfg));
        assert!(m.allow(a, t + 1, &cfg));
        assert!(!m.allow(a, t + 1, &cfg));
        let later = (0..100).filter(|_| m.allow(a, t + 1000, &cfg)).count();
        assert_eq!(later, cfg.block_request_burst as usize);
        // A clock that steps back neither panics nor mints requests.
        assert!(!m.allow(a, t, &cfg));
    }

    #[test]
    fn the_meter_stays_bounded() {
        let cfg = ChainConfig::default();
        let mut m = RequestMeter::default();
        let t = 1_700_000_000;
        for i in 0..(MAX_METERED_PEERS as u64 + 100) {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&i.to_be_bytes());
            m.allow(NodeId::from_bytes(id), t + i / 1000, &cfg);
        }
        assert!(m.buckets.len() <= MAX_METERED_PEERS);
    }

    fn sample(kind: u8, n: usize, byte: u8) -> ChainMessage {
        match kind % 6 {
            0 => ChainMessage::Block(vec![byte; n]),
            1 => ChainMessage::Tx(vec![byte; n]),
            2 => ChainMessage::Tip {
                height: n as u64,
                work: u128::from(byte) << 70,
                hash: BlockHash::from_bytes([byte; 32]),
            },
            3 => ChainMessage::GetBlocks {
                locator: vec![BlockHash::from_bytes([byte; 32]); n % (MAX_LOCATOR + 1)],
            },
            4 => ChainMessage::Blocks(vec![vec![byte; 3]; n % (MAX_BLOCKS_PER_REPLY + 1)]),
            _ => ChainMessage::Usage(UsageClaim::new(
                &Keypair::from_seed(&[byte; 32]),
                ContractId::from_bytes([byte; 32]),
                n as u64,
                7,
            )),
        }
    }

    #[test]
    fn oversized_lists_are_refused_by_the_decoder() {
        let long = ChainMessage::GetBlocks {
            locator: vec![BlockHash::from_bytes([1; 32]); MAX_LOCATOR + 1],
        };
        let bytes = Message::Chain(long).encode().unwrap();
        assert!(Message::decode(&bytes).is_err());
        let many = ChainMessage::Blocks(vec![vec![]; MAX_BLOCKS_PER_REPLY + 1]);
        assert!(Message::decode(&Message::Chain(many).encode().unwrap()).is_err());
    }

    #[test]
    fn usage_claims_verify_only_for_the_owner_and_unaltered() {
        let owner = Keypair::from_seed(&[4; 32]);
        let mut c = UsageClaim::new(&owner, ContractId::from_bytes([1; 32]), 500, 9);
        c.verify(&owner.public()).unwrap();
        assert!(c.verify(&Keypair::from_seed(&[5; 32]).public()).is_err());
        c.bytes_used = 501;
        assert!(c.verify(&owner.public()).is_err());
    }

    proptest! {
        #[test]
        fn chain_messages_round_trip(kind in any::<u8>(), n in 0usize..80, byte in any::<u8>()) {
            let m = Message::Chain(sample(kind, n, byte));
            prop_assert_eq!(Message::decode(&m.encode().unwrap()).unwrap(), m);
        }

        #[test]
        fn mutated_chain_messages_give_a_typed_result(
            kind in any::<u8>(), n in 0usize..80, byte in any::<u8>(),
            at in any::<usize>(), val in any::<u8>(), cut in 0usize..16,
        ) {
            let mut b = Message::Chain(sample(kind, n, byte)).encode().unwrap();
            let i = at % b.len();
            b[i] = val;
            b.truncate(b.len().saturating_sub(cut));
            let _ = Message::decode(&b);
        }
    }
}
