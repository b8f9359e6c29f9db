//! What every stream needs during a run: the API client, stdout, the
//! bookmark store, the resolved options, the counters, and the progress
//! line.

use crate::bookmark::StateStore;
use crate::http::Api;
use crate::model::{Opts, StreamConfig};
use anyhow::Result;
use archive_core::io::LineOut;
use serde_json::{Map, Value};
use std::time::{Duration, Instant};

/// Counters for the summary.
#[derive(Debug, Default)]
pub struct RunStats {
    pub records: u64,
    pub pages: u64,
    pub duplicates_dropped: u64,
    pub files: u64,
    pub skipped_until: u64,
    pub more: bool,
    pub bookmarks: Map<String, Value>,
    /// Per bookmark key: how far behind it is and what the upstream keeps.
    pub freshness: Map<String, Value>,
    /// Items that failed while the rest was done (exit 1), one message each.
    pub failures: Vec<String>,
    /// A stream's own counts for the summary (files: downloaded, missing, …).
    pub extra: Map<String, Value>,
    /// Something before the run's start was left unresolved (files): the
    /// bookmark may not claim the run covered everything up to its start.
    pub uncovered: bool,
}

pub struct Ctx {
    pub api: Api,
    pub out: LineOut,
    pub store: StateStore,
    pub opts: Opts,
    pub stats: RunStats,
    pub stream: String,
    /// When the run started: a bookmark of a run that caught up covers
    /// everything before it.
    pub started: chrono::DateTime<chrono::Utc>,
    progress: Progress,
}

impl Ctx {
    pub fn new(cfg: &StreamConfig) -> Result<Ctx> {
        crate::redact::set_key(&cfg.key);
        let api = Api::new(cfg.key.clone(), cfg.kind, cfg.policy.clone())?;
        let store = StateStore::new(&cfg.state_root, &cfg.host, &cfg.scope);
        if !cfg.opts.dry_run {
            // A bookmark write killed half-way leaves a temporary named with
            // its dead pid; nothing else of ours is touched.
            archive_core::atomic::sweep_stale_temps(store.dir())?;
        }
        Ok(Ctx {
            api,
            out: LineOut::new(),
            store,
            opts: cfg.opts.clone(),
            stats: RunStats::default(),
            stream: cfg.stream.name().to_string(),
            started: chrono::Utc::now(),
            progress: Progress::new(),
        })
    }

    /// Write one record line.
    pub fn emit(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.raw(bytes)?;
        self.stats.records += 1;
        Ok(())
    }

    /// Refresh the progress line (only when stderr is a terminal).
    pub fn tick(&mut self, cursor: &str) {
        let per_minute = self.api.stats.per_minute();
        self.progress.show(
            &self.stream,
            &self.stats,
            &self.api.stats,
            per_minute,
            cursor,
        );
    }

    /// A warning on stderr, with server text masked.
    pub fn warn(&mut self, msg: &str) {
        self.progress.clear();
        eprintln!(
            "fetch: {}: warning: {}",
            self.stream,
            crate::redact::redact(msg)
        );
    }

    /// Flush stdout and clear the progress line.
    pub fn finish(&mut self) -> Result<()> {
        self.out.flush()?;
        self.progress.clear();
        Ok(())
    }
}

/// One status line on stderr, redrawn in place, only on a terminal.
struct Progress {
    enabled: bool,
    last: Option<Instant>,
    drawn: bool,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            enabled: archive_core::progress::enabled(),
            last: None,
            drawn: false,
        }
    }

    fn show(
        &mut self,
        stream: &str,
        s: &RunStats,
        a: &crate::http::ApiStats,
        per_minute: usize,
        cursor: &str,
    ) {
        if !self.enabled
            || self
                .last
                .is_some_and(|t| t.elapsed() < Duration::from_millis(200))
        {
            return;
        }
        self.last = Some(Instant::now());
        let cursor: String = crate::redact::redact(cursor).chars().take(40).collect();
        eprint!(
            "\r\x1b[2Kfetch: {stream}: {} pages, {} records, cursor {cursor}, {per_minute} req/min, waited {:.1}s",
            s.pages,
            s.records,
            a.waited.as_secs_f64()
        );
        self.drawn = true;
    }

    fn clear(&mut self) {
        if self.drawn {
            eprint!("\r\x1b[2K");
            self.drawn = false;
        }
    }
}
