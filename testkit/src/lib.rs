//! Test helpers shared by every tool's integration tests, in the manner of
//! ripgrep's `tests/util.rs`: a unique temporary directory ([`Dir`]), a
//! command around a real binary ([`TestCommand`]) whose failures print the
//! command, directory, status, stdout and stderr, and the real servers the
//! tests talk to ([`MotoServer`], [`Postgres`], [`spawn_workspace_bin`]).

mod command;
mod dir;
pub mod mock;
mod servers;

pub use command::{Run, TestCommand};
pub use dir::Dir;
pub use mock::{run_within, Mock};
pub use servers::{
    free_port, wait_for_port, workspace_bin, Child, ListeningServer, MotoServer, Postgres,
};

/// Parse NDJSON text into values, panicking with the offending line.
pub fn parse_ndjson(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("line {} is not JSON ({e}): {l}", i + 1))
        })
        .collect()
}

/// Compare two multi-line strings and show both in full on a difference.
#[macro_export]
macro_rules! eqnice {
    ($expected:expr, $got:expr) => {{
        let expected: &str = &$expected;
        let got: &str = &$got;
        if expected != got {
            panic!(
                "\n\n==== expected ====\n{}\n==== got ====\n{}\n==========\n",
                expected, got
            );
        }
    }};
}
