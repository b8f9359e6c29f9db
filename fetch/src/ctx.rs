//! What every stream needs during a run: the API client, stdout, the
//! bookmark store, the resolved options, the counters, and the progress
//! line. Also the run summary.

use crate::bookmark::StateStore;
use crate::cli::Common;
use crate::http::{Api, ApiConfig, KeyKind};
use crate::timeparse;
use anyhow::{Context, Result};
use archive_core::io::LineOut;
use archive_core::retry::Backoff;
use archive_core::Failure;
use chrono::{DateTime, Utc};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use url::Url;

/// The first load starts here when there is no bookmark and no --since.
pub const DEFAULT_SINCE: &str = "2025-07-02";

/// Query values are encoded as RFC 3986 unreserved characters only.
const VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A query string in the order the parameters were added. Keys are ours
/// and written as is (so `effective_at[gte]` keeps its brackets, as real
/// clients send it); values are percent-encoded.
#[derive(Debug, Clone, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn new() -> Query {
        Query::default()
    }
    pub fn push(&mut self, key: &str, value: impl ToString) -> &mut Self {
        self.0.push((key.to_string(), value.to_string()));
        self
    }
    pub fn encoded(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, VALUE)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Options every stream reads, resolved from flags and environment.
#[derive(Debug, Clone)]
pub struct Opts {
    pub base: String,
    pub workspace: String,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub users: Vec<String>,
    pub max_pages: Option<u64>,
    pub limit: Option<u32>,
    pub no_resume: bool,
    pub overlap: f64,
    pub dry_run: bool,
    pub summary: Option<PathBuf>,
}

impl Opts {
    /// `base/path` with `segments` percent-encoded as path segments.
    pub fn url(&self, segments: &[&str], query: &Query) -> Result<Url> {
        let mut s = self.base.trim_end_matches('/').to_string();
        for seg in segments {
            s.push('/');
            s.extend(utf8_percent_encode(seg, VALUE));
        }
        let mut url =
            Url::parse(&s).map_err(|e| Failure::usage(format!("--base-url: {s}: {e}")))?;
        let q = query.encoded();
        if !q.is_empty() {
            url.set_query(Some(&q));
        }
        Ok(url)
    }

    /// The start time of a first load.
    pub fn since_or_default(&self) -> DateTime<Utc> {
        self.since.unwrap_or_else(|| {
            timeparse::parse_time(DEFAULT_SINCE, Utc::now()).expect("default is valid")
        })
    }
}

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
}

pub struct Ctx {
    pub api: Api,
    pub out: LineOut,
    pub store: StateStore,
    pub opts: Opts,
    pub stats: RunStats,
    pub stream: String,
    progress: Progress,
    started: Instant,
}

/// Which base URL variable and key a stream uses.
pub fn source_for(kind: KeyKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        KeyKind::Compliance => (
            "COMPLIANCE_BASE_URL",
            "https://api.chatgpt.com/v1",
            "OPENAI_API_KEY",
        ),
        KeyKind::Admin => (
            "OPENAI_BASE_URL",
            "https://api.openai.com/v1",
            "OPENAI_ADMIN_KEY",
        ),
    }
}

impl Ctx {
    pub fn new(stream: &str, common: &Common, kind: KeyKind, needs_workspace: bool) -> Result<Ctx> {
        let (base_env, base_default, key_env) = source_for(kind);
        let base = common
            .base_url
            .clone()
            .or_else(|| std::env::var(base_env).ok().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| base_default.to_string());
        let base_url =
            Url::parse(&base).map_err(|e| Failure::usage(format!("--base-url {base:?}: {e}")))?;
        let workspace = common.workspace_id.clone().unwrap_or_default();
        if needs_workspace && workspace.trim().is_empty() {
            return Err(Failure::usage(
                "no workspace id: pass --workspace-id or set WORKSPACE_ID",
            ));
        }
        let key = load_key(common, key_env)?;
        let now = Utc::now();
        let parse = |flag: &str, v: &Option<String>| -> Result<Option<DateTime<Utc>>> {
            v.as_deref()
                .map(|s| {
                    timeparse::parse_time(s, now)
                        .map_err(|e| Failure::usage(format!("{flag}: {e}")))
                })
                .transpose()
        };
        let since = parse("--since", &common.since)?;
        let until = parse("--until", &common.until)?;
        if let (Some(s), Some(u)) = (since, until) {
            if s >= u {
                return Err(Failure::usage(format!(
                    "--since {} is not before --until {}",
                    timeparse::rfc3339(s),
                    timeparse::rfc3339(u)
                )));
            }
        }
        if common.rate_limit == 0 {
            return Err(Failure::usage(
                "--rate-limit must be at least 1 request per minute",
            ));
        }
        if common.max_attempts == 0 {
            return Err(Failure::usage("--max-attempts must be at least 1"));
        }
        let debug = common.verbose
            || std::env::var("FETCH_LOG").is_ok_and(|v| v.eq_ignore_ascii_case("debug"));
        let api = Api::new(ApiConfig {
            key,
            kind,
            per_minute: common.rate_limit,
            download_per_minute: common.download_rate_limit.unwrap_or(common.rate_limit),
            backoff: Backoff {
                base: Duration::from_millis(common.backoff_base),
                cap: Duration::from_secs(common.max_wait),
                max_attempts: common.max_attempts,
            },
            max_wait: Duration::from_secs(common.max_wait),
            timeout: Duration::from_secs(common.timeout.max(1)),
            debug,
        })?;
        let root = state_root(common.state_dir.clone())?;
        // The host, not the port: a bookmark must survive a service (or
        // the mock) coming back on another port.
        let host = base_url.host_str().unwrap_or("local").to_string();
        let scope = if workspace.is_empty() {
            "organization".to_string()
        } else {
            workspace.clone()
        };
        Ok(Ctx {
            api,
            out: LineOut::new(),
            store: StateStore::new(&root, &host, &scope),
            opts: Opts {
                base,
                workspace,
                since,
                until,
                users: common
                    .users
                    .iter()
                    .filter(|u| !u.is_empty())
                    .cloned()
                    .collect(),
                max_pages: common.max_pages,
                limit: common.limit,
                no_resume: common.no_resume,
                overlap: common.overlap as f64,
                dry_run: common.dry_run,
                summary: common.summary.clone(),
            },
            stats: RunStats::default(),
            stream: stream.to_string(),
            progress: Progress::new(),
            started: Instant::now(),
        })
    }

    /// Has this stream used up its --max-pages?
    pub fn page_budget_spent(&self, pages_in_stream: u64) -> bool {
        self.opts.max_pages.is_some_and(|m| pages_in_stream >= m)
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

    /// The summary, to stderr as one line and to --summary as JSON.
    pub fn finish(mut self) -> Result<()> {
        self.out.flush()?;
        self.progress.clear();
        let s = &self.stats;
        let a = &self.api.stats;
        let summary = json!({
            "stream": self.stream,
            "records": s.records,
            "pages": s.pages,
            "requests": a.requests,
            "retries": a.retries,
            "rate_limited": a.rate_limited,
            "duplicates_dropped": s.duplicates_dropped,
            "files": s.files,
            "skipped_until": s.skipped_until,
            "more": s.more,
            "bookmark_pending": if s.bookmarks.is_empty() { Value::Null } else { Value::Object(s.bookmarks.clone()) },
            "state_dir": self.store.dir().display().to_string(),
            "waited_s": (a.waited.as_secs_f64() * 1000.0).round() / 1000.0,
            "elapsed_s": (self.started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
            "dry_run": self.opts.dry_run,
        });
        eprintln!(
            "fetch: {}: {} records, {} pages, {} requests ({} retries, {} rate-limited), {} duplicates dropped, more={}{}",
            self.stream,
            s.records,
            s.pages,
            a.requests,
            a.retries,
            a.rate_limited,
            s.duplicates_dropped,
            s.more,
            if s.bookmarks.is_empty() { String::new() } else { format!(", bookmark pending in {} (run `fetch commit` once stored)", self.store.dir().display()) },
        );
        if let Some(path) = &self.opts.summary {
            let mut text = serde_json::to_vec_pretty(&summary)?;
            text.push(b'\n');
            archive_core::atomic::write_file(path, &text)
                .with_context(|| format!("writing the summary {}", path.display()))?;
        }
        Ok(())
    }
}

/// --state-dir, else $XDG_STATE_HOME/compliance-archive, else ~/.local/state/compliance-archive.
pub fn state_root(flag: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p);
    }
    if let Some(x) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(x).join("compliance-archive"));
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(h) => Ok(PathBuf::from(h).join(".local/state/compliance-archive")),
        None => Err(Failure::usage(
            "no state directory: pass --state-dir or set FETCH_STATE_DIR, XDG_STATE_HOME or HOME",
        )),
    }
}

/// The key from --api-key-file or the environment; never from a flag value.
fn load_key(common: &Common, env: &str) -> Result<String> {
    let key = match &common.api_key_file {
        Some(p) => std::fs::read_to_string(p)
            .map_err(|e| Failure::usage(format!("--api-key-file {}: {e}", p.display())))?
            .trim()
            .to_string(),
        None => std::env::var(env).unwrap_or_default().trim().to_string(),
    };
    if key.is_empty() {
        return Err(Failure::usage(format!(
            "no API key: set {env} or pass --api-key-file FILE"
        )));
    }
    if key.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(Failure::usage(
            "the API key contains spaces or control characters",
        ));
    }
    Ok(key)
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
            enabled: archive_core::io::stderr_is_terminal(),
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
        let cursor: String = cursor.chars().take(40).collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_keeps_brackets_and_encodes_values() {
        let mut q = Query::new();
        q.push("effective_at[gte]", 1700000000)
            .push("event_types[]", "project.created")
            .push("after", "2025-07-02T00:00:00+00:00")
            .push("users", "user a&b");
        assert_eq!(
            q.encoded(),
            "effective_at[gte]=1700000000&event_types[]=project.created&after=2025-07-02T00%3A00%3A00%2B00%3A00&users=user%20a%26b"
        );
        let o = Opts {
            base: "http://127.0.0.1:9/v1/".into(),
            workspace: "ws".into(),
            since: None,
            until: None,
            users: vec![],
            max_pages: None,
            limit: None,
            no_resume: false,
            overlap: 0.0,
            dry_run: false,
            summary: None,
        };
        let u = o
            .url(&["compliance", "workspaces", "w/../x", "users"], &q)
            .unwrap();
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:9/v1/compliance/workspaces/w%2F..%2Fx/users?effective_at[gte]=1700000000&event_types[]=project.created&after=2025-07-02T00%3A00%3A00%2B00%3A00&users=user%20a%26b"
        );
    }
}
