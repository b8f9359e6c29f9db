//! The phases in order, for each subcommand, with the run summary written
//! however the run ends.

use crate::model::{Config, Counts, Failures, WriteConfig};
use crate::progress::Progress;
use crate::sign::Signer;
use crate::write::finish::{finish_target, Shared};
use crate::write::input::{self, Input};
use crate::write::{emit, plan, probe, targets};
use crate::{report, verify};
use anyhow::{Context, Result};
use archive_core::report::RunReport;
use archive_core::Outcome;
use std::collections::BTreeMap;

pub fn run(config: Config) -> Result<Outcome> {
    match config {
        Config::Write(cfg) => {
            let started = RunReport::start("manifest").dry_run(cfg.dry_run);
            let mut counts = Counts::default();
            let result = write(&cfg, &mut counts);
            report::write(started, &counts, &cfg, result)
        }
        Config::Verify(cfg) => {
            let started = RunReport::start("manifest verify");
            let mut counts = BTreeMap::new();
            let result = verify::run_all(&cfg, &mut counts);
            report::verify(started, &counts, &cfg, result)
        }
    }
}

/// `manifest`: targets, plans, one hashing pass, then each target's
/// manifests, then the lines.
fn write(cfg: &WriteConfig, counts: &mut Counts) -> Result<Outcome> {
    if let Some(n) = cfg.jobs {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build_global()
            .context("starting hashing threads")?;
    }
    let signer = cfg.sign.as_deref().map(Signer::load).transpose()?;
    let mut failures = Failures::default();
    let (mut targets, mut input) = if cfg.roots.is_empty() {
        let mut targets = Vec::new();
        let input = input::read_lines(cfg, &mut targets, &mut failures)?;
        (targets, input)
    } else {
        (targets::from_roots(cfg)?, Input::none())
    };
    counts.targets = targets.len() as u64;
    let mut plans = Vec::with_capacity(targets.len());
    for (ti, t) in targets.iter_mut().enumerate() {
        plans.push(plan::plan_target(ti, t, cfg, &mut failures, counts)?);
    }
    // Plans are in the targets' order.
    let to_probe = plans
        .iter()
        .zip(&targets)
        .filter(|(p, _)| p.refused.is_none());
    let progress = Progress::start(|| {
        to_probe
            .flat_map(|(p, t)| p.items.iter().map(move |it| t.dir.join(&it.rel)))
            .filter_map(|path| std::fs::metadata(path).ok())
            .map(|m| m.len())
            .sum()
    });
    let follow = cfg.follow_internal_links;
    probe::probe_all(&mut plans, &targets, cfg.trust_unchanged, follow, &progress);
    progress.finish();
    let shared = Shared {
        cfg,
        signer: signer.as_ref(),
        now: chrono::Utc::now(),
    };
    let mut done = Vec::with_capacity(plans.len());
    for (ti, plan) in plans.into_iter().enumerate() {
        let t = &targets[ti];
        let d = finish_target(
            ti,
            plan,
            t,
            &shared,
            &mut input.incoming,
            &mut failures,
            counts,
        )?;
        done.push(d);
    }
    emit::print(&mut input, &targets, &done, &failures, cfg)?;
    counts.failed = failures.count;
    Ok(if failures.count > 0 {
        Outcome::Partial
    } else {
        Outcome::Complete
    })
}
