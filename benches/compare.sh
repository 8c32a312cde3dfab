#!/usr/bin/env bash
# compare.sh - what a configuration costs against another: interleaved runs of the release
# binary with two argument lists on the benchmark trace, in pairs (A then B), so each pair
# ran under the same load.
#
# Usage (from anywhere; paths are resolved against the repository root):
#   benches/compare.sh "ARGS_A" "ARGS_B"
#   mkdir -p /tmp/analyzers && cp target/modules/{dns,http,ssh}.{wasm,toml} /tmp/analyzers
#   RUNS=15 GOAL_MAX=1.176 benches/compare.sh "--modules /tmp/analyzers" "--modules target/modules"
#
# Issue 5's goal, shipped handlers and writers costing less than 15% of the analyzer-only
# throughput, is a time ratio B/A below 1/0.85 = 1.176 with A the analyzers alone (a
# directory holding only their .wasm and .toml files) and B every module.
#
# Prints each run's wall time, each pair's ratio B/A, the medians, and the median of the
# pairs' ratios with its 90% interval and the goal's verdict (benches/stats.py).
#
# Environment: SIZE_MB=200 (the trace /tmp/bench-$SIZE_MB.pcap, built by throughput.sh if
#   missing), RUNS=15 (pairs), GOAL_MAX (a bound on B/A to judge).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
[ $# -eq 2 ] || { sed -n '2,18p' "$0" >&2; exit 2; }
A=$1
B=$2
SIZE_MB=${SIZE_MB:-200}
RUNS=${RUNS:-15}
TRACE=/tmp/bench-${SIZE_MB}.pcap
[ -s "$TRACE" ] || { echo "compare.sh: $TRACE missing (benches/throughput.sh builds it)" >&2; exit 1; }

cargo build --release -q -p sandpiper
BIN="$ROOT/target/release/sandpiper"
WORK=$(mktemp -d /tmp/compare.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

run() { # run ARGS: one run of sandpiper; prints its wall time in seconds
    local start end
    rm -rf "$WORK/out"
    start=$(date +%s%N)
    # shellcheck disable=SC2086 # an argument list
    "$BIN" -q $1 -r "$TRACE" --logdir "$WORK/out" >/dev/null
    end=$(date +%s%N)
    echo "scale=3; ($end - $start) / 1000000000" | bc
}

# Warm-up: wasmtime compiles each module on its first load and caches it.
run "$A" >/dev/null
run "$B" >/dev/null
echo "A: $A"
echo "B: $B"
for i in $(seq "$RUNS"); do
    a=$(run "$A")
    b=$(run "$B")
    echo "$a" >>"$WORK/a"
    echo "$b" >>"$WORK/b"
    printf 'pair %2d  A %6.3f s  B %6.3f s  B/A %.3f\n' "$i" "$a" "$b" "$(echo "scale=4; $b / $a" | bc)"
done
python3 - "$WORK/a" "$WORK/b" <<'PY'
import statistics, sys
a = [float(x) for x in open(sys.argv[1])]
b = [float(x) for x in open(sys.argv[2])]
pairs = [y / x for x, y in zip(a, b)]
print(f"medians: A {statistics.median(a):.3f} s, B {statistics.median(b):.3f} s; "
      f"median pair B/A {statistics.median(pairs):.3f}")
PY
if [ -n "${GOAL_MAX:-}" ]; then
    python3 benches/stats.py "$WORK/a" "$WORK/b" --goal-max "$GOAL_MAX"
else
    python3 benches/stats.py "$WORK/a" "$WORK/b"
fi
