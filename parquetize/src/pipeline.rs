//! The conversion itself: records are parsed on this thread while the
//! writer thread encodes the previous batch. The file is committed only when
//! the input ended cleanly; an error or a signal (SIGINT, SIGTERM) drops
//! the temporary file.

use crate::convert::{self, Limits};
use crate::interrupt::Flag;
use crate::model::{Column, Storage};
use crate::read::RecordSource;
use crate::write::{self, Sink, WriteOptions, Written};
use anyhow::Result;
use archive_core::Failure;
use arrow::datatypes::SchemaRef;
use std::sync::atomic::Ordering;
use std::time::Instant;

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
}

/// Batch limits for the flags: a batch never holds more input than a
/// quarter of a row group.
pub fn limits(batch_rows: usize, row_group_bytes: usize, drop_array_bounds: bool) -> Limits {
    Limits {
        batch_rows: batch_rows.max(1),
        batch_bytes: (row_group_bytes / 4).max(1 << 20),
        drop_array_bounds,
    }
}

/// Convert every record of `reader` into `sink`. `parsed` is set to the
/// number of records once the whole input has been parsed.
pub fn run(
    reader: &mut dyn RecordSource,
    job: Job,
    sink: Sink,
    options: WriteOptions,
    parsed: &mut u64,
) -> Result<Written> {
    let interrupted = job.interrupted.clone();
    let (tx, writer) = write::spawn(sink, job.schema.clone(), options);
    let mut progress = Progress::new();
    let converted = convert::convert(
        reader,
        job.input,
        job.columns,
        job.storages,
        job.schema,
        &job.limits,
        &tx,
        &interrupted,
        |n| progress.tick(n),
    );
    progress.done();
    let converted = converted.and_then(|records| {
        if interrupted.load(Ordering::Relaxed) {
            Err(anyhow::Error::new(Failure::Interrupted))
        } else {
            Ok(records)
        }
    });
    match converted {
        Ok(records) => {
            *parsed = records;
            let _ = tx.send(write::Msg::Done { records });
            drop(tx);
        }
        Err(e) => {
            // Closing the channel without Done makes the writer drop the
            // temporary file; its own error, if any, is secondary.
            drop(tx);
            let _ = writer.join();
            return Err(e);
        }
    }
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("the Parquet writer thread panicked"))?
}

/// A records counter on stderr (archive_core::progress decides whether it
/// is drawn).
struct Progress {
    bar: archive_core::progress::Bar,
    last: Instant,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            bar: archive_core::progress::counter("parquetize", "converted", "records"),
            last: Instant::now(),
        }
    }

    fn tick(&mut self, records: u64) {
        if self.last.elapsed().as_millis() >= 100 {
            self.last = Instant::now();
            self.bar.set_position(records);
        }
    }

    fn done(&self) {
        self.bar.finish_and_clear();
    }
}
