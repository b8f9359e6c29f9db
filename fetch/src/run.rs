//! The phases in order: commit or status of the bookmarks, or one stream
//! run (context, stream, summary). Every error leaves here with the key
//! masked.

use crate::ctx::Ctx;
use crate::model::{Command, StreamConfig};
use crate::{bookmark, redact, report, streams};
use anyhow::Result;
use archive_core::io::LineOut;
use archive_core::Outcome;
use std::path::{Path, PathBuf};

/// Run a resolved command; `summary` is where the run summary goes (it is
/// written even when the command did not resolve).
pub fn run(summary: Option<PathBuf>, command: Result<Command>) -> Result<Outcome> {
    let result = match command {
        Ok(Command::Commit {
            root,
            dry_run,
            run_ids,
            streams,
        }) => commit(&root, dry_run, &bookmark::CommitFilter { run_ids, streams }),
        Ok(Command::Status { root }) => status(&root),
        Ok(Command::Stream(cfg)) => return stream(&cfg, summary.as_deref()),
        Err(e) => {
            let result = Err(redact::error(e));
            report::write(&report::start(false), &result, summary.as_deref())?;
            result
        }
    };
    result.map_err(redact::error)
}

fn commit(root: &Path, dry_run: bool, filter: &bookmark::CommitFilter) -> Result<Outcome> {
    let mut out = LineOut::new();
    let done = bookmark::commit_all(root, dry_run, filter)?;
    for p in &done {
        out.json(p)?;
    }
    out.flush()?;
    let verb = if dry_run {
        "would be promoted"
    } else {
        "promoted"
    };
    eprintln!(
        "fetch: commit: {} bookmark(s) {verb} in {}",
        done.len(),
        root.display()
    );
    Ok(Outcome::Complete)
}

fn status(root: &Path) -> Result<Outcome> {
    let mut out = LineOut::new();
    for line in bookmark::status_all(root)? {
        out.json(&line)?;
    }
    out.flush()?;
    Ok(Outcome::Complete)
}

/// Partial when items failed while the rest was done (files gone upstream,
/// a window lost to the retention): each is named on stderr, and the run
/// exits 1.
fn outcome(ctx: &Ctx) -> Outcome {
    let failures = &ctx.stats.failures;
    if failures.is_empty() {
        return Outcome::Complete;
    }
    eprintln!(
        "fetch: {}: {} problem(s), exit 1: {}",
        ctx.stream,
        failures.len(),
        redact::redact(&failures.join("; "))
    );
    Outcome::Partial
}

/// Set up the context, run the stream on a single-threaded runtime (one
/// request at a time per endpoint is what the rate limit allows anyway),
/// then write the summary, on failure too.
fn stream(cfg: &StreamConfig, summary: Option<&Path>) -> Result<Outcome> {
    let mut report = report::start(cfg.opts.dry_run);
    let mut ctx = match Ctx::new(cfg) {
        Ok(c) => c,
        Err(e) => {
            let result = Err(redact::error(e));
            report::write(&report, &result, summary)?;
            return result;
        }
    };
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(streams::run(&mut ctx, &cfg.stream)))
        .and_then(|()| ctx.finish())
        .map(|()| outcome(&ctx))
        .map_err(redact::error);
    if result.is_ok() {
        report::print_line(&ctx);
    }
    report::record(&mut report, &mut ctx);
    report::write(&report, &result, summary)?;
    result
}
