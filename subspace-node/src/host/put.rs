//! Puts: the coordinator (validate, store its own replica, choose hosts, announce) and the
//! hosts it replicates to; holder sets.

use super::*;

impl<S: RecordStore> Host<S> {
    /// Starts storing `record` with R replicas; the outcome arrives as [`Completion::Put`].
    pub fn start_put(&mut self, record: &Record) -> OpId {
        self.start_put_as(record, true)
    }

    /// [`Host::start_put`]; `tally` says whether the put of a record this host owns counts in
    /// its contract's tally (its own contract-state record does not).
    pub(super) fn start_put_as(&mut self, record: &Record, tally: bool) -> OpId {
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

    pub(super) fn on_put(&mut self, now: Instant, client: NodeId, req: u64, bytes: Vec<u8>) {
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

    pub(super) fn refuse_put(&mut self, client: NodeId, req: u64, step: PutStep, why: &str) {
        let mut reason = why.to_string();
        reason.truncate(crate::message::MAX_REASON_LEN);
        self.send(client, NodeMessage::PutFailed { req, step, reason });
    }

    pub(super) fn fail_put_op(&mut self, op: OpId, step: PutStep, why: &str) {
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
    pub(super) fn accept_replica(
        &mut self,
        bytes: &[u8],
    ) -> std::result::Result<Receipt, (PutStep, String)> {
        let record = Record::decode(bytes).map_err(|e| (PutStep::Validation, e.to_string()))?;
        let unix = self.clock.unix_secs();
        let key = subspace_record::validate_with_contract(&record, &LedgerRef(&*self.ledger), unix)
            .map_err(|e| match e {
                subspace_record::RecordError::Contract(_) => (PutStep::Contract, e.to_string()),
                _ => (PutStep::Validation, e.to_string()),
            })?;
        self.store_replica(key, &record, bytes)
    }

    pub(super) fn store_replica(
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
    pub(super) fn reclaim_plots(&mut self) {
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
    pub(super) fn local_record(&self, key: &RecordKey) -> Option<Record> {
        self.local_record_bytes(key)
            .and_then(|b| Record::decode(&b).ok())
    }

    pub(super) fn local_record_bytes(&self, key: &RecordKey) -> Option<Vec<u8>> {
        let entry = self.store.get(key).ok()??;
        let replica = subspace_por::Replica::from_bytes(entry.body).ok()?;
        replica
            .decode(&self.keypair.public(), key.as_bytes(), self.cfg.layers)
            .ok()
    }

    /// Adds live holders of an older version to a mutable put's targets (the client too, if it
    /// holds one), up to what one holder set can carry.
    pub(super) fn add_old_holders(&mut self, job: u64, holders: &[NodeId]) {
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
    pub(super) fn dispatch(&mut self, now: Instant, job: u64) {
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

    pub(super) fn on_replicated(&mut self, now: Instant, from: NodeId, req: u64, receipt: &[u8]) {
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

    pub(super) fn announce_job(&mut self, now: Instant, job: u64) {
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

    pub(super) fn finish_job(&mut self, job: u64) {
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

    pub(super) fn fail_job(&mut self, job: u64, step: PutStep, why: &str) {
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
    pub(super) fn on_holders(&mut self, key: RecordKey, receipts: &[Vec<u8>]) {
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
    pub(super) fn write_meta(&mut self, key: RecordKey, meta: &HolderMeta) {
        if let (Ok(Some(mut entry)), Ok(m)) = (self.store.get(&key), codec::encode(meta)) {
            entry.meta = m;
            let _ = self.store.put(key, entry);
        }
    }
}
