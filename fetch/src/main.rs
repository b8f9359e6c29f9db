//! fetch: pull compliance records from the ChatGPT Enterprise Compliance
//! API, its Logs Platform and the OpenAI audit log, to stdout as NDJSON.
//! The pieces are in the library: `cli` (flags), `config` (flags →
//! command), `run` (the phases), `streams` (one per endpoint family).

fn main() {
    let cli = fetch::cli::parse();
    let (summary, command) = fetch::config::resolve(cli);
    archive_core::exit::main_with("fetch", || fetch::run::run(summary, command))
}
