"""``keystead bench`` end to end: run the worker processes, add ratios, goals and the
machine, and return one JSON-ready report (rendered by :mod:`.render`)."""

from __future__ import annotations

import dataclasses
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
from .workloads import KEYSTEAD, LIBCRYPTO, OPENSSL, SOFTHSM2

RATIOS = ((SOFTHSM2, "keystead/softhsm2"), (OPENSSL, "keystead/openssl"),
          (LIBCRYPTO, "keystead/libcrypto"))

#: python-pkcs11 allocates a fresh output buffer per call and copies it into bytes; with
#: glibc's defaults a 1 MiB block is served by mmap and unmapped again on free, or freed at
#: the top of the heap and trimmed, so its pages are faulted back in on every call (about
#: 1.5 ms per 1 MiB operation on some machines, more than the encryption). A process may
#: raise glibc's thresholds with these variables; the default run does not (it measures what
#: a user's plain script gets), and the "tuned" figure beside it does, for every client alike.
MALLOC_ENV = {"MALLOC_TRIM_THRESHOLD_": str(256 << 20), "MALLOC_MMAP_THRESHOLD_": str(32 << 20)}

#: Rows of at least this many bytes per message are measured a second time, tuned.
TUNED_MIN_SIZE = 128 * 1024

TUNING_NOTE = ("tuned: the same rows in a worker whose environment sets "
               + " ".join(f"{k}={v}" for k, v in MALLOC_ENV.items())
               + " (glibc keeps freed 1 MiB buffers instead of unmapping or trimming them, "
                 "so python-pkcs11's per-call output buffer is not faulted in again)")


def _worker(mode: str, opts: BenchOptions) -> dict[str, Any]:
    """Run one worker process; its stderr (progress) passes through. Raises BenchError
    with the worker's one-line error when it fails."""
    env = {**os.environ, **(MALLOC_ENV if opts.tune_malloc else {})}
    proc = subprocess.run([sys.executable, "-m", "keystead.bench.worker", mode],
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
    if not w["kind"].startswith(("kw-", "pk-")):
        out["mb_per_s"] = w["size"] / s / 1e6
    if "q1_s" in cell:  # a sampled row (key generation): its spread
        out.update(q1_us=cell["q1_s"] * 1e6, q3_us=cell["q3_s"] * 1e6,
                   samples=cell["samples"])
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
            if other == LIBCRYPTO and not w["kind"].startswith("pk-"):
                continue  # the system libcrypto is a reference of the key-pair rows only
            if other in modules and "us_per_msg" in ks and "us_per_msg" in o:
                ratios[label] = o["us_per_msg"] / ks["us_per_msg"]
            elif other in modules:
                ratios[label] = None
        rows.append({"name": w["name"], "kind": w["kind"], "size": w["size"],
                     "batch": w["batch"], "threads": w["threads"], "results": cells,
                     "ratios": ratios, "tuned": None})
    return rows


def _tuned_beside(opts: BenchOptions, rows: list[dict[str, Any]]) -> None:
    """Measure the large-message rows again in a tuned worker; put its cells in each row's
    ``tuned`` (None for rows not measured tuned)."""
    names = tuple(r["name"] for r in rows if r["size"] >= TUNED_MIN_SIZE)
    if not names:
        return
    tuned_opts = dataclasses.replace(opts, tune_malloc=True, only=names, tuned_beside=False)
    tuned = _best_of([_worker("main", tuned_opts) for _ in range(opts.runs)])
    by_name = {r["name"]: r for r in _rows(tuned["rows"], opts.modules)}
    for row in rows:
        if row["name"] in by_name:
            other = by_name[row["name"]]
            row["tuned"] = {"results": other["results"], "ratios": other["ratios"]}


def build_info() -> dict[str, str]:
    """The keystead version and the commit it was built from (recorded at build time)."""
    import keystead

    return {"version": keystead.__version__, "commit": keystead.build_commit()}


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
        "build": build_info(),
        "options": opts.to_json(),
    }
    main = _best_of([_worker("main", opts) for _ in range(opts.runs)])
    report["versions"] = main.get("versions", {})
    report["rows"] = _rows(main["rows"], opts.modules)
    report["goals"] = goals(report["rows"], opts)
    report["tuning"] = None
    if opts.tuned_beside and not opts.tune_malloc:
        _tuned_beside(opts, report["rows"])
        report["tuning"] = TUNING_NOTE
    report["scale"] = None
    if opts.scale:
        report["scale"] = {m: _worker(f"scale:{m}", opts)
                           for m in opts.modules if m in (KEYSTEAD, SOFTHSM2)}
    report["c"] = run_core_bench(opts.source, opts.c_seconds) if opts.c else None
    report["elapsed_s"] = (dt.datetime.now(dt.UTC) - started).total_seconds()
    return report


__all__ = ["MALLOC_ENV", "TUNING_NOTE", "build_info", "machine", "run_bench"]
