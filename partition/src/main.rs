//! `partition`: records (NDJSON, as `fetch` writes them) into a dated layout
//! under `--out DIR`, merged with earlier runs; one file line per file.

mod assemble;
mod cli;
mod commit;
mod config;
mod daily_summary;
mod dirs;
mod existing;
mod extract;
mod group;
mod hashonly;
mod input;
mod leftovers;
mod merge;
mod model;
mod progress;
mod quarantine;
mod queue;
mod render;
mod report;
mod rewrite;
mod route;
mod run;
mod spill;
mod writers;

fn main() {
    let flags = config::read(archive_core::cli::parse::<cli::Args>());
    archive_core::exit::main_with("partition", || run::run(flags))
}
