//! Per-peer request rate limiting over one-second windows, in bounded memory.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use subspace_crypto::NodeId;

const WINDOW: Duration = Duration::from_secs(1);

/// Admits at most `per_second` requests per peer per one-second window, tracking at most
/// `max_peers` peers; a request from an untracked peer when the map is full (and nothing has
/// expired) is refused, so a flood of fresh ids cannot grow memory.
#[derive(Clone, Debug)]
pub struct RateLimiter {
    per_second: u32,
    max_peers: usize,
    windows: BTreeMap<NodeId, (Instant, u32)>,
    next_sweep: Option<Instant>,
}

impl RateLimiter {
    /// A limiter admitting `per_second` requests per peer, tracking up to `max_peers` peers.
    pub fn new(per_second: u32, max_peers: usize) -> Self {
        RateLimiter {
            per_second,
            max_peers,
            windows: BTreeMap::new(),
            next_sweep: None,
        }
    }

    /// Counts one request from `peer` at `now`; `false` means drop it.
    pub fn allow(&mut self, peer: NodeId, now: Instant) -> bool {
        if let Some((start, count)) = self.windows.get_mut(&peer) {
            if now.saturating_duration_since(*start) >= WINDOW {
                *start = now;
                *count = 0;
            }
            *count += 1;
            return *count <= self.per_second;
        }
        if self.windows.len() >= self.max_peers {
            // Sweep at most once per window, so a flood costs one pass per second, not per message.
            if self.next_sweep.is_none_or(|t| now >= t) {
                self.windows
                    .retain(|_, (start, _)| now.saturating_duration_since(*start) < WINDOW);
                self.next_sweep = Some(now + WINDOW);
            }
            if self.windows.len() >= self.max_peers {
                return false;
            }
        }
        self.windows.insert(peer, (now, 1));
        self.per_second >= 1
    }

    /// Number of peers currently tracked.
    pub fn tracked(&self) -> usize {
        self.windows.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_peer_and_resets_each_window() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(3, 10);
        let p = NodeId::from_bytes([1; 32]);
        assert!((0..3).all(|_| r.allow(p, t0)));
        assert!(!r.allow(p, t0));
        assert!(r.allow(NodeId::from_bytes([2; 32]), t0));
        assert!(r.allow(p, t0 + WINDOW));
    }

    #[test]
    fn peer_map_is_bounded() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(3, 4);
        for i in 0..4u8 {
            assert!(r.allow(NodeId::from_bytes([i; 32]), t0));
        }
        assert!(!r.allow(NodeId::from_bytes([9; 32]), t0));
        assert_eq!(r.tracked(), 4);
        // Once the old windows have passed, new peers get room again.
        assert!(r.allow(NodeId::from_bytes([9; 32]), t0 + WINDOW));
        assert_eq!(r.tracked(), 1);
    }
}
