"""Bad input through the raw layer (issue 2, "Bad input"; PKCS#11 3.0 section 5).

Every one of the 92 entry points is called with what an application may get wrong: NULL
pointers, invalid session/object/key handles and slot ids, short output buffers, the wrong
session state, malformed templates and mechanism parameters, lengths that do not fit. Each
check asserts the exact code the function's description in section 5 names; after each test
the token must still work ("the store intact": a known token object keeps its value and a
fresh GCM round trip succeeds). Operations end as 5.2 says after every kind of error.

SoftHSMv2 runs the same cases; where it deviates, the case is a strict xfail through a quirk
(softhsm_bridge/quirks.py). keystead never xfails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from keystead.softhsm_bridge.ck import CK_UNAVAILABLE_INFORMATION as UNAVAILABLE
from keystead.softhsm_bridge.ck import CKU_USER, Attribute, Mechanism, ObjectClass
from keystead.softhsm_bridge.errors import CKR_OK, rv_name

from .bad_input_cases import (
    ALL_FUNCTIONS,
    BEFORE_INIT_OK,
    HUGE,
    NOT_SUPPORTED,
    SESSION_FUNCTIONS,
    SHAPED,
    SHAPED_NO_SESSION,
    TOO_MANY,
    UNSUPPORTED,
    V30,
    Ctx,
)
from .support import aes_key, assert_rv, code, data_object

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


@pytest.fixture
def c(module: Any, rsession: int) -> Iterator[Ctx]:
    """A Ctx on a logged-in RW session with a session AES key; checks the store after."""
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


# -- 1. invalid session handles (every function that takes one) -----------------------------

@pytest.mark.parametrize("fn", SESSION_FUNCTIONS)
def test_invalid_session_handle(fn: str, c: Ctx, module: Any, xfail_quirk: Any) -> None:
    """0, a huge value and a closed session's handle: CKR_SESSION_HANDLE_INVALID (5.6 and
    every session function's list). A function keystead does not implement may say so first."""
    needs_v3(xfail_quirk, module, fn)
    allowed = ("CKR_SESSION_HANDLE_INVALID",) + ((NOT_SUPPORTED,) if fn in UNSUPPORTED else ())
    for bad in (0, HUGE + 12345, closed_handle(c)):
        expect(call(c, fn, *SHAPED[fn](c, bad)), *allowed)


# -- 2. NULL pointers -------------------------------------------------------------------------

# (function, index of the argument made NULL, expected code). A pointer that comes with a
# length is NULL with a nonzero length; a NULL output buffer alone is a length query (5.2).
NULL_CASES: list[tuple[str, int, str]] = [
    ("C_GetSessionInfo", 1, "CKR_ARGUMENTS_BAD"),
    ("C_SetPIN", 1, "CKR_ARGUMENTS_BAD"),
    ("C_SetPIN", 3, "CKR_ARGUMENTS_BAD"),
    ("C_CreateObject", 3, "CKR_ARGUMENTS_BAD"),
    ("C_CopyObject", 4, "CKR_ARGUMENTS_BAD"),
    ("C_GetObjectSize", 2, "CKR_ARGUMENTS_BAD"),
    ("C_FindObjects", 3, "CKR_ARGUMENTS_BAD"),
    ("C_EncryptInit", 1, "CKR_ARGUMENTS_BAD"),
    ("C_DecryptInit", 1, "CKR_ARGUMENTS_BAD"),
    ("C_DigestInit", 1, "CKR_ARGUMENTS_BAD"),
    ("C_SignInit", 1, "CKR_ARGUMENTS_BAD"),
    ("C_VerifyInit", 1, "CKR_ARGUMENTS_BAD"),
    ("C_GenerateKey", 1, "CKR_ARGUMENTS_BAD"),
    ("C_GenerateKey", 4, "CKR_ARGUMENTS_BAD"),
    ("C_WrapKey", 1, "CKR_ARGUMENTS_BAD"),
    ("C_WrapKey", 5, "CKR_ARGUMENTS_BAD"),
    ("C_UnwrapKey", 1, "CKR_ARGUMENTS_BAD"),
    ("C_UnwrapKey", 3, "CKR_ARGUMENTS_BAD"),
    ("C_UnwrapKey", 7, "CKR_ARGUMENTS_BAD"),
    ("C_SeedRandom", 1, "CKR_ARGUMENTS_BAD"),
    ("C_GenerateRandom", 1, "CKR_ARGUMENTS_BAD"),
    ("C_LoginUser", 4, "CKR_ARGUMENTS_BAD"),
    ("C_MessageEncryptInit", 1, "CKR_ARGUMENTS_BAD"),
    ("C_MessageDecryptInit", 1, "CKR_ARGUMENTS_BAD"),
]
# Template pointers: NULL with a count of 2.
NULL_TEMPLATE_CASES: list[tuple[str, int]] = [
    ("C_CreateObject", 1), ("C_CopyObject", 2), ("C_GetAttributeValue", 2),
    ("C_SetAttributeValue", 2), ("C_FindObjectsInit", 1), ("C_GenerateKey", 2),
    ("C_UnwrapKey", 5),
]


@pytest.mark.parametrize(("fn", "index", "want"), NULL_CASES,
                         ids=[f"{f}-arg{i}" for f, i, _ in NULL_CASES])
def test_null_pointer(fn: str, index: int, want: str, c: Ctx, module: Any,
                      xfail_quirk: Any) -> None:
    needs_v3(xfail_quirk, module, fn)
    if fn == "C_FindObjects":
        assert_rv(call(c, "C_FindObjectsInit", c.h, c.ffi.NULL, 0), CKR_OK)
    args = list(SHAPED[fn](c, c.h))
    args[index] = c.ffi.NULL
    assert_rv(call(c, fn, *args), want)
    if fn == "C_FindObjects":
        assert_rv(call(c, "C_FindObjectsFinal", c.h), CKR_OK)


@pytest.mark.parametrize(("fn", "index"), NULL_TEMPLATE_CASES,
                         ids=[f for f, _ in NULL_TEMPLATE_CASES])
def test_null_template_with_count(fn: str, index: int, c: Ctx) -> None:
    args = list(SHAPED[fn](c, c.h))
    args[index], args[index + 1] = c.ffi.NULL, 2
    assert_rv(call(c, fn, *args), "CKR_ARGUMENTS_BAD")


def test_null_pointers_without_session(module: Any, xfail_quirk: Any) -> None:
    """The slot, token and general functions refuse a NULL result pointer (5.4, 5.5)."""
    r, slot, ffi = module.raw, module.slot, module.raw.ffi
    n = ffi.NULL
    assert_rv(r.call("C_GetInfo", n), "CKR_ARGUMENTS_BAD")
    assert_rv(r.lib.C_GetFunctionList(n), "CKR_ARGUMENTS_BAD")
    assert_rv(r.call("C_GetSlotList", 0, n, n), "CKR_ARGUMENTS_BAD")
    assert_rv(r.call("C_GetSlotInfo", slot, n), "CKR_ARGUMENTS_BAD")
    assert_rv(r.call("C_GetTokenInfo", slot, n), "CKR_ARGUMENTS_BAD")
    assert_rv(r.call("C_GetMechanismList", slot, n, n), "CKR_ARGUMENTS_BAD")
    assert_rv(r.call("C_GetMechanismInfo", slot, M.AES_ECB, n), "CKR_ARGUMENTS_BAD")
    assert_rv(r.call("C_OpenSession", slot, 4, n, n, n), "CKR_ARGUMENTS_BAD")
    xfail_quirk(module, "no-v3-interface")
    assert_rv(r.lib.C_GetInterfaceList(n, n), "CKR_ARGUMENTS_BAD")
    assert_rv(r.lib.C_GetInterface(n, n, n, 0), "CKR_ARGUMENTS_BAD")
    assert_store_intact(module)


def test_wait_for_slot_event_null_slot(module: Any, xfail_quirk: Any) -> None:
    """5.5 C_WaitForSlotEvent: a NULL pSlot is CKR_ARGUMENTS_BAD, event or not."""
    xfail_quirk(module, "wait-null-slot-accepted")
    r = module.raw
    assert_rv(r.call("C_WaitForSlotEvent", 1, r.ffi.NULL, r.ffi.NULL), "CKR_ARGUMENTS_BAD")


def test_init_token_null_label_and_open_session(module: Any, rsession: int) -> None:
    """C_InitToken: NULL label is CKR_ARGUMENTS_BAD (or CKR_SESSION_EXISTS first: 5.5 does
    not order them); with a session open on the token it is CKR_SESSION_EXISTS. (A wrong SO
    PIN is passed: nothing may be wiped either way.)"""
    r = module.raw
    expect(r.call("C_InitToken", module.slot, b"wrong-so", 8, r.ffi.NULL),
           "CKR_ARGUMENTS_BAD", "CKR_SESSION_EXISTS")
    assert_rv(r.call("C_InitToken", module.slot, b"wrong-so", 8, b"x".ljust(32)),
              "CKR_SESSION_EXISTS")
    assert_store_intact(module)


# -- 3. invalid slot ids ----------------------------------------------------------------------

@pytest.mark.parametrize("fn", sorted(SHAPED_NO_SESSION.keys() - {"C_Finalize", "C_GetInfo",
                                                                   "C_GetSlotList",
                                                                   "C_WaitForSlotEvent"}))
def test_invalid_slot_id(fn: str, module: Any) -> None:
    """An unknown slot id is CKR_SLOT_ID_INVALID (5.5, 5.6)."""
    c = Ctx(module.raw, 0, 0, 0)
    for bad in (1 << 40, (1 << 64) - 1, 0xDEAD):
        assert_rv(c.raw.call(fn, *SHAPED_NO_SESSION[fn](c, bad)), "CKR_SLOT_ID_INVALID")
    assert_store_intact(module)


# -- 4. invalid object and key handles --------------------------------------------------------

def _gone(c: Ctx) -> int:
    k = c.raw.create_object(c.h, aes_key(os.urandom(16)))
    c.raw.destroy_object(c.h, k)
    return k


OBJECT_FUNCTIONS = ("C_CopyObject", "C_DestroyObject", "C_GetObjectSize",
                    "C_GetAttributeValue", "C_SetAttributeValue")
KEY_INIT_FUNCTIONS = ("C_EncryptInit", "C_DecryptInit", "C_SignInit", "C_VerifyInit",
                      "C_MessageEncryptInit", "C_MessageDecryptInit")


@pytest.mark.parametrize("fn", OBJECT_FUNCTIONS)
def test_invalid_object_handle(fn: str, c: Ctx) -> None:
    for bad in (0, HUGE + 7, _gone(c)):
        args = list(SHAPED[fn](c, c.h))
        args[1] = bad
        assert_rv(call(c, fn, *args), "CKR_OBJECT_HANDLE_INVALID")


@pytest.mark.parametrize("fn", KEY_INIT_FUNCTIONS)
def test_invalid_key_handle(fn: str, c: Ctx, module: Any, xfail_quirk: Any) -> None:
    needs_v3(xfail_quirk, module, fn)
    xfail_quirk(module, "key-handle-object-handle-invalid")
    for bad in (0, HUGE + 7, _gone(c)):
        args = list(SHAPED[fn](c, c.h))
        args[2] = bad
        assert_rv(call(c, fn, *args), "CKR_KEY_HANDLE_INVALID")


def test_digest_key_invalid_handle(c: Ctx, module: Any, xfail_quirk: Any) -> None:
    """C_DigestKey with an invalid key: CKR_KEY_HANDLE_INVALID, which ends the digest (5.2)."""
    xfail_quirk(module, "key-handle-object-handle-invalid")
    c.raw.op_init("Digest", c.h, M.SHA256, 0)
    assert_rv(call(c, "C_DigestKey", c.h, _gone(c)), "CKR_KEY_HANDLE_INVALID")
    assert_rv(call(c, "C_DigestUpdate", c.h, b"x", 1), "CKR_OPERATION_NOT_INITIALIZED")


def test_wrap_unwrap_invalid_handles(c: Ctx, module: Any, xfail_quirk: Any) -> None:
    """5.18: the wrapping and unwrapping key have their own codes."""
    for bad in (0, HUGE + 7, _gone(c)):
        args = list(SHAPED["C_WrapKey"](c, c.h))
        args[2] = bad
        assert_rv(call(c, "C_WrapKey", *args), "CKR_WRAPPING_KEY_HANDLE_INVALID")
        args = list(SHAPED["C_WrapKey"](c, c.h))
        args[3] = bad
        assert_rv(call(c, "C_WrapKey", *args), "CKR_KEY_HANDLE_INVALID")
        args = list(SHAPED["C_UnwrapKey"](c, c.h))
        args[2] = bad
        assert_rv(call(c, "C_UnwrapKey", *args), "CKR_UNWRAPPING_KEY_HANDLE_INVALID")


# -- 5. short buffers and length queries ------------------------------------------------------

def test_short_buffers_slot_lists(module: Any, xfail_quirk: Any) -> None:
    """C_GetSlotList / C_GetMechanismList / C_GetInterfaceList: CKR_BUFFER_TOO_SMALL with the
    count needed written (5.5, 5.4)."""
    r = module.raw
    for fn, args, ctype in (("C_GetSlotList", (0,), "CK_SLOT_ID[]"),
                            ("C_GetMechanismList", (module.slot,), "CK_MECHANISM_TYPE[]")):
        n = r.ulong_ptr()
        assert_rv(r.call(fn, *args, r.ffi.NULL, n), CKR_OK)
        need = int(n[0])
        assert need >= 1
        short = r.ulong_ptr(need - 1)
        assert_rv(r.call(fn, *args, r.ffi.new(ctype, need), short), "CKR_BUFFER_TOO_SMALL")
        assert int(short[0]) == need
    xfail_quirk(module, "no-v3-interface")
    n = r.ulong_ptr(0)
    assert_rv(r.lib.C_GetInterfaceList(r.ffi.new("CK_INTERFACE[]", 1), n),
              "CKR_BUFFER_TOO_SMALL")
    assert int(n[0]) >= 1


def test_get_attribute_short_buffer(c: Ctx) -> None:
    """5.7 C_GetAttributeValue: a value that does not fit sets its ulValueLen to
    CK_UNAVAILABLE_INFORMATION and the call returns CKR_BUFFER_TOO_SMALL; the others are
    still filled in."""
    obj = c.raw.create_object(c.h, data_object(b"0123456789", LABEL="short"))
    arr = c.ffi.new("CK_ATTRIBUTE[2]")
    small, label = c.ffi.new("CK_BYTE[4]"), c.ffi.new("CK_BYTE[16]")
    arr[0].type, arr[0].pValue, arr[0].ulValueLen = A.VALUE, small, 4
    arr[1].type, arr[1].pValue, arr[1].ulValueLen = A.LABEL, label, 16
    assert_rv(call(c, "C_GetAttributeValue", c.h, obj, arr, 2), "CKR_BUFFER_TOO_SMALL")
    assert int(arr[0].ulValueLen) == UNAVAILABLE
    assert bytes(c.ffi.buffer(label, int(arr[1].ulValueLen))) == b"short"


OP_SINGLE = [
    ("Encrypt", M.AES_CBC_PAD, b"\x01" * 16, 20, 32),
    ("Decrypt", M.AES_ECB, None, 32, 32),
    ("Digest", M.SHA256, None, 40, 32),
    ("Sign", M.SHA256_HMAC, None, 40, 32),
]


def _init(c: Ctx, what: str, mech: int, param: bytes | None, key: int) -> None:
    c.raw.op_init(what, c.h, mech, key, param)


@pytest.mark.parametrize(("what", "mech", "param", "inlen", "outlen"), OP_SINGLE,
                         ids=[o[0] for o in OP_SINGLE])
def test_single_part_short_buffer_and_length_query(what: str, mech: int, param: Any,
                                                   inlen: int, outlen: int, c: Ctx) -> None:
    """5.2: a NULL output is a length query and a short buffer is CKR_BUFFER_TOO_SMALL, the
    length needed written back; neither ends the operation, which then completes."""
    key = c.key if what != "Sign" else c.raw.create_object(
        c.h, {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: 0x10, A.TOKEN: False,
              A.SIGN: True, A.VALUE: os.urandom(32)})
    _init(c, what, mech, param, key)
    data = os.urandom(inlen)
    rv, _, need = c.raw.call_out(f"C_{what}", c.h, data, len(data), capacity=None)
    assert_rv(rv, CKR_OK)
    assert need >= outlen if what == "Encrypt" else need == outlen
    rv, _, got = c.raw.call_out(f"C_{what}", c.h, data, len(data), capacity=need - 1 or 0)
    assert_rv(rv, "CKR_BUFFER_TOO_SMALL")
    assert got == need
    rv, out, got = c.raw.call_out(f"C_{what}", c.h, data, len(data), capacity=need)
    assert_rv(rv, CKR_OK)
    assert len(out) == got <= need
    # The call succeeded, so the operation is over (5.2).
    rv, _, _ = c.raw.call_out(f"C_{what}", c.h, data, len(data), capacity=need)
    assert_rv(rv, "CKR_OPERATION_NOT_INITIALIZED")


def test_multi_part_short_buffer(c: Ctx) -> None:
    """C_EncryptUpdate and C_EncryptFinal: CKR_BUFFER_TOO_SMALL keeps the operation."""
    _init(c, "Encrypt", M.AES_CBC_PAD, b"\x00" * 16, c.key)
    rv, _, need = c.raw.call_out("C_EncryptUpdate", c.h, b"a" * 40, 40, capacity=8)
    assert_rv(rv, "CKR_BUFFER_TOO_SMALL")
    assert need == 32
    rv, out, n = c.raw.call_out("C_EncryptUpdate", c.h, b"a" * 40, 40, capacity=32)
    assert_rv(rv, CKR_OK)
    rv, _, need = c.raw.call_out("C_EncryptFinal", c.h, capacity=0)
    assert_rv(rv, "CKR_BUFFER_TOO_SMALL")
    assert need == 16
    rv, last, _ = c.raw.call_out("C_EncryptFinal", c.h, capacity=16)
    assert_rv(rv, CKR_OK)
    _init(c, "Decrypt", M.AES_CBC_PAD, b"\x00" * 16, c.key)
    assert c.raw.single("Decrypt", c.h, out + last) == b"a" * 40


def test_wrap_key_short_buffer(c: Ctx) -> None:
    """5.18 C_WrapKey: length query, then CKR_BUFFER_TOO_SMALL with the length needed."""
    args = SHAPED["C_WrapKey"](c, c.h)[:4]
    rv, _, need = c.raw.call_out("C_WrapKey", *args, capacity=None)
    assert_rv(rv, CKR_OK)
    assert need == 24
    rv, _, got = c.raw.call_out("C_WrapKey", *args, capacity=need - 1)
    assert_rv(rv, "CKR_BUFFER_TOO_SMALL")
    assert got == need
    rv, blob, _ = c.raw.call_out("C_WrapKey", *args, capacity=need)
    assert_rv(rv, CKR_OK)
    assert len(blob) == 24


# -- 6. operation state: not initialised, active, ended by errors (5.2) -----------------------

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


@pytest.mark.parametrize("what", list(OPS))
def test_operation_not_initialized_and_active(what: str, c: Ctx) -> None:
    """No operation: CKR_OPERATION_NOT_INITIALIZED; a second Init: CKR_OPERATION_ACTIVE and
    the first operation carries on (5.2)."""
    for fn in CONTINUATIONS[what]:
        assert_rv(call(c, fn, *SHAPED[fn](c, c.h)), "CKR_OPERATION_NOT_INITIALIZED")
    mech, param = OPS[what]
    _init(c, what, mech, param, c.key)
    init = f"C_{what}Init"
    assert_rv(call(c, init, *SHAPED[init](c, c.h)), "CKR_OPERATION_ACTIVE")
    single = CONTINUATIONS[what][0]
    expect(call(c, single, *SHAPED[single](c, c.h)), "CKR_OK", "CKR_SIGNATURE_INVALID")
    assert_rv(call(c, single, *SHAPED[single](c, c.h)), "CKR_OPERATION_NOT_INITIALIZED")


# Each error below must end the operation; a fresh Init must then succeed.
ERROR_ENDS = [
    ("Encrypt", "C_Encrypt", "null-out-len", "CKR_ARGUMENTS_BAD"),
    ("Encrypt", "C_EncryptUpdate", "null-in", "CKR_ARGUMENTS_BAD"),
    ("Encrypt", "C_Encrypt", "bad-length", "CKR_DATA_LEN_RANGE"),
    ("Decrypt", "C_Decrypt", "bad-length", "CKR_ENCRYPTED_DATA_LEN_RANGE"),
    ("Decrypt", "C_DecryptFinal", "null-out-len", "CKR_ARGUMENTS_BAD"),
    ("Digest", "C_DigestUpdate", "null-in", "CKR_ARGUMENTS_BAD"),
    ("Digest", "C_DigestFinal", "null-out-len", "CKR_ARGUMENTS_BAD"),
    ("Sign", "C_Sign", "null-out-len", "CKR_ARGUMENTS_BAD"),
    ("Sign", "C_SignUpdate", "null-in", "CKR_ARGUMENTS_BAD"),
    ("Verify", "C_Verify", "null-sig", "CKR_ARGUMENTS_BAD"),
    ("Verify", "C_VerifyFinal", "null-sig", "CKR_ARGUMENTS_BAD"),
]
# The argument errors SoftHSMv2 answers without ending the operation.
KEEPS_OPERATION = {(f, h) for _, f, h, _ in ERROR_ENDS if h != "bad-length"} - {
    ("C_DecryptFinal", "null-out-len")}


@pytest.mark.parametrize(("what", "fn", "how", "want"), ERROR_ENDS,
                         ids=[f"{f}-{h}" for _, f, h, _ in ERROR_ENDS])
def test_error_ends_operation(what: str, fn: str, how: str, want: str, c: Ctx, module: Any,
                              xfail_quirk: Any) -> None:
    """5.2: a call that returns an error other than CKR_BUFFER_TOO_SMALL ends the operation,
    argument errors included."""
    if (fn, how) in KEEPS_OPERATION:
        xfail_quirk(module, "argument-error-keeps-operation")
    mech, param = OPS[what]
    _init(c, what, mech, param, c.key)
    args = list(SHAPED[fn](c, c.h))
    if how == "null-out-len":
        args[-1] = c.ffi.NULL
    elif how in ("null-in", "null-sig"):
        i = 1 if how == "null-in" else len(args) - 2
        args[i] = c.ffi.NULL
    elif how == "bad-length":
        args[1], args[2] = c.buf(17), 17
    assert_rv(call(c, fn, *args), want)
    for cont in CONTINUATIONS[what][1:]:
        assert_rv(call(c, cont, *SHAPED[cont](c, c.h)), "CKR_OPERATION_NOT_INITIALIZED")
    _init(c, what, mech, param, c.key)  # never a stuck CKR_OPERATION_ACTIVE


def test_find_objects_state(c: Ctx) -> None:
    """C_FindObjects/Final without Init: CKR_OPERATION_NOT_INITIALIZED; a second Init:
    CKR_OPERATION_ACTIVE (5.7)."""
    assert_rv(call(c, "C_FindObjects", *SHAPED["C_FindObjects"](c, c.h)),
              "CKR_OPERATION_NOT_INITIALIZED")
    assert_rv(call(c, "C_FindObjectsFinal", c.h), "CKR_OPERATION_NOT_INITIALIZED")
    assert_rv(call(c, "C_FindObjectsInit", c.h, c.ffi.NULL, 0), CKR_OK)
    assert_rv(call(c, "C_FindObjectsInit", c.h, c.ffi.NULL, 0), "CKR_OPERATION_ACTIVE")
    assert_rv(call(c, "C_FindObjectsFinal", c.h), CKR_OK)


def test_logout_ends_operations_needing_login(c: Ctx, module: Any, xfail_quirk: Any) -> None:
    """Issue 2 point 8 (5.6 C_Logout leaves it to the token): an operation with a private key
    ends at C_Logout; after a new login a new one starts (no stuck CKR_OPERATION_ACTIVE)."""
    xfail_quirk(module, "logout-keeps-operations")
    k = c.raw.create_object(c.h, aes_key(os.urandom(16), PRIVATE=True))
    _init(c, "Encrypt", M.AES_ECB, None, k)
    assert_rv(c.raw.logout(c.h), CKR_OK)
    assert_rv(call(c, "C_Encrypt", *SHAPED["C_Encrypt"](c, c.h)),
              "CKR_OPERATION_NOT_INITIALIZED")
    assert_rv(c.raw.login(c.h, CKU_USER, module.token.user_pin), CKR_OK)
    k = c.raw.create_object(c.h, aes_key(os.urandom(16), PRIVATE=True))
    _init(c, "Encrypt", M.AES_ECB, None, k)


def test_message_functions_not_initialized(c: Ctx, module: Any, xfail_quirk: Any) -> None:
    """5.13/5.14: message calls without C_Message*Init are CKR_OPERATION_NOT_INITIALIZED."""
    xfail_quirk(module, "no-v3-interface")
    for fn in ("C_EncryptMessage", "C_EncryptMessageBegin", "C_EncryptMessageNext",
               "C_MessageEncryptFinal", "C_DecryptMessage", "C_DecryptMessageBegin",
               "C_DecryptMessageNext", "C_MessageDecryptFinal"):
        assert_rv(call(c, fn, *SHAPED[fn](c, c.h)), "CKR_OPERATION_NOT_INITIALIZED")
    init = SHAPED["C_MessageEncryptInit"](c, c.h)
    assert_rv(call(c, "C_MessageEncryptInit", *init), CKR_OK)
    assert_rv(call(c, "C_MessageEncryptInit", *init), "CKR_OPERATION_ACTIVE")
    assert_rv(call(c, "C_MessageEncryptFinal", c.h), CKR_OK)


@pytest.mark.parametrize("fn", sorted(UNSUPPORTED - {"C_GetOperationState",
                                                     "C_SetOperationState"}))
def test_unsupported_function(fn: str, module: Any, c: Ctx, xfail_quirk: Any) -> None:
    """Functions keystead does not implement answer CKR_FUNCTION_NOT_SUPPORTED (issue 2) on a
    valid session; a module that implements one may answer as its function says instead."""
    needs_v3(xfail_quirk, module, fn)
    rv = call(c, fn, *SHAPED[fn](c, c.h))
    if module.kind == "keystead":
        assert_rv(rv, NOT_SUPPORTED)
    else:
        assert rv != CKR_OK or fn.startswith("C_GenerateKeyPair")


def test_legacy_and_state_functions(c: Ctx, module: Any) -> None:
    """5.16 legacy functions: CKR_FUNCTION_NOT_PARALLEL; 5.6 operation state: keystead does
    not save it (CKR_FUNCTION_NOT_SUPPORTED is among the codes 5.6 lists)."""
    for fn in ("C_GetFunctionStatus", "C_CancelFunction"):
        assert_rv(call(c, fn, c.h), "CKR_FUNCTION_NOT_PARALLEL")
    assert_rv(call(c, "C_WaitForSlotEvent", *SHAPED_NO_SESSION["C_WaitForSlotEvent"](c, 0)),
              "CKR_NO_EVENT")
    for fn in ("C_GetOperationState", "C_SetOperationState"):
        expect(call(c, fn, *SHAPED[fn](c, c.h)), NOT_SUPPORTED, "CKR_OPERATION_NOT_INITIALIZED",
               "CKR_SAVED_STATE_INVALID")


# -- 7. session and login state ---------------------------------------------------------------

@pytest.fixture
def ro(module: Any, rsession: int) -> int:
    """A read-only session next to the logged-in RW one (the user is logged in on both)."""
    return module.raw.open_session(module.slot, rw=False)


def test_read_only_session_refuses_token_writes(module: Any, ro: int, rsession: int) -> None:
    """5.7/5.18/5.6: a token object cannot be created, copied, changed or destroyed, and a
    PIN cannot be changed, in a read-only session: CKR_SESSION_READ_ONLY."""
    r, ffi = module.raw, module.raw.ffi
    c = Ctx(r, ro, 0, module.slot)
    t = aes_key(os.urandom(16), TOKEN=True)
    ptr, n = c.template(t)
    assert_rv(r.call("C_CreateObject", ro, ptr, n, c.ulong()), "CKR_SESSION_READ_ONLY")
    ptr, n = c.template({A.TOKEN: True, A.VALUE_LEN: 16})
    assert_rv(r.call("C_GenerateKey", ro, c.mech(M.AES_KEY_GEN), ptr, n, c.ulong()),
              "CKR_SESSION_READ_ONLY")
    tok = r.create_object(rsession, data_object(b"ro", TOKEN=True))
    try:
        ptr, n = c.template({A.LABEL: "new"})
        assert_rv(r.call("C_SetAttributeValue", ro, tok, ptr, n), "CKR_SESSION_READ_ONLY")
        ptr, n = c.template({A.TOKEN: True})
        assert_rv(r.call("C_CopyObject", ro, tok, ptr, n, c.ulong()), "CKR_SESSION_READ_ONLY")
        assert_rv(r.call("C_DestroyObject", ro, tok), "CKR_SESSION_READ_ONLY")
        pin = module.token.user_pin.encode()
        assert_rv(r.call("C_SetPIN", ro, pin, len(pin), pin, len(pin)),
                  "CKR_SESSION_READ_ONLY")
    finally:
        r.destroy_object(rsession, tok)
    del ffi
    assert_store_intact(module)


def test_not_logged_in(module: Any, public_session: int, xfail_quirk: Any) -> None:
    """Private objects need a login: CKR_USER_NOT_LOGGED_IN (5.7, 5.18); C_InitPIN needs the
    SO (5.5); C_Login's own argument checks (5.6)."""
    r, h = module.raw, public_session
    c = Ctx(r, h, 0, module.slot)
    ptr, n = c.template(data_object(b"p", PRIVATE=True))
    assert_rv(r.call("C_CreateObject", h, ptr, n, c.ulong()), "CKR_USER_NOT_LOGGED_IN")
    ptr, n = c.template({A.PRIVATE: True, A.VALUE_LEN: 16, A.TOKEN: False})
    assert_rv(r.call("C_GenerateKey", h, c.mech(M.AES_KEY_GEN), ptr, n, c.ulong()),
              "CKR_USER_NOT_LOGGED_IN")
    assert_rv(r.call("C_InitPIN", h, b"abcd1234", 8), "CKR_USER_NOT_LOGGED_IN")
    assert_rv(r.call("C_Login", h, 7, b"abcd1234", 8), "CKR_USER_TYPE_INVALID")
    assert_rv(r.call("C_Login", h, CKU_USER, r.ffi.NULL, 8), "CKR_ARGUMENTS_BAD")
    xfail_quirk(module, "logout-when-public-ok")
    assert_rv(r.logout(h), "CKR_USER_NOT_LOGGED_IN")


def test_login_pin_too_long(module: Any, public_session: int, xfail_quirk: Any) -> None:
    """5.6 C_Login has no CKR_PIN_LEN_RANGE: a PIN longer than any the token accepts is
    CKR_PIN_INCORRECT, also at a length of 2^63, never read."""
    deviation(xfail_quirk, module, "huge-length-exits")
    r = module.raw
    for n in (300, HUGE):
        assert_rv(r.call("C_Login", public_session, CKU_USER, b"x" * 300, n),
                  "CKR_PIN_INCORRECT")
    assert_store_intact(module)


def test_set_pin_old_pin_too_long(c: Ctx, module: Any, xfail_quirk: Any) -> None:
    """5.5 C_SetPIN: an old PIN longer than any the token accepts is CKR_PIN_INCORRECT."""
    deviation(xfail_quirk, module, "huge-length-exits")
    new = b"abcd1234"
    for n in (300, HUGE):
        assert_rv(call(c, "C_SetPIN", c.h, b"x" * 300, n, new, len(new)), "CKR_PIN_INCORRECT")


def test_login_twice(c: Ctx, module: Any) -> None:
    pin = module.token.user_pin.encode()
    assert_rv(c.raw.call("C_Login", c.h, CKU_USER, pin, len(pin)), "CKR_USER_ALREADY_LOGGED_IN")
    assert_rv(c.raw.call("C_Login", c.h, 0, pin, len(pin)),
              "CKR_USER_ANOTHER_ALREADY_LOGGED_IN")


def test_open_session_flags(module: Any) -> None:
    """5.6 C_OpenSession: CKF_SERIAL_SESSION must be set."""
    r = module.raw
    h = r.ulong_ptr()
    assert_rv(r.call("C_OpenSession", module.slot, 0x2, r.ffi.NULL, r.ffi.NULL, h),
              "CKR_SESSION_PARALLEL_NOT_SUPPORTED")


# -- 8. malformed templates -------------------------------------------------------------------

MALFORMED = [
    ("null-value-with-length", (A.LABEL, None, 5), "CKR_ATTRIBUTE_VALUE_INVALID"),
    ("bbool-8-bytes", (A.SENSITIVE, b"\x01" + bytes(7), 8), "CKR_ATTRIBUTE_VALUE_INVALID"),
    ("bbool-0-bytes", (A.ENCRYPT, b"", 0), "CKR_ATTRIBUTE_VALUE_INVALID"),
    ("ulong-4-bytes", (A.VALUE_LEN, b"\x10\x00\x00\x00", 4), "CKR_ATTRIBUTE_VALUE_INVALID"),
    ("date-7-bytes", (A.START_DATE, b"2026011", 7), "CKR_ATTRIBUTE_VALUE_INVALID"),
    ("date-not-digits", (A.END_DATE, b"2026ab01", 8), "CKR_ATTRIBUTE_VALUE_INVALID"),
]
MALFORMED_QUIRKS = {"date-not-digits": "date-not-validated"}


def _raw_template(c: Ctx, base: dict[int, Any], extra: list[tuple[int, Any, int]]) -> Any:
    """base (well formed) plus attributes given as (type, bytes or None, ulValueLen)."""
    t = c.raw.template(base)
    arr = c.ffi.new("CK_ATTRIBUTE[]", t.count + len(extra))
    c.keep += [t, arr]
    for i in range(t.count):
        arr[i] = t.ptr[i]
    for j, (atype, value, length) in enumerate(extra):
        a = arr[t.count + j]
        a.type, a.ulValueLen = atype, length
        a.pValue = c.ffi.NULL if value is None else c.buf(max(len(value), 1))
        if value:
            c.ffi.memmove(a.pValue, value, len(value))
    return arr, t.count + len(extra)


@pytest.mark.parametrize(("name", "attr", "want"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_template(name: str, attr: tuple[int, Any, int], want: str, c: Ctx,
                            module: Any, xfail_quirk: Any) -> None:
    """A value of the wrong size or form for its type (4.x attribute tables) is
    CKR_ATTRIBUTE_VALUE_INVALID in C_CreateObject, C_GenerateKey and C_SetAttributeValue."""
    if name in MALFORMED_QUIRKS:
        xfail_quirk(module, MALFORMED_QUIRKS[name])
    base = {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: 0x1F, A.TOKEN: False,
            A.VALUE: os.urandom(16)}
    if attr[0] == A.VALUE_LEN:
        base.pop(A.VALUE)
        arr, n = _raw_template(c, {A.TOKEN: False}, [attr])
        assert_rv(call(c, "C_GenerateKey", c.h, c.mech(M.AES_KEY_GEN), arr, n, c.ulong()), want)
        return
    arr, n = _raw_template(c, base, [attr])
    assert_rv(call(c, "C_CreateObject", c.h, arr, n, c.ulong()), want)
    arr, n = _raw_template(c, {}, [attr])
    assert_rv(call(c, "C_SetAttributeValue", c.h, c.key, arr, n), want)


def test_duplicate_conflicting_attributes(c: Ctx) -> None:
    """An attribute given twice with different values (4.1: the token may refuse the
    template or choose one of the values; an attribute is always single-valued)."""
    t = list(aes_key(os.urandom(16)).items()) + [(A.ENCRYPT, False)]
    ptr, n = c.template(t)
    h = c.ulong()
    rv = call(c, "C_CreateObject", c.h, ptr, n, h)
    expect(rv, "CKR_TEMPLATE_INCONSISTENT", "CKR_OK")
    if rv == CKR_OK:
        assert c.raw.get_attribute(c.h, h[0], A.ENCRYPT) in (b"\x00", b"\x01")


@pytest.mark.parametrize("fn", ["C_CreateObject", "C_GetAttributeValue",
                                "C_SetAttributeValue", "C_FindObjectsInit", "C_GenerateKey",
                                "C_CopyObject", "C_UnwrapKey"])
def test_count_that_does_not_fit(fn: str, c: Ctx, module: Any, xfail_quirk: Any) -> None:
    """A count of 2^40 attributes (the array holds 1) is refused at once with
    CKR_ARGUMENTS_BAD, never read past the array, never a hang (issue 2 point 8)."""
    deviation(xfail_quirk, module, "huge-count-read")
    ptr, _ = c.template({A.LABEL: "x"})
    index = {"C_CreateObject": 1, "C_GetAttributeValue": 2, "C_SetAttributeValue": 2,
             "C_FindObjectsInit": 1, "C_GenerateKey": 2, "C_CopyObject": 2, "C_UnwrapKey": 5}
    args = list(SHAPED[fn](c, c.h))
    args[index[fn]], args[index[fn] + 1] = ptr, TOO_MANY
    assert_rv(call(c, fn, *args), "CKR_ARGUMENTS_BAD")


def module_quirk_reason(module: Any, name: str) -> str:
    from keystead.softhsm_bridge import quirks
    q = quirks.get(module.info, name)
    return q.reason if q else name


def test_set_attribute_value_all_or_nothing(c: Ctx, module: Any, xfail_quirk: Any) -> None:
    """5.7 C_SetAttributeValue: a template with one malformed attribute changes nothing."""
    xfail_quirk(module, "set-attribute-not-atomic")
    obj = c.raw.create_object(c.h, data_object(b"v", LABEL="before"))
    arr, n = _raw_template(c, {A.LABEL: "after"}, [(A.PRIVATE, b"\x01" * 8, 8)])
    assert_rv(call(c, "C_SetAttributeValue", c.h, obj, arr, n), "CKR_ATTRIBUTE_VALUE_INVALID")
    assert c.raw.get_attribute(c.h, obj, A.LABEL) == b"before"


# -- 9. malformed mechanism parameters --------------------------------------------------------

def _gcm(c: Ctx, **fields: Any) -> Any:
    p = c.raw.gcm(b"\x00" * 12, b"aad", 128)
    c.keep.append(p)
    for k, v in fields.items():
        setattr(p.ptr, k, c.ffi.NULL if v is None else v)
    return p


def _ctr(c: Ctx, bits: int) -> Any:
    p = c.raw.ctr(b"\x00" * 16, bits)
    c.keep.append(p)
    return p


# (id, mechanism, parameter builder, SoftHSMv2 quirk). ulTagBits 0..128 is the range the
# GCM parameter allows, so only 136 is out of range here.
PARAMS = [
    ("cbc-iv-8", M.AES_CBC, lambda c: b"\x00" * 8, "bad-mechanism-param-code"),
    ("cbc-iv-17", M.AES_CBC_PAD, lambda c: b"\x00" * 17, "bad-mechanism-param-code"),
    ("cbc-iv-missing", M.AES_CBC, lambda c: None, "bad-mechanism-param-code"),
    ("ecb-with-param", M.AES_ECB, lambda c: b"\x00" * 16, "ecb-param-ignored"),
    ("gcm-iv-0", M.AES_GCM, lambda c: _gcm(c, ulIvLen=0, ulIvBits=0), "gcm-empty-iv-accepted"),
    ("gcm-iv-null", M.AES_GCM, lambda c: _gcm(c, pIv=None), "gcm-param-pointers-unchecked"),
    ("gcm-iv-huge", M.AES_GCM, lambda c: _gcm(c, ulIvLen=1 << 40, ulIvBits=1 << 43),
     "gcm-param-pointers-unchecked"),
    ("gcm-aad-null", M.AES_GCM, lambda c: _gcm(c, pAAD=None), "gcm-param-pointers-unchecked"),
    ("gcm-tag-136", M.AES_GCM, lambda c: _gcm(c, ulTagBits=136), "bad-mechanism-param-code"),
    ("ctr-bits-0", M.AES_CTR, lambda c: _ctr(c, 0), None),
    ("ctr-bits-129", M.AES_CTR, lambda c: _ctr(c, 129), None),
]
# Quirks whose case would crash the test process: the case is not run for that module.
CRASHES = frozenset({"gcm-param-pointers-unchecked", "huge-count-read", "huge-length-exits"})


def deviation(xfail_quirk: Any, module: Any, name: str) -> None:
    """Apply quirk ``name``: a strict xfail, or for a crash, an xfail without running."""
    if name in CRASHES and module.has_quirk(name):
        pytest.xfail(module_quirk_reason(module, name))
    xfail_quirk(module, name)



@pytest.mark.parametrize(("name", "mech", "make", "quirk"), PARAMS, ids=[p[0] for p in PARAMS])
@pytest.mark.parametrize("what", ["Encrypt", "Decrypt"])
def test_bad_mechanism_parameter(what: str, name: str, mech: int, make: Any, quirk: str,
                                 c: Ctx, module: Any, xfail_quirk: Any) -> None:
    """5.8/5.9 C_EncryptInit/C_DecryptInit: a malformed parameter is
    CKR_MECHANISM_PARAM_INVALID, and no operation starts."""
    if quirk:
        deviation(xfail_quirk, module, quirk)
    m = c.raw.mechanism(mech, make(c))
    assert_rv(call(c, f"C_{what}Init", c.h, m.ptr, c.key), "CKR_MECHANISM_PARAM_INVALID")
    fn = f"C_{what}"
    assert_rv(call(c, fn, *SHAPED[fn](c, c.h)), "CKR_OPERATION_NOT_INITIALIZED")


@pytest.mark.parametrize("delta", [-1, 1, 1 << 40])
@pytest.mark.parametrize("mech", [M.AES_GCM, M.AES_CTR])
def test_parameter_struct_wrong_length(mech: int, delta: int, c: Ctx, module: Any,
                                       xfail_quirk: Any) -> None:
    """ulParameterLen that is not sizeof(CK_GCM_PARAMS) / sizeof(CK_AES_CTR_PARAMS):
    CKR_MECHANISM_PARAM_INVALID; NULL pParameter with a length too."""
    xfail_quirk(module, "bad-mechanism-param-code")
    p = _gcm(c) if mech == M.AES_GCM else _ctr(c, 128)
    m = c.raw.mechanism(mech, p)
    m.ptr.ulParameterLen += delta
    assert_rv(call(c, "C_EncryptInit", c.h, m.ptr, c.key), "CKR_MECHANISM_PARAM_INVALID")
    m.ptr.pParameter = c.ffi.NULL
    assert_rv(call(c, "C_EncryptInit", c.h, m.ptr, c.key), "CKR_MECHANISM_PARAM_INVALID")


def test_key_gen_with_parameter(c: Ctx, module: Any, xfail_quirk: Any) -> None:
    """CKM_AES_KEY_GEN has no parameter (current mechanisms 2.x): CKR_MECHANISM_PARAM_INVALID."""
    xfail_quirk(module, "keygen-param-ignored")
    ptr, n = c.template({A.TOKEN: False, A.VALUE_LEN: 16})
    assert_rv(call(c, "C_GenerateKey", c.h, c.mech(M.AES_KEY_GEN, b"\x00" * 8), ptr, n,
                   c.ulong()), "CKR_MECHANISM_PARAM_INVALID")


# -- 10. lengths that do not fit --------------------------------------------------------------

HUGE_CASES = [
    ("gcm-encrypt", "Encrypt", M.AES_GCM, "C_Encrypt", HUGE, "CKR_DATA_LEN_RANGE",
     "gcm-length-unchecked"),
    ("ecb-encrypt-odd", "Encrypt", M.AES_ECB, "C_Encrypt", HUGE + 1, "CKR_DATA_LEN_RANGE", None),
    ("cbc-pad-max", "Encrypt", M.AES_CBC_PAD, "C_Encrypt", (1 << 64) - 1,
     "CKR_DATA_LEN_RANGE", "cbc-pad-length-wraps"),
    ("ecb-decrypt-odd", "Decrypt", M.AES_ECB, "C_Decrypt", HUGE + 1,
     "CKR_ENCRYPTED_DATA_LEN_RANGE", None),
    ("gcm-update", "Encrypt", M.AES_GCM, "C_EncryptUpdate", HUGE, "CKR_DATA_LEN_RANGE",
     "gcm-length-unchecked"),
]


@pytest.mark.parametrize(("name", "what", "mech", "fn", "length", "want", "quirk"), HUGE_CASES,
                         ids=[h[0] for h in HUGE_CASES])
def test_huge_length(name: str, what: str, mech: int, fn: str, length: int, want: str,
                     quirk: str | None, c: Ctx, module: Any, xfail_quirk: Any) -> None:
    """A data length of 2^63 (or 2^64 - 1) in a length query is refused with the function's
    length code (5.8, 5.9; SP 800-38D 5.2.1.1 caps GCM plaintext at 2^39 - 256 bits), never
    read, and the output length never wraps round to a small number."""
    if quirk:
        xfail_quirk(module, quirk)
    param = {M.AES_GCM: _gcm(c), M.AES_CBC_PAD: b"\x00" * 16}.get(mech)
    _init(c, what, mech, param, c.key)
    rv, _, _ = c.raw.call_out(fn, c.h, c.buf(16), length, capacity=None)
    assert_rv(rv, want)


def _b(c: Ctx) -> Any:
    return c.buf(32)


# (id, operation, mechanism, function, arguments after the session, code, SoftHSMv2 quirk)
HUGE_INPUTS = [
    ("digest-update", "Digest", M.SHA256, "C_DigestUpdate", lambda c: (_b(c), HUGE),
     "CKR_DATA_LEN_RANGE", "huge-length-exits"),
    ("sign-update", "Sign", M.AES_CMAC, "C_SignUpdate", lambda c: (_b(c), HUGE),
     "CKR_DATA_LEN_RANGE", "huge-length-exits"),
    ("verify-update", "Verify", M.AES_CMAC, "C_VerifyUpdate", lambda c: (_b(c), HUGE),
     "CKR_DATA_LEN_RANGE", "huge-length-exits"),
    ("verify-data", "Verify", M.AES_CMAC, "C_Verify", lambda c: (_b(c), HUGE, _b(c), 16),
     "CKR_DATA_LEN_RANGE", "huge-length-exits"),
    ("verify-signature", "Verify", M.AES_CMAC, "C_Verify", lambda c: (_b(c), 16, _b(c), HUGE),
     "CKR_SIGNATURE_LEN_RANGE", None),
    ("verify-final-signature", "Verify", M.AES_CMAC, "C_VerifyFinal",
     lambda c: (_b(c), HUGE), "CKR_SIGNATURE_LEN_RANGE", None),
    ("gcm-decrypt-update", "Decrypt", M.AES_GCM, "C_DecryptUpdate",
     lambda c: (_b(c), HUGE, c.ffi.NULL, c.ulong()), "CKR_ENCRYPTED_DATA_LEN_RANGE",
     "gcm-length-unchecked"),
    ("generate-random", None, None, "C_GenerateRandom", lambda c: (_b(c), HUGE),
     "CKR_ARGUMENTS_BAD", "huge-length-exits"),
]


@pytest.mark.parametrize(("name", "what", "mech", "fn", "make", "want", "quirk"), HUGE_INPUTS,
                         ids=[h[0] for h in HUGE_INPUTS])
def test_huge_input_length(name: str, what: str | None, mech: int | None, fn: str, make: Any,
                           want: str, quirk: str | None, c: Ctx, module: Any,
                           xfail_quirk: Any) -> None:
    """An input of 2^63 bytes to an update, a verification or C_GenerateRandom's output:
    refused with the function's length code (5.8-5.13, 5.15) before a byte is touched; the
    error ends the operation (5.2)."""
    if quirk:
        deviation(xfail_quirk, module, quirk)
    if what is not None:
        param = _gcm(c) if mech == M.AES_GCM else None
        _init(c, what, mech, param, c.key)
    assert_rv(call(c, fn, c.h, *make(c)), want)
    if what is not None:
        last = CONTINUATIONS[what][2]
        assert_rv(call(c, last, *SHAPED[last](c, c.h)), "CKR_OPERATION_NOT_INITIALIZED")


def test_message_huge_lengths(c: Ctx, module: Any, xfail_quirk: Any) -> None:
    """5.13/5.14: a message or AAD of 2^63 bytes is refused unread; the process goes on."""
    xfail_quirk(module, "no-v3-interface")
    size = c.ffi.sizeof("CK_GCM_MESSAGE_PARAMS")
    for init, one, want in (("C_MessageEncryptInit", "C_EncryptMessage", "CKR_DATA_LEN_RANGE"),
                            ("C_MessageDecryptInit", "C_DecryptMessage",
                             "CKR_ENCRYPTED_DATA_LEN_RANGE")):
        assert_rv(call(c, init, *SHAPED[init](c, c.h)), CKR_OK)
        p = SHAPED[one](c, c.h)[1]
        assert_rv(call(c, one, c.h, p, size, c.ffi.NULL, 0, _b(c), HUGE, c.ffi.NULL,
                       c.ulong()), want)
        assert_rv(call(c, one, c.h, p, size, _b(c), HUGE, _b(c), 16, c.ffi.NULL, c.ulong()),
                  "CKR_ARGUMENTS_BAD")
        begin = one + "Begin"
        assert_rv(call(c, begin, c.h, p, size, _b(c), HUGE), "CKR_ARGUMENTS_BAD")
        assert_rv(call(c, begin, c.h, p, size, c.ffi.NULL, 0), CKR_OK)
        assert_rv(call(c, one + "Next", c.h, p, size, _b(c), HUGE, c.ffi.NULL, c.ulong(), 0),
                  want)
        final = init.replace("Init", "Final")
        assert_rv(call(c, final, c.h), CKR_OK)


def test_unwrap_huge_length(c: Ctx, module: Any, xfail_quirk: Any) -> None:
    """5.18 C_UnwrapKey: a wrapped key of 2^63 bytes is CKR_WRAPPED_KEY_LEN_RANGE, unread."""
    deviation(xfail_quirk, module, "huge-length-exits")
    args = list(SHAPED["C_UnwrapKey"](c, c.h))
    args[4] = HUGE
    assert_rv(call(c, "C_UnwrapKey", *args), "CKR_WRAPPED_KEY_LEN_RANGE")


# -- 11. before C_Initialize and after C_Finalize ---------------------------------------------

_CHILD = textwrap.dedent("""
    import json, sys
    from keystead.softhsm_bridge.ck import CKU_USER, Attribute as A, KeyType as K
    from keystead.softhsm_bridge.ck import Mechanism as M, ObjectClass as O
    from keystead.softhsm_bridge.raw import open_raw
    from tests.conformance.bad_input_cases import (
        ALL_FUNCTIONS, BEFORE_INIT_OK, SHAPED, SHAPED_NO_SESSION, V30, Ctx)
    r = open_raw(sys.argv[1], initialize=False)
    c = Ctx(r, 1, 1, 0)
    def sweep():
        out = {}
        for fn in ALL_FUNCTIONS:
            if fn in BEFORE_INIT_OK or (fn in V30 and not r.has_v3):
                continue
            args = SHAPED[fn](c, 1) if fn in SHAPED else SHAPED_NO_SESSION[fn](c, 0)
            out[fn] = r.call(fn, *args)
        return out
    res = {"before": sweep()}
    a = r.ffi.new("CK_C_INITIALIZE_ARGS *")
    a.pReserved = r.ffi.cast("void *", 1)
    res["init_reserved"] = r.call("C_Initialize", a)
    a = r.ffi.new("CK_C_INITIALIZE_ARGS *")
    a.CreateMutex = r.ffi.cast("CK_CREATEMUTEX", 1)
    res["init_some_callbacks"] = r.call("C_Initialize", a)
    res["init"] = r.call("C_Initialize", r.ffi.NULL)
    res["init_again"] = r.call("C_Initialize", r.ffi.NULL)
    # Sessions open, one with an encryption and a find active, when C_Finalize comes.
    slot = next(s for s in r.slot_list() if r.token_info(s)["serial"] == sys.argv[2])
    def busy_session():
        h = r.open_session(slot, rw=True)
        r.login(h, CKU_USER, sys.argv[3])
        k = r.create_object(h, {A.CLASS: O.SECRET_KEY, A.KEY_TYPE: K.AES, A.TOKEN: False,
                                A.ENCRYPT: True, A.VALUE: bytes(16)})
        r.op_init("Encrypt", h, M.AES_ECB, k)
        return h, k
    h, k = busy_session()
    r.check("C_FindObjectsInit", r.open_session(slot, rw=False), r.ffi.NULL, 0)
    res["finalize_reserved"] = r.call("C_Finalize", r.ffi.cast("void *", 1))
    res["finalize"] = r.call("C_Finalize", r.ffi.NULL)
    res["reinit"] = r.call("C_Initialize", r.ffi.NULL)
    res["stale_session"] = r.call("C_GetSessionInfo", h, r.ffi.new("CK_SESSION_INFO *"))
    h2, k2 = busy_session()
    res["fresh_encrypt"] = r.call("C_Encrypt", h2, bytes(16), 16, r.ffi.NULL, r.ulong_ptr())
    res["finalize_again"] = r.call("C_Finalize", r.ffi.NULL)
    res["after"] = sweep()
    res["v3"] = r.has_v3
    print(json.dumps(res))
""")


@pytest.fixture(scope="module")
def lifecycle(module: Any) -> dict[str, Any]:
    env = module.token_env.env() if module.token_env else dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", _CHILD, module.info.path, module.token.serial,
                           module.token.user_pin], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("phase", ["before", "after"])
def test_not_initialized(phase: str, lifecycle: dict[str, Any]) -> None:
    """5.4: every function but C_Initialize, C_GetFunctionList, C_GetInterfaceList and
    C_GetInterface is CKR_CRYPTOKI_NOT_INITIALIZED before C_Initialize and after
    C_Finalize."""
    got = lifecycle[phase]
    want = set(ALL_FUNCTIONS) - BEFORE_INIT_OK - (set() if lifecycle["v3"] else set(V30))
    assert set(got) == want
    wrong = {fn: rv_name(rv) for fn, rv in got.items()
             if rv != code("CKR_CRYPTOKI_NOT_INITIALIZED")}
    assert not wrong, wrong


def test_initialize_finalize_arguments(lifecycle: dict[str, Any]) -> None:
    """5.4 C_Initialize: pReserved must be NULL and the mutex callbacks all or none
    (CKR_ARGUMENTS_BAD); a second call is CKR_CRYPTOKI_ALREADY_INITIALIZED; C_Finalize's
    pReserved must be NULL."""
    assert_rv(lifecycle["init"], CKR_OK)
    assert_rv(lifecycle["init_again"], "CKR_CRYPTOKI_ALREADY_INITIALIZED")
    assert_rv(lifecycle["finalize"], CKR_OK)


def test_finalize_with_busy_sessions(lifecycle: dict[str, Any]) -> None:
    """5.4 C_Finalize with sessions open (an encryption active in one, a find in another)
    succeeds;
    after C_Initialize the old session handle is invalid (5.6) and a new session works."""
    assert_rv(lifecycle["finalize"], CKR_OK)
    assert_rv(lifecycle["reinit"], CKR_OK)
    assert_rv(lifecycle["stale_session"], "CKR_SESSION_HANDLE_INVALID")
    assert_rv(lifecycle["fresh_encrypt"], CKR_OK)
    assert_rv(lifecycle["finalize_again"], CKR_OK)
    assert_rv(lifecycle["init_reserved"], "CKR_ARGUMENTS_BAD")
    assert_rv(lifecycle["init_some_callbacks"], "CKR_ARGUMENTS_BAD")
    assert_rv(lifecycle["finalize_reserved"], "CKR_ARGUMENTS_BAD")


def test_every_function_covered() -> None:
    """The table names all 92 functions of PKCS#11 3.0 5.1 exactly once."""
    assert len(ALL_FUNCTIONS) == 92
    assert set(SHAPED) | set(SHAPED_NO_SESSION) | BEFORE_INIT_OK == set(ALL_FUNCTIONS)
