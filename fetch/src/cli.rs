//! Command-line flags. Every stream subcommand shares [`Common`].

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  # With OPENAI_API_KEY (a Compliance API key) and WORKSPACE_ID in the environment.

  # Conversation content from the Compliance Logs Platform, incrementally:
  fetch logs --event-type CONVERSATION_MESSAGE > events.ndjson && fetch commit

  # Every log event type the server lists, first load from a date:
  fetch logs --event-type all --since 2025-07-02 --no-resume \\
    | partition --out archive/logs --preset log-events --layout hive

  # Legacy conversations of two users over the last week, titles only:
  fetch conversations --users user-abc,user-def --since 7d --no-resume | jq -r .title

  # A long first load in windows of 200 pages, committing as it goes:
  while :; do
    fetch conversations --max-pages 200 --summary run.json | partition --out archive/conversations --preset conversations || break
    fetch commit; jq -e .more run.json >/dev/null || break
  done

  # Organisation audit logs (OPENAI_ADMIN_KEY, an admin key), only API key events:
  fetch audit-logs --event-type api_key.created,api_key.deleted

  # Files uploaded to conversations (kept upstream about 48 h); exit 1 means
  # some were already gone, each recorded in its day's files-missing.ndjson:
  fetch logs --event-type CONVERSATION_MESSAGE > events.ndjson
  fetch files --events events.ndjson --out archive/files | manifest | ship s3://bucket/compliance/files || [ $? -eq 1 ]

  # One run id for every fetch of a pipeline, then commit only that run:
  export FETCH_RUN_ID=nightly-$(date +%Y%m%d)
  fetch logs --event-type AUTH_LOG > auth.ndjson && fetch users > users.ndjson && fetch commit --run-id \"$FETCH_RUN_ID\"

  # How far behind each bookmark is, against the upstream retention:
  fetch status | jq -c '{stream, state, lag, retention}'

  # What would run, and are the credentials good? (one request)
  fetch conversations --dry-run

  # Where every stream's bookmark stands:
  fetch status | jq -c '{stream, state, time, cursor}'

  # Organisation-scope types (COSTS) too, with the organisation's id:
  #   fetch logs --event-type all --organization-id org-abc123

Environment:
  OPENAI_API_KEY        key for the Compliance API (logs, conversations, users, gpts, projects, memories)
  OPENAI_ADMIN_KEY      organisation admin key for audit-logs
  WORKSPACE_ID          default for --workspace-id
  ORGANIZATION_ID       default for --organization-id (logs)
  COMPLIANCE_BASE_URL   default for --base-url of compliance streams (https://api.chatgpt.com/v1)
  OPENAI_BASE_URL       default for --base-url of audit-logs (https://api.openai.com/v1)
  FETCH_STATE_DIR       default for --state-dir
  FETCH_RUN_ID          default for --run-id (one id for every fetch of a pipeline, then one `fetch commit --run-id`)
  FETCH_LOG=debug       log every request to stderr (as -v does); keys are never logged

A server that misbehaves stops the run with exit 4 and commits nothing: a
paging cursor that does not move, repeats or runs backwards; a body that is
not a JSON object with a data array (after retries); has_more that is not a
boolean; a request slower than --deadline (after retries). API requests
never follow a redirect to another origin (exit 2: check --base-url); only
the log download follows its signed URL (https, or http on loopback),
without the key. Text from the server is printed with the key masked.
";

#[derive(Parser, Debug)]
#[command(
    name = "fetch",
    version,
    about = "Pull ChatGPT Enterprise Compliance API, Compliance Logs and OpenAI audit-log records to stdout as NDJSON, one API object per line, untouched",
    long_about = "Pull ChatGPT Enterprise Compliance API, Compliance Logs and OpenAI audit-log records to stdout as NDJSON, one API object per line, untouched.\n\nRuns are incremental: a run starts from the COMMITTED bookmark (minus --overlap), writes the bookmark it reached to a PENDING file, and `fetch commit` promotes it once the rest of the pipeline has stored the records. Requests are paced per endpoint (--rate-limit), 429/5xx/timeouts are retried with full-jitter backoff and Retry-After, 401/403/404 fail at once with a hint."
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Compliance Logs Platform: log files of the given event types, each
    /// checked against file_size/file_sha256, events de-duplicated on event_id
    Logs(LogsArgs),
    /// Legacy conversations (since_timestamp, users filter, nested messages completed, newest version once)
    Conversations(Common),
    /// Workspace users (a full listing)
    Users(Common),
    /// Custom GPTs (a full listing)
    Gpts(Common),
    /// Projects (a full listing)
    Projects(Common),
    /// Memories, one record per user (a full listing)
    Memories(Common),
    /// OpenAI organisation audit logs (admin key, bracketed filters)
    AuditLogs(AuditArgs),
    /// Files users uploaded, referenced by CONVERSATION_MESSAGE events
    /// (stdin or --events), downloaded into --out; prints one file line each
    Files(FilesArgs),
    /// Promote pending bookmarks to committed (one run's, or --run-id /
    /// --stream); run it only after every downstream stage exited 0
    Commit(CommitArgs),
    /// Print every bookmark in the state dir (committed and pending) as NDJSON
    Status(StateArgs),
}

#[derive(Args, Debug, Clone)]
pub struct StateArgs {
    /// Directory of the bookmark files [default: $XDG_STATE_HOME/compliance-archive or ~/.local/state/compliance-archive]
    #[arg(long, env = "FETCH_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Show what would be promoted; change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Args, Debug, Clone)]
pub struct CommitArgs {
    #[command(flatten)]
    pub state: StateArgs,
    /// Promote only the pending bookmarks of this run (the summary's run_id); repeat or comma-separate
    #[arg(long = "run-id", value_name = "ID", value_delimiter = ',')]
    pub run_ids: Vec<String>,
    /// Promote only this stream's pending bookmarks (logs-AUTH_LOG, conversations, files; `logs` = every logs-*); repeat or comma-separate
    #[arg(long = "stream", value_name = "NAME", value_delimiter = ',')]
    pub streams: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct LogsArgs {
    /// Event type(s): repeat or comma-separate (AUTH_LOG, AUDIT_LOG, CONVERSATION_MESSAGE, CODEX_LOG, …, any type the server lists); `all` = every type the server lists
    #[arg(
        long = "event-type",
        value_name = "TYPE",
        value_delimiter = ',',
        required = true
    )]
    pub event_types: Vec<String>,
    /// Organisation id (org-…): organisation-scope types (COSTS) are fetched from /compliance/organizations/{ID}/logs, and `all` includes them
    #[arg(long, env = "ORGANIZATION_ID", value_name = "ORG_ID")]
    pub organization_id: Option<String>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug, Clone)]
pub struct FilesArgs {
    /// CONVERSATION_MESSAGE events as `fetch logs` prints them, NDJSON (`-`: stdin)
    #[arg(long, value_name = "FILE", default_value = "-")]
    pub events: PathBuf,
    /// Root directory of <user>/YYYY/MM/DD/files/<file_id>/<name>
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Refuse (and report) a file larger than this (KB=1000, KiB=1024)
    #[arg(long, value_name = "SIZE", default_value = "512MB")]
    pub max_file_size: String,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug, Clone)]
pub struct AuditArgs {
    /// Only these event types (event_types[]), repeat or comma-separate
    #[arg(
        long = "event-type",
        alias = "event-types",
        value_name = "TYPE",
        value_delimiter = ','
    )]
    pub event_types: Vec<String>,
    /// Only these projects (project_ids[])
    #[arg(long = "project-ids", value_name = "ID", value_delimiter = ',')]
    pub project_ids: Vec<String>,
    /// Only these actors (actor_ids[]); --users adds to this list
    #[arg(long = "actor-ids", value_name = "ID", value_delimiter = ',')]
    pub actor_ids: Vec<String>,
    /// Only these actor emails (actor_emails[])
    #[arg(long = "actor-emails", value_name = "EMAIL", value_delimiter = ',')]
    pub actor_emails: Vec<String>,
    /// Only these target resources (resource_ids[])
    #[arg(long = "resource-ids", value_name = "ID", value_delimiter = ',')]
    pub resource_ids: Vec<String>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Workspace id; an id starting with org- uses /organizations/ (logs only)
    #[arg(long, env = "WORKSPACE_ID", value_name = "ID", help_heading = "Source")]
    pub workspace_id: Option<String>,
    /// API base URL [default: $COMPLIANCE_BASE_URL or https://api.chatgpt.com/v1; audit-logs: $OPENAI_BASE_URL or https://api.openai.com/v1]
    #[arg(long, value_name = "URL", help_heading = "Source")]
    pub base_url: Option<String>,
    /// Read the API key from this file (else OPENAI_API_KEY, or OPENAI_ADMIN_KEY for audit-logs); never a plain flag
    #[arg(long, value_name = "FILE", help_heading = "Source")]
    pub api_key_file: Option<PathBuf>,

    /// Start of the first load when there is no bookmark (or with --no-resume): RFC 3339, a date, Unix seconds or 7d/12h [default: 2025-07-02]
    #[arg(long, value_name = "TIME", help_heading = "Window")]
    pub since: Option<String>,
    /// Stop at this time (exclusive); the summary says "more": true when newer data was left for the next run
    #[arg(long, value_name = "TIME", help_heading = "Window")]
    pub until: Option<String>,
    /// Only these users (conversations: `users` filter, split 99 per request; audit-logs: actor_ids[])
    #[arg(
        long,
        value_name = "ID,ID",
        value_delimiter = ',',
        help_heading = "Window"
    )]
    pub users: Vec<String>,
    /// Stop after N list pages (per stream); the bookmark then records where to continue and "more" is true
    #[arg(long, value_name = "N", help_heading = "Window")]
    pub max_pages: Option<u64>,
    /// Records per page (API maximum: conversations 500, logs and audit logs 100)
    #[arg(long, value_name = "N", help_heading = "Window")]
    pub limit: Option<u32>,

    /// Directory of the bookmark files [default: $XDG_STATE_HOME/compliance-archive or ~/.local/state/compliance-archive]
    #[arg(
        long,
        env = "FETCH_STATE_DIR",
        value_name = "DIR",
        help_heading = "Bookmarks"
    )]
    pub state_dir: Option<PathBuf>,
    /// Ignore the committed bookmark and start from --since (still writes a pending one)
    #[arg(long, help_heading = "Bookmarks")]
    pub no_resume: bool,
    /// Tag this run's pending bookmarks (`fetch commit --run-id ID`) [default: made up, printed as run_id in the summary]
    #[arg(
        long,
        env = "FETCH_RUN_ID",
        value_name = "ID",
        help_heading = "Bookmarks"
    )]
    pub run_id: Option<String>,
    /// How long the upstream keeps the data (30d for logs, 2d for files): a committed bookmark older than this minus 7d warns, older than this exits 1 naming the lost window
    #[arg(long, value_name = "DURATION", help_heading = "Bookmarks")]
    pub retention: Option<String>,
    /// Seconds to go back before the committed bookmark, so nothing on the boundary is missed (duplicates there are dropped)
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 300,
        help_heading = "Bookmarks"
    )]
    pub overlap: u64,

    /// Requests per minute per endpoint, paced evenly (never more in any 60 s window)
    #[arg(
        long,
        value_name = "N",
        default_value_t = 50,
        help_heading = "Requests"
    )]
    pub rate_limit: u32,
    /// Requests per minute for log file downloads [default: --rate-limit]
    #[arg(long, value_name = "N", help_heading = "Requests")]
    pub download_rate_limit: Option<u32>,
    /// Attempts per request before giving up with exit 4 (429, 5xx, timeouts, resets)
    #[arg(long, value_name = "N", default_value_t = 6, help_heading = "Requests")]
    pub max_attempts: u32,
    /// Longest wait for one retry, in seconds (caps Retry-After and backoff)
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 120,
        help_heading = "Requests"
    )]
    pub max_wait: u64,
    /// First backoff ceiling in milliseconds (doubles per attempt, full jitter)
    #[arg(
        long = "retry-base-ms",
        alias = "backoff-base",
        value_name = "MS",
        default_value_t = 500,
        help_heading = "Requests"
    )]
    pub retry_base_ms: u64,
    /// Seconds without a byte from the server before a request is retried
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 60,
        help_heading = "Requests"
    )]
    pub timeout: u64,
    /// Longest one request may take, body included, before it is retried (a server that drips bytes never trips --timeout)
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 300,
        help_heading = "Requests"
    )]
    pub deadline: u64,
    /// Also trust the CA certificate(s) in this PEM file (a TLS proxy or a private CA); certificate errors are configuration errors (exit 2), never retried
    #[arg(long, value_name = "FILE", help_heading = "Requests")]
    pub ca_cert: Option<PathBuf>,

    /// Print the first request that would be made (key redacted), check the credentials with one call, fetch nothing
    #[arg(long, help_heading = "Output")]
    pub dry_run: bool,
    /// Write the run summary as JSON to FILE (atomically)
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub summary: Option<PathBuf>,
    /// Log every request to stderr (also FETCH_LOG=debug)
    #[arg(short, long, help_heading = "Output")]
    pub verbose: bool,
}

/// The long help with the examples and the exit codes filled in.
pub fn long_help_tail() -> String {
    format!("{EXAMPLES}\n{}", archive_core::exit::EXIT_CODES_HELP)
}

/// Parse the command line (exits with clap's message on a bad one), with
/// the examples and exit codes under every subcommand's long help.
pub fn parse() -> Cli {
    let tail = long_help_tail();
    let cmd = archive_core::cli::command::<Cli>()
        .after_long_help(tail.clone())
        .mut_subcommands(|s| s.after_long_help(tail.clone()));
    archive_core::cli::parse_command(cmd)
}
