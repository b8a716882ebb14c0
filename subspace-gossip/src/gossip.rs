//! The sans-IO gossip state machine: SWIM + Lifeguard probing, dissemination, anti-entropy.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use subspace_crypto::{ContractId, Hash256, Keypair, NodeId, PublicKey, domain, verify_batch};

use crate::broadcast::BroadcastQueue;
use crate::cache::VerifiedCache;
use crate::config::Config;
use crate::fault::{FaultValidator, RejectAllFaults};
use crate::index::SortedIds;
use crate::message::{
    Ack, Body, Digest, DigestEntry, Fingerprints, MAX_FINGERPRINT_BITS, Message, Probe, SignedProbe,
};
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

impl Gossip {
    /// A node with identity `keypair`, not yet joined; all its randomness derives from `rng_seed`.
    pub fn new(config: Config, keypair: Keypair, rng_seed: u64) -> Gossip {
        let mut rng = ChaCha20Rng::seed_from_u64(rng_seed);
        let seq = rng.next_u64() >> 1;
        Gossip {
            pool: Pool::new(config.max_members, config.max_statements_per_member),
            broadcasts: BroadcastQueue::new(config.max_broadcasts),
            cache: VerifiedCache::new(4096),
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
    /// node. Every node holds a private cache otherwise; the crate's simulations use those.
    pub fn with_cache(mut self, cache: VerifiedCache) -> Gossip {
        self.cache = cache;
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
    /// space among those not yet drawn.
    pub fn sample_weighted(&self, n: usize, rng: &mut impl RngCore) -> Vec<NodeId> {
        let items = self
            .pool
            .iter()
            .filter(|(id, m)| **id != self.me && m.status() == Status::Alive)
            .map(|(id, m)| (*id, m.join.pledged_bytes))
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

    /// Whom this node probes in the period holding `now`. The live members, this node
    /// included, form a ring in id order; in wall-time period `t` every node probes the member
    /// `d(t)` places after itself, `d(t)` being drawn from `t` alone. While the nodes' views
    /// agree this is a permutation: every live member is probed by exactly one node each
    /// period, so a crash is noticed by the first probe after it, less than a period later,
    /// and that is when the host's clock stops. Over successive periods each node still
    /// meets members spread over the whole ring, and a suspect is probed each period by a
    /// different node, each failure an independent confirmation. Where views differ (members
    /// joining or leaving), a node whose ring has one member more or fewer lands within two
    /// places of its scheduled target: `d(t)` is scaled to the ring's size, not reduced
    /// modulo it. Such a period can leave a member unprobed, as can a prober that Lifeguard
    /// slowed down (it skips periods) or that died; the next period has another prober.
    /// Clocks need only agree to well within a period: a node whose clock runs `ε` ahead
    /// probes `ε` early but still in the same period `t`; one off by a period or more
    /// probes off schedule (someone, just not its scheduled target).
    fn scheduled_target(&self, now: Instant) -> Option<NodeId> {
        let t = self.unix_ms(now) / self.period_ms().max(1);
        ring_target(self.pool.live(), &self.me, t)
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

    /// Piggy-backed news for a message to `to`: a new node's own join, the statement that made
    /// `to` suspect (Lifeguard's buddy system, so it can refute at once), then queued news.
    fn piggyback(&mut self, to: Option<NodeId>, now: Instant) -> Vec<Signed> {
        let mut out = Vec::new();
        let mut budget = self.config.max_piggyback_bytes;
        let grace = self.config.protocol_period * 32;
        if let Some(id) = &self.identity
            && now.saturating_duration_since(id.since) < grace
            && let Some(j) = self.latest_join(&self.me)
        {
            budget = budget.saturating_sub(j.encoded_len());
            out.push(j);
        }
        if let Some(s) = to.and_then(|to| self.bad_news(&to)) {
            budget = budget.saturating_sub(s.encoded_len());
            out.push(s);
        }
        let limit = self.retransmit_limit();
        out.extend(self.broadcasts.take(budget, limit));
        out
    }

    /// The statement that makes `node` suspect or failed in our view, if it is: what it must
    /// hear to refute (Lifeguard's buddy system, extended to failures so a healed partition's
    /// members learn of their own failure from the first message they get from the other side).
    fn bad_news(&self, node: &NodeId) -> Option<Signed> {
        let m = self.pool.get(node)?;
        let inc = m.incarnation();
        m.statements()
            .filter(|s| match (&s.statement, m.status()) {
                (Statement::Suspect(x), Status::Suspect) => x.incarnation == inc,
                (Statement::Failure(x), Status::Failed) => x.incarnation == inc,
                _ => false,
            })
            .last()
            .cloned()
    }

    fn latest_join(&self, node: &NodeId) -> Option<Signed> {
        let m = self.pool.get(node)?;
        m.statements()
            .filter(|s| matches!(&s.statement, Statement::Join(j) if *j == m.join))
            .last()
            .cloned()
    }

    fn sign_join(&mut self, now: Instant) -> Result<Signed> {
        let id = self.identity.as_ref().ok_or(GossipError::NotJoined)?;
        let st = Statement::Join(Join {
            public_key: self.keypair.public().to_bytes(),
            contract: id.contract,
            pledged_bytes: id.pledged_bytes,
            incarnation: self.incarnation,
            at_ms: self.unix_ms(now),
        });
        let signed = st.sign(&self.keypair)?;
        self.accept_own(signed.clone())?;
        if let Some(id) = &mut self.identity {
            id.since = now;
        }
        Ok(signed)
    }

    fn accept_own(&mut self, signed: Signed) -> Result<()> {
        let id = signed.id()?;
        if let Some(ch) = self.pool.insert(id, signed.clone()) {
            self.on_change(signed.statement.subject(), ch);
        }
        self.broadcasts.push(signed);
        Ok(())
    }

    // ---------------------------------------------------------------- timers

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
        // Indirect probes once the direct one timed out.
        let indirect = match &self.probe {
            Some(p) if p.probers.is_empty() && now >= p.indirect_at && now < p.deadline => {
                Some((p.target, p.seq, p.started_ms))
            }
            _ => None,
        };
        if let Some((target, seq, _)) = indirect {
            let k = self.config.indirect_probes;
            let probers = self.pick_live(k, &[target], |s| s == Status::Alive);
            let req = SignedProbe::sign(
                Probe {
                    from: self.me,
                    target,
                    seq,
                },
                &self.keypair,
            );
            // Lifeguard's fallback: ping the target directly once more alongside the indirect
            // probes (memberlist does so over TCP). Under independent loss this alone cuts the
            // probes that end in a false suspicion five-fold, and every false suspicion costs
            // the whole network a suspicion and a refutation to verify.
            if let Ok(ping) = &req {
                let piggyback = self.piggyback(Some(target), now);
                self.send(
                    target,
                    Message {
                        body: Body::Ping(*ping),
                        piggyback,
                    },
                );
            }
            for (p, req) in probers
                .iter()
                .filter_map(|p| req.as_ref().ok().map(|r| (p, *r)))
            {
                let piggyback = self.piggyback(Some(*p), now);
                self.send(
                    *p,
                    Message {
                        body: Body::PingReq(req),
                        piggyback,
                    },
                );
            }
            if let Some(p) = &mut self.probe {
                // A placeholder keeps the "already sent" state even when nobody could be asked.
                p.probers = if probers.is_empty() {
                    vec![self.me]
                } else {
                    probers
                };
            }
        }
        // A probe that got no ack at all: suspect.
        if let Some(p) = self.probe.clone()
            && now >= p.deadline
        {
            self.probe = None;
            self.lhm_up();
            let r = self.suspect(now, p);
            self.step(r);
        }
        // Suspicion timers of our own: declare failed.
        let n = self.pool.len();
        let due: Vec<NodeId> = self
            .suspicions
            .iter()
            .filter(|(_, s)| {
                s.mine && now >= s.started + self.suspicion_timeout(n, s.confirmers.len())
            })
            .map(|(id, _)| *id)
            .collect();
        for node in due {
            if let Some(s) = self.suspicions.remove(&node) {
                let r = self.declare_failed(now, node, s);
                self.step(r);
            }
        }
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

    /// memberlist's "gossip to the dead": each period, tell one member we hold failed (not left)
    /// that we did. A dead host ignores it; one cut off by a partition that has healed learns
    /// of its failure, refutes, and answers (see `answer_partition`), which is how the halves
    /// find each other again. One small message per period, whatever the number of failures.
    fn gossip_to_the_dead(&mut self) {
        let Some(peer) = self.pick(Pool::down, 1, &[], |s| s == Status::Failed).pop() else {
            return;
        };
        let piggyback: Vec<Signed> = self.bad_news(&peer).into_iter().collect();
        self.send(
            peer,
            Message {
                body: Body::News,
                piggyback,
            },
        );
    }

    /// A suspicion heard from others is asked about once it is older than the shortest
    /// suspicion timeout plus two periods, and again each shortest timeout after (at most
    /// [`MAX_PULLS`] times, [`MAX_PULLED`] members a period): by then it has usually been
    /// decided somewhere (its subject refuted or was declared failed) and the news missed us,
    /// piggy-backing having stopped at its retransmit limit or been crowded out by newer news,
    /// with anti-entropy coming only every few periods. One live member is asked for those
    /// entries; an undecided suspicion costs one small answer.
    fn pull_overdue(&mut self, now: Instant) {
        let n = self.pool.len();
        let shortest = self.suspicion_timeout(n, self.config.indirect_probes.max(1));
        let first = shortest + self.config.protocol_period * 2;
        let want: Vec<NodeId> = self
            .suspicions
            .iter()
            .filter(|(_, s)| {
                !s.mine
                    && s.pulls < MAX_PULLS
                    && now >= s.started + first + shortest * u32::from(s.pulls)
            })
            .map(|(id, _)| *id)
            .take(MAX_PULLED)
            .collect();
        if want.is_empty() {
            return;
        }
        let Some(peer) = self.pick_live(1, &want, |s| s == Status::Alive).pop() else {
            return;
        };
        for id in &want {
            if let Some(s) = self.suspicions.get_mut(id) {
                s.pulls += 1;
            }
        }
        self.send(
            peer,
            Message {
                body: Body::Delta {
                    statements: Vec::new(),
                    want,
                },
                piggyback: Vec::new(),
            },
        );
    }

    fn start_probe(&mut self, now: Instant) -> Result<()> {
        let Some(target) = self.scheduled_target(now) else {
            return Ok(());
        };
        self.seq = self.seq.wrapping_add(1);
        let ping = SignedProbe::sign(
            Probe {
                from: self.me,
                target,
                seq: self.seq,
            },
            &self.keypair,
        )?;
        let piggyback = self.piggyback(Some(target), now);
        self.send(
            target,
            Message {
                body: Body::Ping(ping),
                piggyback,
            },
        );
        self.probe = Some(ProbeState {
            target,
            seq: self.seq,
            started_ms: self.unix_ms(now),
            indirect_at: now + self.scaled(self.config.probe_timeout),
            deadline: now + self.scaled(self.config.protocol_period),
            probers: Vec::new(),
        });
        Ok(())
    }

    fn suspect(&mut self, now: Instant, p: ProbeState) -> Result<()> {
        let Some(m) = self.pool.get(&p.target) else {
            return Ok(());
        };
        if !m.status().is_live() {
            return Ok(());
        }
        let incarnation = m.incarnation();
        let probers: Vec<NodeId> = p.probers.into_iter().filter(|x| *x != self.me).collect();
        let s = self
            .suspicions
            .entry(p.target)
            .or_insert_with(|| Suspicion {
                incarnation,
                started: now,
                first_failed_ms: p.started_ms,
                confirmers: BTreeSet::new(),
                probers: Vec::new(),
                mine: true,
                pulls: 0,
            });
        s.mine = true;
        s.first_failed_ms = s.first_failed_ms.min(p.started_ms);
        s.probers = probers;
        // The members already suspecting it are the ones that may declare it failed, and
        // they do so sooner the more independent confirmations they hold: tell the first k
        // directly rather than hope the piggy-backed copy finds them.
        let k = self.config.indirect_probes.max(1);
        let others: Vec<NodeId> = s.confirmers.iter().take(k).copied().collect();
        let st = Statement::Suspect(Suspect {
            about: p.target,
            incarnation,
            by: self.me,
            at_ms: p.started_ms,
        });
        let signed = st.sign(&self.keypair)?;
        for peer in others {
            self.send(
                peer,
                Message {
                    body: Body::News,
                    piggyback: vec![signed.clone()],
                },
            );
        }
        self.accept(now, signed, true).map(|_| ())
    }

    fn declare_failed(&mut self, now: Instant, node: NodeId, s: Suspicion) -> Result<()> {
        let still = self
            .pool
            .get(&node)
            .is_some_and(|m| m.status() == Status::Suspect && m.incarnation() == s.incarnation);
        if !still {
            return Ok(());
        }
        let mut probers = s.probers;
        probers.truncate(crate::statement::MAX_EVIDENCE_PROBERS);
        let st = Statement::Failure(Failure {
            about: node,
            incarnation: s.incarnation,
            by: self.me,
            at_ms: self.unix_ms(now),
            evidence: Evidence {
                first_failed_probe_ms: s.first_failed_ms.min(self.unix_ms(now)),
                indirect_probers: probers,
                confirmations: u32::try_from(s.confirmers.len()).unwrap_or(u32::MAX),
            },
        });
        let signed = st.sign(&self.keypair)?;
        self.stats.failures_declared += 1;
        self.accept(now, signed, true).map(|_| ())
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

    // ---------------------------------------------------------------- anti-entropy

    /// A digest of the members in `[from, to]`, cut at `max_digest_entries` (the range then
    /// ending at the last entry it holds).
    fn digest_of(&self, from: NodeId, to: NodeId) -> Digest {
        self.digest_of_at_most(from, to, self.config.max_digest_entries)
    }

    /// As [`Self::digest_of`], cut at `max` entries.
    fn digest_of_at_most(&self, from: NodeId, to: NodeId, max: usize) -> Digest {
        let max = max.max(1);
        let entries: Vec<DigestEntry> = self
            .pool
            .range(from)
            .take_while(|(n, _)| **n <= to)
            .take(max)
            .map(|(n, m)| DigestEntry {
                node: *n,
                summary: m.summary,
            })
            .collect();
        let to = match entries.last() {
            Some(last) if entries.len() >= max => last.node,
            _ => to,
        };
        Digest { from, to, entries }
    }

    /// A digest of the members in `[from, to]` for `peer` (see [`Self::digest_of`]),
    /// remembered for follow-ups.
    fn digest_range(&mut self, peer: NodeId, from: NodeId, to: NodeId) -> Digest {
        let digest = self.digest_of(from, to);
        self.remember_range(peer, digest.from, digest.to);
        digest
    }

    fn remember_range(&mut self, peer: NodeId, from: NodeId, to: NodeId) {
        self.ae_ranges.insert(peer, (from, to));
        while self.ae_ranges.len() > MAX_AE_RANGES {
            self.ae_ranges.pop_first();
        }
    }

    fn start_anti_entropy(&mut self) {
        // Mostly a live member; every third round one that is down, so that a healed
        // partition finds its way back (its members refute once they hear of their failure).
        let pick_down = self.pool.down().iter().any(|d| *d != self.me)
            && sampling::below(&mut self.rng, 3) == 0;
        let peer = if pick_down {
            self.pick(Pool::down, 1, &[], |_| true).pop()
        } else {
            self.pick_live(1, &[], Status::is_live).pop()
        };
        let Some(peer) = peer else {
            return;
        };
        // Fingerprints of buckets holding about eight members each: in steady state the
        // whole exchange is this one message, 1 KiB at 1,000 members.
        let buckets = self.pool.len().div_ceil(FINGERPRINT_BUCKET_MEMBERS).max(1);
        let bits = (usize::BITS - (buckets - 1).leading_zeros()) as u8;
        let bits = bits.min(MAX_FINGERPRINT_BITS);
        let buckets = self.pool.fingerprints(bits);
        self.send(
            peer,
            Message {
                body: Body::Fingerprints(Fingerprints { bits, buckets }),
                piggyback: Vec::new(),
            },
        );
    }

    /// Answers fingerprints: a digest of each run of buckets that differ (at most
    /// [`MAX_FINGERPRINT_RUNS`] runs, the last one stretched over the rest, and
    /// `max_digest_entries` entries in all), after which the Scuttlebutt legs go as usual.
    fn on_fingerprints(&mut self, from: NodeId, f: Fingerprints) -> Result<()> {
        if !f.is_well_formed() {
            return Err(GossipError::Malformed("fingerprint buckets".into()));
        }
        let mine = self.pool.fingerprints(f.bits);
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for (i, (a, b)) in mine.iter().zip(&f.buckets).enumerate() {
            if a == b {
                continue;
            }
            let full = runs.len() == MAX_FINGERPRINT_RUNS;
            match runs.last_mut() {
                Some(r) if r.1 + 1 == i || full => r.1 = i,
                _ => runs.push((i, i)),
            }
        }
        if runs.is_empty() {
            return Ok(());
        }
        let per_run = (self.config.max_digest_entries / runs.len()).max(1);
        for (a, b) in runs {
            let (lo, _) = bucket_range(a, f.bits);
            let (_, hi) = bucket_range(b, f.bits);
            let digest = self.digest_of_at_most(lo, hi, per_run);
            self.remember_range(from, digest.from, digest.to);
            self.send(
                from,
                Message {
                    body: Body::Digest(digest),
                    piggyback: Vec::new(),
                },
            );
        }
        Ok(())
    }

    /// Entries for `nodes`: first every member's headlines (latest join and status-deciding
    /// statement), then the rest of the same entries, each pass oldest news first (or, when
    /// `requested`, in the order the peer asked for them) and cut at the byte budget.
    ///
    /// The two parties come first: what each says about itself and what the other says about
    /// it are what a partitioned node needs to refute and rejoin. Headlines go before whole
    /// entries because the entries of members that many suspected are large: after a healed
    /// partition a budget's worth of old suspicions would otherwise crowd out the refutations.
    fn delta_for(
        &mut self,
        now: Instant,
        peer: NodeId,
        mut nodes: Vec<NodeId>,
        requested: bool,
    ) -> Vec<Signed> {
        // An entry given whole to this peer within the last two periods, unchanged since, is
        // not offered again unasked: the peer holds it, and if its summary still differs it
        // holds more than we do (after a healed partition nearly every entry differs that
        // way, and the follow-up exchanges re-sent every one of them). What the peer asks for
        // by name it gets (it may have lost the delta, or be pulling an overdue suspicion).
        if self.given.len() > MAX_GIVEN / 2 {
            self.given.retain(|_, (_, until)| *until > now);
        }
        if requested {
            // The peer listed what it wants most first; only the two parties go before.
            nodes.sort_by_key(|n| !(*n == peer || *n == self.me));
        } else {
            nodes.retain(|n| {
                let fresh = self
                    .given
                    .get(&(peer, *n))
                    .filter(|(_, until)| *until > now)
                    .map(|(s, _)| *s);
                fresh.is_none() || fresh != self.pool.summary(n)
            });
            nodes.sort_by_cached_key(|n| {
                let party = *n == peer || *n == self.me;
                (!party, self.pool.get(n).map_or(0, |m| m.last_ms), *n)
            });
        }
        let budget = self.config.anti_entropy_budget;
        let mut out = Vec::new();
        let mut used = 0usize;
        let mut whole = Vec::new();
        for n in &nodes {
            let Some(m) = self.pool.get(n) else { continue };
            let head: Vec<&Signed> = m.entry().filter(|(h, _)| *h).map(|(_, s)| s).collect();
            let size: usize = head.iter().map(|s| s.encoded_len()).sum();
            if used + size > budget {
                break;
            }
            used += size;
            out.extend(head.into_iter().cloned());
            whole.push((*n, m));
        }
        let mut sent_whole = Vec::new();
        for (n, m) in whole {
            let rest: Vec<&Signed> = m.entry().filter(|(h, _)| !*h).map(|(_, s)| s).collect();
            let size: usize = rest.iter().map(|s| s.encoded_len()).sum();
            if used + size > budget {
                break;
            }
            used += size;
            out.extend(rest.into_iter().cloned());
            sent_whole.push((n, m.summary));
        }
        if self.given.len() + sent_whole.len() > MAX_GIVEN {
            self.given.clear();
        }
        let until = now + self.config.protocol_period * 2;
        for (n, summary) in sent_whole {
            self.given.insert((peer, n), (summary, until));
        }
        out
    }

    fn on_digest(&mut self, now: Instant, from: NodeId, d: Digest) {
        let mut give = Vec::new();
        let mut want = Vec::new();
        let sorted = d.entries.windows(2).all(|w| w[0].node < w[1].node)
            && d.entries.first().is_none_or(|e| e.node >= d.from)
            && d.entries.last().is_none_or(|e| e.node <= d.to);
        if sorted {
            // An honest digest lists its range in id order: one merge walk against the pool.
            let mut theirs = d.entries.iter().peekable();
            for (n, m) in self.pool.range(d.from).take_while(|(n, _)| **n <= d.to) {
                while let Some(e) = theirs.next_if(|e| e.node < *n) {
                    want.push(e.node);
                }
                match theirs.next_if(|e| e.node == *n) {
                    Some(e) if e.summary == m.summary => {}
                    Some(e) => {
                        give.push(*n);
                        want.push(e.node);
                    }
                    None => give.push(*n),
                }
            }
            want.extend(theirs.map(|e| e.node));
        } else {
            let theirs: BTreeMap<NodeId, _> =
                d.entries.iter().map(|e| (e.node, e.summary)).collect();
            if d.from <= d.to {
                for (n, m) in self.pool.range(d.from) {
                    if *n > d.to {
                        break;
                    }
                    if theirs.get(n) != Some(&m.summary) {
                        give.push(*n);
                    }
                }
            }
            want = d
                .entries
                .iter()
                .filter(|e| self.pool.summary(&e.node) != Some(e.summary))
                .map(|e| e.node)
                .collect();
        }
        if give.is_empty() && want.is_empty() {
            return;
        }
        // A delta we get back for this range may be cut at the budget; remember the range so
        // that we can ask again (see the `Delta` arm), whoever started the exchange.
        if !self.ae_ranges.contains_key(&from) {
            self.remember_range(from, d.from, d.to);
        }
        // What we most need first: members we do not hold, then those we hold down (after a
        // healed partition, the ones whose refutations we missed), then the rest. The answer
        // keeps this order, so a budget-cut delta brings what changes a status before history.
        want.sort_by_cached_key(|n| match self.pool.get(n) {
            None => 0u8,
            Some(m) if !m.status().is_live() => 1,
            Some(_) => 2,
        });
        let statements = self.delta_for(now, from, give, false);
        self.send(
            from,
            Message {
                body: Body::Delta { statements, want },
                piggyback: Vec::new(),
            },
        );
    }

    // ---------------------------------------------------------------- messages

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

    /// Closes a healed partition pairwise. A member that told us we are suspect or failed gets
    /// our latest join at once (fresh from the refutation, or already newer than its news), and
    /// a member we hold failed that reached us gets the failure, so it refutes and answers with
    /// its own join: the two sides restore each other in one round trip instead of waiting for
    /// the news to be piggy-backed across.
    fn answer_partition(&mut self, from: NodeId, told_me_down: bool) {
        if from == self.me {
            return;
        }
        let mut piggyback = Vec::new();
        if told_me_down {
            piggyback.extend(self.latest_join(&self.me));
        }
        if self
            .pool
            .get(&from)
            .is_some_and(|m| m.status() == Status::Failed)
        {
            piggyback.extend(self.bad_news(&from));
        }
        if !piggyback.is_empty() {
            self.send(
                from,
                Message {
                    body: Body::News,
                    piggyback,
                },
            );
        }
    }

    fn dispatch_body(&mut self, now: Instant, from: NodeId, body: Body) -> Result<()> {
        match body {
            Body::News => Ok(()),
            Body::Ping(p) => {
                if p.body.from != from || p.body.target != self.me {
                    return Err(GossipError::SenderMismatch);
                }
                if let Err(e) = self.verify_probe(&p) {
                    if e == GossipError::UnknownSigner {
                        // Ask for its entry; its indirect probes will carry its join meanwhile.
                        self.send(
                            from,
                            Message {
                                body: Body::Delta {
                                    statements: Vec::new(),
                                    want: vec![from],
                                },
                                piggyback: self.latest_join(&self.me).into_iter().collect(),
                            },
                        );
                    }
                    return Err(e);
                }
                let ack = self.sign_ack(from, p.body.seq)?;
                let piggyback = self.piggyback(Some(from), now);
                self.send(
                    from,
                    Message {
                        body: Body::Ack(ack),
                        piggyback,
                    },
                );
                Ok(())
            }
            Body::PingReq(p) => {
                if p.body.from != from || p.body.target == self.me {
                    return Err(GossipError::SenderMismatch);
                }
                self.verify_probe(&p)?;
                if self.relays.len() >= MAX_RELAYS {
                    self.relays.pop_first();
                }
                let exp = now + self.scaled(self.config.protocol_period);
                self.relays.insert((from, p.body.seq), (p.body.target, exp));
                // Carry the requester's join so a target that has not heard of it can verify.
                let mut piggyback: Vec<Signed> = self.latest_join(&from).into_iter().collect();
                piggyback.extend(self.piggyback(Some(p.body.target), now));
                self.send(
                    p.body.target,
                    Message {
                        body: Body::IndirectPing(p),
                        piggyback,
                    },
                );
                Ok(())
            }
            Body::IndirectPing(p) => {
                if p.body.target != self.me {
                    return Err(GossipError::SenderMismatch);
                }
                self.verify_probe(&p)?;
                let ack = self.sign_ack(p.body.from, p.body.seq)?;
                let piggyback = self.piggyback(Some(from), now);
                self.send(
                    from,
                    Message {
                        body: Body::Ack(ack),
                        piggyback,
                    },
                );
                // The same signed ack straight to the requester too: a second path home for
                // the one message that decides whether we are suspected.
                if p.body.from != from {
                    self.send(
                        p.body.from,
                        Message {
                            body: Body::Ack(ack),
                            piggyback: Vec::new(),
                        },
                    );
                }
                Ok(())
            }
            Body::Ack(a) => self.on_ack(now, from, a),
            Body::Digest(d) => {
                self.on_digest(now, from, d);
                Ok(())
            }
            Body::Fingerprints(f) => self.on_fingerprints(from, f),
            Body::Delta { statements, want } => {
                let size: usize = statements.iter().map(Signed::encoded_len).sum();
                let news = self.accept_all(now, statements, false);
                self.ae_news += news;
                // A delta filling most of the budget was probably cut: if it taught us
                // something, ask the same peer about the same range again right away.
                let cut = size * 2 >= self.config.anti_entropy_budget;
                if news > 0
                    && cut
                    && self.catch_up_left > 0
                    && let Some(&(a, b)) = self.ae_ranges.get(&from)
                {
                    self.catch_up_left -= 1;
                    let digest = self.digest_range(from, a, b);
                    self.send(
                        from,
                        Message {
                            body: Body::Digest(digest),
                            piggyback: Vec::new(),
                        },
                    );
                }
                if !want.is_empty() {
                    let statements = self.delta_for(now, from, want, true);
                    if !statements.is_empty() {
                        self.send(
                            from,
                            Message {
                                body: Body::Delta {
                                    statements,
                                    want: Vec::new(),
                                },
                                piggyback: Vec::new(),
                            },
                        );
                    }
                }
                Ok(())
            }
        }
    }

    fn sign_ack(&self, to: NodeId, seq: u64) -> Result<SignedProbe<Ack>> {
        SignedProbe::sign(
            Ack {
                from: self.me,
                to,
                seq,
                incarnation: self.incarnation,
            },
            &self.keypair,
        )
    }

    fn verify_probe(&mut self, p: &SignedProbe<Probe>) -> Result<()> {
        let key = self
            .pool
            .key_of(&p.body.from)
            .ok_or(GossipError::UnknownSigner)?;
        self.stats.signatures_verified += 1;
        p.verify(&key)
    }

    fn on_ack(&mut self, now: Instant, from: NodeId, a: SignedProbe<Ack>) -> Result<()> {
        if a.body.to == self.me {
            let matches = self.probe.as_ref().is_some_and(|p| {
                p.target == a.body.from && p.seq == a.body.seq && now < p.deadline
            });
            if !matches {
                // A second copy of the ack that already answered our probe (the direct and the
                // relayed path both delivered) is no fault of the sender.
                if self.last_acked == Some((a.body.from, a.body.seq)) {
                    return Ok(());
                }
                return Err(GossipError::UnexpectedAck);
            }
            let key = self
                .pool
                .key_of(&a.body.from)
                .ok_or(GossipError::UnknownSigner)?;
            self.stats.signatures_verified += 1;
            a.verify(&key)?;
            self.probe = None;
            self.last_acked = Some((a.body.from, a.body.seq));
            self.lhm_down();
            return Ok(());
        }
        // Relay for a requester whose indirect probe we carried.
        match self.relays.get(&(a.body.to, a.body.seq)) {
            Some((target, _)) if *target == a.body.from && from == a.body.from => {
                self.relays.remove(&(a.body.to, a.body.seq));
                self.send(
                    a.body.to,
                    Message {
                        body: Body::Ack(a),
                        piggyback: Vec::new(),
                    },
                );
                Ok(())
            }
            _ => Err(GossipError::UnexpectedAck),
        }
    }

    /// Accepts what verifies; returns how many statements were news.
    ///
    /// The signatures still to check are checked as one batch (a delta carries hundreds, and a
    /// batch costs about half as much per signature); if the batch fails, each is checked on
    /// its own, which finds the bad ones. Both use [`verify_batch`]'s acceptance rule, so
    /// whether a statement arrives alone or in company never changes whether it is accepted.
    fn accept_all(&mut self, now: Instant, statements: Vec<Signed>, rebroadcast: bool) -> usize {
        // Joins first: they carry the keys the other statements are checked against.
        let (joins, rest): (Vec<Signed>, Vec<Signed>) = statements
            .into_iter()
            .partition(|s| matches!(s.statement, Statement::Join(_)));
        let mut news = 0;
        for group in [joins, rest] {
            let mut ready = Vec::with_capacity(group.len());
            for s in group {
                match self.precheck(now, &s) {
                    Ok(Some((id, key))) => ready.push((s, id, key)),
                    Ok(None) => {}
                    Err(_) => self.stats.statements_rejected += 1,
                }
            }
            let verified = self.verify_ahead(&ready);
            for (s, id, key) in ready {
                match self.accept_checked(now, s, id, key, verified, rebroadcast) {
                    Ok(true) => news += 1,
                    Ok(false) => {}
                    Err(_) => self.stats.statements_rejected += 1,
                }
            }
        }
        news
    }

    /// Batch-verifies the statements of `ready` not yet verified. Returns whether all of
    /// them verified (then [`Self::accept_checked`] need not verify them again).
    fn verify_ahead(&mut self, ready: &[(Signed, Hash256, PublicKey)]) -> bool {
        let todo: Vec<&(Signed, Hash256, PublicKey)> = ready
            .iter()
            .filter(|(_, id, _)| !self.cache.contains(id))
            .collect();
        if todo.len() < 2 {
            return false;
        }
        let Ok(bytes) = todo
            .iter()
            .map(|(s, _, _)| s.statement.signing_bytes())
            .collect::<Result<Vec<Vec<u8>>>>()
        else {
            return false;
        };
        let items: Vec<(&PublicKey, &[u8], &subspace_crypto::Signature)> = todo
            .iter()
            .zip(&bytes)
            .map(|((s, _, key), b)| (key, b.as_slice(), &s.signature))
            .collect();
        // A statement's key must be its author's: checked here as `Signed::verify` does.
        let authors_match = todo
            .iter()
            .all(|(s, _, key)| key.node_id() == s.statement.author());
        let ok = authors_match && verify_batch(domain::GOSSIP, &items).is_ok();
        if ok {
            self.stats.signatures_verified += todo.len() as u64;
        }
        ok
    }

    /// Verifies and applies one statement. Returns whether it was news.
    fn accept(&mut self, now: Instant, s: Signed, rebroadcast: bool) -> Result<bool> {
        match self.precheck(now, &s)? {
            Some((id, key)) => self.accept_checked(now, s, id, key, false, rebroadcast),
            None => Ok(false),
        }
    }

    /// The checks before any signature work: shape, time window, whether the statement is
    /// held already or would change nothing. Returns its id and its author's key if it still
    /// needs to be verified and applied.
    fn precheck(&self, now: Instant, s: &Signed) -> Result<Option<(Hash256, PublicKey)>> {
        let st = &s.statement;
        st.check_shape()?;
        let now_ms = self.unix_ms(now);
        let skew = u64::try_from(self.config.max_clock_skew.as_millis()).unwrap_or(u64::MAX);
        let interval = u64::try_from(self.config.contract_interval.as_millis()).unwrap_or(u64::MAX);
        if st.at_ms() > now_ms.saturating_add(skew)
            || st.effective_ms() < now_ms.saturating_sub(interval)
        {
            return Err(GossipError::OutOfWindow);
        }
        let subject = st.subject();
        let id: Hash256 = s.id()?;
        if self.pool.contains(&subject, st.effective_ms(), &id) {
            return Ok(None);
        }
        // News that would change nothing here (a later suspicion or failure of a member already
        // held suspect or failed, a stale join) is dropped before any signature work, as if it
        // had been lost: it would be neither kept, shared nor passed on. Two exceptions: news
        // about ourselves (we may have to refute it) and a suspicion that would be one of our
        // first k independent confirmations (Lifeguard times its suspicion out on those).
        if subject != self.me
            && st.author() != self.me
            && let Some(p) = st.precedence()
            && self
                .pool
                .dominated_by_entry(&subject, p, st.effective_ms(), &id)
            && !self.wants_confirmation(st)
        {
            return Ok(None);
        }
        let key: PublicKey = match st {
            // A member's later joins (refutations) carry the key the pool already parsed.
            Statement::Join(j) => match self.pool.get(&subject) {
                Some(m) if m.key.to_bytes() == j.public_key => m.key,
                _ => j.key()?,
            },
            other => self
                .pool
                .key_of(&other.author())
                .ok_or(GossipError::UnknownSigner)?,
        };
        Ok(Some((id, key)))
    }

    /// Verifies (unless `verified` or done before) and applies a statement that passed
    /// [`Self::precheck`].
    fn accept_checked(
        &mut self,
        now: Instant,
        s: Signed,
        id: Hash256,
        key: PublicKey,
        verified: bool,
        rebroadcast: bool,
    ) -> Result<bool> {
        let st = &s.statement;
        let subject = st.subject();
        // Statements the pool holds were answered above; the cache remembers those verified
        // but not held (superseded or trimmed at once), so that their copies still in flight
        // are not verified again.
        let cached = self.cache.contains(&id);
        if !cached && !verified {
            self.stats.signatures_verified += 1;
            s.verify(&key)?;
        }
        if let Statement::Fault(f) = st {
            let host_key = self
                .pool
                .key_of(&f.about)
                .ok_or(GossipError::UnknownSigner)?;
            if !self.validator.validate(&f.about, &host_key, &f.proof) {
                return Err(GossipError::InvalidFault);
            }
        }
        let suspect_by = match st {
            Statement::Suspect(x) => Some((x.by, x.incarnation)),
            _ => None,
        };
        let about_me_inc = match st {
            Statement::Suspect(x) if x.about == self.me => Some(x.incarnation),
            Statement::Failure(x) if x.about == self.me => Some(x.incarnation),
            _ => None,
        };
        let accuser = st.author();
        let before = self
            .pool
            .get(&subject)
            .map(|m| (m.status(), m.incarnation()));
        // Whether a suspicion of a member already held suspect is one of the first k
        // independent confirmations; only those are passed on (Lifeguard needs k, and past them
        // each further suspicion would only crowd the piggy-back budget).
        let mut confirms = suspect_by.is_some_and(|(by, _)| by == self.me);
        let change = self.pool.insert_parsed(id, s.clone(), Some(key));
        // News: it changed the member's status, or it is now held (`precheck` saw it was not),
        // completing the member's history. Either keeps a catching-up node exchanging.
        let held = self.pool.contains(&subject, st.effective_ms(), &id);
        let news = change.is_some() || held;
        if !cached && !held {
            self.cache.insert(id);
        }
        // A suspicion from another member confirms ours (Lifeguard's independent suspicions).
        if let Some((by, inc)) = suspect_by
            && subject != self.me
            && self
                .pool
                .get(&subject)
                .is_some_and(|m| m.status() == Status::Suspect && m.incarnation() == inc)
        {
            let first = s.statement.at_ms();
            let sus = self.suspicions.entry(subject).or_insert_with(|| Suspicion {
                incarnation: inc,
                started: now,
                first_failed_ms: first,
                confirmers: BTreeSet::new(),
                probers: Vec::new(),
                mine: false,
                pulls: 0,
            });
            if by != self.me && sus.confirmers.insert(by) {
                confirms = sus.confirmers.len() <= self.config.indirect_probes.max(1);
            }
            // The earliest failed probe anyone reported is when the subject's clock stops.
            sus.first_failed_ms = sus.first_failed_ms.min(first);
        }
        if let Some(ch) = change {
            self.on_change(subject, ch);
            // A failure of a member we held alive (no suspicion of ours preceded it) may be news
            // from the far side of a partition about a member that is up: tell it directly, so
            // it refutes now rather than when the news reaches it by chance. A member that is
            // really down costs one small message per node, once.
            if ch.before == Some(Status::Alive)
                && ch.after == Status::Failed
                && subject != self.me
                && s.statement.author() != self.me
            {
                self.send(
                    subject,
                    Message {
                        body: Body::News,
                        piggyback: vec![s.clone()],
                    },
                );
            }
            // Probe-borne news is always passed on. Anti-entropy news only when it changes the
            // status of a member we already had (a healed partition's failures and refutations);
            // re-announcing whole pools to a node that is catching up would be pure waste.
            // News that leaves the status and incarnation as they were (a second failure of a
            // failed member, a suspicion past the k-th) is kept but not passed on: memberlist
            // drops such news, and under a burst of failures it crowded out the first news of
            // each failure.
            let redundant = before == Some((ch.after, ch.incarnation)) && !confirms;
            if (rebroadcast && !redundant) || ch.before.is_some_and(|b| b != ch.after) {
                self.broadcasts.push(s);
            }
        } else if confirms && (rebroadcast || suspect_by.is_some_and(|(by, _)| by == self.me)) {
            // A suspicion later than one the pool holds changes nothing here (nor is it shared
            // by anti-entropy), but while it is one of the first k confirmations the other
            // suspecters still need to hear it: Lifeguard shortens their timers on it.
            self.broadcasts.push(s);
        }
        if let Some(inc) = about_me_inc
            && !self.left
        {
            if inc >= self.incarnation {
                self.refute(now, inc)?;
            }
            // Whoever suspected us (or declared us failed) is the one whose timer decides:
            // send it our refutation straight away instead of leaving it to the epidemic,
            // which under a burst of other news can take longer than the timer (a false
            // positive at 1,000 nodes, 10% loss, 50 real failures in flight). A suspicion of
            // an incarnation we already refuted gets the same answer: its author missed it.
            if accuser != self.me
                && let Some(join) = self.latest_join(&self.me)
            {
                self.send(
                    accuser,
                    Message {
                        body: Body::News,
                        piggyback: vec![join],
                    },
                );
            }
        }
        Ok(news)
    }

    /// Whether `st` is a suspicion that would count among our first k confirmations of it
    /// (only a suspicion of a member we hold suspect at that incarnation counts).
    fn wants_confirmation(&self, st: &Statement) -> bool {
        let Statement::Suspect(x) = st else {
            return false;
        };
        let held_suspect = self
            .pool
            .get(&x.about)
            .is_some_and(|m| m.status() == Status::Suspect && m.incarnation() == x.incarnation);
        let k = self.config.indirect_probes.max(1);
        held_suspect
            && self.suspicions.get(&x.about).is_none_or(|s| {
                s.incarnation == x.incarnation
                    && s.confirmers.len() < k
                    && !s.confirmers.contains(&x.by)
            })
    }

    fn refute(&mut self, now: Instant, inc: u64) -> Result<()> {
        self.incarnation = inc + 1;
        self.lhm_up();
        self.stats.refutations += 1;
        self.sign_join(now).map(|_| ())
    }

    fn on_change(&mut self, node: NodeId, ch: Change) {
        let live_before = ch.before.is_some_and(Status::is_live);
        if ch.before != Some(ch.after) {
            match ch.after {
                Status::Alive if ch.before == Some(Status::Suspect) => self.emit(Event::Refuted {
                    node,
                    incarnation: ch.incarnation,
                }),
                Status::Alive | Status::Suspect if !live_before => {
                    self.emit(Event::Joined { node })
                }
                Status::Suspect => self.emit(Event::Suspected { node }),
                Status::Failed => self.emit(Event::Failed { node }),
                Status::Left => self.emit(Event::Left { node }),
                Status::Alive => {}
            }
        }
        if ch.after != Status::Suspect {
            self.suspicions.remove(&node);
        }
        if ch.fault {
            self.emit(Event::FaultProven { node });
        }
        if live_before != ch.after.is_live() || ch.fault || ch.before.is_none() {
            self.emit(Event::UptimeChanged { node });
        }
    }
}

/// The first and last id of bucket `i` of `2^bits` id-prefix buckets.
fn bucket_range(i: usize, bits: u8) -> (NodeId, NodeId) {
    let bits = u32::from(bits.min(MAX_FINGERPRINT_BITS));
    let (lo, hi) = if bits == 0 {
        (0u16, u16::MAX)
    } else {
        let width = 1u32 << (16 - bits);
        let lo = (i as u32) * width;
        (lo as u16, (lo + width - 1) as u16)
    };
    let mut a = [0u8; 32];
    let mut b = [0xffu8; 32];
    a[..2].copy_from_slice(&lo.to_be_bytes());
    b[..2].copy_from_slice(&hi.to_be_bytes());
    (NodeId::from_bytes(a), NodeId::from_bytes(b))
}

/// Slice `i` of `k` equal slices of the id space (by first byte), inclusive bounds.
fn id_slice(i: usize, k: usize) -> (NodeId, NodeId) {
    let k = k.clamp(1, 256);
    let i = i.min(k - 1);
    let lo = (i * 256 / k) as u8;
    let mut from = [0u8; 32];
    from[0] = lo;
    let mut to = [0xffu8; 32];
    if i + 1 < k {
        to[0] = ((i + 1) * 256 / k - 1) as u8;
    }
    (NodeId::from_bytes(from), NodeId::from_bytes(to))
}

/// The member `me` probes in wall-time period `t`, given the live members in id order (see
/// [`Gossip::scheduled_target`]); `None` when there is nobody else.
fn ring_target(live: &SortedIds, me: &NodeId, t: u64) -> Option<NodeId> {
    let (at, others) = match live.rank(me) {
        // Our own slot is at `i`: offsets 1..m-1 reach the others.
        Ok(i) => (i + 1, live.len().checked_sub(1)?),
        // Not live in our own pool (declared failed, refuting): offsets 0..m-1 from where we
        // would sit.
        Err(i) => (i, live.len()),
    };
    if others == 0 {
        return None;
    }
    let d = usize::try_from((u128::from(mix64(t)) * others as u128) >> 64).ok()?;
    live.get((at + d) % live.len()).copied()
}

/// SplitMix64's finaliser: the period's ring offset, the same on every node.
fn mix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ids(n: usize, salt: u64) -> SortedIds {
        (0..n as u64)
            .map(|i| {
                NodeId::from_bytes(
                    subspace_crypto::hash::blake3(&[salt, i].map(u64::to_le_bytes).concat()).0,
                )
            })
            .collect()
    }

    proptest! {
        /// Nodes that agree on the live set probe a permutation of it each period: every
        /// member exactly once, nobody itself.
        #[test]
        fn ring_schedule_probes_every_member_once_a_period(n in 2usize..200, salt: u64, t: u64) {
            let live = ids(n, salt);
            let mut probed = vec![0u32; n];
            for me in live.iter() {
                let target = ring_target(&live, me, t).unwrap();
                prop_assert_ne!(target, *me);
                probed[live.rank(&target).unwrap()] += 1;
            }
            prop_assert!(probed.iter().all(|c| *c == 1), "{probed:?}");
        }

        /// A node missing from its own live set (refuting a failure) still probes someone,
        /// and a node holding one member fewer than the others lands within two places of
        /// its scheduled target.
        #[test]
        fn ring_schedule_tolerates_small_view_differences(n in 3usize..200, salt: u64, t: u64, gone in 0usize..200) {
            let live = ids(n, salt);
            let gone = gone % n;
            let mut fewer = live.clone();
            let left = *live.get(gone).unwrap();
            fewer.remove(&left);
            prop_assert!(ring_target(&fewer, &left, t).is_some());
            for me in fewer.iter() {
                let a = live.rank(&ring_target(&live, me, t).unwrap()).unwrap();
                let b = live.rank(&ring_target(&fewer, me, t).unwrap()).unwrap();
                let dist = (a + n - b) % n;
                prop_assert!(dist <= 2 || n - dist <= 2, "{a} vs {b} of {n}");
            }
        }
    }

    #[test]
    fn ring_schedule_of_one_is_empty() {
        let live = ids(1, 0);
        let me = *live.get(0).unwrap();
        assert_eq!(ring_target(&live, &me, 7), None);
        assert_eq!(ring_target(&SortedIds::default(), &me, 7), None);
    }
}
