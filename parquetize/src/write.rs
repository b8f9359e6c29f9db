//! The writer thread: Arrow batches in, one Parquet file out. Encoding and
//! compression run here while the main thread parses the next batch, so
//! both cores work. The file is hashed as it is written (archive_core's
//! `HashingWriter`), and committed (fsync + rename) only when the parser
//! says the input ended cleanly; any other end drops the temporary file.

use crate::encoding::{self, Choice};
use crate::model::Codec;
use anyhow::{Context, Result};
use archive_core::atomic::AtomicFile;
use archive_core::hash::HashingWriter;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use crossbeam_channel::{Receiver, Sender};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, GzipLevel, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use std::io::{self, Write};
use std::thread::JoinHandle;

/// The Parquet compression for a codec and its optional level.
fn compression(codec: Codec, level: Option<i32>) -> Result<Compression> {
    Ok(match codec {
        Codec::Zstd => Compression::ZSTD(match level {
            Some(l) => ZstdLevel::try_new(l).context("--compression-level for zstd (1-22)")?,
            None => ZstdLevel::default(),
        }),
        Codec::Gzip => Compression::GZIP(match level {
            Some(l) => {
                GzipLevel::try_new(l as u32).context("--compression-level for gzip (0-9)")?
            }
            None => GzipLevel::default(),
        }),
        Codec::Snappy => Compression::SNAPPY,
        Codec::None => Compression::UNCOMPRESSED,
    })
}

pub struct WriteOptions {
    pub codec: Codec,
    pub level: Option<i32>,
    pub row_group_rows: usize,
    pub row_group_bytes: usize,
    pub dictionary_page_bytes: usize,
    /// May sorted integer-backed columns use DELTA_BINARY_PACKED?
    pub allow_delta: bool,
    pub metadata: Vec<(String, String)>,
}

/// Where the bytes go: the temporary file of the final path, or nowhere
/// (`--dry-run`, which still encodes everything so it reports the real
/// size and digest).
pub enum Sink {
    File(AtomicFile),
    Discard,
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::File(f) => f.write(buf),
            Sink::Discard => Ok(buf.len()),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::File(f) => f.flush(),
            Sink::Discard => Ok(()),
        }
    }
}

pub enum Msg {
    Batch(RecordBatch),
    /// The input ended cleanly after this many records: finish and commit.
    Done {
        records: u64,
    },
}

/// What was written.
pub struct Written {
    pub records: u64,
    pub bytes: u64,
    pub sha256: String,
    pub row_groups: usize,
}

/// Writer properties; `sample` (the first batch) picks each column's
/// encoding (see [`crate::encoding`]).
pub fn properties(opts: &WriteOptions, sample: Option<&RecordBatch>) -> Result<WriterProperties> {
    let kv = opts
        .metadata
        .iter()
        .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
        .collect();
    let mut builder = WriterProperties::builder();
    if let Some(batch) = sample {
        for (name, choice) in encoding::choose_all(batch, opts.allow_delta) {
            let path = ColumnPath::new(vec![name]);
            builder = match choice {
                Choice::Dictionary => builder,
                Choice::Plain => builder.set_column_dictionary_enabled(path, false),
                Choice::Delta => builder
                    .set_column_dictionary_enabled(path.clone(), false)
                    .set_column_encoding(path, Encoding::DELTA_BINARY_PACKED),
            };
        }
    }
    Ok(builder
        .set_compression(compression(opts.codec, opts.level)?)
        .set_dictionary_enabled(true)
        .set_dictionary_page_size_limit(opts.dictionary_page_bytes)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(opts.row_group_rows.max(1)))
        .set_max_row_group_bytes(Some(opts.row_group_bytes.max(1)))
        .set_created_by(format!(
            "parquetize {} (parquet-rs)",
            env!("CARGO_PKG_VERSION")
        ))
        .set_key_value_metadata(Some(kv))
        .build())
}

/// Start the writer thread. Batches are sent on the returned channel,
/// which holds at most two, so memory stays bounded by the batch size.
pub fn spawn(
    sink: Sink,
    schema: SchemaRef,
    opts: WriteOptions,
) -> (Sender<Msg>, JoinHandle<Result<Written>>) {
    let (tx, rx) = crossbeam_channel::bounded::<Msg>(2);
    let handle = std::thread::Builder::new()
        .name("parquet-writer".into())
        .spawn(move || write_all(sink, schema, opts, rx))
        .expect("spawning the writer thread");
    (tx, handle)
}

fn write_all(
    sink: Sink,
    schema: SchemaRef,
    opts: WriteOptions,
    rx: Receiver<Msg>,
) -> Result<Written> {
    let hashing = HashingWriter::new(sink);
    // The writer is created when the first batch (the encoding sample) or
    // the end of an empty input arrives.
    let first = rx.recv();
    let sample = match &first {
        Ok(Msg::Batch(b)) => Some(b),
        _ => None,
    };
    let props = properties(&opts, sample)?;
    let mut writer = ArrowWriter::try_new(hashing, schema, Some(props))
        .context("starting the Parquet writer")?;
    let mut next = first;
    let records = loop {
        match next {
            Ok(Msg::Batch(b)) => writer.write(&b).context("encoding Parquet")?,
            Ok(Msg::Done { records }) => break records,
            // The parser stopped without finishing: drop the temporary file.
            Err(_) => anyhow::bail!("input ended abnormally; no file written"),
        }
        next = rx.recv();
    };
    writer.append_key_value_metadata(KeyValue::new("archive.records".into(), records.to_string()));
    // into_inner writes the footer; finish() would write it a second time.
    writer.flush().context("finishing the Parquet file")?;
    let row_groups = writer.flushed_row_groups().len();
    let hashing = writer.into_inner().context("finishing the Parquet file")?;
    let (sink, bytes, sha256) = hashing.finish();
    if let Sink::File(f) = sink {
        let dest = f.dest().display().to_string();
        f.commit().with_context(|| format!("writing {dest}"))?;
    }
    Ok(Written {
        records,
        bytes,
        sha256,
        row_groups,
    })
}
