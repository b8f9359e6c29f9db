//! `restore prune`: local retention. A file of the local archive older
//! than `--retention-days` goes only when the destination vouches for it:
//! its manifest lists the file with the same SHA-256, the object is there,
//! and what S3 stored for it (ship's `x-amz-meta-sha256` or the whole-object
//! checksum) agrees. Nothing under a legal hold or a retain-until still in
//! the future is removed, and symlinks are never followed or removed.

use crate::catalog::parse_sums;
use crate::config::PruneConfig;
use crate::model::{is_manifest_name, Head, SUM_MANIFEST};
use crate::remote::Remote;
use crate::report::Report;
use anyhow::{Context, Result};
use archive_core::s3url::S3Url;
use archive_core::Outcome;
use archive_s3::checksum::Stored;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A local file old enough to go.
pub struct Candidate {
    pub rel: String,
    pub path: PathBuf,
    pub bytes: u64,
}

/// Regular files under `dir` last modified before `cutoff` (manifests and
/// temporaries excluded), and how many younger ones were left alone.
pub fn candidates(dir: &Path, retention_days: u32) -> Result<(Vec<Candidate>, u64)> {
    let cutoff = SystemTime::now() - Duration::from_secs(u64::from(retention_days) * 86_400);
    let mut out = Vec::new();
    let mut young = 0;
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, rel)) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            let child = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let ft = e.file_type()?;
            if ft.is_dir() {
                stack.push((e.path(), child));
            } else if ft.is_file()
                && !is_manifest_name(&name)
                && !archive_core::atomic::is_temp_name(&name)
            {
                let meta = e.metadata()?;
                if meta.modified()? < cutoff {
                    out.push(Candidate {
                        rel: child,
                        path: e.path(),
                        bytes: meta.len(),
                    });
                } else {
                    young += 1;
                }
            }
        }
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok((out, young))
}

/// The destination's manifests: rel path (below the prefix) → SHA-256.
pub async fn destination_sums(remote: &Remote, dest: &S3Url) -> Result<BTreeMap<String, String>> {
    let mut sums = BTreeMap::new();
    for l in remote
        .list(&dest.list_prefix())
        .await
        .map_err(|e| e.into_error())?
    {
        let (dir_key, name) = l.key.rsplit_once('/').unwrap_or(("", &l.key));
        if name != SUM_MANIFEST {
            continue;
        }
        let dir_rel = if dir_key == dest.prefix {
            ""
        } else {
            dest.relative(dir_key).unwrap_or(dir_key)
        };
        let text = remote.get_bytes(&l.key).await.map_err(|e| e.into_error())?;
        for (sha, path) in parse_sums(&text, &l.key)? {
            sums.insert(archive_core::s3url::join_key(dir_rel, &path), sha);
        }
    }
    Ok(sums)
}

/// Why a candidate stays, or None when it may go.
pub fn keep_reason(
    local_sha: &str,
    manifest_sha: Option<&String>,
    head: Option<&Head>,
    now: i64,
) -> Option<String> {
    let Some(m) = manifest_sha else {
        return Some("not_in_destination_manifest".into());
    };
    if m != local_sha {
        return Some("differs_from_destination_manifest".into());
    }
    let Some(h) = head else {
        return Some("not_stored".into());
    };
    if h.legal_hold {
        return Some("legal_hold".into());
    }
    if let Some(until) = &h.retain_until {
        let future = chrono::DateTime::parse_from_rfc3339(until)
            .map(|t| t.timestamp() > now)
            .unwrap_or(true);
        if future {
            return Some(format!("retained_until {until}"));
        }
    }
    let stored_ok = h.meta_sha256.as_deref() == Some(local_sha)
        || h.meta_source_sha256.as_deref() == Some(local_sha)
        || h.checksum_sha256
            .as_deref()
            .and_then(|c| Stored::interpret(c, h.etag.as_deref()))
            .and_then(|s| s.matches(Some(local_sha), None))
            == Some(true);
    if !stored_ok {
        return Some("unverified".into());
    }
    None
}

/// The object key of a local file: as is, or with `.age`.
pub async fn find_object(remote: &Remote, dest: &S3Url, rel: &str) -> Result<Option<Head>> {
    for key in [dest.key(rel), format!("{}.age", dest.key(rel))] {
        if let Some(h) = remote.head(&key).await.map_err(|e| e.into_error())? {
            return Ok(Some(h));
        }
    }
    Ok(None)
}

/// Remove one file and the directories it leaves empty (up to `dir`).
pub fn remove(dir: &Path, c: &Candidate) -> Result<()> {
    // Re-check just before: a file replaced by a link since the walk stays.
    let m = std::fs::symlink_metadata(&c.path)?;
    anyhow::ensure!(
        m.is_file(),
        "{} is no longer a regular file",
        c.path.display()
    );
    std::fs::remove_file(&c.path).with_context(|| format!("removing {}", c.path.display()))?;
    let mut at = c.path.parent();
    while let Some(d) = at {
        if d == dir || std::fs::remove_dir(d).is_err() {
            break;
        }
        at = d.parent();
    }
    Ok(())
}

/// The line printed for a candidate.
pub fn line(dir: &Path, c: &Candidate, sha: &str, status: &str, reason: Option<&str>) -> Value {
    let mut v = json!({
        "root": dir.display().to_string(),
        "path": c.rel,
        "bytes": c.bytes,
        "sha256": sha,
        "status": status,
    });
    if let Some(r) = reason {
        v["reason"] = json!(r);
    }
    v
}

pub async fn run(c: PruneConfig) -> Result<Outcome> {
    let mut report = Report::start("restore prune", c.dry_run);
    let result = async {
        let (old, young) = candidates(&c.dir, c.retention_days)?;
        let remote = Remote::connect(&c.dest, &c.s3.client).await?;
        let sums = destination_sums(&remote, &c.dest).await?;
        let now = chrono::Utc::now().timestamp();
        for cand in &old {
            let sha = archive_core::hash::sha256_file(&cand.path)?.1;
            let head = find_object(&remote, &c.dest, &cand.rel).await?;
            let line = match keep_reason(&sha, sums.get(&cand.rel), head.as_ref(), now) {
                Some(why) => line(&c.dir, cand, &sha, "kept", Some(&why)),
                None if c.dry_run => line(&c.dir, cand, &sha, "planned", None),
                None => {
                    remove(&c.dir, cand)?;
                    line(&c.dir, cand, &sha, "pruned", None)
                }
            };
            report.line(&line)?;
        }
        report.set("young", young);
        Ok(Outcome::Complete)
    }
    .await;
    report.finish(result, c.s3.summary.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_to_keep() {
        let sha = "ab".repeat(32);
        let head = Head {
            meta_sha256: Some(sha.clone()),
            ..Head::default()
        };
        assert_eq!(keep_reason(&sha, Some(&sha), Some(&head), 0), None);
        assert_eq!(
            keep_reason(&sha, None, Some(&head), 0).unwrap(),
            "not_in_destination_manifest"
        );
        assert_eq!(
            keep_reason(&sha, Some(&sha), None, 0).unwrap(),
            "not_stored"
        );
        let held = Head {
            legal_hold: true,
            ..head.clone()
        };
        assert_eq!(
            keep_reason(&sha, Some(&sha), Some(&held), 0).unwrap(),
            "legal_hold"
        );
        let locked = Head {
            retain_until: Some("2099-01-01T00:00:00Z".into()),
            ..head.clone()
        };
        assert!(keep_reason(&sha, Some(&sha), Some(&locked), 0)
            .unwrap()
            .starts_with("retained_until"));
        let bare = Head::default();
        assert_eq!(
            keep_reason(&sha, Some(&sha), Some(&bare), 0).unwrap(),
            "unverified"
        );
    }
}
