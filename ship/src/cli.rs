//! Command-line flags. Help text sits beside each flag; examples, the size
//! rule and the exit codes are in the long help (`ship --help`). Only
//! `config.rs` reads these types.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  # Ship what manifest produced; print what S3 answered
  partition --out archive/conversations --preset conversations < records.ndjson \\
    | manifest | ship s3://acme-archive/chatgpt --storage-class GLACIER_IR \\
    | jq -c '{key, status, checksum_sha256}'

  # Daily pipeline: rewrite only the days whose content changed
  manifest --root archive/logs --accept-changes | ship s3://acme-archive/logs --update

  # Upload a folder under a timestamped prefix (20261123_020000_review/...)
  ship ./review s3://acme-exports/document-review/

  # Encrypt for the compliance officer's age key; fall back to disk if S3 is down
  ship s3://acme-archive/billing \\
    --encrypt-to age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p \\
    --fallback-dir spool < files.ndjson
  test ! -d spool || ship --drain spool s3://acme-archive   # later: what fell back

  # Large files read once, at most 64 MiB of their content in memory
  manifest --root billing-parquet | ship s3://acme-archive/billing --max-memory 64MiB

  # Write-once retention
  ship s3://locked-bucket/audit --object-lock-mode COMPLIANCE --retain-days 2557 < files.ndjson

  # Lifecycle rules for a prefix (print the JSON first)
  ship lifecycle s3://acme-archive/chatgpt --transition 90:GLACIER_IR \\
    --transition 365:DEEP_ARCHIVE --expire-days 3650 --abort-incomplete-days 7 --dry-run

  # Multipart uploads left behind by killed runs: list, then abort
  ship abort-incomplete s3://acme-archive/chatgpt
  ship abort-incomplete s3://acme-archive/chatgpt --apply";

/// What each exit code means for ship in particular.
const SHIP_EXIT_CODES: &str = "\
For ship: 2 also means no or rejected AWS credentials, access denied, no such
bucket or the wrong region (one message, the run stops); 1 also means a
\"conflict\" (changed content under an existing key, not replaced), a
\"stale\" spooled copy kept by --drain, or a file kept in the fallback; 3 a
file that vanished, or whose bytes are not its line's, before or during its
upload (no object is left); 4 an S3 failure (after the attempts its line's
error states), S3 refusing the bytes it received (BadDigest), or a corrupt
object that Object Lock keeps (tagged integrity=failed).";

/// Statuses of the object lines, and the IAM actions each mode needs.
const LINES_AND_IAM: &str = "\
Object line statuses: uploaded; skipped (identical object exists, or a
symlink: \"error\":\"symlink\", never followed); conflict (other content under
the key, not replaced); stale (--drain: the object is newer than the spooled
copy, kept); fallback; failed (\"integrity\":\"failed\" when a corrupt object
could not be deleted); planned (--dry-run).

IAM: s3:PutObject (default; also covers multipart), s3:GetObject to compare an
existing key (recommended; needed by --update and --drain),
s3:AbortMultipartUpload, s3:DeleteObject(Version) or else
s3:PutObject(Version)Tagging for a corrupt object, s3:PutObjectRetention and
s3:PutObjectLegalHold for Object Lock; lifecycle: s3:Get/PutLifecycleConfiguration;
abort-incomplete: s3:ListBucketMultipartUploads (+ s3:AbortMultipartUpload).";

fn long_help() -> String {
    format!(
        "{EXAMPLES}\n\n{LINES_AND_IAM}\n\n{}\n\n{}\n\n{SHIP_EXIT_CODES}",
        archive_core::size::SIZE_HELP,
        archive_core::exit::EXIT_CODES_HELP
    )
}

#[derive(Parser, Debug)]
#[command(
    name = "ship",
    version,
    about = "Upload file lines to S3 or a local directory; print one object line per object",
    after_long_help = long_help(),
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub ship: ShipArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Apply lifecycle rules (transitions, expiry, abort of incomplete uploads) to a prefix.
    Lifecycle(LifecycleArgs),
    /// List (default) or abort (--apply) the incomplete multipart uploads under a prefix.
    AbortIncomplete(AbortArgs),
}

#[derive(Args, Debug, Clone)]
pub struct ShipArgs {
    /// DEST (s3://bucket/prefix or a local directory), reading file lines from
    /// stdin; or SRC_DIR DEST to upload a whole folder.
    #[arg(value_name = "[SRC_DIR] DEST", num_args = 1..=2, required = true)]
    pub targets: Vec<String>,

    /// Read file lines from this file instead of stdin ("-" = stdin).
    #[arg(long, value_name = "FILE", help_heading = "Input")]
    pub input: Option<PathBuf>,

    /// Folder mode: prefix added under DEST; {yyyy} {mm} {dd} {HH} {MM} {SS}
    /// (UTC now) and {name} (the folder's name). "" for none.
    #[arg(
        long,
        value_name = "TEMPLATE",
        default_value = "{yyyy}{mm}{dd}_{HH}{MM}{SS}_{name}/",
        help_heading = "Input"
    )]
    pub prefix_template: String,

    /// Upload what an earlier run left in this --fallback-dir (or
    /// --fallback-zip file) to DEST, removing each file once it is uploaded
    /// and verified. A spooled copy older than the object now at its key is
    /// reported "stale" and kept. The keys under DIR already include the
    /// original prefix, so DEST is usually just s3://bucket.
    #[arg(long, value_name = "DIR", help_heading = "Input")]
    pub drain: Option<PathBuf>,

    /// Storage class for data objects: STANDARD, STANDARD_IA, ONEZONE_IA,
    /// INTELLIGENT_TIERING, GLACIER_IR, GLACIER, DEEP_ARCHIVE, EXPRESS_ONEZONE.
    #[arg(long, value_name = "CLASS", help_heading = "Storage")]
    pub storage_class: Option<String>,

    /// Storage class for lines with "manifest": true, so manifests stay
    /// readable while the data sits in Glacier.
    #[arg(
        long,
        value_name = "CLASS",
        default_value = "STANDARD",
        help_heading = "Storage"
    )]
    pub manifest_storage_class: String,

    /// Replace existing objects (default: keep them; an identical one is
    /// "skipped", a changed one a "conflict", exit 1).
    #[arg(long, conflicts_with = "update", help_heading = "Existing objects")]
    pub overwrite: bool,

    /// Replace an existing object only when its stored SHA-256 differs from
    /// the local one, else report "skipped". Needs s3:GetObject too.
    #[arg(long, help_heading = "Existing objects")]
    pub update: bool,

    /// Server-side encryption: AES256 or aws:kms.
    #[arg(long, value_name = "ALGO", help_heading = "Encryption")]
    pub sse: Option<String>,

    /// KMS key id or ARN for --sse aws:kms.
    #[arg(long, value_name = "KEY", help_heading = "Encryption")]
    pub sse_kms_key_id: Option<String>,

    /// Encrypt each file client-side to this age recipient (age1…) before
    /// upload; repeatable (commas work too). Keys get a ".age" suffix.
    #[arg(
        long,
        value_name = "AGE_RECIPIENT",
        help_heading = "Encryption",
        value_delimiter = ','
    )]
    pub encrypt_to: Vec<String>,

    /// Object Lock mode: GOVERNANCE or COMPLIANCE (the bucket must have
    /// Object Lock enabled). Needs --retain-until or --retain-days.
    #[arg(long, value_name = "MODE", help_heading = "Object Lock")]
    pub object_lock_mode: Option<String>,

    /// Retain until this date (YYYY-MM-DD, UTC midnight) or RFC 3339 time.
    #[arg(
        long,
        value_name = "DATE",
        conflicts_with = "retain_days",
        help_heading = "Object Lock"
    )]
    pub retain_until: Option<String>,

    /// Retain for this many days from now.
    #[arg(long, value_name = "N", help_heading = "Object Lock")]
    pub retain_days: Option<u32>,

    /// Put a legal hold on every object.
    #[arg(long, help_heading = "Object Lock")]
    pub legal_hold: bool,

    /// When S3 cannot be reached (its attempts used up), keep the files here under
    /// their keys (status "fallback", exit 1); ship them later with --drain.
    #[arg(long, value_name = "DIR", help_heading = "Fallback")]
    pub fallback_dir: Option<PathBuf>,

    /// Like --fallback-dir, but into one ZIP file (written atomically).
    #[arg(long, value_name = "FILE", help_heading = "Fallback")]
    pub fallback_zip: Option<PathBuf>,

    /// Files read and uploaded in parallel. A multipart upload whose bytes
    /// are all read gives its place to the next file while its last parts
    /// and its completion wait on S3 (up to 4 × N uploads open at once).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 8,
        help_heading = "Performance"
    )]
    pub jobs: usize,

    /// Multipart part size (bytes, or KB/MB/GB = powers of 1000, KiB/MiB/GiB =
    /// powers of 1024); raised automatically so no file needs more than
    /// 10,000 parts. Minimum 5MiB.
    #[arg(
        long,
        value_name = "SIZE",
        default_value = "16MiB",
        value_parser = archive_core::size::parse_size,
        help_heading = "Performance"
    )]
    pub part_size: u64,

    /// Parts of one file uploaded in parallel.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 4,
        help_heading = "Performance"
    )]
    pub part_concurrency: usize,

    /// Files larger than this SIZE go up as multipart uploads; smaller ones
    /// are read into memory and sent with one PUT (KB = 1000, KiB = 1024).
    #[arg(
        long,
        value_name = "SIZE",
        default_value = "16MiB",
        value_parser = archive_core::size::parse_size,
        help_heading = "Performance"
    )]
    pub multipart_threshold: u64,

    /// File content held in memory at once: multipart parts being read and
    /// sent (each file is read once) and small files read whole. A part
    /// larger than this goes alone. KB = 1000, KiB = 1024.
    #[arg(
        long,
        value_name = "SIZE",
        default_value = "96MiB",
        value_parser = archive_core::size::parse_size,
        help_heading = "Performance"
    )]
    pub max_memory: u64,

    /// Attempts per request, including the first (retries only on 5xx,
    /// SlowDown, timeouts and connection errors).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 6,
        help_heading = "Performance"
    )]
    pub max_attempts: u32,

    /// Base of the exponential backoff between attempts, in milliseconds
    /// (full jitter, capped at 30 s).
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 500,
        help_heading = "Performance"
    )]
    pub retry_base_ms: u64,

    /// S3-compatible endpoint (path-style addressing is used with it).
    #[arg(
        long,
        value_name = "URL",
        env = "AWS_ENDPOINT_URL",
        help_heading = "Connection"
    )]
    pub endpoint_url: Option<String>,

    /// AWS region (default: the standard AWS region chain).
    #[arg(long, value_name = "REGION", help_heading = "Connection")]
    pub region: Option<String>,

    /// Directory for age ciphertext before upload (default: the system temp
    /// dir). Leftovers of dead ship processes there are removed at start.
    #[arg(long, value_name = "DIR", help_heading = "Connection")]
    pub tmp_dir: Option<PathBuf>,

    /// Print the object lines with "status":"planned"; touch nothing.
    #[arg(long, help_heading = "Output")]
    pub dry_run: bool,

    /// Write a JSON run summary to FILE (atomically).
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub summary: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
#[command(after_long_help = long_help())]
pub struct LifecycleArgs {
    /// s3://bucket/prefix the rule applies to (whole bucket without prefix).
    #[arg(value_name = "S3_URL")]
    pub url: String,

    /// DAYS:CLASS, e.g. 90:GLACIER_IR; repeatable (commas work too).
    #[arg(long, value_name = "DAYS:CLASS", value_delimiter = ',')]
    pub transition: Vec<String>,

    /// Delete objects this many days after creation.
    #[arg(long, value_name = "DAYS")]
    pub expire_days: Option<u32>,

    /// Delete noncurrent versions this many days after they stop being current.
    #[arg(long, value_name = "DAYS")]
    pub noncurrent_expire_days: Option<u32>,

    /// Abort incomplete multipart uploads this many days after they start.
    #[arg(long, value_name = "DAYS")]
    pub abort_incomplete_days: Option<u32>,

    /// Rule id (default: "ship-" plus the prefix). A rule with the same id is
    /// replaced; the bucket's other rules are kept.
    #[arg(long, value_name = "ID")]
    pub rule_id: Option<String>,

    /// S3-compatible endpoint.
    #[arg(long, value_name = "URL", env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,

    /// AWS region.
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// Attempts per request, including the first (retries only on 5xx,
    /// SlowDown, timeouts and connection errors).
    #[arg(long, value_name = "N", default_value_t = 6)]
    pub max_attempts: u32,

    /// Base of the exponential backoff between attempts, in milliseconds
    /// (full jitter, capped at 30 s).
    #[arg(long, value_name = "MS", default_value_t = 500)]
    pub retry_base_ms: u64,

    /// Print the lifecycle configuration JSON that would be applied; touch nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Write a JSON run summary to FILE (atomically).
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
#[command(after_long_help = long_help())]
pub struct AbortArgs {
    /// s3://bucket/prefix whose incomplete multipart uploads to list or abort.
    #[arg(value_name = "S3_URL")]
    pub url: String,

    /// Abort the uploads listed (default: only list them, status "planned").
    #[arg(long, conflicts_with = "dry_run")]
    pub apply: bool,

    /// Only list, touch nothing (the default; for scripts that say so).
    #[arg(long)]
    pub dry_run: bool,

    /// Only uploads started at least this many hours ago, so that the
    /// uploads of a ship still running are left alone. 0 for all.
    #[arg(long, value_name = "HOURS", default_value_t = 24)]
    pub older_than_hours: u64,

    /// Attempts per request, including the first (retries only on 5xx,
    /// SlowDown, timeouts and connection errors).
    #[arg(long, value_name = "N", default_value_t = 6)]
    pub max_attempts: u32,

    /// Base of the exponential backoff between attempts, in milliseconds
    /// (full jitter, capped at 30 s).
    #[arg(long, value_name = "MS", default_value_t = 500)]
    pub retry_base_ms: u64,

    /// S3-compatible endpoint.
    #[arg(long, value_name = "URL", env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,

    /// AWS region.
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// Write a JSON run summary to FILE (atomically).
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
}
