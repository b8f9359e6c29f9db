//! `ship`: put the files named by file lines into S3 (or a local
//! directory) and print one object line per object. See README.md.

mod abort;
mod budget;
mod cli;
mod config;
mod encrypt;
mod fallback;
mod fsafe;
mod job;
mod leftovers;
mod lifecycle;
mod local;
mod model;
mod payload;
mod pipeline;
mod report;
mod run;
mod s3;
mod sources;
mod spool;

fn main() {
    archive_core::exit::main_with("ship", || match config::load()? {
        config::Command::Ship(cfg) => run::run(*cfg),
        config::Command::Lifecycle(cfg) => lifecycle::run(cfg),
        config::Command::AbortIncomplete(cfg) => abort::run(cfg),
    })
}
