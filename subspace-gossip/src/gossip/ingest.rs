//! Statement intake: pre-checks, batch verification, applying news, refutation.

use super::*;

impl Gossip {
    /// Piggy-backed news for a message to `to`: a new node's own join, the statement that made
    /// `to` suspect (Lifeguard's buddy system, so it can refute at once), then queued news.
    pub(super) fn piggyback(&mut self, to: Option<NodeId>, now: Instant) -> Vec<Signed> {
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
    pub(super) fn bad_news(&self, node: &NodeId) -> Option<Signed> {
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

    pub(super) fn latest_join(&self, node: &NodeId) -> Option<Signed> {
        let m = self.pool.get(node)?;
        m.statements()
            .filter(|s| matches!(&s.statement, Statement::Join(j) if *j == m.join))
            .last()
            .cloned()
    }

    pub(super) fn sign_join(&mut self, now: Instant) -> Result<Signed> {
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

    pub(super) fn accept_own(&mut self, signed: Signed) -> Result<()> {
        let id = signed.id()?;
        if let Some(ch) = self.pool.insert(id, signed.clone()) {
            self.on_change(signed.statement.subject(), ch);
        }
        self.broadcasts.push(signed);
        Ok(())
    }

    /// Accepts what verifies; returns how many statements were news.
    ///
    /// The signatures still to check are checked as one batch (a delta carries hundreds, and a
    /// batch costs about half as much per signature); if the batch fails, each is checked on
    /// its own, which finds the bad ones. Both use [`verify_batch`]'s acceptance rule, so
    /// whether a statement arrives alone or in company never changes whether it is accepted.
    pub(super) fn accept_all(
        &mut self,
        now: Instant,
        statements: Vec<Signed>,
        rebroadcast: bool,
    ) -> usize {
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
    pub(super) fn verify_ahead(&mut self, ready: &[(Signed, Hash256, PublicKey)]) -> bool {
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
    pub(super) fn accept(&mut self, now: Instant, s: Signed, rebroadcast: bool) -> Result<bool> {
        match self.precheck(now, &s)? {
            Some((id, key)) => self.accept_checked(now, s, id, key, false, rebroadcast),
            None => Ok(false),
        }
    }

    /// The checks before any signature work: shape, time window, whether the statement is
    /// held already or would change nothing. Returns its id and its author's key if it still
    /// needs to be verified and applied.
    pub(super) fn precheck(
        &self,
        now: Instant,
        s: &Signed,
    ) -> Result<Option<(Hash256, PublicKey)>> {
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
            && self.pool.dominated_by_entry(&subject, st, &id)
            && !self.wants_confirmation(st)
        {
            return Ok(None);
        }
        // An accusation may name only an incarnation its subject signed: a suspicion or a
        // failure "from the future" would outrank every refutation the subject could make.
        if let Statement::Suspect(Suspect { incarnation, .. })
        | Statement::Failure(Failure { incarnation, .. }) = st
        {
            let signed = self.pool.get(&subject).map(|m| m.join.incarnation);
            if signed.is_none_or(|signed| *incarnation > signed) {
                return Err(GossipError::FutureIncarnation);
            }
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
    pub(super) fn accept_checked(
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
        // Statements the pool holds were answered above; a private cache remembers those
        // verified but not held (superseded or trimmed at once), so that their copies still in
        // flight are not verified again; a shared one remembers every statement verified, for
        // the other identities that share it.
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
        if !cached && (self.cache_shared || !held) {
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
            let sus = self.suspicions.entry(subject).or_insert_with(|| Suspicion {
                incarnation: inc,
                started: now,
                first_failed_ms: u64::MAX,
                confirmers: BTreeSet::new(),
                probers: Vec::new(),
                mine: false,
                pulls: 0,
            });
            if by != self.me && sus.confirmers.insert(by) {
                confirms = sus.confirmers.len() <= self.config.indirect_probes.max(1);
            }
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
    pub(super) fn wants_confirmation(&self, st: &Statement) -> bool {
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

    pub(super) fn refute(&mut self, now: Instant, inc: u64) -> Result<()> {
        // `inc` is at most an incarnation this node signed (accusations from the future are
        // refused), so this overflows only if it signed u64::MAX itself.
        self.incarnation = inc.checked_add(1).ok_or(GossipError::Stale)?;
        self.lhm_up();
        self.stats.refutations += 1;
        self.sign_join(now).map(|_| ())
    }

    pub(super) fn on_change(&mut self, node: NodeId, ch: Change) {
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
