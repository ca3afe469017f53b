"""The concurrency worker of test_threads.py, run in its own process.

``python -m tests.conformance.threads_worker close-all MODULE SERIAL USER_PIN SECONDS THREADS``
loads the module (its configuration from the environment), finds the token by serial, and
runs THREADS workers on separate sessions (encrypt/decrypt round trips, finds, creating and
destroying objects) while one more thread calls C_CloseAllSessions on the slot again and
again. It prints one JSON line: per function the return codes seen and how often, the
unexpected codes, and round trips that came back wrong.

``... wrap|write MODULE SERIAL USER_PIN SECONDS``: one process wraps a token key under a token
KEK and unwraps it as a new token key, again and again, while another changes a token
object's label (each commit makes the first process drop its object cache in the middle of
its calls). It prints the number of rounds. A crash shows as the process's signal, a hang as
the parent's timeout.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter
from typing import Any

from keystead.errors import GeneralError
from keystead.softhsm_bridge.ck import CKU_USER, Attribute, KeyType, Mechanism, ObjectClass
from keystead.softhsm_bridge.errors import rv_name, rv_value
from keystead.softhsm_bridge.modules import resolve
from keystead.softhsm_bridge.provision import find_slot, load
from keystead.softhsm_bridge.raw import RawModule

A = Attribute
# What a session may answer while another thread closes all sessions under it (5.6: its
# handle becomes invalid; its session objects are destroyed; the token logs out).
GONE = {"CKR_SESSION_HANDLE_INVALID", "CKR_SESSION_CLOSED", "CKR_OBJECT_HANDLE_INVALID",
        "CKR_KEY_HANDLE_INVALID", "CKR_OPERATION_NOT_INITIALIZED", "CKR_USER_NOT_LOGGED_IN"}
ALLOWED = {"CKR_OK", "CKR_USER_ALREADY_LOGGED_IN"} | GONE


class Worker:
    """One thread's loop on its own session; counts every return code."""

    def __init__(self, r: RawModule, slot: int, pin: bytes, index: int) -> None:
        self.r, self.slot, self.pin, self.index = r, slot, pin, index
        self.codes: Counter[str] = Counter()
        self.wrong: list[str] = []
        self.h = 0

    def call(self, fn: str, *args: Any) -> bool:
        rv = self.r.call(fn, *args)
        self.codes[f"{fn} {rv_name(rv)}"] += 1
        return rv == 0

    def open(self) -> None:
        h = self.r.ffi.new("CK_SESSION_HANDLE *")
        if self.call("C_OpenSession", self.slot, 6, self.r.ffi.NULL, self.r.ffi.NULL, h):
            self.h = int(h[0])
            self.call("C_Login", self.h, CKU_USER, self.pin, len(self.pin))

    def handle_of(self, fn: str, t: Any) -> int | None:
        out = self.r.ffi.new("CK_OBJECT_HANDLE *")
        return int(out[0]) if self.call(fn, self.h, t.ptr, t.count, out) else None

    def round_trip(self) -> None:
        r = self.r
        key = self.handle_of("C_CreateObject", r.template({
            A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.TOKEN: False,
            A.PRIVATE: False, A.ENCRYPT: True, A.DECRYPT: True, A.VALUE: os.urandom(16)}))
        if key is None:
            return
        msg, iv = os.urandom(40), os.urandom(12)
        ct = self.crypt("Encrypt", key, iv, msg)
        if ct is not None:
            pt = self.crypt("Decrypt", key, iv, ct)
            if pt is not None and pt != msg:
                self.wrong.append("a GCM round trip returned other bytes")
        self.call("C_DestroyObject", self.h, key)

    def crypt(self, what: str, key: int, iv: bytes, data: bytes) -> bytes | None:
        r = self.r
        m = r.mechanism(Mechanism.AES_GCM, r.gcm(iv, b"t", 128))
        if not self.call(f"C_{what}Init", self.h, m.ptr, key):
            return None
        out, n = r.ffi.new("CK_BYTE[]", len(data) + 16), r.ulong_ptr(len(data) + 16)
        if not self.call(f"C_{what}", self.h, data, len(data), out, n):
            return None
        return bytes(r.ffi.buffer(out, n[0]))

    def find_and_churn(self) -> None:
        r = self.r
        label = f"thread-{self.index}"
        obj = self.handle_of("C_CreateObject", r.template({
            A.CLASS: ObjectClass.DATA, A.TOKEN: False, A.PRIVATE: False, A.LABEL: label,
            A.VALUE: b"v"}))
        t = r.template({A.LABEL: label})
        if self.call("C_FindObjectsInit", self.h, t.ptr, t.count):
            arr, n = r.ffi.new("CK_OBJECT_HANDLE[8]"), r.ulong_ptr()
            self.call("C_FindObjects", self.h, arr, 8, n)
            self.call("C_FindObjectsFinal", self.h)
        if obj is not None:
            self.call("C_DestroyObject", self.h, obj)

    def run(self, until: float) -> None:
        while time.monotonic() < until:
            if self.h == 0 or not self.call("C_GetSessionInfo", self.h,
                                            self.r.ffi.new("CK_SESSION_INFO *")):
                self.open()
                continue
            self.round_trip()
            self.find_and_churn()
            if self.index % 3 == 0 and self.call("C_CloseSession", self.h):
                self.h = 0


def main(path: str, serial: str, pin: str, seconds: float, threads: int) -> dict[str, Any]:
    info = resolve(path)
    slot = find_slot(info, serial)  # loads the module and initialises it (python-pkcs11 too)
    r = load(info)
    until = time.monotonic() + seconds
    workers = [Worker(r, slot, pin.encode(), i) for i in range(threads)]
    closes = Counter()

    def closer() -> None:
        while time.monotonic() < until:
            closes[rv_name(r.call("C_CloseAllSessions", slot))] += 1
            time.sleep(0.002)

    ts = [threading.Thread(target=w.run, args=(until,)) for w in workers]
    ts.append(threading.Thread(target=closer))
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    codes: Counter[str] = Counter()
    for w in workers:
        codes.update(w.codes)
    unexpected = sorted(k for k in codes if k.split()[1] not in ALLOWED)
    return {"codes": dict(codes), "closes": dict(closes), "unexpected": unexpected,
            "wrong": [x for w in workers for x in w.wrong]}


def _find_slot(info: Any, serial: str) -> int:
    """The token's slot. SoftHSMv2 answers C_GetTokenInfo with CKR_GENERAL_ERROR while the
    other process rewrites its token file (measured on a busy machine): retried there, never
    for keystead, whose answer must not depend on the other process."""
    for attempt in range(50):
        try:
            return find_slot(info, serial)
        except GeneralError:
            if info.kind != "softhsm2" or attempt == 49:
                raise
            time.sleep(0.05)
    raise AssertionError("unreachable")


def wrap_or_write(role: str, path: str, serial: str, pin: str, seconds: float) -> int:
    """The ``wrap`` or ``write`` process; returns the rounds done."""
    info = resolve(path)
    slot = _find_slot(info, serial)
    r = load(info)
    h = r.open_session(slot, rw=True)
    rv = r.login(h, CKU_USER, pin)
    if rv not in (0, rv_value("CKR_USER_ALREADY_LOGGED_IN")):
        raise SystemExit(f"C_Login: {rv_name(rv)}")
    rounds = 0
    key = {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.TOKEN: True,
           A.WRAP: True, A.UNWRAP: True, A.ENCRYPT: True, A.EXTRACTABLE: True,
           A.SENSITIVE: False}
    if role == "write":
        obj = r.create_object(h, {A.CLASS: ObjectClass.DATA, A.TOKEN: True, A.LABEL: "w"})
        until = time.monotonic() + seconds  # the window starts once set-up is done
        while time.monotonic() < until:
            r.set_attributes(h, obj, {A.LABEL: f"w{rounds}"})
            rounds += 1
        r.destroy_object(h, obj)
        return rounds
    kek = r.create_object(h, {**key, A.VALUE: os.urandom(16)})
    target = r.create_object(h, {**key, A.VALUE: os.urandom(16)})
    until = time.monotonic() + seconds  # the window starts once set-up is done: under a
    # sanitizer build on a busy machine the synced creations alone can take seconds
    while time.monotonic() < until:
        blob = r.wrap_key(h, Mechanism.AES_KEY_WRAP, kek, target)
        made = r.unwrap_key(h, Mechanism.AES_KEY_WRAP, kek, blob,
                            {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES,
                             A.TOKEN: True, A.ENCRYPT: True})
        r.destroy_object(h, made)
        rounds += 1
    r.destroy_object(h, kek)
    r.destroy_object(h, target)
    return rounds


if __name__ == "__main__":
    assert rv_value("CKR_SESSION_CLOSED")
    if sys.argv[1] == "close-all":
        out = main(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]), int(sys.argv[6]))
        print(json.dumps(out))
    else:
        print(json.dumps({"rounds": wrap_or_write(*sys.argv[1:5], float(sys.argv[5]))}))
