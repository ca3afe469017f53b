"""``keystead bench`` end to end: run the worker processes, add ratios, goals and the
machine, and return one JSON-ready report (rendered by :mod:`.render`)."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
from typing import Any

from .errors import BenchError
from .goals import goals
from .native import find_source, run_core_bench
from .options import BenchOptions
from .workloads import KEYSTEAD, OPENSSL, SOFTHSM2

RATIOS = ((SOFTHSM2, "keystead/softhsm2"), (OPENSSL, "keystead/openssl"))

#: python-pkcs11 allocates a fresh output buffer per call and copies it into bytes; with
#: glibc's defaults two 1 MiB blocks freed at the top of the heap are trimmed and faulted
#: back in on every call (about 1.5 ms per 1 MiB operation here, more than the encryption).
#: The worker (all three clients alike) runs with trimming and mmap at 1 MiB off.
MALLOC_ENV = {"MALLOC_TRIM_THRESHOLD_": str(256 << 20), "MALLOC_MMAP_THRESHOLD_": str(32 << 20)}


def _worker(mode: str, opts: BenchOptions) -> dict[str, Any]:
    """Run one worker process; its stderr (progress) passes through. Raises BenchError
    with the worker's one-line error when it fails."""
    env = {**os.environ, **(MALLOC_ENV if opts.tune_malloc else {})}
    proc = subprocess.run([sys.executable, "-m", "keystead.manager.bench.worker", mode],
                          input=json.dumps(opts.to_json()), stdout=subprocess.PIPE,
                          stderr=None, text=True, check=False, env=env)
    try:
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise BenchError(f"bench worker {mode} died (exit {proc.returncode})") from None
    if "error" in result:
        raise BenchError(f"bench worker {mode}: {result['error']}")
    return result


def machine() -> dict[str, Any]:
    """CPU model, cores, AES-related flags and the kernel (from /proc/cpuinfo)."""
    model, flags = platform.processor() or "unknown", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
    except OSError:
        pass
    wanted = ("aes", "pclmulqdq", "avx2", "avx512f", "vaes", "vpclmulqdq", "constant_tsc")
    return {"cpu": model, "cores": os.cpu_count() or 1,
            "flags": [f for f in wanted if f in flags], "kernel": platform.release(),
            "python": platform.python_version(), "load_avg": list(os.getloadavg())}


def _cell(w: dict[str, Any], cell: dict[str, Any]) -> dict[str, Any]:
    if "median_s" not in cell:
        return cell
    s = cell["median_s"]
    out = {"us_per_msg": s * 1e6, "msgs_per_s": 1.0 / s, "windows": cell["windows"],
           "ops_per_window": cell["ops_per_window"]}
    if not w["kind"].startswith("kw-"):
        out["mb_per_s"] = w["size"] / s / 1e6
    return out


def _rows(raw_rows: list[dict[str, Any]], modules: tuple[str, ...]) -> list[dict[str, Any]]:
    rows = []
    for r in raw_rows:
        w = r["workload"]
        cells = {m: _cell(w, r["cells"][m]) if m in r["cells"] else None for m in modules}
        ratios = {}
        ks = cells.get(KEYSTEAD) or {}
        for other, label in RATIOS:
            o = cells.get(other) or {}
            if other in modules and "us_per_msg" in ks and "us_per_msg" in o:
                ratios[label] = o["us_per_msg"] / ks["us_per_msg"]
            elif other in modules:
                ratios[label] = None
        rows.append({"name": w["name"], "kind": w["kind"], "size": w["size"],
                     "batch": w["batch"], "threads": w["threads"], "results": cells,
                     "ratios": ratios})
    return rows


def _best_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Merge worker runs: each cell keeps its lowest median (the least disturbed run)."""
    best = runs[0]
    for other in runs[1:]:
        for row, alt in zip(best["rows"], other["rows"], strict=True):
            for client, cell in alt["cells"].items():
                mine = row["cells"].get(client)
                if "median_s" in cell and (mine is None or "median_s" not in mine
                                           or cell["median_s"] < mine["median_s"]):
                    row["cells"][client] = cell
    return best


def run_bench(opts: BenchOptions, argv: list[str] | None = None) -> dict[str, Any]:
    """Measure everything ``opts`` asks for; return the report.

    Raises BenchError when a worker or the C benchmark fails.
    """
    if opts.c:
        find_source(opts.source)  # fail before minutes of measuring, not after
    started = dt.datetime.now(dt.UTC)
    report: dict[str, Any] = {
        "date": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": " ".join(["keystead", "bench", *(argv or [])]),
        "machine": machine(),
        "options": opts.to_json(),
    }
    main = _best_of([_worker("main", opts) for _ in range(opts.runs)])
    report["versions"] = main.get("versions", {})
    report["rows"] = _rows(main["rows"], opts.modules)
    report["goals"] = goals(report["rows"], opts)
    report["scale"] = None
    if opts.scale:
        report["scale"] = {m: _worker(f"scale:{m}", opts)
                           for m in opts.modules if m in (KEYSTEAD, SOFTHSM2)}
    report["c"] = run_core_bench(opts.source, opts.c_seconds) if opts.c else None
    report["elapsed_s"] = (dt.datetime.now(dt.UTC) - started).total_seconds()
    return report


__all__ = ["machine", "run_bench"]
