//! A stateful driver for hostile input: one gossip node fed arbitrary statements, each signed by
//! one of a few member keys, with its invariants checked after every step. Used by the
//! `byzantine` proptest and by the `gossip_statements` fuzz target (which includes this file).

use std::time::{Duration, Instant};

use subspace_crypto::{ContractId, Keypair, NodeId};
use subspace_gossip::statement::{Evidence, Failure, Fault, Join, Leave, Suspect};
use subspace_gossip::{Body, Config, Gossip, Interval, Message, Statement, Status};

/// Bytes one step takes.
pub const OP_LEN: usize = 24;
/// Members besides the node under test.
const MEMBERS: u8 = 4;
const UNIX0: u64 = 1_800_000_000_000;

/// The node under test and the members whose keys sign what it is fed.
pub struct Hostile {
    t0: Instant,
    now: Instant,
    node: Gossip,
    keys: Vec<Keypair>,
}

impl Default for Hostile {
    fn default() -> Self {
        Self::new()
    }
}

impl Hostile {
    /// A joined node that holds the members' joins.
    pub fn new() -> Hostile {
        let t0 = Instant::now();
        let config = Config {
            max_members: 16,
            max_statements_per_member: 8,
            ..Config::default()
        };
        let mut node = Gossip::new(config, Keypair::from_seed(&[0xAA; 32]), 7);
        node.join(t0, UNIX0, ContractId::default(), 1 << 30, &[])
            .expect("join");
        let keys: Vec<Keypair> = (1..=MEMBERS)
            .map(|i| Keypair::from_seed(&[i; 32]))
            .collect();
        let mut h = Hostile {
            t0,
            now: t0,
            node,
            keys,
        };
        for i in 0..h.keys.len() {
            let join = Statement::Join(Join {
                public_key: h.keys[i].public().to_bytes(),
                contract: ContractId::default(),
                pledged_bytes: 1 << 20,
                incarnation: UNIX0,
                at_ms: UNIX0,
            });
            h.deliver(i, join);
        }
        h
    }

    fn unix_ms(&self) -> u64 {
        UNIX0 + u64::try_from((self.now - self.t0).as_millis()).unwrap_or(u64::MAX)
    }

    /// Signs `st` with member `by`'s key and hands it to the node as news from `by`.
    fn deliver(&mut self, by: usize, st: Statement) {
        let Ok(signed) = st.sign(&self.keys[by]) else {
            return;
        };
        let msg = Message {
            body: Body::News,
            piggyback: vec![signed],
        };
        let from = self.keys[by].node_id();
        let _ = self.node.handle_message(self.now, from, msg);
        while self.node.poll_transmit().is_some() {}
        while self.node.poll_event().is_some() {}
    }

    /// One step from `op`: a statement of any kind, by any member, about any member or the
    /// node itself, with incarnations and times from the harmless to the extreme; or time
    /// passing.
    pub fn step(&mut self, op: &[u8; OP_LEN]) {
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&op[i..i + 8]);
            u64::from_le_bytes(b)
        };
        let by = usize::from(op[1] % MEMBERS);
        let about_i = op[2] % (MEMBERS + 1);
        let about: NodeId = if about_i == MEMBERS {
            self.node.node_id()
        } else {
            self.keys[usize::from(about_i)].node_id()
        };
        let now = self.unix_ms();
        let inc = match op[3] % 6 {
            0 => UNIX0,
            1 => UNIX0 + u64::from(op[4]),
            2 => u64::MAX,
            3 => u64::MAX - 1,
            4 => 0,
            _ => word(8),
        };
        let day = 24 * 3600 * 1000;
        let at = match op[5] % 6 {
            0 => now,
            1 => now.saturating_sub(u64::from(op[6]) * 1000),
            2 => now.saturating_sub(29 * day),
            3 => now + 30_000,
            4 => u64::MAX,
            _ => word(16),
        };
        let earlier = at.saturating_sub(u64::from(op[7]) * 60_000);
        let st = match op[0] % 7 {
            0 => Statement::Join(Join {
                public_key: self.keys[by].public().to_bytes(),
                contract: ContractId::default(),
                pledged_bytes: word(16),
                incarnation: inc,
                at_ms: at,
            }),
            1 => Statement::Leave(Leave {
                node: self.keys[by].node_id(),
                incarnation: inc,
                at_ms: at,
            }),
            2 => Statement::Suspect(Suspect {
                about,
                incarnation: inc,
                by: self.keys[by].node_id(),
                at_ms: at,
            }),
            3 => Statement::Failure(Failure {
                about,
                incarnation: inc,
                by: self.keys[by].node_id(),
                at_ms: at,
                evidence: Evidence {
                    first_failed_probe_ms: earlier,
                    indirect_probers: vec![about],
                    confirmations: u32::from(op[6]),
                },
            }),
            4 => Statement::Fault(Fault {
                about,
                by: self.keys[by].node_id(),
                at_ms: at,
                proof: op[8..].to_vec(),
            }),
            _ => {
                self.now += Duration::from_millis(u64::from(op[6]) * 100);
                self.node.handle_timeout(self.now);
                while self.node.poll_transmit().is_some() {}
                while self.node.poll_event().is_some() {}
                return;
            }
        };
        self.deliver(by, st);
    }

    /// The node's invariants, whatever it was fed: it holds itself live at an incarnation it
    /// can still refute from, its live index agrees with its members' statuses, nobody is
    /// credited more uptime than the interval holds, and the pool stays within its bound.
    pub fn check(&self) {
        let me = self.node.node_id();
        let mine = self.node.member(&me).expect("the node holds itself");
        assert!(
            mine.status.is_live(),
            "the node holds itself {:?}",
            mine.status
        );
        assert!(self.node.incarnation() < u64::MAX, "no refutation left");
        let live = self.node.live_members();
        let end = self.unix_ms().saturating_add(1);
        let interval = Interval::new(UNIX0, end);
        let mut members = 0;
        for m in self.node.pool().members() {
            members += 1;
            assert_eq!(live.contains(&m.node), m.status.is_live(), "{m:?}");
            let up = self.node.pool().uptime_ms(&m.node, interval);
            assert!(up <= interval.len_ms(), "{m:?} credited {up} ms");
            assert!(m.status != Status::Left || m.node != me);
        }
        assert!(members <= 16);
    }
}
