//! Time as an injected dependency: [`SystemClock`] for real nodes, [`ManualClock`] for simulations.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A source of time. Node code reads time only through this, so a simulation can drive it.
pub trait Clock: Send + Sync + 'static {
    /// The monotonic "now" handed to the sans-IO layers.
    fn now(&self) -> Instant;
    /// Unix seconds, for timestamps that get signed (receipts, records).
    fn unix_secs(&self) -> u64;
    /// Unix milliseconds, for signed timestamps that need finer grain (fetch deadlines).
    fn unix_ms(&self) -> u64 {
        self.unix_secs().saturating_mul(1000)
    }
}

/// The operating system's clocks.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn unix_secs(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    fn unix_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// A clock that moves only when told to; clones share one time.
#[derive(Clone, Debug)]
pub struct ManualClock {
    inner: Arc<Mutex<(Instant, u64, Duration)>>,
}

impl ManualClock {
    /// A clock at monotonic `start` and Unix time `unix_start`.
    pub fn new(start: Instant, unix_start: u64) -> ManualClock {
        ManualClock {
            inner: Arc::new(Mutex::new((start, unix_start, Duration::ZERO))),
        }
    }

    /// Moves both clocks forward by `d`.
    pub fn advance(&self, d: Duration) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.2 += d;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.0 + g.2
    }

    fn unix_secs(&self) -> u64 {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.1 + g.2.as_secs()
    }

    fn unix_ms(&self) -> u64 {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let elapsed = u64::try_from(g.2.as_millis()).unwrap_or(u64::MAX);
        g.1.saturating_mul(1000).saturating_add(elapsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced_and_clones_share_it() {
        let start = Instant::now();
        let c = ManualClock::new(start, 1_700_000_000);
        let c2 = c.clone();
        assert_eq!(c.now(), start);
        c2.advance(Duration::from_millis(2500));
        assert_eq!(c.now(), start + Duration::from_millis(2500));
        assert_eq!(c.unix_secs(), 1_700_000_002);
        assert_eq!(c.unix_ms(), 1_700_000_002_500);
    }
}
