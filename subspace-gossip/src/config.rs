//! Tunables of the protocol, with defaults suited to a WAN deployment.

use core::time::Duration;

/// Protocol settings. `Config::default()` is what a production node should start from; the
/// simulation shortens nothing but the contract interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// One SWIM protocol period: each node probes one member per period.
    pub protocol_period: Duration,
    /// How long to wait for a direct ack before asking `indirect_probes` members to probe.
    pub probe_timeout: Duration,
    /// Members asked to probe indirectly (SWIM's k).
    pub indirect_probes: usize,
    /// Lifeguard's α: the minimum suspicion timeout is `α · log10(n) · period`.
    pub suspicion_alpha: u32,
    /// Lifeguard's β: the maximum suspicion timeout is `β` times the minimum.
    pub suspicion_beta: u32,
    /// Lifeguard's S: the largest local-health multiplier (timeouts scale by `1 + lhm`).
    pub max_local_health: u32,
    /// Retransmit multiplier λ: each piece of news is piggy-backed `λ · ⌈log10(n + 1)⌉` times.
    pub retransmit_mult: u32,
    /// Bytes of piggy-backed news one probe message may carry.
    pub max_piggyback_bytes: usize,
    /// Run one Scuttlebutt anti-entropy exchange every this many protocol periods (unscaled by
    /// local health, so a node Lifeguard slowed down still catches up at this pace); every
    /// period instead while the last exchanges brought news (a node catching up).
    pub anti_entropy_every: u32,
    /// Most digest entries a node sends in answer to one fingerprint message (shared among the
    /// runs of differing buckets); a larger difference is caught up over later exchanges.
    pub max_digest_entries: usize,
    /// Byte budget of one anti-entropy delta (the flow control of the Scuttlebutt paper).
    pub anti_entropy_budget: usize,
    /// Most members the pool holds; beyond it the stalest member is evicted (counted).
    pub max_members: usize,
    /// Most queued broadcasts; beyond it the oldest is dropped (counted).
    pub max_broadcasts: usize,
    /// Most signed statements kept per member for uptime accounting (oldest dropped, counted).
    pub max_statements_per_member: usize,
    /// Most queued outgoing messages and events each; beyond it the oldest is dropped (counted).
    pub max_queue: usize,
    /// The contract interval: hosts offline longer than this are dropped, and history older
    /// than it is forgotten. The whitepaper fixes it at 30 days.
    pub contract_interval: Duration,
    /// How far in the future a signed timestamp may lie (clock skew allowance).
    pub max_clock_skew: Duration,
    /// How a probe's sender is authenticated: by the transport (the default), or by a MAC
    /// under the two members' pairwise key, for transports that authenticate nobody.
    pub probe_auth: ProbeAuth,
}

/// How pings, ping-requests and acks are authenticated. They carry no signature either way:
/// they are neither relayed as statements nor kept, so a signature would buy nothing a
/// transport-authenticated channel does not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProbeAuth {
    /// The `from` passed to [`Gossip::handle_message`](crate::Gossip::handle_message) was
    /// authenticated by the transport (Noise, TLS, an in-process network): a probe is believed
    /// when its claimed sender is `from`.
    #[default]
    Transport,
    /// The transport authenticates nobody: each hop of a probe exchange also carries a BLAKE3
    /// MAC under the X25519 key the two members share
    /// ([`PairKey`](subspace_crypto::pairwise::PairKey)), which the receiver checks against
    /// the claimed sender's key from the pool. Costs a hash per hop, and a key agreement the
    /// first time a pair meets (keys are cached).
    Mac,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            protocol_period: Duration::from_secs(1),
            probe_timeout: Duration::from_millis(400),
            indirect_probes: 3,
            suspicion_alpha: 3,
            suspicion_beta: 3,
            max_local_health: 8,
            retransmit_mult: 4,
            max_piggyback_bytes: 1200,
            anti_entropy_every: 4,
            max_digest_entries: 2048,
            anti_entropy_budget: 64 * 1024,
            max_members: 1 << 20,
            max_broadcasts: 4096,
            max_statements_per_member: 32,
            max_queue: 65_536,
            contract_interval: Duration::from_secs(30 * 24 * 3600),
            max_clock_skew: Duration::from_secs(60),
            probe_auth: ProbeAuth::Transport,
        }
    }
}
