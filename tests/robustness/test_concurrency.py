"""Concurrency (docs/robustness-2.md; usage counters across processes): PROCS processes
of THREADS threads each create, use, change and destroy keys on one token at once. The test
checks that every result is one some serial order of the same calls would give:

* no lost update: each thread's read-modify-write of its own key's CKA_ID leaves exactly
  its ROUNDS appended bytes; the shared "board" key ends with some thread's last write;
* a usage limit shared by every thread admits exactly LIMIT operations in total and the
  key's CKA_KS_USAGE_COUNT is LIMIT; an unlimited key counts at least every use (leased
  blocks may over-count by what each process left unused, never under-count);
* the temporary keys left are exactly those whose creator did not destroy them;
* keys destroyed by one process stop working in the others (no use that started after the
  destruction returned succeeds);
* no deadlock: every process finishes within TIMEOUT seconds, and no corrupt record: a
  fresh process reads every object and SQLite's integrity check passes.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.robustness.support import ROOT, provision_token

PROCS, THREADS, ROUNDS, LIMIT, VICTIMS = 3, 3, 20, 100, 3
LEASE = 4096  # uses reserved per durable write (native/token/policy.c KS_USAGE_LEASE)
TIMEOUT = 120


def run_worker(env: dict[str, str], *args: object) -> str:
    done = subprocess.run([sys.executable, "-m", "tests.robustness.conc_worker",
                           *map(str, args)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_processes_and_threads_at_once(tmp_path: Path) -> None:
    token_dir = tmp_path / "tokens"
    serial, env = provision_token(token_dir)
    run_worker(env, "setup", serial, LIMIT, VICTIMS)
    procs = [subprocess.Popen([sys.executable, "-m", "tests.robustness.conc_worker", "work",
                               serial, str(p), str(THREADS), str(ROUNDS)],
                              cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for p in range(PROCS)]
    results: dict[str, Any] = {}
    try:
        # Every process logs in and says "ready"; only then do all of them get "go".
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready", \
                (p.stderr.read() if p.stderr else "")[-3000:]
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        for p in procs:
            out, err = p.communicate(timeout=TIMEOUT)  # TimeoutExpired = a deadlock
            assert p.returncode == 0, err[-3000:]
            got = json.loads(out)
            assert got["failures"] == [], got["failures"]
            results.update(got["threads"])
    finally:
        for p in procs:
            p.kill()
            p.wait()
    assert len(results) == PROCS * THREADS
    for name, res in results.items():
        assert [e for e in res["errors"] if not e.startswith("victim")] == [], (name, res["errors"])
    final = json.loads(run_worker(env, "check", serial))
    for db in token_dir.glob("token-*.sqlite"):
        with sqlite3.connect(db) as con:
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    # No lost update on each thread's own key.
    for name, res in results.items():
        assert res["own_id"] == bytes(range(ROUNDS)).hex() == final["ids"][f"own-{name}"]
    # The board holds one thread's last write (a serial order ends with some thread's).
    lasts = {res["board_last"].encode().hex() for res in results.values()}
    assert final["ids"]["board"] in lasts
    # The limit admits exactly LIMIT uses across every process and thread.
    attempts = PROCS * THREADS * ROUNDS
    assert attempts > LIMIT
    assert sum(r["limited_ok"] for r in results.values()) == LIMIT
    assert sum(r["limited_refused"] for r in results.values()) == attempts - LIMIT
    assert final["counts"]["limited"] == LIMIT
    leased = sum(r["leased_ok"] for r in results.values())
    assert leased == attempts
    assert leased <= final["counts"]["leased"] <= leased + LEASE * (PROCS + 1)
    # Temporary keys: exactly the kept ones remain; every label once.
    kept = {lab for r in results.values() for lab in r["tmp_kept"]}
    assert {lab for lab in final["labels"] if lab.startswith("tmp-")} == kept
    assert len(final["labels"]) == len(set(final["labels"]))
    # Victims are gone, and nothing used them successfully after their destruction.
    assert not [lab for lab in final["labels"] if lab.startswith("victim-")]
    # Once one destroyer's loop returned, every victim was destroyed (the others' refusals
    # mean the object was already gone).
    destroyed = min(r["destroyed_at"] for r in results.values() if r["destroyed_at"])
    after = [(n, u[1]) for n, r in results.items() for u in r["victim_uses"] if u[0] > destroyed]
    gone = ("CKR_KEY_HANDLE_INVALID", "CKR_OBJECT_HANDLE_INVALID")
    assert all(rv in gone for _, rv in after), after
    print(f"{len(after)} uses of destroyed keys refused; counts {final['counts']}")
