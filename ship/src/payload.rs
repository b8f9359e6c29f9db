//! The bytes one object will hold, checked against the file line before
//! anything is sent: a small file read whole, a large one hashed part by
//! part (the parts are later streamed from disk), or age ciphertext in a
//! temporary file.

use crate::encrypt::Recipients;
use anyhow::{Context, Result};
use archive_core::{Failure, FileLine};
use bytes::Bytes;
use sha2::{Digest, Sha256};
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
/// line (size or SHA-256) is an input data error: it changed after the
/// producer described it, and shipping it would archive the wrong bytes.
/// A line with an empty `sha256` (folder mode) takes the hash as read.
pub fn prepare(line: &FileLine, shape: &Shape) -> Result<Payload> {
    let src = line.local_path();
    let (path, temp, source_sha256) = match shape.encrypt {
        Some(recipients) => {
            let tmp = tempfile::Builder::new()
                .prefix(".ship-age-")
                .tempfile_in(shape.tmp_dir)
                .with_context(|| {
                    format!("creating a temporary file in {}", shape.tmp_dir.display())
                })?;
            let (tmp_file, tmp_path) = tmp.into_parts();
            let mut w = std::io::BufWriter::with_capacity(256 * 1024, tmp_file);
            let (_cipher, (plain_bytes, plain_sha)) = recipients.encrypt_file(&src, &mut w)?;
            drop(w);
            check_against_line(line, &src, plain_bytes, &plain_sha)?;
            (tmp_path.to_path_buf(), Some(tmp_path), plain_sha)
        }
        None => (src.clone(), None, String::new()),
    };
    let size = std::fs::metadata(&path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    let mut payload = Payload {
        path,
        bytes: size,
        sha256: String::new(),
        source_sha256,
        small: None,
        parts: None,
        _temp: temp,
    };
    if size > shape.multipart_threshold {
        let (parts, sha) = hash_parts(&payload.path, size, (shape.part_size_for)(size))?;
        payload.parts = Some(parts);
        payload.sha256 = sha;
    } else {
        let data = std::fs::read(&payload.path)
            .with_context(|| format!("reading {}", payload.path.display()))?;
        payload.sha256 = archive_core::hash::sha256_hex(&data);
        payload.bytes = data.len() as u64;
        payload.small = Some(Bytes::from(data));
    }
    if shape.encrypt.is_none() {
        check_against_line(line, &src, payload.bytes, &payload.sha256)?;
        payload.source_sha256 = payload.sha256.clone();
    }
    Ok(payload)
}

impl Payload {
    /// The whole content of a single-PUT payload.
    pub async fn read_small(&self) -> Result<Bytes> {
        self.small
            .clone()
            .context("internal: payload was not read for a single PUT")
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
fn hash_parts(path: &Path, size: u64, part_size: u64) -> Result<(Vec<PartDigest>, String)> {
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
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
