//! The sans-IO state machine: messages and timers in, messages and events out.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Instant;

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use subspace_crypto::{Hash256, NodeId, RecordKey};

use crate::event::{Event, QueryId};
use crate::holders::{HolderStore, StoreOutcome};
use crate::metric::{bucket_index, random_in_bucket};
use crate::query::{Purpose, Query, Storing};
use crate::rate::RateLimiter;
use crate::routing::{AddrGroup, FailureOutcome, InsertOutcome, RejectReason, RoutingTable};
use crate::{
    AnnounceValidator, Announcement, DhtConfig, DhtError, Holder, HolderKind, MAX_ANNOUNCEMENTS,
    MAX_HOLDERS, MAX_NODES, Message, RequestId,
};

/// Counters of everything the DHT dropped or refused, so bounds are observable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DhtStats {
    /// Requests received and answered.
    pub requests_in: u64,
    /// Replies received that matched an outstanding request.
    pub responses_in: u64,
    /// Requests sent.
    pub requests_out: u64,
    /// Requests that got no reply in time.
    pub timeouts: u64,
    /// Requests dropped by the per-peer rate limit.
    pub dropped_rate_limited: u64,
    /// Replies that matched no outstanding request from that peer.
    pub dropped_unsolicited: u64,
    /// Messages breaking a protocol bound, or claiming to come from the local id.
    pub dropped_malformed: u64,
    /// Outgoing messages dropped because the transmit queue was full.
    pub dropped_transmit: u64,
    /// Requests not sent because [`DhtConfig::max_pending_requests`] were outstanding.
    pub dropped_pending_full: u64,
    /// Events dropped because the event queue was full.
    pub dropped_events: u64,
    /// Refresh lookups skipped because [`DhtConfig::max_queries`] were running.
    pub dropped_refreshes: u64,
    /// Peers not added: their bucket was full and already probing.
    pub routing_full: u64,
    /// Peers not added: their address group was at its limit.
    pub routing_group_limited: u64,
    /// Routing entries evicted after failing to answer.
    pub evictions: u64,
    /// Announcements refused: invalid proof, or a cache entry not sent by its holder.
    pub announces_rejected: u64,
    /// Announcements accepted but not stored: holder store at its key or per-key bound.
    pub announces_dropped: u64,
    /// Announcements stored (or refreshed).
    pub announces_stored: u64,
}

#[derive(Clone, Copy, Debug)]
enum RequestPurpose {
    Lookup { query: QueryId, path: usize },
    Store { query: QueryId },
    Probe,
}

#[derive(Clone, Debug)]
struct Pending {
    to: NodeId,
    deadline: Instant,
    purpose: RequestPurpose,
}

/// A Kademlia node as a pure state machine (see the crate docs for the driving loop).
///
/// `V` is the node's [`AnnounceValidator`], consulted for every replica announcement this node
/// is asked to store.
#[derive(Debug)]
pub struct Dht<V> {
    config: DhtConfig,
    local: NodeId,
    rng: ChaCha20Rng,
    validator: V,
    table: RoutingTable,
    store: HolderStore,
    rate: RateLimiter,
    queries: BTreeMap<QueryId, Query>,
    query_deadlines: BTreeSet<(Instant, QueryId)>,
    pending: BTreeMap<RequestId, Pending>,
    deadlines: BTreeSet<(Instant, RequestId)>,
    transmit: VecDeque<(NodeId, Message)>,
    events: VecDeque<Event>,
    next_request: u64,
    next_query: u64,
    next_maintenance: Option<Instant>,
    stats: DhtStats,
    scratch: Vec<(usize, NodeId)>,
}

impl<V: AnnounceValidator> Dht<V> {
    /// A node with id `local` (the NodeId its transport proves), randomness from `rng_seed`,
    /// checking replica announcements with `validator`. `config.k` is capped at
    /// [`MAX_NODES`](crate::MAX_NODES).
    pub fn new(mut config: DhtConfig, local: NodeId, rng_seed: u64, validator: V) -> Self {
        config.k = config.k.clamp(1, MAX_NODES);
        config.alpha = config.alpha.max(1);
        config.disjoint_paths = config.disjoint_paths.max(1);
        let mut rng = ChaCha20Rng::seed_from_u64(rng_seed);
        let next_request = rng.next_u64();
        Dht {
            table: RoutingTable::new(
                local,
                config.k,
                config.evict_after_failures,
                config.max_per_group_per_bucket,
                config.max_per_group,
            ),
            store: HolderStore::new(config.max_keys, config.max_holders_per_key),
            rate: RateLimiter::new(
                config.max_requests_per_peer_per_sec,
                config.max_rate_tracked_peers,
            ),
            config,
            local,
            rng,
            validator,
            queries: BTreeMap::new(),
            query_deadlines: BTreeSet::new(),
            pending: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            next_request,
            next_query: 1,
            next_maintenance: None,
            stats: DhtStats::default(),
            scratch: Vec::new(),
        }
    }

    /// The local node's id.
    pub fn local_id(&self) -> NodeId {
        self.local
    }

    /// The configuration in force.
    pub fn config(&self) -> &DhtConfig {
        &self.config
    }

    /// Counters of traffic, drops and refusals.
    pub fn stats(&self) -> &DhtStats {
        &self.stats
    }

    /// The routing table (read-only).
    pub fn routing_table(&self) -> &RoutingTable {
        &self.table
    }

    /// Holders stored on this node for `key` at `now`.
    pub fn local_holders(&self, key: &RecordKey, now: Instant) -> Vec<Holder> {
        self.store.get(key, now)
    }

    /// Number of (key, holder) entries stored on this node, expired ones included until the
    /// next housekeeping (every [`DhtConfig::maintenance_interval`]) purges them.
    pub fn stored_entries(&self) -> usize {
        self.store.entry_count()
    }

    /// Number of queries running (user and internal).
    pub fn running_queries(&self) -> usize {
        self.queries.len()
    }

    /// Offers a peer the transport has authenticated (for example one learnt from gossip
    /// membership) to the routing table, with its address group if its address is known.
    pub fn add_peer(&mut self, now: Instant, peer: NodeId, group: Option<AddrGroup>) {
        self.start_clock(now);
        self.note_alive(now, peer, group);
    }

    /// Removes a peer from the routing table (after gossip reports a valid leave or failure).
    pub fn remove_peer(&mut self, peer: &NodeId) -> bool {
        let removed = self.table.remove(peer);
        if removed {
            self.push_event(Event::PeerRemoved(*peer));
        }
        removed
    }

    /// Forgets every holder entry naming `node`, after gossip reported a valid leave, failure
    /// or fault message for it, without waiting for the entries to expire. Returns how many
    /// entries were removed.
    pub fn holder_gone(&mut self, node: &NodeId) -> usize {
        self.store.remove_node(node)
    }

    /// Joins the network through `seeds`: a lookup of the local id, then (if
    /// [`DhtConfig::refresh_on_bootstrap`]) a refresh of each bucket farther than the nearest
    /// neighbour. [`Event::Bootstrapped`] reports the end of the self-lookup.
    pub fn bootstrap(&mut self, now: Instant, seeds: &[NodeId]) -> Result<QueryId, DhtError> {
        let target = self.local.0;
        self.start_query(now, target, Purpose::Bootstrap, seeds)
    }

    /// Looks up the `k` nodes closest to `target`; the answer is [`Event::NodesFound`].
    pub fn find_node(&mut self, now: Instant, target: NodeId) -> Result<QueryId, DhtError> {
        self.start_query(now, target.0, Purpose::FindNode, &[])
    }

    /// Looks up the holders of `key` on the `k` nodes closest to it (and locally); the answer
    /// is [`Event::HoldersFound`].
    pub fn find_holders(&mut self, now: Instant, key: RecordKey) -> Result<QueryId, DhtError> {
        self.start_query(now, key.0, Purpose::FindHolders(key), &[])
    }

    /// Stores `announcements` (one, or several for a multi-announce) for `key` on the `k`
    /// nodes closest to it; the answer is [`Event::Announced`]. Replica announcements need a
    /// proof the receivers' validators accept and are kept for [`DhtConfig::replica_ttl`]: a
    /// replica holder announces again every [`DhtConfig::republish_interval`]. Cache
    /// announcements must name the local node and are kept for [`DhtConfig::cache_ttl`].
    pub fn announce(
        &mut self,
        now: Instant,
        key: RecordKey,
        announcements: Vec<Announcement>,
    ) -> Result<QueryId, DhtError> {
        if announcements.is_empty() || announcements.len() > MAX_ANNOUNCEMENTS {
            return Err(DhtError::BadAnnounce {
                len: announcements.len(),
                max: MAX_ANNOUNCEMENTS,
            });
        }
        Message::Announce {
            id: RequestId(0),
            key,
            announcements: announcements.clone(),
        }
        .check_bounds()?;
        self.start_query(now, key.0, Purpose::Announce(key, announcements), &[])
    }

    /// Input: a message from `from`, whose id the transport authenticated.
    pub fn handle_message(&mut self, now: Instant, from: NodeId, msg: Message) {
        self.handle_message_with_group(now, from, None, msg);
    }

    /// Input: like [`Dht::handle_message`], with the [`AddrGroup`] of the peer's address when
    /// the transport knows it, so the routing table can cap entries per address group.
    pub fn handle_message_with_group(
        &mut self,
        now: Instant,
        from: NodeId,
        group: Option<AddrGroup>,
        msg: Message,
    ) {
        self.start_clock(now);
        if from == self.local || msg.check_bounds().is_err() {
            self.stats.dropped_malformed += 1;
            return;
        }
        if msg.is_request() {
            if !self.rate.allow(from, now) {
                self.stats.dropped_rate_limited += 1;
                return;
            }
            self.stats.requests_in += 1;
            self.note_alive(now, from, group);
            self.answer(now, from, msg);
            return;
        }
        let id = msg.id();
        match self.pending.get(&id) {
            Some(p) if p.to == from => {}
            _ => {
                self.stats.dropped_unsolicited += 1;
                return;
            }
        }
        let Some(p) = self.pending.remove(&id) else {
            return;
        };
        self.deadlines.remove(&(p.deadline, id));
        self.stats.responses_in += 1;
        self.note_alive(now, from, group);
        match p.purpose {
            RequestPurpose::Probe => {}
            RequestPurpose::Lookup { query, path } => {
                if let Some(q) = self.queries.get_mut(&query) {
                    match &msg {
                        Message::Nodes { nodes, .. } => {
                            q.on_success(path, &from, nodes, &self.local)
                        }
                        Message::Holders { holders, nodes, .. } => {
                            q.add_holders(holders);
                            q.on_success(path, &from, nodes, &self.local);
                        }
                        _ => q.on_failure(path, &from),
                    }
                    self.drive(now, query);
                }
            }
            RequestPurpose::Store { query } => {
                if let Some(q) = self.queries.get_mut(&query) {
                    q.stats.responses += 1;
                    if let Some(s) = q.storing.as_mut() {
                        s.outstanding = s.outstanding.saturating_sub(1);
                        if matches!(msg, Message::AnnounceAck { accepted, .. } if accepted > 0) {
                            s.stored_on.push(from);
                        }
                    }
                    self.drive(now, query);
                }
            }
        }
    }

    /// Input: the clock reached a time at or after [`Dht::poll_timeout`].
    pub fn handle_timeout(&mut self, now: Instant) {
        self.start_clock(now);
        while let Some(&(t, rid)) = self.deadlines.first() {
            if t > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some(p) = self.pending.remove(&rid) {
                self.stats.timeouts += 1;
                self.request_failed(now, p);
            }
        }
        while let Some(&(t, qid)) = self.query_deadlines.first() {
            if t > now {
                break;
            }
            self.finish(now, qid, true);
        }
        if self.next_maintenance.is_some_and(|t| t <= now) {
            self.next_maintenance = Some(now + self.config.maintenance_interval);
            self.store.purge(now);
            if let Some(since) = now.checked_sub(self.config.refresh_interval) {
                for b in self.table.stale_buckets(since).into_iter().take(8) {
                    self.refresh_bucket(now, b);
                }
            }
        }
    }

    /// Output: the next message to send, and to whom.
    pub fn poll_transmit(&mut self) -> Option<(NodeId, Message)> {
        self.transmit.pop_front()
    }

    /// Output: the next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call [`Dht::handle_timeout`] next (`None` before the first input).
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.deadlines.first().map(|x| x.0),
            self.query_deadlines.first().map(|x| x.0),
            self.next_maintenance,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn start_clock(&mut self, now: Instant) {
        if self.next_maintenance.is_none() {
            self.next_maintenance = Some(now + self.config.maintenance_interval);
        }
    }

    fn push_event(&mut self, ev: Event) {
        if self.events.len() >= self.config.max_queue {
            self.stats.dropped_events += 1;
        } else {
            self.events.push_back(ev);
        }
    }

    fn push_transmit(&mut self, to: NodeId, msg: Message) -> bool {
        if self.transmit.len() >= self.config.max_queue {
            self.stats.dropped_transmit += 1;
            false
        } else {
            self.transmit.push_back((to, msg));
            true
        }
    }

    /// `peer` proved it is alive: let the routing table know, and act on its answer.
    fn note_alive(&mut self, now: Instant, peer: NodeId, group: Option<AddrGroup>) {
        match self.table.insert(peer, group, now) {
            InsertOutcome::Updated => {}
            InsertOutcome::Inserted => self.push_event(Event::PeerAdded(peer)),
            InsertOutcome::Replaced { evicted } => {
                self.stats.evictions += 1;
                self.push_event(Event::PeerRemoved(evicted));
                self.push_event(Event::PeerAdded(peer));
            }
            InsertOutcome::Probe { probe } => {
                self.send_request(now, probe, RequestPurpose::Probe, |id| Message::Ping { id });
            }
            InsertOutcome::Rejected(RejectReason::SelfId) => {}
            InsertOutcome::Rejected(RejectReason::BucketFull) => self.stats.routing_full += 1,
            InsertOutcome::Rejected(RejectReason::GroupLimit) => {
                self.stats.routing_group_limited += 1
            }
        }
    }

    fn send_request(
        &mut self,
        now: Instant,
        to: NodeId,
        purpose: RequestPurpose,
        build: impl FnOnce(RequestId) -> Message,
    ) -> bool {
        if self.pending.len() >= self.config.max_pending_requests {
            self.stats.dropped_pending_full += 1;
            return false;
        }
        let id = RequestId(self.next_request);
        self.next_request = self.next_request.wrapping_add(1);
        if !self.push_transmit(to, build(id)) {
            return false;
        }
        let deadline = now + self.config.request_timeout;
        self.pending.insert(
            id,
            Pending {
                to,
                deadline,
                purpose,
            },
        );
        self.deadlines.insert((deadline, id));
        self.stats.requests_out += 1;
        true
    }

    fn request_failed(&mut self, now: Instant, p: Pending) {
        match self.table.record_failure(&p.to) {
            FailureOutcome::Evicted { replacement } => {
                self.stats.evictions += 1;
                self.push_event(Event::PeerRemoved(p.to));
                if let Some(r) = replacement {
                    self.push_event(Event::PeerAdded(r));
                }
            }
            FailureOutcome::Marked | FailureOutcome::Unknown => {}
        }
        match p.purpose {
            RequestPurpose::Probe => {}
            RequestPurpose::Lookup { query, path } => {
                if let Some(q) = self.queries.get_mut(&query) {
                    q.on_failure(path, &p.to);
                    self.drive(now, query);
                }
            }
            RequestPurpose::Store { query } => {
                if let Some(q) = self.queries.get_mut(&query) {
                    q.stats.failures += 1;
                    if let Some(s) = q.storing.as_mut() {
                        s.outstanding = s.outstanding.saturating_sub(1);
                    }
                    self.drive(now, query);
                }
            }
        }
    }

    fn closest_except(&self, target: &Hash256, except: &NodeId) -> Vec<NodeId> {
        let mut nodes = self.table.closest(target, self.config.k + 1);
        nodes.retain(|n| n != except);
        nodes.truncate(self.config.k);
        nodes
    }

    fn answer(&mut self, now: Instant, from: NodeId, msg: Message) {
        let reply = match msg {
            Message::Ping { id } => Message::Pong { id },
            Message::FindNode { id, target } => Message::Nodes {
                id,
                nodes: self.closest_except(&target.0, &from),
            },
            Message::FindHolders { id, key } => {
                let mut holders = self.store.get(&key, now);
                holders.truncate(MAX_HOLDERS);
                Message::Holders {
                    id,
                    holders,
                    nodes: self.closest_except(&key.0, &from),
                }
            }
            Message::Announce {
                id,
                key,
                announcements,
            } => {
                let accepted = self.store_announcements(now, &key, &from, &announcements);
                Message::AnnounceAck { id, accepted }
            }
            // Replies are handled by the caller; nothing else is a request.
            Message::Pong { .. }
            | Message::Nodes { .. }
            | Message::Holders { .. }
            | Message::AnnounceAck { .. } => return,
        };
        self.push_transmit(from, reply);
    }

    /// Validates and stores announcements sent by `announcer`; returns how many were stored.
    fn store_announcements(
        &mut self,
        now: Instant,
        key: &RecordKey,
        announcer: &NodeId,
        announcements: &[Announcement],
    ) -> u16 {
        let mut accepted: u16 = 0;
        for a in announcements {
            let valid = match a.kind {
                // Anyone could point a key at a victim; only the holder vouches for its cache.
                HolderKind::Cache => a.holder == *announcer,
                HolderKind::Replica => self
                    .validator
                    .validate_replica(key, &a.holder, announcer, &a.proof),
            };
            if !valid {
                self.stats.announces_rejected += 1;
                continue;
            }
            // Every entry expires: a replica lives `replica_ttl` from its last announcement,
            // so holder slots filled by announcers that stopped (or never held the record and
            // vouched for themselves) free up without anyone reporting them gone.
            let expires = now
                + match a.kind {
                    HolderKind::Cache => self.config.cache_ttl,
                    HolderKind::Replica => self.config.replica_ttl,
                };
            match self.store.insert(*key, a.holder, a.kind, expires, now) {
                StoreOutcome::Stored | StoreOutcome::Refreshed => {
                    self.stats.announces_stored += 1;
                    accepted = accepted.saturating_add(1);
                }
                StoreOutcome::KeyLimit | StoreOutcome::HolderLimit => {
                    self.stats.announces_dropped += 1;
                }
            }
        }
        accepted
    }

    fn start_query(
        &mut self,
        now: Instant,
        target: Hash256,
        purpose: Purpose,
        extra_seeds: &[NodeId],
    ) -> Result<QueryId, DhtError> {
        self.start_clock(now);
        if self.queries.len() >= self.config.max_queries {
            return Err(DhtError::TooManyQueries);
        }
        let id = QueryId(self.next_query);
        self.next_query += 1;
        let mut seeds = self.table.closest(&target, self.config.k);
        for s in extra_seeds {
            if *s != self.local && !seeds.contains(s) {
                seeds.push(*s);
            }
        }
        seeds.sort_by_key(|s| s.0.distance(&target));
        if let Some(b) = bucket_index(&self.local.0.distance(&target)) {
            self.table.mark_refreshed(b, now);
        }
        let deadline = now + self.config.query_timeout;
        let mut q = Query::new(
            target,
            purpose,
            &seeds,
            self.config.k,
            self.config.alpha,
            self.config.disjoint_paths,
            now,
            deadline,
            MAX_HOLDERS,
        );
        if let Purpose::FindHolders(key) = &q.purpose {
            let mine = self.store.get(key, now);
            q.add_holders(&mine);
        }
        self.queries.insert(id, q);
        self.query_deadlines.insert((deadline, id));
        self.drive(now, id);
        Ok(id)
    }

    fn refresh_bucket(&mut self, now: Instant, bucket: usize) {
        let mut r = [0u8; 32];
        self.rng.fill_bytes(&mut r);
        let target = random_in_bucket(&self.local.0, bucket, r);
        if self.queries.len() >= self.config.max_queries {
            self.stats.dropped_refreshes += 1;
            return;
        }
        // Cannot fail: the bound was checked just above.
        let _ = self.start_query(now, target, Purpose::Refresh, &[]);
    }

    /// Sends whatever the query can send now, and finishes it when it is over.
    fn drive(&mut self, now: Instant, qid: QueryId) {
        let mut sends = std::mem::take(&mut self.scratch);
        while let Some(q) = self.queries.get_mut(&qid) {
            if q.storing.is_some() {
                if q.storing.as_ref().is_some_and(|s| s.outstanding == 0) {
                    self.finish(now, qid, false);
                }
                break;
            }
            sends.clear();
            q.next_requests(&mut sends);
            if sends.is_empty() {
                if q.lookup_done() {
                    self.lookup_done(now, qid);
                }
                break;
            }
            let target = q.target;
            let key = match &q.purpose {
                Purpose::FindHolders(k) => Some(*k),
                _ => None,
            };
            let mut unsent = Vec::new();
            for &(path, to) in &sends {
                let sent =
                    self.send_request(now, to, RequestPurpose::Lookup { query: qid, path }, |id| {
                        match key {
                            Some(key) => Message::FindHolders { id, key },
                            None => Message::FindNode {
                                id,
                                target: NodeId(target),
                            },
                        }
                    });
                if !sent {
                    unsent.push((path, to));
                }
            }
            let Some(q) = self.queries.get_mut(&qid) else {
                break;
            };
            q.stats.requests += (sends.len() - unsent.len()) as u32;
            if unsent.is_empty() {
                break;
            }
            for (path, to) in unsent {
                q.on_failure(path, &to);
            }
            // Loop: the failures may let the query pick other candidates (or finish).
        }
        self.scratch = sends;
    }

    fn lookup_done(&mut self, now: Instant, qid: QueryId) {
        let Some(q) = self.queries.get_mut(&qid) else {
            return;
        };
        let Purpose::Announce(key, anns) = &q.purpose else {
            self.finish(now, qid, false);
            return;
        };
        let (key, anns) = (*key, anns.clone());
        let (closest, _) = q.result();
        let mut stored_on = Vec::new();
        let k = self.config.k;
        let local_close = closest.len() < k
            || closest
                .last()
                .is_some_and(|far| self.local.0.distance(&key.0) < far.0.distance(&key.0));
        if local_close && self.store_announcements(now, &key, &self.local.clone(), &anns) > 0 {
            stored_on.push(self.local);
        }
        let mut outstanding = 0;
        for to in &closest {
            let msg_anns = anns.clone();
            if self.send_request(now, *to, RequestPurpose::Store { query: qid }, |id| {
                Message::Announce {
                    id,
                    key,
                    announcements: msg_anns,
                }
            }) {
                outstanding += 1;
            }
        }
        if let Some(q) = self.queries.get_mut(&qid) {
            q.stats.requests += outstanding as u32;
            q.stats.failures += (closest.len() - outstanding) as u32;
            q.storing = Some(Storing {
                outstanding,
                stored_on,
            });
        }
        if outstanding == 0 {
            self.finish(now, qid, false);
        }
    }

    fn finish(&mut self, now: Instant, qid: QueryId, timed_out: bool) {
        let Some(q) = self.queries.remove(&qid) else {
            return;
        };
        self.query_deadlines.remove(&(q.deadline, qid));
        let (closest, hops) = q.result();
        let mut stats = q.stats;
        stats.hops = hops;
        stats.timed_out = timed_out;
        stats.duration = now.saturating_duration_since(q.started);
        let ev = match q.purpose {
            Purpose::FindNode => Event::NodesFound {
                query: qid,
                target: NodeId(q.target),
                closest,
                stats,
            },
            Purpose::FindHolders(key) => {
                let mut holders: Vec<Holder> = q.holders.into_iter().collect();
                holders.sort_by_key(|h| (h.kind, h.node));
                Event::HoldersFound {
                    query: qid,
                    key,
                    holders,
                    stats,
                }
            }
            Purpose::Announce(key, _) => {
                let mut stored_on = q.storing.map(|s| s.stored_on).unwrap_or_default();
                stored_on.sort_by_key(|n| n.0.distance(&key.0));
                Event::Announced {
                    query: qid,
                    key,
                    stored_on,
                    stats,
                }
            }
            Purpose::Bootstrap => {
                let ev = Event::Bootstrapped {
                    query: qid,
                    peers: self.table.len(),
                    stats,
                };
                if self.config.refresh_on_bootstrap
                    && let Some(deepest) = self.table.deepest_bucket()
                {
                    for b in 0..deepest {
                        self.refresh_bucket(now, b);
                    }
                }
                ev
            }
            Purpose::Refresh => return,
        };
        self.push_event(ev);
    }
}
