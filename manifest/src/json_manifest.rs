//! `manifest.json`: the machine-readable companion of `manifest-sha256.txt`,
//! with what the producers knew about each file (table, records, period,
//! S3 key) and the archive's retention and compliance labels.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Version of the archive layout this manifest describes; bumped when the
/// meaning of a field changes.
pub const ARCHIVE_VERSION: u32 = 1;

/// One file of the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative POSIX path from the directory holding the manifest.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<u64>,
    pub bytes: u64,
    pub sha256: String,
    /// Modification time when hashed (RFC 3339 UTC, nanoseconds); what
    /// `--trust-unchanged` compares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime: Option<String>,
    /// Other fields the producer's file line carried (period, date,
    /// user_id, min_time, max_time, schema_version, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub files: u64,
    pub bytes: u64,
    /// Sum of `records` over the files that carry it; null when none do.
    pub records: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
}

/// Digest of the sha256sum manifest this JSON accompanies, so the two are
/// tied together and a signature over the JSON covers the text as well.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SumFileRef {
    pub path: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonManifest {
    pub archive_version: u32,
    pub created_at: String,
    pub tool: ToolInfo,
    pub period: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub schema_version: Option<Value>,
    pub retention_years: Option<u32>,
    pub compliance: Vec<String>,
    pub bagit: bool,
    pub sha256_manifest: SumFileRef,
    pub totals: Totals,
    pub files: Vec<FileEntry>,
}

impl JsonManifest {
    pub fn to_pretty(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("manifest serialises");
        s.push('\n');
        s
    }

    pub fn parse(text: &str, source: &str) -> Result<JsonManifest> {
        serde_json::from_str(text).with_context(|| format!("{source}: not a manifest.json"))
    }

    /// Equal apart from the creation time: a re-run that changed nothing
    /// keeps the previous file.
    pub fn same_content(&self, other: &JsonManifest) -> bool {
        // Field by field rather than clone-and-compare: `files` can hold
        // hundreds of thousands of entries.
        self.archive_version == other.archive_version
            && self.tool == other.tool
            && self.period == other.period
            && self.group_by == other.group_by
            && self.group == other.group
            && self.schema_version == other.schema_version
            && self.retention_years == other.retention_years
            && self.compliance == other.compliance
            && self.bagit == other.bagit
            && self.sha256_manifest == other.sha256_manifest
            && self.totals == other.totals
            && self.files == other.files
    }
}

/// Totals over entries.
pub fn totals(files: &[FileEntry]) -> Totals {
    let records: Vec<u64> = files.iter().filter_map(|f| f.records).collect();
    Totals {
        files: files.len() as u64,
        bytes: files.iter().map(|f| f.bytes).sum(),
        records: if records.is_empty() {
            None
        } else {
            Some(records.iter().sum())
        },
    }
}

/// The value every file agrees on for `schema_version`, if they all carry
/// the same one.
pub fn common_schema_version(files: &[FileEntry]) -> Option<Value> {
    let mut found: Option<&Value> = None;
    for f in files {
        let v = f.extra.get("schema_version")?;
        match found {
            None => found = Some(v),
            Some(prev) if prev == v => {}
            Some(_) => return None,
        }
    }
    found.cloned()
}
