//! Record readers: each turns an input stream into records of text fields
//! (NULL kept distinct from the empty string), counting input lines so
//! errors can point at them.

mod chunks;
mod csv;
mod ndjson;
mod pg_text;
mod record;
mod structure;

pub use chunks::{Chunk, Chunker};
pub use csv::{CsvReader, CsvSettings};
pub use ndjson::{object_members, NdjsonColumn, NdjsonReader};
pub use pg_text::PgTextReader;
pub use record::{read_error, Record, RecordSource};
pub use structure::Structure;

use crate::config::Config;
use crate::model::{Column, Format, PgType};
use anyhow::Result;
use archive_core::Failure;
use std::io::BufRead;

/// A record reader and, for CSV with a header, the header's names.
pub type ReaderAndHeader = (Box<dyn RecordSource>, Option<Vec<String>>);

/// The input to convert: records one at a time, or (CSV, several parse
/// threads) chunks of whole records and how to read one.
pub enum Source {
    Records(Box<dyn RecordSource>),
    Chunks(Chunker, CsvSettings),
}

/// The input to convert, with the header checked against `columns`. CSV is
/// always split into chunks (see the `parallel` module), whatever the number
/// of threads that parse them, so the batches, and the file, are the same
/// for any `--jobs`.
pub fn open_source(
    config: &Config,
    format: Format,
    input: Box<dyn BufRead + Send>,
    name: &str,
    columns: &[Column],
) -> Result<Source> {
    if matches!(format, Format::PgCsv | Format::Csv) {
        let (reader, _) = open_csv_reader(config, format, input, name, Some(columns))?;
        let (rest, settings) = reader.into_parts();
        let chunker = Chunker::new(rest, name, settings.quote, settings.lines_read);
        return Ok(Source::Chunks(chunker, settings));
    }
    let (reader, _) = open(config, format, input, name, Some(columns))?;
    Ok(Source::Records(reader))
}

/// A reader over `input` for the chosen format, with the header checked
/// against `columns` (None: inference, the header gives the names).
pub fn open(
    config: &Config,
    format: Format,
    input: Box<dyn BufRead + Send>,
    name: &str,
    columns: Option<&[Column]>,
) -> Result<ReaderAndHeader> {
    match format {
        Format::PgText => {
            let null = config.null.clone().unwrap_or_else(|| "\\N".into());
            let delimiter = delimiter(config, b'\t')?;
            let reader = PgTextReader::new(input, name, delimiter, &null);
            Ok((Box::new(reader), None))
        }
        Format::PgCsv | Format::Csv => open_csv(config, format, input, name, columns),
        Format::Ndjson => {
            let cols = columns.expect("NDJSON inference reads the input itself");
            let names: Vec<String> = cols.iter().map(|c| c.name.clone()).collect();
            let kinds = cols
                .iter()
                .map(|c| match c.pg_type {
                    PgType::Json => NdjsonColumn::Json,
                    PgType::Array(_) => NdjsonColumn::Array,
                    _ => NdjsonColumn::Scalar,
                })
                .collect();
            let reader = NdjsonReader::new(input, name, &names, kinds);
            Ok((Box::new(reader), None))
        }
    }
}

fn open_csv(
    config: &Config,
    format: Format,
    input: Box<dyn BufRead + Send>,
    name: &str,
    columns: Option<&[Column]>,
) -> Result<ReaderAndHeader> {
    let (reader, header) = open_csv_reader(config, format, input, name, columns)?;
    Ok((Box::new(reader), header))
}

fn open_csv_reader(
    config: &Config,
    format: Format,
    input: Box<dyn BufRead + Send>,
    name: &str,
    columns: Option<&[Column]>,
) -> Result<(CsvReader, Option<Vec<String>>)> {
    let null = config.null.clone().unwrap_or_default();
    let mut r = CsvReader::new(input, name, delimiter(config, b',')?, &null);
    if config.no_header {
        return Ok((r, None));
    }
    let h = r.read_header()?;
    if let Some(cols) = columns {
        let names: Vec<String> = cols.iter().map(|c| c.name.clone()).collect();
        if format == Format::PgCsv && h != names {
            return Err(Failure::data(format!(
                "{name}:1: header does not match table {}: expected {}, found {}",
                config.table,
                names.join(","),
                h.join(",")
            )));
        }
        r.set_order(header_order(name, &h, &names)?);
    }
    Ok((r, Some(h)))
}

fn delimiter(config: &Config, default: u8) -> Result<u8> {
    match config.delimiter {
        None => Ok(default),
        Some(c) if c.is_ascii() && c != '"' && c != '\n' && c != '\r' && c != '\\' => Ok(c as u8),
        Some(c) => Err(Failure::usage(format!(
            "--delimiter {c:?}: must be one ASCII character other than quote, backslash or newline"
        ))),
    }
}

/// How a header names the columns, matched against the schema: the
/// position of each schema column in the input, or an error naming the
/// missing or unexpected names.
pub fn header_order(
    input: &str,
    header: &[String],
    columns: &[String],
) -> anyhow::Result<Vec<usize>> {
    let mut order = Vec::with_capacity(columns.len());
    for c in columns {
        match header.iter().position(|h| h == c) {
            Some(k) => order.push(k),
            None => {
                return Err(Failure::data(format!(
                    "{input}:1: header has no column {c:?} (header: {})",
                    header.join(",")
                )))
            }
        }
    }
    for (k, h) in header.iter().enumerate() {
        if !columns.contains(h) {
            return Err(Failure::data(format!(
                "{input}:1: header column {} {h:?} is not in the table schema",
                k + 1
            )));
        }
        if header[..k].contains(h) {
            return Err(Failure::data(format!(
                "{input}:1: header names column {h:?} twice"
            )));
        }
    }
    Ok(order)
}
