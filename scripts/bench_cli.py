#!/usr/bin/env python3
"""bench_cli.py - how long each ``keystead`` command takes, as a user runs it.

Builds, in a temporary directory, a keystead token (default PIN KDF) and a catalogue with
``--keys`` keys (1,000 by default) and about ``--audit`` audit records (through the library:
fast), then times every manager command as a separate process (wall clock, median of
``--runs`` runs) and prints one table: the median, the goal and whether it is met.

The goal (docs/manager.md, "Start-up time"): a command that needs no PIN answers in under
150 ms; one that needs a PIN (it logs in, so it derives the PIN's key once) answers in the PIN
KDF's time plus 150 ms. The KDF time is measured on its own (a bare C_Login through
python-pkcs11, minus a session open) and printed above the table.

    .venv/bin/python scripts/bench_cli.py                 # 1,000 keys, 5 runs per command
    .venv/bin/python scripts/bench_cli.py --keys 100 --runs 3 --audit 2000
    .venv/bin/python scripts/bench_cli.py --json          # the rows as JSON
    .venv/bin/python scripts/bench_cli.py --before OLD    # OLD (another build's `keystead`)
                                                          # timed interleaved, run by run

With ``--before``, each run of each command runs the other executable right before this one,
on the same catalogue and token, so the machine's load falls on both alike (the two columns
of docs/manager.md's table were measured that way).

``keystead`` is taken from the same environment as the Python running this script
(``.venv/bin/keystead``), or from ``--keystead PATH``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

NO_PIN_BUDGET_MS = 150.0
LABEL = "bench"
SO_PIN = "bench-so-pin-1234"
USER_PIN = "bench-user-pin-5678"
MANAGER_PIN = "bench-manager-pin-9012"


@dataclass
class Row:
    command: str
    pin: bool
    runs: list[float]
    cpu: list[float]
    before: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)


def _env(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "KEYSTEAD_CONF": str(work / "keystead.conf"),
        "KEYSTEAD_CATALOGUE": str(work / "catalogue.db"),
        "KEYSTEAD_MODULE_NAME": "keystead",
        "KEYSTEAD_TOKEN": LABEL,
        "KEYSTEAD_SO_PIN": SO_PIN,
        "KEYSTEAD_PIN": USER_PIN,
        "KEYSTEAD_MANAGER_PIN": MANAGER_PIN,
        "KEYSTEAD_ACTOR": "bench",
    })
    # PYTHONDONTWRITEBYTECODE: a user's install has its byte code written (pip does it);
    # without it here, a package copied in by hand would be compiled on every run.
    for var in ("KEYSTEAD_NOW", "KEYSTEAD_DRILL", "KEYSTEAD_POLICY", "PYTHONDONTWRITEBYTECODE"):
        env.pop(var, None)
    return env


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(keystead: str, args: list[str], env: dict[str, str],
         stdin: bytes = b"") -> tuple[float, float]:
    """Wall-clock and CPU (user + system) milliseconds of one ``keystead ARGS`` process;
    raises on failure."""
    cpu = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run([keystead, *args], env=env, input=stdin, capture_output=True,
                          check=False)
    elapsed = (time.perf_counter() - start) * 1000.0
    cpu = (_children_cpu() - cpu) * 1000.0
    if done.returncode != 0:
        raise SystemExit(f"bench_cli: keystead {' '.join(args)} exited {done.returncode}:\n"
                         f"{done.stderr.decode(errors='replace')}")
    return elapsed, cpu


def _populate(work: Path, keys: int, audit: int, env: dict[str, str]) -> None:
    """``keys`` keys and about ``audit`` audit records, through the library in one process."""
    os.environ.update({k: env[k] for k in ("KEYSTEAD_CONF", "KEYSTEAD_ACTOR")})
    from keystead.manager import KeyManager, SQLiteCatalogue, open_token

    port = open_token("keystead", LABEL, USER_PIN, manager_pin=MANAGER_PIN)
    km = KeyManager(SQLiteCatalogue(work / "catalogue.db"), port, module_name="keystead",
                    token_label=LABEL)
    try:
        for i in range(keys):
            km.create_key(f"bench/k{i:04d}", owner="bench", reason="bench")
        have = len(km.audit_records())
        for i in range(max(0, audit - have)):
            km.encrypt(f"bench/k{i % keys:04d}", b"x" * 16, subject=f"bench {i}")
    finally:
        km.close()


def _kdf_ms(env: dict[str, str], runs: int) -> float:
    """Median milliseconds of C_Login with the user PIN (a session open subtracted), in a
    child process so that this one never holds the module."""
    code = r"""
import sys, time, pkcs11
from keystead.softhsm_bridge.modules import resolve
lib = pkcs11.lib(resolve("keystead").path)
tok = lib.get_token(token_label=sys.argv[1])
t0 = time.perf_counter(); s = tok.open(); t1 = time.perf_counter(); s.close()
t2 = time.perf_counter(); s = tok.open(user_pin=sys.argv[2]); t3 = time.perf_counter(); s.close()
print(((t3 - t2) - (t1 - t0)) * 1000.0)
"""
    out = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", code, LABEL, USER_PIN], env=env,
                              capture_output=True, text=True, check=True)
        out.append(float(done.stdout.strip()))
    return statistics.median(out)


def _commands(work: Path) -> list[tuple[str, bool, object]]:
    """(display name, needs a PIN, args or a callable(run index) -> (args, stdin))."""
    small = work / "small.txt"
    small.write_bytes(b"4111 1111 1111 1111")
    blob = work / "small.kse"
    return [
        ("--help", False, ["--help"]),
        ("key list", False, ["key", "list"]),
        ("key list --json", False, ["key", "list", "--json"]),
        ("key show NAME", False, ["key", "show", "bench/k0500"]),
        ("key policy show NAME", False, ["key", "policy", "show", "bench/k0500"]),
        ("key policy table", False, ["key", "policy", "table"]),
        ("audit show --key NAME", False, ["audit", "show", "--key", "bench/k0500"]),
        ("audit show --limit 20", False, ["audit", "show", "--limit", "20"]),
        ("key affected NAME", False, ["key", "affected", "bench/k0500", "--version", "1"]),
        ("rotate --due --dry-run", False, ["rotate", "--due", "--dry-run"]),
        ("module-path", False, ["module-path"]),
        ("key show --usage NAME", True, ["key", "show", "--usage", "bench/k0500"]),
        ("key create NAME", True, lambda i: (["key", "create", f"bench/new{i}"], b"")),
        ("encrypt NAME (19 B)", True,
         lambda i: (["encrypt", "bench/k0500", "--in", str(small), "--out", f"{blob}.{i}"], b"")),
        ("decrypt (19 B)", True, ["decrypt", "--in", f"{blob}.0"]),
        ("key rotate NAME", True, lambda i: (["key", "rotate", f"bench/k{600 + i:04d}"], b"")),
        ("key suspend NAME", True, lambda i: (["key", "suspend", f"bench/k{700 + i:04d}"], b"")),
        ("key resume NAME", True, lambda i: (["key", "resume", f"bench/k{700 + i:04d}"], b"")),
        ("datakey KEK", True, ["datakey", "bench/kek"]),
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", type=int, default=1000)
    ap.add_argument("--audit", type=int, default=20000,
                    help="audit records to have in the catalogue (encryptions fill it up)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keystead", default=str(Path(sys.executable).with_name("keystead")))
    ap.add_argument("--before", metavar="EXE",
                    help="another build's keystead, timed interleaved with --keystead")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    opts = ap.parse_args()
    if opts.keys <= 750 + opts.runs or opts.runs > 50:
        ap.error("--keys must exceed 750 + --runs, and --runs be at most 50 (the commands "
                 "use keys k0500..k0800)")
    work = Path(tempfile.mkdtemp(prefix="keystead-bench-cli-"))
    try:
        (work / "tokens").mkdir()
        (work / "keystead.conf").write_text(f"token_dir = {work / 'tokens'}\n")
        env = _env(work)
        t0 = time.perf_counter()
        _run(opts.keystead, ["init"], env)
        _run(opts.keystead, ["token", "init"], env)
        _populate(work, opts.keys, opts.audit, env)
        _run(opts.keystead, ["key", "create", "bench/kek", "--type", "key-wrapping"], env)
        setup_s = time.perf_counter() - t0
        kdf = _kdf_ms(env, 3)
        rows: list[Row] = []
        for name, pin, spec in _commands(work):
            row = Row(name, pin, [], [])
            for i in range(opts.runs):
                if opts.before:  # its own names: runs 50.. of the same command
                    args, stdin = spec(50 + i) if callable(spec) else (spec, b"")
                    row.before.append(_run(opts.before, args, env, stdin)[0])
                args, stdin = spec(i) if callable(spec) else (spec, b"")
                wall, cpu = _run(opts.keystead, args, env, stdin)
                row.runs.append(wall)
                row.cpu.append(cpu)
            rows.append(row)
        load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
        _report(rows, kdf, load, opts, setup_s)
    finally:
        if opts.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def _report(rows: list[Row], kdf: float, load: str, opts: argparse.Namespace,
            setup_s: float) -> None:
    if opts.json:
        print(json.dumps({"kdf_ms": kdf, "load": load, "keys": opts.keys, "audit": opts.audit,
                          "rows": [{"command": r.command, "pin": r.pin, "median_ms": r.median,
                                    "cpu_median_ms": r.cpu_median, "runs_ms": r.runs,
                                    "before_runs_ms": r.before}
                                   for r in rows]}, indent=2))
        return
    print(f"{opts.keys} keys, ~{opts.audit} audit records (set up in {setup_s:.0f} s); "
          f"median of {opts.runs} runs")
    print(f"PIN KDF (C_Login, default cost): {kdf:.0f} ms; load: {load}")
    before = "before ms | " if opts.before else ""
    print(f"| {'command':<24} | PIN | {before}median ms | CPU ms | goal ms | met |")
    print(f"|{'-' * 26}|-----|{'-----------|' if opts.before else ''}-----------|--------|"
          "---------|-----|")
    for r in rows:
        goal = NO_PIN_BUDGET_MS + (kdf if r.pin else 0.0)
        met = "yes" if r.median < goal else "NO"
        old = f"{statistics.median(r.before):>9.0f} | " if r.before else ""
        print(f"| {r.command:<24} | {'yes' if r.pin else 'no':<3} | {old}{r.median:>9.0f} | "
              f"{r.cpu_median:>6.0f} | {goal:>7.0f} | {met:<3} |")


if __name__ == "__main__":
    sys.exit(main())
