//! Shared pieces of the compliance archive toolkit: the line types that the
//! tools exchange on stdin/stdout, the exit codes, atomic file writes, retry
//! with backoff, the naming rules that keep derived paths inside a root,
//! sizes, `s3://` URLs, the run summary, the hashing writer, the shared
//! command-line settings and progress bars.
//!
//! Everything else lives in the tool that uses it.

pub mod atomic;
pub mod cli;
pub mod exit;
pub mod hash;
pub mod io;
pub mod lines;
pub mod naming;
pub mod progress;
pub mod report;
pub mod retry;
pub mod s3url;
pub mod size;

pub use exit::{Failure, Outcome};
pub use lines::{FileLine, ObjectLine, ObjectStatus};
