//! One `ship` run: read file lines, put each file at its key with up to
//! `--jobs` files in flight, print one object line per object, and end with
//! a summary and the documented exit code.

use crate::args::ShipArgs;
use crate::dest::{join_key, Destination};
use crate::encrypt::Recipients;
use crate::fallback::Fallback;
use crate::options::{Clobber, PutOptions};
use crate::payload::{self, Payload, Shape};
use crate::retry::{ErrorKind, RetryPolicy};
use crate::s3::{S3Target, Stored};
use crate::sources::{self, Item};
use anyhow::{Context, Result};
use archive_core::io::LineOut;
use archive_core::retry::Backoff;
use archive_core::{Failure, FileLine, ObjectLine, ObjectStatus, Outcome};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// Everything the per-file tasks share.
struct Shared {
    dest: Destination,
    opts: PutOptions,
    s3: Option<S3Target>,
    fallback: Option<Fallback>,
    recipients: Option<Recipients>,
    tmp_dir: PathBuf,
    dry_run: bool,
    /// Draining a fallback directory: remove each file once it is safe in S3.
    draining: bool,
}

/// Why an object was not done, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trouble {
    None,
    /// The file does not match its line (exit 3).
    Data,
    /// S3 failed after retries (exit 4).
    Remote,
    /// Kept in the fallback, or a local write failed (exit 1).
    Partial,
}

struct Done {
    line: ObjectLine,
    trouble: Trouble,
}

pub fn run(args: ShipArgs) -> Result<Outcome> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(run_async(args))
}

async fn run_async(args: ShipArgs) -> Result<Outcome> {
    let started = Instant::now();
    let (source_dir, dest_arg) = match args.targets.as_slice() {
        [d] => (None, d.as_str()),
        [s, d] => (Some(PathBuf::from(s)), d.as_str()),
        _ => return Err(Failure::usage("expected DEST or SRC_DIR DEST")),
    };
    let mut dest = Destination::parse(dest_arg)?;
    let opts = PutOptions::from_args(&args)?;
    check_combinations(&args, &dest, &opts, source_dir.is_some())?;
    let recipients = if args.encrypt_to.is_empty() {
        None
    } else {
        Some(Recipients::parse(&args.encrypt_to)?)
    };

    let (tx, mut rx) = mpsc::channel::<Item>(1024);
    // Kept alive until the end: a drained ZIP is unpacked here.
    let mut _unzipped: Option<tempfile::TempDir> = None;
    let reader = if let Some(src) = &source_dir {
        if !src.is_dir() {
            return Err(Failure::usage(format!(
                "{}: not a directory",
                src.display()
            )));
        }
        let name = std::fs::canonicalize(src)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "folder".into());
        let sub = sources::expand_template(&args.prefix_template, chrono::Utc::now(), &name);
        dest = dest.with_subprefix(&sub);
        sources::walk(src.clone(), tx)
    } else if let Some(drain) = &args.drain {
        let dir = if drain.is_file() {
            let t = tempfile::Builder::new().prefix("ship-drain-").tempdir()?;
            crate::fallback::unzip(drain, t.path()).map_err(|e| e.context(Failure::Usage))?;
            let p = t.path().to_path_buf();
            _unzipped = Some(t);
            p
        } else if drain.is_dir() {
            drain.clone()
        } else {
            return Err(Failure::usage(format!(
                "--drain {}: no such directory or ZIP file",
                drain.display()
            )));
        };
        sources::walk(dir, tx)
    } else {
        sources::lines(args.input.clone(), tx)
    };

    let s3 = match (&dest, args.dry_run) {
        (Destination::S3 { bucket, .. }, false) => Some(S3Target {
            client: crate::options::s3_client(args.endpoint_url.as_deref(), args.region.as_deref())
                .await?,
            bucket: bucket.clone(),
            retry: RetryPolicy::new(Backoff {
                base: Duration::from_millis(args.retry_base_ms),
                cap: Duration::from_secs(30),
                max_attempts: args.max_attempts.max(1),
            }),
            opts: opts.clone(),
            active: Default::default(),
            unreachable: Default::default(),
            bytes_sent: Default::default(),
        }),
        _ => None,
    };
    let fallback = match (&args.fallback_dir, &args.fallback_zip) {
        (Some(d), _) => Some(Fallback::Dir(d.clone())),
        (None, Some(z)) => Some(Fallback::zip(z.clone())),
        _ => None,
    };
    let shared = Arc::new(Shared {
        dest: dest.clone(),
        opts,
        s3,
        fallback,
        recipients,
        tmp_dir: args.tmp_dir.clone().unwrap_or_else(std::env::temp_dir),
        dry_run: args.dry_run,
        draining: args.drain.is_some(),
    });

    let progress = Progress::new(args.dry_run);
    let mut out = LineOut::new();
    let mut tally = Tally::default();
    let mut tasks: JoinSet<Done> = JoinSet::new();
    let mut input_open = true;
    let interrupt = interrupted();
    tokio::pin!(interrupt);
    let mut was_interrupted = false;
    let mut output_error: Option<std::io::Error> = None;

    loop {
        if !input_open && tasks.is_empty() {
            break;
        }
        tokio::select! {
            item = rx.recv(), if input_open && tasks.len() < args.jobs => match item {
                None => input_open = false,
                Some(Item::Bad(e)) => {
                    if archive_core::exit::exit_code(&e) == archive_core::exit::USAGE {
                        return Err(e);
                    }
                    eprintln!("ship: error: {e:#}");
                    tally.bad_lines += 1;
                }
                Some(Item::Line(line)) => {
                    let sh = shared.clone();
                    tasks.spawn(async move { ship_one(sh, *line).await });
                }
            },
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                let done = done.context("an upload task panicked")?;
                tally.add(&done);
                progress.update(&tally, shared.s3.as_ref());
                if let Err(e) = out.json(&done.line) {
                    // The reader went away (or stdout failed): stop, but
                    // abort what is in flight first.
                    output_error = Some(e);
                    break;
                }
            },
            _ = &mut interrupt => {
                was_interrupted = true;
                break;
            },
            else => break,
        }
    }
    if output_error.is_none() {
        output_error = out.flush().err();
    }
    if was_interrupted || output_error.is_some() {
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        if let Some(s3) = &shared.s3 {
            abort_in_flight(s3).await;
        }
    }
    drop(reader);
    progress.finish();
    if let Some(e) = output_error {
        return Err(anyhow::Error::new(e).context("writing object lines to stdout"));
    }
    let shared = Arc::try_unwrap(shared)
        .map_err(|_| anyhow::anyhow!("internal: tasks still hold the run state"))?;
    if let Some(f) = shared.fallback {
        f.finish()?;
    }
    if shared.draining && !args.dry_run {
        if let Some(d) = args.drain.as_deref().filter(|d| d.is_dir()) {
            prune_empty_dirs(d);
        }
    }
    let retries = shared
        .s3
        .as_ref()
        .map_or(0, |s| s.retry.retries.load(Ordering::Relaxed));
    let bytes_sent = shared
        .s3
        .as_ref()
        .map_or(tally.local_bytes, |s| s.bytes_sent.load(Ordering::Relaxed));
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "ship: {} object(s) to {}: {} uploaded, {} skipped, {} fallback, {} failed, {} planned, {} bad line(s); {} bytes sent in {secs:.1}s, {retries} retries{}",
        tally.objects,
        dest_display(&dest),
        tally.uploaded,
        tally.skipped,
        tally.fallback,
        tally.failed,
        tally.planned,
        tally.bad_lines,
        bytes_sent,
        if was_interrupted { " (interrupted)" } else { "" }
    );
    if let Some(path) = &args.summary {
        let summary = json!({
            "tool": "ship",
            "dest": dest_display(&dest),
            "objects": tally.objects,
            "uploaded": tally.uploaded,
            "skipped": tally.skipped,
            "fallback": tally.fallback,
            "failed": tally.failed,
            "planned": tally.planned,
            "bad_lines": tally.bad_lines,
            "bytes_sent": bytes_sent,
            "retries": retries,
            "seconds": (secs * 1000.0).round() / 1000.0,
            "interrupted": was_interrupted,
            "dry_run": args.dry_run,
        });
        archive_core::atomic::write_file(path, format!("{summary}\n").as_bytes())?;
    }
    if was_interrupted {
        return Err(anyhow::Error::new(Failure::Interrupted));
    }
    tally.outcome()
}

fn check_combinations(
    args: &ShipArgs,
    dest: &Destination,
    opts: &PutOptions,
    folder: bool,
) -> Result<()> {
    if !dest.is_s3() {
        if opts.uses_s3_only_features() {
            return Err(Failure::usage(
                "--storage-class, --sse, --object-lock-mode and --legal-hold need an s3:// destination",
            ));
        }
        if args.fallback_dir.is_some() || args.fallback_zip.is_some() {
            return Err(Failure::usage(
                "--fallback-dir/--fallback-zip need an s3:// destination",
            ));
        }
    }
    if args.fallback_dir.is_some() && args.fallback_zip.is_some() {
        return Err(Failure::usage(
            "use one of --fallback-dir and --fallback-zip",
        ));
    }
    if args.drain.is_some() {
        if folder || args.input.is_some() {
            return Err(Failure::usage(
                "--drain takes only DEST (no SRC_DIR, no --input)",
            ));
        }
        if !args.encrypt_to.is_empty() {
            return Err(Failure::usage(
                "--drain uploads files as they are (already encrypted if they were); drop --encrypt-to",
            ));
        }
        if !dest.is_s3() {
            return Err(Failure::usage("--drain needs an s3:// destination"));
        }
    }
    if folder && args.input.is_some() {
        return Err(Failure::usage("--input and SRC_DIR cannot be combined"));
    }
    Ok(())
}

/// Ship one file; never fails, the object line says what happened.
async fn ship_one(sh: Arc<Shared>, mut file: FileLine) -> Done {
    let is_manifest = file.extra.get("manifest") == Some(&Value::Bool(true));
    let mut key = join_key(sh.dest.prefix(), &file.path);
    if sh.recipients.is_some() {
        key.push_str(".age");
    }
    let class = match &sh.dest {
        Destination::S3 { .. } if is_manifest => Some(sh.opts.manifest_storage_class.clone()),
        Destination::S3 { .. } => sh.opts.storage_class.clone(),
        Destination::Local(..) => None,
    };
    let mut line = ObjectLine {
        file: file.clone(),
        url: sh.dest.url(&key),
        key: key.clone(),
        etag: None,
        version_id: None,
        checksum_sha256: None,
        storage_class: match &sh.dest {
            Destination::S3 { .. } => Some(class.clone().unwrap_or_else(|| "STANDARD".into())),
            Destination::Local(..) => None,
        },
        status: ObjectStatus::Planned,
        error: None,
    };
    add_settings(&mut line, &sh);
    if sh.dry_run {
        if file.sha256.is_empty() {
            // Folder mode: reading is not a change, and the plan is more useful with it.
            let p = file.local_path();
            if let Ok(Ok((_, h))) =
                tokio::task::spawn_blocking(move || archive_core::hash::sha256_file(&p)).await
            {
                line.file.sha256 = h;
            }
        }
        return Done {
            line,
            trouble: Trouble::None,
        };
    }

    let prepared = {
        let sh = sh.clone();
        let file = file.clone();
        tokio::task::spawn_blocking(move || {
            let part_size_for = |n: u64| sh.opts.part_size_for(n);
            payload::prepare(
                &file,
                &Shape {
                    multipart_threshold: sh.opts.multipart_threshold,
                    part_size_for: &part_size_for,
                    encrypt: sh.recipients.as_ref(),
                    tmp_dir: &sh.tmp_dir,
                },
            )
        })
        .await
    };
    let payload = match prepared {
        Ok(Ok(p)) => Arc::new(p),
        Ok(Err(e)) => {
            let trouble = if archive_core::exit::exit_code(&e) == archive_core::exit::DATA {
                Trouble::Data
            } else {
                Trouble::Partial
            };
            return failed(line, trouble, format!("{e:#}"));
        }
        Err(e) => return failed(line, Trouble::Partial, format!("reading the file: {e}")),
    };
    if file.sha256.is_empty() {
        file.sha256 = payload.source_sha256.clone();
        line.file.sha256 = file.sha256.clone();
    }
    if sh.recipients.is_some() {
        line.file.extra.insert("encryption".into(), "age".into());
        line.file
            .extra
            .insert("object_bytes".into(), payload.bytes.into());
        line.file
            .extra
            .insert("object_sha256".into(), payload.sha256.clone().into());
    }

    let result = match &sh.dest {
        Destination::Local(dir, _) => {
            let (dir, key, p, clobber) =
                (dir.clone(), key.clone(), payload.clone(), sh.opts.clobber);
            match tokio::task::spawn_blocking(move || crate::local::store(&dir, &key, &p, clobber))
                .await
            {
                Ok(Ok(stored)) => Ok(stored),
                Ok(Err(e)) => return failed(line, Trouble::Partial, format!("{e:#}")),
                Err(e) => return failed(line, Trouble::Partial, e.to_string()),
            }
        }
        Destination::S3 { .. } => {
            let s3 = sh.s3.as_ref().expect("an S3 target outside dry runs");
            s3.put(&key, &payload, class.as_deref()).await
        }
    };
    match result {
        Ok(stored) => {
            record(&mut line, stored.clone());
            if sh.draining && (!stored.skipped || sh.opts.clobber == Clobber::Update) {
                let _ = std::fs::remove_file(file.local_path());
            } else if sh.draining {
                eprintln!(
                    "ship: {key}: exists in the bucket; kept {} (use --update to compare and remove)",
                    file.local_path().display()
                );
            }
            Done {
                line,
                trouble: Trouble::None,
            }
        }
        Err(e) => {
            let transient = matches!(e.kind, ErrorKind::Transient { .. });
            match (&sh.fallback, transient) {
                (Some(_), true) => {
                    keep_in_fallback(sh.clone(), line, key, payload, e.message).await
                }
                _ => failed(line, Trouble::Remote, e.message),
            }
        }
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
            line.status = ObjectStatus::Fallback;
            line.error = Some(s3_error);
            Done {
                line,
                trouble: Trouble::Partial,
            }
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
    line.status = if stored.skipped {
        ObjectStatus::Skipped
    } else {
        ObjectStatus::Uploaded
    };
    line.etag = stored.etag;
    line.version_id = stored.version_id;
    line.checksum_sha256 = stored.checksum_sha256;
    if let Some(c) = stored.s3_checksum {
        line.file.extra.insert("s3_checksum".into(), c.into());
    }
}

/// Settings worth auditing later, copied into every object line.
fn add_settings(line: &mut ObjectLine, sh: &Shared) {
    let o = &sh.opts;
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
    line.status = ObjectStatus::Failed;
    line.error = Some(error);
    Done { line, trouble }
}

/// Resolves on Ctrl-C or SIGTERM (cron's kill).
async fn interrupted() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
}

/// Abort every multipart upload the interrupted tasks left open.
async fn abort_in_flight(s3: &S3Target) {
    let open: Vec<(String, String)> = s3
        .active
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain()
        .collect();
    for (upload_id, key) in open {
        let r = tokio::time::timeout(Duration::from_secs(20), s3.abort(&key, &upload_id)).await;
        match r {
            Ok(Ok(())) => eprintln!("ship: {key}: aborted multipart upload {upload_id}"),
            Ok(Err(e)) => eprintln!("ship: {key}: abort of {upload_id} failed: {e}"),
            Err(_) => eprintln!("ship: {key}: abort of {upload_id} timed out"),
        }
    }
}

fn prune_empty_dirs(dir: &Path) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                prune_empty_dirs(&e.path());
                let _ = std::fs::remove_dir(e.path());
            }
        }
    }
}

fn dest_display(d: &Destination) -> String {
    match d {
        Destination::S3 { bucket, prefix } if prefix.is_empty() => format!("s3://{bucket}"),
        Destination::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
        Destination::Local(p, prefix) => p.join(prefix).display().to_string(),
    }
}

#[derive(Default)]
struct Tally {
    objects: u64,
    uploaded: u64,
    skipped: u64,
    fallback: u64,
    failed: u64,
    planned: u64,
    bad_lines: u64,
    local_bytes: u64,
    data_errors: u64,
    remote_errors: u64,
    partial: u64,
}

impl Tally {
    fn add(&mut self, d: &Done) {
        self.objects += 1;
        match d.line.status {
            ObjectStatus::Uploaded => {
                self.uploaded += 1;
                self.local_bytes += d.line.file.bytes;
            }
            ObjectStatus::Skipped => self.skipped += 1,
            ObjectStatus::Fallback => self.fallback += 1,
            ObjectStatus::Failed => self.failed += 1,
            ObjectStatus::Planned => self.planned += 1,
        }
        match d.trouble {
            Trouble::None => {}
            Trouble::Data => self.data_errors += 1,
            Trouble::Remote => self.remote_errors += 1,
            Trouble::Partial => self.partial += 1,
        }
    }

    /// Exit code precedence: remote (4) over data (3) over partial (1).
    fn outcome(&self) -> Result<Outcome> {
        if self.remote_errors > 0 {
            return Err(Failure::remote(format!(
                "{} object(s) failed at the destination after retries",
                self.remote_errors
            )));
        }
        if self.data_errors + self.bad_lines > 0 {
            return Err(Failure::data(format!(
                "{} bad input line(s), {} file(s) that do not match their line",
                self.bad_lines, self.data_errors
            )));
        }
        if self.partial > 0 {
            eprintln!(
                "ship: {} object(s) not at the destination ({} in the fallback)",
                self.partial, self.fallback
            );
            return Ok(Outcome::Partial);
        }
        Ok(Outcome::Complete)
    }
}

/// A progress line on stderr, only when it is a terminal.
struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    fn new(dry_run: bool) -> Progress {
        if dry_run || !archive_core::io::stderr_is_terminal() {
            return Progress(None);
        }
        let pb = indicatif::ProgressBar::new_spinner();
        pb.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {elapsed} {pos} objects {msg}")
                .expect("a valid template"),
        );
        pb.enable_steady_tick(Duration::from_millis(200));
        Progress(Some(pb))
    }

    fn update(&self, t: &Tally, s3: Option<&S3Target>) {
        if let Some(pb) = &self.0 {
            pb.set_position(t.objects);
            let sent = s3.map_or(t.local_bytes, |s| s.bytes_sent.load(Ordering::Relaxed));
            pb.set_message(format!(
                "({} uploaded, {} skipped, {} failed) {}",
                t.uploaded,
                t.skipped,
                t.failed + t.fallback,
                indicatif::HumanBytes(sent)
            ));
        }
    }

    fn finish(&self) {
        if let Some(pb) = &self.0 {
            pb.finish_and_clear();
        }
    }
}
