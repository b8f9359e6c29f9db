//! The run's engine: take items from the source, keep up to `--jobs` files
//! in flight, print each object line as its file finishes, and stop cleanly
//! on Ctrl-C, SIGTERM or a closed stdout, aborting the multipart uploads
//! still open.

use crate::job::{self, Shared};
use crate::model::Done;
use crate::report::{Progress, Tally};
use crate::s3::S3Target;
use crate::sources::Item;
use anyhow::Result;
use archive_core::io::LineOut;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

/// How the loop ended.
pub struct Ended {
    pub tally: Tally,
    pub interrupted: bool,
}

/// Printing and counting finished lines.
struct Output {
    out: LineOut,
    tally: Tally,
    progress: Progress,
}

impl Output {
    fn emit(&mut self, done: &Done, s3: Option<&S3Target>) -> std::io::Result<()> {
        self.tally.add(done);
        let sent = s3.map_or(self.tally.local_bytes, |s| {
            s.bytes_sent.load(Ordering::Relaxed)
        });
        self.progress.update(&self.tally, sent);
        self.out.json(&done.to_json())
    }
}

/// Files in flight per reading slot: besides the `jobs` being read, the
/// others have every byte read and wait on S3 for their last parts and
/// their completion (their memory is the budget's, so only handles and
/// open uploads are bounded here).
const COMPLETING_PER_JOB: usize = 4;

/// Ship every item `rx` yields, `jobs` files read at a time.
pub async fn drive(
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<Item>,
    jobs: usize,
) -> Result<Ended> {
    let mut o = Output {
        out: LineOut::new(),
        tally: Tally::default(),
        progress: Progress::new(shared.dry_run),
    };
    let mut tasks: JoinSet<Done> = JoinSet::new();
    let mut input_open = true;
    let interrupt = interrupted();
    tokio::pin!(interrupt);
    let mut was_interrupted = false;
    let mut output_error: Option<std::io::Error> = None;
    let s3 = shared.s3.as_ref();
    let mut redraw = tokio::time::interval(std::time::Duration::from_millis(250));
    let reading = Arc::new(Semaphore::new(jobs));
    let mut slot: Option<OwnedSemaphorePermit> = None;
    let max_tasks = jobs.saturating_mul(COMPLETING_PER_JOB);
    while input_open || !tasks.is_empty() {
        tokio::select! {
            _ = redraw.tick() => {
                if let Some(s3) = s3 {
                    o.progress.sent(s3.bytes_sent.load(Ordering::Relaxed));
                }
            },
            free = reading.clone().acquire_owned(), if input_open && slot.is_none() => {
                slot = Some(free.expect("the reading semaphore is never closed"));
            },
            item = rx.recv(), if input_open && slot.is_some() && tasks.len() < max_tasks => match item {
                None => input_open = false,
                Some(Item::Bad(e)) => {
                    if archive_core::exit::exit_code(&e) == archive_core::exit::USAGE {
                        return Err(e);
                    }
                    eprintln!("ship: error: {e:#}");
                    o.tally.bad_lines += 1;
                }
                Some(Item::Line(line)) => {
                    let (sh, slot) = (shared.clone(), slot.take().expect("the branch needs a slot"));
                    tasks.spawn(async move { job::ship_one(sh, *line, slot).await });
                }
                Some(Item::Symlink(line)) => {
                    if let Err(e) = o.emit(&job::symlink(&shared, *line), s3) {
                        output_error = Some(e);
                        break;
                    }
                }
            },
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                let done = match done {
                    Ok(d) => d,
                    Err(e) => {
                        // Still abort what is in flight before failing.
                        output_error = Some(std::io::Error::other(format!("an upload task panicked: {e}")));
                        break;
                    }
                };
                if let Err(e) = o.emit(&done, s3) {
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
        }
    }
    if output_error.is_none() {
        output_error = o.out.flush().err();
    }
    if was_interrupted || output_error.is_some() {
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        if let Some(s3) = s3 {
            abort_in_flight(s3).await;
        }
    }
    o.progress.finish();
    if let Some(e) = output_error {
        return Err(anyhow::Error::new(e).context("stopped before every line was written"));
    }
    Ok(Ended {
        tally: o.tally,
        interrupted: was_interrupted,
    })
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
