//! The membership pool: every known host, its key, status and signed history.
//!
//! Each member's entry is a set of verified signed statements about it. Merging two pools is a
//! set union followed by a deterministic trim (keep the status-deciding statement, the latest
//! join, and the newest others up to a bound), so merge is commutative, associative and
//! idempotent, and status and uptime are pure functions of the entry. Anti-entropy compares
//! entries by a [`Summary`] (count and XOR of statement ids).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use subspace_crypto::{ContractId, Hash256, NodeId, PublicKey};

use crate::index::SortedIds;

use crate::fault::{ClaimedPledges, PledgeOracle};
use crate::message::MAX_FINGERPRINT_BITS;
use crate::statement::{Join, Rank, Signed, Statement};

/// The pool's oracle, shared by clones of the pool.
#[derive(Clone)]
struct Pledges(std::sync::Arc<dyn PledgeOracle + Send + Sync>);

impl core::fmt::Debug for Pledges {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Pledges(..)")
    }
}
use crate::uptime::{Interval, accrued_ms, accusation, first_accusers, raising};

/// A member's status as this node currently believes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Online.
    Alive,
    /// Suspected of having failed; still online until declared failed.
    Suspect,
    /// Declared failed; its clock is stopped.
    Failed,
    /// Left gracefully; its clock is stopped.
    Left,
}

impl From<Rank> for Status {
    fn from(r: Rank) -> Status {
        match r {
            Rank::Alive => Status::Alive,
            Rank::Suspect => Status::Suspect,
            Rank::Failed => Status::Failed,
            Rank::Left => Status::Left,
        }
    }
}

impl Status {
    /// Whether the member counts as online (alive or merely suspected).
    pub fn is_live(self) -> bool {
        matches!(self, Status::Alive | Status::Suspect)
    }
}

/// What anti-entropy compares: the number of statements in an entry and the XOR of their ids'
/// first eight bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Summary {
    /// Statements held.
    pub count: u32,
    /// XOR of the statements' id prefixes.
    pub xor: u64,
}

/// A read-only view of one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    /// Its id.
    pub node: NodeId,
    /// Its identity key (from its latest join).
    pub public_key: PublicKey,
    /// Its contract.
    pub contract: ContractId,
    /// Space it pledged, in bytes.
    pub pledged_bytes: u64,
    /// Its current incarnation (the highest seen in any statement about it).
    pub incarnation: u64,
    /// Its status.
    pub status: Status,
}

type Key = (u64, Hash256);

/// A member's statements, sorted by key. Entries hold one to a few statements, so a sorted
/// vector costs a fraction of a `BTreeMap`, whose every leaf reserves room for eleven.
#[derive(Debug, Clone, Default)]
struct Entries(Vec<(Key, Signed)>);

impl Entries {
    fn find(&self, k: &Key) -> core::result::Result<usize, usize> {
        self.0.binary_search_by(|(x, _)| x.cmp(k))
    }

    fn contains_key(&self, k: &Key) -> bool {
        self.find(k).is_ok()
    }

    fn insert(&mut self, k: Key, s: Signed) {
        match self.find(&k) {
            Ok(i) => self.0[i].1 = s,
            Err(i) => self.0.insert(i, (k, s)),
        }
    }

    fn iter(&self) -> impl DoubleEndedIterator<Item = (&Key, &Signed)> {
        self.0.iter().map(|(k, s)| (k, s))
    }

    fn values(&self) -> impl Iterator<Item = &Signed> {
        self.0.iter().map(|(_, s)| s)
    }

    fn keys(&self) -> impl Iterator<Item = &Key> {
        self.0.iter().map(|(k, _)| k)
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    /// The earliest effective time held (keys sort by it first).
    fn oldest(&self) -> Option<u64> {
        self.0.first().map(|((t, _), _)| *t)
    }

    fn retain(&mut self, mut f: impl FnMut(&Key) -> bool) {
        self.0.retain(|(k, _)| f(k));
        self.0.shrink_to_fit();
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) join: Join,
    pub(crate) key: PublicKey,
    statements: Entries,
    /// `(incarnation, rank, effective_ms, id)` of the status-deciding statement.
    top: (u64, Rank, u64, Hash256),
    join_key: (u64, u64, Hash256),
    /// Statements held but not shared by anti-entropy nor counted in the summary: those that
    /// change neither status nor uptime (see [`dominated`]). Usually empty.
    dominated: Vec<Hash256>,
    pub(crate) summary: Summary,
    /// Signing time of the earliest join this pool has held of it: how long it has been a
    /// member, as far as this pool knows (eviction keeps the long-standing).
    first_join_ms: u64,
    /// Latest signing time among its statements.
    pub(crate) last_ms: u64,
}

impl Member {
    pub(crate) fn status(&self) -> Status {
        self.top.1.into()
    }

    pub(crate) fn incarnation(&self) -> u64 {
        self.top.0
    }

    /// When the member went down (effective time of the deciding statement), if it is down.
    pub(crate) fn down_since(&self) -> Option<u64> {
        (!self.status().is_live()).then_some(self.top.2)
    }

    pub(crate) fn statements(&self) -> impl Iterator<Item = &Signed> {
        self.statements.values()
    }

    /// Each statement anti-entropy shares, with whether it is a headline: the latest join (the
    /// key) or the status-deciding statement. The headlines alone settle a peer's view of the
    /// status; the others complete its view of the uptime.
    pub(crate) fn entry(&self) -> impl Iterator<Item = (bool, &Signed)> {
        self.statements
            .iter()
            .filter(|((_, id), _)| !self.dominated.contains(id))
            .map(|((_, id), s)| (*id == self.top.3 || *id == self.join_key.2, s))
    }

    pub(crate) fn info(&self, node: NodeId) -> MemberInfo {
        MemberInfo {
            node,
            public_key: self.key,
            contract: self.join.contract,
            pledged_bytes: self.join.pledged_bytes,
            incarnation: self.incarnation(),
            status: self.status(),
        }
    }

    /// Ids of the statements making incarnation `inc`'s first accusers.
    fn first_accuser_ids(&self, inc: u64) -> Vec<Hash256> {
        let keys: Vec<&Key> = self.statements.keys().collect();
        protected(&self.statements)
            .into_iter()
            .filter(|i| {
                self.statements
                    .0
                    .get(*i)
                    .and_then(|(_, s)| accusation(&s.statement))
                    .is_some_and(|(x, _)| x == inc)
            })
            .filter_map(|i| keys.get(i).map(|(_, id)| *id))
            .collect()
    }

    fn recompute(&mut self, max: usize) -> u64 {
        let mut jk: Option<(u64, u64, Hash256)> = None;
        for ((_, id), s) in self.statements.iter() {
            if let Statement::Join(j) = &s.statement {
                let k = (j.incarnation, j.at_ms, *id);
                if jk.is_none_or(|t| k > t) {
                    jk = Some(k);
                }
            }
        }
        // The deciding statement: highest precedence, and of equals the earliest (then the
        // smallest id), which is the one no other statement dominates.
        let mut top: Option<(u64, Rank, u64, Hash256)> = None;
        for ((_, id), s) in self.statements.iter() {
            if let Some((inc, rank)) = s.statement.precedence() {
                let k = (inc, rank, s.statement.effective_ms(), *id);
                let better = top.is_none_or(|t| {
                    (k.0, k.1, core::cmp::Reverse(k.2), core::cmp::Reverse(k.3))
                        > (t.0, t.1, core::cmp::Reverse(t.2), core::cmp::Reverse(t.3))
                });
                if better {
                    top = Some(k);
                }
            }
        }
        let mut dropped = 0;
        if let (Some(top), Some(jk)) = (top, jk) {
            self.top = top;
            self.join_key = jk;
            // Trim: newest first, always keeping the deciding statement, the latest join and
            // the first accusers of the deciding incarnation (they decide when a failure
            // stopped the clock).
            let accusers = self.first_accuser_ids(top.0);
            let mut keep = 0usize;
            let mut remove = Vec::new();
            for ((t, id), _) in self.statements.iter().rev() {
                if *id == top.3 || *id == jk.2 || accusers.contains(id) {
                    continue;
                }
                if keep + 2 < max.max(3) {
                    keep += 1;
                } else {
                    remove.push((*t, *id));
                }
            }
            if !remove.is_empty() {
                dropped += remove.len() as u64;
                self.statements.retain(|k| !remove.contains(k));
            }
            if let Some(Statement::Join(j)) = self.statements.values().map(|s| &s.statement).find(
                |s| matches!(s, Statement::Join(j) if (j.incarnation, j.at_ms) == (jk.0, jk.1)),
            ) {
                self.join = j.clone();
            }
        }
        // The latest join is shared whatever its rank: it carries the key.
        self.dominated = dominated(&self.statements);
        self.dominated.retain(|id| *id != self.join_key.2);
        self.summary = Summary::default();
        self.last_ms = 0;
        for ((_, id), s) in self.statements.iter() {
            if !self.dominated.contains(id) {
                self.summary.count += 1;
                self.summary.xor ^= prefix(id);
            }
            self.last_ms = self.last_ms.max(s.statement.at_ms());
        }
        dropped
    }
}

/// Ids of the statements that change neither status nor uptime, and so are neither shared by
/// anti-entropy nor counted in the summary: the status statements that do not raise the
/// running maximum precedence in time order ([`raising`]) and are not among their
/// incarnation's first accusers ([`first_accusers`]), which [`accrued_ms`] takes alone.
/// Both selections are closed under union (the raising statements of a union are the raising
/// statements of the union of the parts' raising statements; the first `k` accusers of a union
/// are among the parts' first `k`), so anti-entropy can compare and ship the rest alone and
/// still converge. This keeps the dozens of suspicions and failure declarations that a dead
/// member draws (one per prober) from each being sent to, and verified by, every node: the
/// entries converge on the first few of each.
fn dominated(statements: &Entries) -> Vec<Hash256> {
    let list: Vec<&Statement> = statements.values().map(|s| &s.statement).collect();
    let mut keep = vec![false; list.len()];
    for i in raising(&list) {
        keep[i] = true;
    }
    for i in protected(statements) {
        keep[i] = true;
    }
    statements
        .iter()
        .zip(&keep)
        .filter(|(((_, _), s), k)| !**k && s.statement.precedence().is_some())
        .map(|(((_, id), _), _)| *id)
        .collect()
}

/// Indexes (in `statements`' order) of the statements that make each incarnation's first
/// accusers: for each accuser, its earliest accusation (of equal times, the smallest id).
fn protected(statements: &Entries) -> Vec<usize> {
    let first = first_accusers(statements.values().map(|s| &s.statement));
    let mut out: Vec<usize> = Vec::new();
    let mut taken: Vec<(u64, NodeId)> = Vec::new();
    // Entries are in (effective time, id) order: the first statement met for an accuser is
    // its earliest, of equal times the smallest id.
    for (i, s) in statements.values().enumerate() {
        let Some((inc, a)) = accusation(&s.statement) else {
            continue;
        };
        let listed = first.get(&inc).is_some_and(|l| l.contains(&a));
        if listed && !taken.contains(&(inc, a.author)) {
            taken.push((inc, a.author));
            out.push(i);
        }
    }
    out
}

/// The fingerprint leaf of `node`: its first [`MAX_FINGERPRINT_BITS`] bits.
fn leaf_of(node: &NodeId) -> usize {
    let b = node.as_bytes();
    usize::from(u16::from_be_bytes([b[0], b[1]]) >> (16 - MAX_FINGERPRINT_BITS))
}

/// What one member adds to its bucket's fingerprint: 64 bits of a hash of its id and summary
/// (a hash rather than the summary itself, so that XORs of different members cannot cancel).
fn summary_hash(node: &NodeId, s: &Summary) -> u64 {
    let mut bytes = [0u8; 44];
    bytes[..32].copy_from_slice(node.as_bytes());
    bytes[32..36].copy_from_slice(&s.count.to_be_bytes());
    bytes[36..].copy_from_slice(&s.xor.to_be_bytes());
    prefix(&subspace_crypto::hash::blake3(&bytes))
}

fn prefix(id: &Hash256) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&id.0[..8]);
    u64::from_be_bytes(b)
}

/// What inserting one statement changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Change {
    pub(crate) before: Option<Status>,
    pub(crate) after: Status,
    pub(crate) incarnation: u64,
    pub(crate) fault: bool,
}

/// The membership pool. Only verified statements go in (the [`Gossip`](crate::Gossip) checks
/// signatures); the pool itself is pure data plus the merge rule.
#[derive(Debug, Clone)]
pub struct Pool {
    members: BTreeMap<NodeId, Member>,
    /// Weighs members for placement and eviction (see [`PledgeOracle`]).
    pledges: Pledges,
    /// The members that are down (failed or left), kept beside the map so that the per-period
    /// choices among them (gossip to the dead, anti-entropy partners) cost no walk of the pool.
    down: SortedIds,
    /// The live members (alive or suspect), sorted by id: the ring the probe schedule walks.
    live: SortedIds,
    /// Anti-entropy fingerprints at the finest level: for each of the `2^MAX_FINGERPRINT_BITS`
    /// id-prefix buckets, the XOR of [`summary_hash`] over its members (empty until the first
    /// member arrives). Kept up to date on every change, so a fingerprint message costs a fold.
    leaves: Vec<u64>,
    max_members: usize,
    max_statements: usize,
    /// Statements trimmed because an entry was full.
    pub dropped_statements: u64,
    /// Members evicted because the pool was full.
    pub evicted_members: u64,
}

impl Pool {
    /// An empty pool holding at most `max_members`, each with at most `max_statements`.
    pub fn new(max_members: usize, max_statements: usize) -> Pool {
        Pool {
            members: BTreeMap::new(),
            pledges: Pledges(std::sync::Arc::new(ClaimedPledges)),
            down: SortedIds::default(),
            live: SortedIds::default(),
            leaves: Vec::new(),
            max_members: max_members.max(1),
            max_statements: max_statements.max(3),
            dropped_statements: 0,
            evicted_members: 0,
        }
    }

    /// Members held.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub(crate) fn get(&self, node: &NodeId) -> Option<&Member> {
        self.members.get(node)
    }

    /// The members that are down (failed or left), in id order.
    pub(crate) fn down(&self) -> &SortedIds {
        &self.down
    }

    /// The fingerprint of every `2^bits` id-prefix bucket (`bits` at most
    /// [`MAX_FINGERPRINT_BITS`]), in id order: equal pools give equal fingerprints.
    pub fn fingerprints(&self, bits: u8) -> Vec<u64> {
        let bits = bits.min(MAX_FINGERPRINT_BITS);
        let mut out = vec![0u64; 1 << bits];
        if self.leaves.is_empty() {
            return out;
        }
        let shift = MAX_FINGERPRINT_BITS - bits;
        for (i, leaf) in self.leaves.iter().enumerate() {
            out[i >> shift] ^= leaf;
        }
        out
    }

    /// Files `node` under down or not and refreshes its fingerprint leaf, after its entry
    /// changed from `old` (its summary before, `None` if it was not held).
    fn track(&mut self, node: NodeId, old: Option<Summary>) {
        if self.leaves.is_empty() {
            self.leaves = vec![0; 1 << MAX_FINGERPRINT_BITS];
        }
        let leaf = leaf_of(&node);
        if let Some(old) = old {
            self.leaves[leaf] ^= summary_hash(&node, &old);
        }
        if let Some(m) = self.members.get(&node) {
            self.leaves[leaf] ^= summary_hash(&node, &m.summary);
        }
        let (live, down) = match self.members.get(&node) {
            Some(m) => (m.status().is_live(), !m.status().is_live()),
            None => (false, false),
        };
        for (index, member) in [(&mut self.live, live), (&mut self.down, down)] {
            if member {
                index.insert(node);
            } else {
                index.remove(&node);
            }
        }
    }

    /// The live members (alive or suspect), in id order.
    pub(crate) fn live(&self) -> &SortedIds {
        &self.live
    }

    /// The view of one member.
    pub fn member(&self, node: &NodeId) -> Option<MemberInfo> {
        self.members.get(node).map(|m| m.info(*node))
    }

    /// Every member, in id order.
    pub fn members(&self) -> impl Iterator<Item = MemberInfo> + '_ {
        self.members.iter().map(|(n, m)| m.info(*n))
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&NodeId, &Member)> {
        self.members.iter()
    }

    pub(crate) fn range(&self, from: NodeId) -> impl Iterator<Item = (&NodeId, &Member)> {
        self.members.range(from..)
    }

    /// The identity key of `node`, if it is a member.
    pub fn key_of(&self, node: &NodeId) -> Option<PublicKey> {
        self.members.get(node).map(|m| m.key)
    }

    /// The anti-entropy summary of `node`'s entry.
    pub fn summary(&self, node: &NodeId) -> Option<Summary> {
        self.members.get(node).map(|m| m.summary)
    }

    /// Whether the pool already holds statement `id` about `subject`.
    pub fn contains(&self, subject: &NodeId, at: u64, id: &Hash256) -> bool {
        self.members
            .get(subject)
            .is_some_and(|m| m.statements.contains_key(&(at, *id)))
    }

    /// Whether statement `st` (id `id`) would be dominated in the entry of `subject` held (see
    /// [`dominated`]): it would change neither the status nor the uptime this pool computes,
    /// nor be shared by anti-entropy.
    pub(crate) fn dominated_by_entry(
        &self,
        subject: &NodeId,
        st: &Statement,
        id: &Hash256,
    ) -> bool {
        let (Some(p), Some(m)) = (st.precedence(), self.members.get(subject)) else {
            return false;
        };
        let at = st.effective_ms();
        let raised_over = m.statements.iter().any(|((t, other), s)| {
            s.statement
                .precedence()
                .is_some_and(|q| q >= p && (*t < at || (*t == at && (q > p || other < id))))
        });
        if !raised_over {
            return false;
        }
        // Still wanted if it would be one of its incarnation's first accusers.
        let Some((inc, a)) = accusation(st) else {
            return true;
        };
        let held = m.statements.values().map(|s| &s.statement);
        !first_accusers(held.chain(core::iter::once(st)))
            .get(&inc)
            .is_some_and(|l| l.contains(&a))
    }

    /// Inserts a verified statement with id `id`. Statements about a node the pool does not
    /// know are only accepted if they are its join. Returns what changed, `None` if nothing.
    pub(crate) fn insert(&mut self, id: Hash256, s: Signed) -> Option<Change> {
        self.insert_parsed(id, s, None)
    }

    /// As [`Pool::insert`], with the key of a join already parsed by the caller (a point
    /// decompression costs about as much as a fifth of a signature check).
    pub(crate) fn insert_parsed(
        &mut self,
        id: Hash256,
        s: Signed,
        parsed: Option<PublicKey>,
    ) -> Option<Change> {
        let subject = s.statement.subject();
        let key = (s.statement.effective_ms(), id);
        if let Some(m) = self.members.get_mut(&subject) {
            if m.statements.contains_key(&key) {
                return None;
            }
            let before = m.status();
            let before_top = m.top;
            let old = m.summary;
            let fault = matches!(s.statement, Statement::Fault(_));
            if let Statement::Join(j) = &s.statement {
                m.first_join_ms = m.first_join_ms.min(j.at_ms);
            }
            m.statements.insert(key, s);
            self.dropped_statements += m.recompute(self.max_statements);
            let kept = m.statements.contains_key(&key);
            self.track(subject, Some(old));
            let m = self.members.get(&subject).filter(|_| kept)?;
            let changed = m.top != before_top || fault;
            let change = Change {
                before: Some(before),
                after: m.status(),
                incarnation: m.incarnation(),
                fault,
            };
            return changed.then_some(change);
        }
        let Statement::Join(j) = &s.statement else {
            return None;
        };
        let public_key = match parsed {
            Some(k) if k.to_bytes() == j.public_key => k,
            _ => j.key().ok()?,
        };
        if self.members.len() >= self.max_members && !self.evict_one() {
            return None;
        }
        let first_join_ms = j.at_ms;
        let mut m = Member {
            join: j.clone(),
            key: public_key,
            statements: Entries(vec![(key, s)]),
            top: (0, Rank::Alive, 0, Hash256::ZERO),
            join_key: (0, 0, Hash256::ZERO),
            dominated: Vec::new(),
            summary: Summary::default(),
            last_ms: 0,
            first_join_ms,
        };
        m.recompute(self.max_statements);
        let change = Change {
            before: None,
            after: m.status(),
            incarnation: m.incarnation(),
            fault: false,
        };
        self.members.insert(subject, m);
        self.track(subject, None);
        Some(change)
    }

    /// Evicts the stalest member, preferring one that is down. Returns whether one was evicted.
    /// Installs the oracle that weighs members (by default, [`ClaimedPledges`]).
    pub fn set_pledges(&mut self, oracle: impl PledgeOracle + Send + Sync + 'static) {
        self.pledges = Pledges(std::sync::Arc::new(oracle));
    }

    /// `node`'s weight for replica placement: what the oracle says it pledged (0 for a node
    /// not held).
    pub fn weight(&self, node: &NodeId) -> u64 {
        self.members
            .get(node)
            .map_or(0, |m| self.weight_of(node, m))
    }

    fn weight_of(&self, node: &NodeId, m: &Member) -> u64 {
        self.pledges
            .0
            .weight(node, &m.join.contract, m.join.pledged_bytes)
    }

    /// Evicts one member: one that is down if any; else, of the live, one the oracle gives no
    /// weight (a join no host contract backs) before one it does, and of those the newest
    /// (latest first join), so that a flood of free joins cannot push out long-standing members.
    /// Returns whether one was evicted.
    fn evict_one(&mut self) -> bool {
        let victim = self
            .members
            .iter()
            .min_by_key(|(n, m)| {
                let backed = self.weight_of(n, m) > 0;
                (
                    m.status().is_live(),
                    backed,
                    core::cmp::Reverse(m.first_join_ms),
                    **n,
                )
            })
            .map(|(n, _)| *n);
        match victim {
            Some(v) => {
                let old = self.members.remove(&v).map(|m| m.summary);
                self.track(v, old);
                self.evicted_members += 1;
                true
            }
            None => false,
        }
    }

    /// Merges every statement of `other` into this pool (no signature checks: both pools hold
    /// verified statements). Joins go first so that other news always finds its subject.
    pub fn merge(&mut self, other: &Pool) {
        for pass_joins in [true, false] {
            for m in other.members.values() {
                for ((_, id), s) in m.statements.iter() {
                    if matches!(s.statement, Statement::Join(_)) == pass_joins {
                        self.insert(*id, s.clone());
                    }
                }
            }
        }
    }

    /// Inserts a statement that the caller vouches for (tests, and tools replaying a trusted
    /// log); the id is computed here.
    pub fn insert_trusted(&mut self, s: Signed) -> bool {
        match s.id() {
            Ok(id) => self.insert(id, s).is_some(),
            Err(_) => false,
        }
    }

    /// Accrued online time of `node` in `interval`, in milliseconds (0 for unknown nodes).
    pub fn uptime_ms(&self, node: &NodeId, interval: Interval) -> u64 {
        self.members
            .get(node)
            .map(|m| accrued_ms(m.statements.values().map(|s| &s.statement), interval))
            .unwrap_or(0)
    }

    /// A canonical fingerprint of the whole pool (ids of every statement, in order).
    pub fn fingerprint(&self) -> Hash256 {
        let mut parts: Vec<u8> = Vec::with_capacity(self.members.len() * 40);
        for (n, m) in &self.members {
            parts.extend_from_slice(n.as_bytes());
            for (_, id) in m.statements.keys() {
                parts.extend_from_slice(id.as_bytes());
            }
        }
        subspace_crypto::hash::blake3(&parts)
    }

    /// Forgets history older than `horizon_ms` (keeping each entry's deciding statement and
    /// latest join) and drops members that have been down since before it. Returns the dropped.
    pub(crate) fn expire(&mut self, horizon_ms: u64) -> Vec<NodeId> {
        let mut gone = Vec::new();
        let mut changed = Vec::new();
        for (n, m) in self.members.iter_mut() {
            if m.down_since().is_some_and(|t| t < horizon_ms) {
                gone.push(*n);
                continue;
            }
            if m.statements.oldest().is_none_or(|t| t >= horizon_ms) {
                continue;
            }
            let (top, jk) = (m.top.3, m.join_key.2);
            let accusers = m.first_accuser_ids(m.top.0);
            let before = m.statements.len();
            m.statements.retain(|(t, id)| {
                *t >= horizon_ms || *id == top || *id == jk || accusers.contains(id)
            });
            if m.statements.len() != before {
                let old = m.summary;
                m.recompute(usize::MAX);
                if m.summary != old {
                    changed.push((*n, old));
                }
            }
        }
        for n in &gone {
            let old = self.members.remove(n).map(|m| m.summary);
            self.track(*n, old);
        }
        for (n, old) in changed {
            self.track(n, Some(old));
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statement::{Evidence, Failure, Fault, Leave, Suspect};
    use proptest::prelude::*;
    use subspace_crypto::{Keypair, Signature};

    fn keys() -> Vec<Keypair> {
        (1..=4u8).map(|i| Keypair::from_seed(&[i; 32])).collect()
    }

    // The pool never checks signatures, so the merge laws are tested on unsigned statements
    // (a zero signature) to keep the proptest fast.
    fn statement(keys: &[Keypair], (kind, a, b, inc, at): (u8, usize, usize, u64, u64)) -> Signed {
        let ka = &keys[a % keys.len()];
        let about = ka.node_id();
        let by = keys[b % keys.len()].node_id();
        let by = if by == about {
            keys[(b + 1) % keys.len()].node_id()
        } else {
            by
        };
        let st = match kind % 5 {
            0 => Statement::Join(Join {
                public_key: ka.public().to_bytes(),
                contract: ContractId::default(),
                pledged_bytes: 10,
                incarnation: inc,
                at_ms: at,
            }),
            1 => Statement::Leave(Leave {
                node: about,
                incarnation: inc,
                at_ms: at,
            }),
            2 => Statement::Suspect(Suspect {
                about,
                incarnation: inc,
                by,
                at_ms: at,
            }),
            3 => Statement::Failure(Failure {
                about,
                incarnation: inc,
                by,
                at_ms: at + 5,
                evidence: Evidence {
                    first_failed_probe_ms: at,
                    indirect_probers: vec![],
                    confirmations: 1,
                },
            }),
            _ => Statement::Fault(Fault {
                about,
                by,
                at_ms: at,
                proof: vec![inc as u8],
            }),
        };
        Signed {
            statement: st,
            signature: Signature::from_bytes([0; 64]),
        }
    }

    /// The incrementally kept indexes (down set, fingerprint leaves) match a fresh computation.
    fn check_indexes(p: &Pool) {
        let down: Vec<NodeId> = p
            .members
            .iter()
            .filter(|(_, m)| !m.status().is_live())
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(p.down.iter().copied().collect::<Vec<_>>(), down);
        let live: Vec<NodeId> = p
            .members
            .iter()
            .filter(|(_, m)| m.status().is_live())
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(p.live.iter().copied().collect::<Vec<_>>(), live);
        let mut leaves = vec![0u64; 1 << MAX_FINGERPRINT_BITS];
        for (n, m) in &p.members {
            leaves[leaf_of(n)] ^= summary_hash(n, &m.summary);
        }
        assert_eq!(p.fingerprints(MAX_FINGERPRINT_BITS), leaves);
        let coarse: u64 = leaves.iter().fold(0, |a, b| a ^ b);
        assert_eq!(p.fingerprints(0), vec![coarse]);
    }

    fn pool_of(keys: &[Keypair], items: &[(u8, usize, usize, u64, u64)], max: usize) -> Pool {
        let mut p = Pool::new(100, max);
        // Every subject's join first, so that all items land somewhere.
        for (i, k) in keys.iter().enumerate() {
            let _ = k;
            p.insert_trusted(statement(keys, (0, i, 0, 0, 0)));
        }
        for it in items {
            p.insert_trusted(statement(keys, *it));
        }
        p
    }

    fn arb_items() -> impl Strategy<Value = Vec<(u8, usize, usize, u64, u64)>> {
        proptest::collection::vec((0u8..5, 0usize..4, 0usize..4, 0u64..4, 0u64..1000), 0..24)
    }

    proptest! {
        #[test]
        fn merge_is_commutative_idempotent_associative(
            a in arb_items(), b in arb_items(), c in arb_items(), max in 3usize..8
        ) {
            let ks = keys();
            let (pa, pb, pc) = (pool_of(&ks, &a, max), pool_of(&ks, &b, max), pool_of(&ks, &c, max));
            let mut ab = pa.clone(); ab.merge(&pb);
            let mut ba = pb.clone(); ba.merge(&pa);
            prop_assert_eq!(ab.fingerprint(), ba.fingerprint());
            let mut aa = pa.clone(); aa.merge(&pa);
            prop_assert_eq!(aa.fingerprint(), pa.fingerprint());
            let mut ab_c = ab.clone(); ab_c.merge(&pc);
            let mut bc = pb.clone(); bc.merge(&pc);
            let mut a_bc = pa.clone(); a_bc.merge(&bc);
            prop_assert_eq!(ab_c.fingerprint(), a_bc.fingerprint());
            // Status and uptime agree wherever the statements agree.
            for k in &ks {
                let n = k.node_id();
                prop_assert_eq!(ab.member(&n), ba.member(&n));
                let i = Interval::new(0, 2000);
                prop_assert_eq!(ab.uptime_ms(&n, i), ba.uptime_ms(&n, i));
            }
        }

        #[test]
        fn shared_statements_decide_status_and_uptime(
            items in arb_items(), from in 0u64..1200, len in 0u64..1200
        ) {
            // Anti-entropy ships and compares only the undominated statements (and the latest
            // join): a node holding just those must compute what the holder computes.
            let ks = keys();
            let p = pool_of(&ks, &items, 32);
            let i = Interval::new(from, from + len);
            for (n, m) in p.iter() {
                let shared: Vec<Signed> = m.entry().map(|(_, s)| s.clone()).collect();
                prop_assert!(shared.len() <= m.statements.len());
                let mut q = Pool::new(100, 32);
                // The latest join first, as a receiver needs the key before the rest.
                let (joins, rest): (Vec<Signed>, Vec<Signed>) = shared
                    .into_iter()
                    .partition(|s| matches!(s.statement, Statement::Join(_)));
                for s in joins.into_iter().rev().chain(rest) {
                    q.insert_trusted(s);
                }
                prop_assert_eq!(q.member(n), p.member(n));
                prop_assert_eq!(q.uptime_ms(n, i), p.uptime_ms(n, i));
                prop_assert_eq!(q.summary(n), p.summary(n));
            }
        }

        #[test]
        fn insertion_order_does_not_matter(items in arb_items(), seed in any::<u64>()) {
            let ks = keys();
            let p1 = pool_of(&ks, &items, 6);
            let mut shuffled = items.clone();
            // A cheap deterministic shuffle driven by the seed.
            let mut s = seed | 1;
            for i in (1..shuffled.len()).rev() {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                shuffled.swap(i, (s % (i as u64 + 1)) as usize);
            }
            let p2 = pool_of(&ks, &shuffled, 6);
            prop_assert_eq!(p1.fingerprint(), p2.fingerprint());
            for bits in [0, 3, MAX_FINGERPRINT_BITS] {
                prop_assert_eq!(p1.fingerprints(bits), p2.fingerprints(bits));
            }
            check_indexes(&p1);
            check_indexes(&p2);
        }
    }

    #[test]
    fn higher_incarnation_refutes_and_stale_news_does_not_override() {
        let ks = keys();
        let mut p = Pool::new(10, 8);
        let n = ks[0].node_id();
        p.insert_trusted(statement(&ks, (0, 0, 0, 0, 10)));
        p.insert_trusted(statement(&ks, (2, 0, 1, 0, 20)));
        assert_eq!(p.member(&n).map(|m| m.status), Some(Status::Suspect));
        p.insert_trusted(statement(&ks, (0, 0, 0, 1, 30)));
        assert_eq!(p.member(&n).map(|m| m.status), Some(Status::Alive));
        // A suspicion about the old incarnation arriving late changes nothing.
        assert!(
            !p.insert_trusted(statement(&ks, (2, 0, 2, 0, 40)))
                || p.member(&n).map(|m| m.status) == Some(Status::Alive)
        );
        assert_eq!(p.member(&n).map(|m| m.status), Some(Status::Alive));
        p.insert_trusted(statement(&ks, (3, 0, 1, 1, 50)));
        assert_eq!(p.member(&n).map(|m| m.status), Some(Status::Failed));
    }

    #[test]
    fn accusations_beyond_the_first_accusers_are_held_but_not_shared() {
        let ks: Vec<Keypair> = (1..=6u8).map(|i| Keypair::from_seed(&[i; 32])).collect();
        let mut p = Pool::new(10, 32);
        let n = ks[0].node_id();
        let entry = |p: &Pool| p.get(&n).map(|m| m.entry().count());
        p.insert_trusted(statement(&ks, (0, 0, 0, 0, 10)));
        // The first three accusers of incarnation 0 are shared: they decide when a failure
        // of it stops the clock.
        for (by, at) in [(1, 30), (2, 40), (3, 50)] {
            p.insert_trusted(statement(&ks, (2, 0, by, 0, at)));
        }
        assert_eq!(entry(&p), Some(4));
        let three = p.summary(&n);
        // A fourth, later: held, not shared, and not wanted before its signature is checked.
        let fourth = statement(&ks, (2, 0, 4, 0, 60));
        let id = fourth.id().unwrap();
        assert!(p.dominated_by_entry(&n, &fourth.statement, &id));
        p.insert_trusted(fourth);
        assert_eq!(p.summary(&n), three);
        assert_eq!(entry(&p), Some(4));
        // An earlier accuser takes the third one's place.
        let earlier = statement(&ks, (2, 0, 5, 0, 20));
        let id = earlier.id().unwrap();
        assert!(!p.dominated_by_entry(&n, &earlier.statement, &id));
        p.insert_trusted(earlier);
        assert_ne!(p.summary(&n), three);
        assert_eq!(entry(&p), Some(4));
        // A failure: the clock stops at the earliest of the first accusers (20).
        p.insert_trusted(statement(&ks, (3, 0, 1, 0, 60)));
        assert_eq!(p.member(&n).map(|m| m.status), Some(Status::Failed));
        assert_eq!(p.uptime_ms(&n, Interval::new(0, 100)), 10);
        // A later status statement of the same incarnation is dominated.
        let late = statement(&ks, (3, 0, 2, 0, 70));
        let id = late.id().unwrap();
        assert!(p.dominated_by_entry(&n, &late.statement, &id));
        let rejoin = statement(&ks, (0, 0, 0, 1, 99));
        let id = rejoin.id().unwrap();
        assert!(!p.dominated_by_entry(&n, &rejoin.statement, &id));
    }

    #[test]
    fn a_failure_with_fewer_than_three_accusers_stops_no_clock() {
        let ks = keys();
        let mut p = Pool::new(10, 32);
        let n = ks[0].node_id();
        p.insert_trusted(statement(&ks, (0, 0, 0, 0, 10)));
        p.insert_trusted(statement(&ks, (3, 0, 1, 0, 20)));
        p.insert_trusted(statement(&ks, (2, 0, 2, 0, 30)));
        // Held failed (the member must refute), but two accusers cost it no uptime.
        assert_eq!(p.member(&n).map(|m| m.status), Some(Status::Failed));
        assert_eq!(p.uptime_ms(&n, Interval::new(0, 100)), 90);
        // A third accuser corroborates: the clock stops at the first accusation.
        p.insert_trusted(statement(&ks, (2, 0, 3, 0, 40)));
        assert_eq!(p.uptime_ms(&n, Interval::new(0, 100)), 10);
    }

    /// The chain backs only the first two members (by key).
    struct FirstTwo(Vec<NodeId>);

    impl PledgeOracle for FirstTwo {
        fn weight(&self, host: &NodeId, _: &ContractId, claimed: u64) -> u64 {
            if self.0[..2].contains(host) {
                claimed.min(100)
            } else {
                0
            }
        }
    }

    #[test]
    fn a_flood_of_free_joins_evicts_the_unbacked_and_newest_first() {
        let ks: Vec<Keypair> = (1..=12u8).map(|i| Keypair::from_seed(&[i; 32])).collect();
        let ids: Vec<NodeId> = ks.iter().map(Keypair::node_id).collect();
        for backed in [true, false] {
            let mut p = Pool::new(4, 8);
            if backed {
                p.set_pledges(FirstTwo(ids.clone()));
            }
            // Two long-standing members (joined at 0 and 1), then ten joins claiming u64::MAX.
            for i in 0..12 {
                let mut s = statement(&ks, (0, i, 0, 0, i as u64));
                if let Statement::Join(j) = &mut s.statement {
                    j.pledged_bytes = if i < 2 { 100 } else { u64::MAX };
                }
                p.insert_trusted(s);
            }
            assert_eq!(p.len(), 4);
            assert!(
                p.member(&ids[0]).is_some() && p.member(&ids[1]).is_some(),
                "{backed}"
            );
            // The chain's word, not the claim, is the weight.
            assert_eq!(p.weight(&ids[0]), 100);
            let flood = ids[2..].iter().find(|n| p.member(n).is_some()).unwrap();
            assert_eq!(p.weight(flood), if backed { 0 } else { u64::MAX });
            check_indexes(&p);
        }
    }

    #[test]
    fn pool_is_bounded() {
        let ks = keys();
        let mut p = Pool::new(2, 8);
        for i in 0..4 {
            p.insert_trusted(statement(&ks, (0, i, 0, 0, i as u64)));
        }
        assert_eq!(p.len(), 2);
        assert_eq!(p.evicted_members, 2);
        check_indexes(&p);
    }

    #[test]
    fn expiry_keeps_the_indexes_in_step() {
        let ks = keys();
        // Joins at 10..13, node 1 failed at 20 (by 0), node 2 suspected at 30 (by 0).
        let items = [
            (0, 0, 0, 1, 10),
            (0, 1, 0, 1, 11),
            (0, 2, 0, 1, 12),
            (0, 3, 0, 1, 13),
            (3, 1, 0, 1, 20),
            (2, 2, 0, 1, 30),
        ];
        let mut p = pool_of(&ks, &items, 8);
        check_indexes(&p);
        assert!(p.down().contains(&ks[1].node_id()));
        let gone = p.expire(40);
        assert_eq!(gone, vec![ks[1].node_id()]);
        check_indexes(&p);
        assert!(p.down().is_empty());
    }
}
