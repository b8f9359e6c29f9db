//! The server-side rate limit (`--rate-limit N`): N requests per minute per
//! endpoint per API key, over a sliding window. `--time-scale F` shortens
//! the mock's minute to 60/F real seconds so pacing tests run fast.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct RateLimiter {
    per_window: usize,
    window: Duration,
    seen: Mutex<HashMap<(String, String), VecDeque<Instant>>>,
}

impl RateLimiter {
    pub fn new(per_minute: usize, time_scale: f64) -> RateLimiter {
        RateLimiter {
            per_window: per_minute,
            window: Duration::from_secs_f64(60.0 / time_scale),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Admit a request now, or say how long until one would be admitted.
    pub fn admit(&self, endpoint: &str, key: &str, now: Instant) -> Result<(), Duration> {
        if self.per_window == 0 {
            return Ok(());
        }
        let mut seen = self.seen.lock().unwrap();
        let q = seen
            .entry((endpoint.to_string(), key.to_string()))
            .or_default();
        while q
            .front()
            .is_some_and(|&t| now.duration_since(t) >= self.window)
        {
            q.pop_front();
        }
        if q.len() >= self.per_window {
            let oldest = *q.front().unwrap();
            return Err(self.window.saturating_sub(now.duration_since(oldest)));
        }
        q.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_slides() {
        let rl = RateLimiter::new(2, 60.0); // a one-second minute
        let t0 = Instant::now();
        assert!(rl.admit("users", "k", t0).is_ok());
        assert!(rl.admit("users", "k", t0).is_ok());
        let wait = rl
            .admit("users", "k", t0 + Duration::from_millis(400))
            .unwrap_err();
        assert!(wait <= Duration::from_millis(600) && wait > Duration::from_millis(500));
        assert!(
            rl.admit("gpts", "k", t0).is_ok(),
            "endpoints are limited separately"
        );
        assert!(
            rl.admit("users", "other", t0).is_ok(),
            "keys are limited separately"
        );
        assert!(rl
            .admit("users", "k", t0 + Duration::from_millis(1001))
            .is_ok());
    }
}
