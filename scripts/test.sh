#!/usr/bin/env bash
# The test command: install what the tests need, then format check, clippy,
# and the whole workspace's tests. Each test starts the real servers it
# needs (moto, PostgreSQL, the mock Compliance API) on 127.0.0.1 and stops
# them when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# Binaries first: tests of one crate run the binaries of others.
cargo build --workspace --bins
cargo test --workspace "$@"
