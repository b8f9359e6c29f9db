//! The run summary: one line on stderr, and with `--summary FILE` the same
//! facts as JSON through archive-core's `RunReport` (tool, status,
//! exit_code, elapsed_s, started, finished, error, plus the counts below),
//! written on failure too, so cron wrappers can detect loss.

use crate::model::{Counts, VerifyConfig, WriteConfig};
use anyhow::Result;
use archive_core::report::RunReport;
use archive_core::Outcome;
use std::collections::BTreeMap;

/// The summary of a write run that ended with `result`.
pub fn write(
    report: RunReport,
    counts: &Counts,
    cfg: &WriteConfig,
    result: Result<Outcome>,
) -> Result<Outcome> {
    let mut report = report;
    for (k, v) in [
        ("targets", counts.targets),
        ("files", counts.files),
        ("bytes", counts.bytes),
        ("hashed", counts.hashed),
        ("reused", counts.reused),
        ("failed", counts.failed),
        ("skipped", counts.skipped),
        ("swept", counts.swept),
        ("refused", counts.refused),
        ("manifests_written", counts.manifests_written),
        ("manifests_unchanged", counts.manifests_unchanged),
    ] {
        report.set(k, v);
    }
    if result.is_ok() {
        let verb = if cfg.dry_run { "would write" } else { "wrote" };
        eprintln!(
            "manifest: {} files ({} bytes) in {} manifest(s): {} hashed, {} reused, {} failed, {} skipped (links); \
             {verb} {} manifest files, {} unchanged; {:.2}s",
            counts.files, counts.bytes, counts.targets, counts.hashed, counts.reused, counts.failed,
            counts.skipped, counts.manifests_written, counts.manifests_unchanged, report.elapsed_s()
        );
    }
    report.write(&result, cfg.summary.as_deref())?;
    result
}

/// The summary of a verify run: findings counted by status.
pub fn verify(
    report: RunReport,
    counts: &BTreeMap<String, u64>,
    cfg: &VerifyConfig,
    result: Result<Outcome>,
) -> Result<Outcome> {
    let mut report = report;
    let differences: u64 = counts
        .iter()
        .filter(|(s, _)| crate::verify::compare::is_difference(s))
        .map(|(_, n)| n)
        .sum();
    report.set("targets", &cfg.shown);
    report.set("counts", counts);
    report.set("differences", differences);
    if result.is_ok() {
        let parts: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
        eprintln!(
            "manifest: verify: {} ({}); {differences} difference(s); {:.2}s",
            cfg.shown.join(" "),
            if parts.is_empty() {
                "no files".to_string()
            } else {
                parts.join(", ")
            },
            report.elapsed_s()
        );
    }
    report.write(&result, cfg.summary.as_deref())?;
    result
}
