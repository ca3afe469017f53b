#!/usr/bin/env python3
"""bench_cli.py - how long each ``keystead`` command takes, as a user runs it.

Builds, in a temporary directory, a keystead token (default PIN KDF) and a catalogue with
``--keys`` keys (1,000 by default) and about ``--audit`` audit records (through the library:
fast), then times every command of the ``keystead`` click group as a separate process (wall
clock and user + system CPU, median of ``--runs`` runs) and prints one table with the goal
and whether it is met, by the wall clock and by the CPU time.

The commands are listed from the click group itself (:func:`keystead.manager.cli.pins.
leaf_commands`): a command without a row in :data:`ROWS` and without a reason in
:data:`NOT_TIMED` stops the script before anything is built, so a new command cannot be
forgotten (tests/cli/test_bench_scripts.py runs the script at a tiny size).

The goal (docs/manager.md, "Start-up time"): with 1,000 keys in the catalogue, a command that
needs no PIN answers in under 150 ms; one that needs a PIN answers in the PIN KDF's time
plus 150 ms (``token init`` and ``token manager-pin`` derive several PIN keys: the KDF's time
once for each, plus 150 ms). ``doctor``, ``audit verify`` and ``rotate --due`` (with its
``--dry-run``) are timed too but have no goal. The KDF is measured on its own (a bare C_Login
through python-pkcs11, minus a session open; wall and CPU) and printed above the table.

    .venv/bin/python scripts/bench_cli.py                 # 1,000 keys, 5 runs per command
    .venv/bin/python scripts/bench_cli.py --keys 100 --runs 3 --audit 2000
    .venv/bin/python scripts/bench_cli.py --json          # the rows as JSON
    .venv/bin/python scripts/bench_cli.py --before OLD    # OLD (another build's `keystead`)
                                                          # timed interleaved, run by run

With ``--before``, each run of each command runs the other executable right before this one,
on the same catalogue and token, so the machine's load falls on both alike.

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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

NO_PIN_BUDGET_MS = 150.0
LABEL = "bench"
SO_PIN = "bench-so-pin-1234"
USER_PIN = "bench-user-pin-5678"
MANAGER_PIN = "bench-manager-pin-9012"

#: Commands of the click group that are not timed, and why.
NOT_TIMED = {
    "bench": "the benchmark itself (minutes; docs/bench.md)",
}
#: Goal classes: no PIN (150 ms), PIN (KDF x n + 150 ms), or none (left out by the goal).
NONE, EXCLUDED = 0, -1


@dataclass
class Spec:
    """One timed row: ``args(work, pool, i)`` gives run ``i``'s arguments; ``kdfs`` is how
    many PIN keys the command derives (0: no PIN; EXCLUDED: the goal leaves it out)."""

    label: str
    args: Callable[[Path, Callable[[], str], int], list[str]]
    kdfs: int = NONE
    pool: bool = False  # takes a fresh key from the pool on every run


def _fixed(*args: str) -> Callable[[Path, Callable[[], str], int], list[str]]:
    return lambda _w, _p, _i: list(args)


def _later() -> str:
    return (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S")


#: Command path (as typed after ``keystead``; "" is the group itself) -> its rows, in the
#: order they run (a row may use what an earlier one made: cancel-destroy undoes destroy).
ROWS: dict[str, list[Spec]] = {
    "": [Spec("--help", _fixed("--help"))],
    "init": [Spec("init", lambda w, _p, i: ["--catalogue", str(w / f"init{i}.db"), "init"])],
    "token init": [Spec("token init", lambda _w, _p, i: ["token", "init", "--label",
                                                         f"bench-t{i}"], kdfs=5)],
    "token list": [Spec("token list", _fixed("token", "list"))],
    "token manager-pin": [Spec("token manager-pin", _fixed("token", "manager-pin"), kdfs=2)],
    "key list": [Spec("key list", _fixed("key", "list")),
                 Spec("key list --json", _fixed("key", "list", "--json"))],
    "key show": [Spec("key show NAME", _fixed("key", "show", "bench/k0000")),
                 Spec("key show --usage NAME", _fixed("key", "show", "--usage", "bench/k0000"),
                      kdfs=1)],
    "key policy table": [Spec("key policy table", _fixed("key", "policy", "table"))],
    "key policy show": [Spec("key policy show NAME",
                             _fixed("key", "policy", "show", "bench/k0000"))],
    "key policy set": [Spec("key policy set NAME", lambda _w, p, _i: [
        "key", "policy", "set", p(), "--usage-limit", "100000", "--yes"], pool=True)],
    "key affected": [Spec("key affected NAME", _fixed("key", "affected", "bench/k0000",
                                                      "--version", "1"))],
    "key create": [Spec("key create NAME", lambda _w, _p, i: ["key", "create",
                                                              f"bench/new{i}"], kdfs=1)],
    "key activate": [Spec("key activate NAME", lambda _w, _p, i: ["key", "activate",
                                                                  f"bench/pre{i}"], kdfs=1)],
    "key rotate": [Spec("key rotate NAME", lambda _w, p, _i: ["key", "rotate", p()], kdfs=1,
                        pool=True)],
    "key suspend": [Spec("key suspend NAME", lambda _w, _p, i: ["key", "suspend",
                                                                f"bench/s{i}"], kdfs=1)],
    "key resume": [Spec("key resume NAME", lambda _w, _p, i: ["key", "resume", f"bench/s{i}"],
                        kdfs=1)],
    "key deactivate": [Spec("key deactivate NAME", lambda _w, p, _i: ["key", "deactivate",
                                                                      p()], kdfs=1, pool=True)],
    "key compromise": [Spec("key compromise NAME", lambda _w, p, _i: [
        "key", "compromise", p(), "--reason", "bench", "--yes"], kdfs=1, pool=True)],
    "key destroy": [Spec("key destroy NAME", lambda _w, _p, i: ["key", "destroy",
                                                                f"bench/d{i}", "--yes"],
                         kdfs=1)],
    "key cancel-destroy": [Spec("key cancel-destroy NAME", lambda _w, _p, i: [
        "key", "cancel-destroy", f"bench/d{i}"])],
    "key export-public": [Spec("key export-public PAIR", _fixed("key", "export-public",
                                                                "bench/signer"), kdfs=1)],
    "encrypt": [Spec("encrypt NAME (19 B)", lambda w, _p, i: [
        "encrypt", "bench/k0000", "--in", str(w / "small.txt"), "--out", str(w / f"s{i}.kse")],
        kdfs=1)],
    "decrypt": [Spec("decrypt (19 B)", lambda w, _p, _i: ["decrypt", "--in", str(w / "s0.kse")],
                     kdfs=1)],
    "rewrap": [Spec("rewrap (19 B)", lambda w, _p, i: [
        "rewrap", "--in", str(w / "s0.kse"), "--out", str(w / f"r{i}.kse")], kdfs=1)],
    "datakey": [Spec("datakey KEK", _fixed("datakey", "bench/kek"), kdfs=1)],
    "sign": [Spec("sign PAIR (19 B)", lambda w, _p, i: [
        "sign", "bench/signer", "--in", str(w / "small.txt"), "--out", str(w / f"sig{i}")],
        kdfs=1)],
    "verify": [Spec("verify PAIR (19 B)", lambda w, _p, _i: [
        "verify", "bench/signer", "--signature", str(w / "sig0"), "--in",
        str(w / "small.txt")], kdfs=1)],
    "audit show": [Spec("audit show --key NAME", _fixed("audit", "show", "--key",
                                                        "bench/k0000")),
                   Spec("audit show --limit 20", _fixed("audit", "show", "--limit", "20"))],
    "audit verify": [Spec("audit verify", _fixed("audit", "verify"), kdfs=EXCLUDED)],
    "rotate": [Spec("rotate --due --dry-run", _fixed("rotate", "--due", "--dry-run"),
                    kdfs=EXCLUDED),
               Spec("rotate --due", _fixed("rotate", "--due"), kdfs=EXCLUDED)],
    "doctor": [Spec("doctor", _fixed("doctor"), kdfs=EXCLUDED)],
    "module-path": [Spec("module-path", _fixed("module-path"))],
}
#: Exit statuses that are answers, not failures: 3 is "something is due" (rotate --dry-run)
#: or "the catalogue and the token disagree" (doctor).
OK_CODES = {"rotate --due --dry-run": (0, 3), "doctor": (0, 3)}


def commands() -> dict[str, object]:
    """Every runnable command of the ``keystead`` group, by path."""
    from keystead.manager.cli import cli
    from keystead.manager.cli.pins import leaf_commands

    return leaf_commands(cli)


def check_coverage() -> list[str]:
    """What is wrong between the click group and :data:`ROWS`/:data:`NOT_TIMED` (empty when
    every command has a row or a reason, and every row a command)."""
    have = set(commands())
    named = (set(ROWS) - {""}) | set(NOT_TIMED)
    return ([f"`keystead {c}` has no row in ROWS and no reason in NOT_TIMED "
             "(scripts/bench_cli.py)" for c in sorted(have - named)]
            + [f"ROWS/NOT_TIMED name `keystead {c}`, which is no command"
               for c in sorted(named - have)])


@dataclass
class Row:
    command: str
    kdfs: int
    runs: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    before: list[float] = field(default_factory=list)
    before_cpu: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)

    def goal(self, kdf: float) -> float | None:
        if self.kdfs == EXCLUDED:
            return None
        return NO_PIN_BUDGET_MS + self.kdfs * kdf


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
         ok: tuple[int, ...] = (0,)) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) milliseconds of one ``keystead ARGS`` process;
    raises on failure."""
    cpu = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run([keystead, *args], env=env, capture_output=True, check=False,
                          stdin=subprocess.DEVNULL)
    elapsed = (time.perf_counter() - start) * 1000.0
    cpu = (_children_cpu() - cpu) * 1000.0
    if done.returncode not in ok:
        raise SystemExit(f"bench_cli: keystead {' '.join(args)} exited {done.returncode}:\n"
                         f"{done.stderr.decode(errors='replace')}")
    return elapsed, cpu


def _populate(work: Path, keys: int, audit: int, runs: list[int], env: dict[str, str]
              ) -> None:
    """``keys`` keys (``bench/kNNNN``), the keys the rows act on (one of each for every
    run index in ``runs``), a key-wrapping key, a signing pair and about ``audit`` audit
    records, through the library in one process."""
    os.environ.update({k: env[k] for k in ("KEYSTEAD_CONF", "KEYSTEAD_ACTOR")})
    from keystead.manager import KeyManager, SQLiteCatalogue, open_token

    port = open_token("keystead", LABEL, USER_PIN, manager_pin=MANAGER_PIN)
    km = KeyManager(SQLiteCatalogue(work / "catalogue.db"), port, module_name="keystead",
                    token_label=LABEL)
    later = datetime.now(UTC) + timedelta(days=2)
    try:
        for i in range(keys):
            km.create_key(f"bench/k{i:04d}", owner="bench", reason="bench")
        for i in runs:
            km.create_key(f"bench/pre{i}", owner="bench", reason="bench", activate_at=later)
            km.create_key(f"bench/s{i}", owner="bench", reason="bench")
            km.create_key(f"bench/d{i}", owner="bench", reason="bench")
        km.create_key("bench/kek", "key-wrapping", owner="bench", reason="bench")
        km.create_key("bench/signer", "private-signature", algorithm="EC", length_bits=256,
                      owner="bench", reason="bench")
        have = len(km.audit_records())
        for i in range(max(0, audit - have)):
            km.encrypt(f"bench/k{i % keys:04d}", b"x" * 16, subject=f"bench {i}")
    finally:
        km.close()


def _kdf_ms(env: dict[str, str], runs: int) -> tuple[float, float]:
    """Median (wall, CPU) milliseconds of C_Login with the user PIN (a session open
    subtracted), in a child process so that this one never holds the module."""
    code = r"""
import sys, time, pkcs11
from keystead.softhsm_bridge.modules import resolve
lib = pkcs11.lib(resolve("keystead").path)
tok = lib.get_token(token_label=sys.argv[1])
def timed(**kw):
    w, c = time.perf_counter(), time.process_time()
    s = tok.open(**kw)
    w, c = time.perf_counter() - w, time.process_time() - c
    s.close()
    return w, c
w0, c0 = timed()
w1, c1 = timed(user_pin=sys.argv[2])
print((w1 - w0) * 1000.0, (c1 - c0) * 1000.0)
"""
    walls, cpus = [], []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", code, LABEL, USER_PIN], env=env,
                              capture_output=True, text=True, check=True)
        wall, cpu = map(float, done.stdout.split())
        walls.append(wall)
        cpus.append(cpu)
    return statistics.median(walls), statistics.median(cpus)


def measure(opts: argparse.Namespace, work: Path) -> dict:
    (work / "tokens").mkdir()
    (work / "keystead.conf").write_text(f"token_dir = {work / 'tokens'}\n")
    (work / "small.txt").write_bytes(b"4111 1111 1111 1111")
    env = _env(work)
    t0 = time.perf_counter()
    _run(opts.keystead, ["init"], env)
    _run(opts.keystead, ["token", "init"], env)
    indices = [*range(opts.runs), *(range(50, 50 + opts.runs) if opts.before else ())]
    _populate(work, opts.keys, opts.audit, indices, env)
    setup_s = time.perf_counter() - t0
    kdf, kdf_cpu = _kdf_ms(env, 3)
    next_key = iter(range(opts.keys - 1, 0, -1))  # pool keys from the end of the catalogue

    def pool() -> str:
        return f"bench/k{next(next_key):04d}"

    rows: list[Row] = []
    for specs in ROWS.values():
        for spec in specs:
            if opts.only and not any(spec.label.startswith(o) for o in opts.only):
                continue
            row = Row(spec.label, spec.kdfs)
            ok = OK_CODES.get(spec.label, (0,))
            for i in range(opts.runs):
                if opts.before:  # its own names and pool keys: runs 50.. of the same row
                    wall, cpu = _run(opts.before, spec.args(work, pool, 50 + i), env, ok)
                    row.before.append(wall)
                    row.before_cpu.append(cpu)
                wall, cpu = _run(opts.keystead, spec.args(work, pool, i), env, ok)
                row.runs.append(wall)
                row.cpu.append(cpu)
            rows.append(row)
    load = os.getloadavg()
    return {"keys": opts.keys, "audit": opts.audit, "runs": opts.runs, "setup_s": setup_s,
            "kdf_ms": kdf, "kdf_cpu_ms": kdf_cpu, "loadavg": load,
            "rows": [{"command": r.command, "pin_kdfs": r.kdfs, "goal_ms": r.goal(kdf),
                      "median_ms": r.median, "cpu_median_ms": r.cpu_median,
                      "met_wall": None if r.goal(kdf) is None else r.median < r.goal(kdf),
                      "met_cpu": (None if r.goal(kdf_cpu) is None
                                  else r.cpu_median < r.goal(kdf_cpu)),
                      "runs_ms": r.runs, "cpu_ms": r.cpu, "before_runs_ms": r.before,
                      "before_cpu_ms": r.before_cpu}
                     for r in rows]}


def render(report: dict) -> str:
    load = " ".join(f"{x:.2f}" for x in report["loadavg"])
    before = any(r["before_runs_ms"] for r in report["rows"])
    out = [f"{report['keys']} keys, ~{report['audit']} audit records (set up in "
           f"{report['setup_s']:.0f} s); median of {report['runs']} runs; load average "
           f"{load} (at the end)",
           f"PIN KDF (C_Login, default cost): {report['kdf_ms']:.0f} ms wall, "
           f"{report['kdf_cpu_ms']:.0f} ms CPU",
           "goal: no PIN 150 ms; PIN: the KDF x the PIN keys it derives + 150 ms (by the "
           "wall clock with the KDF's wall time, by CPU with its CPU time); '-': left out",
           ""]
    head = "| command | PIN keys | " + ("before wall / CPU ms | " if before else "") + \
        "wall ms | CPU ms | goal wall / CPU ms | met wall | met CPU |"
    out += [head, "|" + "---|" * (head.count("|") - 1)]
    for r in report["rows"]:
        kdfs = "-" if r["pin_kdfs"] == EXCLUDED else str(r["pin_kdfs"])
        if r["goal_ms"] is None:
            goal, met_w, met_c = "-", "-", "-"
        else:
            goal_cpu = NO_PIN_BUDGET_MS + r["pin_kdfs"] * report["kdf_cpu_ms"]
            goal = f"{r['goal_ms']:.0f} / {goal_cpu:.0f}"
            met_w = "yes" if r["met_wall"] else "NO"
            met_c = "yes" if r["met_cpu"] else "NO"
        old = (f"{statistics.median(r['before_runs_ms']):.0f} / "
               f"{statistics.median(r['before_cpu_ms']):.0f} | ") if before else ""
        out.append(f"| {r['command']} | {kdfs} | {old}{r['median_ms']:.0f} | "
                   f"{r['cpu_median_ms']:.0f} | {goal} | {met_w} | {met_c} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", type=int, default=1000)
    ap.add_argument("--audit", type=int, default=20000,
                    help="audit records to have in the catalogue (encryptions fill it up)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keystead", default=str(Path(sys.executable).with_name("keystead")))
    ap.add_argument("--before", metavar="EXE",
                    help="another build's keystead, timed interleaved with --keystead")
    ap.add_argument("--only", type=lambda v: [x for x in v.split(",") if x], default=[],
                    help="comma-separated row-label prefixes to time (e.g. 'key list,--help')")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    opts = ap.parse_args(argv)
    problems = check_coverage()
    if problems:
        raise SystemExit("bench_cli: " + "; ".join(problems))
    pooled = sum(s.pool for specs in ROWS.values() for s in specs)
    need = pooled * opts.runs * (2 if opts.before else 1) + 1
    if opts.runs < 1 or opts.runs > 50 or opts.keys < need:
        ap.error(f"--runs must be 1..50 and --keys at least {need} (each of the {pooled} rows "
                 "that change a key takes a fresh one per run)")
    work = Path(tempfile.mkdtemp(prefix="keystead-bench-cli-"))
    try:
        report = measure(opts, work)
    finally:
        if opts.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(report, indent=2) if opts.json else render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
