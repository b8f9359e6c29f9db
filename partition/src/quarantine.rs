//! Lines that cannot be archived (not JSON, no user, no time) are kept, not
//! dropped: each goes to `DIR/_quarantine/quarantine-<hash>.ndjson` with its
//! line number and the reason. The name is derived from the content, so a
//! re-run with the same bad lines leaves the same file, unchanged.
//!
//! `_quarantine` (or the file) being a symbolic link is refused like any
//! other link inside the output: the entries are still counted and logged,
//! the file is not written, and the run says so.

use crate::commit::Committer;
use crate::model::Compression;
use anyhow::{Context, Result};
use archive_core::hash::HashingWriter;
use base64::Engine;
use serde::de::IgnoredAny;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

const DIR: &str = "_quarantine";

/// Where the entries go: nowhere yet, a temporary file, or nowhere at all
/// (a dry run, or a refused link, whose reason is kept; a dry run refuses
/// what a real run would).
enum Sink {
    Pending,
    File(PathBuf, BufWriter<File>),
    Discard(Option<String>),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            // Opened before the first entry; only a compressor's empty
            // stream (no entries, dropped) reaches a pending sink.
            Sink::Pending => Ok(buf.len()),
            Sink::File(_, w) => w.write(buf),
            Sink::Discard(_) => Ok(buf.len()),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::File(_, w) => w.flush(),
            _ => Ok(()),
        }
    }
}

/// The entries on their way to the sink: as they are, or compressed
/// (`--compression`; deterministic, so the same entries give the same name).
enum Out {
    Plain(HashingWriter<Sink>),
    Gzip(flate2::write::GzEncoder<HashingWriter<Sink>>),
    Zstd(zstd::Encoder<'static, HashingWriter<Sink>>),
}

impl Out {
    fn new(c: Option<Compression>) -> Out {
        let disk = HashingWriter::new(Sink::Pending);
        match c {
            None => Out::Plain(disk),
            Some(Compression::Gzip) => Out::Gzip(
                flate2::GzBuilder::new()
                    .mtime(0)
                    .write(disk, flate2::Compression::default()),
            ),
            Some(Compression::Zstd) => {
                Out::Zstd(zstd::Encoder::new(disk, 3).expect("zstd level 3 is valid"))
            }
        }
    }

    fn sink(&self) -> &Sink {
        match self {
            Out::Plain(w) => w.get_ref(),
            Out::Gzip(w) => w.get_ref().get_ref(),
            Out::Zstd(w) => w.get_ref().get_ref(),
        }
    }

    fn sink_mut(&mut self) -> &mut Sink {
        match self {
            Out::Plain(w) => w.get_mut(),
            Out::Gzip(w) => w.get_mut().get_mut(),
            Out::Zstd(w) => w.get_mut().get_mut(),
        }
    }

    /// End the stream: the sink, and the bytes and SHA-256 of what it got.
    fn finish(self) -> io::Result<(Sink, u64, String)> {
        let disk = match self {
            Out::Plain(w) => w,
            Out::Gzip(w) => w.finish()?,
            Out::Zstd(w) => w.finish()?,
        };
        Ok(disk.finish())
    }
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Out::Plain(w) => w.write(buf),
            Out::Gzip(w) => w.write(buf),
            Out::Zstd(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Out::Plain(w) => w.flush(),
            Out::Gzip(w) => w.flush(),
            Out::Zstd(w) => w.flush(),
        }
    }
}

pub struct Quarantine {
    source: String,
    root: PathBuf,
    dry_run: bool,
    compression: Option<Compression>,
    out: Out,
    pub count: u64,
}

/// What became of the quarantine file of a run.
pub enum QuarantineFile {
    Written {
        rel: String,
        bytes: u64,
        sha256: String,
        records: u64,
        changed: bool,
    },
    /// Not written: the reason (a link in its path).
    Refused { rel: String, reason: String },
}

impl Quarantine {
    pub fn new(
        root: PathBuf,
        source: String,
        dry_run: bool,
        compression: Option<Compression>,
    ) -> Quarantine {
        Quarantine {
            source,
            root,
            dry_run,
            compression,
            out: Out::new(compression),
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
        // UTF-8 first: serde_json skips the strings it ignores without
        // checking them, so invalid bytes could pass as JSON.
        match std::str::from_utf8(raw) {
            Ok(text) if serde_json::from_str::<IgnoredAny>(text).is_ok() => {
                entry.push_str("\"record\":");
                entry.push_str(text.trim_ascii());
            }
            Ok(text) => {
                entry.push_str("\"text\":");
                entry.push_str(&serde_json::to_string(text)?);
            }
            Err(_) => {
                entry.push_str("\"base64\":");
                let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
                entry.push_str(&serde_json::to_string(&b64)?);
            }
        }
        entry.push_str("}\n");
        eprintln!(
            "partition: {}:{line_no}: quarantined: {reason}",
            self.source
        );
        self.count += 1;
        if matches!(self.out.sink(), Sink::Pending) {
            *self.out.sink_mut() = self.open()?;
        }
        self.out
            .write_all(entry.as_bytes())
            .context("writing the quarantine")
    }

    /// The temporary file the entries go to, created without following a
    /// link (`_quarantine` must be a real directory).
    fn open(&self) -> Result<Sink> {
        let dir = self.root.join(DIR);
        if let Some(reason) = link_at(&dir, DIR) {
            return Ok(Sink::Discard(Some(reason)));
        }
        if self.dry_run {
            return Ok(Sink::Discard(None));
        }
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let tmp = dir.join(archive_core::atomic::temp_name("quarantine", 0));
        let f = File::options()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        Ok(Sink::File(tmp, BufWriter::new(f)))
    }

    /// Hand the file to the committer (renamed with the last batch).
    pub fn finish(&mut self, committer: &mut Committer) -> Result<Option<QuarantineFile>> {
        if self.count == 0 {
            return Ok(None);
        }
        let out = std::mem::replace(&mut self.out, Out::new(None));
        let (sink, bytes, sha256) = out.finish().context("writing the quarantine")?;
        let ext = self.compression.map_or("", Compression::extension);
        let rel = format!("{DIR}/quarantine-{}.ndjson{ext}", &sha256[..16]);
        let dest = self.root.join(&rel);
        let (tmp, writer) = match sink {
            Sink::Discard(Some(reason)) => {
                return Ok(Some(QuarantineFile::Refused { rel, reason }))
            }
            Sink::File(tmp, w) => (Some(tmp), Some(w)),
            _ => (None, None),
        };
        let kept = match (&tmp, writer) {
            (Some(tmp), Some(w)) => w.into_inner().map(drop).map_err(|e| {
                anyhow::Error::new(e.into_error()).context(format!("writing {}", tmp.display()))
            }),
            _ => Ok(()),
        };
        let refused = link_at(&dest, &rel);
        let changed = fs::symlink_metadata(&dest).is_err();
        match tmp {
            Some(tmp) if kept.is_ok() && refused.is_none() && changed => committer.adopt(tmp, dest),
            Some(tmp) => {
                let _ = fs::remove_file(&tmp);
            }
            None => {}
        }
        kept?;
        if let Some(reason) = refused {
            return Ok(Some(QuarantineFile::Refused { rel, reason }));
        }
        Ok(Some(QuarantineFile::Written {
            rel,
            bytes,
            sha256,
            records: self.count,
            changed,
        }))
    }
}

/// Why `path` (shown as `rel`) must not be written through, if it is a link.
fn link_at(path: &Path, rel: &str) -> Option<String> {
    let m = fs::symlink_metadata(path).ok()?;
    m.file_type().is_symlink().then(|| {
        format!("{rel} is a symbolic link (partition never writes through links inside --out)")
    })
}

impl Drop for Quarantine {
    fn drop(&mut self) {
        if let Sink::File(tmp, _) = self.out.sink() {
            let _ = fs::remove_file(tmp);
        }
    }
}
