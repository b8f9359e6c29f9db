//! partition's one test binary: each module drives the real `partition` in
//! a temporary directory and checks every line it prints and every file it
//! leaves.

mod common;

mod ai_audit;
mod correctness;
mod crash;
mod hygiene;
mod layouts;
mod log_conversations;
mod scale;
mod symlinks;
