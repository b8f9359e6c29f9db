//! One run, phase by phase: resolve the schema, decide where the file goes,
//! open the input, convert while the writer thread encodes, then print the
//! file line. The summary is written however the run ends.

use crate::config::Config;
use crate::convert::Job;
use crate::interrupt;
use crate::pipeline;
use crate::read;
use crate::report::{Counts, Report};
use crate::resolve;
use crate::schema::MappingOptions;
use crate::{output, write};
use anyhow::Result;
use archive_core::io::input_name;
use archive_core::Outcome;
use std::sync::Arc;

pub fn run(config: Config) -> Result<Outcome> {
    let mut report = Report::start(&config);
    let result = convert_table(&config, &mut report.counts);
    report.finish(&config, &result)?;
    result
}

fn convert_table(config: &Config, counts: &mut Counts) -> Result<Outcome> {
    let name = input_name(config.input.as_deref());
    let interrupted = interrupt::install()?;
    let resolved = resolve::table_schema(config, &name, &interrupted)?;
    let table = &resolved.table;
    if config.print_schema {
        return output::print_schema(table);
    }
    let storages = table.storages(MappingOptions {
        numeric_as: config.numeric_as,
        uuid_as: config.uuid_as,
    })?;
    let format = config.require_format()?;
    let schema_version = output::schema_version(config, table);
    counts.schema_version = Some(schema_version.clone());
    let dest = output::destination(config, &schema_version)?;
    counts.path = Some(dest.path.display().to_string());

    let input = resolved.input(config, &interrupted)?;
    let workers = config.jobs.max(1);
    let source = read::open_source(config, format, input, &name, &table.columns)?;
    let options = output::write_options(config, table, format, &schema_version);
    // Check the codec level before reading any data.
    write::properties(&options, None)?;
    let sink = output::sink(config, &dest)?;
    let job = Job {
        input: &name,
        columns: &table.columns,
        storages: &storages,
        schema: Arc::new(table.arrow_schema(&storages)),
        interrupted,
        workers,
        limits: pipeline::limits(
            config.batch_rows,
            config.row_group_bytes,
            config.drop_array_bounds,
        ),
    };
    let written = pipeline::run(source, job, sink, options, &mut counts.records)?;
    counts.bytes = written.bytes;
    counts.row_groups = written.row_groups;
    counts.sha256 = Some(written.sha256.clone());
    output::print_file_line(config, table, &name, dest, &schema_version, written)
}
