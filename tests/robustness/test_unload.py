"""A module unloaded without C_Finalize (an application that dlcloses it, or a plugin host
that drops it) must not take the process down afterwards: every thread the module started
is stopped and joined by the library's destructors before its code is unmapped.

The child keeps running for longer than the audit flusher's one-second period after the
unload: a thread left waiting in the unmapped library crashes it when it wakes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.robustness.support import ROOT, provision_token

_UNLOAD = r"""
import sys, threading
from keystead.softhsm_bridge.ck import Mechanism as M
from tests.robustness.support import key_template, open_token
r, slot, h = open_token(sys.argv[1])
key = r.create_object(h, key_template("unload", True, 0, b"u"))
r.encrypt(h, M.AES_ECB, key, bytes(32))
r.ffi.dlclose(r.lib)
# Outlive the flusher's period: wait on an event nobody sets, for 2.5 seconds.
threading.Event().wait(2.5)
print("alive", flush=True)
"""


def test_process_survives_an_unload_without_finalize(tmp_path: Path) -> None:
    serial, env = provision_token(tmp_path / "tokens")
    done = subprocess.run([sys.executable, "-c", _UNLOAD, serial], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, (done.returncode, done.stderr[-3000:])
    assert done.stdout.strip() == "alive"
