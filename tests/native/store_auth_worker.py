"""One step of the authenticated-store tests, run in a fresh process (a module reads its
token directory once per process, and GCM reservations live in the process).

``python -m tests.native.store_auth_worker STEP SERIAL [ARGS...]`` initialises the module,
logs in as the user and prints one JSON object: ``{"rv": "CKR_...", ...}``, the first refused
call's code or CKR_OK with the step's results.

Steps:
* ``keys``: generate the token keys "w" (wraps) and "t" (sensitive, extractable), import
  "g" (GCM);
* ``ecb KEY``: C_Encrypt of one block with CKM_AES_ECB under KEY (a handle or a label);
* ``gcm KEY N``: N messages with token-generated IVs (counter), their IVs (hex);
* ``wrap``: C_WrapKey of "t" under "w" with CKM_AES_KEY_WRAP, the blob (hex);
* ``unwrap_by_decrypt BLOB``: C_Decrypt(CKM_AES_KEY_WRAP, "w", BLOB), "t"'s value (hex);
* ``labels``: the labels C_FindObjects lists, and per label C_GetAttributeValue's code.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from keystead.softhsm_bridge.ck import Attribute as A
from keystead.softhsm_bridge.ck import KeyType, ObjectClass
from keystead.softhsm_bridge.ck import Mechanism as M
from keystead.softhsm_bridge.errors import PKCS11Error

from tests.conformance.message_support import CKG_GENERATE_COUNTER, Messages, params
from tests.robustness.support import open_token

G_VALUE = bytes(range(50, 82))


def _key(label: str, value: bytes, extra: dict[int, Any]) -> dict[int, Any]:
    t: dict[int, Any] = {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES,
                         A.TOKEN: True, A.PRIVATE: True, A.LABEL: label, A.VALUE: value,
                         A.SENSITIVE: True}
    t.update(extra)
    return t


def _one(r: Any, h: int, ref: str) -> int:
    """The object named by its handle (digits) or its label."""
    if ref.isdigit():
        return int(ref)
    (obj,) = r.find_objects(h, {A.LABEL: ref})
    return int(obj)


def step(r: Any, h: int, name: str, args: list[str]) -> dict[str, Any]:
    if name == "keys":
        # Generated, so their values are secret and the wrap policy's roles guard them.
        for label, extra in (("w", {A.WRAP: True, A.UNWRAP: True, A.DECRYPT: True,
                                    A.ENCRYPT: True, A.EXTRACTABLE: False}),
                             ("t", {A.EXTRACTABLE: True, A.ENCRYPT: True})):
            t = {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.TOKEN: True,
                 A.PRIVATE: True, A.LABEL: label, A.VALUE_LEN: 32, A.SENSITIVE: True}
            t.update(extra)
            r.generate_key(h, M.AES_KEY_GEN, t)
        r.create_object(h, _key("g", G_VALUE, {A.ENCRYPT: True, A.DECRYPT: True}))
        return {}
    if name == "ecb":
        return {"out": r.encrypt(h, M.AES_ECB, _one(r, h, args[0]), bytes(16)).hex()}
    if name == "gcm":
        m = Messages(r, h)
        assert m.init("Encrypt", _one(r, h, args[0])) == 0
        ivs = []
        for _ in range(int(args[1])):
            p = params(r, bytes(12), generator=CKG_GENERATE_COUNTER, fixed_bits=32)
            rv, _, _ = m.one("Encrypt", p, b"", b"x")
            if rv != 0:
                return {"rv": "refused", "code": rv, "ivs": ivs}
            ivs.append(p.iv().hex())
        return {"ivs": ivs}
    if name == "wrap":
        return {"blob": r.wrap_key(h, M.AES_KEY_WRAP, _one(r, h, "w"), _one(r, h, "t")).hex()}
    if name == "unwrap_by_decrypt":
        blob = bytes.fromhex(args[0])
        return {"out": r.decrypt(h, M.AES_KEY_WRAP, _one(r, h, "w"), blob).hex()}
    if name == "labels":
        found = r.find_objects(h, {})
        codes = {}
        for obj in found:
            label = r.get_attribute(h, obj, A.LABEL).decode()
            codes[label] = r.get_attributes(h, obj, [A.SENSITIVE]).rv
        return {"codes": codes}
    raise SystemExit(f"unknown step {name}")


def main(argv: list[str]) -> None:
    name, serial, *args = argv
    r, _slot, h = open_token(serial)
    try:
        out = step(r, h, name, args)
        out.setdefault("rv", "CKR_OK")
    except PKCS11Error as e:
        out = {"rv": type(e).__name__, "code": e.rv}
    finally:
        r.finalize()  # no module thread outlives the interpreter
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
