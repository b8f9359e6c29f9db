//! `manifest` (no subcommand), phase by phase: read file lines or take the
//! roots (`targets`, `input`), plan each target's files (`plan`, with the
//! `previous` manifests), hash them all in one parallel pass (`probe`),
//! decide and write each target's manifests (`finish`, `assemble`,
//! `output`), and print the lines (`emit`). `run.rs` calls them in order.

pub mod assemble;
pub mod emit;
pub mod finish;
pub mod input;
pub mod output;
pub mod plan;
pub mod previous;
pub mod probe;
pub mod targets;
