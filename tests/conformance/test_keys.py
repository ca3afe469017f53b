"""PKCS#11 3.0 base specification 5.14 (key management) and 5.15 (random numbers), with
RFC 3394 / RFC 5649 known answers through C_WrapKey and C_UnwrapKey."""

from __future__ import annotations

import pytest
from keystead.softhsm_bridge import quirks
from keystead.softhsm_bridge.ck import CK_UNAVAILABLE_INFORMATION, KeyType, Mechanism, ObjectClass
from keystead.softhsm_bridge.ck import Attribute as A
from keystead.softhsm_bridge.errors import rv_value

from .support import aes_key, assert_rv, bbool, generic_key, raises_rv, ulong

KW = Mechanism.AES_KEY_WRAP
INVALID_OBJECT = 0x7FFF_FF03

# RFC 3394 section 4.1 and 4.6
KW_128 = (bytes.fromhex("000102030405060708090A0B0C0D0E0F"),
          bytes.fromhex("00112233445566778899AABBCCDDEEFF"),
          bytes.fromhex("1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5"))
KW_256 = (bytes.fromhex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F"),
          bytes.fromhex("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F"),
          bytes.fromhex("28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43B"
                        "FB988B9B7A02DD21"))
# RFC 5649 section 6
KWP_KEK = bytes.fromhex("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8")
KWP_20 = (bytes.fromhex("c37b7e6492584340bed12207808941155068f738"),
          bytes.fromhex("138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"))
KWP_7 = (bytes.fromhex("466f7250617369"), bytes.fromhex("afbeb0f07dfbf5419200f2ccb50bb24f"))


def _gen_rv(raw, h, mech, attrs, param=None):
    m = raw.mechanism(mech, param)
    t = raw.template(attrs)
    oh = raw.ffi.new("CK_OBJECT_HANDLE *")
    return raw.call("C_GenerateKey", h, m.ptr, t.ptr, t.count, oh)


def _wrap_rv(raw, h, mech, wrapping, key):
    m = raw.mechanism(mech)
    return raw.call_out("C_WrapKey", h, m.ptr, wrapping, key, capacity=512)[0]


def _unwrap_rv(raw, h, mech, unwrapping, data, attrs):
    m = raw.mechanism(mech)
    t = raw.template(attrs)
    oh = raw.ffi.new("CK_OBJECT_HANDLE *")
    return raw.call("C_UnwrapKey", h, m.ptr, unwrapping, data, len(data), t.ptr, t.count, oh)


def _target(**extra):
    """An unwrap template for an AES secret key."""
    t = {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.TOKEN: False,
         A.ENCRYPT: True, A.DECRYPT: True, A.EXTRACTABLE: True, A.SENSITIVE: False}
    t.update({A[k]: v for k, v in extra.items()})
    return t


# -- generation --------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [16, 24, 32])
def test_generate_aes_key_sizes(raw, rsession, size):
    k = raw.generate_key(rsession, Mechanism.AES_KEY_GEN, {A.VALUE_LEN: size, A.TOKEN: False,
                                                           A.SENSITIVE: False,
                                                           A.EXTRACTABLE: True})
    assert len(raw.get_attribute(rsession, k, A.VALUE)) == size
    assert ulong(raw.get_attribute(rsession, k, A.KEY_TYPE)) == KeyType.AES
    assert ulong(raw.get_attribute(rsession, k, A.CLASS)) == ObjectClass.SECRET_KEY


def test_generate_generic_secret(raw, rsession):
    k = raw.generate_key(rsession, Mechanism.GENERIC_SECRET_KEY_GEN,
                         {A.VALUE_LEN: 48, A.TOKEN: False, A.SENSITIVE: False, A.SIGN: True,
                          A.EXTRACTABLE: True})
    assert len(raw.get_attribute(rsession, k, A.VALUE)) == 48
    assert ulong(raw.get_attribute(rsession, k, A.KEY_TYPE)) == KeyType.GENERIC_SECRET


def test_generated_keys_differ(raw, rsession):
    t = {A.VALUE_LEN: 16, A.TOKEN: False, A.SENSITIVE: False, A.EXTRACTABLE: True}
    a = raw.generate_key(rsession, Mechanism.AES_KEY_GEN, t)
    b = raw.generate_key(rsession, Mechanism.AES_KEY_GEN, t)
    assert raw.get_attribute(rsession, a, A.VALUE) != raw.get_attribute(rsession, b, A.VALUE)


def test_generate_aes_without_value_len(raw, rsession):
    assert_rv(_gen_rv(raw, rsession, Mechanism.AES_KEY_GEN, {A.TOKEN: False}),
              "CKR_TEMPLATE_INCOMPLETE")


@pytest.mark.parametrize("size", [17, 64])
def test_generate_aes_bad_length(raw, rsession, size):
    # An AES CKA_VALUE_LEN other than 16/24/32 is an invalid attribute value (4.1.2); a
    # length outside the mechanism's range may also be reported as CKR_KEY_SIZE_RANGE.
    rv = _gen_rv(raw, rsession, Mechanism.AES_KEY_GEN, {A.VALUE_LEN: size, A.TOKEN: False})
    assert rv in (rv_value("CKR_ATTRIBUTE_VALUE_INVALID"), rv_value("CKR_KEY_SIZE_RANGE")), rv


def test_generate_inconsistent_key_type(raw, rsession):
    rv = _gen_rv(raw, rsession, Mechanism.AES_KEY_GEN,
                 {A.VALUE_LEN: 16, A.KEY_TYPE: KeyType.GENERIC_SECRET, A.TOKEN: False})
    assert_rv(rv, "CKR_TEMPLATE_INCONSISTENT")


def test_generate_inconsistent_class(module, raw, rsession, xfail_quirk):
    xfail_quirk(module, "generate-class-value-invalid")
    rv = _gen_rv(raw, rsession, Mechanism.AES_KEY_GEN,
                 {A.VALUE_LEN: 16, A.CLASS: ObjectClass.DATA, A.TOKEN: False})
    assert_rv(rv, "CKR_TEMPLATE_INCONSISTENT")


def test_generate_with_python_pkcs11(session):
    key = session.generate_key(KeyType.AES, 256, label="py-gen", store=False)
    assert key.key_length == 256
    assert key[A.LOCAL] is True


# -- random numbers ------------------------------------------------------------------------------

def test_generate_random(raw, rsession):
    blobs = {raw.generate_random(rsession, 32) for _ in range(8)}
    assert len(blobs) == 8 and all(len(b) == 32 for b in blobs)
    assert len(raw.generate_random(rsession, 4096)) == 4096


def test_generate_random_null_buffer(raw, rsession):
    assert_rv(raw.call("C_GenerateRandom", rsession, raw.ffi.NULL, 16), "CKR_ARGUMENTS_BAD")


# -- wrap and unwrap: known answers ---------------------------------------------------------------

@pytest.mark.parametrize("vector", [KW_128, KW_256], ids=["rfc3394-4.1", "rfc3394-4.6"])
def test_aes_key_wrap_known_answer(raw, rsession, vector):
    kek, key, wrapped = vector
    hk = raw.create_object(rsession, aes_key(kek))
    hkey = raw.create_object(rsession, aes_key(key))
    assert raw.wrap_key(rsession, KW, hk, hkey) == wrapped
    new = raw.unwrap_key(rsession, KW, hk, wrapped, _target())
    assert raw.get_attribute(rsession, new, A.VALUE) == key


def _generic_target():
    t = _target(KEY_TYPE=KeyType.GENERIC_SECRET)
    del t[A.ENCRYPT], t[A.DECRYPT]
    return t


@pytest.mark.parametrize("vector", [KWP_20, KWP_7], ids=["rfc5649-20", "rfc5649-7"])
def test_aes_key_wrap_kwp_known_answer(module, raw, rsession, vector, xfail_quirk):
    xfail_quirk(module, "kwp-wrong-for-unaligned")
    key, wrapped = vector
    mech = quirks.wrap_pad_mechanism(module.info)
    hk = raw.create_object(rsession, aes_key(KWP_KEK))
    hkey = raw.create_object(rsession, generic_key(key, EXTRACTABLE=True))
    assert raw.wrap_key(rsession, mech, hk, hkey) == wrapped


@pytest.mark.parametrize("vector", [KWP_20, KWP_7], ids=["rfc5649-20", "rfc5649-7"])
def test_aes_key_unwrap_kwp_known_answer(module, raw, rsession, vector):
    key, wrapped = vector
    mech = quirks.wrap_pad_mechanism(module.info)
    hk = raw.create_object(rsession, aes_key(KWP_KEK))
    new = raw.unwrap_key(rsession, mech, hk, wrapped, _generic_target())
    assert raw.get_attribute(rsession, new, A.VALUE) == key


def test_aes_key_wrap_kwp_aligned_round_trip(module, raw, rsession):
    mech = quirks.wrap_pad_mechanism(module.info)
    hk = raw.create_object(rsession, aes_key(KWP_KEK))
    hkey = raw.create_object(rsession, aes_key(bytes(range(32))))
    wrapped = raw.wrap_key(rsession, mech, hk, hkey)
    assert len(wrapped) == 40
    new = raw.unwrap_key(rsession, mech, hk, wrapped, _target())
    assert raw.get_attribute(rsession, new, A.VALUE) == bytes(range(32))


def test_aes_key_wrap_via_encrypt(module, raw, rsession, xfail_quirk):
    xfail_quirk(module, "no-kw-encrypt")
    kek, key, wrapped = KW_128
    hk = raw.create_object(rsession, aes_key(kek))
    assert raw.encrypt(rsession, KW, hk, key) == wrapped
    assert raw.decrypt(rsession, KW, hk, wrapped) == key


# -- wrap and unwrap: refusals --------------------------------------------------------------

def test_unwrap_corrupted_kw(module, raw, rsession, xfail_quirk):
    xfail_quirk(module, "unwrap-failure-general-error")
    kek, _, wrapped = KW_128
    hk = raw.create_object(rsession, aes_key(kek))
    bad = wrapped[:-1] + bytes([wrapped[-1] ^ 1])
    assert_rv(_unwrap_rv(raw, rsession, KW, hk, bad, _target()), "CKR_WRAPPED_KEY_INVALID")


def test_unwrap_corrupted_kwp(module, raw, rsession, xfail_quirk):
    xfail_quirk(module, "unwrap-failure-general-error")
    mech = quirks.wrap_pad_mechanism(module.info)
    hk = raw.create_object(rsession, aes_key(KWP_KEK))
    hkey = raw.create_object(rsession, aes_key(bytes(range(16))))
    wrapped = raw.wrap_key(rsession, mech, hk, hkey)
    bad = bytes([wrapped[0] ^ 0x80]) + wrapped[1:]
    assert_rv(_unwrap_rv(raw, rsession, mech, hk, bad, _target()), "CKR_WRAPPED_KEY_INVALID")


@pytest.mark.parametrize("length", [23, 8, 0])
def test_unwrap_kw_bad_length(raw, rsession, length):
    hk = raw.create_object(rsession, aes_key(KW_128[0]))
    assert_rv(_unwrap_rv(raw, rsession, KW, hk, bytes(length), _target()),
              "CKR_WRAPPED_KEY_LEN_RANGE")


def test_wrap_unextractable_key(raw, rsession):
    hk = raw.create_object(rsession, aes_key(KW_128[0]))
    hkey = raw.create_object(rsession, aes_key(KW_128[1], EXTRACTABLE=False))
    assert_rv(_wrap_rv(raw, rsession, KW, hk, hkey), "CKR_KEY_UNEXTRACTABLE")


def test_wrap_sensitive_extractable_key(raw, rsession):
    hk = raw.create_object(rsession, aes_key(KW_128[0]))
    hkey = raw.create_object(rsession, aes_key(KW_128[1], SENSITIVE=True))
    assert raw.wrap_key(rsession, KW, hk, hkey) == KW_128[2]


def test_wrap_with_key_lacking_cka_wrap(raw, rsession):
    hk = raw.create_object(rsession, aes_key(KW_128[0], WRAP=False))
    hkey = raw.create_object(rsession, aes_key(KW_128[1]))
    assert_rv(_wrap_rv(raw, rsession, KW, hk, hkey), "CKR_KEY_FUNCTION_NOT_PERMITTED")


def test_unwrap_with_key_lacking_cka_unwrap(raw, rsession):
    hk = raw.create_object(rsession, aes_key(KW_128[0], UNWRAP=False))
    assert_rv(_unwrap_rv(raw, rsession, KW, hk, KW_128[2], _target()),
              "CKR_KEY_FUNCTION_NOT_PERMITTED")


def test_wrap_invalid_handles(raw, rsession):
    hk = raw.create_object(rsession, aes_key(KW_128[0]))
    hkey = raw.create_object(rsession, aes_key(KW_128[1]))
    assert_rv(_wrap_rv(raw, rsession, KW, INVALID_OBJECT, hkey),
              "CKR_WRAPPING_KEY_HANDLE_INVALID")
    assert_rv(_wrap_rv(raw, rsession, KW, hk, INVALID_OBJECT), "CKR_KEY_HANDLE_INVALID")


def test_unwrap_invalid_handle(raw, rsession):
    assert_rv(_unwrap_rv(raw, rsession, KW, INVALID_OBJECT, KW_128[2], _target()),
              "CKR_UNWRAPPING_KEY_HANDLE_INVALID")


def test_wrap_with_wrong_key_type(raw, rsession):
    hk = raw.create_object(rsession, generic_key(KW_128[0], WRAP=True))
    hkey = raw.create_object(rsession, aes_key(KW_128[1]))
    assert_rv(_wrap_rv(raw, rsession, KW, hk, hkey), "CKR_WRAPPING_KEY_TYPE_INCONSISTENT")


def test_unwrap_with_wrong_key_type(raw, rsession):
    hk = raw.create_object(rsession, generic_key(KW_128[0], UNWRAP=True))
    assert_rv(_unwrap_rv(raw, rsession, KW, hk, KW_128[2], _target()),
              "CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT")


def test_wrap_with_trusted_needs_trusted_wrapping_key(raw, rsession):
    hk = raw.create_object(rsession, aes_key(KW_128[0]))
    hkey = raw.create_object(rsession, aes_key(KW_128[1], WRAP_WITH_TRUSTED=True))
    assert_rv(_wrap_rv(raw, rsession, KW, hk, hkey), "CKR_KEY_NOT_WRAPPABLE")


def test_wrap_template_is_enforced(raw, rsession):
    hk = raw.create_object(rsession, aes_key(KW_128[0], WRAP_TEMPLATE={A.SENSITIVE: True}))
    plain = raw.create_object(rsession, aes_key(KW_128[1], SENSITIVE=False))
    assert_rv(_wrap_rv(raw, rsession, KW, hk, plain), "CKR_KEY_NOT_WRAPPABLE")
    sensitive = raw.create_object(rsession, aes_key(KW_128[1], SENSITIVE=True))
    assert raw.wrap_key(rsession, KW, hk, sensitive) == KW_128[2]


def test_unwrap_template_is_applied(module, raw, rsession, xfail_quirk):
    xfail_quirk(module, "unwrap-template-not-merged")
    hk = raw.create_object(rsession, aes_key(KW_128[0], UNWRAP_TEMPLATE={A.SIGN: False,
                                                                           A.ENCRYPT: True}))
    new = raw.unwrap_key(rsession, KW, hk, KW_128[2],
                         {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES,
                          A.TOKEN: False})
    assert bbool(raw.get_attribute(rsession, new, A.ENCRYPT))
    assert not bbool(raw.get_attribute(rsession, new, A.SIGN))


def test_unwrap_template_conflict(module, raw, rsession):
    hk = raw.create_object(rsession, aes_key(KW_128[0], UNWRAP_TEMPLATE={A.SIGN: False}))
    rv = _unwrap_rv(raw, rsession, KW, hk, KW_128[2], _target(SIGN=True))
    assert_rv(rv, "CKR_TEMPLATE_INCONSISTENT")


def test_unwrapped_key_attributes(raw, rsession):
    hk = raw.create_object(rsession, aes_key(KW_128[0]))
    new = raw.unwrap_key(rsession, KW, hk, KW_128[2], _target(SENSITIVE=True))
    assert not bbool(raw.get_attribute(rsession, new, A.LOCAL))
    assert not bbool(raw.get_attribute(rsession, new, A.ALWAYS_SENSITIVE))
    assert not bbool(raw.get_attribute(rsession, new, A.NEVER_EXTRACTABLE))
    mech = ulong(raw.get_attribute(rsession, new, A.KEY_GEN_MECHANISM))
    assert mech == CK_UNAVAILABLE_INFORMATION


def test_unwrap_template_incomplete(raw, rsession):
    hk = raw.create_object(rsession, aes_key(KW_128[0]))
    rv = _unwrap_rv(raw, rsession, KW, hk, KW_128[2], {A.TOKEN: False})
    assert_rv(rv, "CKR_TEMPLATE_INCOMPLETE")


def test_wrap_length_query_and_short_buffer(raw, rsession):
    hk = raw.create_object(rsession, aes_key(KW_128[0]))
    hkey = raw.create_object(rsession, aes_key(KW_128[1]))
    m = raw.mechanism(KW)
    rv, _, need = raw.call_out("C_WrapKey", rsession, m.ptr, hk, hkey, capacity=None)
    assert_rv(rv, "CKR_OK")
    assert need == 24
    rv, _, n = raw.call_out("C_WrapKey", rsession, m.ptr, hk, hkey, capacity=8)
    assert_rv(rv, "CKR_BUFFER_TOO_SMALL")
    assert n == 24


def test_wrap_with_python_pkcs11(session):
    # Through python-pkcs11, the way an application would.
    kek = session.generate_key(KeyType.AES, 128, store=False,
                               template={A.WRAP: True, A.UNWRAP: True})
    key = session.generate_key(KeyType.AES, 256, store=False,
                               template={A.EXTRACTABLE: True, A.SENSITIVE: False})
    wrapped = kek.wrap_key(key, mechanism=KW)
    # Unwrapped with python-pkcs11's own template: keystead's default (strict) wrap policy
    # makes every key unwrapped under a key that guards secrets sensitive (README, "Wrap
    # policy"), so the two keys are compared by what they compute.
    back = kek.unwrap_key(ObjectClass.SECRET_KEY, KeyType.AES, wrapped, mechanism=KW,
                          store=False, template={A.EXTRACTABLE: True})
    block = bytes(16)
    assert back.encrypt(block, mechanism=Mechanism.AES_ECB) == \
        key.encrypt(block, mechanism=Mechanism.AES_ECB)
    with raises_rv("CKR_WRAPPED_KEY_LEN_RANGE"):
        kek.unwrap_key(ObjectClass.SECRET_KEY, KeyType.AES, bytes(41), mechanism=KW,
                       store=False)
