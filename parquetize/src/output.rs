//! Where the Parquet file goes and what it carries: its name under `--out`,
//! the key-value metadata and writer options, the temporary file it is
//! written to, and the file line printed once it is in place.

use crate::config::Config;
use crate::model::{Format, TableSchema};
use crate::write::{Sink, WriteOptions, Written};
use anyhow::Result;
use archive_core::atomic::AtomicFile;
use archive_core::io::LineOut;
use archive_core::naming::sanitize_segment;
use archive_core::{Failure, FileLine, Outcome};
use serde_json::{json, Map};
use std::path::{Path, PathBuf};

/// The file's place: relative to `--out` (the file line's `path`) and on disk.
pub struct Destination {
    pub rel: String,
    pub path: PathBuf,
    /// The digest of the file already there, if any (for `changed`).
    pub previous: Previous,
}

/// The file already at the destination, hashed on its own thread while the
/// new one is written: the digest is only wanted for `changed` at the end,
/// and hashing a large file first held up the start of the conversion.
/// The thread reads the file it opened, so the new file taking its name
/// meanwhile does not change what it hashes.
pub struct Previous(Option<std::thread::JoinHandle<Option<String>>>);

impl Previous {
    fn start(path: &Path) -> Previous {
        if !path.is_file() {
            return Previous(None);
        }
        let Ok(file) = std::fs::File::open(path) else {
            return Previous(None);
        };
        let hashing = std::thread::Builder::new()
            .name("hash-previous".into())
            .spawn(move || archive_core::hash::sha256_reader(file).ok().map(|(_, h)| h));
        Previous(hashing.ok())
    }

    /// The digest, once hashed (None: no file, or it could not be read).
    pub fn sha256(self) -> Option<String> {
        self.0.and_then(|h| h.join().ok().flatten())
    }
}

/// `--schema-version`, or the digest of the column list.
pub fn schema_version(config: &Config, table: &TableSchema) -> String {
    config
        .schema_version
        .clone()
        .unwrap_or_else(|| table.version())
}

/// Where the file goes. Unless this is a dry run, temporary files that dead
/// processes (a `kill -9`, a crash) left in that directory are removed first.
pub fn destination(config: &Config, schema_version: &str) -> Result<Destination> {
    let rel = expand_name(config, schema_version)?;
    let path = archive_core::naming::join_under(&config.out, &rel)
        .map_err(|e| Failure::usage(format!("{e:#}")))?;
    let previous = Previous::start(&path);
    if !config.dry_run {
        sweep_stale_temps(&path);
    }
    Ok(Destination {
        rel,
        path,
        previous,
    })
}

/// Housekeeping, so a failure here is a warning, not the end of the run:
/// writing the file itself will fail if the directory is really unusable.
fn sweep_stale_temps(dest: &Path) {
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Err(e) = archive_core::atomic::sweep_stale_temps(dir) {
        eprintln!("parquetize: warning: {e:#}");
    }
}

fn expand_name(config: &Config, schema_version: &str) -> Result<String> {
    let template = match (&config.name, config.snapshot, config.period.is_some()) {
        (Some(t), _, _) => t.clone(),
        (None, false, true) => "{table}-{period}.parquet".into(),
        (None, true, true) => "{table}-snapshot-{period}.parquet".into(),
        (None, false, false) => "{table}.parquet".into(),
        (None, true, false) => "{table}-snapshot.parquet".into(),
    };
    let mut out = String::new();
    let mut rest = template.as_str();
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| Failure::usage(format!("--name {template:?}: unclosed {{")))?;
        let key = &rest[open + 1..open + close];
        match key {
            "table" => out.push_str(&sanitize_segment(&config.table)),
            "period" => match &config.period {
                Some(p) => out.push_str(&sanitize_segment(p)),
                None => return Err(Failure::usage(format!("--name {template:?} uses {{period}}: give --period"))),
            },
            "schema_version" => out.push_str(&sanitize_segment(schema_version)),
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

/// The writer's options, with the metadata every file carries.
pub fn write_options(
    config: &Config,
    table: &TableSchema,
    format: Format,
    schema_version: &str,
) -> WriteOptions {
    let mut metadata = vec![
        ("archive.table".to_string(), config.table.clone()),
        ("archive.schema_version".into(), schema_version.to_string()),
        ("archive.schema".into(), table.to_sql()),
        ("archive.snapshot".into(), config.snapshot.to_string()),
        ("archive.source_format".into(), format.name().into()),
        (
            "archive.tool".into(),
            format!("parquetize {}", env!("CARGO_PKG_VERSION")),
        ),
    ];
    if let Some(p) = &config.period {
        metadata.push(("archive.period".into(), p.clone()));
    }
    WriteOptions {
        codec: config.compression,
        level: config.compression_level,
        row_group_rows: config.row_group_rows,
        row_group_bytes: config.row_group_bytes,
        dictionary_page_bytes: config.dictionary_page_bytes,
        allow_delta: config.allow_delta,
        encode_threads: config.jobs.max(1),
        metadata,
    }
}

/// The temporary file beside the destination, or nowhere for a dry run.
pub fn sink(config: &Config, dest: &Destination) -> Result<Sink> {
    Ok(if config.dry_run {
        Sink::Discard
    } else {
        Sink::file(AtomicFile::create(&dest.path)?)
    })
}

/// `--print-schema`: the resolved schema on stdout, as `--schema` reads it.
pub fn print_schema(table: &TableSchema) -> Result<Outcome> {
    let mut out = LineOut::new();
    out.raw(table.to_sql().trim_end().as_bytes())?;
    out.flush()?;
    Ok(Outcome::Complete)
}

/// The file line for what was written.
pub fn print_file_line(
    config: &Config,
    table: &TableSchema,
    source: &str,
    dest: Destination,
    schema_version: &str,
    written: Written,
) -> Result<Outcome> {
    let mut extra = Map::new();
    extra.insert("records".into(), json!(written.records));
    extra.insert("table".into(), json!(config.table));
    if let Some(p) = &config.period {
        extra.insert("period".into(), json!(p));
    }
    extra.insert("schema_version".into(), json!(schema_version));
    extra.insert("snapshot".into(), json!(config.snapshot));
    extra.insert("format".into(), json!("parquet"));
    extra.insert("compression".into(), json!(config.compression.name()));
    extra.insert("row_groups".into(), json!(written.row_groups));
    extra.insert("columns".into(), json!(table.columns.len()));
    extra.insert("source".into(), json!(source));
    let changed = dest.previous.sha256().as_deref() != Some(written.sha256.as_str());
    extra.insert("changed".into(), json!(changed));
    if config.dry_run {
        extra.insert("status".into(), json!("planned"));
    }
    let line = FileLine {
        root: config.out.display().to_string(),
        path: dest.rel,
        bytes: written.bytes,
        sha256: written.sha256,
        extra,
    };
    let mut out = LineOut::new();
    out.line(&line.to_json())?;
    out.flush()?;
    Ok(Outcome::Complete)
}
