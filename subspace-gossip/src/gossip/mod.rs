//! The sans-IO gossip state machine: SWIM + Lifeguard probing, dissemination, anti-entropy.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use subspace_crypto::{ContractId, Hash256, Keypair, NodeId, PublicKey, domain, verify_batch};

use crate::broadcast::BroadcastQueue;
use crate::cache::VerifiedCache;
use crate::config::Config;
#[cfg(doc)]
use crate::fault::ClaimedPledges;
use crate::fault::{FaultValidator, PledgeOracle, RejectAllFaults};
use crate::index::SortedIds;
use crate::message::{Body, Digest, DigestEntry, Fingerprints, MAX_FINGERPRINT_BITS, Message};
use crate::pool::{Change, MemberInfo, Pool, Status, Summary};
use crate::sampling;
use crate::statement::{Evidence, Failure, Fault, Join, Leave, Signed, Statement, Suspect};
use crate::uptime::Interval;
use crate::{GossipError, Result};

/// Something the node should know about: membership changes and proven faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Event {
    /// A host joined (or rejoined after a failure or leave).
    Joined {
        /// The host.
        node: NodeId,
    },
    /// A host left gracefully.
    Left {
        /// The host.
        node: NodeId,
    },
    /// A host was declared failed.
    Failed {
        /// The host.
        node: NodeId,
    },
    /// A host is suspected of having failed.
    Suspected {
        /// The host.
        node: NodeId,
    },
    /// A suspected host proved itself alive with a higher incarnation.
    Refuted {
        /// The host.
        node: NodeId,
        /// Its new incarnation.
        incarnation: u64,
    },
    /// A fault by a host was proven (its uptime loses 24 hours).
    FaultProven {
        /// The faulty host.
        node: NodeId,
    },
    /// A host's accrued uptime changed course (online/offline or a fault).
    UptimeChanged {
        /// The host.
        node: NodeId,
    },
}

/// Counters a node can export to see what its bounds cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages refused (bad signature, unknown signer, mismatched sender, unexpected ack).
    pub messages_rejected: u64,
    /// Piggy-backed or delta statements refused.
    pub statements_rejected: u64,
    /// Signatures actually verified (cache misses).
    pub signatures_verified: u64,
    /// Broadcasts dropped because the queue was full.
    pub broadcasts_dropped: u64,
    /// Outgoing messages dropped because the outbox was full.
    pub transmits_dropped: u64,
    /// Events dropped because nobody polled them.
    pub events_dropped: u64,
    /// Members evicted because the pool was full.
    pub members_evicted: u64,
    /// Statements trimmed because a member's history was full.
    pub statements_trimmed: u64,
    /// Failure declarations this node signed.
    pub failures_declared: u64,
    /// Times this node refuted news about itself.
    pub refutations: u64,
    /// Pings, ping-requests and acks dropped because their claimed sender was not the sender
    /// the transport authenticated (or, with MACs, their MAC did not check).
    pub probes_forged: u64,
}

#[derive(Debug, Clone)]
struct ProbeState {
    target: NodeId,
    seq: u64,
    started_ms: u64,
    indirect_at: Instant,
    deadline: Instant,
    probers: Vec<NodeId>,
}

#[derive(Debug, Clone)]
struct Suspicion {
    incarnation: u64,
    started: Instant,
    /// When this node's own first probe of the subject went unanswered (`u64::MAX` while it
    /// has not probed it): the evidence a failure it declares rests on.
    first_failed_ms: u64,
    confirmers: BTreeSet<NodeId>,
    probers: Vec<NodeId>,
    /// Whether this node's own probes failed (only then may it declare the failure).
    mine: bool,
    /// Times this node asked a peer for the outcome of a suspicion it heard of and that
    /// outlived every suspicion timeout (see `pull_overdue`).
    pulls: u8,
}

#[derive(Debug, Clone)]
struct Identity {
    contract: ContractId,
    pledged_bytes: u64,
    clock: (Instant, u64),
    since: Instant,
}

const MAX_RELAYS: usize = 1024;
/// Follow-up digests a node may send per anti-entropy interval while deltas arrive full: the
/// Scuttlebutt receiver asking for more at once when it is behind, instead of one budget's
/// worth per interval (a joining node then catches up within a period, not dozens).
const CATCH_UP_ROUNDS: u32 = 16;
/// Peers whose last digest range is remembered.
const MAX_AE_RANGES: usize = 64;
/// Members per fingerprint bucket a node aims for when it picks the number of buckets.
const FINGERPRINT_BUCKET_MEMBERS: usize = 8;
/// Most (peer, member) pairs remembered as given lately.
const MAX_GIVEN: usize = 1 << 16;
/// Times a node asks for the outcome of one overdue suspicion.
const MAX_PULLS: u8 = 3;
/// Most overdue suspicions asked about in one period.
const MAX_PULLED: usize = 16;
/// Most digests one fingerprint message is answered with.
const MAX_FINGERPRINT_RUNS: usize = 4;

/// One node's gossip layer. Feed it messages and timer ticks; drain its transmits and events.
///
/// It never reads a clock, owns a socket or draws OS randomness: `now` is passed in, wall time is
/// anchored once at [`Gossip::join`], and randomness comes from the seed.
pub struct Gossip {
    config: Config,
    keypair: Keypair,
    me: NodeId,
    rng: ChaCha20Rng,
    pool: Pool,
    cache: VerifiedCache,
    /// Whether `cache` is shared with other identities (see [`Gossip::with_cache`]).
    cache_shared: bool,
    validator: Box<dyn FaultValidator + Send + Sync>,
    broadcasts: BroadcastQueue,
    outbox: VecDeque<(NodeId, Message)>,
    events: VecDeque<Event>,
    identity: Option<Identity>,
    incarnation: u64,
    left: bool,
    seq: u64,
    probe: Option<ProbeState>,
    /// The target and sequence of the last probe an ack answered (its duplicates are benign).
    last_acked: Option<(NodeId, u64)>,
    next_probe_at: Option<Instant>,
    /// Anti-entropy runs on its own clock, not scaled by local health: a node that Lifeguard
    /// slowed down (a degraded node, or one whose probes failed during a partition) is the one
    /// that most needs to catch up, and a digest accuses nobody.
    next_anti_entropy_at: Option<Instant>,
    periods: u64,
    relays: BTreeMap<(NodeId, u64), (NodeId, Instant)>,
    /// Pairwise probe MAC keys, when probes carry MACs (bounded by `probe::MAX_PAIR_KEYS`).
    pair_keys: BTreeMap<NodeId, subspace_crypto::pairwise::PairKey>,
    suspicions: BTreeMap<NodeId, Suspicion>,
    local_health: u32,
    /// The id range of the last digest sent to each peer, so that a delta cut at the byte
    /// budget can be followed by another digest of the same range (bounded, oldest dropped).
    ae_ranges: BTreeMap<NodeId, (NodeId, NodeId)>,
    /// Entries given whole to a peer lately: (peer, member) → (summary given, until when it
    /// is not given again); bounded by [`MAX_GIVEN`].
    given: BTreeMap<(NodeId, NodeId), (Summary, Instant)>,
    /// Follow-up digests left in this anti-entropy interval.
    catch_up_left: u32,
    /// Statements anti-entropy taught this node since its last exchange began: while it is
    /// catching up (just joined, or a partition healed) it exchanges every period.
    ae_news: usize,
    stats: Stats,
}

impl core::fmt::Debug for Gossip {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Gossip")
            .field("me", &self.me)
            .field("members", &self.pool.len())
            .field("incarnation", &self.incarnation)
            .field("local_health", &self.local_health)
            .finish_non_exhaustive()
    }
}

mod anti_entropy;
mod ingest;
mod probe;

use anti_entropy::id_slice;

impl Gossip {
    /// A node with identity `keypair`, not yet joined; all its randomness derives from `rng_seed`.
    pub fn new(config: Config, keypair: Keypair, rng_seed: u64) -> Gossip {
        let mut rng = ChaCha20Rng::seed_from_u64(rng_seed);
        let seq = rng.next_u64() >> 1;
        Gossip {
            pool: Pool::new(config.max_members, config.max_statements_per_member),
            broadcasts: BroadcastQueue::new(config.max_broadcasts),
            cache: VerifiedCache::new(4096),
            cache_shared: false,
            me: keypair.node_id(),
            keypair,
            rng,
            validator: Box::new(RejectAllFaults),
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            identity: None,
            incarnation: 0,
            left: false,
            seq,
            probe: None,
            last_acked: None,
            next_probe_at: None,
            next_anti_entropy_at: None,
            periods: 0,
            relays: BTreeMap::new(),
            pair_keys: BTreeMap::new(),
            suspicions: BTreeMap::new(),
            local_health: 0,
            ae_ranges: BTreeMap::new(),
            given: BTreeMap::new(),
            catch_up_left: CATCH_UP_ROUNDS,
            ae_news: 0,
            stats: Stats::default(),
            config,
        }
    }

    /// Shares a verified-signature cache with other identities of the same operator in the
    /// same process: each signature is then verified once per process instead of once per
    /// node (every statement verified is recorded, not only those the pool does not keep).
    /// Every node holds a private cache otherwise. Never share a cache with a node you do not
    /// run: it would accept what the other recorded without checking it.
    pub fn with_cache(mut self, cache: VerifiedCache) -> Gossip {
        self.cache = cache;
        self.cache_shared = true;
        self
    }

    /// Installs the oracle that weighs members by the pledge their chain backs (by default
    /// [`ClaimedPledges`]: what each join claims, for networks without a chain). The pool's
    /// eviction uses it too: under pressure, members it gives no weight go first.
    pub fn with_pledges(mut self, oracle: impl PledgeOracle + Send + Sync + 'static) -> Gossip {
        self.pool.set_pledges(oracle);
        self
    }

    /// Installs the checker for fault proofs (by default every fault is rejected).
    pub fn with_fault_validator(
        mut self,
        v: impl FaultValidator + Send + Sync + 'static,
    ) -> Gossip {
        self.validator = Box::new(v);
        self
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.me
    }

    /// This node's current incarnation.
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// Lifeguard's local health multiplier (0 = healthy); timeouts scale by `1 + lhm`.
    pub fn local_health(&self) -> u32 {
        self.local_health
    }

    /// Counters of rejected input and bounded-queue drops.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats;
        s.broadcasts_dropped = self.broadcasts.dropped;
        s.members_evicted = self.pool.evicted_members;
        s.statements_trimmed = self.pool.dropped_statements;
        s
    }

    /// The membership pool (read-only).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The view of one member.
    pub fn member(&self, node: &NodeId) -> Option<MemberInfo> {
        self.pool.member(node)
    }

    /// Ids of members currently alive or suspected (this node included), in id order.
    pub fn live_members(&self) -> Vec<NodeId> {
        self.pool
            .iter()
            .filter(|(_, m)| m.status().is_live())
            .map(|(n, _)| *n)
            .collect()
    }

    /// Broadcasts waiting to be piggy-backed.
    pub fn pending_broadcasts(&self) -> usize {
        self.broadcasts.len()
    }

    /// The Unix time in milliseconds corresponding to `now` (0 before joining).
    pub fn unix_ms(&self, now: Instant) -> u64 {
        match &self.identity {
            Some(id) => {
                let (at, ms) = id.clock;
                let d = now.saturating_duration_since(at).as_millis();
                ms.saturating_add(u64::try_from(d).unwrap_or(u64::MAX))
            }
            None => 0,
        }
    }

    /// Accrued online time of `host` within `interval`, from the signed history this node
    /// holds, with 24 hours deducted per proven fault. Deterministic: nodes holding the same
    /// statements agree to the millisecond.
    pub fn uptime(&self, host: &NodeId, interval: Interval) -> Duration {
        Duration::from_millis(self.pool.uptime_ms(host, interval))
    }

    /// Up to `n` distinct members drawn uniformly from those alive (self excluded).
    pub fn sample(&self, n: usize, rng: &mut impl RngCore) -> Vec<NodeId> {
        sampling::uniform(self.alive_others(), n, rng)
    }

    /// Up to `n` distinct alive members (self excluded), each draw proportional to pledged
    /// space among those not yet drawn: the space the installed [`PledgeOracle`] vouches for
    /// (by default what each member claims; with a chain, its host contract's, so a member
    /// no contract backs is never drawn).
    pub fn sample_weighted(&self, n: usize, rng: &mut impl RngCore) -> Vec<NodeId> {
        let items = self
            .pool
            .iter()
            .filter(|(id, m)| **id != self.me && m.status() == Status::Alive)
            .map(|(id, _)| (*id, self.pool.weight(id)))
            .collect();
        sampling::weighted(items, n, rng)
    }

    /// Up to `k` distinct live members other than this node and `not`, drawn uniformly among
    /// those passing `keep`.
    fn pick_live(
        &mut self,
        k: usize,
        not: &[NodeId],
        keep: impl Fn(Status) -> bool,
    ) -> Vec<NodeId> {
        self.pick(Pool::live, k, not, keep)
    }

    /// Up to `k` distinct members of the sorted index `list` (the live or the down members)
    /// other than this node and `not`, drawn uniformly among those passing `keep`: by random
    /// rank (no walk of the pool) while that finds enough, else by a scan.
    fn pick(
        &mut self,
        list: fn(&Pool) -> &SortedIds,
        k: usize,
        not: &[NodeId],
        keep: impl Fn(Status) -> bool,
    ) -> Vec<NodeId> {
        let len = list(&self.pool).len();
        let mut out: Vec<NodeId> = Vec::with_capacity(k);
        let mut tries = 4 * k + 8;
        while out.len() < k && tries > 0 && len > 0 {
            tries -= 1;
            let at = sampling::below(&mut self.rng, len as u64) as usize;
            let Some(id) = list(&self.pool).get(at).copied() else {
                break;
            };
            let ok = id != self.me
                && !not.contains(&id)
                && !out.contains(&id)
                && self.pool.get(&id).is_some_and(|m| keep(m.status()));
            if ok {
                out.push(id);
            }
        }
        if out.len() == k {
            return out;
        }
        let rest: Vec<NodeId> = list(&self.pool)
            .iter()
            .filter(|id| {
                **id != self.me
                    && !not.contains(id)
                    && self.pool.get(id).is_some_and(|m| keep(m.status()))
            })
            .copied()
            .collect();
        sampling::uniform(rest, k, &mut self.rng)
    }

    fn alive_others(&self) -> Vec<NodeId> {
        self.pool
            .iter()
            .filter(|(id, m)| **id != self.me && m.status() == Status::Alive)
            .map(|(id, _)| *id)
            .collect()
    }

    fn live_others(&self) -> Vec<NodeId> {
        self.pool
            .iter()
            .filter(|(id, m)| **id != self.me && m.status().is_live())
            .map(|(id, _)| *id)
            .collect()
    }

    /// Joins the network: anchors wall time (`unix_ms` is the Unix time at `now`), signs a join
    /// for `contract` pledging `pledged_bytes`, and contacts `seeds` (whose keys need not be
    /// known). The incarnation starts at `unix_ms`, so a restarted node outranks its old self.
    pub fn join(
        &mut self,
        now: Instant,
        unix_ms: u64,
        contract: ContractId,
        pledged_bytes: u64,
        seeds: &[NodeId],
    ) -> Result<()> {
        self.identity = Some(Identity {
            contract,
            pledged_bytes,
            clock: (now, unix_ms),
            since: now,
        });
        self.left = false;
        self.incarnation = self.incarnation.max(unix_ms);
        let join = self.sign_join(now)?;
        let me = self.me;
        let seeds: Vec<NodeId> = seeds.iter().filter(|s| **s != me).copied().collect();
        self.catch_up_left = CATCH_UP_ROUNDS;
        for (i, seed) in seeds.iter().enumerate() {
            // Each seed is asked for its own slice of the id space, so that their answers
            // do not repeat each other.
            let (from, to) = id_slice(i, seeds.len());
            let digest = self.digest_range(*seed, from, to);
            self.send(
                *seed,
                Message {
                    body: Body::Digest(digest),
                    piggyback: vec![join.clone()],
                },
            );
        }
        let period_ms = self.period_ms().max(1);
        let jitter = sampling::below(&mut self.rng, period_ms);
        self.next_probe_at = Some(self.period_boundary(now, 1));
        // A new node has everything to learn: its first exchange comes one period in.
        self.next_anti_entropy_at =
            Some(now + Duration::from_millis(jitter) + self.config.protocol_period);
        Ok(())
    }

    /// Leaves gracefully: signs a leave (stopping this host's clock now), tells a few members,
    /// and stops probing.
    pub fn leave(&mut self, now: Instant) -> Result<()> {
        if self.identity.is_none() {
            return Err(GossipError::NotJoined);
        }
        let st = Statement::Leave(Leave {
            node: self.me,
            incarnation: self.incarnation,
            at_ms: self.unix_ms(now),
        });
        let signed = st.sign(&self.keypair)?;
        self.accept_own(signed.clone())?;
        let k = self.config.indirect_probes.max(1) + 1;
        let peers = sampling::uniform(self.live_others(), k, &mut self.rng);
        for p in peers {
            self.send(
                p,
                Message {
                    body: Body::News,
                    piggyback: vec![signed.clone()],
                },
            );
        }
        self.left = true;
        self.probe = None;
        self.next_probe_at = None;
        self.next_anti_entropy_at = None;
        Ok(())
    }

    /// Reports a fault by `host`, proven by `proof` (checked with the installed validator),
    /// and gossips it.
    pub fn report_fault(&mut self, now: Instant, host: NodeId, proof: Vec<u8>) -> Result<()> {
        if self.identity.is_none() {
            return Err(GossipError::NotJoined);
        }
        let st = Statement::Fault(Fault {
            about: host,
            by: self.me,
            at_ms: self.unix_ms(now),
            proof,
        });
        st.check_shape()?;
        let signed = st.sign(&self.keypair)?;
        self.accept(now, signed, true).map(|_| ())
    }

    /// The next message to send, if any.
    pub fn poll_transmit(&mut self) -> Option<(NodeId, Message)> {
        self.outbox.pop_front()
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Gossip::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.left || self.identity.is_none() {
            return None;
        }
        let mut t = self.next_probe_at;
        let mut take = |x: Instant| {
            t = Some(t.map_or(x, |c| c.min(x)));
        };
        if let Some(x) = self.next_anti_entropy_at {
            take(x);
        }
        if let Some(p) = &self.probe {
            if p.probers.is_empty() {
                take(p.indirect_at);
            }
            take(p.deadline);
        }
        let n = self.pool.len();
        for s in self.suspicions.values().filter(|s| s.mine) {
            take(s.started + self.suspicion_timeout(n, s.confirmers.len()));
        }
        t
    }

    fn anti_entropy_interval(&self) -> Duration {
        self.config.protocol_period * self.config.anti_entropy_every.max(1)
    }

    /// The instant `periods` protocol-period boundaries of wall time ahead of `now` (the first
    /// boundary is the next one strictly after `now`). Every node probes on the same
    /// boundaries, which is what lets [`Gossip::scheduled_target`] cover every member once a
    /// period.
    fn period_boundary(&self, now: Instant, periods: u32) -> Instant {
        let p = self.period_ms().max(1);
        let unix = self.unix_ms(now);
        let next = (unix / p)
            .saturating_add(u64::from(periods.max(1)))
            .saturating_mul(p);
        now + Duration::from_millis(next.saturating_sub(unix))
    }

    fn period_ms(&self) -> u64 {
        u64::try_from(self.config.protocol_period.as_millis()).unwrap_or(u64::MAX)
    }

    fn scaled(&self, d: Duration) -> Duration {
        d * (1 + self.local_health)
    }

    /// Lifeguard's suspicion timeout after `c` independent confirmations in a pool of `n`.
    fn suspicion_timeout(&self, n: usize, c: usize) -> Duration {
        let log_n = (n.max(1) as f64).log10().max(1.0);
        let min = self.config.protocol_period.as_secs_f64()
            * f64::from(self.config.suspicion_alpha)
            * log_n;
        let max = min * f64::from(self.config.suspicion_beta.max(1));
        let k = self.config.indirect_probes.max(1) as f64;
        let frac = ((c as f64) + 1.0).ln() / (k + 1.0).ln();
        let t = (max - (max - min) * frac).max(min);
        // Whole milliseconds, so that a caller's millisecond timer never wakes just short of it.
        Duration::from_millis((t * 1000.0).ceil() as u64)
    }

    fn retransmit_limit(&self) -> u32 {
        let mut n = self.pool.len();
        let mut digits = 0u32;
        while n > 0 {
            n /= 10;
            digits += 1;
        }
        self.config.retransmit_mult.max(1) * digits.max(1)
    }

    fn lhm_up(&mut self) {
        self.local_health = (self.local_health + 1).min(self.config.max_local_health);
    }

    fn lhm_down(&mut self) {
        self.local_health = self.local_health.saturating_sub(1);
    }

    fn send(&mut self, to: NodeId, msg: Message) {
        self.outbox.push_back((to, msg));
        while self.outbox.len() > self.config.max_queue {
            self.outbox.pop_front();
            self.stats.transmits_dropped += 1;
        }
    }

    fn emit(&mut self, ev: Event) {
        self.events.push_back(ev);
        while self.events.len() > self.config.max_queue {
            self.events.pop_front();
            self.stats.events_dropped += 1;
        }
    }

    /// Drives probes, suspicion timers and anti-entropy; call at [`Gossip::poll_timeout`].
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.left || self.identity.is_none() {
            return;
        }
        self.tick(now);
    }

    /// Counts a failure of one of our own steps (only our own encodings can fail) and goes on,
    /// so that one failed step never leaves a timer in the past.
    fn step(&mut self, r: Result<()>) {
        if r.is_err() {
            self.stats.messages_rejected += 1;
        }
    }

    fn tick(&mut self, now: Instant) {
        self.probe_timers(now);
        // Next probe.
        if self.next_probe_at.is_some_and(|t| now >= t) {
            self.periods += 1;
            self.next_probe_at = Some(self.period_boundary(now, 1 + self.local_health));
            let r = self.start_probe(now);
            self.step(r);
            self.gossip_to_the_dead();
            self.pull_overdue(now);
            if self.periods.is_multiple_of(16) {
                self.expire(now);
            }
        }
        if self.next_anti_entropy_at.is_some_and(|t| now >= t) {
            let every = if self.ae_news > 0 {
                self.config.protocol_period
            } else {
                self.anti_entropy_interval()
            };
            self.next_anti_entropy_at = Some(now + every);
            self.catch_up_left = CATCH_UP_ROUNDS;
            self.ae_news = 0;
            self.start_anti_entropy();
        }
    }

    fn expire(&mut self, now: Instant) {
        let interval = u64::try_from(self.config.contract_interval.as_millis()).unwrap_or(u64::MAX);
        let horizon = self.unix_ms(now).saturating_sub(interval);
        if horizon == 0 {
            return;
        }
        for gone in self.pool.expire(horizon) {
            self.suspicions.remove(&gone);
        }
        self.relays.retain(|_, (_, exp)| *exp > now);
    }

    /// Handles a message from `from` (the transport's authenticated sender).
    pub fn handle_message(&mut self, now: Instant, from: NodeId, msg: Message) -> Result<()> {
        if self.identity.is_none() {
            return Err(GossipError::NotJoined);
        }
        let r = self.dispatch(now, from, msg);
        if r.is_err() {
            self.stats.messages_rejected += 1;
        }
        r
    }

    /// Decodes `bytes` and handles them as [`Gossip::handle_message`] does.
    pub fn handle_bytes(&mut self, now: Instant, from: NodeId, bytes: &[u8]) -> Result<()> {
        match Message::decode(bytes) {
            Ok(m) => self.handle_message(now, from, m),
            Err(e) => {
                self.stats.messages_rejected += 1;
                Err(e)
            }
        }
    }

    fn dispatch(&mut self, now: Instant, from: NodeId, msg: Message) -> Result<()> {
        let rebroadcast = !matches!(msg.body, Body::Delta { .. });
        let me = self.me;
        let about_me = |s: &Signed| match &s.statement {
            Statement::Suspect(x) => x.about == me,
            Statement::Failure(x) => x.about == me,
            _ => false,
        };
        let mut told_me_down = msg.piggyback.iter().any(about_me);
        if let Body::Delta { statements, .. } = &msg.body {
            told_me_down |= statements.iter().any(about_me);
        }
        self.accept_all(now, msg.piggyback, rebroadcast);
        if self.left {
            return Ok(());
        }
        let r = self.dispatch_body(now, from, msg.body);
        self.answer_partition(from, told_me_down);
        r
    }

    fn dispatch_body(&mut self, now: Instant, from: NodeId, body: Body) -> Result<()> {
        match body {
            Body::News => Ok(()),
            Body::Ping(hop) => self.on_ping(now, from, hop),
            Body::PingReq(hop) => self.on_ping_req(now, from, hop),
            Body::IndirectPing(hop) => self.on_indirect_ping(now, from, hop),
            Body::Ack(a) => self.on_ack(now, from, a),
            Body::Digest(d) => {
                self.on_digest(now, from, d);
                Ok(())
            }
            Body::Fingerprints(f) => self.on_fingerprints(from, f),
            Body::Delta { statements, want } => {
                self.on_delta(now, from, statements, want);
                Ok(())
            }
        }
    }
}
