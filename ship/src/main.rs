//! `ship`: put the files named by file lines into S3 (or a local
//! directory) and print one object line per object. See README.md.

mod args;
mod dest;
mod encrypt;
mod fallback;
mod lifecycle;
mod local;
mod options;
mod payload;
mod retry;
mod run;
mod s3;
mod sources;

use clap::Parser;

fn main() {
    let cli = args::Cli::parse();
    archive_core::exit::main_with("ship", || match cli.command {
        Some(args::Command::Lifecycle(l)) => lifecycle::run(l),
        None => run::run(cli.ship),
    })
}
