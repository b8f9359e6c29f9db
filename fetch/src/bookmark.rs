//! Bookmarks: how far a stream got, kept in the state directory.
//!
//! A run never moves the bookmark the next run starts from. It writes the
//! bookmark it reached to `<key>.pending.json`; `fetch commit` promotes every
//! pending file to `<key>.json` once the rest of the pipeline has made the
//! records durable. A run that fails writes no pending file (and removes a
//! stale one at its start), so a crash anywhere leaves the committed
//! bookmark where it was and the next run fetches the window again.

use anyhow::{Context, Result};
use archive_core::naming::sanitize_segment;
use archive_core::Failure;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How far a stream got.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Bookmark {
    pub stream: String,
    /// Newest data time reached, Unix seconds (conversations: the largest
    /// `last_active_at`; audit logs: the largest `effective_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<f64>,
    /// Logs: the `last_end_time` cursor reached (never past `max_event_time`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Records at the boundary (id → version) that the next run's overlap
    /// will see again and must drop as duplicates.
    #[serde(default)]
    pub boundary: BTreeMap<String, Value>,
    /// Logs: event ids of the last files written. Delivery is at least
    /// once and a repeated event comes in a later file, possibly in the
    /// next run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_events: Vec<String>,
    /// A sweep that `--max-pages` cut short, to be continued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<Sweep>,
    /// When this bookmark was written (RFC 3339).
    #[serde(default)]
    pub saved_at: String,
}

impl Bookmark {
    /// The bookmark of a run that `--max-pages` cut short: the committed
    /// time and boundary stay as they were, and the sweep continues next run.
    pub fn continuing(stream: &str, committed: &Bookmark, sweep: Sweep) -> Bookmark {
        Bookmark {
            stream: stream.to_string(),
            time: committed.time,
            boundary: committed.boundary.clone(),
            sweep: Some(sweep),
            ..Default::default()
        }
    }
}

/// Where an unfinished sweep stopped and what it had seen so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    /// The cursor to continue from (`after=`).
    pub after: String,
    /// Which request group (`--users` chunk) it was in.
    #[serde(default)]
    pub chunk: usize,
    /// The lower time bound the sweep started with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<f64>,
    /// The newest data time seen so far in the sweep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_time: Option<f64>,
}

/// The bookmarks of one API scope (base URL host + workspace) in a state dir.
#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
}

impl StateStore {
    pub fn new(root: &Path, host: &str, scope: &str) -> StateStore {
        StateStore {
            dir: root
                .join(sanitize_segment(host))
                .join(sanitize_segment(scope)),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn committed_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{}.json", sanitize_segment(key)))
    }

    fn pending_path(&self, key: &str) -> PathBuf {
        self.dir
            .join(format!("{}.pending.json", sanitize_segment(key)))
    }

    /// The committed bookmark of `key`, if any.
    pub fn committed(&self, key: &str) -> Result<Option<Bookmark>> {
        read_bookmark(&self.committed_path(key))
    }

    /// A pending bookmark belongs to a run whose pipeline never confirmed
    /// it; a new run of the same stream supersedes it.
    pub fn clear_pending(&self, key: &str) -> Result<()> {
        let p = self.pending_path(key);
        match std::fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("removing {}", p.display())),
        }
    }

    /// Write the bookmark this run reached, for `fetch commit` to promote.
    pub fn write_pending(&self, key: &str, b: &Bookmark) -> Result<PathBuf> {
        let p = self.pending_path(key);
        let mut text = serde_json::to_vec_pretty(b)?;
        text.push(b'\n');
        archive_core::atomic::write_file(&p, &text)?;
        Ok(p)
    }
}

fn read_bookmark(p: &Path) -> Result<Option<Bookmark>> {
    match std::fs::read(p) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Failure::usage(format!(
                "{}: not a bookmark ({e}); move it away or run with --no-resume",
                p.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
    }
}

/// Every `*.pending.json` under `root`, sorted.
fn pending_files(root: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    walk(root, &mut |p| {
        if p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".pending.json"))
        {
            out.push(p.to_path_buf());
        }
    })?;
    out.sort();
    Ok(out)
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) -> Result<()> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    for entry in rd {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let p = entry.path();
        if entry.file_type()?.is_dir() {
            walk(&p, f)?;
        } else {
            f(&p);
        }
    }
    Ok(())
}

/// One promoted bookmark, as `fetch commit` reports it.
#[derive(Debug, Serialize)]
pub struct Promoted {
    pub stream: String,
    pub committed: String,
    pub status: &'static str,
}

/// Promote every pending bookmark under `root` (rename, then fsync the
/// directory). With `dry_run`, only report what would be promoted.
pub fn commit_all(root: &Path, dry_run: bool) -> Result<Vec<Promoted>> {
    let mut done = Vec::new();
    for pending in pending_files(root)? {
        let b = read_bookmark(&pending)?.unwrap_or_default();
        let name = pending.file_name().unwrap().to_string_lossy();
        let dest = pending.with_file_name(name.replace(".pending.json", ".json"));
        if !dry_run {
            std::fs::rename(&pending, &dest)
                .with_context(|| format!("renaming {} to {}", pending.display(), dest.display()))?;
            archive_core::atomic::sync_dir(dest.parent().unwrap())?;
        }
        done.push(Promoted {
            stream: b.stream,
            committed: dest.display().to_string(),
            status: if dry_run { "planned" } else { "committed" },
        });
    }
    Ok(done)
}

/// Every bookmark under `root`, committed and pending, as status lines.
pub fn status_all(root: &Path) -> Result<Vec<Value>> {
    let mut files = Vec::new();
    walk(root, &mut |p| {
        if p.extension().is_some_and(|e| e == "json") {
            files.push(p.to_path_buf());
        }
    })?;
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let Some(b) = read_bookmark(&f)? else {
            continue;
        };
        let pending = f.to_string_lossy().ends_with(".pending.json");
        let mut v = serde_json::json!({
            "file": f.display().to_string(),
            "state": if pending { "pending" } else { "committed" },
            "stream": b.stream,
            "saved_at": b.saved_at,
            "boundary_ids": b.boundary.len(),
            "in_progress": b.sweep.is_some(),
        });
        if let Some(t) = b.time.and_then(crate::timeparse::from_unix) {
            v["time"] = Value::String(crate::timeparse::rfc3339(t));
        }
        if let Some(c) = b.cursor {
            v["cursor"] = Value::String(c);
        }
        out.push(v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_is_promoted_only_by_commit() {
        let root = tempfile::tempdir().unwrap();
        let store = StateStore::new(root.path(), "api.chatgpt.com", "ws-1");
        assert_eq!(store.committed("conversations").unwrap(), None);
        let b = Bookmark {
            stream: "conversations".into(),
            time: Some(1760000000.5),
            boundary: [("c1".to_string(), Value::from(1760000000.5))].into(),
            saved_at: "2026-11-23T00:00:00Z".into(),
            ..Default::default()
        };
        store.write_pending("conversations", &b).unwrap();
        assert_eq!(
            store.committed("conversations").unwrap(),
            None,
            "pending read as committed"
        );
        let planned = commit_all(root.path(), true).unwrap();
        assert_eq!(planned.len(), 1);
        assert_eq!(
            store.committed("conversations").unwrap(),
            None,
            "dry run committed"
        );
        let done = commit_all(root.path(), false).unwrap();
        assert_eq!(done[0].status, "committed");
        assert_eq!(store.committed("conversations").unwrap(), Some(b.clone()));
        assert!(
            commit_all(root.path(), false).unwrap().is_empty(),
            "committed twice"
        );

        // A new run clears the stale pending file of a failed one.
        store.write_pending("conversations", &b).unwrap();
        store.clear_pending("conversations").unwrap();
        assert!(commit_all(root.path(), false).unwrap().is_empty());
        let st = status_all(root.path()).unwrap();
        assert_eq!(st.len(), 1);
        assert_eq!(st[0]["state"], "committed");
        assert_eq!(st[0]["time"], "2025-10-09T08:53:20.500Z");
    }

    #[test]
    fn corrupt_bookmark_is_a_usage_error_naming_the_file() {
        let root = tempfile::tempdir().unwrap();
        let store = StateStore::new(root.path(), "h", "w");
        std::fs::create_dir_all(store.dir()).unwrap();
        std::fs::write(store.dir().join("users.json"), b"{nope").unwrap();
        let e = store.committed("users").unwrap_err();
        assert_eq!(archive_core::exit::exit_code(&e), 2);
        assert!(format!("{e:#}").contains("users.json"));
    }
}
