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
}

pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}
