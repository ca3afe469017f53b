"""One step of the census splice tests (tests/native/test_store_census.py), run in a fresh
process: a module reads its token directory once per process, and GCM reservations live in
the process.

``python -m tests.native.census_worker STEP SERIAL [ARGS...]`` initialises the module, logs
in (the user, or the SO or manager where the step says so) and prints one JSON object:
``{"rv": "CKR_...", ...}``, the first refused call's code or CKR_OK with the step's results.

Steps:
* ``manager``: the SO sets the manager's PIN;
* ``limited``: the user generates "k" (usage limit 4) and uses it once;
* ``use KEY N``: N C_Encrypt calls (CKM_AES_ECB) under KEY (a label or a handle), how many
  succeeded, their codes;
* ``later LABEL``: the user generates a token key LABEL;
* ``governed``: the manager generates the governed key "g";
* ``suspend``: the manager suspends "g";
* ``kw``: the user generates "target" (sensitive, extractable) and "kek";
* ``wrap``: C_WrapKey of "target" under "kek" (CKM_AES_KEY_WRAP), the blob (hex);
* ``unwrap_by_decrypt BLOB [KEK]``: C_Decrypt(CKM_AES_KEY_WRAP, KEK (default "kek"), BLOB),
  the value (hex);
* ``gcm KEY N``: N messages with token-generated IVs (counter), their IVs (hex).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from keystead.softhsm_bridge import modules, raw, vendor
from keystead.softhsm_bridge.ck import (
    CKA_KS_LIFECYCLE_STATE,
    CKA_KS_TRANSITION_REASON,
    CKA_KS_USAGE_LIMIT,
    CKU_KS_MANAGER,
    CKU_SO,
    CKU_USER,
    KeyType,
    ObjectClass,
)
from keystead.softhsm_bridge.ck import Attribute as A
from keystead.softhsm_bridge.ck import Mechanism as M
from keystead.softhsm_bridge.errors import PKCS11Error, check

from tests.conformance.message_support import CKG_GENERATE_COUNTER, Messages, params
from tests.robustness.support import SO_PIN, USER_PIN

MANAGER_PIN = "mgr-pin-5678"
WHO = {"manager": (CKU_SO, SO_PIN), "governed": (CKU_KS_MANAGER, MANAGER_PIN),
       "suspend": (CKU_KS_MANAGER, MANAGER_PIN)}


def _key(label: str, **extra: Any) -> dict[int, Any]:
    t: dict[int, Any] = {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES,
                         A.TOKEN: True, A.PRIVATE: True, A.LABEL: label, A.VALUE_LEN: 32,
                         A.SENSITIVE: True, A.ENCRYPT: True, A.DECRYPT: True}
    t.update({getattr(A, k.upper()): v for k, v in extra.items()})
    return t


def _one(r: Any, h: int, label: str) -> int:
    """The object named by its handle (digits) or its label."""
    if label.isdigit():
        return int(label)
    (obj,) = r.find_objects(h, {A.LABEL: label})
    return int(obj)


def _use(r: Any, h: int, label: str, n: int) -> dict[str, Any]:
    k = _one(r, h, label)
    codes = []
    for _ in range(n):
        try:
            r.encrypt(h, M.AES_ECB, k, bytes(16))
            codes.append(0)
        except PKCS11Error as e:
            codes.append(e.rv)
    return {"ok": codes.count(0), "codes": codes}


def step(r: Any, h: int, name: str, args: list[str]) -> dict[str, Any]:
    if name == "manager":
        rv = vendor.init_manager_pin(r, h, MANAGER_PIN)
        return {} if rv == 0 else {"rv": "refused", "code": rv}
    if name == "limited":
        t = _key("k")
        t[CKA_KS_USAGE_LIMIT] = 4
        r.generate_key(h, M.AES_KEY_GEN, t)
        return _use(r, h, "k", 1)
    if name == "use":
        return _use(r, h, args[0], int(args[1]))
    if name == "later":
        r.generate_key(h, M.AES_KEY_GEN, _key(args[0]))
        return {}
    if name == "governed":
        r.generate_key(h, M.AES_KEY_GEN, _key("g", extractable=False))
        return {}
    if name == "suspend":
        r.set_attributes(h, _one(r, h, "g"), {CKA_KS_LIFECYCLE_STATE: 2,
                                               CKA_KS_TRANSITION_REASON: b"incident"})
        return {}
    if name == "kw":
        for label in ("target", "kek"):
            r.generate_key(h, M.AES_KEY_GEN, _key(label, extractable=True, wrap=True,
                                                  unwrap=True))
        return {}
    if name == "wrap":
        blob = r.wrap_key(h, M.AES_KEY_WRAP, _one(r, h, "kek"), _one(r, h, "target"))
        return {"blob": blob.hex()}
    if name == "unwrap_by_decrypt":
        blob = bytes.fromhex(args[0])
        kek = _one(r, h, args[1] if len(args) > 1 else "kek")
        return {"out": r.decrypt(h, M.AES_KEY_WRAP, kek, blob).hex()}
    if name == "gcm":
        m = Messages(r, h)
        ivs: list[str] = []
        rv = m.init("Encrypt", _one(r, h, args[0]))
        if rv != 0:
            return {"rv": "refused", "code": rv, "ivs": ivs}
        for _ in range(int(args[1])):
            p = params(r, b"\xab\xcd\xef\x01" + bytes(8), generator=CKG_GENERATE_COUNTER,
                       fixed_bits=32)
            rv, _, _ = m.one("Encrypt", p, b"", b"secret message 1")
            if rv != 0:
                return {"rv": "refused", "code": rv, "ivs": ivs}
            ivs.append(p.iv().hex())
        return {"ivs": ivs}
    raise SystemExit(f"unknown step {name}")


def main(argv: list[str]) -> None:
    name, serial, *args = argv
    r = raw.open_raw(modules.resolve("keystead").path, initialize=False)
    r.initialize()
    try:
        slot = next(s for s in r.slot_list(True) if r.token_info(s)["serial"] == serial)
        h = r.open_session(slot, rw=True)
        who, pin = WHO.get(name, (CKU_USER, USER_PIN))
        try:
            check(r.login(h, who, pin), "C_Login")
            out = step(r, h, name, args)
            out.setdefault("rv", "CKR_OK")
        except PKCS11Error as e:
            out = {"rv": type(e).__name__, "code": e.rv}
    finally:
        r.finalize()  # no module thread outlives the interpreter
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
