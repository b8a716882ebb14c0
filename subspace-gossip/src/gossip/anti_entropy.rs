//! Scuttlebutt anti-entropy: bucket fingerprints, digests of differing ranges, deltas.

use super::*;

impl Gossip {
    /// A digest of the members in `[from, to]`, cut at `max_digest_entries` (the range then
    /// ending at the last entry it holds).
    pub(super) fn digest_of(&self, from: NodeId, to: NodeId) -> Digest {
        self.digest_of_at_most(from, to, self.config.max_digest_entries)
    }

    /// As [`Self::digest_of`], cut at `max` entries.
    pub(super) fn digest_of_at_most(&self, from: NodeId, to: NodeId, max: usize) -> Digest {
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
    pub(super) fn digest_range(&mut self, peer: NodeId, from: NodeId, to: NodeId) -> Digest {
        let digest = self.digest_of(from, to);
        self.remember_range(peer, digest.from, digest.to);
        digest
    }

    pub(super) fn remember_range(&mut self, peer: NodeId, from: NodeId, to: NodeId) {
        self.ae_ranges.insert(peer, (from, to));
        while self.ae_ranges.len() > MAX_AE_RANGES {
            self.ae_ranges.pop_first();
        }
    }

    pub(super) fn start_anti_entropy(&mut self) {
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
    pub(super) fn on_fingerprints(&mut self, from: NodeId, f: Fingerprints) -> Result<()> {
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
    pub(super) fn delta_for(
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

    /// Anti-entropy's second and third legs: news to accept, and what the peer wants back.
    pub(super) fn on_delta(
        &mut self,
        now: Instant,
        from: NodeId,
        statements: Vec<Signed>,
        want: Vec<NodeId>,
    ) {
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
    }

    pub(super) fn on_digest(&mut self, now: Instant, from: NodeId, d: Digest) {
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

    /// Closes a healed partition pairwise. A member that told us we are suspect or failed gets
    /// our latest join at once (fresh from the refutation, or already newer than its news), and
    /// a member we hold failed that reached us gets the failure, so it refutes and answers with
    /// its own join: the two sides restore each other in one round trip instead of waiting for
    /// the news to be piggy-backed across.
    pub(super) fn answer_partition(&mut self, from: NodeId, told_me_down: bool) {
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
}

/// The first and last id of bucket `i` of `2^bits` id-prefix buckets.
pub(super) fn bucket_range(i: usize, bits: u8) -> (NodeId, NodeId) {
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
pub(super) fn id_slice(i: usize, k: usize) -> (NodeId, NodeId) {
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
