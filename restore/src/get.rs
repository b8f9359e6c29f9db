//! `restore get`: for each file the manifests list, request a restore when
//! it is cold, or download it and keep it only when every checksum agrees:
//! the manifest's SHA-256 of the plaintext, ship's `x-amz-meta-sha256` of
//! the stored bytes, and S3's own `x-amz-checksum-sha256` (whole-object, or
//! the composite of a multipart upload, recomputed at the part boundaries).

use crate::catalog::decrypting_reader;
use crate::model::{GetStatus, Keys, RestoreState, Wanted};
use crate::remote::Remote;
use anyhow::{Context, Result};
use archive_core::atomic::AtomicFile;
use archive_core::hash::HashingWriter;
use archive_s3::checksum::{etag_parts, Stored, StreamDigests};
use archive_s3::ErrorKind;
use serde_json::{json, Map, Value};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// What every download needs.
pub struct GetCtx<'a> {
    pub remote: &'a Remote,
    pub dir: &'a Path,
    pub tier: &'a str,
    pub days: i32,
    pub dry_run: bool,
    pub keys: &'a Keys,
}

/// How many times a download whose body broke off is started again.
const DOWNLOAD_ATTEMPTS: u32 = 3;

/// One file: its object line and how it ended.
pub async fn get_one(ctx: &GetCtx<'_>, w: &Wanted, listed: bool) -> (GetStatus, Value) {
    let mut line = Map::new();
    line.insert("root".into(), json!(ctx.dir.display().to_string()));
    line.insert("path".into(), json!(w.rel));
    line.insert("url".into(), json!(ctx.remote.url(&w.key)));
    line.insert("key".into(), json!(w.key));
    if let Some(m) = &w.manifest {
        line.insert("manifest".into(), json!(m));
    }
    let status = match get_checked(ctx, w, listed, &mut line).await {
        Ok(s) => s,
        Err(e) => {
            line.insert("error".into(), json!(format!("{e:#}")));
            GetStatus::Failed
        }
    };
    line.insert(
        "status".into(),
        serde_json::to_value(status).expect("a status serialises"),
    );
    (status, Value::Object(line))
}

async fn get_checked(
    ctx: &GetCtx<'_>,
    w: &Wanted,
    listed: bool,
    line: &mut Map<String, Value>,
) -> Result<GetStatus> {
    let local = local_path(ctx.dir, &w.rel)?;
    if !listed {
        line.insert(
            "error".into(),
            json!("the manifest lists it; the destination does not hold it"),
        );
        return Ok(GetStatus::Missing);
    }
    if let (Some(sha), Some(have)) = (&w.sha256, local_sha256(&local)?) {
        if &have == sha {
            line.insert("sha256".into(), json!(have));
            return Ok(GetStatus::Present);
        }
    }
    // One GET answers what a HEAD would; only a cold object (or a dry run,
    // which downloads nothing) needs the HEAD and the restore logic.
    if !ctx.dry_run {
        match download_with_retries(ctx, w, &local, line).await {
            Err(e) if is_cold_error(&e) => {}
            other => return other,
        }
    }
    let Some(head) = ctx.remote.head(&w.key).await.map_err(|e| e.into_error())? else {
        line.insert(
            "error".into(),
            json!("the object vanished after the listing"),
        );
        return Ok(GetStatus::Missing);
    };
    line.insert("storage_class".into(), json!(head.storage_class));
    line.insert("version_id".into(), json!(head.version_id));
    line.insert("restore".into(), serde_json::to_value(&head.restore)?);
    match &head.restore {
        RestoreState::Archived if ctx.dry_run => {
            line.insert("action".into(), json!("restore"));
            return Ok(GetStatus::Planned);
        }
        RestoreState::Archived => {
            let started = ctx
                .remote
                .request_restore(&w.key, ctx.tier, ctx.days)
                .await
                .map_err(|e| e.into_error())?;
            return Ok(if started {
                GetStatus::RestoreRequested
            } else {
                GetStatus::Restoring
            });
        }
        RestoreState::InProgress => return Ok(GetStatus::Restoring),
        RestoreState::Instant | RestoreState::Restored { .. } => {}
    }
    if ctx.dry_run {
        line.insert("action".into(), json!("download"));
        return Ok(GetStatus::Planned);
    }
    match download_with_retries(ctx, w, &local, line).await {
        // Restored copy expired between the HEAD and the GET.
        Err(e) if is_cold_error(&e) => Ok(GetStatus::Restoring),
        other => other,
    }
}

async fn download_with_retries(
    ctx: &GetCtx<'_>,
    w: &Wanted,
    local: &Path,
    line: &mut Map<String, Value>,
) -> Result<GetStatus> {
    let mut attempt = 1;
    loop {
        match download(ctx, w, local, line).await {
            Err(e) if attempt < DOWNLOAD_ATTEMPTS && is_transient(&e) => {
                eprintln!("restore: {}: starting the download again: {e:#}", w.key);
                attempt += 1;
            }
            other => return other,
        }
    }
}

fn is_cold_error(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<archive_s3::S3Failure>()
            .is_some_and(crate::remote::is_cold)
    })
}

fn is_transient(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<archive_s3::S3Failure>()
            .is_some_and(|f| matches!(f.kind, ErrorKind::Transient { .. }))
    })
}

/// `rel` under `dir`, refusing any path that leaves it or passes through a
/// symlink that is already there.
fn local_path(dir: &Path, rel: &str) -> Result<PathBuf> {
    let path = archive_core::naming::join_under(dir, rel)
        .map_err(|e| archive_core::Failure::data(format!("{e:#}")))?;
    let mut at = dir.to_path_buf();
    for seg in rel.split('/') {
        at.push(seg);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => anyhow::bail!(
                "{} is a symlink: refusing to write through it",
                at.display()
            ),
            _ => {}
        }
    }
    Ok(path)
}

/// SHA-256 of a regular file already there, None when there is none.
fn local_sha256(path: &Path) -> Result<Option<String>> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => Ok(Some(archive_core::hash::sha256_file(path)?.1)),
        _ => Ok(None),
    }
}

async fn download(
    ctx: &GetCtx<'_>,
    w: &Wanted,
    local: &Path,
    line: &mut Map<String, Value>,
) -> Result<GetStatus> {
    let Some(opened) = ctx.remote.open(&w.key).await.map_err(anyhow::Error::new)? else {
        line.insert(
            "error".into(),
            json!("the object vanished after the listing"),
        );
        return Ok(GetStatus::Missing);
    };
    let head = opened.head.clone();
    let head = &head;
    line.insert("storage_class".into(), json!(head.storage_class));
    line.insert("version_id".into(), json!(head.version_id));
    line.insert("restore".into(), serde_json::to_value(&head.restore)?);
    let multipart = head.etag.as_deref().and_then(etag_parts).is_some()
        || head
            .checksum_sha256
            .as_deref()
            .is_some_and(|c| c.contains('-'));
    let part_size = if multipart {
        ctx.remote
            .part_size(&w.key)
            .await
            .map_err(|e| e.into_error())?
            .map(|(s, _)| s)
    } else {
        None
    };
    let mut stored = Landing::new(local, w.encrypted)?;
    let mut digests = StreamDigests::new(part_size);
    let bytes = {
        let file = stored.file();
        // Disk writes leave the async worker to others while they block, so
        // a slow disk does not stall every download in flight.
        opened
            .drain(&w.key, &mut |chunk| {
                digests.update(chunk);
                tokio::task::block_in_place(|| file.write_all(chunk))
            })
            .await
            .map_err(anyhow::Error::new)?
    };
    let (stored_sha, composite) = digests.finish();
    let landed = Landed {
        stored,
        bytes,
        stored_sha,
        composite,
    };
    tokio::task::block_in_place(|| check_and_keep(ctx, w, head, local, line, landed))
}

/// What came down, before it was checked.
struct Landed {
    stored: Landing,
    bytes: u64,
    stored_sha: String,
    composite: Option<String>,
}

/// Every check the object allows; keep the file (fsync, rename) only when
/// all agree and at least one was made. Blocking work: decryption, fsync.
fn check_and_keep(
    ctx: &GetCtx<'_>,
    w: &Wanted,
    head: &crate::model::Head,
    local: &Path,
    line: &mut Map<String, Value>,
    landed: Landed,
) -> Result<GetStatus> {
    let Landed {
        mut stored,
        bytes,
        stored_sha,
        composite,
    } = landed;
    let mut checks = Vec::new();
    let mut problems = Vec::new();
    if bytes != head.bytes {
        problems.push(format!(
            "{bytes} bytes came down, the object has {}",
            head.bytes
        ));
    }
    if let Some(meta) = &head.meta_sha256 {
        agree(
            &mut checks,
            &mut problems,
            "x-amz-meta-sha256",
            meta,
            &stored_sha,
        );
    }
    if let Some(value) = &head.checksum_sha256 {
        match Stored::interpret(value, head.etag.as_deref())
            .and_then(|s| s.matches(Some(&stored_sha), composite.as_deref()))
        {
            Some(true) => checks.push("x-amz-checksum-sha256"),
            Some(false) => problems.push(format!(
                "x-amz-checksum-sha256 is {value}, the bytes give {}",
                composite.as_deref().unwrap_or(&stored_sha)
            )),
            None => {}
        }
    }
    let plain_sha = if let Landing::Cipher(cipher) = &mut stored {
        let identity = ctx
            .keys
            .identity
            .as_deref()
            .expect("encrypted wanted implies an identity");
        let (sha, out) = decrypt_to(&mut cipher.file, local, identity)?;
        if let Some(src) = &head.meta_source_sha256 {
            agree(
                &mut checks,
                &mut problems,
                "x-amz-meta-source-sha256",
                src,
                &sha,
            );
        }
        if let Some(m) = &w.sha256 {
            agree(&mut checks, &mut problems, "manifest", m, &sha);
        }
        (problems.is_empty() && !checks.is_empty()).then_some((sha, Some(out)))
    } else {
        if let Some(m) = &w.sha256 {
            agree(&mut checks, &mut problems, "manifest", m, &stored_sha);
        }
        (problems.is_empty() && !checks.is_empty()).then_some((stored_sha.clone(), None))
    };
    line.insert("bytes".into(), json!(bytes));
    line.insert("checks".into(), json!(checks));
    if !problems.is_empty() {
        anyhow::bail!("checksum mismatch, nothing kept: {}", problems.join("; "));
    }
    // A manifest copied from a directory has nothing above it to be
    // checked against (no stored checksum): it is the reference itself,
    // unless --public-key checked its signature.
    let plain_sha = plain_sha.or_else(|| {
        (problems.is_empty() && w.manifest.is_none() && ctx.remote.local.is_some() && !w.encrypted)
            .then(|| (stored_sha.clone(), None))
    });
    let Some((sha, plaintext)) = plain_sha else {
        anyhow::bail!(
            "nothing to verify it against (no manifest entry, no stored checksum): nothing kept"
        );
    };
    line.insert("sha256".into(), json!(sha));
    match (plaintext, stored) {
        (Some(out), _) => out.commit()?,
        (None, Landing::Plain(file)) => file.commit()?,
        (None, Landing::Cipher(_)) => unreachable!("ciphertext is always decrypted"),
    }
    Ok(GetStatus::Downloaded)
}

fn agree(
    checks: &mut Vec<&'static str>,
    problems: &mut Vec<String>,
    what: &'static str,
    want: &str,
    got: &str,
) {
    if want.eq_ignore_ascii_case(got) {
        checks.push(what);
    } else {
        problems.push(format!("{what} says {want}, the bytes give {got}"));
    }
}

/// Where the bytes of an object land: the final file's temporary, or (for
/// ciphertext to decrypt) a scratch file beside it, removed when dropped.
enum Landing {
    Plain(AtomicFile),
    Cipher(Scratch),
}

impl Landing {
    fn new(local: &Path, encrypted: bool) -> Result<Landing> {
        Ok(if encrypted {
            Landing::Cipher(Scratch::new(local)?)
        } else {
            Landing::Plain(AtomicFile::create(local)?)
        })
    }

    fn file(&mut self) -> &mut std::fs::File {
        match self {
            Landing::Plain(f) => f.file(),
            Landing::Cipher(s) => &mut s.file,
        }
    }
}

/// A read-write temporary file (named like every tool's temporaries, so a
/// `kill -9` leftover is swept by the next run).
struct Scratch {
    path: PathBuf,
    file: std::fs::File,
}

impl Scratch {
    fn new(local: &Path) -> Result<Scratch> {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let dir = local.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let name = local.file_name().unwrap_or_default().to_string_lossy();
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(archive_core::atomic::temp_name(&format!("{name}.age"), n));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        Ok(Scratch { path, file })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Decrypt the downloaded ciphertext into a new temporary file beside
/// `local`; returns the plaintext's SHA-256 and the uncommitted file.
fn decrypt_to(
    cipher: &mut std::fs::File,
    local: &Path,
    identity: &Path,
) -> Result<(String, AtomicFile)> {
    cipher.seek(SeekFrom::Start(0))?;
    let mut reader = decrypting_reader(std::io::BufReader::new(&*cipher), identity)?;
    let mut out = HashingWriter::new(AtomicFile::create(local)?);
    std::io::copy(&mut reader, &mut out)
        .with_context(|| format!("decrypting into {}", local.display()))?;
    let (file, _, sha) = out.finish();
    Ok((sha, file))
}
