#!/usr/bin/env bash
# The test command: install what the tests need, then the structure check,
# format check, clippy,
# and the whole workspace's tests. Each test starts the real servers it
# needs (moto, PostgreSQL, the mock Compliance API) on 127.0.0.1 and stops
# them when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh
# Module import cycles and functions over 120 lines fail the build.
python3 scripts/check-structure.py --self-test
python3 scripts/check-structure.py
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# Binaries first: tests of one crate run the binaries of others.
cargo build --workspace --bins
cargo test --workspace "$@"
