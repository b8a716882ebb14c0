//! Events of the layers and the node messages, routed to the workflows.

use super::*;

impl<S: RecordStore> Host<S> {
    pub(super) fn on_gossip_event(&mut self, now: Instant, ev: subspace_gossip::Event) {
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

    pub(super) fn on_dht_event(&mut self, now: Instant, ev: subspace_dht::Event) {
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

    pub(super) fn handle_node(&mut self, now: Instant, from: NodeId, m: NodeMessage) {
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
}
