//! `restore`: read the archive back. Restore cold objects, download and
//! verify them, check fixity in the cloud, print query recipes, and prune a
//! local copy once the destination holds it.

mod catalog;
mod cli;
mod config;
mod fixity;
mod get;
mod model;
mod prune;
mod query;
mod remote;
mod report;
mod run;
mod times;

fn main() {
    let cli = archive_core::cli::parse::<cli::Cli>();
    archive_core::exit::main_with("restore", || run::run(config::Config::from_cli(cli)?));
}
