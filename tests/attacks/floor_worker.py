"""One process of the policy-floor tests (test_policy_floor.py): the module reads
KEYSTEAD_CONF once per process, so each configuration runs in its own subprocess.

    python -m tests.attacks.floor_worker init LABEL       # C_InitToken, SO login, user PIN, key
    python -m tests.attacks.floor_worker wrap LABEL       # wrap the key under a known KEK
    python -m tests.attacks.floor_worker audit LABEL      # use a key with the trail full
    python -m tests.attacks.floor_worker so-login LABEL   # the SO logs in and out

Prints one JSON object. Not a test module (no test_ prefix)."""

from __future__ import annotations

import glob
import json
import os
import resource
import signal
import sys

from keystead.softhsm_bridge.ck import CKU_SO, CKU_USER, KeyType, Mechanism, ObjectClass
from keystead.softhsm_bridge.ck import Attribute as A
from keystead.softhsm_bridge.modules import resolve
from keystead.softhsm_bridge.raw import RawModule

SO_PIN, USER_PIN = "so-pin-1234", "user-pin-1234"
KEK_VALUE = b"K" * 32
CKF_WRAP = 0x20000
CKR_DEVICE_ERROR = 0x30


def _slot(raw: RawModule, label: str) -> int:
    for s in raw.slot_list(True):
        info = raw.token_info(s)
        if info["flags"] & 0x400 and info["label"].strip() == label:
            return s
    raise KeyError(label)


def _user(raw: RawModule, slot: int) -> int:
    h = raw.open_session(slot, rw=True)
    rv = raw.login(h, CKU_USER, USER_PIN)
    assert rv == 0, hex(rv)
    return h


def init(raw: RawModule, label: str) -> dict:
    free = [s for s in raw.slot_list() if not raw.token_info(s)["flags"] & 0x400][0]
    raw.init_token(free, SO_PIN, label)
    slot = _slot(raw, label)
    h = raw.open_session(slot, rw=True)
    assert raw.login(h, CKU_SO, SO_PIN) == 0
    raw.init_pin(h, USER_PIN)
    raw.logout(h)
    raw.close_session(h)
    u = _user(raw, slot)
    k = raw.generate_key(u, Mechanism.AES_KEY_GEN, {
        A.TOKEN: True, A.VALUE_LEN: 32, A.SENSITIVE: True, A.EXTRACTABLE: True,
        A.ENCRYPT: True, A.DECRYPT: True, A.LABEL: b"target"})
    return {"check": raw.get_attribute(u, k, A.CHECK_VALUE).hex()}


def wrap(raw: RawModule, label: str) -> dict:
    slot = _slot(raw, label)
    u = _user(raw, slot)
    target = raw.find_objects(u, {A.LABEL: b"target"})[0]
    kek = raw.create_object(u, {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES,
                                A.TOKEN: False, A.VALUE: KEK_VALUE, A.WRAP: True})
    try:
        rv, blob = 0, raw.wrap_key(u, Mechanism.AES_KEY_WRAP, kek, target)
    except Exception as e:  # the mapped PKCS11Error: only its code matters here
        rv, blob = int(getattr(e, "rv", -1)), b""
    ecb_flags = raw.mechanism_info(slot, Mechanism.AES_ECB)[2]
    return {"rv": rv, "blob": blob.hex(),
            "ecb_wrap": bool(ecb_flags & CKF_WRAP)}


def audit(raw: RawModule, label: str) -> dict:
    slot = _slot(raw, label)
    u = _user(raw, slot)
    k = raw.find_objects(u, {A.LABEL: b"target"})[0]
    trail = glob.glob(os.path.join(os.environ["FLOOR_TOKENS"], "token-*.sqlite.audit"))[0]
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(trail), resource.RLIM_INFINITY))
    refused = ok = 0
    mech = raw.mechanism(Mechanism.AES_ECB).ptr
    for _ in range(20000):
        rv = raw.call("C_EncryptInit", u, mech, k)
        if rv == 0:
            rv, _, _ = raw.call_out("C_Encrypt", u, bytes(16), 16, capacity=16)
        if rv == CKR_DEVICE_ERROR:
            refused += 1
            break
        ok += rv == 0
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    return {"ok": ok, "refused": refused}


def so_login(raw: RawModule, label: str) -> dict:
    h = raw.open_session(_slot(raw, label), rw=True)
    rv = raw.login(h, CKU_SO, SO_PIN)
    raw.logout(h)
    return {"rv": rv}


def main() -> None:
    action, label = sys.argv[1], sys.argv[2]
    raw = RawModule(resolve("keystead").path)
    raw.initialize()
    out = {"init": init, "wrap": wrap, "audit": audit, "so-login": so_login}[action](raw, label)
    raw.finalize()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
