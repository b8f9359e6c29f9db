//! The state every handler shares: the store, the faults, the limiter, the
//! request log and the options. A leaf below the API modules, so each of
//! them can use it without importing the router that dispatches to it.

use crate::faults::Faults;
use crate::ratelimit::RateLimiter;
use crate::reqlog::RequestLog;
use crate::store::Store;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

pub struct ApiOptions {
    pub api_key: String,
    pub admin_key: String,
    pub strict: bool,
    /// Share of conversation pages cut short (with `has_more` still true).
    pub short_page_pct: f64,
    /// Share of conversation pages after the first that re-send an updated
    /// conversation the client has already seen.
    pub resend_pct: f64,
    /// Lifetime of a log-file download URL, real seconds.
    pub download_ttl: u64,
    /// Organisation id served on `/compliance/organizations/{id}/logs`.
    pub org_id: Option<String>,
    pub seed: u64,
}

pub struct App {
    pub store: RwLock<Store>,
    pub faults: Faults,
    pub limiter: RateLimiter,
    pub log: RequestLog,
    pub opts: ApiOptions,
    /// `http://127.0.0.1:PORT`, known once the listener is bound.
    pub base_url: OnceLock<String>,
    /// Downloads served per log file, for `bad-sha-once`.
    pub downloads: Mutex<HashMap<String, u64>>,
    /// The mock's notion of "now" and the retentions measured against it.
    pub clock: Mutex<Clock>,
}

/// The mock's clock: the real time plus an offset tests can set, and the
/// upstream retentions that follow it.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// Seconds added to the real time.
    pub offset_s: f64,
    /// Uploaded files older than this answer 410 (upstream: about 48 h).
    pub upload_retention_s: f64,
    /// Log files that ended longer ago are no longer listed (0: kept forever).
    pub log_retention_s: f64,
}

impl App {
    /// The mock's "now", Unix seconds.
    pub fn now(&self) -> f64 {
        unix_now() + self.clock.lock().unwrap().offset_s
    }

    pub fn clock(&self) -> Clock {
        *self.clock.lock().unwrap()
    }
}

pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// A point in time: RFC 3339, a date (UTC midnight) or Unix seconds.
pub fn parse_instant(s: &str) -> Result<f64, String> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_micros() as f64 / 1e6);
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp() as f64);
    }
    s.parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
        .ok_or_else(|| format!("{s:?} is not RFC 3339, YYYY-MM-DD or Unix seconds"))
}
