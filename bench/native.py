"""``keystead bench --c``: the pure-C benchmark of the core (native/bench/bench_core.c),
built and run by ``native/build.py bench`` from a source tree, its table parsed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from .errors import BenchError

_NUMERIC = ("bytes", "ns_per_op", "ns_per_byte", "cycles_per_byte")


def find_source(source: str | None) -> Path:
    """The source tree holding native/build.py: ``source``, else $KEYSTEAD_SOURCE, else the
    current directory or one of its parents. Raises BenchError when there is none."""
    candidates = [source] if source else []
    if os.environ.get("KEYSTEAD_SOURCE"):
        candidates.append(os.environ["KEYSTEAD_SOURCE"])
    if not candidates:
        cwd = Path.cwd().resolve()
        candidates += [str(p) for p in (cwd, *cwd.parents)]
    for c in candidates:
        if (Path(c) / "native" / "build.py").is_file():
            return Path(c)
    raise BenchError("--c needs keystead's source tree (native/build.py): run from it, or "
                     "pass --source DIR or set KEYSTEAD_SOURCE")


def parse_table(text: str) -> list[dict[str, Any]]:
    """Rows of bench_core's table: case, impl, bytes, ns/op, ns/byte, cyc/byte. A case name
    may hold spaces ("aes-256-gcm-1M (seal+open)"), so fields are taken from the right."""
    rows = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 6 or parts[0] == "case":
            continue
        try:
            nums = [float(p) for p in parts[-4:]]
        except ValueError:
            continue
        row: dict[str, Any] = {"case": " ".join(parts[:-5]), "impl": parts[-5]}
        row.update(zip(_NUMERIC, nums, strict=True))
        row["bytes"] = int(row["bytes"])
        rows.append(row)
    return rows


def run_core_bench(source: str | None, seconds: float) -> dict[str, Any]:
    """Build and run bench_core; return {"rows": [...], "text": raw output}.

    Raises BenchError when the tree is missing or the build or run fails."""
    tree = find_source(source)
    print("bench: building and running native/bench/bench_core.c", file=sys.stderr, flush=True)
    proc = subprocess.run([sys.executable, str(tree / "native" / "build.py"), "bench",
                           f"{seconds:g}"], cwd=tree, capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchError(f"the C benchmark failed (exit {proc.returncode}): {last}")
    return {"rows": parse_table(proc.stdout), "text": proc.stdout}


__all__ = ["find_source", "parse_table", "run_core_bench"]
