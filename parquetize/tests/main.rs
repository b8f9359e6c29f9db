//! parquetize's tests, one binary: each module drives the real binary.

mod checksums;
mod cli;
mod codecs;
mod crash;
mod never_silent;
mod parallel;
mod postgres_roundtrip;
mod support;
