//! The run summary (stderr line and `--summary FILE`), through archive-core's
//! one writer, and the object lines on stdout.

use anyhow::Result;
use archive_core::io::LineOut;
use archive_core::report::RunReport;
use archive_core::Outcome;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Lines out, counts in.
pub struct Report {
    out: LineOut,
    run: RunReport,
    counts: BTreeMap<String, u64>,
}

impl Report {
    pub fn start(tool: &str, dry_run: bool) -> Report {
        Report {
            out: LineOut::new(),
            run: RunReport::start(tool).dry_run(dry_run),
            counts: BTreeMap::new(),
        }
    }

    /// Print a line and count its status.
    pub fn line(&mut self, v: &Value) -> Result<()> {
        let status = v["status"].as_str().unwrap_or("none").to_string();
        *self.counts.entry(status).or_default() += 1;
        self.out.json(v)?;
        Ok(())
    }

    pub fn count(&self, status: &str) -> u64 {
        self.counts.get(status).copied().unwrap_or(0)
    }

    pub fn set(&mut self, key: &str, v: impl serde::Serialize) {
        self.run.set(key, v);
    }

    /// Flush, write the summary, print the one stderr line.
    pub fn finish(mut self, result: Result<Outcome>, summary: Option<&Path>) -> Result<Outcome> {
        let flushed = self.out.flush();
        self.run.set("counts", &self.counts);
        let parts: Vec<String> = self
            .counts
            .iter()
            .map(|(s, n)| format!("{n} {s}"))
            .collect();
        self.run.write(&result, summary)?;
        if result.is_ok() {
            eprintln!(
                "restore: {}; {:.2}s",
                if parts.is_empty() {
                    "nothing to do".to_string()
                } else {
                    parts.join(", ")
                },
                self.run.elapsed_s()
            );
        }
        flushed?;
        result
    }
}

/// Partial when some items are not done.
pub fn partial_if(bad: u64) -> Outcome {
    if bad > 0 {
        Outcome::Partial
    } else {
        Outcome::Complete
    }
}

/// A bar over the files to get (archive_core::progress decides whether it
/// is drawn); its message counts the bytes written.
pub fn progress(len: u64) -> archive_core::progress::Bar {
    archive_core::progress::items("restore", "getting", "files", len)
}
