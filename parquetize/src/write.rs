//! The writer thread: Arrow batches in, one Parquet file out. Encoding and
//! compression run here (the columns of a batch shared out to a few
//! threads) while the main thread parses the next batch, so both cores
//! work. Every page carries its CRC ([`crate::pages`]). The file is hashed as it is written (archive_core's
//! `HashingWriter`), and committed (fsync + rename) only when the parser
//! says the input ended cleanly; any other end drops the temporary file.

use crate::encoding::{self, Choice};
use crate::model::Codec;
use crate::pages::{self, PageCapture};
use anyhow::{Context, Result};
use archive_core::atomic::AtomicFile;
use archive_core::hash::HashingWriter;
use archive_core::Failure;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use crossbeam_channel::{Receiver, Sender};
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnWriter, ArrowRowGroupWriterFactory, ArrowWriterOptions,
};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, GzipLevel, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// The Parquet compression for a codec and its optional level; a level the
/// codec does not have is a usage error (exit 2).
fn compression(codec: Codec, level: Option<i32>) -> Result<Compression> {
    let bad = |range: &str, e: parquet::errors::ParquetError| {
        Failure::usage(format!(
            "--compression-level {} for {} ({range}): {e}",
            level.unwrap_or_default(),
            codec.name()
        ))
    };
    Ok(match codec {
        Codec::Zstd => Compression::ZSTD(match level {
            Some(l) => ZstdLevel::try_new(l).map_err(|e| bad("1-22", e))?,
            None => ZstdLevel::default(),
        }),
        Codec::Gzip => Compression::GZIP(match level {
            Some(l) => GzipLevel::try_new(u32::try_from(l).unwrap_or(u32::MAX))
                .map_err(|e| bad("0-9", e))?,
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
    /// Threads encoding columns of a batch in parallel.
    pub encode_threads: usize,
    pub metadata: Vec<(String, String)>,
}

/// Where the bytes go: the temporary file of the final path, or nowhere
/// (`--dry-run`, which still encodes everything so it reports the real
/// size and digest).
pub enum Sink {
    /// Buffered: the Parquet writer hands over 8 KiB at a time, which as
    /// system calls cost the writer thread about a tenth of its time.
    File(io::BufWriter<AtomicFile>),
    Discard,
}

/// What a file sink gathers before one write.
const SINK_BUFFER: usize = 1 << 20;

impl Sink {
    /// A sink writing (atomically) to `file`.
    pub fn file(file: AtomicFile) -> Sink {
        Sink::File(io::BufWriter::with_capacity(SINK_BUFFER, file))
    }
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
    let mut out = ChunkWriter::new(hashing, schema, props, &opts)?;
    let mut next = first;
    let records = loop {
        match next {
            Ok(Msg::Batch(b)) => out.write(&b).context("encoding Parquet")?,
            Ok(Msg::Done { records }) => break records,
            // The parser stopped without finishing: drop the temporary file.
            Err(_) => anyhow::bail!("input ended abnormally; no file written"),
        }
        next = rx.recv();
    };
    out.flush().context("finishing the Parquet file")?;
    out.file
        .append_key_value_metadata(KeyValue::new("archive.records".into(), records.to_string()));
    let row_groups = out.file.flushed_row_groups().len();
    // into_inner writes the footer.
    let hashing = out
        .file
        .into_inner()
        .context("finishing the Parquet file")?;
    let (sink, bytes, sha256) = hashing.finish();
    if let Sink::File(f) = sink {
        let dest = f.get_ref().dest().display().to_string();
        let f = f
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("writing {dest}"))?;
        f.commit().with_context(|| format!("writing {dest}"))?;
    }
    Ok(Written {
        records,
        bytes,
        sha256,
        row_groups,
    })
}

/// The file writer below `ArrowWriter`: row groups of at most
/// `row_group_rows` rows (a batch is split to fit) or about
/// `row_group_bytes` of encoded data, columns encoded on `threads` threads,
/// and every column chunk spliced in with page checksums
/// ([`crate::pages`]).
struct ChunkWriter {
    file: SerializedFileWriter<HashingWriter<Sink>>,
    factory: ArrowRowGroupWriterFactory,
    capture: Arc<PageCapture>,
    schema: SchemaRef,
    group: Option<Vec<ArrowColumnWriter>>,
    rows: usize,
    max_rows: usize,
    max_bytes: usize,
    threads: usize,
}

impl ChunkWriter {
    fn new(
        out: HashingWriter<Sink>,
        schema: SchemaRef,
        props: WriterProperties,
        opts: &WriteOptions,
    ) -> Result<ChunkWriter> {
        let capture = Arc::new(PageCapture::default());
        let options = ArrowWriterOptions::new()
            .with_properties(props)
            .with_page_store_factory(capture.clone());
        // ArrowWriter sets up the Parquet schema and the Arrow schema
        // metadata exactly as for any file; the row groups are ours.
        let (file, factory) = ArrowWriter::try_new_with_options(out, schema.clone(), options)
            .context("starting the Parquet writer")?
            .into_serialized_writer()
            .context("starting the Parquet writer")?;
        Ok(ChunkWriter {
            file,
            factory,
            capture,
            schema,
            group: None,
            rows: 0,
            max_rows: opts.row_group_rows.max(1),
            max_bytes: opts.row_group_bytes.max(1),
            threads: opts.encode_threads.max(1),
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut rest = batch.clone();
        while rest.num_rows() > 0 {
            if self.group.is_none() {
                let index = self.file.flushed_row_groups().len();
                self.group = Some(self.factory.create_column_writers(index)?);
                self.rows = 0;
            }
            let take = rest.num_rows().min(self.max_rows - self.rows);
            let part = rest.slice(0, take);
            rest = rest.slice(take, rest.num_rows() - take);
            self.encode(&part)?;
            self.rows += take;
            let bytes: usize = self
                .group
                .iter()
                .flatten()
                .map(|w| w.get_estimated_total_bytes())
                .sum();
            if self.rows >= self.max_rows || bytes >= self.max_bytes {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// Encode `part` into the open row group, the columns shared out to
    /// the threads one at a time (a slow JSON column does not hold up the
    /// rest).
    fn encode(&mut self, part: &RecordBatch) -> Result<()> {
        let mut leaves = Vec::new();
        for (field, column) in self.schema.fields().iter().zip(part.columns()) {
            leaves.extend(compute_leaves(field, column)?);
        }
        let writers = self.group.as_mut().expect("a row group is open");
        let jobs = Mutex::new(writers.iter_mut().zip(leaves.iter()));
        on_threads(self.threads, || loop {
            let job = jobs.lock().unwrap().next();
            match job {
                Some((writer, leaf)) => writer.write(leaf)?,
                None => return Ok(()),
            }
        })
    }

    /// Close the row group's columns (their last pages compressed, their
    /// checksums spliced in) on the threads, then append them in order:
    /// done on one thread, this was a pause in which the parsers waited.
    fn flush(&mut self) -> Result<()> {
        let Some(writers) = self.group.take() else {
            return Ok(());
        };
        let count = writers.len();
        let jobs = Mutex::new(writers.into_iter().enumerate());
        let closed = Mutex::new(Vec::with_capacity(count));
        let capture = &self.capture;
        on_threads(self.threads, || loop {
            let job = jobs.lock().unwrap().next();
            let Some((index, writer)) = job else {
                return Ok(());
            };
            let chunk = writer.close()?;
            let spliced = pages::with_checksums(capture.take(index), chunk.close())?;
            closed.lock().unwrap().push((index, spliced));
        })?;
        let mut closed = closed.into_inner().unwrap();
        closed.sort_by_key(|(index, _)| *index);
        let mut group = self.file.next_row_group()?;
        for (_, (bytes, close)) in closed {
            group.append_column(&bytes, close)?;
        }
        group.close()?;
        Ok(())
    }
}

/// Run `work` on `threads` threads (this one included) until each returns.
fn on_threads(threads: usize, work: impl Fn() -> Result<()> + Sync) -> Result<()> {
    if threads <= 1 {
        return work();
    }
    std::thread::scope(|scope| {
        let helpers = (1..threads)
            .map(|_| {
                std::thread::Builder::new()
                    .name("column-encode".into())
                    .spawn_scoped(scope, &work)
            })
            .collect::<std::io::Result<Vec<_>>>()
            .context("starting a column encoder thread")?;
        let mine = work();
        for h in helpers {
            h.join()
                .map_err(|_| anyhow::anyhow!("a column encoder thread panicked"))??;
        }
        mine
    })
}
