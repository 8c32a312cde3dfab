"""Confidence intervals for the benchmark scripts' time ratios (benches/throughput.sh,
benches/compare.sh).

On a shared machine single rounds vary by a third or more (the host's load comes and goes in
phases that slow a memory-bound run more than a streaming one), so a goal judged round by
round fails sooner or later however fast the code is: the more rounds, the likelier one bad
one. The question a goal asks is whether the typical ratio meets it, and how sure the rounds
make us of that. Here the rounds are resampled with replacement (a bootstrap; each round
keeps its pair of times, which ran under the same load) and the ratio of the medians is
recomputed for each resample: the spread of those ratios bounds the true one.

    python3 benches/stats.py TIMES_A TIMES_B [--goal-max R]
        TIMES_A, TIMES_B: one time per line each, round by round (same number of lines);
        prints the ratio of medians B/A, its 90% interval and the goal's verdict.
"""

import random
import statistics
import sys
from typing import List, Sequence, Tuple

RESAMPLES = 10_000


def median_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    """median(b) / median(a)."""
    return statistics.median(b) / statistics.median(a)


def median_ratio_interval(
    a: Sequence[float], b: Sequence[float], confidence: float = 0.90, seed: int = 1
) -> Tuple[float, float, float]:
    """median(b) / median(a) and its two-sided `confidence` interval from paired resampling of
    the rounds; each bound alone is a one-sided bound at (1 + confidence) / 2 (95% for the
    default 90%). Deterministic for a given seed."""
    if len(a) != len(b) or not a:
        raise ValueError("need the same number of rounds on both sides, at least one")
    rng = random.Random(seed)
    n = len(a)
    ratios: List[float] = []
    for _ in range(RESAMPLES):
        idx = [rng.randrange(n) for _ in range(n)]
        ratios.append(median_ratio([a[i] for i in idx], [b[i] for i in idx]))
    ratios.sort()
    tail = (1 - confidence) / 2
    lo = ratios[int(tail * (RESAMPLES - 1))]
    hi = ratios[int((1 - tail) * (RESAMPLES - 1))]
    return median_ratio(a, b), lo, hi


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
    r, lo, hi = median_ratio_interval(a, b)
    print(f"ratio of medians B/A {r:.3f}, 90% interval {lo:.3f}-{hi:.3f} ({len(a)} rounds)")
    if len(argv) == 4:
        goal = float(argv[3])
        print(f"goal B/A <= {goal:.3f}: {verdict(lo, hi, goal_max=goal)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
