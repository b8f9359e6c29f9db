//! Retry with exponential backoff and full jitter, for transient failures of
//! remote services (429, 5xx, timeouts, connection resets).

use rand::Rng;
use std::time::Duration;

/// Exponential backoff with full jitter: attempt `n` (0-based) waits a
/// uniformly random time in `[0, min(cap, base * 2^n)]`. Full jitter keeps
/// many clients from retrying in lockstep (AWS architecture blog, 2015).
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
    /// Total attempts, including the first one.
    pub max_attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
            max_attempts: 6,
        }
    }
}

impl Backoff {
    /// Upper bound of the wait before retry number `attempt` (0-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u64.checked_shl(attempt.min(30)).unwrap_or(u64::MAX);
        let ms = (self.base.as_millis() as u64).saturating_mul(factor);
        Duration::from_millis(ms).min(self.cap)
    }

    /// A random wait in `[0, ceiling(attempt)]`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceil = self.ceiling(attempt).as_millis() as u64;
        Duration::from_millis(rand::rng().random_range(0..=ceil))
    }

    /// May another attempt follow attempt number `attempt` (1-based count made)?
    pub fn may_retry(&self, attempts_made: u32) -> bool {
        attempts_made < self.max_attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_grow_and_cap() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
            max_attempts: 3,
        };
        assert_eq!(b.ceiling(0), Duration::from_millis(100));
        assert_eq!(b.ceiling(2), Duration::from_millis(400));
        assert_eq!(b.ceiling(10), Duration::from_secs(1));
        assert_eq!(b.ceiling(100), Duration::from_secs(1));
        for a in 0..5 {
            assert!(b.delay(a) <= b.ceiling(a));
        }
        assert!(b.may_retry(2) && !b.may_retry(3));
    }
}
