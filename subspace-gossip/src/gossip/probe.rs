//! SWIM probing on the ring schedule: pings, indirect probes, acks, suspicion and failure.

use subspace_crypto::domain;
use subspace_crypto::pairwise::PairKey;

use super::*;
use crate::config::ProbeAuth;
use crate::message::{Ack, Hop, Probe, ProbeKind};

/// Most pairwise MAC keys cached (32 bytes each); an evicted key is derived again when needed.
const MAX_PAIR_KEYS: usize = 4096;

impl Gossip {
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
    pub(super) fn scheduled_target(&self, now: Instant) -> Option<NodeId> {
        let t = self.unix_ms(now) / self.period_ms().max(1);
        ring_target(self.pool.live(), &self.me, t)
    }

    /// memberlist's "gossip to the dead": each period, tell one member we hold failed (not left)
    /// that we did. A dead host ignores it; one cut off by a partition that has healed learns
    /// of its failure, refutes, and answers (see `answer_partition`), which is how the halves
    /// find each other again. One small message per period, whatever the number of failures.
    pub(super) fn gossip_to_the_dead(&mut self) {
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
    pub(super) fn pull_overdue(&mut self, now: Instant) {
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

    pub(super) fn start_probe(&mut self, now: Instant) -> Result<()> {
        let Some(target) = self.scheduled_target(now) else {
            return Ok(());
        };
        self.seq = self.seq.wrapping_add(1);
        self.probe = Some(ProbeState {
            target,
            seq: self.seq,
            started_ms: self.unix_ms(now),
            indirect_at: now + self.scaled(self.config.probe_timeout),
            deadline: now + self.scaled(self.config.protocol_period),
            probers: Vec::new(),
        });
        let probe = Probe {
            from: self.me,
            target,
            seq: self.seq,
        };
        // Without a MAC key for the target the ping cannot be sent; the probe times out and
        // the target is suspected, as one that never answers would be.
        if let Some(hop) = self.hop(probe, &target) {
            let piggyback = self.piggyback(Some(target), now);
            self.send(
                target,
                Message {
                    body: Body::Ping(hop),
                    piggyback,
                },
            );
        }
        Ok(())
    }

    /// Probe timers: indirect probes once the direct ack is late, a suspicion once the probe
    /// got no ack at all, a failure once a suspicion of our own timed out.
    pub(super) fn probe_timers(&mut self, now: Instant) {
        let indirect = match &self.probe {
            Some(p) if p.probers.is_empty() && now >= p.indirect_at && now < p.deadline => {
                Some((p.target, p.seq))
            }
            _ => None,
        };
        if let Some((target, seq)) = indirect {
            self.send_indirect_probes(now, target, seq);
        }
        if let Some(p) = self.probe.clone()
            && now >= p.deadline
        {
            self.probe = None;
            self.lhm_up();
            let r = self.suspect(now, p);
            self.step(r);
        }
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
    }

    /// SWIM's indirect probes through `k` live members, plus Lifeguard's fallback: the target
    /// pinged directly once more (memberlist does so over TCP). Under independent loss the
    /// fallback alone cuts the probes that end in a false suspicion five-fold, and every false
    /// suspicion costs the whole network a suspicion and a refutation to verify.
    fn send_indirect_probes(&mut self, now: Instant, target: NodeId, seq: u64) {
        let k = self.config.indirect_probes;
        let probers = self.pick_live(k, &[target], |s| s == Status::Alive);
        let probe = Probe {
            from: self.me,
            target,
            seq,
        };
        if let Some(hop) = self.hop(probe, &target) {
            let piggyback = self.piggyback(Some(target), now);
            self.send(
                target,
                Message {
                    body: Body::Ping(hop),
                    piggyback,
                },
            );
        }
        for p in &probers {
            if let Some(hop) = self.hop(probe, p) {
                let piggyback = self.piggyback(Some(*p), now);
                self.send(
                    *p,
                    Message {
                        body: Body::PingReq(hop),
                        piggyback,
                    },
                );
            }
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

    pub(super) fn suspect(&mut self, now: Instant, p: ProbeState) -> Result<()> {
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

    pub(super) fn declare_failed(
        &mut self,
        now: Instant,
        node: NodeId,
        s: Suspicion,
    ) -> Result<()> {
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

    /// `body` as a hop to `to`: with its MAC under our pairwise key when the nodes use MACs
    /// (`None` if there is no key: `to` unknown, or its key weak).
    fn hop<T: ProbeKind + Copy>(&mut self, body: T, to: &NodeId) -> Option<Hop<T>> {
        if self.config.probe_auth == ProbeAuth::Transport {
            return Some(Hop { body, mac: None });
        }
        let bytes = Hop::mac_bytes(&body, &self.me, to).ok()?;
        let mac = self.pair_key(to)?.tag(&bytes);
        Some(Hop {
            body,
            mac: Some(mac),
        })
    }

    /// Checks that a hop comes from `from`, as the transport or its MAC says (see
    /// [`ProbeAuth`]): `claimed` is who the hop's body says sent it, and must be `from`.
    /// Anything else is a forged probe: refused and counted.
    fn check_hop<T: ProbeKind>(
        &mut self,
        hop: &Hop<T>,
        from: &NodeId,
        claimed: &NodeId,
    ) -> Result<()> {
        let ok = claimed == from
            && match self.config.probe_auth {
                ProbeAuth::Transport => true,
                _ => self.mac_ok(hop, from),
            };
        if ok {
            Ok(())
        } else {
            self.stats.probes_forged += 1;
            Err(GossipError::SenderMismatch)
        }
    }

    fn mac_ok<T: ProbeKind>(&mut self, hop: &Hop<T>, from: &NodeId) -> bool {
        let Some(mac) = hop.mac else {
            return false;
        };
        let Ok(bytes) = Hop::mac_bytes(&hop.body, from, &self.me) else {
            return false;
        };
        self.pair_key(from).is_some_and(|k| k.check(&bytes, &mac))
    }

    /// The MAC key we share with `peer`, derived once and cached (bounded: a key evicted is
    /// derived again when needed). `None` when `peer` is not in the pool or its key is weak.
    fn pair_key(&mut self, peer: &NodeId) -> Option<&PairKey> {
        if !self.pair_keys.contains_key(peer) {
            let key = self.pool.key_of(peer)?;
            let k = PairKey::derive(&self.keypair, &key, domain::PROBE_MAC).ok()?;
            if self.pair_keys.len() >= MAX_PAIR_KEYS {
                self.pair_keys.pop_first();
            }
            self.pair_keys.insert(*peer, k);
        }
        self.pair_keys.get(peer)
    }

    /// A direct probe: answered with an ack to its sender.
    pub(super) fn on_ping(&mut self, now: Instant, from: NodeId, hop: Hop<Probe>) -> Result<()> {
        if hop.body.target != self.me || hop.body.from != from {
            self.stats.probes_forged += 1;
            return Err(GossipError::SenderMismatch);
        }
        if self.pool.get(&from).is_none() {
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
            if self.config.probe_auth != ProbeAuth::Transport {
                return Err(GossipError::UnknownSigner);
            }
        }
        self.check_hop(&hop, &from, &hop.body.from)?;
        self.send_ack(now, from, from, hop.body.seq);
        Ok(())
    }

    /// A request to probe `target` for its sender: passed on as an indirect ping, the ack to
    /// be relayed back (see [`Self::on_ack`]).
    pub(super) fn on_ping_req(
        &mut self,
        now: Instant,
        from: NodeId,
        hop: Hop<Probe>,
    ) -> Result<()> {
        if hop.body.target == self.me {
            return Err(GossipError::SenderMismatch);
        }
        self.check_hop(&hop, &from, &hop.body.from)?;
        let target = hop.body.target;
        let Some(out) = self.hop(hop.body, &target) else {
            return Err(GossipError::UnknownSigner);
        };
        if self.relays.len() >= MAX_RELAYS {
            self.relays.pop_first();
        }
        let exp = now + self.scaled(self.config.protocol_period);
        self.relays.insert((from, hop.body.seq), (target, exp));
        // Carry the requester's join so a target that has not heard of it knows it.
        let mut piggyback: Vec<Signed> = self.latest_join(&from).into_iter().collect();
        piggyback.extend(self.piggyback(Some(target), now));
        self.send(
            target,
            Message {
                body: Body::IndirectPing(out),
                piggyback,
            },
        );
        Ok(())
    }

    /// A probe relayed by `from` for `hop.body.from`, which is the relay's word only: the ack
    /// goes back through the relay, and straight to the requester too when it is a member we
    /// hold live (a second path home for the one message that decides whether we are
    /// suspected, and never a reflector towards strangers).
    pub(super) fn on_indirect_ping(
        &mut self,
        now: Instant,
        from: NodeId,
        hop: Hop<Probe>,
    ) -> Result<()> {
        if hop.body.target != self.me {
            return Err(GossipError::SenderMismatch);
        }
        // The hop's sender is the relay: only that is authenticated.
        self.check_hop(&hop, &from, &from)?;
        let requester = hop.body.from;
        self.send_ack(now, from, requester, hop.body.seq);
        let known = self
            .pool
            .get(&requester)
            .is_some_and(|m| m.status().is_live());
        if requester != from && requester != self.me && known {
            let ack = Ack {
                from: self.me,
                to: requester,
                seq: hop.body.seq,
            };
            if let Some(hop) = self.hop(ack, &requester) {
                self.send(
                    requester,
                    Message {
                        body: Body::Ack(hop),
                        piggyback: Vec::new(),
                    },
                );
            }
        }
        Ok(())
    }

    /// Sends `via` our ack of `to`'s probe `seq`, with piggy-backed news.
    fn send_ack(&mut self, now: Instant, via: NodeId, to: NodeId, seq: u64) {
        let ack = Ack {
            from: self.me,
            to,
            seq,
        };
        if let Some(hop) = self.hop(ack, &via) {
            let piggyback = self.piggyback(Some(via), now);
            self.send(
                via,
                Message {
                    body: Body::Ack(hop),
                    piggyback,
                },
            );
        }
    }

    /// An ack: of our own probe (from the target itself, or relayed by a member we asked to
    /// probe it), or one to relay back to a requester whose indirect probe we carried.
    pub(super) fn on_ack(&mut self, now: Instant, from: NodeId, hop: Hop<Ack>) -> Result<()> {
        let a = hop.body;
        if a.to == self.me {
            let Some(p) = self
                .probe
                .as_ref()
                .filter(|p| p.target == a.from && p.seq == a.seq && now < p.deadline)
            else {
                // A second copy of the ack that already answered our probe (the direct and the
                // relayed path both delivered) is no fault of the sender.
                if self.last_acked == Some((a.from, a.seq)) {
                    return Ok(());
                }
                return Err(GossipError::UnexpectedAck);
            };
            // From the target, or from a relay we asked (whose word it then is).
            let relay = p.probers.contains(&from) && from != self.me;
            let claimed = if relay { from } else { a.from };
            self.check_hop(&hop, &from, &claimed)?;
            self.probe = None;
            self.last_acked = Some((a.from, a.seq));
            self.lhm_down();
            return Ok(());
        }
        // Relay for a requester whose indirect probe we carried.
        match self.relays.get(&(a.to, a.seq)) {
            Some((target, _)) if *target == a.from => {
                self.check_hop(&hop, &from, &a.from)?;
                self.relays.remove(&(a.to, a.seq));
                if let Some(out) = self.hop(a, &a.to) {
                    self.send(
                        a.to,
                        Message {
                            body: Body::Ack(out),
                            piggyback: Vec::new(),
                        },
                    );
                }
                Ok(())
            }
            _ => Err(GossipError::UnexpectedAck),
        }
    }
}

/// The member `me` probes in wall-time period `t`, given the live members in id order (see
/// [`Gossip::scheduled_target`]); `None` when there is nobody else.
pub(super) fn ring_target(live: &SortedIds, me: &NodeId, t: u64) -> Option<NodeId> {
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
pub(super) fn mix64(x: u64) -> u64 {
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
