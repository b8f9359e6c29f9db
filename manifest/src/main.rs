//! `manifest`: checksummed manifests that standard tools verify, and a
//! verifier for local trees and S3 prefixes. See README.md.

mod bagit;
mod cli;
mod config;
mod fields;
mod hashing;
mod json_manifest;
mod model;
mod progress;
mod report;
mod run;
mod sha256sum;
mod sign;
mod tree;
mod verify;
mod write;

fn main() {
    let cli = archive_core::cli::parse::<cli::Cli>();
    archive_core::exit::main_with("manifest", || run::run(config::from_cli(cli)?))
}
