//! The end-to-end suite, one test binary: the scripts in `scripts/` run
//! against the mock API, moto and PostgreSQL, and what they leave is read
//! back with independent tools (pyarrow, sha256sum, boto3).

mod backup;
mod billing;
mod common;
mod config;
mod conversations;
mod crash;
mod examples;
mod export;
mod stateless;
