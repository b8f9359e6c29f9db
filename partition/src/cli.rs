//! The command line: flags, their help, and the examples of `--help`.
//! Only `config` turns these into the run's settings.

use archive_core::size::SIZE_HELP;
use clap::{Parser, ValueEnum};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  # Conversations into the seed layout (DIR/<user>/YYYY/MM/DD/conversations.json
  # plus DIR/_daily_summaries/YYYY/MM/DD/summary.json):
  fetch conversations | partition --out archive/conversations | manifest | ship s3://bucket/chatgpt

  # Logs Platform CONVERSATION_MESSAGE events assembled into the same layout
  # (one conversation per file and day of its messages, merged by message id):
  fetch logs --event-type CONVERSATION_MESSAGE | partition --out archive/conversations \\
      --preset log-conversations

  # Other log events as Hive partitions for Athena/DuckDB, zstd-compressed NDJSON:
  fetch logs --event-type all | partition --out archive/logs --preset log-events \\
      --layout hive --compression zstd

  # Audit logs, one JSONL file per day, rotated every 100 MB (100,000,000 bytes):
  fetch audit-logs | partition --out archive/audit --preset audit-logs \\
      --layout daily-jsonl --rotate-size 100MB

  # AI-interaction audit entries: input/output kept as SHA-256 only, `output`
  # also sealed with age for the key holder; audit_YYYYMMDD.jsonl, then _001, ...
  partition --out archive/ai-audit --preset ai-audit --encrypt-field output \\
      --encrypt-to age1t2e6452aqt8hph2yhfxn3luvk698g30743r4jh4v52vhcunvp5xq9d7rs3 ai-audit.jsonl

  # Your own fields and path; days in Berlin time; only hashes of message text kept:
  partition --out out --user-field owner.id --time-field ts \\
      --layout template --path '{user}/{yyyy}/{mm}/{dd}/records.ndjson' --tz Europe/Berlin in.ndjson
  partition --out out --hash-only @content conversations.ndjson

  # Seed metadata of your own: {\"exported_at\":…,\"lambda_function\":…,\"env\":\"prod\"}
  partition --out out --metadata env=prod --timestamp-key exported_at conversations.ndjson

  # What changed in this run:
  partition --out out in.ndjson | jq -c 'select(.changed) | {path, records}'
";

fn after_long_help() -> String {
    format!(
        "{EXAMPLES}\n{SIZE_HELP}\n\n{}",
        archive_core::exit::EXIT_CODES_HELP
    )
}

fn memory_help() -> String {
    format!(
        "Memory budget (default 256MB = 256,000,000 bytes). Input beyond half of it is \
         spilled to sorted runs on disk. {SIZE_HELP}"
    )
}

fn rotate_help() -> String {
    format!(
        "Split each file into parts of at most SIZE bytes (uncompressed), named \
         <stem>_001<ext>, <stem>_002<ext>, … (meant for daily-jsonl; ai-audit: 100MB by default, \
         the first part keeps the plain name, then _001, _002, …). {SIZE_HELP}"
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    Conversations,
    LogEvents,
    // CONVERSATION_MESSAGE events assembled into conversations.
    LogConversations,
    AuditLogs,
    // AI-interaction audit entries (hash-only, optional field encryption).
    AiAudit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LayoutKind {
    Seed,
    Hive,
    DailyJsonl,
    Template,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Json,
    Ndjson,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompressArg {
    Gzip,
    Zstd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TimeUnitArg {
    Auto,
    S,
    Ms,
}

#[derive(Parser, Debug)]
#[command(
    name = "partition",
    version,
    about = "Write records into dated per-user files and daily summaries, merging with earlier runs, in bounded memory",
    after_long_help = after_long_help()
)]
pub struct Args {
    /// Output root. Created if missing; every path written stays under it,
    /// and no symbolic link inside it is followed.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Which fields give user, time and id, for the streams `fetch` writes.
    /// conversations: user_id, created_at, id (newest by last_active_at);
    /// log-conversations: CONVERSATION_MESSAGE events assembled into
    /// conversations (actor.user_id, message.created_at, message.id);
    /// log-events: actor.user_id, timestamp, event_id (give --layout hive, daily-jsonl or template);
    /// audit-logs: actor (session or API key user, else actor type), effective_at, id;
    /// ai-audit: AI-interaction audit entries (timestamp, id; input/output
    /// kept as input_hash/output_hash; daily-jsonl rotated at 100MB).
    /// Default: conversations, unless --user-field and --time-field are given.
    #[arg(long, value_enum, value_name = "PRESET")]
    pub preset: Option<Preset>,

    /// Dot path of the user field (e.g. `actor.user_id`); overrides the preset.
    #[arg(long, value_name = "PATH")]
    pub user_field: Option<String>,

    /// Dot path of the time field: Unix seconds or milliseconds (float or
    /// integer) or an RFC 3339 string; overrides the preset.
    #[arg(long, value_name = "PATH")]
    pub time_field: Option<String>,

    /// Dot path of the record id used to keep one copy per record
    /// (default: the preset's, else `id`).
    #[arg(long, value_name = "PATH")]
    pub id_field: Option<String>,

    /// Dot path of a time that says which copy of a record is newest
    /// (default: `last_active_at` for conversations, none otherwise:
    /// the copy that arrived last wins).
    #[arg(long, value_name = "PATH")]
    pub version_field: Option<String>,

    /// Directory layout: seed (DIR/<user>/YYYY/MM/DD/<name>.json plus daily
    /// summaries), hive (archive_user=<user>/archive_date=YYYY-MM-DD/<name>.ndjson; keys no record uses, so they never shadow a field),
    /// daily-jsonl (<prefix>_YYYYMMDD.jsonl, all users of a day), or
    /// template (--path).
    #[arg(long, value_enum, value_name = "LAYOUT")]
    pub layout: Option<LayoutKind>,

    /// Path template for --layout template, relative to DIR. Placeholders:
    /// {user} (sanitised), {yyyy} {mm} {dd} {date} (YYYY-MM-DD) {yyyymmdd}.
    /// Giving --path implies --layout template.
    #[arg(long = "path", value_name = "TEMPLATE")]
    pub path_template: Option<String>,

    /// File format: json (the seed's wrapped object) or ndjson (one record
    /// per line). Default: json for seed (and templates ending in .json),
    /// ndjson otherwise.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<FormatArg>,

    /// Compress every file written, daily summaries and the quarantine
    /// included (adds .gz or .zst to its name).
    #[arg(long, alias = "compress", value_enum, value_name = "ALGO")]
    pub compression: Option<CompressArg>,

    /// Time zone whose calendar days partition the records (IANA name).
    #[arg(long, value_name = "ZONE", default_value = "UTC")]
    pub tz: String,

    #[arg(long, value_name = "SIZE", default_value = "256MB", help = memory_help())]
    pub memory: String,

    /// Replace the named fields (dot paths, through arrays) with the SHA-256
    /// hex of their content. `@content` = the preset's message text
    /// (conversations: messages.data.content.value; log events:
    /// message.content.value). One per occurrence: repeat the flag, or
    /// separate with commas.
    #[arg(long, value_name = "FIELD", value_delimiter = ',')]
    pub hash_only: Vec<String>,

    /// ai-audit: replace this field's value with an ASCII-armored age
    /// ciphertext of its JSON text (decrypt with `age -d -i key.txt`).
    /// Repeat, or separate with commas. Needs --encrypt-to.
    #[arg(long, value_name = "FIELD", value_delimiter = ',')]
    pub encrypt_field: Vec<String>,

    /// ai-audit: an age recipient (`age1…`) the encrypted fields are
    /// encrypted to. Repeat, or separate with commas.
    #[arg(long, value_name = "RECIPIENT", value_delimiter = ',')]
    pub encrypt_to: Vec<String>,

    #[arg(long, value_name = "SIZE", help = rotate_help())]
    pub rotate_size: Option<String>,

    /// Exit 3 instead of 1 when lines were quarantined (all good records
    /// are still written).
    #[arg(long)]
    pub strict: bool,

    /// Print the file lines with "status":"planned" and write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Write a JSON summary of the run to FILE (atomically), also when it fails.
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,

    /// A key of the `metadata` object of seed-format files, after the
    /// timestamp (default: lambda_function=partition <version>). Repeat,
    /// or separate pairs with commas; a given key replaces the default.
    #[arg(long, value_name = "KEY=VALUE")]
    pub metadata: Vec<String>,

    /// The name of the run's timestamp in seed-format `metadata`.
    #[arg(long, value_name = "KEY", default_value = "backup_timestamp")]
    pub timestamp_key: String,

    /// Same as --metadata source=TEXT.
    #[arg(long, value_name = "TEXT", hide = true)]
    pub source: Option<String>,

    /// Where sorted spill runs go (default: a hidden temporary directory
    /// inside DIR, or the system temporary directory with --dry-run).
    /// Spill directories that a killed run left here are removed at start.
    #[arg(long, value_name = "DIR")]
    pub spill_dir: Option<PathBuf>,

    /// Most spill runs merged at once (open file handles).
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_open_files: usize,

    /// Threads that parse the input, each a part of it (a regular,
    /// uncompressed file; stdin and compressed input are read by one).
    /// Default: the number of CPUs.
    #[arg(long, alias = "threads", value_name = "N")]
    pub jobs: Option<usize>,

    /// Threads that create directories and files (system-call bound).
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub write_threads: usize,

    /// How numeric times are read: auto (milliseconds when >= 1e11), s, ms.
    #[arg(long, value_enum, value_name = "UNIT", default_value = "auto")]
    pub time_unit: TimeUnitArg,

    /// NDJSON input (gzip and zstd recognised); `-` or none for stdin.
    #[arg(value_name = "INPUT")]
    pub input: Option<PathBuf>,
}
