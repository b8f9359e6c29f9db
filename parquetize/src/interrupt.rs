//! SIGINT and SIGTERM: the first sets a flag the run checks, a second ends
//! the process at once (exit 130). A run blocked reading a pipe (stdin
//! from a stalled producer) would never see the flag, so the input is read
//! on its own thread and handed over in chunks; the consumer waits on the
//! channel with a timeout and gives up when the flag is set, so the run
//! ends promptly through its normal error path (temporary file removed,
//! summary written, exit 130). The reading thread may stay blocked in
//! `read`; it ends with the process.

use anyhow::{Context, Result};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use std::io::{self, BufRead, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Set once SIGINT or SIGTERM arrived.
pub type Flag = Arc<AtomicBool>;

/// How often a waiting reader looks at the flag.
const POLL: Duration = Duration::from_millis(50);

/// Bytes per chunk handed from the reading thread.
pub const CHUNK: usize = 1 << 20;

/// Install the handlers; the returned flag is set by the first signal.
pub fn install() -> Result<Flag> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Registered first, so it sees the flag before the second handler
        // sets it: only a second signal ends the process at once (exit 130).
        signal_hook::flag::register_conditional_shutdown(sig, 130, flag.clone())
            .context("installing signal handlers")?;
        signal_hook::flag::register(sig, flag.clone()).context("installing signal handlers")?;
    }
    Ok(flag)
}

/// The marker inside the `io::Error` a reader returns once the flag is
/// set; [`is_interrupt`] recognises it.
#[derive(Debug)]
struct SignalArrived;

impl std::fmt::Display for SignalArrived {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted by a signal")
    }
}

impl std::error::Error for SignalArrived {}

/// True when `e` is what an interrupted reader returned.
pub fn is_interrupt(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<SignalArrived>())
}

fn interrupted_error() -> io::Error {
    // Not ErrorKind::Interrupted: std's read loops retry that one.
    io::Error::other(SignalArrived)
}

/// Bytes the input reader has handed on (after decompression), for the
/// progress bar; one input per process.
pub static INPUT_BYTES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

enum Msg {
    Opened,
    OpenFailed(anyhow::Error),
    Data(Vec<u8>),
    Failed(io::Error),
    End,
}

/// Open `path` (None or `-`: stdin, decompressed as archive_core opens any
/// input) on a reading thread. An open error is returned as is; a signal
/// while waiting is `Failure::Interrupted`.
pub fn open_input(path: Option<PathBuf>, flag: &Flag) -> Result<Box<dyn BufRead + Send>> {
    let (tx, rx) = crossbeam_channel::bounded::<Msg>(4);
    // Buffers the consumer is done with come back to be read into again:
    // a new zeroed megabyte per read cost the reading thread a third of
    // its time.
    let (spent_tx, spent_rx) = crossbeam_channel::bounded::<Vec<u8>>(4);
    std::thread::Builder::new()
        .name("input-reader".into())
        .spawn(move || {
            let mut input = match archive_core::io::open_input(path.as_deref()) {
                Ok(i) => i,
                Err(e) => {
                    let _ = tx.send(Msg::OpenFailed(e));
                    return;
                }
            };
            if tx.send(Msg::Opened).is_err() {
                return;
            }
            loop {
                let mut buf = spent_rx.try_recv().unwrap_or_default();
                buf.resize(CHUNK, 0);
                let msg = match read_some(&mut input, &mut buf) {
                    Ok(0) => Msg::End,
                    Ok(n) => {
                        INPUT_BYTES.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                        buf.truncate(n);
                        Msg::Data(buf)
                    }
                    Err(e) => Msg::Failed(e),
                };
                let last = !matches!(msg, Msg::Data(_));
                if tx.send(msg).is_err() || last {
                    return;
                }
            }
        })
        .context("starting the input reader thread")?;
    let mut reader = ChannelReader {
        rx,
        flag: flag.clone(),
        chunk: Vec::new(),
        pos: 0,
        done: false,
        spent: spent_tx,
    };
    match reader.wait() {
        Ok(Msg::Opened) => Ok(Box::new(reader)),
        Ok(Msg::OpenFailed(e)) => Err(e),
        Ok(_) => anyhow::bail!("the input reader thread answered out of order"),
        Err(e) if is_interrupt(&e) => Err(anyhow::Error::new(archive_core::Failure::Interrupted)),
        Err(e) => Err(e.into()),
    }
}

/// One read (what a pipe has now, or a buffer's worth of a file), so a
/// slow producer's lines are converted as they come.
fn read_some(input: &mut dyn BufRead, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match input.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

struct ChannelReader {
    rx: Receiver<Msg>,
    flag: Flag,
    chunk: Vec<u8>,
    pos: usize,
    done: bool,
    /// Where a consumed chunk goes back to the reading thread.
    spent: crossbeam_channel::Sender<Vec<u8>>,
}

impl ChannelReader {
    /// The next message, giving up when a signal arrived.
    fn wait(&mut self) -> io::Result<Msg> {
        loop {
            if self.flag.load(Ordering::Relaxed) {
                return Err(interrupted_error());
            }
            match self.rx.recv_timeout(POLL) {
                Ok(m) => return Ok(m),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(io::Error::other("the input reader thread stopped"))
                }
            }
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for ChannelReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos == self.chunk.len() && !self.done {
            match self.wait()? {
                Msg::Data(d) => {
                    let spent = std::mem::replace(&mut self.chunk, d);
                    // Full (the reader has buffers enough) or gone: dropped.
                    let _ = self.spent.try_send(spent);
                    self.pos = 0;
                }
                Msg::End => self.done = true,
                Msg::Failed(e) => return Err(e),
                Msg::Opened | Msg::OpenFailed(_) => {
                    return Err(io::Error::other(
                        "the input reader thread answered out of order",
                    ))
                }
            }
        }
        Ok(&self.chunk[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.chunk.len());
    }
}
