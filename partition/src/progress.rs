//! A progress line on stderr, only when stderr is a terminal: records read,
//! MB/s, and groups written.

use indicatif::{ProgressBar, ProgressStyle};
use std::time::Instant;

pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
}

impl Progress {
    pub fn new() -> Progress {
        let bar = archive_core::io::stderr_is_terminal().then(|| {
            let b = ProgressBar::new_spinner();
            b.set_style(ProgressStyle::with_template("{spinner} {elapsed} {msg}").unwrap());
            b
        });
        Progress {
            bar,
            started: Instant::now(),
        }
    }

    pub fn reading(&self, records: u64, bytes: u64) {
        if let Some(b) = &self.bar {
            let secs = self.started.elapsed().as_secs_f64().max(1e-3);
            b.set_message(format!(
                "read {records} records, {:.1} MB/s",
                bytes as f64 / secs / 1e6
            ));
            b.tick();
        }
    }

    pub fn writing(&self, groups: u64, files: u64) {
        if let Some(b) = &self.bar {
            b.set_message(format!("merged {groups} groups, {files} files written"));
            b.tick();
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
