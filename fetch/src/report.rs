//! The run summary: archive-core's [`RunReport`] (tool, status, exit_code,
//! elapsed_s, started, finished, error) plus fetch's own counts under the
//! names the scripts read (`records`, `pages`, `more`, `bookmark_pending`,
//! …), written to --summary on success and on failure alike, and one line
//! on stderr when the run succeeded.

use crate::ctx::Ctx;
use anyhow::Result;
use archive_core::report::RunReport;
use archive_core::Outcome;
use serde_json::Value;
use std::path::Path;

/// Start the clock of a stream run.
pub fn start(dry_run: bool) -> RunReport {
    RunReport::start("fetch").dry_run(dry_run)
}

/// Copy the counts of `ctx` into the report.
pub fn record(report: &mut RunReport, ctx: &mut Ctx) {
    let s = &ctx.stats;
    let a = &ctx.api.stats;
    report.set("stream", &ctx.stream);
    report.set("records", s.records);
    report.set("pages", s.pages);
    report.set("requests", a.requests);
    report.set("retries", a.retries);
    report.set("rate_limited", a.rate_limited);
    report.set("duplicates_dropped", s.duplicates_dropped);
    report.set("files", s.files);
    report.set("skipped_until", s.skipped_until);
    report.set("more", s.more);
    let pending = if s.bookmarks.is_empty() {
        Value::Null
    } else {
        Value::Object(s.bookmarks.clone())
    };
    report.set("bookmark_pending", pending);
    report.set("run_id", &ctx.opts.run_id);
    report.set("freshness", freshness(&s.freshness));
    for (k, v) in &s.extra {
        report.set(k, v);
    }
    report.set("state_dir", ctx.store.dir().display().to_string());
    report.set(
        "waited_s",
        (a.waited.as_secs_f64() * 1000.0).round() / 1000.0,
    );
}

/// The summary's `freshness`: the stream furthest behind (its `lag_s`,
/// `retention_s`, `warning`, and `lost_from`/`lost_until` when a window
/// was lost), plus every bookmark's under `streams`; `null` when no
/// committed bookmark was checked.
fn freshness(per_key: &serde_json::Map<String, Value>) -> Value {
    let worst = per_key
        .values()
        .max_by_key(|v| v["lag_s"].as_i64().unwrap_or(i64::MIN));
    let Some(Value::Object(top)) = worst.cloned() else {
        return Value::Null;
    };
    let mut top = top;
    top.insert("streams".into(), Value::Object(per_key.clone()));
    Value::Object(top)
}

/// The one stderr line of a run that succeeded.
pub fn print_line(ctx: &Ctx) {
    let s = &ctx.stats;
    let a = &ctx.api.stats;
    let pending = if s.bookmarks.is_empty() {
        String::new()
    } else {
        format!(
            ", bookmark pending in {} (run `fetch commit` once stored)",
            ctx.store.dir().display()
        )
    };
    if ctx.stream == "files" {
        let n = |k: &str| s.extra.get(k).and_then(Value::as_u64).unwrap_or(0);
        eprintln!(
            "fetch: files: {} events, {} files downloaded ({} bytes), {} already there, {} missing upstream, {} failed, {} requests{pending}",
            n("events"), n("files_downloaded"), n("bytes_downloaded"), n("files_present"), n("files_missing"), n("files_failed"), a.requests,
        );
        return;
    }
    eprintln!(
        "fetch: {}: {} records, {} pages, {} requests ({} retries, {} rate-limited), {} duplicates dropped, more={}{pending}",
        ctx.stream, s.records, s.pages, a.requests, a.retries, a.rate_limited, s.duplicates_dropped, s.more,
    );
}

/// Write the summary (when asked) for a run that ended with `result`.
pub fn write(report: &RunReport, result: &Result<Outcome>, path: Option<&Path>) -> Result<()> {
    report.write(result, path).map(|_| ())
}
