//! Command-line flags and start-up: build the data, bind, print the
//! `{"listening": URL}` line, serve until killed.

use crate::api;
use crate::app::{ApiOptions, App, Clock};
use crate::faults::Faults;
use crate::gen::{self, GenOptions};
use crate::ratelimit::RateLimiter;
use crate::reqlog::RequestLog;
use crate::store::{Store, StoreConfig};
use anyhow::{Context, Result};
use archive_core::{Failure, Outcome};
use clap::Parser;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

const EXAMPLES: &str = "\
Examples:
  # Generated data: 300 users over 30 days, a random free port
  compliance-mock --port 0 --generate-users 300 --generate-days 30 --seed 7 --start 2026-10-01 > mock.out &
  until [ -s mock.out ]; do sleep 0.1; done      # the first line says where it listens
  MOCK=$(head -1 mock.out | jq -r .listening)
  curl -s -H 'Authorization: Bearer test-key' \\
    \"$MOCK/v1/compliance/workspaces/11bf645e-d5e8-4478-a70e-e5742ded2436/conversations?limit=2\" | jq '.data[].title'

  # Faults: the 3rd API request gets 429, then a burst of three 503s, and
  # every log-file download URL handed out second is already expired
  compliance-mock --port 0 --faults '429@3,503x3@5,expired-download@2' > faulty.out &

  # Pacing tests: 50 requests per mock minute, a minute lasting one second
  compliance-mock --port 0 --rate-limit 50 --time-scale 60 --request-log requests.ndjson > paced.out &

  # Ground truth and the request log, for tests
  curl -s \"$MOCK/_mock/truth/conversations\" | jq -r .id | wc -l
  curl -s -X POST \"$MOCK/_mock/advance?new=5&updated=3&seed=1\" | jq .
  # Uploaded files and the mock's clock (files older than 48 h answer 410)
  curl -s -X POST \"$MOCK/_mock/clock?now=2026-10-02T12:00:00Z\" | jq .
  curl -s \"$MOCK/_mock/truth/files\" | jq -c '{id, state, sha256}'
  curl -s \"$MOCK/_mock/requests\" | jq -c '{path, query, status}'

Fault spec (--fault or --faults), a comma-separated list of
  KIND[=VALUE][xCOUNT](@N|%PCT)[:SCOPE]
  @N      the N-th matching request (1-based), %PCT each with PCT% probability
  xCOUNT  a burst: COUNT consecutive matching requests
  :SCOPE  match requests whose path contains SCOPE (default: all under /v1/)
  KIND    429 (Retry-After VALUE s, default 1) | 429-no-header |
          429-date (Retry-After as HTTP date, VALUE s ahead, default 2) |
          400..599 (OpenAI-style error body) | drop (half the body, then the
          connection is cut) | stall (wait VALUE s, default 30) |
          expired-download (N counts log-file 307s; the URL is already expired) |
          bad-sha@K[:EVENT_TYPE] (K-th log file's bytes never match file_sha256) |
          bad-sha-once@K[:EVENT_TYPE] (only its first download is corrupt) |
          drip (the body one byte every VALUE s, default 5) |
          download-http (N counts log-file 307s; plain http off this machine)
  Hostile servers (a 200 answer rewritten unless said):
          repeat-cursor (cursor = the request's own after, has_more true) |
          cycle-cursor (cursor = an earlier request's after) | indent |
          html | bom | array (data alone) | garbage (bytes after the object) |
          data-object (data is not a list) | has-more-string (\"true\") |
          echo-key (200 without data echoing the key) |
          echo-key-error (500 with the key across byte 300) |
          future-time (first record dated 2099) |
          redirect-http (301 to plain http) | redirect-origin (301 to
          localhost instead of 127.0.0.1)

Control endpoints (no auth, not logged):
  GET    /_mock/requests            the request log, NDJSON
  DELETE /_mock/requests            clear it
  POST   /_mock/advance?new=N&updated=M&seed=S
  GET    /_mock/truth/<stream>      conversations|users|gpts|projects|memories|
                                    audit_logs|logs/<EVENT_TYPE>|files
  GET    /_mock/clock               the mock's now and retentions
  POST   /_mock/clock?now=TIME&upload_retention_hours=H&log_retention_days=D
  GET    /_mock/faults              the active faults
  PUT    /_mock/faults?spec=SPEC    replace them (counting starts again)
  DELETE /_mock/faults              clear them

  # HTTPS with a test CA (the CA certificate is written to tls/ca.pem)
  compliance-mock --tls-dir tls --fault 'redirect-http@2'
";

/// A mock ChatGPT Enterprise Compliance API and OpenAI audit-log API.
///
/// Prints one line, {"listening":"http://127.0.0.1:PORT"}, then serves until
/// killed. Logs go to stderr.
#[derive(Parser, Debug)]
#[command(name = "compliance-mock", version, after_long_help = format!("{EXAMPLES}\n{}", archive_core::exit::EXIT_CODES_HELP))]
pub struct Args {
    /// TCP port to listen on; 0 picks a free one (see the listening line).
    #[arg(long, default_value_t = 0, help_heading = "Server")]
    pub port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1", help_heading = "Server")]
    pub bind: String,
    /// Append one NDJSON line per API request served to FILE:
    /// {"t","method","path","query","status","auth"[,"fault"]}.
    #[arg(long, value_name = "FILE", help_heading = "Server")]
    pub request_log: Option<PathBuf>,

    /// Serve NDJSON files from DIR instead of generated data.
    #[arg(long, value_name = "DIR", help_heading = "Data", conflicts_with_all = ["generate_users", "generate_days", "huge_conversation_mb"])]
    pub data: Option<PathBuf>,
    /// Number of users to generate.
    #[arg(long, default_value_t = 300, value_name = "N", help_heading = "Data")]
    pub generate_users: usize,
    /// Number of days of activity to generate.
    #[arg(long, default_value_t = 30, value_name = "D", help_heading = "Data")]
    pub generate_days: u32,
    /// First UTC day of generated activity.
    #[arg(
        long,
        default_value = "2025-07-02",
        value_name = "YYYY-MM-DD",
        help_heading = "Data"
    )]
    pub start: String,
    /// Seed of the generated data (the same seed gives the same data).
    #[arg(long, default_value_t = 1, help_heading = "Data")]
    pub seed: u64,
    /// Mean conversations per user per day.
    #[arg(long, default_value_t = 0.3, value_name = "F", help_heading = "Data")]
    pub conversations_per_user_day: f64,
    /// Percentage of user messages that carry an uploaded file
    /// (served at …/users/{user_id}/files/{file_id}).
    #[arg(long, default_value_t = 3.0, value_name = "PCT", help_heading = "Data")]
    pub attachments_pct: f64,
    /// Add one conversation of about N MB, listed whole (for memory benchmarks).
    #[arg(long, default_value_t = 0, value_name = "N", help_heading = "Data")]
    pub huge_conversation_mb: usize,
    /// Workspace id served under /v1/compliance/workspaces/{id}/ (an org-… id
    /// is served under /v1/compliance/organizations/{id}/logs instead).
    #[arg(
        long,
        default_value = "11bf645e-d5e8-4478-a70e-e5742ded2436",
        help_heading = "Data"
    )]
    pub workspace_id: String,
    /// Also serve the Logs Platform under /v1/compliance/organizations/{ID}/.
    #[arg(long, value_name = "ID", help_heading = "Data")]
    pub org_id: Option<String>,

    /// Bearer key of the Compliance API; the key `wrong-scope` gets 403.
    #[arg(long, default_value = "test-key", help_heading = "Auth")]
    pub api_key: String,
    /// Bearer key of the audit-log API.
    #[arg(long, default_value = "test-admin-key", help_heading = "Auth")]
    pub admin_key: String,

    /// Requests per minute per endpoint per key; excess gets 429 with
    /// Retry-After. 0 means no limit.
    #[arg(
        long,
        default_value_t = 0,
        value_name = "N",
        help_heading = "Behaviour"
    )]
    pub rate_limit: usize,
    /// Speed of the mock's clock: its minute lasts 60/F real seconds.
    #[arg(
        long,
        default_value_t = 1.0,
        value_name = "F",
        help_heading = "Behaviour"
    )]
    pub time_scale: f64,
    /// 400 when since_timestamp and after are both sent (the spec says
    /// since_timestamp is then ignored, which is the default).
    #[arg(long, help_heading = "Behaviour")]
    pub strict: bool,
    /// Percentage of conversation pages cut short while has_more stays true.
    #[arg(
        long,
        default_value_t = 20.0,
        value_name = "PCT",
        help_heading = "Behaviour"
    )]
    pub short_pages: f64,
    /// Percentage of follow-up conversation pages (with after=) that first
    /// update a conversation already listed, so it is re-sent later, newer.
    #[arg(
        long,
        default_value_t = 0.0,
        value_name = "PCT",
        help_heading = "Behaviour"
    )]
    pub resend_updated: f64,
    /// Conversations with more messages are listed with this many and
    /// messages.has_more true (page the rest via …/conversations/{id}/messages).
    #[arg(
        long,
        default_value_t = 32,
        value_name = "N",
        help_heading = "Behaviour"
    )]
    pub nested_messages: usize,
    /// Hours of events per generated log file.
    #[arg(
        long,
        default_value_t = 6,
        value_name = "H",
        help_heading = "Behaviour"
    )]
    pub log_file_hours: i64,
    /// Percentage of log events delivered again in the next file.
    #[arg(
        long,
        default_value_t = 2.0,
        value_name = "PCT",
        help_heading = "Behaviour"
    )]
    pub log_duplicates: f64,
    /// Lifetime of a log-file download URL, seconds.
    #[arg(
        long,
        default_value_t = 300,
        value_name = "SECS",
        help_heading = "Behaviour"
    )]
    pub download_ttl: u64,
    /// The mock's "now" at start-up (RFC 3339, YYYY-MM-DD or Unix
    /// seconds); retentions are measured against it. Default: the real time.
    /// Also `POST /_mock/clock?now=TIME`.
    #[arg(long, value_name = "TIME", help_heading = "Behaviour")]
    pub now: Option<String>,
    /// Uploaded files older than this (on the mock's clock) answer 410.
    #[arg(
        long,
        default_value_t = 48.0,
        value_name = "H",
        help_heading = "Behaviour"
    )]
    pub upload_retention_hours: f64,
    /// Log files that ended more than D days before the mock's now are no
    /// longer listed (upstream keeps 30); 0 keeps them all.
    #[arg(
        long,
        default_value_t = 0.0,
        value_name = "D",
        help_heading = "Behaviour"
    )]
    pub log_retention_days: f64,
    /// Fault injection; the syntax is below (also `PUT /_mock/faults?spec=SPEC`).
    #[arg(
        long,
        visible_alias = "fault",
        default_value = "",
        value_name = "SPEC",
        help_heading = "Behaviour"
    )]
    pub faults: String,

    /// Serve HTTPS: make a test CA and a server certificate at start-up,
    /// write the CA's certificate to DIR/ca.pem (clients trust it with
    /// e.g. `fetch --ca-cert DIR/ca.pem`), and announce an https:// URL.
    #[arg(long, value_name = "DIR", help_heading = "Server")]
    pub tls_dir: Option<PathBuf>,
    /// Names the server certificate is valid for (comma-separated DNS
    /// names or IP addresses); another name makes a "bad hostname" server.
    #[arg(
        long,
        default_value = "127.0.0.1,localhost",
        value_name = "NAMES",
        requires = "tls_dir",
        help_heading = "Server"
    )]
    pub tls_name: String,
}

pub fn run(a: Args) -> Result<Outcome> {
    if a.time_scale <= 0.0 || !a.time_scale.is_finite() {
        return Err(Failure::usage(format!(
            "--time-scale {} must be a positive number",
            a.time_scale
        )));
    }
    if a.nested_messages == 0 {
        return Err(Failure::usage("--nested-messages must be at least 1"));
    }
    let faults =
        Faults::parse(&a.faults, a.seed).map_err(|e| Failure::usage(format!("--faults: {e:#}")))?;
    let start = chrono::NaiveDate::parse_from_str(&a.start, "%Y-%m-%d")
        .map_err(|e| Failure::usage(format!("--start {:?}: {e} (expected YYYY-MM-DD)", a.start)))?
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp();
    let clock = Clock {
        offset_s: match &a.now {
            Some(t) => {
                crate::app::parse_instant(t).map_err(|e| Failure::usage(format!("--now: {e}")))?
                    - crate::app::unix_now()
            }
            None => 0.0,
        },
        upload_retention_s: a.upload_retention_hours.max(0.0) * 3600.0,
        log_retention_s: a.log_retention_days.max(0.0) * 86_400.0,
    };
    let began = std::time::Instant::now();
    let (dataset, generator, huge) = match &a.data {
        Some(dir) => {
            let (ds, g) = crate::datadir::load(dir, &a.workspace_id)
                .map_err(|e| Failure::data(format!("{e:#}")))?;
            (ds, g, None)
        }
        None => gen::generate(
            &a.workspace_id,
            &GenOptions {
                seed: a.seed,
                users: a.generate_users,
                days: a.generate_days,
                start,
                conversations_per_user_day: a.conversations_per_user_day,
                huge_conversation_mb: a.huge_conversation_mb,
                attachment_chance: a.attachments_pct / 100.0,
            },
        ),
    };
    let cfg = StoreConfig {
        seed: a.seed,
        nested_messages: a.nested_messages,
        log_window_secs: a.log_file_hours.max(1) * 3600,
        log_duplicate_pct: a.log_duplicates,
    };
    let store =
        Store::build(dataset, generator, huge, cfg).map_err(|e| Failure::data(format!("{e:#}")))?;
    release_freed_memory();
    eprintln!(
        "compliance-mock: {} conversations, {} users, {} log files, {} audit log entries, ready in {:.1}s",
        store.conversations.len(),
        store.users.len(),
        store.logs.values().map(|s| s.files.len()).sum::<usize>(),
        store.audit.len(),
        began.elapsed().as_secs_f64()
    );
    let app = Arc::new(App {
        store: RwLock::new(store),
        faults,
        limiter: RateLimiter::new(a.rate_limit, a.time_scale),
        log: RequestLog::new(a.request_log.as_deref())
            .map_err(|e| Failure::usage(format!("{e:#}")))?,
        opts: ApiOptions {
            api_key: a.api_key,
            admin_key: a.admin_key,
            strict: a.strict,
            short_page_pct: a.short_pages,
            resend_pct: a.resend_updated,
            download_ttl: a.download_ttl,
            org_id: a.org_id,
            seed: a.seed,
        },
        base_url: OnceLock::new(),
        downloads: Mutex::new(Default::default()),
        clock: Mutex::new(clock),
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind((a.bind.as_str(), a.port))
            .await
            .map_err(|e| Failure::usage(format!("binding {}:{}: {e}", a.bind, a.port)))?;
        let addr = listener.local_addr()?;
        let tls = match &a.tls_dir {
            Some(dir) => Some(crate::tls::acceptor(dir, &a.tls_name)?),
            None => None,
        };
        let url = format!("{}://{addr}", if tls.is_some() { "https" } else { "http" });
        app.base_url.set(url.clone()).ok();
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", serde_json::json!({ "listening": url }))?;
        out.flush()?;
        drop(out);
        match tls {
            Some(acceptor) => axum::serve(
                crate::tls::TlsListener::new(listener, acceptor),
                api::router(app),
            )
            .await
            .context("serving HTTPS")?,
            None => axum::serve(listener, api::router(app))
                .await
                .context("serving HTTP")?,
        }
        Ok(Outcome::Complete)
    })
}

/// Generation builds every record as a `Value` before the store keeps only
/// bytes; hand the freed heap back so the resident size reflects what is
/// actually held (glibc keeps freed memory otherwise).
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap pages; no pointer is touched.
    unsafe {
        libc::malloc_trim(0);
    }
}
