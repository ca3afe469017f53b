"""Thousands of session objects at once (PKCS#11 3.0 4.4, 5.7): every one found, resolved
and destroyed by its handle, the destroyed ones invalid, each session's objects gone when it
closes (5.6 C_CloseSession) while the other session's stay, and the private ones gone at
C_Logout (5.6).

The scenario runs in a child process of its own (run_raw): under scripts/sanitize.sh, this
much heap churn in the test process makes the final LeakSanitizer pass crash on a stale
dynamic-TLS record (libasan, not the module: the module before the session-object table did
the same), and the child's ASan checks everything but leaks."""

from __future__ import annotations

from .support import run_raw

_SCENARIO = """
from keystead.softhsm_bridge.ck import CKU_USER, KeyType, ObjectClass
from keystead.softhsm_bridge.ck import Attribute as A

INVALID = 0x82  # CKR_OBJECT_HANDLE_INVALID
r.initialize()
slot = [s for s in r.slot_list(True) if r.token_info(s)["serial"] == SERIAL][0]


def template(i):
    # Every third object is an AES key, so that secret values (locked memory) come and go
    # with the objects too; the number is the key's CKA_ID or the data object's value.
    number = i.to_bytes(4, "big")
    if i % 3 == 0:
        return {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.TOKEN: False,
                A.ENCRYPT: True, A.DECRYPT: True, A.SENSITIVE: False, A.EXTRACTABLE: True,
                A.VALUE: bytes([i & 255]) * 32, A.LABEL: LABEL, A.ID: number}
    return {A.CLASS: ObjectClass.DATA, A.TOKEN: False, A.VALUE: number, A.LABEL: LABEL}


def number(h, obj, i):
    value = r.get_attribute(h, obj, A.ID if i % 3 == 0 else A.VALUE)
    return int.from_bytes(value, "big")


def find(h):
    return sorted(r.find_objects(h, {A.LABEL: LABEL}, batch=500))


def rv_of(h, obj):
    return r.get_attributes(h, obj, [A.LABEL]).rv


creator = r.open_session(slot, rw=True)
r.login(creator, CKU_USER, PIN)
other = r.open_session(slot, rw=True)
made = [r.create_object(creator, template(i)) for i in range(COUNT)]
assert len(set(made)) == COUNT
# Visible to the application's other session too, each exactly once.
assert find(other) == sorted(made)

gone, kept = made[::2], made[1::2]
for obj in gone:
    r.destroy_object(creator, obj)
for i, obj in enumerate(made):
    if i % 2:
        assert number(other, obj, i) == i, i
    else:
        assert rv_of(other, obj) == INVALID, (i, rv_of(other, obj))
assert find(other) == sorted(kept)
assert all(rv_of(creator, obj) == INVALID for obj in gone)

# The other session's own objects survive the creator's close; the creator's go.
own = [r.create_object(other, template(COUNT + i)) for i in range(100)]
r.close_session(creator)
assert find(other) == sorted(own)
assert all(rv_of(other, obj) == INVALID for obj in kept)
for i, obj in enumerate(own):
    assert number(other, obj, COUNT + i) == COUNT + i
r.close_all_sessions(slot)

# C_Logout destroys the private session objects among many public ones.
h = r.open_session(slot, rw=True)
r.login(h, CKU_USER, PIN)
public = [r.create_object(h, {A.CLASS: ObjectClass.DATA, A.TOKEN: False, A.PRIVATE: False,
                              A.LABEL: LABEL}) for _ in range(500)]
private = [r.create_object(h, {A.CLASS: ObjectClass.DATA, A.TOKEN: False, A.PRIVATE: True,
                               A.LABEL: LABEL}) for _ in range(500)]
assert find(h) == sorted(public + private)
r.logout(h)
r.login(h, CKU_USER, PIN)
assert find(h) == sorted(public)
assert all(rv_of(h, obj) == INVALID for obj in private)
r.close_all_sessions(slot)
r.finalize()
out["ok"] = True
"""


def test_thousands_of_session_objects(module):
    head = (f"SERIAL = {module.token.serial!r}\nPIN = {module.token.user_pin!r}\n"
            f"COUNT = 3000\nLABEL = 'many-session-objects'\n")
    assert run_raw(module.info.path, head + _SCENARIO, timeout=300) == {"ok": True}
