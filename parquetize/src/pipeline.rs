//! The conversion itself: records are parsed on this thread while the
//! writer thread encodes the previous batch. The file is committed only when
//! the input ended cleanly; an error or a signal (SIGINT, SIGTERM) drops
//! the temporary file.

use crate::convert::{self, Job, Limits};
use crate::parallel;
use crate::read::Source;
use crate::write::{self, Sink, WriteOptions, Written};
use anyhow::Result;
use archive_core::Failure;
use std::sync::atomic::Ordering;
use std::time::Instant;

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
    source: Source,
    job: Job,
    sink: Sink,
    options: WriteOptions,
    parsed: &mut u64,
) -> Result<Written> {
    let interrupted = job.interrupted.clone();
    let (tx, writer) = write::spawn(sink, job.schema.clone(), options);
    let mut progress = Progress::new(job.input);
    let converted = match source {
        Source::Records(mut reader) => {
            convert::convert(reader.as_mut(), job.converter(), &tx, &interrupted, |n| {
                progress.tick(n)
            })
        }
        Source::Chunks(chunker, settings) => {
            parallel::convert_chunks(chunker, &settings, &job, &tx, |n| progress.tick(n))
        }
    };
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

/// The progress bar on stderr (archive_core::progress decides whether it
/// is drawn): bytes of the input against its size when it is a plain file
/// (rate, ETA), else a records counter.
struct Progress {
    bar: archive_core::progress::Bar,
    by_bytes: bool,
    last: Instant,
}

impl Progress {
    fn new(input: &str) -> Progress {
        match archive_core::progress::plain_file_size(std::path::Path::new(input)) {
            Some(total) => Progress {
                bar: archive_core::progress::bytes("parquetize", "converting", total),
                by_bytes: true,
                last: Instant::now(),
            },
            None => Progress {
                bar: archive_core::progress::counter("parquetize", "converted", "records"),
                by_bytes: false,
                last: Instant::now(),
            },
        }
    }

    fn tick(&mut self, records: u64) {
        if self.last.elapsed().as_millis() >= 100 {
            self.last = Instant::now();
            if self.by_bytes {
                let read = crate::interrupt::INPUT_BYTES.load(std::sync::atomic::Ordering::Relaxed);
                self.bar.set_position(read);
                self.bar.set_message(format!("{records} records"));
            } else {
                self.bar.set_position(records);
            }
        }
    }

    fn done(&self) {
        self.bar.finish_and_clear();
    }
}
