//! Downloaded files get back the modification time their `manifest.json`
//! recorded. A restored tree then looks like the one that was archived,
//! and a job that merges with its destination from an empty work
//! directory writes the same manifests as one that kept its files, since
//! `manifest.json` records each file's mtime.

use crate::model::{Wanted, JSON_MANIFEST};
use anyhow::Result;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::SystemTime;

#[derive(Deserialize)]
struct JsonManifest {
    #[serde(default)]
    files: Vec<JsonEntry>,
}

#[derive(Deserialize)]
struct JsonEntry {
    path: String,
    #[serde(default)]
    mtime: Option<String>,
}

/// For every plain `manifest.json` now in `dir`, set the mtime of the files
/// it lists that this run downloaded. A manifest that cannot be read, or an
/// entry without a time, is left alone: the files are verified either way.
pub fn restore_mtimes(dir: &Path, wanted: &[Wanted], downloaded: &BTreeSet<String>) -> Result<()> {
    if downloaded.is_empty() {
        return Ok(());
    }
    for m in wanted
        .iter()
        .filter(|w| w.manifest.is_none() && w.rel.rsplit('/').next() == Some(JSON_MANIFEST))
    {
        let Ok(text) = std::fs::read(dir.join(&m.rel)) else {
            continue;
        };
        let Ok(parsed) = serde_json::from_slice::<JsonManifest>(&text) else {
            continue;
        };
        let base = m.rel.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        for e in parsed.files {
            let rel = archive_core::s3url::join_key(base, &e.path);
            let (true, Some(t)) = (
                downloaded.contains(&rel),
                e.mtime.as_deref().and_then(parse_time),
            ) else {
                continue;
            };
            if let Ok(f) = std::fs::File::options().write(true).open(dir.join(&rel)) {
                let _ = f.set_modified(t);
            }
        }
    }
    Ok(())
}

fn parse_time(s: &str) -> Option<SystemTime> {
    let t = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    let nanos = u64::try_from(t.timestamp_nanos_opt()?).ok()?;
    Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(nanos))
}
