"""One policy gate: every function that uses a key's value checks the key's lifecycle state,
usage period, usage limit and allowed mechanisms and records the use, as C_EncryptInit does
(README, "Key lifecycle in the token"; native/p11/guard.h).

The sweep takes the names from the module's own PKCS#11 3.0 function list: a function added
to it must be classified here, and a function that takes a key is driven with keys the gate
refuses, so one that reaches a key's value without the gate fails the test. These are
keystead's vendor attributes: SoftHSMv2 has none, so its cases are skipped.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from keystead.softhsm_bridge.ck import Attribute as A
from keystead.softhsm_bridge.ck import KeyType, Mechanism, ObjectClass
from keystead.softhsm_bridge.errors import CKR_OK

from tests.native.kex_keys import generate

from .derive_support import (
    CKD_NULL,
    CKM_ECDH1_DERIVE,
    ecdh_params,
    peer,
    private_template,
    secret_template,
)
from .support import assert_rv, code
from .test_token_lifecycle import (
    ACTIVE,
    COMPROMISED,
    DEACTIVATED,
    DESTROYED,
    PRE,
    PROCESS_END,
    PROCESS_START,
    STATE,
    SUSPENDED,
    USAGE_COUNT,
    USAGE_LIMIT,
    date,
    key,
)

NOT_PERMITTED = "CKR_KEY_FUNCTION_NOT_PERMITTED"
ALLOWED_MECHANISMS = 0x40000600  # CKA_ALLOWED_MECHANISMS (3.0 base 4.7)
AES_ECB_ENCRYPT_DATA = 0x1104  # a derivation mechanism (current mechanisms 2.10)
KW = Mechanism.AES_KEY_WRAP
SHA256 = Mechanism.SHA256


@pytest.fixture()
def ks(module, raw, rsession):
    if module.info.kind != "keystead":
        pytest.skip("lifecycle, usage periods and limits are keystead's vendor attributes")
    return raw, rsession


def mechs(*types: int) -> bytes:
    """A CK_MECHANISM_TYPE array as the attribute holds it."""
    return b"".join(int(t).to_bytes(8, "little") for t in types)


def digest_key_rv(raw, session, handle: int, mech: int = SHA256) -> int:
    raw.check("C_DigestInit", session, raw.mechanism(mech).ptr)
    rv = raw.call("C_DigestKey", session, handle)
    raw.call("C_SessionCancel", session, 0xFFFFFFFF)
    return rv


# -- C_DigestKey ----------------------------------------------------------------------------

@pytest.mark.parametrize("state", [SUSPENDED, DESTROYED, PRE, COMPROMISED],
                         ids=["suspended", "destroyed", "pre-activation", "compromised"])
def test_digest_key_obeys_the_lifecycle_state(ks, state):
    raw, session = ks
    assert_rv(digest_key_rv(raw, session, key(raw, session, state)), NOT_PERMITTED)


@pytest.mark.parametrize("window", [{PROCESS_START: date(1)}, {PROCESS_END: date(-1)}],
                         ids=["not-yet", "over"])
def test_digest_key_obeys_the_usage_period(ks, window):
    raw, session = ks
    assert_rv(digest_key_rv(raw, session, key(raw, session, extra=window)), NOT_PERMITTED)


def test_digest_key_obeys_allowed_mechanisms(ks):
    """PKCS#11 3.0 4.7: a digest outside CKA_ALLOWED_MECHANISMS may not use the key; the
    mechanism itself was valid at C_DigestInit and 5.12 lists no CKR_MECHANISM_INVALID for
    C_DigestKey: the key cannot be digested, CKR_KEY_INDIGESTIBLE."""
    raw, session = ks
    handle = key(raw, session, extra={ALLOWED_MECHANISMS: mechs(Mechanism.AES_ECB)})
    assert_rv(digest_key_rv(raw, session, handle), "CKR_KEY_INDIGESTIBLE")
    allowed = key(raw, session, extra={ALLOWED_MECHANISMS: mechs(SHA256)})
    assert_rv(digest_key_rv(raw, session, allowed), CKR_OK)


def test_digest_key_is_counted_and_refused_at_the_limit(ks):
    raw, session = ks
    handle = key(raw, session, token=True)
    try:
        raw.set_attributes(session, handle, {USAGE_LIMIT: 2})
        assert_rv(digest_key_rv(raw, session, handle), CKR_OK)
        count = int.from_bytes(raw.get_attribute(session, handle, USAGE_COUNT), "little")
        assert count == 1, "a permitted C_DigestKey is one use"
        assert_rv(digest_key_rv(raw, session, handle), CKR_OK)
        assert_rv(digest_key_rv(raw, session, handle), NOT_PERMITTED)
        count = int.from_bytes(raw.get_attribute(session, handle, USAGE_COUNT), "little")
        assert count == 2
    finally:
        raw.destroy_object(session, handle)


def test_digest_key_in_a_processing_state_is_the_plain_digest(ks):
    """A deactivated key still processes: C_DigestKey gives the digest of its value."""
    import hashlib

    raw, session = ks
    value = os.urandom(32)
    handle = key(raw, session, DEACTIVATED, extra={A.VALUE: value})
    raw.check("C_DigestInit", session, raw.mechanism(SHA256).ptr)
    raw.check("C_DigestKey", session, handle)
    rv, out, _ = raw.call_out("C_DigestFinal", session, capacity=32)
    assert_rv(rv, CKR_OK)
    assert out == hashlib.sha256(value).digest()


# -- C_WrapKey: the key that leaves -----------------------------------------------------------

@pytest.mark.parametrize("state, allowed", [
    (ACTIVE, True), (DEACTIVATED, True), (SUSPENDED, False), (COMPROMISED, False),
    (PRE, False), (DESTROYED, False),
], ids=["active", "deactivated", "suspended", "compromised", "pre-activation", "destroyed"])
def test_which_states_let_a_key_be_wrapped(ks, state, allowed):
    """README, "Key lifecycle in the token": active and deactivated keys may be exported
    (backup and archival, SP 800-57); the others may not."""
    raw, session = ks
    kek = key(raw, session)
    target = key(raw, session, state)
    rv, _, _ = raw.call_out("C_WrapKey", session, raw.mechanism(KW).ptr, kek, target,
                            capacity=64)
    assert_rv(rv, CKR_OK if allowed else NOT_PERMITTED)


def test_the_wrapped_key_obeys_its_processing_period(ks):
    raw, session = ks
    kek = key(raw, session)
    target = key(raw, session, extra={PROCESS_END: date(-1)})
    rv, _, _ = raw.call_out("C_WrapKey", session, raw.mechanism(KW).ptr, kek, target,
                            capacity=64)
    assert_rv(rv, NOT_PERMITTED)


# -- every function that takes a key ----------------------------------------------------------

# The functions of the 3.0 list that take no key handle, or an object handle only to manage
# the object (its value is governed by CKA_SENSITIVE and CKA_EXTRACTABLE, not by its use).
NO_KEY_USE = frozenset({
    "C_Initialize", "C_Finalize", "C_GetInfo", "C_GetFunctionList", "C_GetSlotList",
    "C_GetSlotInfo", "C_GetTokenInfo", "C_GetMechanismList", "C_GetMechanismInfo",
    "C_InitToken", "C_InitPIN", "C_SetPIN", "C_OpenSession", "C_CloseSession",
    "C_CloseAllSessions", "C_GetSessionInfo", "C_GetOperationState", "C_Login", "C_Logout",
    "C_CreateObject", "C_CopyObject", "C_DestroyObject", "C_GetObjectSize",
    "C_GetAttributeValue", "C_SetAttributeValue", "C_FindObjectsInit", "C_FindObjects",
    "C_FindObjectsFinal", "C_Encrypt", "C_EncryptUpdate", "C_EncryptFinal", "C_Decrypt",
    "C_DecryptUpdate", "C_DecryptFinal", "C_DigestInit", "C_Digest", "C_DigestUpdate",
    "C_DigestFinal", "C_Sign", "C_SignUpdate", "C_SignFinal", "C_SignRecover", "C_Verify",
    "C_VerifyUpdate", "C_VerifyFinal", "C_VerifyRecover", "C_DigestEncryptUpdate",
    "C_DecryptDigestUpdate", "C_SignEncryptUpdate", "C_DecryptVerifyUpdate",
    "C_GenerateKey", "C_GenerateKeyPair", "C_SeedRandom", "C_GenerateRandom",
    "C_GetFunctionStatus", "C_CancelFunction", "C_WaitForSlotEvent", "C_GetInterfaceList",
    "C_GetInterface", "C_LoginUser", "C_SessionCancel", "C_EncryptMessage",
    "C_EncryptMessageBegin", "C_EncryptMessageNext", "C_MessageEncryptFinal",
    "C_DecryptMessage", "C_DecryptMessageBegin", "C_DecryptMessageNext",
    "C_MessageDecryptFinal", "C_SignMessage", "C_SignMessageBegin", "C_SignMessageNext",
    "C_MessageSignFinal", "C_VerifyMessage", "C_VerifyMessageBegin", "C_VerifyMessageNext",
    "C_MessageVerifyFinal",
})

Driver = Callable[[object, int, int], list[int]]


def _init(name: str, mech: int, param=None) -> Driver:
    def drive(raw, session, k):
        rv = raw.call(name, session, raw.mechanism(mech, param).ptr, k)
        raw.call("C_SessionCancel", session, 0xFFFFFFFF)
        return [rv]
    return drive


def _digest_key(raw, session, k):
    return [digest_key_rv(raw, session, k)]


def _wrap_key(raw, session, k):
    other = key(raw, session)
    out = []
    for kek, target in ((k, other), (other, k)):  # the wrapping key, then the wrapped key
        rv, _, _ = raw.call_out("C_WrapKey", session, raw.mechanism(KW).ptr, kek, target,
                                capacity=64)
        out.append(rv)
    return out


def _unwrap_key(raw, session, k):
    h = raw.ffi.new("CK_OBJECT_HANDLE *")
    t = raw.template({A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES})
    blob = bytes(40)
    return [raw.call("C_UnwrapKey", session, raw.mechanism(KW).ptr, k, blob, len(blob),
                     t.ptr, t.count, h)]


def _derive_key(raw, session, k):
    """C_DeriveKey takes a private key: one in the refused key's state (PKCS#11's own
    derivation from a secret key, CKM_AES_ECB_ENCRYPT_DATA, keystead does not offer)."""
    h = raw.ffi.new("CK_OBJECT_HANDLE *")
    t = raw.template({A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES})
    out = [raw.call("C_DeriveKey", session, raw.mechanism(AES_ECB_ENCRYPT_DATA).ptr,
                    k, t.ptr, t.count, h)]
    state = int.from_bytes(raw.get_attribute(session, k, STATE), "little")
    mine = generate("P-256")
    tmpl = private_template("P-256", mine)
    tmpl[STATE] = PRE if state == PRE else ACTIVE
    base = raw.create_object(session, tmpl)
    if state not in (PRE, ACTIVE):
        raw.set_attributes(session, base, {STATE: state})
    param = ecdh_params(raw.ffi, CKD_NULL, peer(generate("P-256")))
    t = raw.template(secret_template(16))
    out.append(raw.call("C_DeriveKey", session, raw.mechanism(CKM_ECDH1_DERIVE, param).ptr,
                        base, t.ptr, t.count, h))
    return out[1:] if out[0] == code("CKR_MECHANISM_INVALID") else out


def _set_operation_state(raw, session, k):
    state = raw.ffi.new("CK_BYTE[]", 16)
    return [raw.call("C_SetOperationState", session, state, 16, k, 0)]


KEY_USE: dict[str, Driver] = {
    "C_EncryptInit": _init("C_EncryptInit", Mechanism.AES_ECB),
    "C_DecryptInit": _init("C_DecryptInit", Mechanism.AES_ECB),
    "C_SignInit": _init("C_SignInit", Mechanism.AES_CMAC),
    "C_VerifyInit": _init("C_VerifyInit", Mechanism.AES_CMAC),
    "C_SignRecoverInit": _init("C_SignRecoverInit", Mechanism.AES_CMAC),
    "C_VerifyRecoverInit": _init("C_VerifyRecoverInit", Mechanism.AES_CMAC),
    "C_MessageEncryptInit": _init("C_MessageEncryptInit", Mechanism.AES_GCM),
    "C_MessageDecryptInit": _init("C_MessageDecryptInit", Mechanism.AES_GCM),
    "C_MessageSignInit": _init("C_MessageSignInit", Mechanism.AES_CMAC),
    "C_MessageVerifyInit": _init("C_MessageVerifyInit", Mechanism.AES_CMAC),
    "C_DigestKey": _digest_key,
    "C_WrapKey": _wrap_key,
    "C_UnwrapKey": _unwrap_key,
    "C_DeriveKey": _derive_key,
    "C_SetOperationState": _set_operation_state,
}


def module_functions(raw) -> list[str]:
    """The entry points of the module's CK_FUNCTION_LIST_3_0, in order."""
    fields = raw.ffi.typeof("CK_FUNCTION_LIST_3_0").fields
    return [name for name, _ in fields if name.startswith("C_")]


def test_every_function_of_the_list_is_classified(ks):
    raw, _ = ks
    names = module_functions(raw)
    assert len(names) == 92
    assert set(KEY_USE).isdisjoint(NO_KEY_USE)
    unclassified = set(names) - set(KEY_USE) - NO_KEY_USE
    assert not unclassified, f"say whether these use a key's value: {sorted(unclassified)}"


@pytest.mark.parametrize("state", [SUSPENDED, COMPROMISED, PRE],
                         ids=["suspended", "compromised", "pre-activation"])
def test_no_function_reaches_a_refused_key(ks, state):
    """A key whose value is present but whose state refuses every use: each function that
    takes a key refuses it (CKR_FUNCTION_NOT_SUPPORTED only where keystead does not implement
    the function at all)."""
    raw, session = ks
    not_supported = code("CKR_FUNCTION_NOT_SUPPORTED")
    for name in module_functions(raw):
        if name not in KEY_USE:
            continue
        k = key(raw, session, state)
        for rv in KEY_USE[name](raw, session, k):
            assert rv in (code(NOT_PERMITTED), not_supported), (name, hex(rv))
            if rv == not_supported:
                assert name not in {"C_EncryptInit", "C_DecryptInit", "C_SignInit",
                                    "C_VerifyInit", "C_DigestKey", "C_WrapKey",
                                    "C_UnwrapKey", "C_MessageEncryptInit",
                                    "C_MessageDecryptInit"}, name


def test_a_wrap_is_a_use_of_the_wrapped_key(ks):
    """The export counts against the wrapped key's CKA_KS_USAGE_LIMIT; a length query counts
    nothing."""
    raw, session = ks
    kek = key(raw, session)
    target = key(raw, session, token=True)
    try:
        raw.set_attributes(session, target, {USAGE_LIMIT: 1})
        mech = raw.mechanism(KW).ptr
        rv, _, _ = raw.call_out("C_WrapKey", session, mech, kek, target, capacity=None)
        assert_rv(rv, CKR_OK)
        rv, _, _ = raw.call_out("C_WrapKey", session, mech, kek, target, capacity=64)
        assert_rv(rv, CKR_OK)
        rv, _, _ = raw.call_out("C_WrapKey", session, mech, kek, target, capacity=64)
        assert_rv(rv, NOT_PERMITTED)
        count = int.from_bytes(raw.get_attribute(session, target, USAGE_COUNT), "little")
        assert count == 1
    finally:
        raw.destroy_object(session, target)
