//! This crate holds no code: its `tests/` drive the scripts in `scripts/`
//! (which compose the five tools) against the mock Compliance API, moto's
//! S3 server and PostgreSQL, end to end.
