"""Key generation rows of ``keystead bench``, measured sample by sample.

A key generation takes a random time (RSA searches for primes), so its figure is the median
of single generations with the spread of the samples (first and third quartiles), taken
round-robin across the clients (one generation each per round) until each has
``opts.keygen_samples`` samples or the row's time budget ``opts.keygen_budget`` is spent:
the report says how many samples each figure rests on.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

from .clients import Skipped
from .options import BenchOptions
from .workloads import Workload


def _error_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:200]


def spread(samples: list[float]) -> dict[str, Any]:
    """The cell of a sampled row: median, quartiles and count (seconds)."""
    q1, _, q3 = statistics.quantiles(samples, n=4) if len(samples) > 1 else (samples * 3)
    return {"median_s": statistics.median(samples), "q1_s": q1, "q3_s": q3,
            "samples": len(samples), "windows": len(samples), "ops_per_window": 1}


def sample_keygen(w: Workload, clients: list[Any], opts: BenchOptions) -> dict[str, Any]:
    """{client name: cell} for one key generation row (see the module docstring)."""
    cells: dict[str, Any] = {}
    live = []
    for c in clients:
        if not hasattr(c, "sample"):
            continue
        try:
            c.sample(w)  # warm-up, and whether the client can run the row at all
            live.append(c)
        except Skipped as why:
            cells[c.name] = {"skipped": str(why)}
        except Exception as exc:  # one refusing client must not hide the others
            cells[c.name] = {"error": _error_line(exc)}
            print(f"bench: {w.name} on {c.name}: {_error_line(exc)}", file=sys.stderr)
    samples: dict[str, list[float]] = {c.name: [] for c in live}
    deadline = time.monotonic() + opts.keygen_budget
    while live and min(len(v) for v in samples.values()) < opts.keygen_samples:
        if time.monotonic() > deadline and min(len(v) for v in samples.values()) >= 5:
            break
        for c in list(live):
            try:
                samples[c.name].append(c.sample(w))
            except Exception as exc:
                cells[c.name] = {"error": _error_line(exc)}
                live.remove(c)
                samples.pop(c.name)
    for name, got in samples.items():
        cells[name] = spread(got)
    return cells


__all__ = ["sample_keygen", "spread"]
