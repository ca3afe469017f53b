"""Bad input through the raw layer (PKCS#11 3.0 section 5: every argument checked), part 1:
handles, NULL pointers, slot ids, short buffers and operation state.

Every one of the 92 entry points is called with what an application may get wrong (the table
is bad_input_cases.py). Each check asserts the exact code the function's description in
section 5 names; after each test the store must be intact (bad_input_support.py). Operations
end as 5.2 says after every kind of error. Part 2 (test_bad_input_values.py): session state,
templates, mechanism parameters, huge lengths; part 3 (test_bad_input_lifecycle.py): before
C_Initialize and after C_Finalize.

SoftHSMv2 runs the same cases; where it deviates, the case is a strict xfail through a quirk
(softhsm_bridge/quirks.py), or not run when the deviation is a crash. keystead never xfails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from keystead.softhsm_bridge.ck import CK_UNAVAILABLE_INFORMATION as UNAVAILABLE
from keystead.softhsm_bridge.ck import CKU_USER, Attribute, Mechanism, ObjectClass
from keystead.softhsm_bridge.errors import CKR_OK

from .bad_input_cases import (
    ALL_FUNCTIONS,
    BEFORE_INIT_OK,
    HUGE,
    NOT_SUPPORTED,
    SESSION_FUNCTIONS,
    SHAPED,
    SHAPED_NO_SESSION,
    UNSUPPORTED,
    Ctx,
)
from .bad_input_support import (
    CONTINUATIONS,
    OPS,
    assert_store_intact,
    call,
    closed_handle,
    ctx_for,
    expect,
    init_op,
    needs_v3,
)
from .support import aes_key, assert_rv, data_object

A = Attribute
M = Mechanism


@pytest.fixture
def c(module: Any, rsession: int) -> Iterator[Ctx]:
    """A Ctx on a logged-in RW session with a session AES key; checks the store after."""
    yield from ctx_for(module, rsession)


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
    ("C_DeriveKey", 1, "CKR_ARGUMENTS_BAD"),
    ("C_DeriveKey", 5, "CKR_ARGUMENTS_BAD"),
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
    ("C_UnwrapKey", 5), ("C_DeriveKey", 3),
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


@pytest.mark.parametrize(("what", "mech", "param", "inlen", "outlen"), OP_SINGLE,
                         ids=[o[0] for o in OP_SINGLE])
def test_single_part_short_buffer_and_length_query(what: str, mech: int, param: Any,
                                                   inlen: int, outlen: int, c: Ctx) -> None:
    """5.2: a NULL output is a length query and a short buffer is CKR_BUFFER_TOO_SMALL, the
    length needed written back; neither ends the operation, which then completes."""
    key = c.key if what != "Sign" else c.raw.create_object(
        c.h, {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: 0x10, A.TOKEN: False,
              A.SIGN: True, A.VALUE: os.urandom(32)})
    init_op(c, what, mech, param, key)
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
    init_op(c, "Encrypt", M.AES_CBC_PAD, b"\x00" * 16, c.key)
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
    init_op(c, "Decrypt", M.AES_CBC_PAD, b"\x00" * 16, c.key)
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

@pytest.mark.parametrize("what", list(OPS))
def test_operation_not_initialized_and_active(what: str, c: Ctx) -> None:
    """No operation: CKR_OPERATION_NOT_INITIALIZED; a second Init: CKR_OPERATION_ACTIVE and
    the first operation carries on (5.2)."""
    for fn in CONTINUATIONS[what]:
        assert_rv(call(c, fn, *SHAPED[fn](c, c.h)), "CKR_OPERATION_NOT_INITIALIZED")
    mech, param = OPS[what]
    init_op(c, what, mech, param, c.key)
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
    init_op(c, what, mech, param, c.key)
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
    init_op(c, what, mech, param, c.key)  # never a stuck CKR_OPERATION_ACTIVE


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
    """5.6 C_Logout leaves it to the token: an operation with a private key
    ends at C_Logout; after a new login a new one starts (no stuck CKR_OPERATION_ACTIVE)."""
    xfail_quirk(module, "logout-keeps-operations")
    k = c.raw.create_object(c.h, aes_key(os.urandom(16), PRIVATE=True))
    init_op(c, "Encrypt", M.AES_ECB, None, k)
    assert_rv(c.raw.logout(c.h), CKR_OK)
    assert_rv(call(c, "C_Encrypt", *SHAPED["C_Encrypt"](c, c.h)),
              "CKR_OPERATION_NOT_INITIALIZED")
    assert_rv(c.raw.login(c.h, CKU_USER, module.token.user_pin), CKR_OK)
    k = c.raw.create_object(c.h, aes_key(os.urandom(16), PRIVATE=True))
    init_op(c, "Encrypt", M.AES_ECB, None, k)


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
    """Functions keystead does not implement answer CKR_FUNCTION_NOT_SUPPORTED (README) on a
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


def test_every_function_covered() -> None:
    """The table names all 92 functions of PKCS#11 3.0 5.1 exactly once."""
    assert len(ALL_FUNCTIONS) == 92
    assert set(SHAPED) | set(SHAPED_NO_SESSION) | BEFORE_INIT_OK == set(ALL_FUNCTIONS)
