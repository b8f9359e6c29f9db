//! The first phase: the table's schema, from `--schema-sql`, `--schema` or
//! `--infer`. Inference reads the whole input first, so the input is
//! spooled to an unnamed temporary file and read a second time from there.

use crate::config::{Config, SchemaSource};
use crate::infer;
use crate::interrupt::{self, Flag};
use crate::model::{Format, TableSchema};
use crate::read;
use crate::schema::{self, split_table_arg};
use anyhow::{Context, Result};
use archive_core::Failure;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;

/// The schema, and the spooled input when inference needed one.
pub struct Resolved {
    pub table: TableSchema,
    spool: Option<Spool>,
}

impl Resolved {
    /// The input to convert: the spool if there is one, else the input itself.
    pub fn input(&self, config: &Config, flag: &Flag) -> Result<Box<dyn BufRead + Send>> {
        match &self.spool {
            Some(spool) => spool.reader(),
            None => open(config, flag),
        }
    }
}

/// The input on its reading thread (see [`crate::interrupt`]); a file that
/// cannot be opened is a usage error (exit 2).
fn open(config: &Config, flag: &Flag) -> Result<Box<dyn BufRead + Send>> {
    interrupt::open_input(config.input.clone(), flag).map_err(|e| {
        if e.downcast_ref::<Failure>().is_some() {
            e
        } else {
            Failure::usage(format!("{e:#}"))
        }
    })
}

/// The table's schema as the flags say; `name` is the input's name in errors.
pub fn table_schema(config: &Config, name: &str, flag: &Flag) -> Result<Resolved> {
    let source = config.schema_source.as_ref().ok_or_else(|| {
        Failure::usage("give exactly one of --schema-sql FILE, --schema FILE or --infer")
    })?;
    let table = match source {
        SchemaSource::Sql(p) => schema_from_sql(p, &config.table, "--schema-sql", false)?,
        SchemaSource::File(p) => schema_from_sql(p, &config.table, "--schema", true)?,
        SchemaSource::Infer => return inferred(config, name, flag),
    };
    Ok(Resolved { table, spool: None })
}

fn inferred(config: &Config, name: &str, flag: &Flag) -> Result<Resolved> {
    let format = config.require_format()?;
    let spool = Spool::fill(open(config, flag)?, name)?;
    let columns = if format == Format::Ndjson {
        infer::infer_ndjson(spool.reader()?, name)?
    } else {
        let (mut reader, header) = read::open(config, format, spool.reader()?, name, None)?;
        infer::infer_records(reader.as_mut(), name, header.unwrap_or_default())?
    };
    let (namespace, table_name) =
        split_table_arg(&config.table).map_err(|e| Failure::usage(format!("{e:#}")))?;
    let table = TableSchema {
        namespace,
        name: table_name,
        columns,
    };
    Ok(Resolved {
        table,
        spool: Some(spool),
    })
}

/// Schema text is read in full (schema files are small).
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

/// The input, copied to a temporary file so it can be read twice: once to
/// infer, once to convert. The file has no name (it is unlinked at once),
/// so even a `kill -9` leaves nothing behind.
struct Spool(File);

impl Spool {
    fn fill(mut reader: Box<dyn BufRead + Send>, name: &str) -> Result<Spool> {
        let mut file =
            tempfile::tempfile().context("creating a temporary spool file for --infer")?;
        std::io::copy(&mut reader, &mut file).map_err(|e| read::read_error(name, 0, e))?;
        Ok(Spool(file))
    }

    /// A reader from the start of the spool (decompressing it again, as
    /// any input is, should the data itself be compressed).
    fn reader(&self) -> Result<Box<dyn BufRead + Send>> {
        let mut file = self.0.try_clone().context("reopening the spool file")?;
        file.seek(SeekFrom::Start(0))
            .context("rewinding the spool file")?;
        archive_core::io::decoder(BufReader::with_capacity(256 * 1024, file))
    }
}
