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
    /// The run that wrote it (pending bookmarks), for `fetch commit --run-id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// When the run that wrote it started, if it caught up with everything
    /// the server had then (RFC 3339): a quiet stream's bookmark stays at
    /// its last record, but nothing before this time can still be missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub covered_until: Option<String>,
}

impl Bookmark {
    /// The time the bookmark stands at: `time`, else the logs `cursor`.
    pub fn reached(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.time.and_then(crate::timeparse::from_unix).or_else(|| {
            self.cursor
                .as_deref()
                .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
                .map(|t| t.with_timezone(&chrono::Utc))
        })
    }

    /// How far the data is known complete: the later of [`reached`](Self::reached)
    /// and `covered_until`. Freshness is measured from here.
    pub fn complete_until(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let covered = self
            .covered_until
            .as_deref()
            .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
            .map(|t| t.with_timezone(&chrono::Utc));
        match (self.reached(), covered) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
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
    pub run_id: Option<String>,
}

/// The pending bookmarks of the run that wrote the newest of them; the
/// others are named on stderr and left pending.
fn most_recent_run(root: &Path, all: Vec<(PathBuf, Bookmark)>) -> Vec<(PathBuf, Bookmark)> {
    let run_of = |b: &Bookmark| b.run_id.clone().unwrap_or_default();
    let Some(latest) = all
        .iter()
        .max_by(|a, b| a.1.saved_at.cmp(&b.1.saved_at))
        .map(|(_, b)| run_of(b))
    else {
        return all;
    };
    let (mine, others): (Vec<_>, Vec<_>) = all.into_iter().partition(|(_, b)| run_of(b) == latest);
    let mut left: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (_, b) in &others {
        let run = b.run_id.clone().unwrap_or_else(|| "(no run id)".into());
        left.entry(run).or_default().push(b.stream.clone());
    }
    for (run, streams) in &left {
        eprintln!(
            "fetch: commit: left pending in {}: {} of run {run} (not the most recent run; promote them with --run-id {run})",
            root.display(),
            streams.join(", ")
        );
    }
    mine
}

/// Which pending bookmarks `fetch commit` promotes.
#[derive(Debug, Clone, Default)]
pub struct CommitFilter {
    /// Only these runs' (empty: any).
    pub run_ids: Vec<String>,
    /// Only these streams' (a key, or a name that prefixes keys: `logs`
    /// matches `logs-AUTH_LOG`; empty: any).
    pub streams: Vec<String>,
}

impl CommitFilter {
    fn admits(&self, b: &Bookmark) -> bool {
        let run = b.run_id.as_deref().unwrap_or("");
        let run_ok = self.run_ids.is_empty() || self.run_ids.iter().any(|r| r == run);
        let stream_ok = self.streams.is_empty()
            || self.streams.iter().any(|s| {
                b.stream == *s
                    || b.stream
                        .strip_prefix(s.as_str())
                        .is_some_and(|rest| rest.starts_with('-'))
            });
        run_ok && stream_ok
    }

    fn is_empty(&self) -> bool {
        self.run_ids.is_empty() && self.streams.is_empty()
    }
}

/// Promote the pending bookmarks under `root` that `filter` admits
/// (rename, then fsync the directory). With no filter, only the most
/// recent run's (the run id of the newest pending bookmark): pending
/// bookmarks of other runs stay pending and are named on stderr, so one
/// pipeline never promotes another's. With `dry_run`, only report what
/// would be promoted.
pub fn commit_all(root: &Path, dry_run: bool, filter: &CommitFilter) -> Result<Vec<Promoted>> {
    let mut chosen = Vec::new();
    for pending in pending_files(root)? {
        let b = read_bookmark(&pending)?.unwrap_or_default();
        if filter.admits(&b) {
            chosen.push((pending, b));
        }
    }
    if filter.is_empty() {
        chosen = most_recent_run(root, chosen);
    }
    let mut done = Vec::new();
    for (pending, b) in chosen {
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
            run_id: b.run_id,
        });
    }
    Ok(done)
}

/// The upstream retention of a bookmark key's data (logs-*: 30 days,
/// files: 2 days), as `fetch status` shows it.
pub fn retention_of(key: &str) -> Option<u64> {
    if key.starts_with("logs-") {
        Some(30 * 86_400)
    } else if key == "files" {
        Some(2 * 86_400)
    } else {
        None
    }
}

/// `93784` → `1d 2h 3m`.
pub fn human_secs(secs: i64) -> String {
    let s = secs.max(0);
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    match (d, h) {
        (0, 0) => format!("{m}m {}s", s % 60),
        (0, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h {m}m"),
    }
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
        if let Some(t) = b.complete_until() {
            let lag = (chrono::Utc::now() - t).num_seconds();
            v["lag_s"] = Value::from(lag);
            v["lag"] = Value::from(human_secs(lag));
        }
        let retention = retention_of(&b.stream);
        v["retention_s"] = retention.map_or(Value::Null, Value::from);
        v["retention"] = retention.map_or(Value::Null, |r| Value::from(human_secs(r as i64)));
        if let Some(r) = &b.run_id {
            v["run_id"] = Value::String(r.clone());
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
        let planned = commit_all(root.path(), true, &CommitFilter::default()).unwrap();
        assert_eq!(planned.len(), 1);
        assert_eq!(
            store.committed("conversations").unwrap(),
            None,
            "dry run committed"
        );
        let done = commit_all(root.path(), false, &CommitFilter::default()).unwrap();
        assert_eq!(done[0].status, "committed");
        assert_eq!(store.committed("conversations").unwrap(), Some(b.clone()));
        assert!(
            commit_all(root.path(), false, &CommitFilter::default())
                .unwrap()
                .is_empty(),
            "committed twice"
        );

        // A new run clears the stale pending file of a failed one.
        store.write_pending("conversations", &b).unwrap();
        store.clear_pending("conversations").unwrap();
        assert!(commit_all(root.path(), false, &CommitFilter::default())
            .unwrap()
            .is_empty());
        let st = status_all(root.path()).unwrap();
        assert_eq!(st.len(), 1);
        assert_eq!(st[0]["state"], "committed");
        assert_eq!(st[0]["time"], "2025-10-09T08:53:20.500Z");
    }

    #[test]
    fn commit_promotes_one_runs_bookmarks_only() {
        let root = tempfile::tempdir().unwrap();
        let store = StateStore::new(root.path(), "h", "w");
        let mk = |stream: &str, run: &str| Bookmark {
            stream: stream.into(),
            run_id: Some(run.into()),
            ..Default::default()
        };
        let mut older = mk("conversations", "r0");
        older.saved_at = "2026-01-01T00:00:00Z".into();
        store.write_pending("conversations", &older).unwrap();
        let mut b1 = mk("users", "r1");
        b1.saved_at = "2026-01-02T00:00:00Z".into();
        store.write_pending("users", &b1).unwrap();
        // Plain commit: only the most recent run's.
        let done = commit_all(root.path(), false, &CommitFilter::default()).unwrap();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].stream, "users");
        assert!(store.committed("conversations").unwrap().is_none());
        store
            .write_pending("logs-AUTH_LOG", &mk("logs-AUTH_LOG", "r1"))
            .unwrap();
        store.write_pending("files", &mk("files", "r2")).unwrap();
        let only = CommitFilter {
            streams: vec!["logs".into()],
            ..Default::default()
        };
        let done = commit_all(root.path(), false, &only).unwrap();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].stream, "logs-AUTH_LOG");
        assert!(store.committed("files").unwrap().is_none());
        let r2 = CommitFilter {
            run_ids: vec!["r2".into()],
            ..Default::default()
        };
        assert_eq!(
            commit_all(root.path(), false, &r2).unwrap()[0].stream,
            "files"
        );
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
