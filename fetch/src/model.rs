//! Types the phases share: what to run ([`Command`], [`StreamConfig`]), the
//! resolved options every stream reads ([`Opts`]), how requests are made
//! ([`RequestPolicy`]) and the query strings ([`Query`]). A leaf: it imports
//! nothing of the tool, so every other module may import it.

use anyhow::Result;
use archive_core::retry::Backoff;
use archive_core::Failure;
use chrono::{DateTime, Utc};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// A record time may run ahead of our clock by this much (clock skew)
/// before it counts as "in the future" and stops moving a bookmark.
pub const FUTURE_SKEW_SECS: i64 = 300;

/// What one invocation does.
#[derive(Debug)]
pub enum Command {
    /// Promote the pending bookmarks under `root` (or say what would be):
    /// those of `run_ids` and `streams` when given, else those of the one
    /// run that left pending bookmarks.
    Commit {
        root: PathBuf,
        dry_run: bool,
        run_ids: Vec<String>,
        streams: Vec<String>,
    },
    /// Print every bookmark under `root`.
    Status { root: PathBuf },
    /// Fetch one stream.
    Stream(Box<StreamConfig>),
}

/// Which key a stream uses, for the hints on 401/403.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Compliance,
    Admin,
}

/// The filters of the audit-log stream, as given.
#[derive(Debug, Clone, Default)]
pub struct AuditFilters {
    pub event_types: Vec<String>,
    pub project_ids: Vec<String>,
    pub actor_ids: Vec<String>,
    pub actor_emails: Vec<String>,
    pub resource_ids: Vec<String>,
}

/// What the files stream reads and where it writes.
#[derive(Debug, Clone)]
pub struct FilesOpts {
    /// NDJSON message events; `None` is stdin.
    pub events: Option<PathBuf>,
    /// Root of `<user>/YYYY/MM/DD/files/<file_id>/<name>`.
    pub out: PathBuf,
    /// A larger file is an error naming it.
    pub max_file_size: u64,
}

/// The streams.
#[derive(Debug, Clone)]
pub enum Stream {
    /// Compliance Logs Platform files of these event types (`all` = every type listed).
    Logs { event_types: Vec<String> },
    /// Legacy conversations.
    Conversations,
    /// users, gpts, projects or memories: a full listing.
    Snapshot(&'static str),
    /// OpenAI organisation audit logs.
    AuditLogs(AuditFilters),
    /// Files uploaded to conversations, from message events.
    Files(FilesOpts),
}

impl Stream {
    /// The name users type (`audit-logs`), also the summary's `stream`.
    pub fn name(&self) -> &'static str {
        match self {
            Stream::Logs { .. } => "logs",
            Stream::Conversations => "conversations",
            Stream::Snapshot(n) => n,
            Stream::AuditLogs(_) => "audit-logs",
            Stream::Files(_) => "files",
        }
    }

    /// How long the upstream keeps this stream's data (log files about 30
    /// days, uploaded files about 48 hours); `None`: not known.
    pub fn default_retention(&self) -> Option<Duration> {
        match self {
            Stream::Logs { .. } => Some(Duration::from_secs(30 * 86_400)),
            Stream::Files(_) => Some(Duration::from_secs(2 * 86_400)),
            _ => None,
        }
    }

    pub fn key_kind(&self) -> KeyKind {
        match self {
            Stream::AuditLogs(_) => KeyKind::Admin,
            _ => KeyKind::Compliance,
        }
    }
}

/// How requests are made: pacing, retries, timeouts, trust.
#[derive(Debug, Clone)]
pub struct RequestPolicy {
    pub per_minute: u32,
    pub download_per_minute: u32,
    pub backoff: Backoff,
    /// Cap of one wait (Retry-After or backoff).
    pub max_wait: Duration,
    /// Longest silence from the server within a request.
    pub idle_timeout: Duration,
    /// Longest one request may take, body included.
    pub deadline: Duration,
    /// Log every request to stderr.
    pub debug: bool,
    /// Extra trusted root certificates (PEM), e.g. a private CA.
    pub ca_cert: Option<PathBuf>,
}

/// Everything a stream run needs, resolved from flags and environment.
#[derive(Debug)]
pub struct StreamConfig {
    pub stream: Stream,
    pub key: String,
    pub kind: KeyKind,
    /// Bookmarks are kept per API host (not port) and workspace.
    pub host: String,
    pub scope: String,
    pub state_root: PathBuf,
    pub opts: Opts,
    pub policy: RequestPolicy,
}

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

/// Options every stream reads.
#[derive(Debug, Clone)]
pub struct Opts {
    pub base: String,
    pub workspace: String,
    pub since: Option<DateTime<Utc>>,
    /// Where a first load starts without --since.
    pub default_since: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
    pub users: Vec<String>,
    pub max_pages: Option<u64>,
    pub limit: Option<u32>,
    pub no_resume: bool,
    pub overlap: f64,
    pub dry_run: bool,
    pub summary: Option<PathBuf>,
    /// How long the upstream keeps the data; a bookmark older than this
    /// means a window was lost.
    pub retention: Option<Duration>,
    /// Tags the pending bookmarks this run writes, for `fetch commit --run-id`.
    pub run_id: String,
    /// `org-…`: organisation-scope log types (COSTS) go to
    /// `/compliance/organizations/{org}/logs`.
    pub organization_id: Option<String>,
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
        self.since.unwrap_or(self.default_since)
    }

    /// The newest record time that may move a bookmark: now plus the skew.
    /// A record beyond it is written but does not carry the bookmark into
    /// the future (where every later run would find nothing).
    pub fn present_bound(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::seconds(FUTURE_SKEW_SECS)
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
            default_since: Utc::now(),
            until: None,
            users: vec![],
            max_pages: None,
            limit: None,
            no_resume: false,
            overlap: 0.0,
            dry_run: false,
            summary: None,
            retention: None,
            run_id: "r".into(),
            organization_id: None,
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
