//! Gets: the holder side (serve a replica with signed times) and the client side (try
//! holders, check each answer, fault liars).

use super::*;

impl<S: RecordStore> Host<S> {
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

    pub(super) fn on_fetch(&mut self, from: NodeId, req: u64, key: RecordKey, deadline_ms: u64) {
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

    pub(super) fn next_holder(&mut self, now: Instant, op: OpId) {
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

    pub(super) fn on_fetch_reply(
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

    pub(super) fn report_late(&mut self, now: Instant, from: NodeId, header: &SignedFetchHeader) {
        self.deprioritise(from);
        if header.header.admits_lateness() {
            let proof = FaultProof::Late {
                header: header.clone(),
            };
            self.report_fault(now, from, &proof);
        }
    }

    pub(super) fn report_fault(&mut self, now: Instant, host: NodeId, proof: &FaultProof) {
        if let Ok(p) = codec::encode(proof)
            && self.gossip.report_fault(now, host, p).is_ok()
        {
            self.stats.faults_reported += 1;
        }
    }

    /// Ranks `peer` behind every holder that answered in time (local only: slowness a host
    /// does not admit to cannot be proven to anyone else).
    pub(super) fn deprioritise(&mut self, peer: NodeId) {
        if self.rtt.len() < MAX_RTT_PEERS || self.rtt.contains_key(&peer) {
            self.rtt.insert(peer, Duration::MAX);
        }
    }

    pub(super) fn finish_get(&mut self, op: OpId) {
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
}
