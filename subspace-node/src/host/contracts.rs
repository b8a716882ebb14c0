//! Data contracts this host owns (reservations, usage tallies, contract-state records) and
//! the ledger calls a client makes.

use super::*;

impl<S: RecordStore> Host<S> {
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
    pub(super) fn over_reservation(&self, record: &Record, len: u64) -> Option<String> {
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
    pub(super) fn count_usage(&mut self, contract: ContractId, key: RecordKey, bytes: u64) {
        self.track_contract(contract);
        let Some(o) = self.owned.get_mut(&contract) else {
            return;
        };
        o.state.record_put(key, bytes);
        o.dirty = true;
        self.claim_tally(contract);
    }

    /// Claims the tally of `contract` if the chain holds that contract.
    pub(super) fn claim_tally(&mut self, contract: ContractId) {
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
    pub(super) fn upkeep_contract_states(&mut self, now: Instant) {
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
    pub(super) fn finish_internal(&mut self, what: Internal, outcome: Completion) {
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
}
