//! The lines the tools exchange (see ARCHITECTURE.md): file lines and object
//! lines. Records are passed as raw JSON and need no type here.
//!
//! Every tool passes through fields it does not know, so both types keep
//! the unknown fields in `extra` and write them back out unchanged.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::path::{Component, Path, PathBuf};

/// One file on disk: `{"root", "path", "bytes", "sha256", ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileLine {
    /// Directory the path is relative to.
    pub root: String,
    /// Relative POSIX path under `root`; never absolute, never `..`.
    pub path: String,
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the file's bytes.
    pub sha256: String,
    /// Everything else (`records`, `min_time`, `table`, `period`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl FileLine {
    /// Parse one line of input, naming the source and line number on error.
    pub fn parse(line: &str, source: &str, line_no: u64) -> Result<FileLine> {
        let fl: FileLine = serde_json::from_str(line)
            .with_context(|| format!("{source}:{line_no}: not a file line"))
            .map_err(|e| crate::Failure::data(format!("{e:#}")))?;
        check_relative(&fl.path)
            .map_err(|e| crate::Failure::data(format!("{source}:{line_no}: {e:#}")))?;
        Ok(fl)
    }

    /// The file's location on this machine: `root/path`.
    pub fn local_path(&self) -> PathBuf {
        Path::new(&self.root).join(&self.path)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a FileLine always serialises")
    }
}

/// What the destination answered for one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectStatus {
    Uploaded,
    /// The key holds these very bytes already.
    Skipped,
    Fallback,
    Failed,
    Planned,
    /// Other content under a key that may not be replaced (no-clobber,
    /// Object Lock): not stored, exit 1. Never reported as skipped.
    Conflict,
    /// A spooled copy older than the object now at its key: kept, not
    /// uploaded over it.
    Stale,
}

/// A file line plus what the destination answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectLine {
    #[serde(flatten)]
    pub file: FileLine,
    pub url: String,
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum_sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    pub status: ObjectStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Refuse paths that are absolute, empty, contain `..`, `.` or backslashes:
/// a file line's path must stay under its root on every platform.
pub fn check_relative(path: &str) -> Result<()> {
    if path.is_empty() {
        bail!("path is empty");
    }
    if path.starts_with('/') || path.contains('\\') || path.contains('\0') {
        bail!("path {path:?} must be relative and POSIX");
    }
    for comp in Path::new(path).components() {
        match comp {
            Component::Normal(_) => {}
            _ => bail!("path {path:?} must not contain '.', '..' or a root"),
        }
    }
    if path
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        bail!("path {path:?} has an empty, '.' or '..' segment");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_pass_through() {
        let line = r#"{"root":"/a","path":"u/2025/07/02/c.json","bytes":3,"sha256":"ab","records":7,"user_id":"u"}"#;
        let fl = FileLine::parse(line, "stdin", 1).unwrap();
        assert_eq!(fl.extra["records"], 7);
        let back: Value = serde_json::from_str(&fl.to_json()).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(line).unwrap());
    }

    #[test]
    fn escaping_paths_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a\\b",
        ] {
            assert!(check_relative(bad).is_err(), "{bad:?} accepted");
        }
        assert!(check_relative("a/b.c/d-e_f").is_ok());
        let err = FileLine::parse(
            r#"{"root":"/","path":"../x","bytes":1,"sha256":""}"#,
            "in.ndjson",
            4,
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("in.ndjson:4"));
        assert_eq!(crate::exit::exit_code(&err), 3);
    }
}
