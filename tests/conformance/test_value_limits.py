"""Usage limits that hold (docs/authority.md, "Usage counts"): CKA_KS_USAGE_COUNT is kept per
key value and shared by every copy, session object and unwrapped copy of the value, so none
of them, nor a restart, gives more uses than CKA_KS_USAGE_LIMIT.

keystead's vendor attributes: SoftHSMv2's cases are skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from keystead.softhsm_bridge.ck import KS_VENDOR, KeyType, Mechanism, ObjectClass
from keystead.softhsm_bridge.ck import Attribute as A
from keystead.softhsm_bridge.errors import CKR_OK

from .support import assert_rv

VENDOR = KS_VENDOR
USAGE_COUNT = VENDOR | 0x04
USAGE_LIMIT = VENDOR | 0x05
ECB = Mechanism.AES_ECB
KW = Mechanism.AES_KEY_WRAP


@pytest.fixture()
def ks(module, raw, rsession):
    if module.info.kind != "keystead":
        pytest.skip("usage limits are keystead's vendor attributes")
    return raw, rsession


def use_rv(raw, h: int, key: int) -> int:
    """One use: C_EncryptInit (counted) then C_Encrypt to end the operation."""
    m = raw.mechanism(ECB)
    rv = raw.call("C_EncryptInit", h, m.ptr, key)
    if rv == CKR_OK:
        raw.single("Encrypt", h, bytes(16))
    return rv


def count(raw, h: int, key: int) -> int:
    return int.from_bytes(raw.get_attribute(h, key, USAGE_COUNT), "little")


def generated(raw, h: int, limit: int, token: bool = False, **extra: object) -> int:
    t = {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.VALUE_LEN: 32,
         A.TOKEN: token, A.SENSITIVE: True, A.EXTRACTABLE: True, A.ENCRYPT: True,
         A.DECRYPT: True, USAGE_LIMIT: limit}
    if token:
        t[A.LABEL] = extra.pop("label")
    return raw.generate_key(h, Mechanism.AES_KEY_GEN, t)


def exhaust(raw, h: int, key: int, limit: int) -> None:
    for _ in range(limit):
        assert_rv(use_rv(raw, h, key), CKR_OK)
    assert_rv(use_rv(raw, h, key), "CKR_KEY_FUNCTION_NOT_PERMITTED")


def test_a_session_object_obeys_its_limit(ks) -> None:
    raw, h = ks
    k = generated(raw, h, 2)
    exhaust(raw, h, k, 2)
    assert count(raw, h, k) == 2


@pytest.mark.parametrize("token", [False, True], ids=["session", "token"])
def test_a_copy_after_exhaustion_has_no_fresh_count(ks, token: bool) -> None:
    raw, h = ks
    k = generated(raw, h, 2, token=token, label=f"lim-{os.urandom(4).hex()}")
    try:
        exhaust(raw, h, k, 2)
        for to_token in (False, True):
            c = raw.copy_object(h, k, {A.TOKEN: to_token})
            assert count(raw, h, c) == 2
            assert_rv(use_rv(raw, h, c), "CKR_KEY_FUNCTION_NOT_PERMITTED")
            raw.destroy_object(h, c)
    finally:
        raw.destroy_object(h, k)


def test_copies_share_one_count(ks) -> None:
    raw, h = ks
    k = generated(raw, h, 3)
    c = raw.copy_object(h, k, {})
    assert_rv(use_rv(raw, h, k), CKR_OK)
    assert_rv(use_rv(raw, h, c), CKR_OK)
    assert_rv(use_rv(raw, h, k), CKR_OK)
    assert_rv(use_rv(raw, h, c), "CKR_KEY_FUNCTION_NOT_PERMITTED")
    assert count(raw, h, k) == count(raw, h, c) == 3


def test_an_unwrapped_copy_has_no_fresh_count(ks) -> None:
    raw, h = ks
    kek = raw.generate_key(h, Mechanism.AES_KEY_GEN, {
        A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.VALUE_LEN: 32,
        A.TOKEN: False, A.WRAP: True, A.UNWRAP: True, A.ENCRYPT: False, A.DECRYPT: False,
        A.SENSITIVE: True, A.EXTRACTABLE: False})
    k = generated(raw, h, 2)
    blob = raw.wrap_key(h, KW, kek, k)  # before exhaustion: an exhausted key is not wrapped
    uses = [use_rv(raw, h, k) for _ in range(3)]  # the wrap may or may not have been a use
    assert uses[-1] != CKR_OK and count(raw, h, k) == 2
    back = raw.unwrap_key(h, KW, kek, blob, {
        A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.TOKEN: False,
        A.ENCRYPT: True, USAGE_LIMIT: 2})
    assert count(raw, h, back) == 2
    assert_rv(use_rv(raw, h, back), "CKR_KEY_FUNCTION_NOT_PERMITTED")


_CHILD = textwrap.dedent("""
    import json, sys
    from keystead.softhsm_bridge.raw import open_raw
    from keystead.softhsm_bridge.ck import Attribute as A, Mechanism
    path, slot, pin, label, limit_attr, count_attr = sys.argv[1:7]
    raw = open_raw(path)
    h = raw.open_session(int(slot), rw=True)
    assert raw.login(h, 1, pin) == 0
    k = raw.find_objects(h, {A.LABEL: label})[0]
    c = raw.copy_object(h, k, {A.TOKEN: False})
    m = raw.mechanism(Mechanism.AES_ECB)
    rvs = []
    for _ in range(2):
        rv = raw.call("C_EncryptInit", h, m.ptr, c)
        if rv == 0:
            raw.single("Encrypt", h, bytes(16))
        rvs.append(rv)
    n = int.from_bytes(raw.get_attribute(h, k, int(count_attr)), "little")
    raw.close_all_sessions(int(slot))
    raw.finalize()
    print(json.dumps({"rvs": rvs, "count": n}))
""")


def test_a_restart_gives_no_fresh_count(ks, module) -> None:
    raw, h = ks
    name = f"lim-restart-{os.urandom(4).hex()}"
    k = generated(raw, h, 3, token=True, label=name)
    try:
        for _ in range(2):
            assert_rv(use_rv(raw, h, k), CKR_OK)
        # a fresh process is a fresh module instance: what survives is in the store
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, module.info.path, str(module.slot),
             module.token.user_pin, name, str(USAGE_LIMIT), str(USAGE_COUNT)],
            env=module.token_env.env(), capture_output=True, text=True, timeout=120,
            check=False)
        assert proc.returncode == 0, proc.stderr
        got = json.loads(proc.stdout.strip().splitlines()[-1])
        assert got["rvs"] == [CKR_OK, 0x68]  # CKR_KEY_FUNCTION_NOT_PERMITTED
        assert got["count"] == 3
        assert_rv(use_rv(raw, h, k), "CKR_KEY_FUNCTION_NOT_PERMITTED")
    finally:
        raw.destroy_object(h, k)
