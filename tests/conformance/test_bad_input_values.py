"""Bad input through the raw layer, part 2 (see test_bad_input.py): session and login
state, malformed templates, malformed mechanism parameters, lengths that do not fit.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from keystead.softhsm_bridge.ck import CKU_USER, Attribute, Mechanism, ObjectClass
from keystead.softhsm_bridge.errors import CKR_OK

from .bad_input_cases import HUGE, SHAPED, TOO_MANY, Ctx
from .bad_input_support import (
    CONTINUATIONS,
    assert_store_intact,
    buf32,
    call,
    ctr_param,
    ctx_for,
    deviation,
    expect,
    gcm_param,
    init_op,
)
from .support import aes_key, assert_rv, data_object

A = Attribute
M = Mechanism


@pytest.fixture
def c(module: Any, rsession: int) -> Iterator[Ctx]:
    """A Ctx on a logged-in RW session with a session AES key; checks the store after."""
    yield from ctx_for(module, rsession)


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
    CKR_ARGUMENTS_BAD, never read past the array, never a hang."""
    deviation(xfail_quirk, module, "huge-count-read")
    ptr, _ = c.template({A.LABEL: "x"})
    index = {"C_CreateObject": 1, "C_GetAttributeValue": 2, "C_SetAttributeValue": 2,
             "C_FindObjectsInit": 1, "C_GenerateKey": 2, "C_CopyObject": 2, "C_UnwrapKey": 5}
    args = list(SHAPED[fn](c, c.h))
    args[index[fn]], args[index[fn] + 1] = ptr, TOO_MANY
    assert_rv(call(c, fn, *args), "CKR_ARGUMENTS_BAD")


def test_set_attribute_value_all_or_nothing(c: Ctx, module: Any, xfail_quirk: Any) -> None:
    """5.7 C_SetAttributeValue: a template with one malformed attribute changes nothing."""
    xfail_quirk(module, "set-attribute-not-atomic")
    obj = c.raw.create_object(c.h, data_object(b"v", LABEL="before"))
    arr, n = _raw_template(c, {A.LABEL: "after"}, [(A.PRIVATE, b"\x01" * 8, 8)])
    assert_rv(call(c, "C_SetAttributeValue", c.h, obj, arr, n), "CKR_ATTRIBUTE_VALUE_INVALID")
    assert c.raw.get_attribute(c.h, obj, A.LABEL) == b"before"


# -- 9. malformed mechanism parameters --------------------------------------------------------

# (id, mechanism, parameter builder, SoftHSMv2 quirk). ulTagBits 0..128 is the range the
# GCM parameter allows, so only 136 is out of range here.
PARAMS = [
    ("cbc-iv-8", M.AES_CBC, lambda c: b"\x00" * 8, "bad-mechanism-param-code"),
    ("cbc-iv-17", M.AES_CBC_PAD, lambda c: b"\x00" * 17, "bad-mechanism-param-code"),
    ("cbc-iv-missing", M.AES_CBC, lambda c: None, "bad-mechanism-param-code"),
    ("ecb-with-param", M.AES_ECB, lambda c: b"\x00" * 16, "ecb-param-ignored"),
    ("gcm-iv-0", M.AES_GCM, lambda c: gcm_param(c, ulIvLen=0, ulIvBits=0), "gcm-empty-iv-accepted"),
    ("gcm-iv-null", M.AES_GCM, lambda c: gcm_param(c, pIv=None), "gcm-param-pointers-unchecked"),
    ("gcm-iv-huge", M.AES_GCM, lambda c: gcm_param(c, ulIvLen=1 << 40, ulIvBits=1 << 43),
     "gcm-param-pointers-unchecked"),
    ("gcm-aad-null", M.AES_GCM, lambda c: gcm_param(c, pAAD=None), "gcm-param-pointers-unchecked"),
    ("gcm-tag-136", M.AES_GCM, lambda c: gcm_param(c, ulTagBits=136), "bad-mechanism-param-code"),
    ("ctr-bits-0", M.AES_CTR, lambda c: ctr_param(c, 0), None),
    ("ctr-bits-129", M.AES_CTR, lambda c: ctr_param(c, 129), None),
]
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
    p = gcm_param(c) if mech == M.AES_GCM else ctr_param(c, 128)
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
    param = {M.AES_GCM: gcm_param(c), M.AES_CBC_PAD: b"\x00" * 16}.get(mech)
    init_op(c, what, mech, param, c.key)
    rv, _, _ = c.raw.call_out(fn, c.h, c.buf(16), length, capacity=None)
    assert_rv(rv, want)


# (id, operation, mechanism, function, arguments after the session, code, SoftHSMv2 quirk)
HUGE_INPUTS = [
    ("digest-update", "Digest", M.SHA256, "C_DigestUpdate", lambda c: (buf32(c), HUGE),
     "CKR_DATA_LEN_RANGE", "huge-length-exits"),
    ("sign-update", "Sign", M.AES_CMAC, "C_SignUpdate", lambda c: (buf32(c), HUGE),
     "CKR_DATA_LEN_RANGE", "huge-length-exits"),
    ("verify-update", "Verify", M.AES_CMAC, "C_VerifyUpdate", lambda c: (buf32(c), HUGE),
     "CKR_DATA_LEN_RANGE", "huge-length-exits"),
    ("verify-data", "Verify", M.AES_CMAC, "C_Verify", lambda c: (buf32(c), HUGE, buf32(c), 16),
     "CKR_DATA_LEN_RANGE", "huge-length-exits"),
    ("verify-signature", "Verify", M.AES_CMAC, "C_Verify", lambda c: (buf32(c), 16, buf32(c), HUGE),
     "CKR_SIGNATURE_LEN_RANGE", None),
    ("verify-final-signature", "Verify", M.AES_CMAC, "C_VerifyFinal",
     lambda c: (buf32(c), HUGE), "CKR_SIGNATURE_LEN_RANGE", None),
    ("gcm-decrypt-update", "Decrypt", M.AES_GCM, "C_DecryptUpdate",
     lambda c: (buf32(c), HUGE, c.ffi.NULL, c.ulong()), "CKR_ENCRYPTED_DATA_LEN_RANGE",
     "gcm-length-unchecked"),
    ("generate-random", None, None, "C_GenerateRandom", lambda c: (buf32(c), HUGE),
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
        param = gcm_param(c) if mech == M.AES_GCM else None
        init_op(c, what, mech, param, c.key)
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
        assert_rv(call(c, one, c.h, p, size, c.ffi.NULL, 0, buf32(c), HUGE, c.ffi.NULL,
                       c.ulong()), want)
        assert_rv(call(c, one, c.h, p, size, buf32(c), HUGE, buf32(c), 16, c.ffi.NULL, c.ulong()),
                  "CKR_ARGUMENTS_BAD")
        begin = one + "Begin"
        assert_rv(call(c, begin, c.h, p, size, buf32(c), HUGE), "CKR_ARGUMENTS_BAD")
        assert_rv(call(c, begin, c.h, p, size, c.ffi.NULL, 0), CKR_OK)
        assert_rv(call(c, one + "Next", c.h, p, size, buf32(c), HUGE, c.ffi.NULL, c.ulong(), 0),
                  want)
        final = init.replace("Init", "Final")
        assert_rv(call(c, final, c.h), CKR_OK)


def test_unwrap_huge_length(c: Ctx, module: Any, xfail_quirk: Any) -> None:
    """5.18 C_UnwrapKey: a wrapped key of 2^63 bytes is CKR_WRAPPED_KEY_LEN_RANGE, unread."""
    deviation(xfail_quirk, module, "huge-length-exits")
    args = list(SHAPED["C_UnwrapKey"](c, c.h))
    args[4] = HUGE
    assert_rv(call(c, "C_UnwrapKey", *args), "CKR_WRAPPED_KEY_LEN_RANGE")


@pytest.mark.parametrize("fn", ["C_WrapKey", "C_UnwrapKey"])
@pytest.mark.parametrize(("name", "length", "null"), [("null-8", 8, True),
                                                      ("iv-7", 7, False)])
def test_wrap_bad_parameter(fn: str, name: str, length: int, null: bool, c: Ctx, module: Any,
                            xfail_quirk: Any) -> None:
    """5.18: CKM_AES_KEY_WRAP takes no parameter or an 8-byte IV; a NULL pParameter with a
    length, or a 7-byte IV, is CKR_MECHANISM_PARAM_INVALID."""
    xfail_quirk(module, "bad-mechanism-param-code")
    args = list(SHAPED[fn](c, c.h))
    if fn == "C_WrapKey":
        args[3] = c.raw.create_object(c.h, aes_key(os.urandom(16)))
    m = c.raw.mechanism(M.AES_KEY_WRAP, b"\x00" * length)
    c.keep.append(m)
    if null:
        m.ptr.pParameter = c.ffi.NULL
    args[1] = m.ptr
    assert_rv(call(c, fn, *args), "CKR_MECHANISM_PARAM_INVALID")


def test_private_handles_after_logout(c: Ctx, module: Any, xfail_quirk: Any) -> None:
    """5.6 C_Logout: the application's handles to private objects become invalid and its
    private session objects are destroyed: CKR_OBJECT_HANDLE_INVALID, and for a key given to
    an Init, CKR_KEY_HANDLE_INVALID (5.8)."""
    r = c.raw
    session_obj = r.create_object(c.h, data_object(b"x", PRIVATE=True))
    token_obj = r.create_object(c.h, data_object(b"y", PRIVATE=True, TOKEN=True))
    key = r.create_object(c.h, aes_key(os.urandom(16), PRIVATE=True))
    try:
        assert_rv(r.logout(c.h), CKR_OK)
        for h in (session_obj, token_obj, key):
            assert_rv(call(c, "C_GetObjectSize", c.h, h, c.ulong()), "CKR_OBJECT_HANDLE_INVALID")
        xfail_quirk(module, "key-handle-object-handle-invalid")
        assert_rv(call(c, "C_EncryptInit", c.h, c.mech(M.AES_ECB), key),
                  "CKR_KEY_HANDLE_INVALID")
    finally:
        expect(r.login(c.h, CKU_USER, module.token.user_pin), "CKR_OK",
               "CKR_USER_ALREADY_LOGGED_IN")
        for o in r.find_objects(c.h, {A.CLASS: ObjectClass.DATA, A.VALUE: b"y"}):
            r.destroy_object(c.h, o)


def test_so_login_sees_every_read_only_session(module: Any, public_session: int) -> None:
    """5.6 C_Login: the SO cannot log in while any read-only session is open
    (CKR_SESSION_READ_ONLY_EXISTS), however many sessions there are and wherever the
    read-only one sits in the module's tables. A wrong SO PIN is given: a module that missed
    the session answers CKR_PIN_INCORRECT instead."""
    r = module.raw
    last = public_session
    for _ in range(300):
        last = r.open_session(module.slot, rw=True)
    while last % 256 != 254:
        last = r.open_session(module.slot, rw=True)
    r.open_session(module.slot, rw=False)
    assert_rv(r.call("C_Login", public_session, 0, b"wrong-so-pin", 12),
              "CKR_SESSION_READ_ONLY_EXISTS")
