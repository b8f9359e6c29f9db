//! Command-line flags, help texts and examples.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  # Ask for the restore of everything cold under a prefix, see where it stands:
  restore get s3://acme-archive/billing-archive/2025/03 ./audit-2025-03 --tier bulk --days 7
  # ... hours later, the same command downloads what is restored and checks it:
  restore get s3://acme-archive/billing-archive/2025/03 ./audit-2025-03 --tier bulk --days 7
  (cd audit-2025-03 && sha256sum -c manifest-sha256.txt)

  # An encrypted archive, decrypted on the way down, signatures checked:
  restore get s3://acme-archive/audit ./audit --identity officer.key --public-key archive.pub

  # Yearly fixity of Glacier data without a restore (S3 Batch Operations):
  restore batch-manifest s3://acme-archive/audit > batch-manifest.csv
  restore batch-report job-report/ --source s3://acme-archive/audit | jq -c 'select(.status != \"ok\")'

  # Query the archive with DuckDB or Athena:
  restore query ./archive/logs --layout hive > views.sql && duckdb -init views.sql
  restore query s3://acme-archive/logs --layout hive --athena-table compliance.events

  # Keep 90 days locally, only what S3 holds and vouches for:
  restore prune ./archive/audit --dest s3://acme-archive/audit --retention-days 90 --dry-run
";

#[derive(Parser, Debug)]
#[command(
    name = "restore",
    version,
    about = "Read the archive back: restore, download and verify, fixity, queries, local retention",
    // --help prints after_long_help instead of after_help: the examples go in both.
    after_long_help = format!("{EXAMPLES}{}", concat!("\n", "Exit codes:
  0    success (get: every requested file is local and verified)
  1    some items failed or are not ready (still restoring, missing, mismatched)
  2    usage or configuration error
  3    input data error (a manifest or report that cannot be read)
  4    remote service error after retries (S3)
  130  interrupted"))
)]
#[command(after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Request restores of cold objects, download what is readable, verify
    /// each file against its manifest and the object's stored checksum.
    Get(GetArgs),
    /// Write an S3 Batch Operations manifest (CSV: Bucket,Key,VersionId)
    /// for every file a prefix's manifests list.
    BatchManifest(BatchManifestArgs),
    /// Read a Batch Operations "Compute checksum" completion report back
    /// into one verify line per object.
    BatchReport(BatchReportArgs),
    /// Print DuckDB views and Athena DDL for an archive's layout.
    Query(QueryArgs),
    /// Remove local files older than the retention that the destination
    /// holds and vouches for.
    Prune(PruneArgs),
}

#[derive(Args, Debug)]
pub struct S3Flags {
    /// S3-compatible endpoint (also AWS_ENDPOINT_URL).
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// AWS region (else the credential chain's, else us-east-1).
    #[arg(long)]
    pub region: Option<String>,
    /// Write the run summary as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct GetArgs {
    /// The archive: s3://bucket/prefix, or a directory holding one.
    pub source: String,
    /// Local directory to download into (created if missing).
    pub dir: PathBuf,
    /// Only these paths (relative to the prefix), one per line, or file
    /// lines / object lines (their "path"); `-` for stdin.
    #[arg(long, value_name = "FILE")]
    pub files: Option<String>,
    /// Paths that no manifest lists are new, not missing: skip them quietly,
    /// and let a prefix without any manifest be empty (what a job that merges
    /// with its destination needs before it writes a day).
    #[arg(long)]
    pub missing_ok: bool,
    /// With --files: the manifest at SOURCE's root lists every file (as the
    /// daily backup writes its areas), so the prefix is not listed and the
    /// requests grow with the files asked for, not with the archive.
    #[arg(long, requires = "files")]
    pub manifest_at_root: bool,
    /// Restore tier for GLACIER / DEEP_ARCHIVE objects.
    #[arg(long, value_enum, default_value_t = Tier::Standard)]
    pub tier: Tier,
    /// Days a restored copy stays readable.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(i32).range(1..=3650))]
    pub days: i32,
    /// Downloads in flight at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub jobs: u32,
    /// age identity file: decrypt `.age` objects (and encrypted manifests)
    /// and check the plaintext against the manifest.
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// minisign public key: the manifests' signatures must check.
    #[arg(long, value_name = "FILE")]
    pub public_key: Option<PathBuf>,
    /// Say what would be restored and downloaded; request and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub s3: S3Flags,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Tier {
    Standard,
    Bulk,
    Expedited,
}

#[derive(Args, Debug)]
pub struct BatchManifestArgs {
    /// The archive prefix: s3://bucket/prefix.
    pub source: String,
    /// Write the CSV here instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub s3: S3Flags,
}

#[derive(Args, Debug)]
pub struct BatchReportArgs {
    /// Report CSV files, or the job's result directory / its manifest.json.
    #[arg(required = true)]
    pub reports: Vec<PathBuf>,
    /// The archive prefix whose manifests say what each object must hash to.
    #[arg(long, value_name = "S3URL")]
    pub source: String,
    #[command(flatten)]
    pub s3: S3Flags,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Layout {
    /// `archive_user=<user>/archive_date=YYYY-MM-DD/events.ndjson[.zst]`
    Hive,
    /// `<user>/YYYY/MM/DD/conversations.json`
    Seed,
}

#[derive(Args, Debug)]
pub struct QueryArgs {
    /// The archive root: a local directory or s3://bucket/prefix.
    pub root: String,
    #[arg(long, value_enum, default_value_t = Layout::Hive)]
    pub layout: Layout,
    /// Name of the DuckDB view.
    #[arg(long, default_value = "records")]
    pub view: String,
    /// Also print Athena DDL for this `database.table` (needs an s3:// root).
    #[arg(long, value_name = "DB.TABLE")]
    pub athena_table: Option<String>,
    /// Hive key of the user directories (older archives: user_id).
    #[arg(long, default_value = "archive_user")]
    pub user_key: String,
    /// Hive key of the day directories (older archives: date).
    #[arg(long, default_value = "archive_date")]
    pub date_key: String,
    /// First day of the Athena date projection.
    #[arg(long, default_value = "2020-01-01")]
    pub since: String,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// The local archive directory.
    pub dir: PathBuf,
    /// Where the archive is stored: s3://bucket/prefix (or a local directory).
    #[arg(long)]
    pub dest: String,
    /// Keep files modified in the last N days.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub retention_days: u32,
    /// List what would go; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub s3: S3Flags,
}
