//! The bytes one object will hold: a small file read whole and checked
//! against its line before anything is sent, a large one read once, part by
//! part, while it is uploaded ([`Payload::read_part`]; the part digests and
//! the whole-file SHA-256 are computed as the parts are read, and the whole
//! is compared with the line's `sha256` before the upload is completed), or
//! age ciphertext in a temporary file. The source is opened once, below its
//! root without following links (`fsafe`), and every later read goes
//! through that handle.

use crate::budget::PartBuffer;
use crate::encrypt::Recipients;
use crate::fsafe::{self, Signature};
use anyhow::{Context, Result};
use archive_core::{Failure, FileLine};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Bytes of source files (and ciphertext) read so far in this run: the
/// summary's `bytes_read`, which shows each large file is read once when
/// its line carries its SHA-256.
pub static BYTES_READ: AtomicU64 = AtomicU64::new(0);

/// One part of a multipart upload: where it is in the file, and once read,
/// its SHA-256 (hex).
#[derive(Debug, Clone)]
pub struct PartDigest {
    pub number: i32,
    pub offset: u64,
    pub len: u64,
    pub sha256: String,
}

/// The object's bytes, verified.
pub struct Payload {
    /// Where the bytes are (the source file, or a temporary ciphertext).
    pub path: PathBuf,
    /// The source file's name, for messages.
    shown: PathBuf,
    pub bytes: u64,
    /// SHA-256 (hex) of the object's bytes. For a multipart payload it may
    /// be the line's word only, checked as the parts are read
    /// ([`Payload::finish_reading`]); it is what `x-amz-meta-sha256` says.
    pub sha256: String,
    /// SHA-256 (hex) of the source file (equal to `sha256` unless encrypted).
    pub source_sha256: String,
    /// The whole content, for objects sent with one PUT.
    pub small: Option<Bytes>,
    /// Part size, for objects sent as a multipart upload.
    pub part_size: Option<u64>,
    /// The handle parts are read through: the source file as opened, or the
    /// temporary ciphertext.
    reader: Option<File>,
    /// The source file as opened, and how it looked when it was opened: a
    /// change seen afterwards means the upload may hold other bytes.
    source: Option<(File, Signature)>,
    /// Set when the bytes read for the upload did not hash to `sha256`.
    differed: AtomicBool,
    /// Keeps the temporary ciphertext alive; removes it on drop.
    _temp: Option<tempfile::TempPath>,
    /// This payload's share of the memory budget (a small file held whole).
    pub held: Option<tokio::sync::OwnedSemaphorePermit>,
    /// The `--jobs` slot the file is read under. A multipart payload gives
    /// it back once its last part is read, so the next file is read while
    /// this one's last parts and its completion (the server's copy of all
    /// the parts into one object) wait on S3.
    pub reading_slot: std::sync::Mutex<Option<tokio::sync::OwnedSemaphorePermit>>,
}

/// How a payload is built.
pub struct Shape<'a> {
    pub multipart_threshold: u64,
    pub part_size_for: &'a dyn Fn(u64) -> u64,
    pub encrypt: Option<&'a Recipients>,
    pub tmp_dir: &'a Path,
    /// True when the parts are hashed as they are uploaded (S3), so a line
    /// with a `sha256` is not read beforehand; false makes `prepare` hash a
    /// large file first (a local destination or fallback copies by path).
    pub hash_while_sending: bool,
}

/// Read and verify the file a line names. A file that no longer matches its
/// line (size or SHA-256), has vanished, or changes while it is read is an
/// input data error: shipping it would archive the wrong bytes. A line with
/// an empty `sha256` (folder mode) takes the hash as read. A symlink on the
/// way is an [`fsafe::Symlink`] error.
pub fn prepare(line: &FileLine, shape: &Shape) -> Result<Payload> {
    let src = line.local_path();
    let mut file = open_source(line)?;
    let before = Signature::of(&file).with_context(|| format!("reading {}", src.display()))?;
    let mut payload = match shape.encrypt {
        Some(recipients) => encrypted(line, &mut file, recipients, shape.tmp_dir)?,
        None => Payload {
            // A local copy reads by path: the one of the file opened.
            path: match before.len > shape.multipart_threshold {
                true => fsafe::reopen_path(&file, &src),
                false => src.clone(),
            },
            shown: src.clone(),
            bytes: before.len,
            sha256: String::new(),
            source_sha256: String::new(),
            small: None,
            part_size: None,
            reader: None,
            source: None,
            differed: AtomicBool::new(false),
            _temp: None,
            held: None,
            reading_slot: Default::default(),
        },
    };
    let size = payload.bytes;
    if size > shape.multipart_threshold {
        payload.part_size = Some((shape.part_size_for)(size));
        if payload._temp.is_none() {
            payload.sha256 = large_source_sha256(line, &src, &file, size, shape)?;
            payload.reader = Some(file.try_clone().context("duplicating a file handle")?);
        }
    } else {
        read_small(&mut payload, &mut file, &src)?;
    }
    if shape.encrypt.is_none() {
        check_against_line(line, &src, payload.bytes, &payload.sha256)?;
        payload.source_sha256 = payload.sha256.clone();
        if Signature::of(&file).ok() != Some(before) {
            return Err(Failure::data(format!(
                "{}: changed while it was read",
                src.display()
            )));
        }
        payload.source = Some((file, before));
    }
    if let Some(s) = line.extra.get("source_sha256").and_then(|v| v.as_str()) {
        // A drained spool copy of a ciphertext: the plaintext's hash travels
        // with it, for --update's comparisons.
        payload.source_sha256 = s.to_string();
    }
    Ok(payload)
}

/// The SHA-256 a large source file is uploaded under: the line's, checked
/// while the parts are read (one read of the file), or, without one
/// (folder mode) or for a local copy, computed now (a read of its own).
fn large_source_sha256(
    line: &FileLine,
    src: &Path,
    file: &File,
    size: u64,
    shape: &Shape,
) -> Result<String> {
    if shape.hash_while_sending && !line.sha256.is_empty() {
        return Ok(line.sha256.to_ascii_lowercase());
    }
    let mut whole = Sha256::new();
    let mut buf = vec![0u8; 1024 * 1024];
    let mut offset = 0u64;
    while offset < size {
        let want = buf.len().min((size - offset) as usize);
        let n = file
            .read_at(&mut buf[..want], offset)
            .with_context(|| format!("reading {}", src.display()))?;
        if n == 0 {
            return Err(truncated(src, offset, size));
        }
        whole.update(&buf[..n]);
        offset += n as u64;
    }
    BYTES_READ.fetch_add(size, Ordering::Relaxed);
    Ok(hex::encode(whole.finalize()))
}

fn truncated(src: &Path, at: u64, size: u64) -> anyhow::Error {
    Failure::data(format!(
        "{}: ended at byte {at} of {size} (truncated while being read?)",
        src.display()
    ))
}

/// A small payload: read whole (the ciphertext's from its temporary file).
fn read_small(payload: &mut Payload, file: &mut File, src: &Path) -> Result<()> {
    let mut data = Vec::with_capacity(payload.bytes as usize);
    match &payload._temp {
        Some(t) => File::open(t)
            .and_then(|mut f| f.read_to_end(&mut data))
            .with_context(|| format!("reading {}", t.display()))?,
        None => file
            .read_to_end(&mut data)
            .with_context(|| format!("reading {}", src.display()))?,
    };
    payload.sha256 = archive_core::hash::sha256_hex(&data);
    payload.bytes = data.len() as u64;
    BYTES_READ.fetch_add(payload.bytes, Ordering::Relaxed);
    payload.small = Some(Bytes::from(data));
    Ok(())
}

fn open_source(line: &FileLine) -> Result<File> {
    let src = line.local_path();
    fsafe::open_file(Path::new(&line.root), &line.path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Failure::data(format!(
                "{}: vanished (no such file; removed since it was listed?)",
                src.display()
            ))
        } else {
            anyhow::Error::new(e).context(format!("opening {}", src.display()))
        }
    })
}

fn encrypted(
    line: &FileLine,
    file: &mut File,
    recipients: &Recipients,
    tmp_dir: &Path,
) -> Result<Payload> {
    let src = line.local_path();
    // Named like every temporary of the toolkit (pid inside), so a later
    // run can remove what a killed one left.
    let prefix = format!(".ship-age.tmp-{}-", std::process::id());
    let tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .tempfile_in(tmp_dir)
        .with_context(|| format!("creating a temporary file in {}", tmp_dir.display()))?;
    let (tmp_file, tmp_path) = tmp.into_parts();
    let mut w = std::io::BufWriter::with_capacity(256 * 1024, tmp_file);
    let ((cipher_bytes, cipher_sha), (plain_bytes, plain_sha)) =
        recipients.encrypt_file(file, &src, &mut w)?;
    w.into_inner()
        .map_err(|e| e.into_error())
        .context("writing ciphertext")?;
    check_against_line(line, &src, plain_bytes, &plain_sha)?;
    let reader =
        File::open(&tmp_path).with_context(|| format!("opening {}", tmp_path.display()))?;
    Ok(Payload {
        path: tmp_path.to_path_buf(),
        shown: src.clone(),
        bytes: cipher_bytes,
        // Hashed as it was written; the parts are checked against it.
        sha256: cipher_sha,
        source_sha256: plain_sha,
        small: None,
        part_size: None,
        reader: Some(reader),
        source: None,
        differed: AtomicBool::new(false),
        _temp: Some(tmp_path),
        held: None,
        reading_slot: Default::default(),
    })
}

impl Payload {
    /// The whole content of a single-PUT payload.
    pub async fn read_small(&self) -> Result<Bytes> {
        self.small
            .clone()
            .context("internal: payload was not read for a single PUT")
    }

    /// True when the source file changed (size, times, content written in
    /// place) since it was opened: what was sent may not be what was
    /// announced. Only parts are read after opening: a single PUT sends the
    /// bytes it hashed, whatever happens to the file afterwards.
    pub fn source_changed(&self) -> bool {
        if self.small.is_some() {
            return false;
        }
        match &self.source {
            Some((f, before)) => Signature::of(f).ok().as_ref() != Some(before),
            None => false,
        }
    }

    /// The source file's identity, for the drain's delete.
    pub fn source_signature(&self) -> Option<&Signature> {
        self.source.as_ref().map(|(_, s)| s)
    }
}

fn check_against_line(line: &FileLine, src: &Path, bytes: u64, sha256: &str) -> Result<()> {
    if bytes != line.bytes {
        return Err(Failure::data(format!(
            "{}: has {bytes} bytes, its line says {} (changed since it was listed?)",
            src.display(),
            line.bytes
        )));
    }
    if !line.sha256.is_empty() && !line.sha256.eq_ignore_ascii_case(sha256) {
        return Err(Failure::data(format!(
            "{}: SHA-256 is {sha256}, its line says {} (changed since it was listed?)",
            src.display(),
            line.sha256
        )));
    }
    Ok(())
}

/// The parts of a multipart payload, in order, each with its offset and
/// length (no digest yet).
pub fn part_layout(bytes: u64, part_size: u64) -> Vec<PartDigest> {
    let mut parts = Vec::new();
    let mut offset = 0u64;
    while offset < bytes {
        let len = part_size.min(bytes - offset);
        parts.push(PartDigest {
            number: parts.len() as i32 + 1,
            offset,
            len,
            sha256: String::new(),
        });
        offset += len;
    }
    parts
}

/// Reads the parts of a payload through its held handle; cheap to clone
/// into a blocking task.
#[derive(Clone)]
pub struct PartReader {
    file: std::sync::Arc<File>,
    shown: PathBuf,
    size: u64,
}

impl PartReader {
    /// Read one part (blocking): its bytes, with its SHA-256 filled in and
    /// the bytes fed to `whole` too. Parts must be read in order for
    /// `whole` to mean the file.
    pub fn read(
        &self,
        part: &mut PartDigest,
        mut buffer: PartBuffer,
        whole: &mut Sha256,
    ) -> Result<Bytes> {
        let data = buffer.as_mut_slice();
        let mut hasher = Sha256::new();
        let mut done = 0usize;
        // 1 MiB at a time: hashing follows reading while it is in cache.
        while done < data.len() {
            let end = (done + 1024 * 1024).min(data.len());
            let n = self
                .file
                .read_at(&mut data[done..end], part.offset + done as u64)
                .with_context(|| format!("reading {}", self.shown.display()))?;
            if n == 0 {
                return Err(truncated(&self.shown, part.offset + done as u64, self.size));
            }
            hasher.update(&data[done..done + n]);
            whole.update(&data[done..done + n]);
            done += n;
        }
        part.sha256 = hex::encode(hasher.finalize());
        BYTES_READ.fetch_add(part.len, Ordering::Relaxed);
        Ok(buffer.into_bytes())
    }
}

impl Payload {
    /// The reader of this multipart payload's parts.
    pub fn part_reader(&self) -> Result<PartReader> {
        let file = self
            .reader
            .as_ref()
            .context("internal: payload has no part reader")?
            .try_clone()
            .context("duplicating a file handle")?;
        Ok(PartReader {
            file: std::sync::Arc::new(file),
            shown: self.shown.clone(),
            size: self.bytes,
        })
    }

    /// After the last part was read: the whole file's SHA-256 must be the
    /// one the upload was created with, else nothing may be completed.
    pub fn finish_reading(&self, whole: Sha256) -> std::result::Result<(), String> {
        let got = hex::encode(whole.finalize());
        if got == self.sha256 {
            return Ok(());
        }
        self.differed.store(true, Ordering::Relaxed);
        Err(format!(
            "{}: the bytes read for the upload have SHA-256 {got}, expected {} (changed since it was listed?); the multipart upload was aborted, no object stored",
            self.shown.display(),
            self.sha256
        ))
    }

    /// Every byte is read: let the next file be read.
    pub fn release_reading_slot(&self) {
        self.reading_slot
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }

    /// True when the bytes read while uploading were not the ones the
    /// object was announced with (an input data error, not S3's).
    pub fn differed(&self) -> bool {
        self.differed.load(Ordering::Relaxed)
    }
}
