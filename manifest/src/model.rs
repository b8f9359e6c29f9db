//! The types every phase shares: the run's configuration as plain values,
//! the targets (a directory and optional group that get their own
//! manifests), the per-file entries, plan items and findings, and the
//! counts and failures that decide the exit code.
//!
//! A leaf: it imports nothing of the tool, so every phase may use it and
//! no phase has to import another phase for a type.

use archive_core::s3url::S3Url;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::SystemTime;

/// What `manifest` (no subcommand) was asked to do.
#[derive(Debug, Clone, Default)]
pub struct WriteConfig {
    /// File lines to read (None or `-`: stdin). Ignored with `roots`.
    pub input: Option<PathBuf>,
    /// Walk these directories instead of reading file lines.
    pub roots: Vec<PathBuf>,
    pub group_by: Option<String>,
    pub period: Option<String>,
    pub retention_years: Option<u32>,
    pub compliance: Vec<String>,
    pub schema_version: Option<String>,
    /// Where the files will be shipped: `s3_key` of each entry.
    pub s3_prefix: Option<S3Url>,
    /// The key prefix of `s3_key` without a bucket (`--key-prefix`), for a
    /// destination that is not given as an `s3://` URL.
    pub key_prefix: Option<String>,
    /// The shape of manifest.json.
    pub json_format: JsonFormat,
    pub bagit: bool,
    pub external_identifier: Option<String>,
    pub sign: Option<PathBuf>,
    pub trust_unchanged: bool,
    pub accept_changes: bool,
    /// Keep, without complaint, entries of the previous manifest whose
    /// file is not on this disk: the destination holds them (a job whose
    /// work directory is only a cache brings back the destination's
    /// manifest, not every file it lists).
    pub keep_absent: bool,
    pub dry_run: bool,
    pub summary: Option<PathBuf>,
    pub jobs: Option<usize>,
    /// Follow a symbolic link to a regular file when it resolves inside
    /// the root; otherwise no link is ever followed.
    pub follow_internal_links: bool,
    /// Allow `/` or a system directory (`/etc`, `/usr`, …) as a root.
    pub allow_system_root: bool,
}

/// The shape of manifest.json.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum JsonFormat {
    /// The toolkit's own: `archive_version` 1, the header, then the files.
    #[default]
    Toolkit,
    /// The billing archive's specification (docs/schemas/
    /// billing-manifest.schema.json): `archive_version` "1.0", every file
    /// with `table`, `records` and `s3_key`, a string `schema_version`,
    /// with the toolkit's fields (sha256 per file, totals, …) beside them.
    BillingSpec,
}

/// One place `manifest verify` checks.
#[derive(Debug, Clone)]
pub enum VerifyTarget {
    Local(PathBuf),
    S3(S3Url),
}

/// What `manifest verify` was asked to do.
#[derive(Debug, Clone)]
pub struct VerifyConfig {
    pub targets: Vec<VerifyTarget>,
    /// The targets as the user typed them (for the summary).
    pub shown: Vec<String>,
    pub download: bool,
    pub all: bool,
    pub public_key: Option<PathBuf>,
    /// age identity file for archives shipped with `--encrypt-to`.
    pub identity: Option<PathBuf>,
    pub endpoint_url: Option<String>,
    /// `--region` (else the standard AWS region chain).
    pub region: Option<String>,
    pub jobs: usize,
    pub summary: Option<PathBuf>,
}

/// The subcommand and its configuration.
#[derive(Debug, Clone)]
pub enum Config {
    Write(WriteConfig),
    Verify(VerifyConfig),
}

/// A raw SHA-256 digest.
pub type Digest = [u8; 32];

/// Lowercase hex of a digest.
pub fn hex(d: &Digest) -> String {
    archive_core::hash::digest_hex(d)
}

/// 64 hex digits (either case) as a digest.
pub fn parse_digest(s: &str) -> Option<Digest> {
    let mut d = [0u8; 32];
    hex::decode_to_slice(s, &mut d).ok()?;
    Some(d)
}

/// Lowercase hex of a digest without allocating.
pub fn write_hex(w: &mut impl std::io::Write, d: &Digest) -> std::io::Result<()> {
    let mut buf = [0u8; 64];
    hex::encode_to_slice(d, &mut buf).expect("64 bytes hold 32 in hex");
    w.write_all(&buf)
}

/// Modification time, exactly as recorded (RFC 3339 with nanoseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mtime {
    pub secs: i64,
    pub nanos: u32,
}

impl Mtime {
    pub fn from_system(t: SystemTime) -> Mtime {
        let dt = chrono::DateTime::<chrono::Utc>::from(t);
        Mtime {
            secs: dt.timestamp(),
            nanos: dt.timestamp_subsec_nanos(),
        }
    }

    /// None for text that is not RFC 3339: such an entry is re-hashed.
    pub fn parse(s: &str) -> Option<Mtime> {
        let dt = chrono::DateTime::parse_from_rfc3339(s).ok()?;
        Some(Mtime {
            secs: dt.timestamp(),
            nanos: dt.timestamp_subsec_nanos(),
        })
    }

    /// RFC 3339 UTC with nanoseconds, as `--trust-unchanged` compares.
    pub fn rfc3339(&self) -> Option<String> {
        chrono::DateTime::<chrono::Utc>::from_timestamp(self.secs, self.nanos)
            .map(|dt| dt.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
    }
}

/// What a file's inode said at one moment: if any of it differs between
/// before and after hashing, the file changed while it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    pub len: u64,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
    pub ino: u64,
    pub dev: u64,
}

impl FileStat {
    pub fn of(m: &std::fs::Metadata) -> FileStat {
        use std::os::unix::fs::MetadataExt;
        FileStat {
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
            ino: m.ino(),
            dev: m.dev(),
        }
    }
}

/// One file of a manifest, without its path (the path is the key it is
/// stored under). 64 bytes, plus the metadata when there is any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub bytes: u64,
    pub sha256: Digest,
    /// Modification time when hashed; what `--trust-unchanged` compares.
    pub mtime: Option<Mtime>,
    meta: Option<Box<Meta>>,
}

/// What producers knew about a file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    pub records: Option<u64>,
    pub s3_key: Option<Box<str>>,
    pub table: Option<Box<str>>,
    /// Other fields the producer's file line carried (period, date,
    /// user_id, min_time, max_time, schema_version, ...) as a compact JSON
    /// object, in the producer's order.
    pub extra: Option<Box<str>>,
    /// The file summarises others (partition's `"kind":"daily_summary"`, or
    /// `"summary":true`): its `records` repeat theirs, so the totals leave
    /// them out.
    pub summary: bool,
}

static NO_META: Meta = Meta {
    records: None,
    s3_key: None,
    table: None,
    extra: None,
    summary: false,
};

/// Whether a file-line field marks a file that summarises others: what
/// partition writes for its daily summaries (`"kind":"daily_summary"`) or
/// an explicit `"summary":true`.
pub fn marks_summary(field: &str, value: &serde_json::Value) -> bool {
    match (field, value) {
        ("kind", serde_json::Value::String(k)) => k == "daily_summary",
        ("summary", serde_json::Value::Bool(b)) => *b,
        _ => false,
    }
}

impl Entry {
    pub fn new(bytes: u64, sha256: Digest, mtime: Option<Mtime>, meta: Meta) -> Entry {
        Entry {
            bytes,
            sha256,
            mtime,
            meta: (meta != Meta::default()).then(|| Box::new(meta)),
        }
    }

    /// An entry known only by its digest (from a sha256sum manifest).
    pub fn bare(sha256: Digest) -> Entry {
        Entry::new(0, sha256, None, Meta::default())
    }

    pub fn meta(&self) -> &Meta {
        self.meta.as_deref().unwrap_or(&NO_META)
    }
}

/// A directory (and optional group) that gets its own manifests.
#[derive(Debug, Default)]
pub struct Target {
    pub dir: PathBuf,
    /// `root` of the file lines printed for it.
    pub root_str: String,
    pub group: Option<String>,
    /// True when input lines name a root called `data` and the bag is its
    /// parent: printed lines are re-rooted there so ship keeps the bag shape.
    pub lifted: bool,
    /// Relative path -> index of the input line that announced it.
    pub announced: HashMap<String, usize>,
    /// File lines are printed for every file (walk mode, `--root`).
    pub print_all: bool,
    /// The directory with every link resolved, when it exists: where a
    /// followed link must lead (`--follow-internal-links`).
    pub canonical: Option<PathBuf>,
}

/// One file of a target, sorted by `rel`.
#[derive(Debug)]
pub struct Item {
    /// Path relative to the target directory.
    pub rel: String,
    /// The previous manifest's entry; once assembled, the entry to record
    /// (None: the file is not listed).
    pub entry: Option<Entry>,
    /// Index of the input line that announced the file.
    pub announced: Option<usize>,
    /// Found by the walk, which never enters a linked directory: only the
    /// last component can still be a link.
    pub walked: bool,
    /// What the parallel pass found.
    pub found: Found,
    /// Whether the recorded digest differs from the previous manifest's
    /// (None: the previous manifest did not list the file).
    pub changed: Option<bool>,
}

/// What the parallel pass found for one file.
#[derive(Debug)]
pub enum Found {
    /// Not probed yet.
    Pending,
    /// No such file (or not a regular file).
    Absent,
    /// A symbolic link (or a path through one) that is not followed.
    Link,
    /// Opening or reading failed, or the file kept changing while it was
    /// hashed; the message names the file.
    Unreadable(String),
    /// Size and mtime match the previous entry (`--trust-unchanged`).
    Reused,
    Hashed {
        bytes: u64,
        mtime: Option<Mtime>,
        sha256: Digest,
    },
}

/// The entries of assembled items, sorted by path.
pub fn entries(items: &[Item]) -> impl Iterator<Item = (&str, &Entry)> + Clone {
    items
        .iter()
        .filter_map(|it| it.entry.as_ref().map(|e| (it.rel.as_str(), e)))
}

/// The `sha256` a line claims: kept as 32 bytes when it is hex, as the
/// text otherwise (it then matches no file).
#[derive(Debug)]
pub enum ClaimedSha {
    Hex(Digest),
    Malformed(Box<str>),
}

impl ClaimedSha {
    pub fn new(text: &str) -> ClaimedSha {
        match parse_digest(text) {
            Some(d) => ClaimedSha::Hex(d),
            None => ClaimedSha::Malformed(text.to_ascii_lowercase().into()),
        }
    }

    pub fn matches(&self, actual: &Digest) -> bool {
        matches!(self, ClaimedSha::Hex(d) if d == actual)
    }

    /// Lowercase, as the line had it.
    pub fn shown(&self) -> String {
        match self {
            ClaimedSha::Hex(d) => hex(d),
            ClaimedSha::Malformed(s) => s.to_string(),
        }
    }
}

/// One input file line, as far as deciding its entry needs.
#[derive(Debug)]
pub struct Incoming {
    pub line_no: u64,
    pub target: usize,
    pub claimed_bytes: u64,
    pub claimed_sha: Option<ClaimedSha>,
    /// What the manifest entry takes from the line; moved out when the
    /// entry is built.
    pub meta: Option<Box<Meta>>,
    /// Not passed on: failed, or superseded by a later line for the file.
    pub failed: bool,
}

/// A manifest file as written (or as found unchanged).
#[derive(Debug, Clone)]
pub struct Written {
    pub name: String,
    pub kind: &'static str,
    pub bytes: u64,
    pub sha256: String,
    pub changed: bool,
}

/// What the run did, for the summary.
#[derive(Debug, Default)]
pub struct Counts {
    pub targets: u64,
    pub files: u64,
    pub bytes: u64,
    pub hashed: u64,
    pub reused: u64,
    pub failed: u64,
    /// Symbolic links found and not followed.
    pub skipped: u64,
    /// Temporary files of dead processes removed at the start.
    pub swept: u64,
    pub manifests_written: u64,
    pub manifests_unchanged: u64,
    /// Targets whose manifests were left as they were instead of being
    /// rewritten without lines they had.
    pub refused: u64,
}

/// Per-file failures: reported on stderr at once, counted for the exit code.
#[derive(Debug, Default)]
pub struct Failures {
    pub count: u64,
    /// Target index -> paths that failed (few: only failures are kept).
    paths: BTreeMap<usize, BTreeSet<String>>,
}

impl Failures {
    /// Report a failure of one file of a target.
    pub fn fail(&mut self, target: usize, rel: &str, msg: impl std::fmt::Display) {
        eprintln!("manifest: error: {msg}");
        self.count += 1;
        self.paths
            .entry(target)
            .or_default()
            .insert(rel.to_string());
    }

    /// Report a failure that concerns no single file.
    pub fn other(&mut self, msg: impl std::fmt::Display) {
        eprintln!("manifest: error: {msg}");
        self.count += 1;
    }

    pub fn failed(&self, target: usize, rel: &str) -> bool {
        self.paths.get(&target).is_some_and(|s| s.contains(rel))
    }
}
