//! A few joined gossip nodes whose messages a test delivers by hand, at once, in order.

use std::time::{Duration, Instant};

use subspace_crypto::{ContractId, Keypair, NodeId};
use subspace_gossip::{Config, Gossip, ProbeAuth, Summary};

pub const UNIX0: u64 = 1_800_000_000_000;

pub fn config(auth: ProbeAuth) -> Config {
    Config {
        probe_auth: auth,
        ..Config::default()
    }
}

/// Three joined nodes whose messages a test delivers by hand.
pub struct Net {
    pub t0: Instant,
    pub now: Instant,
    pub nodes: Vec<Gossip>,
    pub keys: Vec<Keypair>,
}

impl Net {
    /// Three nodes probing with `auth`.
    pub fn new(auth: ProbeAuth) -> Net {
        Net::with(3, config(auth))
    }

    /// `n` nodes with `config`, joined through the first and run until each holds all.
    pub fn with(n: u8, config: Config) -> Net {
        let t0 = Instant::now();
        let keys: Vec<Keypair> = (1..=n).map(|i| Keypair::from_seed(&[i; 32])).collect();
        let mut nodes: Vec<Gossip> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| Gossip::new(config.clone(), k.clone(), i as u64))
            .collect();
        let seed = nodes[0].node_id();
        for (i, g) in nodes.iter_mut().enumerate() {
            let seeds = if i == 0 { vec![] } else { vec![seed] };
            g.join(t0, UNIX0, ContractId::default(), 1 << 30, &seeds)
                .unwrap();
        }
        let mut net = Net {
            t0,
            now: t0,
            nodes,
            keys,
        };
        net.run(Duration::from_secs(5));
        for g in &net.nodes {
            assert_eq!(g.live_members().len(), usize::from(n), "every node joined");
        }
        net
    }

    pub fn id(&self, i: usize) -> NodeId {
        self.nodes[i].node_id()
    }

    pub fn index(&self, id: &NodeId) -> usize {
        self.nodes.iter().position(|g| g.node_id() == *id).unwrap()
    }

    /// Delivers every queued message at once, repeatedly, until nothing is queued.
    pub fn deliver(&mut self) {
        loop {
            let mut queued = Vec::new();
            for i in 0..self.nodes.len() {
                while let Some((to, m)) = self.nodes[i].poll_transmit() {
                    queued.push((i, to, m));
                }
            }
            if queued.is_empty() {
                return;
            }
            for (from, to, m) in queued {
                let (j, from) = (self.index(&to), self.id(from));
                let _ = self.nodes[j].handle_message(self.now, from, m);
            }
        }
    }

    /// Runs every node's timers for `d`, in 100 ms steps, delivering everything.
    pub fn run(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.now += Duration::from_millis(100);
            for g in &mut self.nodes {
                g.handle_timeout(self.now);
            }
            self.deliver();
        }
    }

    /// Every node's view of every member.
    pub fn views(&self) -> Vec<Vec<Option<Summary>>> {
        self.nodes
            .iter()
            .map(|g| {
                (0..self.nodes.len())
                    .map(|j| g.pool().summary(&self.id(j)))
                    .collect()
            })
            .collect()
    }

    /// Unix milliseconds at the network's current time.
    pub fn unix_ms(&self) -> u64 {
        UNIX0 + u64::try_from((self.now - self.t0).as_millis()).unwrap()
    }
}
