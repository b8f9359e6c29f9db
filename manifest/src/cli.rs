//! The command line: clap structs, help texts and examples. Only
//! `config.rs` turns these into the plain configuration the phases use.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  # Between partition and ship: manifests written at the root, passed on to ship
  partition --out archive/conversations --preset conversations < records.ndjson \\
    | manifest | ship s3://bucket/compliance/conversations

  # Manifest an existing tree, then check it with GNU coreutils alone
  manifest --root archive/conversations > /dev/null
  (cd archive/conversations && sha256sum -c --strict manifest-sha256.txt)

  # Billing: one manifest per period, labelled, signed with minisign
  parquetize dump.csv --table charges --format pg-csv --schema-sql charges.sql \\
      --numeric-as string --out out --period 2025-11 \\
    | manifest --group-by period --retention-years 7 \\
    --compliance SOX --compliance GDPR --sign ~/.minisign/archive.key
  minisign -Vm out/manifest-2025-11-sha256.txt -p archive.pub

  # The billing archive's manifest.json, as its specification gives it
  # (docs/schemas/billing-manifest.schema.json)
  parquetize dump.csv --table charges --format pg-csv --schema-sql charges.sql --period 2025-11 \\
      --compression gzip --name '{table}-{period}.parquet.gz' --out month \\
    | manifest --json-format billing-spec --schema-version 2025-10-21 --key-prefix billing-archive/2025/11

  # Rewrite only the days whose content changed: the changes are recorded
  # (walked lines carry \"changed\"), ship --update replaces only those
  manifest --root archive/logs --accept-changes | ship s3://bucket/logs --update

  # A BagIt bag around a directory named data/
  manifest --root archive/2025-11/data --bagit && bagit.py --validate archive/2025-11

  # Which files differ?
  manifest verify archive/conversations | jq -c 'select(.status != \"ok\")'
  manifest verify s3://bucket/compliance/conversations --download

  # An archive shipped with --encrypt-to: ciphertext only, then the plaintext
  manifest verify s3://bucket/compliance/conversations --all | jq -c .status
  manifest verify s3://bucket/compliance/conversations --identity ~/.age/archive.key
";

#[derive(Parser, Debug)]
#[command(
    name = "manifest",
    version,
    about = "Write sha256sum/JSON/BagIt manifests for file lines, and verify trees and S3 prefixes",
    long_about = "Reads file lines (NDJSON: {\"root\",\"path\",\"bytes\",\"sha256\",...}) from stdin, \
hashes every file itself, and writes manifest-sha256.txt (GNU sha256sum format) and manifest.json \
at each root, covering the whole directory. Prints the input lines followed by one file line per \
manifest file written (with \"manifest\": true), so ship uploads the manifests with the data.",
    after_long_help = concat_help(),
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub write: WriteArgs,
}

fn concat_help() -> String {
    format!(
        "{EXAMPLES}\n{}\n\n{MANIFEST_CODES}",
        archive_core::exit::EXIT_CODES_HELP
    )
}

/// What the shared exit codes mean for manifest in particular.
const MANIFEST_CODES: &str = "\
For manifest:
  1    a file failed (unreadable, changed while hashed, contradicted its line,
       changed or vanished since the previous manifest), a subdirectory could
       not be listed (the rest is manifested), or an existing manifest would
       have lost lines (left as it was; --accept-changes rewrites it);
       verify: any difference
  2    an INPUT file or a --root that does not exist (or is not a directory),
       a system directory as root without --allow-system-root,
       --json-format billing-spec without a period or a schema version to
       record, no AWS credentials, access denied
       or no such bucket (verify), an --identity that does not open the
       encrypted manifests
  3    an input line that is not a file line, a path with '..', a line whose
       root is a system directory without --allow-system-root, with
       --json-format billing-spec a file without table and records, nothing
       to verify against
  verify statuses: changed, missing, extra, renamed, manifest_mismatch,
  bad_signature, unsigned, unreadable are differences (exit 1); unverifiable
  (archived, no stored SHA-256 or ship metadata), skipped, ciphertext_ok
  (.age ciphertext matches, plaintext unchecked without --identity) and ok
  are not. S3 lines carry method: checksum, metadata or download.
  Symbolic links are never followed (unless --follow-internal-links and they
  stay inside the root): each is reported on stderr as
  {\"root\",\"path\",\"status\":\"skipped\",\"error\":\"symlink\"} and counted
  (\"skipped\" in the summary); a link alone does not change the exit code.";

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Compare a directory or an S3 prefix with its manifest; print one NDJSON
    /// line per difference (missing, extra, changed, renamed, manifest_mismatch,
    /// unreadable) or note (unverifiable, skipped links). S3 objects are checked
    /// by HeadObject where it proves enough (S3's whole-object SHA-256, or ship's
    /// x-amz-meta-sha256 on a multipart object), else downloaded.
    #[command(after_long_help = concat_help())]
    Verify(VerifyArgs),
}

#[derive(Args, Debug, Clone)]
pub struct WriteArgs {
    /// File lines to read ('-' = stdin, the default). Ignored with --root.
    #[arg(value_name = "INPUT")]
    pub input: Option<PathBuf>,

    /// Walk this directory instead of reading file lines; prints a file line
    /// for every file in it. Repeatable.
    #[arg(long, value_name = "DIR")]
    pub root: Vec<PathBuf>,

    /// One manifest per value of this file-line field (e.g. period, date),
    /// named manifest-<value>-sha256.txt / manifest-<value>.json at the root.
    #[arg(long, value_name = "FIELD")]
    pub group_by: Option<String>,

    /// The period the archive covers (e.g. 2025-11), recorded in manifest.json.
    #[arg(long, value_name = "P")]
    pub period: Option<String>,

    /// Retention in years, recorded in manifest.json.
    #[arg(long, value_name = "N")]
    pub retention_years: Option<u32>,

    /// Compliance label recorded in manifest.json (repeatable or
    /// comma-separated, e.g. SOX,GDPR). Default with --json-format
    /// billing-spec: EU_AI_Act,Financial_Audit.
    #[arg(long = "compliance", value_name = "TAG", value_delimiter = ',')]
    pub compliance: Vec<String>,

    /// Data schema version recorded in manifest.json (default: the value all
    /// input lines agree on).
    #[arg(long, value_name = "V")]
    pub schema_version: Option<String>,

    /// S3 prefix the files will be shipped to (s3://bucket/prefix); records
    /// s3_key = prefix/path for each file in manifest.json.
    #[arg(long, value_name = "URL", conflicts_with = "key_prefix")]
    pub s3_prefix: Option<String>,

    /// Records s3_key = PREFIX/path for each file, without a bucket (e.g.
    /// billing-archive/2025/11), for a destination not given as s3://.
    #[arg(long, value_name = "PREFIX")]
    pub key_prefix: Option<String>,

    /// Shape of manifest.json: `toolkit` (default), or `billing-spec`, the
    /// billing archive's specification (docs/schemas/billing-manifest.schema.json):
    /// archive_version "1.0", created_at, period, files[{table, records,
    /// s3_key, …}], schema_version (a string), retention_years (default 10),
    /// compliance; the toolkit's sha256 per file and totals beside them.
    /// A snapshot's table is named <table>_snapshot.
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "toolkit")]
    pub json_format: JsonFormatArg,

    /// Also make the directory a BagIt 1.0 bag (RFC 8493). The payload must
    /// be under <bag>/data/: give a root named `data` (the bag is its parent)
    /// or a root that contains data/.
    #[arg(long)]
    pub bagit: bool,

    /// External-Identifier for bag-info.txt (default: the bag directory's name).
    #[arg(long, value_name = "ID", requires = "bagit")]
    pub external_identifier: Option<String>,

    /// Sign the manifests with this secret key: a minisign key (writes
    /// .minisig, password in env MINISIGN_PASSWORD, empty if unset) or an
    /// OpenSSH private key (writes .sig with `ssh-keygen -Y sign -n file`).
    #[arg(long, value_name = "KEYFILE")]
    pub sign: Option<PathBuf>,

    /// Reuse a previous manifest's digest for files whose size and mtime are
    /// unchanged instead of re-hashing them.
    #[arg(long)]
    pub trust_unchanged: bool,

    /// Record files that changed or vanished since the previous manifest
    /// without being announced on stdin (default: keep the old entry and fail).
    #[arg(long)]
    pub accept_changes: bool,

    /// Keep the entries of the previous manifest whose file is absent from
    /// this disk, without failing: the destination holds them. For jobs whose
    /// work directory is a cache (the previous manifest came from the
    /// destination). A file deliberately removed needs --accept-changes.
    #[arg(long, conflicts_with = "accept_changes")]
    pub keep_absent: bool,

    /// Hash and print as usual, but write nothing; manifest lines carry
    /// "status":"planned".
    #[arg(long)]
    pub dry_run: bool,

    /// Write a JSON run summary to this file.
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,

    /// Hashing threads (default: all cores).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,

    /// Follow a symbolic link to a regular file when it resolves inside the
    /// root (default: no link is followed; each is reported as skipped).
    #[arg(long)]
    pub follow_internal_links: bool,

    /// Allow `/` or a system directory (/etc, /usr, /bin, /proc, /sys, /dev,
    /// /boot, /lib, …) as a root, given by --root or by a file line.
    #[arg(long)]
    pub allow_system_root: bool,
}

/// `--json-format`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonFormatArg {
    Toolkit,
    BillingSpec,
}

#[derive(Args, Debug, Clone)]
pub struct VerifyArgs {
    /// Directory holding manifest-sha256.txt, or s3://bucket/prefix.
    #[arg(value_name = "DIR|S3URL", required = true)]
    pub targets: Vec<String>,

    /// S3: download and re-hash every object (and decrypt it, with
    /// --identity) instead of trusting the stored x-amz-checksum-sha256 and
    /// ship's x-amz-meta-sha256. Archived objects (GLACIER, DEEP_ARCHIVE)
    /// are never downloaded: without a restore they are "unverifiable".
    #[arg(long, visible_alias = "deep")]
    pub download: bool,

    /// S3: an age identity file (age-keygen's) for an archive shipped with
    /// `ship --encrypt-to`: the .age manifests are decrypted and each file's
    /// plaintext is checked, from ship's x-amz-meta-source-sha256, or by
    /// download and decryption with --download. Without it, only each .age
    /// object's ciphertext is checked ("ciphertext_ok").
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,

    /// Also print a line for every file that matched ("status":"ok", or
    /// "ciphertext_ok" for an encrypted object checked without --identity).
    #[arg(long)]
    pub all: bool,

    /// Check the manifests' minisign signatures (.minisig) with this public key.
    #[arg(long, value_name = "FILE")]
    pub public_key: Option<PathBuf>,

    /// S3 endpoint (path-style addressing is used with a custom endpoint).
    #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// AWS region of the bucket (default: the standard AWS region chain,
    /// AWS_REGION or the profile's; us-east-1 if none).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// Concurrent S3 requests or hashing threads.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub jobs: usize,

    /// Write a JSON run summary to this file.
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
}
