//! The run: settings, then the phases in order (leftovers of killed runs
//! swept beside them): route every input line into the spillers, merge and
//! write group by group, report. The run's marker for later sweeps
//! (`leftovers`) lives until everything else is dropped.

use crate::config::Invocation;
use crate::dirs::DirMemo;
use crate::extract::Extractor;
use crate::group::GroupCtx;
use crate::input::InputFile;
use crate::leftovers;
use crate::merge::Writer;
use crate::model::{Config, Tally};
use crate::progress::Progress;
use crate::report::Report;
use crate::route::Router;
use anyhow::{Context, Result};
use archive_core::{Failure, Outcome};
use std::fs;

pub fn run(flags: Invocation) -> Result<Outcome> {
    let report = Report::start(flags.dry_run);
    let mut tally = Tally {
        input: flags.input_label,
        out: flags.out_label,
        ..Tally::default()
    };
    let result = flags
        .config
        .and_then(|cfg| partition(&cfg, &report, &mut tally));
    report.write(result, &tally, flags.summary.as_deref())
}

fn partition(cfg: &Config, report: &Report, tally: &mut Tally) -> Result<Outcome> {
    // This run's backup_timestamp, as JSON text.
    let now_json = serde_json::to_string(
        &chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )?;
    prepare_out(cfg)?;
    let mut leftovers = leftovers::start(cfg)?;
    let source = tally.input.clone();
    let ex = Extractor::for_config(cfg);
    // A rewrite (--hash-only, ai-audit) changes the records, so their new
    // bytes are what is kept, not references into the input.
    let input = if cfg.rewrite.is_empty() {
        InputFile::open(cfg.input.as_deref())?
    } else {
        None
    };
    let progress = Progress::new(cfg.input.as_deref());

    let routing = Router::new(cfg, &ex, &source, &progress).route_input(input.as_ref(), tally)?;
    let dirs = DirMemo::new(cfg.out.clone());
    let ctx = GroupCtx {
        cfg,
        ex: &ex,
        dirs: &dirs,
        now_json,
    };
    Writer::new(ctx, &source, &progress).write_all(routing, input.as_ref(), tally)?;

    tally.stale_temporaries_removed = leftovers.finish();
    report.print_line(tally);
    outcome(cfg, tally)
}

/// The output root exists (created if needed) and is a directory.
fn prepare_out(cfg: &Config) -> Result<()> {
    if cfg.dry_run {
        if cfg.out.exists() && !cfg.out.is_dir() {
            return Err(Failure::usage(format!(
                "--out {}: not a directory",
                cfg.out.display()
            )));
        }
        return Ok(());
    }
    fs::create_dir_all(&cfg.out)
        .with_context(|| format!("creating {}", cfg.out.display()))
        .map_err(|e| Failure::usage(format!("{e:#}")))
}

/// Exit 0, or 1 when something was quarantined or not written (3 with
/// --strict).
fn outcome(cfg: &Config, t: &Tally) -> Result<Outcome> {
    let not_written = match t.groups_failed + t.files_failed {
        0 => String::new(),
        _ => format!(
            ", {} groups and {} files not written",
            t.groups_failed, t.files_failed
        ),
    };
    match (t.partial(), cfg.strict) {
        (false, _) => Ok(Outcome::Complete),
        (true, false) => Ok(Outcome::Partial),
        (true, true) => Err(Failure::data(format!(
            "{} lines quarantined under {}/_quarantine{not_written} (--strict)",
            t.quarantined, t.out
        ))),
    }
}
