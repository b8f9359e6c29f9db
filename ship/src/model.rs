//! The types every phase of a run shares: where objects go, the settings of
//! each put, what the destination answered, and the status of each line. A
//! leaf module: it imports nothing of ship.

use archive_core::s3url::{join_key, S3Url};
use archive_core::{ObjectLine, ObjectStatus};
use archive_s3::S3Failure;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::path::PathBuf;

/// S3 refuses parts smaller than this (except the last one).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// S3 refuses multipart uploads with more parts than this.
pub const MAX_PARTS: u64 = 10_000;

/// Object metadata holding the SHA-256 (hex) of the stored bytes, so the
/// whole-object checksum survives a multipart upload, whose S3 checksum is
/// only a checksum of part checksums.
pub const META_SHA256: &str = "sha256";
/// The SHA-256 of the source file before client-side encryption; `--update`
/// compares against it, since age ciphertext differs on every run.
pub const META_SOURCE_SHA256: &str = "source-sha256";

/// Where objects go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    S3(S3Url),
    /// A directory and a key prefix under it (folder mode's timestamped one).
    Local(PathBuf, String),
}

impl Destination {
    pub fn is_s3(&self) -> bool {
        matches!(self, Destination::S3(_))
    }

    /// The prefix keys start with.
    pub fn prefix(&self) -> &str {
        match self {
            Destination::S3(u) => &u.prefix,
            Destination::Local(_, prefix) => prefix,
        }
    }

    /// The key of a file line's relative path.
    pub fn key(&self, rel: &str) -> String {
        join_key(self.prefix(), rel)
    }

    /// The same destination with `extra` appended to its prefix.
    pub fn with_subprefix(&self, extra: &str) -> Destination {
        let extra = extra.trim_matches('/');
        if extra.is_empty() {
            return self.clone();
        }
        match self {
            Destination::S3(u) => Destination::S3(u.join(extra)),
            Destination::Local(dir, prefix) => {
                Destination::Local(dir.clone(), join_key(prefix, extra))
            }
        }
    }

    /// The URL of an object under this destination.
    pub fn url(&self, key: &str) -> String {
        match self {
            Destination::S3(u) => u.object_url(key),
            Destination::Local(dir, _) => {
                let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
                format!("file://{}", abs.join(key).display())
            }
        }
    }

    /// For messages and the run summary.
    pub fn display(&self) -> String {
        match self {
            Destination::S3(u) => u.to_string(),
            Destination::Local(p, prefix) => p.join(prefix).display().to_string(),
        }
    }
}

/// What to do when the key already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clobber {
    /// Keep it (If-None-Match: *): "skipped" when identical, else "conflict".
    Refuse,
    /// Replace it.
    Overwrite,
    /// Replace it only when its SHA-256 differs.
    Update,
}

/// Settings for every object of a run.
#[derive(Debug, Clone)]
pub struct PutOptions {
    pub storage_class: Option<String>,
    pub manifest_storage_class: String,
    pub sse: Option<String>,
    pub sse_kms_key_id: Option<String>,
    pub lock_mode: Option<String>,
    pub retain_until: Option<DateTime<Utc>>,
    pub legal_hold: bool,
    pub clobber: Clobber,
    pub part_size: u64,
    pub part_concurrency: usize,
    pub multipart_threshold: u64,
    /// `--max-memory`: file content held in memory at once.
    pub max_memory: u64,
}

impl PutOptions {
    /// True when a flag that only S3 understands was given.
    pub fn uses_s3_only_features(&self) -> bool {
        self.storage_class.is_some()
            || self.sse.is_some()
            || self.lock_mode.is_some()
            || self.legal_hold
    }

    /// The part size for a file of `bytes`: the configured one, raised (to a
    /// whole MiB) so the upload needs at most 10,000 parts.
    pub fn part_size_for(&self, bytes: u64) -> u64 {
        let needed = bytes.div_ceil(MAX_PARTS);
        let mib = 1024 * 1024;
        self.part_size.max(needed.div_ceil(mib) * mib)
    }
}

/// What a written object is, as the destination reported it.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    pub etag: Option<String>,
    pub version_id: Option<String>,
    /// Hex SHA-256 of the stored bytes, as verified.
    pub checksum_sha256: Option<String>,
    /// The checksum value exactly as S3 returned it (base64, with `-N` for
    /// a multipart upload's checksum of part checksums).
    pub s3_checksum: Option<String>,
}

/// What an existing object says about its content (all None when it could
/// not be read, e.g. without s3:GetObject).
#[derive(Debug, Clone, Default)]
pub struct Existing {
    pub etag: Option<String>,
    pub version_id: Option<String>,
    pub sha256: Option<String>,
    pub source_sha256: Option<String>,
    pub s3_checksum: Option<String>,
    pub last_modified: Option<DateTime<Utc>>,
}

/// What a put did.
#[derive(Debug, Clone)]
pub enum Put {
    /// Written (new, or replacing what was there).
    Written(Stored),
    /// The key exists and was left as it is.
    Exists(Existing),
    /// Draining: the object at the key is newer than the spooled copy.
    Stale(Existing),
}

/// A corrupt object this run created, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Corrupt {
    /// Deleted (the version this run created).
    Deleted,
    /// Could not be deleted (Object Lock): tagged `integrity=failed`.
    Tagged { version_id: Option<String> },
    /// Could be neither deleted nor tagged.
    Left { version_id: Option<String> },
}

/// A put that failed, and a corrupt object it may have left.
#[derive(Debug, Clone)]
pub struct PutFailure {
    pub failure: S3Failure,
    pub corrupt: Option<Corrupt>,
}

impl From<S3Failure> for PutFailure {
    fn from(failure: S3Failure) -> Self {
        PutFailure {
            failure,
            corrupt: None,
        }
    }
}

/// The status of an object line. `conflict` and `stale` are ship's own
/// until archive-core's `ObjectStatus` has them; they are written over the
/// line's `status` field when it is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Uploaded,
    Skipped,
    Fallback,
    Failed,
    Planned,
    /// Changed content under an existing key, not replaced (exit 1).
    Conflict,
    /// Draining: a spooled copy older than the object at its key, kept (exit 1).
    Stale,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Uploaded => "uploaded",
            Status::Skipped => "skipped",
            Status::Fallback => "fallback",
            Status::Failed => "failed",
            Status::Planned => "planned",
            Status::Conflict => "conflict",
            Status::Stale => "stale",
        }
    }

    /// The same status in archive-core's vocabulary.
    pub fn core(self) -> ObjectStatus {
        match self {
            Status::Uploaded => ObjectStatus::Uploaded,
            Status::Skipped => ObjectStatus::Skipped,
            Status::Stale => ObjectStatus::Stale,
            Status::Fallback => ObjectStatus::Fallback,
            Status::Failed => ObjectStatus::Failed,
            Status::Conflict => ObjectStatus::Conflict,
            Status::Planned => ObjectStatus::Planned,
        }
    }
}

/// Why an object was not done, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trouble {
    None,
    /// The file vanished or does not match its line (exit 3).
    Data,
    /// S3 failed (after the attempts allowed), or a corrupt object stays (exit 4).
    Remote,
    /// S3 refused the run's set-up: access denied, no such bucket (exit 2).
    Config,
    /// Kept in the fallback, a conflict, a stale copy, or a local write
    /// failed (exit 1).
    Partial,
}

/// One finished line.
#[derive(Debug, Clone)]
pub struct Done {
    pub line: ObjectLine,
    pub status: Status,
    pub trouble: Trouble,
}

impl Done {
    pub fn new(mut line: ObjectLine, status: Status, trouble: Trouble) -> Done {
        line.status = status.core();
        Done {
            line,
            status,
            trouble,
        }
    }

    /// The object line as printed, with ship's own status name.
    pub fn to_json(&self) -> Value {
        let mut v = serde_json::to_value(&self.line).expect("an object line serialises");
        v["status"] = Value::from(self.status.name());
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_size_raised_to_stay_under_10000_parts() {
        let opts = PutOptions {
            storage_class: None,
            manifest_storage_class: "STANDARD".into(),
            sse: None,
            sse_kms_key_id: None,
            lock_mode: None,
            retain_until: None,
            legal_hold: false,
            clobber: Clobber::Refuse,
            part_size: 8 << 20,
            part_concurrency: 4,
            multipart_threshold: 16 << 20,
            max_memory: 96 << 20,
        };
        assert_eq!(opts.part_size_for(100 << 20), 8 << 20);
        let huge = 5u64 << 40; // 5 TiB, S3's largest object
        let ps = opts.part_size_for(huge);
        assert!(huge.div_ceil(ps) <= MAX_PARTS, "{ps}");
        assert_eq!(ps % (1 << 20), 0);
    }

    #[test]
    fn destinations_join_keys() {
        let d = Destination::S3(S3Url::parse("s3://bkt/p").unwrap()).with_subprefix("x/");
        assert_eq!(d.prefix(), "p/x");
        assert_eq!(d.key("a/b"), "p/x/a/b");
        assert_eq!(d.url("k"), "s3://bkt/k");
        let l = Destination::Local("out".into(), String::new());
        assert_eq!(l.key("a"), "a");
    }
}
