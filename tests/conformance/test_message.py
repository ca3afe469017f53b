"""PKCS#11 3.0 functions new in 3.0, reached through the 3.0 function list: message-based
encryption (5.x "Message-based encryption/decryption"), C_SessionCancel and C_LoginUser.

A 3.0 module may answer CKR_FUNCTION_NOT_SUPPORTED for the message-based functions; then
every one of them must say so (never a crash, never a half-implemented API).
"""

from __future__ import annotations

import pytest
from keystead.softhsm_bridge.ck import CKS_RW_USER_FUNCTIONS, CKU_USER, Mechanism
from keystead.softhsm_bridge.errors import rv_value

from .support import aes_key, assert_rv

NOT_SUPPORTED = rv_value("CKR_FUNCTION_NOT_SUPPORTED")
GCM_KEY = bytes.fromhex("feffe9928665731c6d6a8f9467308308")
GCM_IV = bytes.fromhex("cafebabefacedbaddecaf888")
GCM_A = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
GCM_P = bytes.fromhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                      "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")
GCM_C = bytes.fromhex("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
                      "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091")
GCM_T = bytes.fromhex("5bc94fbc3221a5db94fae95ae7121a47")


@pytest.fixture
def v3(module, raw, xfail_quirk):
    """The raw module, for tests that need its 3.0 function list (each asserts it has one:
    a failure in a fixture would be an error, not the quirk's xfail)."""
    xfail_quirk(module, "no-v3-interface")
    return raw


def _need_v3(raw):
    assert raw.has_v3, "C_GetInterface gave no PKCS#11 3.0 function list"


def _message_params(ffi, iv, tag):
    p = ffi.new("CK_GCM_MESSAGE_PARAMS *")
    ivbuf, tagbuf = ffi.new("CK_BYTE[]", iv), ffi.new("CK_BYTE[]", tag)
    p.pIv, p.ulIvLen, p.ulIvFixedBits, p.ivGenerator = ivbuf, len(iv), 0, 0
    p.pTag, p.ulTagBits = tagbuf, 8 * len(tag)
    return p, (ivbuf, tagbuf)


def _one_shot(raw, h, what, key, iv, aad, data, tag):
    ffi = raw.ffi
    m = raw.mechanism(Mechanism.AES_GCM)
    rv = raw.call(f"C_Message{what}Init", h, m.ptr, key)
    if rv == NOT_SUPPORTED:
        return rv, None, None
    assert_rv(rv, "CKR_OK")
    params, keep = _message_params(ffi, iv, tag)
    out, n = ffi.new("CK_BYTE[]", max(len(data), 1)), raw.ulong_ptr(len(data))
    fn = "C_EncryptMessage" if what == "Encrypt" else "C_DecryptMessage"
    rv = raw.call(fn, h, params, ffi.sizeof("CK_GCM_MESSAGE_PARAMS"), aad, len(aad), data,
                  len(data), out, n)
    tag_out = bytes(ffi.buffer(keep[1], len(tag)))
    raw.check(f"C_Message{what}Final", h)
    return rv, bytes(ffi.buffer(out, int(n[0]))), tag_out


def test_message_encrypt_gcm_known_answer(v3, rsession):
    _need_v3(v3)
    k = v3.create_object(rsession, aes_key(GCM_KEY))
    rv, ct, tag = _one_shot(v3, rsession, "Encrypt", k, GCM_IV, GCM_A, GCM_P, bytes(16))
    if rv == NOT_SUPPORTED:
        return
    assert_rv(rv, "CKR_OK")
    assert (ct, tag) == (GCM_C, GCM_T)


def test_message_decrypt_gcm_and_bad_tag(v3, rsession):
    _need_v3(v3)
    k = v3.create_object(rsession, aes_key(GCM_KEY))
    rv, pt, _ = _one_shot(v3, rsession, "Decrypt", k, GCM_IV, GCM_A, GCM_C, GCM_T)
    if rv == NOT_SUPPORTED:
        return
    assert_rv(rv, "CKR_OK")
    assert pt == GCM_P
    bad = GCM_T[:-1] + bytes([GCM_T[-1] ^ 1])
    rv, _, _ = _one_shot(v3, rsession, "Decrypt", k, GCM_IV, GCM_A, GCM_C, bad)
    # 3.0 names no tag-failure code for C_DecryptMessage; CKR_ENCRYPTED_DATA_INVALID (as for
    # C_Decrypt) and CKR_AEAD_DECRYPT_FAILED (the later headers' dedicated code) both say it.
    assert rv in (rv_value("CKR_ENCRYPTED_DATA_INVALID"), rv_value("CKR_AEAD_DECRYPT_FAILED")), rv


def test_message_functions_consistent_before_init(v3, rsession):
    _need_v3(v3)
    ffi = v3.ffi
    n = v3.ulong_ptr(64)
    out = ffi.new("CK_BYTE[64]")
    rv_enc = v3.call("C_EncryptMessage", rsession, ffi.NULL, 0, ffi.NULL, 0, b"x", 1, out, n)
    rv_final = v3.call("C_MessageEncryptFinal", rsession)
    # Either the API is there (no operation yet) or it is not there at all.
    assert {rv_enc, rv_final} in ({rv_value("CKR_OPERATION_NOT_INITIALIZED")}, {NOT_SUPPORTED})


def test_session_cancel_ends_operation(v3, rsession):
    _need_v3(v3)
    k = v3.create_object(rsession, aes_key(GCM_KEY))
    v3.op_init("Encrypt", rsession, Mechanism.AES_CBC, k, bytes(16))
    rv = v3.call("C_SessionCancel", rsession, 0x100)  # CKF_ENCRYPT
    if rv == NOT_SUPPORTED:
        return
    assert_rv(rv, "CKR_OK")
    rv, _, _ = v3.call_out("C_Encrypt", rsession, bytes(16), 16, capacity=16)
    assert_rv(rv, "CKR_OPERATION_NOT_INITIALIZED")


def test_login_user_without_username(module, v3, public_session):
    _need_v3(v3)
    pin = module.token.user_pin.encode()
    rv = v3.call("C_LoginUser", public_session, CKU_USER, pin, len(pin), v3.ffi.NULL, 0)
    assert_rv(rv, "CKR_OK")
    assert v3.session_info(public_session)["state"] == CKS_RW_USER_FUNCTIONS
