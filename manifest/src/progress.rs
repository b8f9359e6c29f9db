//! The hashing pass's progress bar on stderr: bytes hashed out of the bytes
//! to hash, with rate and ETA (archive_core::progress decides whether it is
//! drawn at all; cron logs and pipes get the summary line alone).

use indicatif::ProgressBar;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Bytes hashed (the hashing code adds to the counter as it reads, so the
/// bar moves within a large file too) against the total size of the files.
pub struct Progress {
    bar: ProgressBar,
    bytes: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
}

impl Progress {
    /// A bar over `total` bytes, or hidden. `total` is only asked for when
    /// the bar is drawn (it costs a stat per file).
    pub fn start(total: impl FnOnce() -> u64) -> Progress {
        let bytes = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        if !archive_core::progress::enabled() {
            let bar = ProgressBar::hidden();
            return Progress { bar, bytes, done };
        }
        let bar = archive_core::progress::bytes("manifest", "hashing", total());
        // The hashing threads only bump an atomic; this thread moves the bar.
        let (b, n, d) = (bar.clone(), Arc::clone(&bytes), Arc::clone(&done));
        std::thread::spawn(move || {
            while !d.load(Ordering::Relaxed) {
                b.set_position(n.load(Ordering::Relaxed));
                std::thread::sleep(Duration::from_millis(250));
            }
        });
        Progress { bar, bytes, done }
    }

    /// The counter the hashing code adds bytes to.
    pub fn bytes(&self) -> &AtomicU64 {
        &self.bytes
    }

    /// A file whose digest was reused without reading it.
    pub fn skipped(&self, len: u64) {
        self.bytes.fetch_add(len, Ordering::Relaxed);
    }

    /// Remove the bar; the summary line follows.
    pub fn finish(&self) {
        self.done.store(true, Ordering::Relaxed);
        self.bar.finish_and_clear();
    }
}
