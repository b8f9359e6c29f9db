//! The command line: flags, their help, and the examples of `--help`.
//! Only config.rs reads these types.

use crate::model::NumericAs;
use clap::Parser;
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  # A month of charges from PostgreSQL, exact types from pg_dump:
  pg_dump --schema-only --no-owner -t charges billing > charges.sql
  psql -X -c \"\\copy (select * from charges where created_at >= '2025-11-01' \\
      and created_at < '2025-12-01' order by created_at) to stdout with (format csv, header)\" \\
    | parquetize - --table charges --format pg-csv --schema-sql charges.sql \\
        --numeric-as string --out archive --period 2025-11
  # -> archive/charges-2025-11.parquet and one file line on stdout

  # A snapshot of a reference table, COPY text format, gzip-compressed dump:
  parquetize accounts.tsv.gz --table accounts --format pg-text --schema-sql schema.sql \\
      --out archive --period 2025-11 --snapshot      # accounts-snapshot-2025-11.parquet

  # Keep the resolved schema next to the data, and use it next month:
  parquetize --table charges --schema-sql charges.sql --numeric-as 'decimal(38,20)' \\
      --print-schema > charges.schema
  parquetize dump.csv --table charges --format pg-csv --schema charges.schema \\
      --out out --period 2025-12

  # Inferred types (reads the whole input first), then what was chosen:
  parquetize export.csv --table export --format csv --infer --print-schema
  parquetize export.ndjson --table export --format ndjson --infer --out out --period 2025-11

  # gzip inside the file (the billing archive's codec), level 9:
  parquetize dump.csv --table charges --format pg-csv --schema-sql charges.sql \\
      --numeric-as string --compression gzip --compression-level 9 --out archive --period 2025-11

  # What would be written (size and digest included), touching nothing:
  parquetize dump.csv --table charges --format pg-csv --schema-sql charges.sql \\
      --numeric-as string --out out --period 2025-11 --dry-run | jq '{path, records, bytes}'

  # Straight into the archive pipeline:
  psql -X -c \"\\copy charges to stdout with (format csv, header)\" \\
    | parquetize - --table charges --format pg-csv --schema-sql charges.sql \\
        --numeric-as string --out billing --period 2025-11 \\
    | manifest --group-by period | ship s3://bucket/billing
";

fn long_help() -> String {
    format!(
        "{EXAMPLES}\n{}\n\n{}",
        archive_core::size::SIZE_HELP,
        archive_core::exit::EXIT_CODES_HELP
    )
}

/// Input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// PostgreSQL COPY text: tab-separated, \N for NULL, backslash escapes.
    PgText,
    /// PostgreSQL COPY CSV: header (unless --no-header) naming the table's
    /// columns in order; unquoted empty = NULL, "" = empty string.
    PgCsv,
    /// CSV from any tool: header names columns in any order; same NULL rule.
    Csv,
    /// One JSON object per line; keys are column names, missing keys NULL.
    Ndjson,
}

#[derive(Parser, Debug)]
#[command(
    name = "parquetize",
    version,
    about = "Convert PostgreSQL table dumps (COPY text/CSV), CSV and NDJSON to exact, typed, compressed Parquet",
    after_long_help = long_help()
)]
pub struct Args {
    /// Input file, gzip-compressed or not; `-` or none for stdin.
    #[arg(value_name = "INPUT")]
    pub input: Option<PathBuf>,

    /// Table name (optionally schema-qualified: billing.charges). Picks the
    /// CREATE TABLE in --schema-sql and fills {table} in --name.
    #[arg(long, value_name = "T")]
    pub table: String,

    /// Input format.
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        required_unless_present = "print_schema"
    )]
    pub format: Option<FormatArg>,

    // ---- schema (exactly one) ----
    /// `pg_dump --schema-only` output holding the table's CREATE TABLE.
    #[arg(long, value_name = "FILE", help_heading = "Schema (one of)", conflicts_with_all = ["schema", "infer"])]
    pub schema_sql: Option<PathBuf>,

    /// A schema file as `--print-schema` writes it.
    #[arg(
        long,
        value_name = "FILE",
        help_heading = "Schema (one of)",
        conflicts_with = "infer"
    )]
    pub schema: Option<PathBuf>,

    /// Choose types from the data: reads the whole input first (spooled to a
    /// temporary file), picks only exact types (never floats).
    #[arg(long, help_heading = "Schema (one of)")]
    pub infer: bool,

    /// Print the resolved schema (CREATE TABLE, the --schema format) to
    /// stdout and exit without converting.
    #[arg(long, help_heading = "Schema (one of)")]
    pub print_schema: bool,

    /// Store unconstrained `numeric` (and precision > 38) as exact text
    /// (`string`) or as `decimal(p,s)`; a value that does not fit is then an
    /// error, never rounded. Required when the table has such a column.
    #[arg(long, value_name = "string|decimal(p,s)", help_heading = "Types")]
    pub numeric_as: Option<NumericAs>,

    /// Store uuid as text (canonical form) or FixedSizeBinary(16) with the
    /// Parquet UUID logical type.
    #[arg(
        long,
        value_enum,
        default_value = "string",
        value_name = "string|fixed",
        help_heading = "Types"
    )]
    pub uuid_as: UuidAsArg,

    /// Accept arrays whose lower bound is not 1 (`[0:2]={a,b,c}` in COPY
    /// text) and store their elements only. Without it such a value is an
    /// input data error, since the bound would be lost.
    #[arg(long, help_heading = "Types")]
    pub drop_array_bounds: bool,

    /// Schema version recorded in the file and the file line (default: a
    /// digest of the column names, types and nullability).
    #[arg(long, value_name = "V", help_heading = "Types")]
    pub schema_version: Option<String>,

    // ---- input details ----
    /// The CSV input has no header line.
    #[arg(long, help_heading = "Input")]
    pub no_header: bool,

    /// Field delimiter (default: tab for pg-text, `,` for CSV).
    #[arg(long, value_name = "CHAR", help_heading = "Input")]
    pub delimiter: Option<char>,

    /// The NULL marker (default: `\N` for pg-text, an unquoted empty field for CSV).
    #[arg(long, value_name = "STRING", help_heading = "Input")]
    pub null: Option<String>,

    // ---- output ----
    /// Output directory (created if missing).
    #[arg(long, value_name = "DIR", default_value = ".", help_heading = "Output")]
    pub out: PathBuf,

    /// File name template under --out: {table}, {period}, {schema_version}.
    /// Default '{table}-{period}.parquet', or '{table}-snapshot-{period}.parquet'
    /// with --snapshot (without {period} when no --period is given).
    #[arg(long, value_name = "TEMPLATE", help_heading = "Output")]
    pub name: Option<String>,

    /// Period the data covers (e.g. 2025-11), recorded in the file and line.
    #[arg(long, value_name = "P", help_heading = "Output")]
    pub period: Option<String>,

    /// The input is a full snapshot of the table, not a period's rows.
    #[arg(long, help_heading = "Output")]
    pub snapshot: bool,

    /// Parquet compression codec.
    #[arg(long, value_enum, default_value = "zstd", help_heading = "Output")]
    pub compression: CodecArg,

    /// Codec level (zstd 1-22, default 1; gzip 0-9, default 6).
    #[arg(long, value_name = "N", help_heading = "Output")]
    pub compression_level: Option<i32>,

    /// Most rows in one row group.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1_000_000,
        help_heading = "Output"
    )]
    pub row_group_rows: usize,

    /// Most encoded bytes buffered for one row group (a size: 128MiB,
    /// 100MB; see Sizes below).
    #[arg(long, value_name = "SIZE", default_value = "128MiB", value_parser = size, help_heading = "Output")]
    pub row_group_bytes: usize,

    /// Largest dictionary per column chunk before the column falls back to
    /// plain encoding (small: high-cardinality columns fall back early and
    /// waste little; low-cardinality ones still fit).
    #[arg(long, value_name = "SIZE", default_value = "1MiB", value_parser = size, help_heading = "Output")]
    pub dictionary_page_bytes: usize,

    /// Never use DELTA_BINARY_PACKED (chosen by default for sorted, mostly
    /// distinct integer, date and timestamp columns such as ids), for
    /// readers that predate the Parquet 2.0 encodings.
    #[arg(long, help_heading = "Output")]
    pub plain_fallback: bool,

    /// Rows parsed per batch handed to the writer thread.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 16_384,
        help_heading = "Output"
    )]
    pub batch_rows: usize,

    /// Threads that parse a CSV input (split into chunks of whole records)
    /// and that encode columns (default: the number of CPUs). The file is
    /// the same whatever N; 1 parses on one thread.
    #[arg(long, short = 'j', value_name = "N", help_heading = "Run", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,

    // ---- run ----
    /// Parse and encode everything, print the file line with
    /// "status":"planned" (real size and digest), write nothing.
    #[arg(long, help_heading = "Run")]
    pub dry_run: bool,

    /// Write a JSON run summary to FILE (atomically), also on failure.
    #[arg(long, value_name = "FILE", help_heading = "Run")]
    pub summary: Option<PathBuf>,

    /// No summary line on stderr.
    #[arg(long, short, help_heading = "Run")]
    pub quiet: bool,
}

/// How uuid columns are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UuidAsArg {
    /// Utf8, the canonical lower-case 8-4-4-4-12 form.
    String,
    /// FixedSizeBinary(16) with the Parquet UUID logical type.
    Fixed,
}

/// Output codec, chosen with `--compression`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CodecArg {
    Zstd,
    Gzip,
    Snappy,
    None,
}

/// A size flag (archive_core's one rule: MB = 1000², MiB = 1024²), at
/// least one byte.
fn size(s: &str) -> Result<usize, String> {
    let n = archive_core::size::parse_positive_size(s)?;
    usize::try_from(n).map_err(|_| format!("{s:?}: larger than this machine's address space"))
}
