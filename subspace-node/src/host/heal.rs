//! Keeping records at R: healing after a holder leaves, fails or is proven faulty, and
//! re-announcing replicas to the DHT.

use super::*;

impl<S: RecordStore> Host<S> {
    /// Re-announces this host's replicas to the DHT, each with a freshly signed receipt, so
    /// that its holder entries (which expire after [`subspace_dht::DhtConfig::replica_ttl`])
    /// stay: a slice of the stored records every `republish_interval / REPUBLISH_SLICES`, so
    /// that every record is announced again within one republish interval. The first slice
    /// goes out one step after joining (a restarted host announces what it kept).
    pub(super) fn republish(&mut self, now: Instant) {
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

    /// A fault by `host` was proven: it no longer counts as a holder of anything here, its
    /// announcements leave the DHT, and the records it held are healed as if it had failed.
    pub(super) fn on_fault_proven(&mut self, now: Instant, host: NodeId) {
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

    /// After `gone` left or failed: for every local record it held, the closest surviving
    /// holder to the key re-replicates it to a new host.
    pub(super) fn heal_after(&mut self, now: Instant, gone: NodeId) {
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
}
