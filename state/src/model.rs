//! Types the phases share. A leaf.

use serde::{Deserialize, Serialize};

/// The lease a run holds on a job's state while it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub owner: String,
    /// RFC 3339.
    pub acquired: String,
    /// RFC 3339; after this anyone may take the lease over.
    pub expires: String,
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub pid: u32,
}

impl Lease {
    pub fn expired(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        chrono::DateTime::parse_from_rfc3339(&self.expires)
            .map(|e| e.with_timezone(&chrono::Utc) <= now)
            .unwrap_or(true)
    }
}

/// The object (or file) name of the lease under a state URL.
pub const LEASE: &str = "lease.json";

/// Where `pull` records what it saw, so `push` can write conditionally.
pub const SEEN: &str = ".archive-state.json";

/// A stored object's version token: the S3 ETag, or for a local
/// directory the SHA-256 of the file's bytes.
pub type Tag = String;

/// What a conditional write found.
#[derive(Debug, PartialEq, Eq)]
pub enum Written {
    Done(Tag),
    /// The object exists (create) or changed since it was read (replace).
    Conflict,
}
