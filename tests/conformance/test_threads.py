"""Threads against C_CloseAllSessions (PKCS#11 3.0 5.6; README: "safe for concurrent
threads"), and a forked child that initialises the module afresh.

Six threads each work on their own session (GCM round trips, finds, objects created and
destroyed, sessions closed and reopened) while a seventh calls C_CloseAllSessions on the same
slot every few milliseconds. The module must not crash or hang, every code must be one 5.6
allows for a session closed under the caller, every round trip that succeeds must return the
plaintext, and the token must work afterwards. The work runs in a child process (the
worker, threads_worker.py), so a crash is reported as a failure, not the end of the suite.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from keystead.softhsm_bridge import quirks
from keystead.softhsm_bridge.ck import CKU_USER, Mechanism

from .bad_input_support import assert_store_intact
from .support import aes_key

ROOT = Path(__file__).resolve().parents[2]
SECONDS = 3.0
THREADS = 6


def _worker_command(module: Any, role: str, *extra: str) -> tuple[list[str], dict[str, str]]:
    env = module.token_env.env() if module.token_env else dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    args = [sys.executable, "-m", "tests.conformance.threads_worker", role, module.info.path,
            module.token.serial, module.token.user_pin, str(SECONDS), *extra]
    return args, env


def _run_worker(module: Any) -> subprocess.CompletedProcess[str]:
    args, env = _worker_command(module, "close-all", str(THREADS))
    return subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=60 + 10 * SECONDS, check=False)


def test_close_all_sessions_under_running_threads(module: Any) -> None:
    # A crash that comes sooner or later cannot be a strict xfail (it would pass on a lucky
    # run): a module with the quirk is not run.
    if module.has_quirk("close-all-sessions-race"):
        pytest.xfail(quirks.get(module.info, "close-all-sessions-race").reason)
    proc = _run_worker(module)
    assert proc.returncode == 0, (
        f"worker exited with {proc.returncode} (negative: killed by that signal): "
        f"{proc.stderr[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["unexpected"] == [], out["unexpected"]
    assert out["wrong"] == []
    codes = out["codes"]
    # The threads did real work and were really interrupted.
    assert codes.get("C_Encrypt CKR_OK", 0) > 0
    assert codes.get("C_Decrypt CKR_OK", 0) > 0
    assert codes.get("C_FindObjects CKR_OK", 0) > 0
    assert sum(out["closes"].values()) == out["closes"].get("CKR_OK", 0) > 0
    assert sum(v for k, v in codes.items() if "SESSION_HANDLE_INVALID" in k) > 0
    assert_store_intact(module)


def _child_work(module: Any) -> dict[str, Any]:
    """In a forked child: C_Initialize, a session of its own, a GCM round trip, C_Finalize."""
    r = module.raw
    out: dict[str, Any] = {"init": r.call("C_Initialize", r.ffi.NULL)}
    if out["init"] != 0:
        return out
    slot = next(s for s in r.slot_list() if r.token_info(s)["serial"] == module.token.serial)
    h = r.open_session(slot, rw=True)
    out["login"] = r.login(h, CKU_USER, module.token.user_pin)
    k = r.create_object(h, aes_key(os.urandom(16)))
    iv, msg = os.urandom(12), os.urandom(20)
    ct = r.encrypt(h, Mechanism.AES_GCM, k, msg, r.gcm(iv))
    out["round_trip"] = r.decrypt(h, Mechanism.AES_GCM, k, ct, r.gcm(iv)) == msg
    out["finalize"] = r.call("C_Finalize", r.ffi.NULL)
    return out


def test_forked_child_initializes_afresh(module: Any, rsession: int, xfail_quirk: Any) -> None:
    """A forked child is another application (PKCS#11 2.40 6.7.7, kept by 3.0): its own
    C_Initialize succeeds and it works on its own sessions; its C_Finalize leaves the
    parent's session and token as they were."""
    xfail_quirk(module, "fork-child-already-initialized")
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.write(wfd, json.dumps(_child_work(module)).encode())
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            os.write(wfd, json.dumps({"error": repr(exc)}).encode())
        finally:
            os._exit(0)
    os.close(wfd)
    deadline = time.monotonic() + 30
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            raise AssertionError("the forked child hung")
        time.sleep(0.02)
    with os.fdopen(rfd) as f:
        child = json.loads(f.read() or "{}")
    assert child == {"init": 0, "login": 0, "round_trip": True, "finalize": 0}, child
    info = module.raw.session_info(rsession)  # the parent's session survived
    assert info["slot"] == module.slot
    assert_store_intact(module)


def test_wrap_and_unwrap_while_another_process_writes(module: Any) -> None:
    """C_WrapKey and C_UnwrapKey on token keys while a second process commits to the same
    token (README, "Slots and tokens": a second process sees changes at once, so the first drops its
    cached objects mid-call). Neither process may crash; under the sanitizer build this
    caught a use of the freed unwrapping key."""
    procs = []
    for role in ("write", "wrap"):
        args, env = _worker_command(module, role)
        procs.append(subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    results = [p.communicate(timeout=60 + 10 * SECONDS) for p in procs]
    for p, (out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, f"{p.args[3]} exited with {p.returncode}: {err[-2000:]}"
        assert json.loads(out.strip().splitlines()[-1])["rounds"] > 0
    assert_store_intact(module)
