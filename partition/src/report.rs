//! The run summary: one line on stderr when the run got to the end, and
//! `--summary FILE` through archive-core's one writer (common fields
//! `tool`, `status`, `exit_code`, `elapsed_s`, `started`, `finished`,
//! `dry_run`, `error`, then the run's counts), written on failure too.

use crate::model::Tally;
use anyhow::Result;
use archive_core::report::RunReport;
use archive_core::Outcome;
use std::path::Path;

pub struct Report {
    run: RunReport,
    dry_run: bool,
}

impl Report {
    pub fn start(dry_run: bool) -> Report {
        Report {
            run: RunReport::start("partition").dry_run(dry_run),
            dry_run,
        }
    }

    /// The one stderr line that sums up a run that got to the end.
    pub fn print_line(&self, t: &Tally) {
        eprintln!(
            "partition: {} records from {} ({} quarantined, {} duplicates dropped) into {} files ({} changed, {} unchanged{}) under {} in {:.1}s{}",
            t.records,
            t.input,
            t.quarantined,
            t.duplicates_dropped,
            t.files,
            t.files_changed,
            t.files_unchanged,
            match t.groups_failed + t.files_failed {
                0 => String::new(),
                n => format!(", {n} not written"),
            },
            t.out,
            self.run.elapsed_s(),
            if self.dry_run { " (dry run: nothing written)" } else { "" }
        );
    }

    /// Write `--summary FILE` for a run that ended with `result`. A failed
    /// write fails a run that had succeeded; after a failure it is only
    /// reported, so the first error is the one the exit code tells.
    pub fn write(
        mut self,
        result: Result<Outcome>,
        tally: &Tally,
        path: Option<&Path>,
    ) -> Result<Outcome> {
        let Some(path) = path else {
            return result;
        };
        if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(tally) {
            for (k, v) in fields {
                self.run.set(&k, v);
            }
        }
        match (self.run.write(&result, Some(path)), result) {
            (Ok(_), result) => result,
            (Err(e), Ok(_)) => Err(e),
            (Err(e), Err(first)) => {
                eprintln!("partition: error: {e:#}");
                Err(first)
            }
        }
    }
}
