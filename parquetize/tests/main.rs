//! parquetize's tests, one binary: each module drives the real binary.

mod cli;
mod crash;
mod never_silent;
mod postgres_roundtrip;
mod support;
