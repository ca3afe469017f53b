"""Shared pieces of the bad-input tests (test_bad_input*.py, test_threads.py).

``Ctx`` (bad_input_cases.py) carries a logged-in RW session and a session AES key; the helpers
here check codes, apply SoftHSMv2 quirks (a crash is never run), and check after each test
that the store is intact: a known token object keeps its value and a fresh AES-GCM round trip
works.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from keystead.softhsm_bridge import quirks
from keystead.softhsm_bridge.ck import CKU_USER, Attribute, Mechanism, ObjectClass
from keystead.softhsm_bridge.errors import rv_name

from .bad_input_cases import V30, Ctx
from .support import aes_key, code, data_object

A = Attribute
M = Mechanism
CANARY_LABEL = "bad-input-canary"


def expect(rv: int, *names: str) -> None:
    """Assert ``rv`` is one of the codes named (the spec's choice where it leaves one)."""
    want = {code(n) for n in names}
    assert rv in want, f"got {rv_name(rv)} ({rv:#x}), spec requires {' or '.join(names)}"


def needs_v3(xfail_quirk: Any, module: Any, fn: str) -> None:
    if fn in V30:
        xfail_quirk(module, "no-v3-interface")


# -- the store intact -------------------------------------------------------------------------

_CANARY: dict[str, bytes] = {}


def _canary_value(module: Any) -> bytes:
    """The random value of the token data object every test checks (made once per module)."""
    if module.name not in _CANARY:
        value = os.urandom(24)
        r = module.raw
        h = r.open_session(module.slot, rw=True)
        try:
            expect(r.login(h, CKU_USER, module.token.user_pin), "CKR_OK",
                   "CKR_USER_ALREADY_LOGGED_IN")
            r.create_object(h, data_object(value, TOKEN=True, LABEL=CANARY_LABEL))
        finally:
            r.close_session(h)
        _CANARY[module.name] = value
    return _CANARY[module.name]


def assert_store_intact(module: Any) -> None:
    """The known token object still holds its value and a fresh AES-GCM round trip works."""
    value = _canary_value(module)
    r = module.raw
    h = r.open_session(module.slot, rw=True)
    try:
        rv = r.login(h, CKU_USER, module.token.user_pin)
        expect(rv, "CKR_OK", "CKR_USER_ALREADY_LOGGED_IN")
        found = r.find_objects(h, {A.CLASS: ObjectClass.DATA, A.LABEL: CANARY_LABEL})
        assert len(found) == 1, "the canary token object is gone or duplicated"
        assert r.get_attribute(h, found[0], A.VALUE) == value
        k = r.create_object(h, aes_key(os.urandom(32)))
        iv, msg = os.urandom(12), os.urandom(33)
        ct = r.encrypt(h, M.AES_GCM, k, msg, r.gcm(iv, b"aad"))
        assert r.decrypt(h, M.AES_GCM, k, ct, r.gcm(iv, b"aad")) == msg
    finally:
        r.close_session(h)


def ctx_for(module: Any, rsession: int) -> Iterator[Ctx]:
    """The body of each test module's ``c`` fixture: a Ctx on a logged-in RW session with a
    session AES key; after the test, the store must be intact."""
    _canary_value(module)
    key = module.raw.create_object(rsession, aes_key(os.urandom(16)))
    yield Ctx(module.raw, rsession, key, module.slot)
    assert_store_intact(module)


def closed_handle(c: Ctx) -> int:
    h = c.raw.open_session(c.slot, rw=True)
    c.raw.close_session(h)
    return h


def call(c: Ctx, fn: str, *args: Any) -> int:
    return c.raw.call(fn, *args)


def init_op(c: Ctx, what: str, mech: int, param: Any, key: int) -> None:
    """C_{what}Init on the Ctx's session (raises on refusal)."""
    c.raw.op_init(what, c.h, mech, key, param)


OPS = {
    "Encrypt": (M.AES_ECB, None), "Decrypt": (M.AES_ECB, None), "Digest": (M.SHA256, None),
    "Sign": (M.AES_CMAC, None), "Verify": (M.AES_CMAC, None),
}
CONTINUATIONS = {
    "Encrypt": ("C_Encrypt", "C_EncryptUpdate", "C_EncryptFinal"),
    "Decrypt": ("C_Decrypt", "C_DecryptUpdate", "C_DecryptFinal"),
    "Digest": ("C_Digest", "C_DigestUpdate", "C_DigestFinal"),
    "Sign": ("C_Sign", "C_SignUpdate", "C_SignFinal"),
    "Verify": ("C_Verify", "C_VerifyUpdate", "C_VerifyFinal"),
}


def gcm_param(c: Ctx, **fields: Any) -> Any:
    """A well-formed CK_GCM_PARAMS (12-byte IV, AAD, 128-bit tag) with ``fields`` changed
    (None for a NULL pointer)."""
    p = c.raw.gcm(b"\x00" * 12, b"aad", 128)
    c.keep.append(p)
    for k, v in fields.items():
        setattr(p.ptr, k, c.ffi.NULL if v is None else v)
    return p


def ctr_param(c: Ctx, bits: int) -> Any:
    """CK_AES_CTR_PARAMS with ulCounterBits ``bits``."""
    p = c.raw.ctr(b"\x00" * 16, bits)
    c.keep.append(p)
    return p


def buf32(c: Ctx) -> Any:
    return c.buf(32)


# Quirks whose case would crash the test process: the case is not run for that module.
CRASHES = frozenset({"gcm-param-pointers-unchecked", "huge-count-read", "huge-length-exits"})


def quirk_reason(module: Any, name: str) -> str:
    q = quirks.get(module.info, name)
    return q.reason if q else name


def deviation(xfail_quirk: Any, module: Any, name: str) -> None:
    """Apply quirk ``name``: a strict xfail, or for a crash, an xfail without running."""
    if name in CRASHES and module.has_quirk(name):
        pytest.xfail(quirk_reason(module, name))
    xfail_quirk(module, name)
