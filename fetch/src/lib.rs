//! The pieces of `fetch`, as a library so the benchmark and tests can drive
//! the streaming splitter and the pacing directly. The binary is `main.rs`.
//!
//! Layout (every import points down): `run` calls `config`'s result and the
//! `streams`; the streams use `ctx` (client, stdout, bookmarks, counters),
//! `http`, `bookmark`, `splitter` and `spool`; `model` holds the types they
//! share and imports nothing of the tool.

pub mod bookmark;
pub mod cli;
pub mod config;
pub mod ctx;
pub mod http;
pub mod model;
pub mod ratelimit;
pub mod redact;
pub mod report;
pub mod run;
pub mod splitter;
pub mod spool;
pub mod streams;
pub mod timeparse;
