//! The run summary: `--summary FILE` through archive_core's one writer
//! (written on failure too), and the line on stderr after a conversion.

use crate::config::Config;
use anyhow::Result;
use archive_core::io::input_name;
use archive_core::report::RunReport;
use archive_core::Outcome;

/// What the summary reports, filled in as the run goes.
#[derive(Default)]
pub struct Counts {
    pub records: u64,
    pub bytes: u64,
    pub row_groups: usize,
    pub path: Option<String>,
    pub sha256: Option<String>,
    pub schema_version: Option<String>,
}

/// A run in progress.
pub struct Report {
    run: RunReport,
    pub counts: Counts,
}

impl Report {
    pub fn start(config: &Config) -> Report {
        Report {
            run: RunReport::start("parquetize").dry_run(config.dry_run),
            counts: Counts::default(),
        }
    }

    /// Write the summary (if asked for) and, after a conversion, the line on
    /// stderr.
    pub fn finish(mut self, config: &Config, result: &Result<Outcome>) -> Result<()> {
        let c = &self.counts;
        let run = &mut self.run;
        run.set("table", &config.table);
        run.set("period", &config.period);
        run.set("snapshot", config.snapshot);
        run.set("input", input_name(config.input.as_deref()));
        run.set("format", config.format.map(|f| f.name()));
        run.set("records", c.records);
        run.set("bytes", c.bytes);
        run.set("row_groups", c.row_groups);
        run.set("path", &c.path);
        run.set("sha256", &c.sha256);
        run.set("schema_version", &c.schema_version);
        run.set("compression", config.compression.name());
        run.write(result, config.summary.as_deref())?;
        if result.is_ok() && !config.quiet && !config.print_schema {
            eprintln!(
                "parquetize: {}: {} records -> {} ({} bytes, {} row group{}, {}) in {:.1}s{}",
                config.table,
                c.records,
                c.path.as_deref().unwrap_or("-"),
                c.bytes,
                c.row_groups,
                if c.row_groups == 1 { "" } else { "s" },
                config.compression.name(),
                run.elapsed_s(),
                if config.dry_run {
                    " (dry run, nothing written)"
                } else {
                    ""
                }
            );
        }
        Ok(())
    }
}
