//! `archive-state`: the state a job keeps beside its archive (leases,
//! bookmarks, run records), written with conditional requests so that two
//! runs at once cannot both commit.

mod cli;
mod config;
mod local;
mod model;
mod ops;
mod run;
mod s3;
mod store;

fn main() {
    let cli = archive_core::cli::parse::<cli::Cli>();
    archive_core::exit::main_with("archive-state", || run::run(config::Config::from_cli(cli)?));
}
