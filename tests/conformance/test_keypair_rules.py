"""The attribute rules of key pair objects after they are made: PKCS#11 3.0 base 4.1.2
(modifying objects), 4.1.3 (copying), 4.7-4.9 footnotes 8, 11 and 12, 5.7 C_SetAttributeValue
and C_CopyObject, and the store: a token private key's value is sealed and comes back after
a new login."""

from __future__ import annotations

import subprocess

import pytest
from keystead.softhsm_bridge.ck import (
    CKA_KS_LIFECYCLE_STATE,
    CKA_KS_PKCS8,
    CKU_USER,
    KS_STATE_DESTROYED,
    ObjectClass,
)
from keystead.softhsm_bridge.ck import Attribute as A
from keystead.softhsm_bridge.quirks import wrap_pad_mechanism

from .pair_support import CKA_PUBLIC_KEY_INFO, EC_GEN, P256_OID, RSA_GEN, rsa_templates, templates
from .support import aes_key, assert_rv, bbool


def set_rv(raw, h, obj, attrs) -> int:
    t = raw.template(attrs)
    return raw.call("C_SetAttributeValue", h, obj, t.ptr, t.count)


@pytest.fixture
def keystead_only(module):
    if module.name != "keystead":
        pytest.skip("keystead's own behaviour (vendor attribute, lifecycle, store)")
    return module


@pytest.fixture
def ec_pair(raw, rsession):
    pub, priv = templates({A.EC_PARAMS: P256_OID}, {A.SENSITIVE: False})
    return raw.generate_key_pair(rsession, EC_GEN, pub, priv)


@pytest.mark.parametrize("side,attr,value", [
    ("public", A.EC_POINT, b"\x04\x01\x00"),
    ("public", A.EC_PARAMS, P256_OID),
    ("private", A.EC_PARAMS, P256_OID),
    ("private", A.VALUE, b"\x01" * 32),
    ("public", A.KEY_TYPE, 0),
    ("public", A.LOCAL, False),
    ("private", A.ALWAYS_SENSITIVE, False),
    ("private", A.KEY_GEN_MECHANISM, 0),
    ("private", A.ALWAYS_AUTHENTICATE, True),
])
def test_fixed_attributes_are_read_only(raw, rsession, ec_pair, side, attr, value):
    hp, hk = ec_pair
    assert_rv(set_rv(raw, rsession, hp if side == "public" else hk, {attr: value}),
              "CKR_ATTRIBUTE_READ_ONLY")


@pytest.mark.parametrize("side,attr,value", [
    ("public", A.LABEL, "renamed"), ("private", A.LABEL, "renamed"),
    ("public", A.ID, b"\x07"), ("private", A.ID, b"\x07"),
    ("public", A.SUBJECT, b"\x30\x00"), ("private", A.SUBJECT, b"\x30\x00"),
    ("public", A.VERIFY, False), ("private", A.SIGN, False),
    ("public", A.ENCRYPT, False), ("private", A.DECRYPT, False),
    ("public", A.WRAP, True), ("private", A.UNWRAP, True), ("private", A.DERIVE, True),
])
def test_footnote_8_attributes_change(raw, rsession, ec_pair, side, attr, value, module):
    hp, hk = ec_pair
    h = hp if side == "public" else hk
    if module.kind == "keystead" and value is True and attr in (A.WRAP, A.UNWRAP):
        # Under keystead's strict policy a key of a pair keeps the one purpose it was made
        # for (docs/policy.md, "Key pairs"): a signing pair's keys never gain wrapping.
        assert_rv(set_rv(raw, rsession, h, {attr: value}), "CKR_TEMPLATE_INCONSISTENT")
        return
    raw.set_attributes(rsession, h, {attr: value})
    got = raw.get_attribute(rsession, h, attr)
    assert got == (value.encode() if isinstance(value, str) else
                   bytes([value]) if isinstance(value, bool) else value)


def test_sensitive_only_becomes_true(raw, rsession, ec_pair):
    _, hk = ec_pair
    raw.set_attributes(rsession, hk, {A.SENSITIVE: True})
    assert_rv(set_rv(raw, rsession, hk, {A.SENSITIVE: False}), "CKR_ATTRIBUTE_READ_ONLY")
    assert_rv(raw.get_attributes(rsession, hk, [A.VALUE]).rv, "CKR_ATTRIBUTE_SENSITIVE")


def test_extractable_only_becomes_false(raw, rsession, ec_pair):
    _, hk = ec_pair
    raw.set_attributes(rsession, hk, {A.EXTRACTABLE: False})
    assert_rv(set_rv(raw, rsession, hk, {A.EXTRACTABLE: True}), "CKR_ATTRIBUTE_READ_ONLY")
    assert bbool(raw.get_attribute(rsession, hk, A.NEVER_EXTRACTABLE)) is False


def test_private_only_attributes_not_on_public_key(raw, rsession, ec_pair):
    hp, _ = ec_pair
    for attr in (A.SENSITIVE, A.EXTRACTABLE, A.SIGN, A.DECRYPT, A.UNWRAP):
        res = raw.get_attributes(rsession, hp, [attr])
        assert_rv(res.rv, "CKR_ATTRIBUTE_TYPE_INVALID")


def test_trusted_public_key_only_by_the_so(raw, rsession):
    pub, priv = templates({A.EC_PARAMS: P256_OID, A.TRUSTED: True})
    m = raw.mechanism(EC_GEN)
    tp, tk = raw.template(pub), raw.template(priv)
    hp, hk = raw.ffi.new("CK_OBJECT_HANDLE *"), raw.ffi.new("CK_OBJECT_HANDLE *")
    assert_rv(raw.call("C_GenerateKeyPair", rsession, m.ptr, tp.ptr, tp.count, tk.ptr,
                       tk.count, hp, hk), "CKR_ATTRIBUTE_READ_ONLY")


def test_copy_keeps_the_key(raw, rsession, ec_pair):
    hp, hk = ec_pair
    copy = raw.copy_object(rsession, hk, {A.LABEL: "copy"})
    assert raw.get_attribute(rsession, copy, A.VALUE) == raw.get_attribute(rsession, hk, A.VALUE)
    assert bbool(raw.get_attribute(rsession, copy, A.LOCAL)) is True
    pcopy = raw.copy_object(rsession, hp, {A.LABEL: "copy"})
    assert raw.get_attribute(rsession, pcopy, A.EC_POINT) == raw.get_attribute(
        rsession, hp, A.EC_POINT)


def test_copy_may_not_change_the_key(raw, rsession, ec_pair):
    _, hk = ec_pair
    t = raw.template({A.EC_PARAMS: P256_OID})
    out = raw.ffi.new("CK_OBJECT_HANDLE *")
    assert_rv(raw.call("C_CopyObject", rsession, hk, t.ptr, t.count, out),
              "CKR_ATTRIBUTE_READ_ONLY")


def test_pkcs8_is_never_given(keystead_only, raw, rsession, ec_pair):
    _, hk = ec_pair
    assert_rv(set_rv(raw, rsession, hk, {CKA_KS_PKCS8: b"\x30\x00"}), "CKR_ATTRIBUTE_READ_ONLY")
    pub, priv = templates({A.EC_PARAMS: P256_OID}, {CKA_KS_PKCS8: b"\x30\x00"})
    m = raw.mechanism(EC_GEN)
    tp, tk = raw.template(pub), raw.template(priv)
    o = raw.ffi.new("CK_OBJECT_HANDLE *")
    assert_rv(raw.call("C_GenerateKeyPair", rsession, m.ptr, tp.ptr, tp.count, tk.ptr,
                       tk.count, o, o), "CKR_ATTRIBUTE_READ_ONLY")


def test_public_key_info_is_read_only(raw, rsession, module, xfail_quirk, ec_pair):
    xfail_quirk(module, "public-key-info-modifiable")
    hp, hk = ec_pair
    for h in (hp, hk):
        assert_rv(set_rv(raw, rsession, h, {CKA_PUBLIC_KEY_INFO: b"\x30\x00"}),
                  "CKR_ATTRIBUTE_READ_ONLY")


def test_destroyed_private_key_loses_its_value(keystead_only, raw, rsession, ec_pair):
    """keystead's lifecycle: a destroyed key keeps its metadata, not its key material."""
    hp, hk = ec_pair
    raw.set_attributes(rsession, hk, {CKA_KS_LIFECYCLE_STATE: KS_STATE_DESTROYED})
    assert_rv(raw.get_attributes(rsession, hk, [A.VALUE]).rv, "CKR_ATTRIBUTE_TYPE_INVALID")
    assert raw.get_attribute(rsession, hk, A.EC_PARAMS) == P256_OID


def test_token_private_key_sealed_and_back_after_login(raw, module):
    """A token private key's value is in the store, sealed; a new login reads it back."""
    h = raw.open_session(module.slot, rw=True)
    raw.login(h, CKU_USER, module.token.user_pin)
    pub, priv = rsa_templates(LABEL="sealed-rsa")
    pub[A.TOKEN] = priv[A.TOKEN] = True
    pub[A.LABEL] = "sealed-rsa"
    _, hk = raw.generate_key_pair(h, RSA_GEN, pub, priv)
    d = raw.get_attribute(h, hk, A.PRIVATE_EXPONENT)
    raw.close_all_sessions(module.slot)  # logs out
    h = raw.open_session(module.slot, rw=True)
    try:
        # the public key is a public object: found without a login, the private one is not
        # (handles may change between sessions: objects are found again by label and class)
        found = raw.find_objects(h, {A.LABEL: "sealed-rsa"})
        assert len(found) == 1
        assert raw.get_attribute(h, found[0], A.CLASS) == bytes(
            ObjectClass.PUBLIC_KEY.to_bytes(8, "little"))
        raw.login(h, CKU_USER, module.token.user_pin)
        assert len(raw.find_objects(h, {A.LABEL: "sealed-rsa"})) == 2
        (priv_h,) = raw.find_objects(h, {A.LABEL: "sealed-rsa",
                                         A.CLASS: ObjectClass.PRIVATE_KEY})
        assert raw.get_attribute(h, priv_h, A.PRIVATE_EXPONENT) == d
    finally:
        for o in raw.find_objects(h, {A.LABEL: "sealed-rsa"}):
            raw.destroy_object(h, o)
        raw.close_all_sessions(module.slot)


def test_private_key_not_in_the_clear_on_disk(keystead_only, raw, module):
    """The store holds a token private key only sealed: neither its private exponent nor a
    prime appears in the token's files."""
    h = raw.open_session(module.slot, rw=True)
    raw.login(h, CKU_USER, module.token.user_pin)
    pub, priv = rsa_templates()
    pub[A.TOKEN] = priv[A.TOKEN] = True
    hp, hk = raw.generate_key_pair(h, RSA_GEN, pub, priv)
    try:
        secrets = [raw.get_attribute(h, hk, a) for a in (A.PRIVATE_EXPONENT, A.PRIME_1)]
        files = [p for p in module.token_env.token_dir.rglob("*") if p.is_file()]
        assert files
        for path in files:
            # read by another process: closing a descriptor of the database here would drop
            # this process's POSIX locks on it, which SQLite holds
            data = subprocess.run(["cat", str(path)], capture_output=True, check=True,
                                  timeout=60).stdout
            assert not any(s[:32] in data for s in secrets), path
    finally:
        raw.destroy_object(h, hp)
        raw.destroy_object(h, hk)
        raw.close_all_sessions(module.slot)


# -- key pairs where secret-key functions meet them (5.10-5.18) -----------------------------

def test_public_key_is_not_wrapped(raw, rsession, module, xfail_quirk, ec_pair):
    """5.18 C_WrapKey wraps a private or secret key: a public key cannot be wrapped."""
    xfail_quirk(module, "public-key-wrap-unextractable")
    kek = raw.create_object(rsession, aes_key(bytes(range(32))))
    hp, _ = ec_pair
    rv = raw.call_out("C_WrapKey", rsession, raw.mechanism(wrap_pad_mechanism(module.info)).ptr,
                      kek, hp, capacity=512)[0]
    assert_rv(rv, "CKR_KEY_NOT_WRAPPABLE")


@pytest.mark.parametrize("side", ["public", "private"])
def test_aes_mechanism_refuses_a_pair_key(raw, rsession, ec_pair, side):
    """The registry row of CKM_AES_CBC takes secret keys: a key pair's key is inconsistent."""
    hp, hk = ec_pair
    m = raw.mechanism(0x1082, bytes(16))  # CKM_AES_CBC
    fn = "C_EncryptInit" if side == "public" else "C_DecryptInit"
    assert_rv(raw.call(fn, rsession, m.ptr, hp if side == "public" else hk),
              "CKR_KEY_TYPE_INCONSISTENT")


def test_private_key_is_indigestible(raw, rsession, module, xfail_quirk, ec_pair):
    """5.12 C_DigestKey digests a secret key."""
    xfail_quirk(module, "digest-key-private")
    _, hk = ec_pair
    m = raw.mechanism(0x250)  # CKM_SHA256
    raw.check("C_DigestInit", rsession, m.ptr)
    assert_rv(raw.call("C_DigestKey", rsession, hk), "CKR_KEY_INDIGESTIBLE")
