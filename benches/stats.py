"""Confidence intervals for the benchmark scripts' time ratios (benches/throughput.sh,
benches/compare.sh).

On a shared machine single rounds vary by a third or more (the host's load comes and goes in
phases that slow a memory-bound run more than a streaming one), so a goal judged round by
round fails sooner or later however fast the code is: the more rounds, the likelier one bad
one. The scripts run their two sides in pairs (round-robin, interleaved), so that both times
of a pair ran under the same load; the statistic is therefore each pair's own ratio, and the
goal's question is whether the typical pair meets it, and how sure the pairs make us of
that. Here the pairs are resampled with replacement (a bootstrap) and the median of their
ratios recomputed for each resample: the spread of those medians bounds the true one. (The
ratio of the two sides' medians, also printed, throws the pairing away: a resample may take
one side's median from a quick phase and the other's from a slow one.)

    python3 benches/stats.py TIMES_A TIMES_B [--goal-max R]
        TIMES_A, TIMES_B: one time per line each, pair by pair (same number of lines);
        prints the median of the pairs' ratios B/A, its 90% interval, the ratio of the
        medians and the goal's verdict.
"""

import random
import statistics
import sys
from typing import List, Sequence, Tuple

RESAMPLES = 10_000


def median_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    """median(b) / median(a)."""
    return statistics.median(b) / statistics.median(a)


def pair_ratios(a: Sequence[float], b: Sequence[float]) -> List[float]:
    """b[i] / a[i] for every pair."""
    if len(a) != len(b) or not a:
        raise ValueError("need the same number of rounds on both sides, at least one")
    return [y / x for x, y in zip(a, b)]


def median_pair_ratio_interval(
    a: Sequence[float], b: Sequence[float], confidence: float = 0.90, seed: int = 1
) -> Tuple[float, float, float]:
    """The median of the pairs' ratios b[i] / a[i] and its two-sided `confidence` interval
    from resampling the pairs; each bound alone is a one-sided bound at (1 + confidence) / 2
    (95% for the default 90%). Deterministic for a given seed."""
    ratios = pair_ratios(a, b)
    rng = random.Random(seed)
    n = len(ratios)
    medians = sorted(
        statistics.median(rng.choice(ratios) for _ in range(n)) for _ in range(RESAMPLES)
    )
    tail = (1 - confidence) / 2
    lo = medians[int(tail * (RESAMPLES - 1))]
    hi = medians[int((1 - tail) * (RESAMPLES - 1))]
    return statistics.median(ratios), lo, hi


def verdict(lo: float, hi: float, goal_min: float = None, goal_max: float = None) -> str:
    """Whether a goal on the ratio holds at 95% confidence given its 90% interval."""
    if goal_max is not None:
        if hi <= goal_max:
            return "met with 95% confidence"
        return "NOT met" if lo > goal_max else "not shown (the interval straddles the goal)"
    if goal_min is not None:
        if lo >= goal_min:
            return "met with 95% confidence"
        return "NOT met" if hi < goal_min else "not shown (the interval straddles the goal)"
    raise ValueError("no goal")


def _read(path: str) -> List[float]:
    with open(path) as f:
        return [float(line) for line in f if line.strip()]


def main(argv: List[str]) -> int:
    if len(argv) not in (2, 4) or (len(argv) == 4 and argv[2] != "--goal-max"):
        print(__doc__, file=sys.stderr)
        return 2
    a, b = _read(argv[0]), _read(argv[1])
    r, lo, hi = median_pair_ratio_interval(a, b)
    print(
        f"median of the pairs' ratios B/A {r:.3f}, 90% interval {lo:.3f}-{hi:.3f} "
        f"({len(a)} pairs); ratio of the medians {median_ratio(a, b):.3f}"
    )
    if len(argv) == 4:
        goal = float(argv[3])
        print(f"goal B/A <= {goal:.3f}: {verdict(lo, hi, goal_max=goal)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
