//! The parse side of the pipeline: records from a reader into column
//! builders, a batch handed to the writer thread every `batch_rows` rows
//! (or sooner when the batch's input bytes pass `batch_bytes`), so memory
//! is bounded by the batch and row-group sizes, never by the table.

use crate::builder::ColumnBuilder;
use crate::interrupt::Flag;
use crate::model::{Column, Storage};
use crate::read::{Record, RecordSource};
use crate::write::Msg;
use anyhow::Result;
use archive_core::Failure;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use crossbeam_channel::Sender;
use std::sync::atomic::{AtomicBool, Ordering};

/// What is converted, and how.
pub struct Job<'a> {
    /// The input's name, for errors.
    pub input: &'a str,
    pub columns: &'a [Column],
    pub storages: &'a [Storage],
    pub schema: SchemaRef,
    /// Set by SIGINT/SIGTERM (see [`crate::interrupt`]).
    pub interrupted: Flag,
    pub limits: Limits,
    /// Threads parsing chunks of a CSV input (1: on the main thread).
    pub workers: usize,
}

impl Job<'_> {
    pub fn converter(&self) -> Converter<'_> {
        Converter::new(
            self.input,
            self.columns,
            self.storages,
            self.schema.clone(),
            &self.limits,
        )
    }
}

pub struct Limits {
    pub batch_rows: usize,
    pub batch_bytes: usize,
    /// `--drop-array-bounds` (see [`ColumnBuilder::new`]).
    pub drop_array_bounds: bool,
}

/// Longest value quoted in an error message.
const MAX_QUOTED: usize = 120;

fn quoted(v: &str) -> String {
    if v.chars().count() > MAX_QUOTED {
        let cut: String = v.chars().take(MAX_QUOTED).collect();
        format!("{cut:?}…")
    } else {
        format!("{v:?}")
    }
}

/// Records into column builders, a batch at a time.
pub struct Converter<'a> {
    input: &'a str,
    columns: &'a [Column],
    schema: SchemaRef,
    limits: &'a Limits,
    builders: Vec<ColumnBuilder>,
    in_batch: usize,
    batch_bytes: usize,
}

impl<'a> Converter<'a> {
    pub fn new(
        input: &'a str,
        columns: &'a [Column],
        storages: &[Storage],
        schema: SchemaRef,
        limits: &'a Limits,
    ) -> Converter<'a> {
        let cap = limits.batch_rows.min(65_536);
        Converter {
            input,
            columns,
            schema,
            limits,
            builders: storages
                .iter()
                .map(|s| ColumnBuilder::new(s, cap, limits.drop_array_bounds))
                .collect(),
            in_batch: 0,
            batch_bytes: 0,
        }
    }

    /// Append one record: an input data error names input, line, column and
    /// value. Returns a batch when the record fills one.
    pub fn push(&mut self, rec: &Record) -> Result<Option<RecordBatch>> {
        let (input, ncols) = (self.input, self.columns.len());
        if rec.len() != ncols {
            return Err(Failure::data(format!(
                "{input}:{}: expected {ncols} fields, found {}",
                rec.line,
                rec.len()
            )));
        }
        for (i, (col, b)) in self
            .columns
            .iter()
            .zip(self.builders.iter_mut())
            .enumerate()
        {
            let v = rec.field(i).map_err(|msg| {
                Failure::data(format!(
                    "{input}:{}: column {} ({}): {msg}",
                    rec.line, col.name, col.decl
                ))
            })?;
            if v.is_none() && col.not_null {
                return Err(Failure::data(format!(
                    "{input}:{}: column {} ({} NOT NULL): NULL in a NOT NULL column",
                    rec.line, col.name, col.decl
                )));
            }
            if let Err(msg) = b.append(v) {
                return Err(Failure::data(format!(
                    "{input}:{}: column {} ({}): {msg}: value {}",
                    rec.line,
                    col.name,
                    col.decl,
                    quoted(v.unwrap_or(""))
                )));
            }
        }
        self.in_batch += 1;
        self.batch_bytes += rec.raw_len;
        if self.in_batch >= self.limits.batch_rows || self.batch_bytes >= self.limits.batch_bytes {
            return self.finish().map(Some);
        }
        Ok(None)
    }

    /// The rows appended since the last batch (possibly none).
    pub fn finish(&mut self) -> Result<RecordBatch> {
        self.in_batch = 0;
        self.batch_bytes = 0;
        let arrays = self.builders.iter_mut().map(|b| b.finish()).collect();
        RecordBatch::try_new(self.schema.clone(), arrays)
            .map_err(|e| anyhow::anyhow!("assembling a batch: {e}"))
    }

    pub fn pending(&self) -> usize {
        self.in_batch
    }
}

/// Convert every record of one reader, sending each batch on `tx`;
/// returns the number of records. Stops at the first bad value.
pub fn convert(
    source: &mut dyn RecordSource,
    mut converter: Converter,
    tx: &Sender<Msg>,
    interrupted: &AtomicBool,
    mut progress: impl FnMut(u64),
) -> Result<u64> {
    let mut rec = Record::default();
    let mut records = 0u64;
    while source.next_record(&mut rec)? {
        records += 1;
        if let Some(batch) = converter.push(&rec)? {
            send_batch(batch, tx)?;
            progress(records);
            if interrupted.load(Ordering::Relaxed) {
                return Err(anyhow::Error::new(Failure::Interrupted));
            }
        }
    }
    if converter.pending() > 0 {
        send_batch(converter.finish()?, tx)?;
    }
    progress(records);
    Ok(records)
}

/// Convert one chunk's records into batches; returns them and the count.
pub fn convert_chunk(
    source: &mut dyn RecordSource,
    converter: &mut Converter,
) -> Result<(Vec<RecordBatch>, u64)> {
    let mut rec = Record::default();
    let mut records = 0u64;
    let mut batches = Vec::new();
    while source.next_record(&mut rec)? {
        records += 1;
        batches.extend(converter.push(&rec)?);
    }
    if converter.pending() > 0 {
        batches.push(converter.finish()?);
    }
    Ok((batches, records))
}

pub fn send_batch(batch: RecordBatch, tx: &Sender<Msg>) -> Result<()> {
    // A closed channel means the writer failed; its error is reported by
    // the caller after joining it.
    tx.send(Msg::Batch(batch))
        .map_err(|_| anyhow::anyhow!("the Parquet writer stopped"))
}
