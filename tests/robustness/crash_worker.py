"""The writer that test_crash kills with SIGKILL, the checker that inspects the token after
each kill, and the fork server ("zygote") that starts both.

``python -m tests.robustness.crash_worker zygote SERIAL LOG`` reads commands on stdin and
answers one JSON line per command on stdout:

* ``crash SEED DELAY_MS EARLY OUT``: fork a child that opens the store, logs in, checks
  (writes what it finds to OUT, JSON) and then writes until killed; unless EARLY, wait until
  the check is written, then sleep DELAY_MS and SIGKILL the child (EARLY kills DELAY_MS after
  the fork, often inside C_Initialize or C_Login, before any check);
* ``check OUT N``: fork a child that only checks, decrypting with N keys;
* ``quit``.

Checking in the same fresh process that then writes halves the process starts per round.

The zygote imports everything and loads the module once but never calls C_Initialize, so
each child starts the module from nothing (PKCS#11 forbids using a module initialised before
fork) without paying Python's start-up, which keeps 200+ rounds within about a minute.

The writer appends one line per event to LOG with os.write (a completed write(2) is in the
kernel, so SIGKILL cannot lose it): lower case before a call (intent), upper case after it
returned CKR_OK (a promise the store must keep):
``c LABEL`` / ``C LABEL`` create, ``d LABEL`` / ``D LABEL`` destroy, ``s LABEL SEQ`` /
``S LABEL SEQ`` set CKA_ID to LABEL:SEQ, ``N LABEL COUNT`` usage count read after a use.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import sys
import time
from typing import Any

from keystead.softhsm_bridge import modules, raw
from keystead.softhsm_bridge.ck import Attribute as A
from keystead.softhsm_bridge.ck import Mechanism as M

from tests.robustness.support import (
    BIG_LIMIT,
    CKA_KS_LIFECYCLE_STATE,
    CKA_KS_USAGE_COUNT,
    CKA_KS_USAGE_LIMIT,
    aes_ecb,
    key_template,
    key_value,
    open_token,
)

MODULE: list[str] = []  # the module path the zygote loaded
KNOWN = b"keystead crash!!"  # the block each key's value is proven with
CHECKED = [A.CLASS, A.KEY_TYPE, A.TOKEN, A.PRIVATE, A.LABEL, A.ID, A.VALUE_LEN, A.SENSITIVE,
           A.EXTRACTABLE, A.ENCRYPT, A.DECRYPT, CKA_KS_USAGE_LIMIT, CKA_KS_USAGE_COUNT,
           CKA_KS_LIFECYCLE_STATE]


def ulong(b: bytes | None) -> int:
    return int.from_bytes(b or b"", sys.byteorder)


class Writer:
    """Creates, destroys, changes and uses keys at random, logging every step."""

    def __init__(self, r: Any, h: int, found: dict[str, Any], log_path: str, seed: int) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.r, self.h = r, h
        # label -> (handle, CKA_ID sequence), as the check found them
        self.keys = {label: (e["handle"], int(e["id"].split(":")[1])) for label, e in found.items()}
        self.made = 0

    def log(self, *words: object) -> None:
        os.write(self.fd, (" ".join(str(w) for w in words) + "\n").encode())

    def create(self) -> None:
        label = f"k{self.seed}-{self.made}"
        self.made += 1
        limit = BIG_LIMIT if self.rng.random() < 0.5 else 0
        tmpl = key_template(label, self.rng.random() < 0.5, limit, f"{label}:0".encode())
        self.log("c", label)
        self.keys[label] = (self.r.create_object(self.h, tmpl), 0)
        self.log("C", label)

    def destroy(self, label: str) -> None:
        self.log("d", label)
        self.r.destroy_object(self.h, self.keys.pop(label)[0])
        self.log("D", label)

    def change(self, label: str) -> None:
        handle, seq = self.keys[label]
        self.log("s", label, seq + 1)
        self.r.set_attributes(self.h, handle, {A.ID: f"{label}:{seq + 1}".encode()})
        self.keys[label] = (handle, seq + 1)
        self.log("S", label, seq + 1)

    def use(self, label: str) -> None:
        handle = self.keys[label][0]
        assert self.r.encrypt(self.h, M.AES_ECB, handle, KNOWN) == aes_ecb(key_value(label), KNOWN)
        self.log("N", label, ulong(self.r.get_attribute(self.h, handle, CKA_KS_USAGE_COUNT)))

    def run(self) -> None:
        while True:
            x = self.rng.random()
            labels = sorted(self.keys)
            if len(labels) < 4 or (x < 0.3 and len(labels) < 30):
                self.create()
            elif x < 0.5:
                self.destroy(self.rng.choice(labels))
            elif x < 0.75:
                self.change(self.rng.choice(labels))
            else:
                self.use(self.rng.choice(labels))


def check(r: Any, h: int, out_path: str, decrypt_checks: int) -> dict[str, Any]:
    """Write every object's attributes as JSON to out_path; return them."""
    found: dict[str, Any] = {}
    for handle in r.find_objects(h, {}):
        res = r.get_attributes(h, handle, CHECKED)
        vals = res.values
        label = (vals[A.LABEL] or b"?").decode(errors="replace")
        entry: dict[str, Any] = {
            "rv": res.rv, "missing": [hex(t) for t in CHECKED if vals[t] is None],
            "class": ulong(vals[A.CLASS]), "key_type": ulong(vals[A.KEY_TYPE]),
            "id": (vals[A.ID] or b"").decode(errors="replace"),
            "flags": [bool(ulong(vals[t])) for t in (A.TOKEN, A.PRIVATE, A.SENSITIVE,
                                                     A.EXTRACTABLE, A.ENCRYPT, A.DECRYPT)],
            "value_len": ulong(vals[A.VALUE_LEN]), "limit": ulong(vals[CKA_KS_USAGE_LIMIT]),
            "count": ulong(vals[CKA_KS_USAGE_COUNT]), "state": ulong(vals[CKA_KS_LIFECYCLE_STATE]),
            "handle": handle, "value_ok": None, "decrypt_ok": None,
        }
        if vals[A.SENSITIVE] == b"\x00":
            value = r.get_attributes(h, handle, [A.VALUE]).values[A.VALUE]
            entry["value_ok"] = value == key_value(label)
        found[label] = entry
    # Decrypting moves the counters, so only a few keys per round (all at the end).
    for label in random.sample(sorted(found), min(decrypt_checks, len(found))):
        ct = aes_ecb(key_value(label), KNOWN)
        found[label]["decrypt_ok"] = r.decrypt(h, M.AES_ECB, found[label]["handle"], ct) == KNOWN
    with open(out_path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(found, f)
    os.rename(out_path + ".tmp", out_path)
    return found


def check_then_write(serial: str, log_path: str, seed: int, out_path: str, ready_fd: int) -> None:
    r, _, h = open_token(serial, MODULE[0])
    found = check(r, h, out_path, 2)
    os.write(ready_fd, b"R")
    Writer(r, h, found, log_path, seed).run()


def check_only(serial: str, out_path: str, decrypt_checks: int) -> None:
    r, slot, h = open_token(serial, MODULE[0])
    check(r, h, out_path, decrypt_checks)
    r.close_all_sessions(slot)
    r.finalize()


def _child(fn: Any, *args: Any) -> None:
    """Run fn in this forked child and leave with its outcome, never back into the zygote."""
    code = 0
    try:
        fn(*args)
    except BaseException as exc:  # the report of a failed child is its exit status + stderr
        print(f"child failed: {exc!r}", file=sys.stderr, flush=True)
        code = 1
    os._exit(code)


def _wait(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def crash(serial: str, log_path: str, seed: int, delay_ms: float, early: bool,
          out_path: str) -> dict[str, Any]:
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        _child(check_then_write, serial, log_path, seed, out_path, ready_w)
    os.close(ready_w)
    ready = False
    if not early:
        ready = bool(select.select([ready_r], [], [], 10)[0]) and os.read(ready_r, 1) == b"R"
    time.sleep(delay_ms / 1000)
    os.kill(pid, signal.SIGKILL)
    os.close(ready_r)
    return {"status": _wait(pid), "ready": ready}


def zygote(serial: str, log_path: str) -> None:
    # dlopen once, before any fork; children use this mapping even if the file is replaced.
    MODULE.append(modules.resolve("keystead").path)
    raw.open_raw(MODULE[0], initialize=False)
    for line in sys.stdin:
        cmd = line.split()
        if cmd[0] == "crash":
            reply = crash(serial, log_path, int(cmd[1]), float(cmd[2]), cmd[3] == "1", cmd[4])
        elif cmd[0] == "check":
            pid = os.fork()
            if pid == 0:
                _child(check_only, serial, cmd[1], int(cmd[2]))
            reply = {"status": _wait(pid)}
        else:
            return
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    zygote(sys.argv[2], sys.argv[3])
