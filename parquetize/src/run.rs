//! One run: resolve the schema, open the input, parse on this thread while
//! the writer thread encodes, then print the file line and the summary.

use crate::convert::{self, Limits};
use crate::infer;
use crate::read::{
    header_order, CsvReader, NdjsonColumn, NdjsonReader, PgTextReader, RecordSource,
};
use crate::schema::{self, split_table_arg, MappingOptions, PgType, TableSchema};
use crate::write::{self, Sink, WriteOptions};
use crate::{Args, Format};
use anyhow::{Context, Result};
use archive_core::atomic::AtomicFile;
use archive_core::io::{input_name, open_input, LineOut};
use archive_core::{Failure, FileLine, Outcome};
use serde_json::{json, Map, Value};
use std::io::BufRead;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

/// `128MB`, `64KiB`, `1GB`, `1000` → bytes.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: usize = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a size like 128MB"))?;
    let mult: usize = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return Err(format!("{s:?}: unknown unit (use KB, MB or GB)")),
    };
    match n.checked_mul(mult) {
        Some(0) | None => Err(format!(
            "{s:?}: must be between 1 byte and the address space"
        )),
        Some(v) => Ok(v),
    }
}

/// What the summary reports, filled in as the run goes.
#[derive(Default)]
struct Report {
    records: u64,
    bytes: u64,
    row_groups: usize,
    path: Option<String>,
    sha256: Option<String>,
    schema_version: Option<String>,
}

pub fn run(args: Args) -> Result<Outcome> {
    let started = Instant::now();
    let mut report = Report::default();
    let result = convert_table(&args, &mut report);
    let seconds = started.elapsed().as_secs_f64();
    if let Some(path) = &args.summary {
        let status = match (&result, args.dry_run) {
            (Err(_), _) => "failed",
            (Ok(_), true) => "planned",
            (Ok(_), false) => "ok",
        };
        let mut s = json!({
            "tool": "parquetize",
            "status": status,
            "table": args.table,
            "period": args.period,
            "snapshot": args.snapshot,
            "input": input_name(args.input.as_deref()),
            "format": args.format.map(format_name),
            "records": report.records,
            "bytes": report.bytes,
            "row_groups": report.row_groups,
            "path": report.path,
            "sha256": report.sha256,
            "schema_version": report.schema_version,
            "compression": args.compression.name(),
            "seconds": (seconds * 1000.0).round() / 1000.0,
        });
        if let Err(e) = &result {
            s["error"] = Value::String(format!("{e:#}"));
            s["exit_code"] = json!(archive_core::exit::exit_code(e));
        }
        let text = serde_json::to_string_pretty(&s).expect("summary serialises");
        archive_core::atomic::write_file(path, format!("{text}\n").as_bytes())
            .with_context(|| format!("writing summary {}", path.display()))?;
    }
    if result.is_ok() && !args.quiet && !args.print_schema {
        eprintln!(
            "parquetize: {}: {} records -> {} ({} bytes, {} row group{}, {}) in {:.1}s{}",
            args.table,
            report.records,
            report.path.as_deref().unwrap_or("-"),
            report.bytes,
            report.row_groups,
            if report.row_groups == 1 { "" } else { "s" },
            args.compression.name(),
            seconds,
            if args.dry_run {
                " (dry run, nothing written)"
            } else {
                ""
            }
        );
    }
    result
}

/// Where schema text comes from, read in full (schema files are small).
fn read_text(path: &Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("reading {what} {}", path.display()))
        .map_err(|e| Failure::usage(format!("{e:#}")))
}

fn schema_from_sql(path: &Path, table_arg: &str, what: &str, single: bool) -> Result<TableSchema> {
    let text = read_text(path, what)?;
    let source = path.display().to_string();
    let tables =
        schema::parse_create_tables(&text, &source).map_err(|e| Failure::data(format!("{e:#}")))?;
    if single && tables.len() == 1 {
        return Ok(tables.into_iter().next().unwrap().into_schema());
    }
    let (ns, name) = split_table_arg(table_arg).map_err(|e| Failure::usage(format!("{e:#}")))?;
    let mut matches: Vec<_> = tables
        .into_iter()
        .filter(|t| t.name == name && (ns.is_none() || t.namespace == ns))
        .collect();
    match matches.len() {
        1 => Ok(matches.pop().unwrap().into_schema()),
        0 => Err(Failure::usage(format!("{source}: no CREATE TABLE for {table_arg}"))),
        _ => Err(Failure::usage(format!(
            "{source}: several tables named {name}; qualify --table with its schema (e.g. public.{name})"
        ))),
    }
}

fn delimiter(args: &Args, default: u8) -> Result<u8> {
    match args.delimiter {
        None => Ok(default),
        Some(c) if c.is_ascii() && c != '"' && c != '\n' && c != '\r' && c != '\\' => Ok(c as u8),
        Some(c) => Err(Failure::usage(format!(
            "--delimiter {c:?}: must be one ASCII character other than quote, backslash or newline"
        ))),
    }
}

/// A record reader and, for CSV with a header, the header's names.
type ReaderAndHeader = (Box<dyn RecordSource>, Option<Vec<String>>);

/// A reader over `input` for the chosen format, with the header checked
/// against `columns` (None: inference, the header gives the names).
fn open_reader(
    args: &Args,
    format: Format,
    input: Box<dyn BufRead + Send>,
    name: &str,
    columns: Option<&[schema::Column]>,
) -> Result<ReaderAndHeader> {
    match format {
        Format::PgText => {
            let null = args.null.clone().unwrap_or_else(|| "\\N".into());
            Ok((
                Box::new(PgTextReader::new(
                    input,
                    name,
                    delimiter(args, b'\t')?,
                    &null,
                )),
                None,
            ))
        }
        Format::PgCsv | Format::Csv => {
            let null = args.null.clone().unwrap_or_default();
            let mut r = CsvReader::new(input, name, delimiter(args, b',')?, &null);
            let mut header = None;
            if !args.no_header {
                let h = r.read_header()?;
                if let Some(cols) = columns {
                    let names: Vec<String> = cols.iter().map(|c| c.name.clone()).collect();
                    if format == Format::PgCsv && h != names {
                        return Err(Failure::data(format!(
                            "{name}:1: header does not match table {}: expected {}, found {}",
                            args.table,
                            names.join(","),
                            h.join(",")
                        )));
                    }
                    r.set_order(header_order(name, &h, &names)?);
                }
                header = Some(h);
            }
            Ok((Box::new(r), header))
        }
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
            Ok((
                Box::new(NdjsonReader::new(input, name, &names, kinds)),
                None,
            ))
        }
    }
}

/// Copy the (decompressed) input to a temporary file so it can be read
/// twice: once to infer, once to convert.
fn spool(args: &Args, name: &str) -> Result<tempfile::NamedTempFile> {
    let mut input = open_input(args.input.as_deref())?;
    let mut tmp =
        tempfile::NamedTempFile::new().context("creating a temporary spool file for --infer")?;
    std::io::copy(&mut input, tmp.as_file_mut())
        .map_err(|e| crate::read::read_error(name, 0, e))?;
    Ok(tmp)
}

fn open_spool(tmp: &tempfile::NamedTempFile) -> Result<Box<dyn BufRead + Send>> {
    open_input(Some(tmp.path()))
}

fn expand_name(args: &Args, schema_version: &str) -> Result<String> {
    let template = match (&args.name, args.snapshot, args.period.is_some()) {
        (Some(t), _, _) => t.clone(),
        (None, false, true) => "{table}-{period}.parquet".into(),
        (None, true, true) => "{table}-snapshot-{period}.parquet".into(),
        (None, false, false) => "{table}.parquet".into(),
        (None, true, false) => "{table}-snapshot.parquet".into(),
    };
    let table = archive_core::naming::sanitize_segment(&args.table);
    let mut out = String::new();
    let mut rest = template.as_str();
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| Failure::usage(format!("--name {template:?}: unclosed {{")))?;
        let key = &rest[open + 1..open + close];
        match key {
            "table" => out.push_str(&table),
            "period" => match &args.period {
                Some(p) => out.push_str(&archive_core::naming::sanitize_segment(p)),
                None => return Err(Failure::usage(format!("--name {template:?} uses {{period}}: give --period"))),
            },
            "schema_version" => out.push_str(&archive_core::naming::sanitize_segment(schema_version)),
            other => {
                return Err(Failure::usage(format!(
                    "--name {template:?}: unknown placeholder {{{other}}} (use {{table}}, {{period}}, {{schema_version}})"
                )))
            }
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    archive_core::lines::check_relative(&out)
        .map_err(|e| Failure::usage(format!("--name {template:?}: {e:#}")))?;
    Ok(out)
}

fn convert_table(args: &Args, report: &mut Report) -> Result<Outcome> {
    let name = input_name(args.input.as_deref());
    let chosen = [args.schema_sql.is_some(), args.schema.is_some(), args.infer];
    if chosen.iter().filter(|&&c| c).count() != 1 {
        return Err(Failure::usage(
            "give exactly one of --schema-sql FILE, --schema FILE or --infer",
        ));
    }
    let need_format = || {
        args.format
            .ok_or_else(|| Failure::usage("--format is required"))
    };

    // ---- schema ----
    let mut spooled = None;
    let table = if let Some(p) = &args.schema_sql {
        schema_from_sql(p, &args.table, "--schema-sql", false)?
    } else if let Some(p) = &args.schema {
        schema_from_sql(p, &args.table, "--schema", true)?
    } else {
        let format = need_format()?;
        let tmp = spool(args, &name)?;
        let columns = if format == Format::Ndjson {
            infer::infer_ndjson(open_spool(&tmp)?, &name)?
        } else {
            let (mut reader, header) = open_reader(args, format, open_spool(&tmp)?, &name, None)?;
            infer::infer_records(reader.as_mut(), &name, header.unwrap_or_default())?
        };
        spooled = Some(tmp);
        let (namespace, table_name) =
            split_table_arg(&args.table).map_err(|e| Failure::usage(format!("{e:#}")))?;
        TableSchema {
            namespace,
            name: table_name,
            columns,
        }
    };
    let mapping = MappingOptions {
        numeric_as: args.numeric_as,
        uuid_as: args.uuid_as,
    };
    if args.print_schema {
        let mut out = LineOut::new();
        out.raw(table.to_sql().trim_end().as_bytes())?;
        out.flush()?;
        return Ok(Outcome::Complete);
    }
    let storages = table.storages(mapping)?;
    let format = need_format()?;
    let schema_version = args
        .schema_version
        .clone()
        .unwrap_or_else(|| table.version());
    report.schema_version = Some(schema_version.clone());

    // ---- output ----
    let rel = expand_name(args, &schema_version)?;
    let dest = archive_core::naming::join_under(&args.out, &rel)
        .map_err(|e| Failure::usage(format!("{e:#}")))?;
    report.path = Some(dest.display().to_string());
    let previous_sha = if dest.is_file() {
        archive_core::hash::sha256_file(&dest).ok().map(|(_, h)| h)
    } else {
        None
    };

    let input: Box<dyn BufRead + Send> = match &spooled {
        Some(tmp) => open_spool(tmp)?,
        None => open_input(args.input.as_deref()).map_err(|e| Failure::usage(format!("{e:#}")))?,
    };
    let (mut reader, _) = open_reader(args, format, input, &name, Some(&table.columns))?;

    let arrow_schema = Arc::new(table.arrow_schema(&storages));
    let mut metadata = vec![
        ("archive.table".to_string(), args.table.clone()),
        ("archive.schema_version".into(), schema_version.clone()),
        ("archive.schema".into(), table.to_sql()),
        ("archive.snapshot".into(), args.snapshot.to_string()),
        ("archive.source_format".into(), format_name(format).into()),
        (
            "archive.tool".into(),
            format!("parquetize {}", env!("CARGO_PKG_VERSION")),
        ),
    ];
    if let Some(p) = &args.period {
        metadata.push(("archive.period".into(), p.clone()));
    }
    let write_options = WriteOptions {
        codec: args.compression,
        level: args.compression_level,
        row_group_rows: args.row_group_rows,
        row_group_bytes: args.row_group_bytes,
        dictionary_page_bytes: args.dictionary_page_bytes,
        allow_delta: !args.plain_fallback,
        metadata,
    };
    // Check the codec level before reading any input.
    write::properties(&write_options, None)?;
    let sink = if args.dry_run {
        Sink::Discard
    } else {
        Sink::File(AtomicFile::create(&dest)?)
    };

    let interrupted = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal ends the process at once (exit 130).
        signal_hook::flag::register_conditional_shutdown(sig, 130, interrupted.clone())
            .context("installing signal handlers")?;
        signal_hook::flag::register(sig, interrupted.clone())
            .context("installing signal handlers")?;
    }

    let (tx, writer) = write::spawn(sink, arrow_schema.clone(), write_options);
    let limits = Limits {
        batch_rows: args.batch_rows.max(1),
        // A batch never holds more input than a quarter of a row group.
        batch_bytes: (args.row_group_bytes / 4).max(1 << 20),
    };
    let mut progress = Progress::new();
    let converted = convert::convert(
        reader.as_mut(),
        &name,
        &table.columns,
        &storages,
        arrow_schema,
        &limits,
        &tx,
        &interrupted,
        |n| progress.tick(n),
    );
    progress.done();
    let converted = converted.and_then(|records| {
        if interrupted.load(std::sync::atomic::Ordering::Relaxed) {
            Err(anyhow::Error::new(Failure::Interrupted))
        } else {
            Ok(records)
        }
    });
    let records = match converted {
        Ok(records) => {
            report.records = records;
            let _ = tx.send(write::Msg::Done { records });
            drop(tx);
            records
        }
        Err(e) => {
            // Closing the channel without Done makes the writer drop the
            // temporary file; its own error, if any, is secondary.
            drop(tx);
            let _ = writer.join();
            return Err(e);
        }
    };
    let written = writer
        .join()
        .map_err(|_| anyhow::anyhow!("the Parquet writer thread panicked"))??;
    report.bytes = written.bytes;
    report.row_groups = written.row_groups;
    report.sha256 = Some(written.sha256.clone());

    let mut extra = Map::new();
    extra.insert("records".into(), json!(records));
    extra.insert("table".into(), json!(args.table));
    if let Some(p) = &args.period {
        extra.insert("period".into(), json!(p));
    }
    extra.insert("schema_version".into(), json!(schema_version));
    extra.insert("snapshot".into(), json!(args.snapshot));
    extra.insert("format".into(), json!("parquet"));
    extra.insert("compression".into(), json!(args.compression.name()));
    extra.insert("row_groups".into(), json!(written.row_groups));
    extra.insert("columns".into(), json!(table.columns.len()));
    extra.insert("source".into(), json!(name));
    extra.insert(
        "changed".into(),
        json!(previous_sha.as_deref() != Some(written.sha256.as_str())),
    );
    if args.dry_run {
        extra.insert("status".into(), json!("planned"));
    }
    let line = FileLine {
        root: args.out.display().to_string(),
        path: rel,
        bytes: written.bytes,
        sha256: written.sha256,
        extra,
    };
    let mut out = LineOut::new();
    out.line(&line.to_json())?;
    out.flush()?;
    Ok(Outcome::Complete)
}

fn format_name(f: Format) -> &'static str {
    match f {
        Format::PgText => "pg-text",
        Format::PgCsv => "pg-csv",
        Format::Csv => "csv",
        Format::Ndjson => "ndjson",
    }
}

/// A records counter on stderr, only when it is a terminal.
struct Progress {
    enabled: bool,
    last: Instant,
    started: Instant,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            enabled: archive_core::io::stderr_is_terminal(),
            last: Instant::now(),
            started: Instant::now(),
        }
    }

    fn tick(&mut self, records: u64) {
        if self.enabled && self.last.elapsed().as_millis() >= 250 {
            self.last = Instant::now();
            let secs = self.started.elapsed().as_secs_f64().max(0.001);
            eprint!(
                "\rparquetize: {records} records ({:.0}/s)   ",
                records as f64 / secs
            );
        }
    }

    fn done(&self) {
        if self.enabled {
            eprint!("\r\x1b[K");
        }
    }
}
