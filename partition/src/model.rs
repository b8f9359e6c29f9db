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
    /// No user field: every record is filed under this name (layouts
    /// without `{user}`, such as ai-audit's daily files).
    Fixed(&'static str),
}

/// The `metadata` object of seed-format files: the run's timestamp under
/// `timestamp_key`, then `pairs` in order.
#[derive(Debug, Clone)]
pub struct Metadata {
    pub timestamp_key: String,
    pub pairs: Vec<(String, String)>,
}

/// How records are rewritten before they are filed (the one place their
/// bytes change).
#[derive(Clone, Default)]
pub struct Rewrite {
    /// `--hash-only`: fields replaced by the SHA-256 hex of their content.
    pub hash_only: Vec<FieldPath>,
    /// ai-audit: `input`/`output` become `input_hash`/`output_hash`.
    pub ai_audit: bool,
    /// ai-audit `--encrypt-field`: fields replaced by an armored age
    /// ciphertext of their JSON text.
    pub encrypt: Vec<FieldPath>,
    pub recipients: Vec<age::x25519::Recipient>,
    /// `encryption_key_id`: a short fingerprint of the recipients.
    pub key_id: String,
}

impl Rewrite {
    pub fn is_empty(&self) -> bool {
        self.hash_only.is_empty() && !self.ai_audit && self.encrypt.is_empty()
    }
}

/// Everything a run needs to know, validated.
pub struct Config {
    pub out: PathBuf,
    /// `--out` as given, for the `root` of file lines.
    pub root_label: String,
    pub user: UserRule,
    pub time: FieldPath,
    /// Read when the time field is missing or null.
    pub time_fallback: Option<FieldPath>,
    pub id: FieldPath,
    pub version: Option<FieldPath>,
    pub template: String,
    pub format: Format,
    pub compress: Option<Compression>,
    /// log-conversations: events are assembled into conversation objects.
    pub assemble: bool,
    /// Of two copies of a record, keep the first to arrive (ai-audit: an
    /// entry is immutable, and its ciphertext differs on every run).
    pub keep_first: bool,
    /// Rotation names the first part without a number
    /// (`audit_20260128.jsonl`, then `_001`, `_002`, …).
    pub first_part_bare: bool,
    /// Seed layout: also write `_daily_summaries/…/summary.json`.
    pub daily_summaries: bool,
    /// Names inside the json wrapper: ("conversations", "conversation_count") …
    pub wrapper_names: (&'static str, &'static str),
    pub tz: chrono_tz::Tz,
    /// The memory budget in bytes.
    pub memory: u64,
    pub rewrite: Rewrite,
    pub rotate_size: Option<u64>,
    pub strict: bool,
    pub dry_run: bool,
    pub metadata: Metadata,
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
