//! The pieces of `fetch`, as a library so the benchmark and tests can drive
//! the streaming splitter and the pacing directly. The binary is `main.rs`.

pub mod bookmark;
pub mod cli;
pub mod ctx;
pub mod http;
pub mod ratelimit;
pub mod splitter;
pub mod spool;
pub mod streams;
pub mod timeparse;
