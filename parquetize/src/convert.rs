//! The parse side of the pipeline: records from a reader into column
//! builders, a batch handed to the writer thread every `batch_rows` rows
//! (or sooner when the batch's input bytes pass `batch_bytes`), so memory
//! is bounded by the batch and row-group sizes, never by the table.

use crate::builder::ColumnBuilder;
use crate::model::{Column, Storage};
use crate::read::{Record, RecordSource};
use crate::write::Msg;
use anyhow::Result;
use archive_core::Failure;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use crossbeam_channel::Sender;
use std::sync::atomic::{AtomicBool, Ordering};

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

/// Convert every record; returns the number of records. Stops at the first
/// bad value with an input data error naming input, line, column and value.
#[allow(clippy::too_many_arguments)]
pub fn convert(
    source: &mut dyn RecordSource,
    input: &str,
    columns: &[Column],
    storages: &[Storage],
    schema: SchemaRef,
    limits: &Limits,
    tx: &Sender<Msg>,
    interrupted: &AtomicBool,
    mut progress: impl FnMut(u64),
) -> Result<u64> {
    let cap = limits.batch_rows.min(65_536);
    let mut builders: Vec<ColumnBuilder> = storages
        .iter()
        .map(|s| ColumnBuilder::new(s, cap, limits.drop_array_bounds))
        .collect();
    let mut rec = Record::default();
    let mut records = 0u64;
    let mut in_batch = 0usize;
    let mut batch_bytes = 0usize;
    let ncols = columns.len();
    while source.next_record(&mut rec)? {
        if rec.len() != ncols {
            return Err(Failure::data(format!(
                "{input}:{}: expected {ncols} fields, found {}",
                rec.line,
                rec.len()
            )));
        }
        for (i, (col, b)) in columns.iter().zip(builders.iter_mut()).enumerate() {
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
        records += 1;
        in_batch += 1;
        batch_bytes += rec.raw_len;
        if in_batch >= limits.batch_rows || batch_bytes >= limits.batch_bytes {
            send_batch(&mut builders, &schema, tx)?;
            in_batch = 0;
            batch_bytes = 0;
            progress(records);
            if interrupted.load(Ordering::Relaxed) {
                return Err(anyhow::Error::new(Failure::Interrupted));
            }
        }
    }
    if in_batch > 0 {
        send_batch(&mut builders, &schema, tx)?;
    }
    progress(records);
    Ok(records)
}

fn send_batch(builders: &mut [ColumnBuilder], schema: &SchemaRef, tx: &Sender<Msg>) -> Result<()> {
    let arrays = builders.iter_mut().map(|b| b.finish()).collect();
    let batch = RecordBatch::try_new(schema.clone(), arrays)
        .map_err(|e| anyhow::anyhow!("assembling a batch: {e}"))?;
    // A closed channel means the writer failed; its error is reported by
    // the caller after joining it.
    tx.send(Msg::Batch(batch))
        .map_err(|_| anyhow::anyhow!("the Parquet writer stopped"))
}
