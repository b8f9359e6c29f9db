//! What a run did: the tally of object lines, the exit code it means, the
//! one-line summary on stderr, the JSON run summary (through archive-core's
//! `RunReport`: tool, status, exit_code, elapsed_s, started, finished, plus
//! these counts), and the progress line on a terminal.

use crate::model::{Done, Status, Trouble};
use anyhow::Result;
use archive_core::report::RunReport;
use archive_core::{Failure, Outcome};

#[derive(Default, Debug)]
pub struct Tally {
    pub objects: u64,
    pub uploaded: u64,
    pub skipped: u64,
    pub fallback: u64,
    pub failed: u64,
    pub planned: u64,
    pub conflict: u64,
    pub stale: u64,
    pub symlinks: u64,
    pub bad_lines: u64,
    pub local_bytes: u64,
    data_errors: u64,
    remote_errors: u64,
    config_errors: u64,
    partial: u64,
}

impl Tally {
    pub fn add(&mut self, d: &Done) {
        self.objects += 1;
        match d.status {
            Status::Uploaded => {
                self.uploaded += 1;
                self.local_bytes += d.line.file.bytes;
            }
            Status::Skipped if d.line.error.as_deref() == Some("symlink") => self.symlinks += 1,
            Status::Skipped => self.skipped += 1,
            Status::Fallback => self.fallback += 1,
            Status::Failed => self.failed += 1,
            Status::Planned => self.planned += 1,
            Status::Conflict => self.conflict += 1,
            Status::Stale => self.stale += 1,
        }
        match d.trouble {
            Trouble::None => {}
            Trouble::Data => self.data_errors += 1,
            Trouble::Remote => self.remote_errors += 1,
            Trouble::Config => self.config_errors += 1,
            Trouble::Partial => self.partial += 1,
        }
    }

    /// Exit code precedence: configuration (2) over remote (4) over data
    /// (3) over partial (1).
    pub fn outcome(&self) -> Result<Outcome> {
        if self.config_errors > 0 {
            return Err(Failure::usage(format!(
                "{} object(s) refused by S3 (check the bucket name, credentials and permissions)",
                self.config_errors
            )));
        }
        if self.remote_errors > 0 {
            return Err(Failure::remote(format!(
                "{} object(s) failed at the destination (each line's error says how, with its attempts), or are corrupt and kept",
                self.remote_errors
            )));
        }
        if self.data_errors + self.bad_lines > 0 {
            return Err(Failure::data(format!(
                "{} bad input line(s), {} file(s) that vanished or do not match their line",
                self.bad_lines, self.data_errors
            )));
        }
        if self.partial > 0 {
            eprintln!(
                "ship: {} object(s) not at the destination as their line says ({} conflict, {} stale, {} in the fallback)",
                self.partial, self.conflict, self.stale, self.fallback
            );
            return Ok(Outcome::Partial);
        }
        Ok(Outcome::Complete)
    }

    /// The one-line summary on stderr.
    pub fn print(&self, dest: &str, bytes_sent: u64, retries: u64, secs: f64, interrupted: bool) {
        eprintln!(
            "ship: {} object(s) to {dest}: {} uploaded, {} skipped, {} conflict, {} stale, {} fallback, {} failed, {} planned, {} symlink(s) not followed, {} bad line(s); {bytes_sent} bytes sent in {secs:.1}s, {retries} retries{}",
            self.objects,
            self.uploaded,
            self.skipped,
            self.conflict,
            self.stale,
            self.fallback,
            self.failed,
            self.planned,
            self.symlinks,
            self.bad_lines,
            if interrupted { " (interrupted)" } else { "" }
        );
    }

    /// The counts of the JSON run summary.
    pub fn fill(&self, r: &mut RunReport) {
        for (k, v) in [
            ("objects", self.objects),
            ("uploaded", self.uploaded),
            ("skipped", self.skipped),
            ("conflict", self.conflict),
            ("stale", self.stale),
            ("fallback", self.fallback),
            ("failed", self.failed),
            ("planned", self.planned),
            ("symlinks", self.symlinks),
            ("bad_lines", self.bad_lines),
        ] {
            r.set(k, v);
        }
    }
}

/// The end of a ship run: the stderr line, the summary's counts, the exit.
/// A configuration failure that stopped the run (`fatal`) is its one
/// message, exit 2.
pub fn conclude(
    t: &Tally,
    (interrupted, fatal): (bool, Option<String>),
    dest: &str,
    (sent, retries): (u64, u64),
    summary: &mut RunReport,
) -> Result<Outcome> {
    if fatal.is_none() {
        t.print(dest, sent, retries, summary.elapsed_s(), interrupted);
    }
    t.fill(summary);
    summary.set("bytes_sent", sent);
    let read = crate::payload::BYTES_READ.load(std::sync::atomic::Ordering::Relaxed);
    summary.set("bytes_read", read);
    summary.set("retries", retries);
    summary.set("interrupted", interrupted);
    if interrupted {
        return Err(anyhow::Error::new(Failure::Interrupted));
    }
    if let Some(why) = fatal {
        return Err(Failure::usage(why));
    }
    t.outcome()
}

/// Write the run summary (on failure too); a failure to write it fails a
/// run that otherwise succeeded.
pub fn finish(
    report: &RunReport,
    result: Result<Outcome>,
    path: Option<&std::path::Path>,
) -> Result<Outcome> {
    match (report.write(&result, path), result) {
        (Ok(_), r) => r,
        (Err(e), Ok(_)) => Err(e),
        (Err(e), Err(r)) => {
            eprintln!("ship: error: {e:#}");
            Err(r)
        }
    }
}

/// A progress line on stderr (archive_core::progress decides whether it is
/// drawn): bytes sent with their rate, and the objects done so far. The
/// total is not known, since lines keep arriving on stdin.
pub struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    pub fn new(dry_run: bool) -> Progress {
        if dry_run {
            return Progress(None);
        }
        Progress(Some(archive_core::progress::byte_counter("ship", "sent")))
    }

    pub fn update(&self, t: &Tally, sent: u64) {
        if let Some(pb) = &self.0 {
            pb.set_position(sent);
            pb.set_message(format!(
                "{} objects ({} uploaded, {} skipped, {} failed)",
                t.objects,
                t.uploaded,
                t.skipped,
                t.failed + t.fallback + t.conflict,
            ));
        }
    }

    /// Bytes sent so far, between finished objects (a large file's parts).
    pub fn sent(&self, sent: u64) {
        if let Some(pb) = &self.0 {
            pb.set_position(sent);
        }
    }

    pub fn finish(&self) {
        if let Some(pb) = &self.0 {
            pb.finish_and_clear();
        }
    }
}
