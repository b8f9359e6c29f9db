//! What a fallback spool remembers of each file it holds: when it was
//! spooled and its SHA-256, in `.ship-spool/<key>.json` beside the files (and
//! as the same entry in a fallback ZIP). The drain reads it back to refuse
//! uploading a copy older than the object now at the key, and to check that
//! the spooled bytes are intact. A spool without records (written by an older
//! ship) falls back on each file's modification time.

use crate::fsafe;
use anyhow::{Context, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The directory of records at the top of a spool.
pub const RECORDS: &str = ".ship-spool";

/// One spooled file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub key: String,
    pub bytes: u64,
    /// SHA-256 (hex) of the spooled bytes (ciphertext when encrypted).
    pub sha256: String,
    /// SHA-256 (hex) of the source before encryption (equal otherwise).
    pub source_sha256: String,
    pub spooled_at: DateTime<Utc>,
}

impl Record {
    /// Where the record of `key` lives, relative to the spool.
    pub fn rel(key: &str) -> String {
        format!("{RECORDS}/{key}.json")
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).expect("a record serialises");
        v.push(b'\n');
        v
    }

    /// Write it into a spool directory (atomically, links not followed).
    pub fn save(&self, spool: &Path) -> Result<()> {
        let bytes = self.to_bytes();
        fsafe::write_atomic(spool, &Self::rel(&self.key), |f| {
            use std::io::Write;
            f.write_all(&bytes).context("writing the spool record")
        })
    }

    /// The record of `key` in `spool`, if there is one (read without
    /// following links).
    pub fn load(spool: &Path, key: &str) -> Result<Option<Record>> {
        let f = match fsafe::open_file(spool, &Self::rel(key)) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading the spool record of {key}")),
        };
        let r: Record = serde_json::from_reader(f).map_err(|e| {
            archive_core::Failure::data(format!("{}/{}: {e}", spool.display(), Self::rel(key)))
        })?;
        Ok(Some(r))
    }

    /// Remove the record of `key` once its file is drained.
    pub fn remove(spool: &Path, key: &str) {
        let _ = fsafe::remove_file(spool, &Self::rel(key), None);
    }
}

pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}
