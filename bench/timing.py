"""Timing primitives of ``keystead bench``: calibrated windows, medians, throughput.

One *window* runs an operation a fixed number of times and yields the time per operation;
the count is calibrated once so that a window lasts about the target duration. A figure is
the median of several windows taken round-robin across the clients (see :mod:`.runner`).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

#: An operation: runs ``n`` times and returns the seconds spent on exactly those runs
#: (set-up and clean-up outside the clock are the operation's own business).
Op = Callable[[int], float]


def timed_loop(fn: Callable[[], object]) -> Op:
    """An Op that calls ``fn`` n times under the clock."""
    def run(n: int) -> float:
        clock = time.perf_counter
        t0 = clock()
        for _ in range(n):
            fn()
        return clock() - t0
    return run


def calibrate(op: Op, target_s: float, max_n: int = 1 << 22) -> int:
    """The count n for which ``op(n)`` lasts about ``target_s`` (at least 1).

    Doubles from 1 until a run lasts a tenth of the target, then scales up. The op runs a
    few times here, which doubles as its warm-up.
    """
    n = 1
    while True:
        spent = op(n)
        if spent >= target_s / 10 or n >= max_n:
            break
        n *= 2
    return max(1, min(max_n, int(n * target_s / max(spent, 1e-9))))


@dataclass
class Samples:
    """Seconds per operation of each window of one (workload, client) pair."""

    n: int
    per_op: list[float] = field(default_factory=list)

    def median(self) -> float:
        """Median seconds per operation (raises StatisticsError when nothing was measured)."""
        return statistics.median(self.per_op)


__all__ = ["Op", "Samples", "calibrate", "timed_loop"]
