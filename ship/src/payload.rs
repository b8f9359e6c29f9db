//! The bytes one object will hold, checked against the file line before
//! anything is sent: a small file read whole, a large one hashed part by
//! part (the parts are later streamed from disk), or age ciphertext in a
//! temporary file. The source is opened once, below its root without
//! following links (`fsafe`), and every later read goes through that handle.

use crate::encrypt::Recipients;
use crate::fsafe::{self, Signature};
use anyhow::{Context, Result};
use archive_core::{Failure, FileLine};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// One part of a multipart upload and its SHA-256 (hex).
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
    pub bytes: u64,
    /// SHA-256 (hex) of the object's bytes.
    pub sha256: String,
    /// SHA-256 (hex) of the source file (equal to `sha256` unless encrypted).
    pub source_sha256: String,
    /// The whole content, for objects sent with one PUT.
    pub small: Option<Bytes>,
    /// Part digests, for objects sent as a multipart upload.
    pub parts: Option<Vec<PartDigest>>,
    /// The source file as opened, and how it looked when it was hashed: a
    /// change seen afterwards means the upload may hold other bytes.
    source: Option<(File, Signature)>,
    /// Keeps the temporary ciphertext alive; removes it on drop.
    _temp: Option<tempfile::TempPath>,
}

/// How a payload is built.
pub struct Shape<'a> {
    pub multipart_threshold: u64,
    pub part_size_for: &'a dyn Fn(u64) -> u64,
    pub encrypt: Option<&'a Recipients>,
    pub tmp_dir: &'a Path,
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
            // Parts are read again by path: the one of the file hashed.
            path: match before.len > shape.multipart_threshold {
                true => fsafe::reopen_path(&file, &src),
                false => src.clone(),
            },
            bytes: before.len,
            sha256: String::new(),
            source_sha256: String::new(),
            small: None,
            parts: None,
            source: None,
            _temp: None,
        },
    };
    let size = payload.bytes;
    if size > shape.multipart_threshold {
        let mut f = match &payload._temp {
            Some(t) => File::open(t).with_context(|| format!("opening {}", t.display()))?,
            None => file.try_clone().context("duplicating a file handle")?,
        };
        let (parts, sha) = hash_parts(&mut f, &src, size, (shape.part_size_for)(size))?;
        payload.parts = Some(parts);
        payload.sha256 = sha;
    } else {
        let mut data = Vec::with_capacity(size as usize);
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
        payload.small = Some(Bytes::from(data));
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
    let ((cipher_bytes, _), (plain_bytes, plain_sha)) =
        recipients.encrypt_file(file, &src, &mut w)?;
    drop(w);
    check_against_line(line, &src, plain_bytes, &plain_sha)?;
    Ok(Payload {
        path: tmp_path.to_path_buf(),
        bytes: cipher_bytes,
        sha256: String::new(),
        source_sha256: plain_sha,
        small: None,
        parts: None,
        source: None,
        _temp: Some(tmp_path),
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
    /// place) since it was hashed: what was sent may not be what was hashed.
    /// Only parts are read again after hashing: a single PUT sends the
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

/// One pass over the file: the SHA-256 of each part and of the whole.
fn hash_parts(
    f: &mut File,
    path: &Path,
    size: u64,
    part_size: u64,
) -> Result<(Vec<PartDigest>, String)> {
    let mut whole = Sha256::new();
    let mut parts = Vec::new();
    let mut buf = vec![0u8; 1024 * 1024];
    let mut offset = 0u64;
    while offset < size {
        let len = part_size.min(size - offset);
        let mut part = Sha256::new();
        let mut left = len;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            let n = f
                .read(&mut buf[..want])
                .with_context(|| format!("reading {}", path.display()))?;
            if n == 0 {
                return Err(Failure::data(format!(
                    "{}: ended at byte {} of {size} (truncated while being read?)",
                    path.display(),
                    offset + len - left
                )));
            }
            part.update(&buf[..n]);
            whole.update(&buf[..n]);
            left -= n as u64;
        }
        parts.push(PartDigest {
            number: parts.len() as i32 + 1,
            offset,
            len,
            sha256: hex::encode(part.finalize()),
        });
        offset += len;
    }
    Ok((parts, hex::encode(whole.finalize())))
}
