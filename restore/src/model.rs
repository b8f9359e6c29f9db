//! Types the phases share. A leaf: imports nothing of this crate.

use serde::Serialize;
use std::path::PathBuf;

/// One file the archive promises: where its manifest puts it and what its
/// content must hash to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// Path below the source prefix (and below the local directory).
    pub rel: String,
    /// The object key (with `.age` when the archive is encrypted).
    pub key: String,
    /// The plaintext SHA-256 from the manifest; None when the manifest
    /// could not be read (encrypted without an identity) or the object is
    /// a manifest itself.
    pub sha256: Option<String>,
    /// The manifest that vouches for it (its key), if any.
    pub manifest: Option<String>,
    pub encrypted: bool,
}

/// What a HEAD said about an object.
#[derive(Debug, Clone, Default)]
pub struct Head {
    pub bytes: u64,
    pub etag: Option<String>,
    pub version_id: Option<String>,
    pub storage_class: String,
    /// `x-amz-checksum-sha256` as stored.
    pub checksum_sha256: Option<String>,
    /// `x-amz-meta-sha256`: the SHA-256 of the stored bytes, as ship wrote it.
    pub meta_sha256: Option<String>,
    /// `x-amz-meta-source-sha256`: the plaintext's, for encrypted objects.
    pub meta_source_sha256: Option<String>,
    pub restore: RestoreState,
    pub legal_hold: bool,
    /// Object Lock retain-until, RFC 3339.
    pub retain_until: Option<String>,
}

/// Where a cold object is in its restore.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RestoreState {
    /// An instant class (STANDARD, STANDARD_IA, GLACIER_IR, …): readable.
    #[default]
    Instant,
    /// Cold and no restore asked for.
    Archived,
    /// Cold, restore in progress.
    InProgress,
    /// Cold, a restored copy is readable until this date.
    Restored { expiry: Option<String> },
}

/// Storage classes whose objects need a restore before a GET.
pub fn is_cold(storage_class: &str) -> bool {
    matches!(storage_class, "GLACIER" | "DEEP_ARCHIVE")
}

/// How one requested file ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GetStatus {
    /// Downloaded now and verified.
    Downloaded,
    /// Already in the local directory with the right SHA-256.
    Present,
    /// A restore was requested in this run; run again once it is done.
    RestoreRequested,
    /// A restore is in progress.
    Restoring,
    /// The manifest lists it and the destination does not hold it.
    Missing,
    /// Downloaded but a checksum disagreed (nothing kept), or an error.
    Failed,
    /// Dry run: what would be done.
    Planned,
}

impl GetStatus {
    /// True for files that are local and verified.
    pub fn is_done(self) -> bool {
        matches!(self, GetStatus::Downloaded | GetStatus::Present)
    }
}

/// Age identities and minisign key, when given.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    pub identity: Option<PathBuf>,
    pub public_key: Option<PathBuf>,
}

/// The names of the manifests `manifest` writes.
pub const SUM_MANIFEST: &str = "manifest-sha256.txt";
pub const JSON_MANIFEST: &str = "manifest.json";

/// True for a manifest or its signature (plain or `.age`).
pub fn is_manifest_name(name: &str) -> bool {
    let base = name.strip_suffix(".age").unwrap_or(name);
    let base = base
        .strip_suffix(".minisig")
        .or_else(|| base.strip_suffix(".sig"))
        .unwrap_or(base);
    base == SUM_MANIFEST || base == JSON_MANIFEST
}
