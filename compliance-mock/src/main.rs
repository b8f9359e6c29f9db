//! compliance-mock: the ChatGPT Enterprise Compliance API (legacy list
//! endpoints and Logs Platform) and the OpenAI organisation audit-log API,
//! served over real HTTP from generated or given data, with fault injection.

// Handlers return `Result<Response, Response>`: a rejected request is just
// another response, built once per request, so boxing it buys nothing.
#![allow(clippy::result_large_err)]

mod api;
mod app;
mod cli;
mod datadir;
mod faults;
mod gen;
mod http;
mod logfiles;
mod ratelimit;
mod reqlog;
mod rng;
mod store;
mod tls;
mod userfiles;

fn main() {
    let args = archive_core::cli::parse::<cli::Args>();
    archive_core::exit::main_with("compliance-mock", || cli::run(args))
}
