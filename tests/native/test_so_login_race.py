"""PKCS#11 3.0 5.6: C_Login as the SO fails with CKR_SESSION_READ_ONLY_EXISTS while a
read-only session exists, and C_OpenSession of a read-only session fails with
CKR_SESSION_READ_WRITE_SO_EXISTS while the SO is logged in. Both are decided under the token
lock that counts sessions, so threads opening read-only sessions and a thread logging the SO
in and out can never leave the SO logged in beside a read-only session. Checked in a child
process (a hang or crash is a failure, not the end of the suite) against the installed module.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

RACE_CHILD = r"""
import json, sys, threading, time
from keystead.softhsm_bridge.provision import prepare, provision
from keystead.softhsm_bridge.modules import resolve
from keystead.softhsm_bridge.raw import open_raw
CKU_SO, CKR_OK, RO_EXISTS, SO_EXISTS = 0, 0, 0xB7, 0xB8
info = resolve("keystead")
prepare(info, sys.argv[1])
tok = provision(info, None, label="race", so_pin="12345678", user_pin="87654321")
raw = open_raw(info.path)
raw.initialize()
slot = tok.slot_id
rw = raw.open_session(slot)
stop = time.monotonic() + float(sys.argv[2])
seen = {"so_logins": 0, "ro_opened": 0, "ro_refused": 0, "violations": [], "codes": []}

def opener():
    while time.monotonic() < stop:
        h = raw.ffi.new("CK_SESSION_HANDLE *")
        rv = raw.call("C_OpenSession", slot, 4, raw.ffi.NULL, raw.ffi.NULL, h)  # RO serial
        if rv == CKR_OK:
            seen["ro_opened"] += 1
            raw.call("C_CloseSession", h[0])
        elif rv == SO_EXISTS:
            seen["ro_refused"] += 1
        else:
            seen["codes"].append(hex(rv))

def so():
    while time.monotonic() < stop:
        rv = raw.login(rw, CKU_SO, "12345678")
        if rv == CKR_OK:
            seen["so_logins"] += 1
            ti = raw.token_info(slot)
            if ti["ulSessionCount"] != ti["ulRwSessionCount"]:
                seen["violations"].append((ti["ulSessionCount"], ti["ulRwSessionCount"]))
            raw.logout(rw)
        elif rv != RO_EXISTS:
            seen["codes"].append(hex(rv))

threads = [threading.Thread(target=opener) for _ in range(3)] + [threading.Thread(target=so)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(seen))
"""


def test_so_login_and_read_only_sessions_never_coexist(tmp_path: Path) -> None:
    env = dict(os.environ)
    env.pop("KEYSTEAD_CONF", None)
    out = subprocess.run([sys.executable, "-c", RACE_CHILD, str(tmp_path / "tokens"), "2.0"],
                         capture_output=True, text=True, timeout=120, env=env, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["violations"] == [] and seen["codes"] == [], seen
    assert seen["so_logins"] > 0 and seen["ro_opened"] > 0, seen  # both sides really ran
