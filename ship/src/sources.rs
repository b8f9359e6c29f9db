//! Where file lines come from: stdin (or --input), a folder walked in
//! folder mode, or a fallback spool being drained. Each runs on its own
//! thread and feeds a bounded channel, so ship starts uploading while its
//! producer is still writing and memory stays bounded. Walks never follow a
//! symlink: a link is handed on as [`Item::Symlink`], to be reported.

use crate::config::Source;
use crate::spool::{self, Record};
use archive_core::FileLine;
use serde_json::Value;
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

/// One input item.
pub enum Item {
    Line(Box<FileLine>),
    /// A symlink met by a walk (not followed, reported `skipped`).
    Symlink(Box<FileLine>),
    /// A line that could not be read.
    Bad(anyhow::Error),
}

/// An open source: its reader thread, the spool being drained (a ZIP is
/// unpacked into a temporary directory that lives as long as this).
pub struct Opened {
    reader: std::thread::JoinHandle<()>,
    pub drain: Option<PathBuf>,
    unzipped: Option<tempfile::TempDir>,
}

impl Opened {
    /// Done with the source; true when the drained spool was an unpacked ZIP.
    pub fn finish(self) -> bool {
        drop(self.reader);
        self.unzipped.is_some()
    }
}

/// Start reading `source` into `tx`.
pub fn open(source: &Source, tx: mpsc::Sender<Item>) -> anyhow::Result<Opened> {
    let (reader, drain, unzipped) = match source {
        Source::Lines(input) => (lines(input.clone(), tx), None, None),
        Source::Folder(dir) => (walk(dir.clone(), tx), None, None),
        Source::Drain(zip) if zip.is_file() => {
            let t = tempfile::Builder::new()
                .prefix(&format!(".ship-drain.tmp-{}-", std::process::id()))
                .tempdir()?;
            crate::fallback::unzip(zip, t.path())
                .map_err(|e| e.context(archive_core::Failure::Usage))?;
            let dir = t.path().to_path_buf();
            (drain(dir.clone(), tx), Some(dir), Some(t))
        }
        Source::Drain(spool) => (drain(spool.clone(), tx), Some(spool.clone()), None),
    };
    Ok(Opened {
        reader,
        drain,
        unzipped,
    })
}

/// Fields of an object line that an input line may already carry (when
/// object lines are shipped again); they are replaced, not duplicated.
const OBJECT_FIELDS: &[&str] = &[
    "url",
    "key",
    "etag",
    "version_id",
    "checksum_sha256",
    "storage_class",
    "status",
    "error",
    "s3_checksum",
    "object_bytes",
    "object_sha256",
    "encryption",
    "integrity",
];

/// File lines from stdin or a file.
pub fn lines(input: Option<PathBuf>, tx: mpsc::Sender<Item>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let name = archive_core::io::input_name(input.as_deref());
        let reader = match archive_core::io::open_input(input.as_deref()) {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.blocking_send(Item::Bad(e.context(archive_core::Failure::Usage)));
                return;
            }
        };
        use std::io::BufRead;
        for (i, line) in reader.lines().enumerate() {
            let item = match line {
                Ok(l) if l.trim().is_empty() => continue,
                Ok(l) => match FileLine::parse(&l, &name, i as u64 + 1) {
                    Ok(mut fl) => {
                        for f in OBJECT_FIELDS {
                            fl.extra.remove(*f);
                        }
                        Item::Line(Box::new(fl))
                    }
                    Err(e) => Item::Bad(e),
                },
                Err(e) => Item::Bad(archive_core::Failure::data(format!(
                    "{name}:{}: {e}",
                    i + 1
                ))),
            };
            if tx.blocking_send(item).is_err() {
                return;
            }
        }
    })
}

/// An entry a walk found.
enum Found {
    File(String, u64),
    Link(String),
}

/// File lines for every regular file under `root` (sorted; temporary files
/// of crashed writers skipped; symlinks reported, not followed). The SHA-256
/// is left empty: the upload computes it while reading, so each file is
/// read once.
pub fn walk(root: PathBuf, tx: mpsc::Sender<Item>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for item in walk_items(&root, false) {
            if tx.blocking_send(item).is_err() {
                return;
            }
        }
    })
}

/// Like [`walk`] for a spool being drained: the spool's records are not
/// files to ship; each file's line carries its recorded SHA-256 (so a
/// damaged copy is refused) and `spooled_at`.
pub fn drain(spool: PathBuf, tx: mpsc::Sender<Item>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for mut item in walk_items(&spool, true) {
            if let Item::Line(line) = &mut item {
                if let Err(e) = add_record(&spool, line) {
                    item = Item::Bad(e);
                }
            }
            if tx.blocking_send(item).is_err() {
                return;
            }
        }
    })
}

fn add_record(spool: &Path, line: &mut FileLine) -> anyhow::Result<()> {
    let spooled_at = match Record::load(spool, &line.path)? {
        Some(r) => {
            line.sha256 = r.sha256;
            if r.source_sha256 != line.sha256 {
                line.extra
                    .insert("source_sha256".into(), Value::from(r.source_sha256));
            }
            r.spooled_at
        }
        // A spool from before records: when the file was last written.
        None => std::fs::symlink_metadata(line.local_path())
            .and_then(|m| m.modified())
            .map(chrono::DateTime::<chrono::Utc>::from)
            .unwrap_or_else(|_| chrono::Utc::now()),
    };
    line.extra
        .insert("spooled_at".into(), Value::from(spool::rfc3339(spooled_at)));
    Ok(())
}

fn walk_items(root: &Path, spool: bool) -> Vec<Item> {
    let mut found = Vec::new();
    if let Err(e) = collect(root, root, spool, &mut found) {
        return vec![Item::Bad(e)];
    }
    found.sort_by(|a, b| name_of(a).cmp(name_of(b)));
    let line = |path: &str, bytes| FileLine {
        root: root.to_string_lossy().into_owned(),
        path: path.to_string(),
        bytes,
        sha256: String::new(),
        extra: Default::default(),
    };
    found
        .into_iter()
        .map(|f| match f {
            Found::File(rel, bytes) => Item::Line(Box::new(line(&rel, bytes))),
            Found::Link(rel) => Item::Symlink(Box::new(line(&rel, 0))),
        })
        .collect()
}

fn name_of(f: &Found) -> &str {
    match f {
        Found::File(n, _) | Found::Link(n) => n,
    }
}

fn collect(base: &Path, dir: &Path, spool: bool, out: &mut Vec<Found>) -> anyhow::Result<()> {
    use anyhow::Context;
    let rd =
        std::fs::read_dir(dir).with_context(|| format!("reading directory {}", dir.display()))?;
    for e in rd {
        let e = e.with_context(|| format!("reading directory {}", dir.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if archive_core::atomic::is_temp_name(&name)
            || (spool && dir == base && name == spool::RECORDS)
        {
            continue;
        }
        let p = e.path();
        let rel = || -> anyhow::Result<String> {
            let rel = p
                .strip_prefix(base)
                .expect("walked under base")
                .to_string_lossy()
                .replace('\\', "/");
            archive_core::lines::check_relative(&rel)?;
            Ok(rel)
        };
        // The entry's own type: a symlink is not followed.
        let kind = e
            .file_type()
            .with_context(|| format!("reading {}", p.display()))?;
        if kind.is_symlink() {
            out.push(Found::Link(rel()?));
        } else if kind.is_dir() {
            collect(base, &p, spool, out)?;
        } else if kind.is_file() {
            let len = e
                .metadata()
                .with_context(|| format!("reading {}", p.display()))?
                .len();
            out.push(Found::File(rel()?, len));
        }
    }
    Ok(())
}
