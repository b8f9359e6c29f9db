//! The types every phase shares: the run's validated settings, how fields
//! are named, and the counts the run summary reports. A leaf: it imports
//! nothing of this tool, and no clap type reaches it.

use anyhow::Result;
use archive_core::Failure;
use serde::Serialize;
use std::path::PathBuf;

/// File format of the records files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The seed's wrapped object: `{"date":…,"conversations":[…],"metadata":…}`.
    Json,
    /// One record per line.
    Ndjson,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
}

impl Compression {
    pub fn extension(self) -> &'static str {
        match self {
            Compression::Gzip => ".gz",
            Compression::Zstd => ".zst",
        }
    }
}

/// How numeric times are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    /// Milliseconds when the value is 1e11 or more, else seconds.
    Auto,
    S,
    Ms,
}

/// A dot path into a record, such as `actor.user_id`.
#[derive(Debug, Clone)]
pub struct FieldPath {
    pub segs: Vec<String>,
    pub text: String,
}

impl FieldPath {
    pub fn parse(s: &str) -> Result<FieldPath> {
        let segs: Vec<String> = s.split('.').map(str::to_owned).collect();
        if s.is_empty() || segs.iter().any(String::is_empty) {
            return Err(Failure::usage(format!(
                "field path {s:?}: expected names joined by dots, such as actor.user_id"
            )));
        }
        Ok(FieldPath {
            segs,
            text: s.to_owned(),
        })
    }
}

/// How the user of a record is found.
#[derive(Debug, Clone)]
pub enum UserRule {
    Path(FieldPath),
    /// The OpenAI audit log `actor` object: the session user or the API
    /// key's user (id, else email), else the service account, else the
    /// actor type; a null actor is filed under `unknown-actor`.
    AuditActor,
}

/// Everything a run needs to know, validated.
pub struct Config {
    pub out: PathBuf,
    /// `--out` as given, for the `root` of file lines.
    pub root_label: String,
    pub user: UserRule,
    pub time: FieldPath,
    pub id: FieldPath,
    pub version: Option<FieldPath>,
    pub template: String,
    pub format: Format,
    pub compress: Option<Compression>,
    /// Seed layout: also write `_daily_summaries/…/summary.json`.
    pub daily_summaries: bool,
    /// Names inside the json wrapper: ("conversations", "conversation_count") …
    pub wrapper_names: (&'static str, &'static str),
    pub tz: chrono_tz::Tz,
    /// The memory budget in bytes.
    pub memory: u64,
    pub hash_only: Vec<FieldPath>,
    pub rotate_size: Option<u64>,
    pub strict: bool,
    pub dry_run: bool,
    pub source: String,
    /// The directory that receives the spill directories: `--spill-dir`,
    /// else `--out` (the system temporary directory for a dry run).
    pub spill_base: PathBuf,
    pub max_open_files: usize,
    pub write_threads: usize,
    pub threads: usize,
    pub time_unit: TimeUnit,
    pub input: Option<PathBuf>,
}

/// The counts of a run, as `--summary FILE` and the stderr summary line
/// report them (these names are read by scripts and tests).
#[derive(Debug, Default, Clone, Serialize)]
pub struct Tally {
    pub input: String,
    pub out: String,
    pub lines: u64,
    pub bytes_read: u64,
    pub records: u64,
    pub quarantined: u64,
    pub duplicates_dropped: u64,
    pub groups: u64,
    /// Groups not written (a link in their path, an unreadable existing
    /// file); their records are quarantined.
    pub groups_failed: u64,
    pub files: u64,
    pub files_changed: u64,
    pub files_unchanged: u64,
    pub files_removed: u64,
    /// Files of partition's own (a daily summary, the quarantine) that
    /// could not be written.
    pub files_failed: u64,
    pub bytes_written: u64,
    pub spill_runs: u64,
    pub spilled_bytes: u64,
    /// Temporaries of dead processes removed at the start.
    pub stale_temporaries_removed: u64,
}

impl Tally {
    /// Count one reported file.
    pub fn file(&mut self, changed: bool) {
        self.files += 1;
        if changed {
            self.files_changed += 1;
        } else {
            self.files_unchanged += 1;
        }
    }

    /// Something was not written or kept, so the run is partial.
    pub fn partial(&self) -> bool {
        self.quarantined > 0 || self.groups_failed > 0 || self.files_failed > 0
    }
}
