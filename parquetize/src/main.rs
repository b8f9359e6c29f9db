//! `parquetize`: PostgreSQL table dumps (COPY text or CSV), CSV and NDJSON
//! to exact, typed, compressed Parquet, streaming in bounded memory; prints
//! one file line per Parquet file written.

mod builder;
mod cli;
mod config;
mod convert;
mod encoding;
mod infer;
mod interrupt;
mod model;
mod output;
mod pages;
mod parallel;
mod pipeline;
mod read;
mod report;
mod resolve;
mod run;
mod schema;
#[cfg(test)]
mod test_rng;
mod value;
mod write;

fn main() {
    let config = config::Config::from_command_line();
    archive_core::exit::main_with("parquetize", || run::run(config))
}
