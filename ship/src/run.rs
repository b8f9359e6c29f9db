//! One `ship` run, phase by phase: clear what killed runs left, open the
//! source, connect, ship every line (`pipeline`), finish the fallback and
//! the drained spool, and report.

use crate::budget::MemoryBudget;
use crate::config::{Config, FallbackTo};
use crate::fallback::Fallback;
use crate::job::Shared;
use crate::s3::S3Target;
use crate::{pipeline, report, sources};
use anyhow::{Context, Result};
use archive_core::report::RunReport;
use archive_core::Outcome;
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub fn run(cfg: Config) -> Result<Outcome> {
    let mut summary = RunReport::start("ship").dry_run(cfg.dry_run);
    summary.set("dest", cfg.dest.display());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = rt.block_on(run_async(&cfg, &mut summary));
    report::finish(&summary, result, cfg.summary.as_deref())
}

async fn run_async(cfg: &Config, summary: &mut RunReport) -> Result<Outcome> {
    if !cfg.dry_run {
        crate::leftovers::sweep(cfg);
    }
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    let source = sources::open(&cfg.source, tx)?;
    let drain = source.drain.clone();
    let budget = MemoryBudget::new(cfg.opts.max_memory);
    let shared = Arc::new(Shared {
        dest: cfg.dest.clone(),
        opts: cfg.opts.clone(),
        s3: S3Target::connect(cfg, &budget).await?,
        fallback: cfg.fallback.as_ref().map(|f| match f {
            FallbackTo::Dir(d) => Fallback::Dir(d.clone()),
            FallbackTo::Zip(z) => Fallback::zip(z.clone()),
        }),
        recipients: cfg.recipients.clone(),
        tmp_dir: cfg.tmp_dir.clone(),
        dry_run: cfg.dry_run,
        drain: drain.clone(),
        budget,
    });
    let ended = pipeline::drive(shared.clone(), rx, cfg.jobs).await?;
    let unzipped = source.finish();
    let shared = Arc::try_unwrap(shared)
        .map_err(|_| anyhow::anyhow!("internal: tasks still hold the run state"))?;
    if let Some(f) = shared.fallback {
        f.finish()?;
    }
    if let (Some(d), false, false) = (&drain, cfg.dry_run, unzipped) {
        crate::leftovers::prune_empty_dirs(d);
    }
    let retries = shared.s3.as_ref().map_or(0, |s| s.retry.retries());
    let sent = shared.s3.as_ref().map_or(ended.tally.local_bytes, |s| {
        s.bytes_sent.load(Ordering::Relaxed)
    });
    let fatal = shared.s3.as_ref().and_then(|s| s.fatal());
    report::conclude(
        &ended.tally,
        (ended.interrupted, fatal),
        &cfg.dest.display(),
        (sent, retries),
        summary,
    )
}
