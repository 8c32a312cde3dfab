#!/usr/bin/env bash
# Installs the test dependencies, builds, and runs the whole test suite.
# Exits non-zero when anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
# The `ci` profile is release without LTO and debuginfo (see Cargo.toml): the same
# optimised code, linked into each test binary far faster.
cargo build --profile ci
# Compile the shipped components (the JavaScript one is 12 MB) once into the
# artifact caches the tests use, so tests that start the binary in parallel load them rather
# than each compiling them again on a cold machine.
target/ci/sandpiper --list-modules --cache-dir target/tmp/wasm-cache >/dev/null
# Likewise the Python twin of known-services (18 MB), which tests/known_services.rs runs
# beside the shipped C handler in every test.
rm -rf target/tmp/precompile && mkdir -p target/tmp/precompile
cp target/test-modules/known-services-py.{wasm,toml} target/tmp/precompile/
target/ci/sandpiper --list-modules --modules target/tmp/precompile --cache-dir target/tmp/wasm-cache >/dev/null
user_cache="${XDG_CACHE_HOME:-$HOME/.cache}/sandpiper"
mkdir -p "$user_cache"
cp -r target/tmp/wasm-cache/. "$user_cache/"
cargo test --profile ci --workspace
# The analyzers' own tests (parsers, Zeek baselines, splitting), natively.
cargo test --profile ci --manifest-path guest-analyzers/Cargo.toml
# The log writers' formats (tsv-format, json-writer) and the Rust handlers, natively, and the
# packed-rows codec the host and the writers share, and the sdk (its allocator).
cargo test --manifest-path guest-scripts/Cargo.toml
cargo test --manifest-path sdk/Cargo.toml -p sandpiper-packed -p sandpiper-sdk
