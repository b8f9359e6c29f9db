//! The progress line on stderr (archive_core::progress decides whether it
//! is drawn): while reading, bytes of the input against its size when the
//! input is a plain file (rate, ETA), else a byte counter; while writing,
//! the groups merged and the files written.

use indicatif::ProgressBar;
use std::path::Path;
use std::sync::Mutex;

pub struct Progress {
    reading: ProgressBar,
    writing: Mutex<Option<ProgressBar>>,
}

impl Progress {
    /// A bar for reading `input` (None: stdin).
    pub fn new(input: Option<&Path>) -> Progress {
        let reading = match input.and_then(archive_core::progress::plain_file_size) {
            Some(total) => archive_core::progress::bytes("partition", "reading", total),
            None => archive_core::progress::byte_counter("partition", "reading"),
        };
        Progress {
            reading,
            writing: Mutex::new(None),
        }
    }

    pub fn reading(&self, records: u64, bytes: u64) {
        self.reading.set_position(bytes);
        self.reading.set_message(format!("{records} records"));
    }

    pub fn writing(&self, groups: u64, files: u64) {
        let mut w = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        let bar = w.get_or_insert_with(|| {
            self.reading.finish_and_clear();
            archive_core::progress::counter("partition", "merged", "groups")
        });
        bar.set_position(groups);
        bar.set_message(format!("{files} files written"));
    }

    pub fn finish(&self) {
        self.reading.finish_and_clear();
        if let Some(b) = self
            .writing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            b.finish_and_clear();
        }
    }
}
