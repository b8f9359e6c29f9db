//! Flags → what each subcommand needs. The only module that sees clap.

use crate::cli::{self, Cli, Command};
use crate::model::Keys;
use anyhow::Result;
use archive_core::s3url::S3Url;
use archive_core::Failure;
use archive_s3::ClientOptions;
use std::path::PathBuf;

pub enum Config {
    Get(GetConfig),
    BatchManifest(BatchManifestConfig),
    BatchReport(BatchReportConfig),
    Query(QueryConfig),
    Prune(PruneConfig),
}

pub struct S3Config {
    pub client: ClientOptions,
    pub summary: Option<PathBuf>,
}

pub struct GetConfig {
    /// The archive prefix; for a directory source, an empty one.
    pub source: S3Url,
    /// Set when the source is a local directory.
    pub local: Option<PathBuf>,
    pub dir: PathBuf,
    pub only: Option<String>,
    pub missing_ok: bool,
    pub root_manifest: bool,
    /// `Standard`, `Bulk` or `Expedited`, as S3 spells them.
    pub tier: &'static str,
    pub days: i32,
    pub jobs: usize,
    pub keys: Keys,
    pub dry_run: bool,
    pub s3: S3Config,
}

pub struct BatchManifestConfig {
    pub source: S3Url,
    pub out: Option<PathBuf>,
    pub s3: S3Config,
}

pub struct BatchReportConfig {
    pub reports: Vec<PathBuf>,
    pub source: S3Url,
    pub s3: S3Config,
}

pub struct QueryConfig {
    /// A local directory, or an s3:// URL as text.
    pub root: String,
    pub hive: bool,
    pub view: String,
    pub athena_table: Option<String>,
    pub user_key: String,
    pub date_key: String,
    pub since: String,
}

pub struct PruneConfig {
    pub dir: PathBuf,
    pub dest: S3Url,
    pub retention_days: u32,
    pub dry_run: bool,
    pub s3: S3Config,
}

fn s3_url(flag: &str, s: &str) -> Result<S3Url> {
    S3Url::parse(s).map_err(|e| Failure::usage(format!("{flag}: {e}")))
}

/// A SOURCE that is not s3:// is a directory holding an archive. One
/// that does not exist is an error, unless `--missing-ok` (a destination
/// nothing was written to yet).
fn local_source(s: &str, missing_ok: bool) -> Result<Option<PathBuf>> {
    if S3Url::is_s3(s) {
        return Ok(None);
    }
    let p = PathBuf::from(s);
    match std::fs::metadata(&p) {
        Ok(m) if m.is_dir() => Ok(Some(p)),
        Ok(_) => Err(Failure::usage(format!(
            "SOURCE {s}: not a directory (expected s3://bucket/prefix or a directory)"
        ))),
        Err(_) if missing_ok => Ok(Some(p)),
        Err(e) => Err(Failure::usage(format!(
            "SOURCE {s}: {e} (expected s3://bucket/prefix or a directory)"
        ))),
    }
}

fn s3_config(f: cli::S3Flags) -> S3Config {
    S3Config {
        client: ClientOptions {
            endpoint: f.endpoint_url.filter(|e| !e.is_empty()),
            region: f.region,
            ..ClientOptions::default()
        },
        summary: f.summary,
    }
}

fn key_name(flag: &str, s: &str) -> Result<String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(Failure::usage(format!(
            "{flag} {s:?}: a Hive key is letters, digits and _"
        )));
    }
    Ok(s.to_string())
}

impl Config {
    pub fn from_cli(cli: Cli) -> Result<Config> {
        Ok(match cli.command {
            Command::Get(a) => Config::Get(GetConfig {
                source: if S3Url::is_s3(&a.source) {
                    s3_url("SOURCE", &a.source)?
                } else {
                    S3Url {
                        bucket: String::new(),
                        prefix: String::new(),
                    }
                },
                local: local_source(&a.source, a.missing_ok)?,
                dir: a.dir,
                only: a.files,
                missing_ok: a.missing_ok,
                root_manifest: a.manifest_at_root,
                tier: match a.tier {
                    cli::Tier::Standard => "Standard",
                    cli::Tier::Bulk => "Bulk",
                    cli::Tier::Expedited => "Expedited",
                },
                days: a.days,
                jobs: a.jobs as usize,
                keys: Keys {
                    identity: a.identity,
                    public_key: a.public_key,
                },
                dry_run: a.dry_run,
                s3: s3_config(a.s3),
            }),
            Command::BatchManifest(a) => Config::BatchManifest(BatchManifestConfig {
                source: s3_url("SOURCE", &a.source)?,
                out: a.out,
                s3: s3_config(a.s3),
            }),
            Command::BatchReport(a) => Config::BatchReport(BatchReportConfig {
                reports: a.reports,
                source: s3_url("--source", &a.source)?,
                s3: s3_config(a.s3),
            }),
            Command::Query(a) => {
                if a.athena_table.is_some() && !S3Url::is_s3(&a.root) {
                    return Err(Failure::usage(
                        "--athena-table needs an s3:// root (Athena reads S3 only)",
                    ));
                }
                if let Some(t) = &a.athena_table {
                    key_name("--athena-table", &t.replace('.', "_"))?;
                }
                if S3Url::is_s3(&a.root) {
                    s3_url("ROOT", &a.root)?;
                }
                Config::Query(QueryConfig {
                    root: a.root,
                    hive: a.layout == cli::Layout::Hive,
                    view: key_name("--view", &a.view)?,
                    athena_table: a.athena_table,
                    user_key: key_name("--user-key", &a.user_key)?,
                    date_key: key_name("--date-key", &a.date_key)?,
                    since: a.since,
                })
            }
            Command::Prune(a) => Config::Prune(PruneConfig {
                dir: a.dir,
                dest: s3_url("--dest", &a.dest)?,
                retention_days: a.retention_days,
                dry_run: a.dry_run,
                s3: s3_config(a.s3),
            }),
        })
    }
}
