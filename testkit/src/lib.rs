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

/// Deterministic pseudo-random bytes (xorshift64): incompressible test
/// data that is the same on every run for the same seed.
pub fn pseudo_random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
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
