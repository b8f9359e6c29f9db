//! One file line's journey: plan its key and line, read and verify its
//! bytes, put them at the destination, judge the answer (uploaded, skipped,
//! conflict, stale), keep them in the fallback when S3 is down, and remove
//! a drained spool file once it is safe. Never fails: the line says what
//! happened, the trouble sets the exit code.

use crate::budget::MemoryBudget;
use crate::encrypt::Recipients;
use crate::fallback::Fallback;
use crate::fsafe;
use crate::model::{
    Corrupt, Destination, Done, Existing, Put, PutFailure, PutOptions, Status, Stored, Trouble,
};
use crate::payload::{self, Payload, Shape};
use crate::s3::S3Target;
use crate::spool::Record;
use archive_core::{FileLine, ObjectLine, ObjectStatus};
use archive_s3::ErrorKind;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::OwnedSemaphorePermit;

/// Everything the per-file tasks share.
pub struct Shared {
    pub dest: Destination,
    pub opts: PutOptions,
    pub s3: Option<S3Target>,
    pub fallback: Option<Fallback>,
    pub recipients: Option<Recipients>,
    pub tmp_dir: PathBuf,
    pub dry_run: bool,
    /// Draining this spool: remove each file once it is safe in S3.
    pub drain: Option<PathBuf>,
    /// File content in memory (small files read whole, parts in flight).
    pub budget: MemoryBudget,
}

/// Ship one file line, read under `reading_slot` (one of `--jobs`).
pub async fn ship_one(
    sh: Arc<Shared>,
    mut file: FileLine,
    reading_slot: OwnedSemaphorePermit,
) -> Done {
    let (mut line, class) = plan(&sh, &file);
    if sh.dry_run {
        return planned(line).await;
    }
    let payload = match prepare(&sh, &file).await {
        Ok(mut p) => {
            p.reading_slot = Some(reading_slot).into();
            Arc::new(p)
        }
        Err(done) => return done(line),
    };
    if file.sha256.is_empty() {
        file.sha256 = payload.source_sha256.clone();
        line.file.sha256 = file.sha256.clone();
    }
    if sh.recipients.is_some() {
        let extra = &mut line.file.extra;
        extra.insert("encryption".into(), "age".into());
        extra.insert("object_bytes".into(), payload.bytes.into());
        extra.insert("object_sha256".into(), payload.sha256.clone().into());
    }
    let key = line.key.clone();
    match put(&sh, &line, &payload, class.as_deref()).await {
        // A local copy is hashed as it is written, so only S3 parts can differ.
        Ok(Put::Written(stored)) if sh.s3.is_some() && payload.source_changed() => {
            source_changed_after_put(&sh, line, &stored).await
        }
        Ok(put) => {
            let done = judge(line, put, &payload);
            forget_drained(&sh, &file, &key, &done, &payload);
            done
        }
        Err(e) if e.corrupt.is_none() && sh.s3.as_ref().is_some_and(|s| s.fatal().is_some()) => {
            // The run stops with one message for all (run.rs): not one per file.
            line.error = Some(e.failure.message);
            Done::new(line, Status::Failed, Trouble::Config)
        }
        Err(e)
            if matches!(e.failure.kind, ErrorKind::Transient { .. }) && sh.fallback.is_some() =>
        {
            keep_in_fallback(sh.clone(), line, key, payload, e.failure.message).await
        }
        Err(e) => put_failed(line, e, &payload),
    }
}

/// The key, the object line as planned, and the storage class.
fn plan(sh: &Shared, file: &FileLine) -> (ObjectLine, Option<String>) {
    let is_manifest = file.extra.get("manifest") == Some(&Value::Bool(true));
    let mut key = sh.dest.key(&file.path);
    if sh.recipients.is_some() {
        key.push_str(".age");
    }
    let class = match &sh.dest {
        Destination::S3(_) if is_manifest => Some(sh.opts.manifest_storage_class.clone()),
        Destination::S3(_) => sh.opts.storage_class.clone(),
        Destination::Local(..) => None,
    };
    let mut line = ObjectLine {
        file: file.clone(),
        url: sh.dest.url(&key),
        key,
        etag: None,
        version_id: None,
        checksum_sha256: None,
        storage_class: sh
            .dest
            .is_s3()
            .then(|| class.clone().unwrap_or_else(|| "STANDARD".into())),
        status: ObjectStatus::Planned,
        error: None,
    };
    add_settings(&mut line, &sh.opts);
    (line, class)
}

/// A symlink met by a walk: reported on its line, never followed.
pub fn symlink(sh: &Shared, file: FileLine) -> Done {
    let (mut line, _) = plan(sh, &file);
    line.error = Some("symlink".into());
    eprintln!(
        "ship: {}: is a symlink; not followed",
        file.local_path().display()
    );
    Done::new(line, Status::Skipped, Trouble::None)
}

async fn planned(mut line: ObjectLine) -> Done {
    if line.file.sha256.is_empty() {
        // Folder mode: reading is not a change, and the plan is more useful with it.
        let f = line.file.clone();
        let hashed = tokio::task::spawn_blocking(move || {
            let file = fsafe::open_file(std::path::Path::new(&f.root), &f.path)?;
            archive_core::hash::sha256_reader(file)
        })
        .await;
        if let Ok(Ok((_, h))) = hashed {
            line.file.sha256 = h;
        }
    }
    Done::new(line, Status::Planned, Trouble::None)
}

type Finish = Box<dyn FnOnce(ObjectLine) -> Done + Send>;

/// Read and check the bytes; on failure, how to finish the line.
async fn prepare(sh: &Arc<Shared>, file: &FileLine) -> Result<Payload, Finish> {
    // A small file is held whole until it is sent: its share of memory
    // first (the line's size; a file that grew is refused when read).
    let held = match file.bytes <= sh.opts.multipart_threshold {
        true => Some(sh.budget.take(file.bytes).await),
        false => None,
    };
    let (sh, file) = (sh.clone(), file.clone());
    let prepared = tokio::task::spawn_blocking(move || {
        let part_size_for = |n: u64| sh.opts.part_size_for(n);
        payload::prepare(
            &file,
            &Shape {
                multipart_threshold: sh.opts.multipart_threshold,
                part_size_for: &part_size_for,
                encrypt: sh.recipients.as_ref(),
                tmp_dir: &sh.tmp_dir,
                hash_while_sending: sh.s3.is_some(),
            },
        )
    })
    .await;
    match prepared {
        Ok(Ok(mut p)) => {
            p.held = held;
            Ok(p)
        }
        Ok(Err(e)) if fsafe::symlink_in(&e).is_some() => {
            let why = fsafe::symlink_in(&e)
                .map(|s| s.to_string())
                .unwrap_or_default();
            Err(Box::new(move |mut line: ObjectLine| {
                eprintln!("ship: {}/{why}", line.file.root);
                line.error = Some("symlink".into());
                Done::new(line, Status::Skipped, Trouble::None)
            }))
        }
        Ok(Err(e)) => {
            let trouble = match archive_core::exit::exit_code(&e) {
                archive_core::exit::DATA => Trouble::Data,
                _ => Trouble::Partial,
            };
            let msg = format!("{e:#}");
            Err(Box::new(move |line| failed(line, trouble, msg)))
        }
        Err(e) => {
            let msg = format!("reading the file: {e}");
            Err(Box::new(move |line| failed(line, Trouble::Partial, msg)))
        }
    }
}

async fn put(
    sh: &Arc<Shared>,
    line: &ObjectLine,
    payload: &Arc<Payload>,
    class: Option<&str>,
) -> Result<Put, PutFailure> {
    match &sh.dest {
        Destination::Local(dir, _) => {
            let (dir, key, p, clobber) = (
                dir.clone(),
                line.key.clone(),
                payload.clone(),
                sh.opts.clobber,
            );
            let stored =
                tokio::task::spawn_blocking(move || crate::local::store(&dir, &key, &p, clobber))
                    .await;
            let message = match stored {
                Ok(Ok(put)) => return Ok(put),
                Ok(Err(e)) if fsafe::symlink_in(&e).is_some() => {
                    format!("{e:#}; not written through")
                }
                Ok(Err(e)) => format!("{e:#}"),
                Err(e) => e.to_string(),
            };
            Err(archive_s3::S3Failure::local(ErrorKind::Permanent, message).into())
        }
        Destination::S3(_) => {
            let s3 = sh.s3.as_ref().expect("an S3 target outside dry runs");
            let spooled_at = sh.drain.as_ref().and_then(|_| spooled_at(&line.file));
            s3.put(&line.key, payload, class, spooled_at).await
        }
    }
}

fn spooled_at(file: &FileLine) -> Option<chrono::DateTime<chrono::Utc>> {
    let s = file.extra.get("spooled_at")?.as_str()?;
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.to_utc())
}

/// What the destination's answer means for this line.
fn judge(mut line: ObjectLine, put: Put, payload: &Payload) -> Done {
    match put {
        Put::Written(stored) => {
            record(&mut line, stored);
            Done::new(line, Status::Uploaded, Trouble::None)
        }
        Put::Exists(existing) => {
            let same = existing
                .source_sha256
                .as_deref()
                .map(|s| s == payload.source_sha256);
            let changed = line.file.extra.get("changed") == Some(&Value::Bool(true));
            describe_existing(&mut line, &existing);
            match same {
                Some(true) => Done::new(line, Status::Skipped, Trouble::None),
                Some(false) => conflict(line, existing.sha256.as_deref()),
                None if changed => conflict(line, None),
                None => {
                    line.error =
                        Some("exists; not compared (its SHA-256 could not be read)".into());
                    Done::new(line, Status::Skipped, Trouble::None)
                }
            }
        }
        Put::Stale(existing) => {
            let modified = existing
                .last_modified
                .map(crate::spool::rfc3339)
                .unwrap_or_default();
            describe_existing(&mut line, &existing);
            let spooled = line
                .file
                .extra
                .get("spooled_at")
                .and_then(|v| v.as_str())
                .unwrap_or("?");
            let msg = format!(
                "the object at the key (modified {modified}) is newer than this copy (spooled {spooled}); kept in the spool"
            );
            eprintln!("ship: {}: {msg}", line.key);
            line.error = Some(msg);
            Done::new(line, Status::Stale, Trouble::Partial)
        }
    }
}

fn describe_existing(line: &mut ObjectLine, e: &Existing) {
    line.etag = e.etag.clone();
    line.version_id = e.version_id.clone();
    line.checksum_sha256 = e.sha256.clone();
    if let Some(c) = &e.s3_checksum {
        line.file
            .extra
            .insert("s3_checksum".into(), c.clone().into());
    }
}

fn conflict(mut line: ObjectLine, theirs: Option<&str>) -> Done {
    let msg = match theirs {
        Some(h) => format!(
            "the key exists with other content (sha256 {h}); not replaced (no clobber: use --update to replace changed objects)"
        ),
        None => "the key exists and this line is marked changed; not replaced (no clobber: use --update)".to_string(),
    };
    eprintln!(
        "ship: {}: conflict: {} {msg}",
        line.key,
        line.file.local_path().display()
    );
    line.error = Some(msg);
    Done::new(line, Status::Conflict, Trouble::Partial)
}

/// The source changed while its parts were sent: what S3 holds may not be
/// what was hashed, so the object this run created is removed.
async fn source_changed_after_put(sh: &Shared, mut line: ObjectLine, stored: &Stored) -> Done {
    let s3 = sh.s3.as_ref().expect("only S3 puts are checked");
    let corrupt = s3.discard(&line.key, stored.version_id.as_deref()).await;
    line.version_id = stored.version_id.clone();
    let failure = archive_s3::S3Failure::local(
        ErrorKind::Permanent,
        format!(
            "{}: changed while it was uploaded",
            line.file.local_path().display()
        ),
    );
    corrupt_failed(line, failure, corrupt, true)
}

fn put_failed(mut line: ObjectLine, e: PutFailure, payload: &Payload) -> Done {
    if payload.differed() {
        // Read once while sending: the bytes were not the line's. The upload
        // was aborted before completion, so no object exists.
        return failed(line, Trouble::Data, e.failure.message);
    }
    let changed = payload.source_changed();
    match e.corrupt {
        Some(c) => corrupt_failed(line, e.failure, c, changed),
        None if changed => {
            let msg = format!(
                "{}: changed while it was uploaded ({})",
                line.file.local_path().display(),
                e.failure.message
            );
            failed(line, Trouble::Data, msg)
        }
        None => {
            let trouble = match (line.url.starts_with("file://"), e.failure.exit_code()) {
                (true, _) => Trouble::Partial,
                (false, archive_core::exit::USAGE) => Trouble::Config,
                _ => Trouble::Remote,
            };
            line.error = None;
            failed(line, trouble, e.failure.message)
        }
    }
}

/// A checksum mismatch: the object is gone (exit 3 when the source changed,
/// else 4), or it stays under Object Lock, tagged (exit 4).
fn corrupt_failed(
    mut line: ObjectLine,
    failure: archive_s3::S3Failure,
    c: Corrupt,
    source_changed: bool,
) -> Done {
    let (what, trouble) = match &c {
        Corrupt::Deleted if source_changed => {
            ("deleted the object version it created", Trouble::Data)
        }
        Corrupt::Deleted => ("deleted the object version it created", Trouble::Remote),
        Corrupt::Tagged { .. } => (
            "could not delete it (Object Lock?): tagged integrity=failed",
            Trouble::Remote,
        ),
        Corrupt::Left { .. } => (
            "could neither delete nor tag it: a corrupt object is left",
            Trouble::Remote,
        ),
    };
    if let Corrupt::Tagged { version_id } | Corrupt::Left { version_id } = &c {
        line.version_id = version_id.clone();
        line.file.extra.insert("integrity".into(), "failed".into());
    }
    let msg = match source_changed {
        true => format!(
            "{} (the file changed while it was uploaded); {what}",
            failure.message
        ),
        false => format!("{}; {what}", failure.message),
    };
    failed(line, trouble, msg)
}

/// Draining: remove the spooled file (and its record) once the object at
/// its key is this content, verified; never anything else (`fsafe`).
fn forget_drained(sh: &Shared, file: &FileLine, key: &str, done: &Done, payload: &Payload) {
    let Some(spool) = &sh.drain else { return };
    if !matches!(done.status, Status::Uploaded | Status::Skipped)
        || done.line.checksum_sha256.is_none()
    {
        if done.status == Status::Skipped {
            eprintln!(
                "ship: {key}: exists in the bucket; kept {}",
                file.local_path().display()
            );
        }
        return;
    }
    match fsafe::remove_file(spool, &file.path, payload.source_signature()) {
        Ok(true) => Record::remove(spool, &file.path),
        Ok(false) => eprintln!(
            "ship: {}: replaced since it was read; kept",
            file.local_path().display()
        ),
        Err(e) => eprintln!("ship: {}: not removed: {e}", file.local_path().display()),
    }
}

async fn keep_in_fallback(
    sh: Arc<Shared>,
    mut line: ObjectLine,
    key: String,
    payload: Arc<Payload>,
    s3_error: String,
) -> Done {
    let kept = tokio::task::spawn_blocking(move || {
        sh.fallback
            .as_ref()
            .expect("checked by the caller")
            .keep(&key, &payload)
    })
    .await;
    match kept {
        Ok(Ok(url)) => {
            line.url = url;
            line.error = Some(s3_error);
            Done::new(line, Status::Fallback, Trouble::Partial)
        }
        Ok(Err(e)) => failed(
            line,
            Trouble::Remote,
            format!("{s3_error}; and the fallback failed: {e:#}"),
        ),
        Err(e) => failed(line, Trouble::Remote, format!("{s3_error}; fallback: {e}")),
    }
}

fn record(line: &mut ObjectLine, stored: Stored) {
    line.etag = stored.etag;
    line.version_id = stored.version_id;
    line.checksum_sha256 = stored.checksum_sha256;
    if let Some(c) = stored.s3_checksum {
        line.file.extra.insert("s3_checksum".into(), c.into());
    }
}

/// Settings worth auditing later, copied into every object line.
fn add_settings(line: &mut ObjectLine, o: &PutOptions) {
    let extra = &mut line.file.extra;
    if let Some(s) = &o.sse {
        extra.insert("sse".into(), s.clone().into());
    }
    if let Some(m) = &o.lock_mode {
        extra.insert("object_lock_mode".into(), m.clone().into());
    }
    if let Some(t) = o.retain_until {
        extra.insert(
            "retain_until".into(),
            t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true).into(),
        );
    }
    if o.legal_hold {
        extra.insert("legal_hold".into(), true.into());
    }
}

fn failed(mut line: ObjectLine, trouble: Trouble, error: String) -> Done {
    eprintln!("ship: error: {}: {error}", line.file.path);
    line.error = Some(error);
    Done::new(line, Status::Failed, trouble)
}
