#!/usr/bin/env bash
# Builds Sandpiper and analyses the bundled sample traces into ./sandpiper-logs/.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
cargo build --release

out=sandpiper-logs
mkdir -p "$out"
args=()
for t in tests/data/*.pcap; do
    args+=(-r "$t")
done
target/release/sandpiper "${args[@]}" --logdir "$out"

echo
echo "Logs written to $(pwd)/$out:"
ls -l "$out"
echo
echo "First lines of $out/conn.log:"
head -n 12 "$out/conn.log"
