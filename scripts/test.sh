#!/usr/bin/env bash
# Installs the test dependencies, builds, and runs the whole test suite.
# Exits non-zero when anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
cargo build --release
cargo test --release --workspace
# The analyzers' own tests (parsers, Zeek baselines, splitting), natively.
cargo test --release --manifest-path guest-analyzers/Cargo.toml
