"""Threads against C_CloseAllSessions (PKCS#11 3.0 5.6; issue 2: "safe for concurrent
threads").

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
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from keystead.softhsm_bridge import quirks

from .test_bad_input import assert_store_intact

ROOT = Path(__file__).resolve().parents[2]
SECONDS = 3.0
THREADS = 6


def _run_worker(module: Any) -> subprocess.CompletedProcess[str]:
    env = module.token_env.env() if module.token_env else dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    args = [sys.executable, "-m", "tests.conformance.threads_worker", module.info.path,
            module.token.serial, module.token.user_pin, str(SECONDS), str(THREADS)]
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
