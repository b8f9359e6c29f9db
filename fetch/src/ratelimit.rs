//! Client-side pacing, one [`RateLimiter`] per endpoint. Requests are spread
//! evenly (one slot every 60/N seconds, plus a small margin) rather than
//! sent in a burst and then stalled: a burst followed by a wait can still
//! exceed N in a sliding window that straddles two bursts, and the server's
//! window is sliding.

use std::time::{Duration, Instant};

/// Slack added to every interval so that scheduling jitter (a request that
/// leaves a few ms late, the next on time) cannot squeeze N+1 requests into
/// one window as the server measures it.
const MARGIN: f64 = 1.02;

/// Even pacing at no more than `per_minute` requests in any 60-second window.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    interval: Duration,
    next: Option<Instant>,
}

impl RateLimiter {
    /// `per_minute` of 0 means no pacing.
    pub fn new(per_minute: u32) -> RateLimiter {
        let interval = if per_minute == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(60.0 / f64::from(per_minute) * MARGIN)
        };
        RateLimiter {
            interval,
            next: None,
        }
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Claim the next slot at or after `now`; returns how long to wait for it.
    pub fn reserve(&mut self, now: Instant) -> Duration {
        let slot = match self.next {
            Some(n) if n > now => n,
            _ => now,
        };
        self.next = Some(slot + self.interval);
        slot - now
    }

    /// The server asked us to wait (429 + Retry-After): no slot before `until`.
    pub fn hold_until(&mut self, until: Instant) {
        if self.next.is_none_or(|n| n < until) {
            self.next = Some(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Simulate `count` requests sent as soon as allowed; return send times.
    fn schedule(limiter: &mut RateLimiter, count: usize, start: Instant) -> Vec<Instant> {
        let mut now = start;
        (0..count)
            .map(|_| {
                now += limiter.reserve(now);
                now
            })
            .collect()
    }

    #[test]
    fn never_more_than_n_in_any_window() {
        for n in [1u32, 7, 50, 3000] {
            let mut l = RateLimiter::new(n);
            let start = Instant::now();
            let times = schedule(&mut l, 3 * n as usize + 5, start);
            let window = Duration::from_secs(60);
            for (i, t) in times.iter().enumerate() {
                let in_window = times[i..].iter().take_while(|u| **u - *t < window).count();
                assert!(
                    in_window <= n as usize,
                    "n={n}: {in_window} requests in a window"
                );
            }
            // Even pacing, no slower than the margin allows.
            let span = (*times.last().unwrap() - start).as_secs_f64();
            let floor = (times.len() - 1) as f64 * 60.0 / f64::from(n);
            assert!(span <= floor * (MARGIN + 1e-9), "n={n}: {span} > {floor}");
        }
    }

    #[test]
    fn idle_time_is_not_saved_up_as_a_burst() {
        let mut l = RateLimiter::new(60);
        let t0 = Instant::now();
        assert_eq!(l.reserve(t0), Duration::ZERO);
        // Ten idle seconds later, the next requests are still spaced.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(l.reserve(later), Duration::ZERO);
        assert_eq!(l.reserve(later), l.interval());
    }

    #[test]
    fn retry_after_holds_the_next_slot() {
        let mut l = RateLimiter::new(600);
        let t0 = Instant::now();
        l.reserve(t0);
        l.hold_until(t0 + Duration::from_secs(5));
        assert_eq!(
            l.reserve(t0 + Duration::from_secs(1)),
            Duration::from_secs(4)
        );
        assert_eq!(RateLimiter::new(0).reserve(t0), Duration::ZERO);
    }
}
