//! Lines that cannot be archived (not JSON, no user, no time) are kept, not
//! dropped: each goes to `DIR/_quarantine/quarantine-<hash>.ndjson` with its
//! line number and the reason. The name is derived from the content, so a
//! re-run with the same bad lines leaves the same file, unchanged.

use crate::commit::Committer;
use anyhow::{Context, Result};
use base64::Engine;
use serde::de::IgnoredAny;
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::PathBuf;

pub struct Quarantine {
    source: String,
    root: PathBuf,
    dry_run: bool,
    file: Option<(PathBuf, BufWriter<File>)>,
    hasher: Sha256,
    bytes: u64,
    pub count: u64,
}

/// The quarantine file of a run, once finished.
pub struct QuarantineFile {
    pub rel: String,
    pub bytes: u64,
    pub sha256: String,
    pub records: u64,
    pub changed: bool,
}

impl Quarantine {
    pub fn new(root: PathBuf, source: String, dry_run: bool) -> Quarantine {
        Quarantine {
            source,
            root,
            dry_run,
            file: None,
            hasher: Sha256::new(),
            bytes: 0,
            count: 0,
        }
    }

    /// Keep one bad line with its number and the reason.
    pub fn add(&mut self, line_no: u64, reason: &str, raw: &[u8]) -> Result<()> {
        let mut entry = format!(
            "{{\"source\":{},\"line\":{line_no},\"reason\":{},",
            serde_json::to_string(&self.source)?,
            serde_json::to_string(reason)?
        );
        if serde_json::from_slice::<IgnoredAny>(raw).is_ok() {
            entry.push_str("\"record\":");
            entry.push_str(std::str::from_utf8(raw.trim_ascii()).unwrap_or("null"));
        } else if let Ok(text) = std::str::from_utf8(raw) {
            entry.push_str("\"text\":");
            entry.push_str(&serde_json::to_string(text)?);
        } else {
            entry.push_str("\"base64\":");
            let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
            entry.push_str(&serde_json::to_string(&b64)?);
        }
        entry.push_str("}\n");
        eprintln!(
            "partition: {}:{line_no}: quarantined: {reason}",
            self.source
        );
        self.hasher.update(entry.as_bytes());
        self.bytes += entry.len() as u64;
        self.count += 1;
        if self.dry_run {
            return Ok(());
        }
        if self.file.is_none() {
            let dir = self.root.join("_quarantine");
            fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let tmp = dir.join(format!(".quarantine.tmp-{}-q", std::process::id()));
            let f = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
            self.file = Some((tmp, BufWriter::new(f)));
        }
        let (tmp, w) = self.file.as_mut().unwrap();
        w.write_all(entry.as_bytes())
            .with_context(|| format!("writing {}", tmp.display()))
    }

    /// Hand the file to the committer (renamed with the last batch).
    pub fn finish(mut self, committer: &mut Committer) -> Result<Option<QuarantineFile>> {
        if self.count == 0 {
            return Ok(None);
        }
        let sha256 = hex::encode(std::mem::take(&mut self.hasher).finalize());
        let rel = format!("_quarantine/quarantine-{}.ndjson", &sha256[..16]);
        let dest = self.root.join(&rel);
        let changed = !dest.exists();
        if let Some((tmp, mut w)) = self.file.take() {
            w.flush()
                .with_context(|| format!("writing {}", tmp.display()))?;
            drop(w);
            if changed {
                committer.adopt(tmp, dest);
            } else {
                let _ = fs::remove_file(&tmp);
            }
        }
        Ok(Some(QuarantineFile {
            rel,
            bytes: self.bytes,
            sha256,
            records: self.count,
            changed,
        }))
    }
}

impl Drop for Quarantine {
    fn drop(&mut self) {
        if let Some((tmp, _)) = self.file.take() {
            let _ = fs::remove_file(tmp);
        }
    }
}
