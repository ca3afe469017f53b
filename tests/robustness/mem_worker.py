"""The child of test_secrets_memory: ``python -m tests.robustness.mem_worker SERIAL``.

It reads a 32-byte AES key value from stdin straight into a C buffer (so that no Python
object ever holds it), imports it with C_CreateObject (a token key: its value is sealed into
the store), wipes that buffer, uses the key (ECB, CBC_PAD, GCM, CMAC), then stops at each
checkpoint - "live", "destroyed", "logged-out", "finalized" - printing the name and waiting
for a line on stdin while the test reads this process's memory through /proc/PID/mem.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from keystead.softhsm_bridge.ck import Attribute as A
from keystead.softhsm_bridge.ck import KeyType, ObjectClass
from keystead.softhsm_bridge.ck import Mechanism as M

from tests.robustness.support import open_token


def checkpoint(name: str) -> None:
    print(name, flush=True)
    sys.stdin.readline()


def create_from_fd(r: Any, h: int, label: str) -> int:
    """C_CreateObject of an AES key whose value is read from stdin into a C buffer."""
    ffi = r.ffi
    value = ffi.new("CK_BYTE[32]")
    got = os.readv(sys.stdin.fileno(), [ffi.buffer(value)])
    assert got == 32
    true, klass, ktype = ffi.new("CK_BBOOL *", 1), ffi.new("CK_ULONG *"), ffi.new("CK_ULONG *")
    false = ffi.new("CK_BBOOL *", 0)
    klass[0], ktype[0] = ObjectClass.SECRET_KEY, KeyType.AES
    name = ffi.new("char[]", label.encode())
    items = [(A.CLASS, klass, 8), (A.KEY_TYPE, ktype, 8), (A.TOKEN, true, 1),
             (A.PRIVATE, true, 1), (A.SENSITIVE, true, 1), (A.EXTRACTABLE, false, 1),
             (A.ENCRYPT, true, 1), (A.DECRYPT, true, 1), (A.SIGN, true, 1),
             (A.LABEL, name, len(label)), (A.VALUE, value, 32)]
    tmpl = ffi.new("CK_ATTRIBUTE[]", len(items))
    for i, (t, p, n) in enumerate(items):
        tmpl[i].type, tmpl[i].pValue, tmpl[i].ulValueLen = t, p, n
    handle = ffi.new("CK_OBJECT_HANDLE *")
    r.check("C_CreateObject", h, tmpl, len(items), handle)
    ffi.memmove(value, bytes(32), 32)  # our own copy; the module's copies are the question
    return int(handle[0])


def unload(serial: str) -> None:
    """Import and use a key, then unload the module without C_Logout or C_Finalize: what an
    exiting process does. The module's destructors run (crypto/mem.c wipes live secrets)."""
    r, _, h = open_token(serial)
    key = create_from_fd(r, h, "memscan-exit")
    r.encrypt(h, M.AES_ECB, key, bytes(32))
    checkpoint("live")
    r.ffi.dlclose(r.lib)
    checkpoint("unloaded")


def main(serial: str) -> None:
    r, slot, h = open_token(serial)
    key = create_from_fd(r, h, "memscan")
    data = bytes(range(48))
    r.encrypt(h, M.AES_ECB, key, data)
    ct = r.encrypt(h, M.AES_CBC_PAD, key, data, bytes(16))
    assert r.decrypt(h, M.AES_CBC_PAD, key, ct, bytes(16)) == data
    r.encrypt(h, M.AES_GCM, key, data, r.gcm(bytes(12), b"aad"))
    r.op_init("Sign", h, M.AES_CMAC, key)
    r.single("Sign", h, data)
    checkpoint("live")
    r.destroy_object(h, key)
    checkpoint("destroyed")
    r.logout(h)
    checkpoint("logged-out")
    r.close_all_sessions(slot)
    r.finalize()
    checkpoint("finalized")


if __name__ == "__main__":
    (unload if sys.argv[2:] == ["unload"] else main)(sys.argv[1])
