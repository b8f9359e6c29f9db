//! The S3 side of the toolkit, once: how a client is built (credential
//! chain, region, endpoint, timeouts), which failures are retried and how
//! often, how a failure maps to an exit code, and how S3's checksums are
//! computed and compared. ship, manifest verify and restore all use it, so
//! a missing credential or a 503 storm means the same thing in each.

pub mod checksum;
pub mod client;
pub mod preflight;
pub mod retry;

pub use client::{build_client, ClientOptions};
pub use retry::{classify, ErrorKind, RetryPolicy, S3Failure};
