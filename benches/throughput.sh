#!/usr/bin/env bash
# throughput.sh - whole-process throughput of sandpiper next to its peers (tcpdump, Suricata)
# on the shared benchmark trace, same machine, same session.
#
# Usage (from anywhere; paths are resolved against the repository root):
#   benches/throughput.sh
#   SIZE_MB=1024 RUNS=5 PEERS="cat tcpdump suricata-single ndpi" benches/throughput.sh
#
# Steps:
#   1. builds the trace /tmp/bench-$SIZE_MB.pcap with ../shared/bench/make-bench-pcap.sh
#      from ../shared/corpus/zeek/traces if it is missing (deterministic: same sha256);
#   2. cargo build --release (target/release/sandpiper), then one untimed sandpiper run on a
#      one-packet corpus trace: wasmtime compiles each module on its first load and caches
#      the result (--cache-dir), and a freshly built module would otherwise put ~1.5 s of
#      one-time compilation into the first timed round;
#   3. ../shared/bench/peers.sh with MONITOR_CMD set to sandpiper: it installs missing
#      peers with apt (Suricata 7 from bookworm-backports, a few minutes the first time),
#      runs every peer RUNS times round-robin and prints medians of wall time, user+sys CPU,
#      peak RSS, Mbit/s and kpkt/s, with ratios peer/sandpiper (>1: sandpiper is faster);
#   4. prints sandpiper's ratios against tcpdump and suricata-single (sandpiper/peer, the
#      goal is wall <= 3x tcpdump), each round's peer/sandpiper wall ratio (the spread on
#      a shared machine), in how many rounds each goal held, each goal's verdict on the
#      median round's ratio with its 90% interval (benches/stats.py: met when the whole
#      interval meets it, i.e. with 95% confidence), and the line count of sandpiper's
#      conn.log.
#
# Environment: SIZE_MB=200  RUNS=3  PEERS="tcpdump suricata-single"  OUTDIR=/tmp/peers-out
#   SANDPIPER_ARGS (default "--modules target/modules": the DNS and HTTP analyzers and the
#   known-hosts handler, the figure to put beside Suricata with its app-layer parsers; set
#   it to --no-modules for the fast path alone, conn.log and weird.log)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SIZE_MB=${SIZE_MB:-200}
RUNS=${RUNS:-3}
PEERS=${PEERS:-tcpdump suricata-single}
OUTDIR=${OUTDIR:-/tmp/peers-out}
export SIZE_MB RUNS PEERS OUTDIR
TRACE=/tmp/bench-${SIZE_MB}.pcap
SHARED=../shared

[ -d "$SHARED/bench" ] || { echo "throughput.sh: $ROOT/$SHARED/bench not found" >&2; exit 1; }

if [ ! -s "$TRACE" ]; then
    echo "== building $TRACE (SIZE_MB=$SIZE_MB)"
    "$SHARED/bench/make-bench-pcap.sh" "$SHARED/corpus/zeek/traces" "$TRACE.tmp"
    mv "$TRACE.tmp" "$TRACE"
fi

echo "== cargo build --release"
cargo build --release -q -p sandpiper
BIN="$ROOT/target/release/sandpiper"
[ -x "$BIN" ] || { echo "throughput.sh: $BIN missing" >&2; exit 1; }

ARGS=${SANDPIPER_ARGS:---modules $ROOT/target/modules}
WARM=$(mktemp -d /tmp/throughput-warm.XXXXXX)
# shellcheck disable=SC2086 # ARGS is a list of options
"$BIN" -q $ARGS -r "$SHARED/corpus/zeek/traces/dns-spf.pcap" --logdir "$WARM" ||
    echo "throughput.sh: the warm-up run failed; the first round may include compilation" >&2
rm -rf "$WARM"

echo "== peers.sh (RUNS=$RUNS, PEERS=\"$PEERS\")"
LOG=$(mktemp /tmp/throughput.XXXXXX)
MONITOR_CMD="'$BIN' -q $ARGS -r \"\$TRACE\" --logdir \"\$OUT\"" \
    "$SHARED/bench/peers.sh" "$TRACE" | tee "$LOG"

# The table: "peer runs wall_s user+sys_s rss_MiB Mbit/s kpkt/s wall/mon cpu/mon notes"
echo
echo "== sandpiper relative to its peers (sandpiper time / peer time; <1: sandpiper is faster)"
awk '$1 == "peer" && $2 == "runs" { t = 1; next }
     t && NF == 0 { t = 0 }
     t && $1 == "monitor" && $2 ~ /^[0-9]+$/ { mw = $3; mc = $4 }
     t && $1 != "monitor" && $2 ~ /^[0-9]+$/ { pw[$1] = $3; pc[$1] = $4; order[++n] = $1 }
     END {
        if (mw == "") { print "no sandpiper timing (see the peers.sh output above)"; exit 1 }
        printf "%-16s %10s %10s\n", "peer", "wall", "cpu"
        for (i = 1; i <= n; i++) {
            p = order[i]
            printf "%-16s %9.2fx %9.2fx\n", p, (pw[p] > 0 ? mw / pw[p] : 0), (pc[p] > 0 ? mc / pc[p] : 0)
        }
        if ("suricata-single" in pw && mw > 0)
            printf "goal throughput >= 2x suricata-single (wall): %s (%.2fx)\n", (pw["suricata-single"] >= 2 * mw ? "met" : "NOT met"), pw["suricata-single"] / mw
        if ("tcpdump" in pw && pw["tcpdump"] > 0)
            printf "goal sandpiper <= 3x tcpdump wall: %s (%.2fx)\n", (mw <= 3 * pw["tcpdump"] ? "met" : "NOT met"), mw / pw["tcpdump"]
     }' "$LOG"

# Round by round (peers.sh runs the peers in turn, so each round's pair ran under the same
# load): on a shared machine the spread says more than one median.
TIMES="$OUTDIR/times.tsv"
if [ -f "$TIMES" ]; then
    # Each peer's ratios in round order, in how many rounds each goal held, and the verdict:
    # the goal on the median round's ratio, with a 90% interval from resampling the rounds
    # (benches/stats.py says why a goal is judged neither round by round nor on the ratio of
    # the medians).
    python3 - "$TIMES" "$ROOT/benches" <<'PY'
import sys

sys.path.insert(0, sys.argv[2])
import stats  # noqa: E402

mon, peers = {}, {}
for line in open(sys.argv[1]):
    name, rnd, wall = line.split("\t")[:3]
    if name == "monitor":
        mon[rnd] = float(wall)
    else:
        peers.setdefault(name, {}).setdefault(rnd, float(wall))
ratios = {
    peer: [w / mon[r] if mon.get(r) else 0.0 for r, w in rounds.items()]
    for peer, rounds in peers.items()
}
print("per round, peer wall / sandpiper wall:")
for peer, rs in ratios.items():
    print(f"  {peer:<16}" + "".join(f" {x:.2f}" for x in rs))
goals = {"tcpdump": ("sandpiper <= 3x tcpdump", 1 / 3), "suricata-single": ("throughput >= 2x suricata-single", 2.0)}
for peer, (what, floor) in goals.items():
    # Rounds with both times (a peer's own failure leaves a round without one).
    rounds = [r for r, w in peers.get(peer, {}).items() if mon.get(r) and w > 0]
    if not rounds:
        continue
    m = [mon[r] for r in rounds]
    p = [peers[peer][r] for r in rounds]
    met = sum(x >= floor for x in stats.pair_ratios(m, p))
    print(f"goal {what}, round by round: met in {met} of {len(rounds)} rounds")
    ratio, lo, hi = stats.median_pair_ratio_interval(m, p)
    print(f"goal {what}: median round {ratio:.2f} peer/sandpiper, 90% interval "
          f"{lo:.2f}-{hi:.2f}: {stats.verdict(lo, hi, goal_min=floor)}")
PY
fi

CONN="$OUTDIR/monitor/conn.log"
if [ -f "$CONN" ]; then
    echo "sandpiper conn.log (last run): $(grep -vc '^#' "$CONN") records ($(wc -l < "$CONN") lines)"
fi
for f in "$OUTDIR"/monitor/*.log; do
    [ -f "$f" ] && echo "  $(basename "$f"): $(grep -vc '^#' "$f") records"
done
rm -f "$LOG"
