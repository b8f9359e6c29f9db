//! A progress bar on stderr for the hashing pass, shown only when stderr
//! is a terminal (cron logs and pipes get the summary line alone).

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Files done (the bar's position) and bytes hashed (moves within a large
/// file too).
pub struct Progress {
    bar: ProgressBar,
    bytes: Arc<AtomicU64>,
}

impl Progress {
    /// A bar over `files` files; hidden unless stderr is a terminal.
    pub fn start(files: u64) -> Progress {
        let bytes = Arc::new(AtomicU64::new(0));
        if !archive_core::io::stderr_is_terminal() {
            return Progress {
                bar: ProgressBar::hidden(),
                bytes,
            };
        }
        let shown = Arc::clone(&bytes);
        let style = ProgressStyle::with_template(
            "manifest: hashing {wide_bar} {pos}/{len} files, {hashed} ({hashed_rate}), ETA {eta}",
        )
        .expect("template is valid")
        .with_key(
            "hashed",
            move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{}", HumanBytes(shown.load(Ordering::Relaxed)));
            },
        )
        .with_key("hashed_rate", {
            let rate = Arc::clone(&bytes);
            move |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let secs = s.elapsed().as_secs_f64().max(0.001);
                let per_sec = (rate.load(Ordering::Relaxed) as f64 / secs) as u64;
                let _ = write!(w, "{}/s", HumanBytes(per_sec));
            }
        });
        let bar = ProgressBar::with_draw_target(Some(files), ProgressDrawTarget::stderr_with_hz(4))
            .with_style(style);
        bar.tick();
        bar.enable_steady_tick(Duration::from_millis(250));
        Progress { bar, bytes }
    }

    /// The counter the hashing code adds bytes to.
    pub fn bytes(&self) -> &AtomicU64 {
        &self.bytes
    }

    pub fn file_done(&self) {
        self.bar.inc(1);
    }

    /// Remove the bar; the summary line follows.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
