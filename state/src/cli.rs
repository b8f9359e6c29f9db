//! Command-line flags, help texts and examples.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  STATE=s3://acme-archive/chatgpt/_state/logs-AUTH_LOG
  archive-state lease $STATE --owner run-20261201T021500Z --ttl 6h || exit $?   # 75: another run is at work
  archive-state pull $STATE/bookmarks ./work/state/logs-AUTH_LOG
  # ... the pipeline, then `fetch commit --state-dir ./work/state/logs-AUTH_LOG` ...
  archive-state push ./work/state/logs-AUTH_LOG $STATE/bookmarks --lease $STATE --owner run-20261201T021500Z
  archive-state check $STATE || exit $?    # 2: no such bucket, access denied, no credentials
  archive-state put $STATE runs/last.json ./work/runs/last.json
  archive-state release $STATE --owner run-20261201T021500Z
";

#[derive(Parser, Debug)]
#[command(
    name = "archive-state",
    version,
    about = "Leases, bookmarks and run records kept beside the archive (an s3:// prefix or a directory)",
    after_help = EXAMPLES,
    // --help prints after_long_help instead of after_help: the examples go in both.
    after_long_help = format!("{EXAMPLES}\n{}", concat!("Exit codes:
  0    success
  2    usage or configuration error
  3    input data error (a state file that is not what it should be)
  4    remote service error after retries (S3)
  75   another run holds the lease, or committed first: nothing was done
  130  interrupted"))
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub conn: Conn,
}

#[derive(Args, Debug)]
pub struct Conn {
    /// S3-compatible endpoint (also AWS_ENDPOINT_URL).
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// AWS region (else the credential chain's, else us-east-1).
    #[arg(long, global = true)]
    pub region: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Take the job's lease (create it, renew our own, or take over an
    /// expired one); exit 75 when another run holds it.
    Lease(LeaseArgs),
    /// Give the lease back.
    Release(OwnerArgs),
    /// Mirror the state under URL into DIR (the lease excepted) and note
    /// each version, for a later conditional push.
    Pull { url: String, dir: PathBuf },
    /// Push DIR's changes since the pull, only while holding the lease and
    /// only over the versions pulled; exit 75 when another run committed.
    Push(PushArgs),
    /// Store FILE as NAME under URL (a run record).
    Put {
        url: String,
        name: String,
        file: PathBuf,
    },
    /// Print NAME under URL on stdout (exit 1 when there is none).
    Get { url: String, name: String },
    /// Check that URL can hold state before a job does any work: a probe
    /// record is created, read back and deleted, with the conditional
    /// requests a run uses (exit 2 naming the cause when it cannot).
    Check {
        url: String,
        /// Only read (a GET of an absent probe), for dry runs.
        #[arg(long)]
        read_only: bool,
    },
}

#[derive(Args, Debug)]
pub struct LeaseArgs {
    /// The job's state location: s3://bucket/prefix or a directory.
    pub url: String,
    /// This run's id.
    #[arg(long)]
    pub owner: String,
    /// How long the lease lasts unless renewed (s, m, h or d).
    #[arg(long, default_value = "6h")]
    pub ttl: String,
    /// The process the lease stands for (default: the caller, our parent).
    /// A lease of this host whose process is gone is taken over at once.
    #[arg(long)]
    pub pid: Option<u32>,
}

#[derive(Args, Debug)]
pub struct OwnerArgs {
    pub url: String,
    #[arg(long)]
    pub owner: String,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    pub dir: PathBuf,
    pub url: String,
    /// Where the lease is (default: URL itself).
    #[arg(long)]
    pub lease: Option<String>,
    #[arg(long)]
    pub owner: String,
    /// The lease is renewed for this long on push.
    #[arg(long, default_value = "6h")]
    pub ttl: String,
}
