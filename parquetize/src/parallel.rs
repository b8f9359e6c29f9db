//! Parsing a CSV input on several threads: the main thread splits it into
//! chunks of whole records (read::Chunker), `workers` threads each turn a
//! chunk into batches, and an ordering thread hands the batches to the
//! writer in input order, so the file is the same as a one-thread run's.
//! At most `2 × workers` chunks are in flight, which bounds memory. The
//! first bad value in input order is the error reported.

use crate::convert::{self, Job};
use crate::read::{Chunk, Chunker, CsvSettings, Structure};
use crate::write::Msg;
use anyhow::Result;
use archive_core::Failure;
use arrow::record_batch::RecordBatch;
use crossbeam_channel::{Receiver, Sender};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// Bytes of input per chunk: a batch or two.
const CHUNK_BYTES: usize = 4 << 20;

type Parsed = Result<(Vec<RecordBatch>, u64)>;

/// Convert every chunk; returns the number of records.
pub fn convert_chunks(
    mut chunker: Chunker,
    settings: &CsvSettings,
    job: &Job,
    tx: &Sender<Msg>,
    progress: impl FnMut(u64) + Send,
) -> Result<u64> {
    let workers = job.workers.max(1);
    let (work_tx, work_rx) = crossbeam_channel::bounded::<(u64, Chunk)>(workers);
    let (done_tx, done_rx) = crossbeam_channel::bounded::<(u64, Parsed)>(2 * workers);
    let (permit_tx, permit_rx) = crossbeam_channel::bounded::<()>(2 * workers);
    let stop = AtomicBool::new(false);
    let target = CHUNK_BYTES.min(job.limits.batch_bytes);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let (work_rx, done_tx) = (work_rx.clone(), done_tx.clone());
            std::thread::Builder::new()
                .name("csv-parse".into())
                .spawn_scoped(scope, move || parse_chunks(job, settings, work_rx, done_tx))
                .map_err(|e| anyhow::anyhow!("starting a parse thread: {e}"))?;
        }
        drop((work_rx, done_tx));
        let orderer = scope.spawn(|| forward_in_order(done_rx, permit_rx, tx, &stop, progress));
        let split = split(&mut chunker, target, job, &work_tx, &permit_tx, &stop);
        drop((work_tx, permit_tx));
        let ordered = orderer
            .join()
            .map_err(|_| anyhow::anyhow!("the batch ordering thread panicked"))?;
        match (ordered, split) {
            // A bad value comes before whatever stopped the splitting.
            (Err(e), _) | (Ok(_), Err(e)) => Err(e),
            (Ok((records, forwarded)), Ok(dispatched)) if forwarded == dispatched => Ok(records),
            (Ok((_, forwarded)), Ok(dispatched)) => Err(anyhow::anyhow!(
                "internal error: {dispatched} chunks read, {forwarded} converted"
            )),
        }
    })
}

/// Split the input; returns how many chunks were dispatched.
fn split(
    chunker: &mut Chunker,
    target: usize,
    job: &Job,
    work: &Sender<(u64, Chunk)>,
    permits: &Sender<()>,
    stop: &AtomicBool,
) -> Result<u64> {
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if job.interrupted.load(Ordering::Relaxed) {
            return Err(anyhow::Error::new(Failure::Interrupted));
        }
        let Some(chunk) = chunker.next_chunk(target)? else {
            break;
        };
        // Either send fails only when the other side has stopped, whose
        // own error is the one reported.
        if permits.send(()).is_err() || work.send((seq, chunk)).is_err() {
            break;
        }
        seq += 1;
    }
    Ok(seq)
}

fn parse_chunks(
    job: &Job,
    settings: &CsvSettings,
    work: Receiver<(u64, Chunk)>,
    done: Sender<(u64, Parsed)>,
) {
    let mut converter = job.converter();
    let mut structure = Structure::default();
    for (seq, chunk) in work {
        let mut reader = settings.reader(chunk.bytes, chunk.lines_before, structure);
        let parsed = convert::convert_chunk(&mut reader, &mut converter);
        structure = reader.into_structure();
        let failed = parsed.is_err();
        if done.send((seq, parsed)).is_err() || failed {
            return;
        }
    }
}

/// Hand the batches to the writer in chunk order; returns the records and
/// the number of chunks forwarded.
fn forward_in_order(
    done: Receiver<(u64, Parsed)>,
    permits: Receiver<()>,
    tx: &Sender<Msg>,
    stop: &AtomicBool,
    mut progress: impl FnMut(u64),
) -> Result<(u64, u64)> {
    let mut waiting: BTreeMap<u64, Parsed> = BTreeMap::new();
    let (mut next, mut records) = (0u64, 0u64);
    let fail = |e: anyhow::Error| {
        stop.store(true, Ordering::Relaxed);
        Err(e)
    };
    for (seq, parsed) in done {
        waiting.insert(seq, parsed);
        while let Some(parsed) = waiting.remove(&next) {
            let _ = permits.recv();
            next += 1;
            let (batches, n) = match parsed {
                Ok(p) => p,
                Err(e) => return fail(e),
            };
            for batch in batches {
                if let Err(e) = convert::send_batch(batch, tx) {
                    return fail(e);
                }
            }
            records += n;
            progress(records);
        }
    }
    Ok((records, next))
}
