//! Flags to a plain [`Config`]: the only module that sees the clap types
//! of [`crate::cli`]. Checks that need more than one flag, or a file, are
//! made by the phases, inside the run, so that the summary reports them.

use crate::cli::{Args, CodecArg, FormatArg, UuidAsArg};
use crate::model::{Codec, Format, NumericAs, UuidAs};
use anyhow::Result;
use archive_core::Failure;
use std::path::PathBuf;

/// Where the table's schema comes from (clap lets at most one be given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaSource {
    /// `--schema-sql FILE`: pg_dump output, the table picked by `--table`.
    Sql(PathBuf),
    /// `--schema FILE`: as `--print-schema` wrote it.
    File(PathBuf),
    /// `--infer`: from the data.
    Infer,
}

/// One run's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// None or `-`: stdin.
    pub input: Option<PathBuf>,
    pub table: String,
    pub format: Option<Format>,
    pub schema_source: Option<SchemaSource>,
    pub print_schema: bool,
    pub numeric_as: Option<NumericAs>,
    pub uuid_as: UuidAs,
    pub schema_version: Option<String>,
    pub no_header: bool,
    pub delimiter: Option<char>,
    pub null: Option<String>,
    pub out: PathBuf,
    pub name: Option<String>,
    pub period: Option<String>,
    pub snapshot: bool,
    pub compression: Codec,
    pub compression_level: Option<i32>,
    pub row_group_rows: usize,
    pub row_group_bytes: usize,
    pub dictionary_page_bytes: usize,
    /// False with `--plain-fallback`.
    pub allow_delta: bool,
    pub batch_rows: usize,
    /// `--jobs`: threads parsing a CSV input, and threads encoding columns.
    pub jobs: usize,
    /// `--drop-array-bounds`: store arrays with a lower bound other than 1.
    pub drop_array_bounds: bool,
    pub dry_run: bool,
    pub summary: Option<PathBuf>,
    pub quiet: bool,
}

impl Config {
    /// `--format`, which every run that reads input needs (clap asks for it
    /// unless `--print-schema` is given).
    pub fn require_format(&self) -> Result<Format> {
        self.format
            .ok_or_else(|| Failure::usage("--format is required"))
    }

    /// Parse the command line (clap prints help or a usage error and exits 2).
    pub fn from_command_line() -> Config {
        Config::from_args(archive_core::cli::parse::<Args>())
    }

    pub fn from_args(a: Args) -> Config {
        let schema_source = match (a.schema_sql, a.schema, a.infer) {
            (Some(p), _, _) => Some(SchemaSource::Sql(p)),
            (None, Some(p), _) => Some(SchemaSource::File(p)),
            (None, None, true) => Some(SchemaSource::Infer),
            (None, None, false) => None,
        };
        Config {
            input: a.input,
            table: a.table,
            format: a.format.map(format),
            schema_source,
            print_schema: a.print_schema,
            numeric_as: a.numeric_as,
            uuid_as: match a.uuid_as {
                UuidAsArg::String => UuidAs::String,
                UuidAsArg::Fixed => UuidAs::Fixed,
            },
            schema_version: a.schema_version,
            no_header: a.no_header,
            delimiter: a.delimiter,
            null: a.null,
            out: a.out,
            name: a.name,
            period: a.period,
            snapshot: a.snapshot,
            compression: match a.compression {
                CodecArg::Zstd => Codec::Zstd,
                CodecArg::Gzip => Codec::Gzip,
                CodecArg::Snappy => Codec::Snappy,
                CodecArg::None => Codec::None,
            },
            compression_level: a.compression_level,
            row_group_rows: a.row_group_rows,
            row_group_bytes: a.row_group_bytes,
            dictionary_page_bytes: a.dictionary_page_bytes,
            allow_delta: !a.plain_fallback,
            batch_rows: a.batch_rows,
            drop_array_bounds: a.drop_array_bounds,
            jobs: a
                .jobs
                .map(usize::from)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            dry_run: a.dry_run,
            summary: a.summary,
            quiet: a.quiet,
        }
    }
}

fn format(f: FormatArg) -> Format {
    match f {
        FormatArg::PgText => Format::PgText,
        FormatArg::PgCsv => Format::PgCsv,
        FormatArg::Csv => Format::Csv,
        FormatArg::Ndjson => Format::Ndjson,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn config(args: &[&str]) -> Config {
        let argv = ["parquetize", "--table", "t"].iter().chain(args);
        Config::from_args(Args::try_parse_from(argv).unwrap())
    }

    #[test]
    fn flags_become_plain_settings() {
        let c = config(&["--format", "pg-csv", "--schema-sql", "s.sql"]);
        assert_eq!(c.format, Some(Format::PgCsv));
        assert_eq!(c.schema_source, Some(SchemaSource::Sql("s.sql".into())));
        assert_eq!(c.compression, Codec::Zstd);
        assert!(c.allow_delta);
        assert_eq!(
            config(&["--format", "csv", "--infer"]).schema_source,
            Some(SchemaSource::Infer)
        );
        assert_eq!(config(&["--print-schema"]).schema_source, None);
    }

    #[test]
    fn sizes_follow_the_one_rule() {
        let c = config(&["--format", "csv"]);
        assert_eq!(c.row_group_bytes, 128 << 20, "default 128MiB");
        assert_eq!(c.dictionary_page_bytes, 1 << 20, "default 1MiB");
        let c = config(&["--format", "csv", "--row-group-bytes", "128MB"]);
        assert_eq!(c.row_group_bytes, 128_000_000);
        let c = config(&["--format", "csv", "--dictionary-page-bytes", "64KiB"]);
        assert_eq!(c.dictionary_page_bytes, 65_536);
        for bad in ["128M", "0", "12 parsecs"] {
            let argv = ["parquetize", "--table", "t", "--row-group-bytes", bad];
            assert!(Args::try_parse_from(argv).is_err(), "{bad} accepted");
        }
    }
}
