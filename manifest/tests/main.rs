//! manifest's integration tests, one binary: each module drives the real
//! `manifest` binary on real files (and moto for S3) and checks what it
//! prints and leaves with independent tools.

mod billing_spec;
mod issue18;
mod keep_absent;
mod safety;
mod scale;
mod support;
mod verify;
mod verify_kinds;
mod write;
