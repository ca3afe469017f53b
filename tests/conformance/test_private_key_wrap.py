"""Private keys leave the token only wrapped: C_WrapKey of a private key is its PKCS#8
PrivateKeyInfo under AES key wrap with padding (RFC 5649), and C_UnwrapKey with a
CKO_PRIVATE_KEY template parses a PKCS#8 back into a private key of the template's key type
(PKCS#11 3.0 5.18.5-5.18.6; base 4.9). Cross-checked with `cryptography` both ways: a PKCS#8
wrapped by its aes_key_wrap_with_padding unwraps into the token and decrypts there.
"""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import hashes, keywrap, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from keystead.softhsm_bridge import quirks
from keystead.softhsm_bridge.ck import Attribute as A
from keystead.softhsm_bridge.ck import KeyType, ObjectClass

from . import rsa_support as rs
from .support import aes_key, assert_rv

SHA256_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def _pkcs8(key) -> bytes:
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _private_template(key_type: int, **extra) -> dict[int, object]:
    t = {A.CLASS: ObjectClass.PRIVATE_KEY, A.KEY_TYPE: key_type, A.TOKEN: False,
         A.PRIVATE: True, A.DECRYPT: True, A.SIGN: False}
    for k, v in extra.items():
        t[A[k]] = v
    return t


@pytest.fixture
def kwp(module) -> int:
    return quirks.wrap_pad_mechanism(module.info)


def _kek(raw, h) -> tuple[bytes, int]:
    value = os.urandom(32)
    return value, raw.create_object(h, aes_key(value))


def _unwrap_rv(raw, h, mech: int, kek: int, blob: bytes, template) -> tuple[int, int]:
    m = raw.mechanism(mech)
    t = raw.template(template)
    out = raw.ffi.new("CK_OBJECT_HANDLE *")
    rv = raw.call("C_UnwrapKey", h, m.ptr, kek, blob, len(blob), t.ptr, t.count, out)
    return rv, int(out[0])


def test_private_key_wraps_as_its_pkcs8(raw, rsession, kwp, module, xfail_quirk) -> None:
    xfail_quirk(module, "private-key-wrap-padded")
    key = rsa.generate_private_key(65537, 2048)
    while len(_pkcs8(key)) % 8 == 0:  # a length RFC 5649 must pad, so the quirk shows
        key = rsa.generate_private_key(65537, 2048)
    value, kek = _kek(raw, rsession)
    priv = raw.create_object(rsession, rs.private_template(key, EXTRACTABLE=True))
    blob = raw.wrap_key(rsession, kwp, kek, priv)
    der = keywrap.aes_key_unwrap_with_padding(value, blob)
    back = serialization.load_der_private_key(der, None)
    assert back.private_numbers() == key.private_numbers()


def test_pkcs8_from_cryptography_unwraps_and_decrypts(raw, rsession, kwp) -> None:
    key = rsa.generate_private_key(65537, 2048)
    value, kek = _kek(raw, rsession)
    blob = keywrap.aes_key_wrap_with_padding(value, _pkcs8(key))
    h = raw.unwrap_key(rsession, kwp, kek, blob, _private_template(KeyType.RSA))
    n = key.private_numbers().public_numbers.n
    assert int.from_bytes(raw.get_attribute(rsession, h, A.MODULUS), "big") == n
    msg = b"a secret for the unwrapped key"
    ct = key.public_key().encrypt(msg, rs.oaep_padding("sha1"))
    assert raw.decrypt(rsession, rs.RSA_OAEP, h, ct, rs.oaep_params(raw.ffi, "sha1").ptr) == msg
    ct = key.public_key().encrypt(msg, padding.PKCS1v15())
    assert raw.decrypt(rsession, rs.RSA_PKCS, h, ct) == msg
    # and, unwrapped again as a signing key (one key, one purpose under keystead's strict
    # policy: docs/policy.md, "Key pairs"), it signs: CKM_RSA_PKCS over a SHA-256 DigestInfo,
    # checked by cryptography
    h = raw.unwrap_key(rsession, kwp, kek, blob,
                       _private_template(KeyType.RSA, SIGN=True, DECRYPT=False))
    digest = os.urandom(32)
    raw.op_init("Sign", rsession, rs.RSA_PKCS, h)
    sig = raw.single("Sign", rsession, SHA256_INFO + digest)
    key.public_key().verify(sig, digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))


def test_ec_pkcs8_unwraps_with_its_curve(raw, rsession, kwp) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    value, kek = _kek(raw, rsession)
    blob = keywrap.aes_key_wrap_with_padding(value, _pkcs8(key))
    h = raw.unwrap_key(rsession, kwp, kek, blob, _private_template(KeyType.EC, DECRYPT=False))
    assert raw.get_attribute(rsession, h, A.EC_PARAMS) == bytes.fromhex("06082a8648ce3d030107")


def test_unwrapped_private_key_is_sensitive_by_default(raw, rsession, kwp, module) -> None:
    if module.kind != "keystead":
        pytest.skip("sticky sensitivity is keystead's wrap policy (README, rule 4)")
    key = rsa.generate_private_key(65537, 2048)
    value, kek = _kek(raw, rsession)
    blob = keywrap.aes_key_wrap_with_padding(value, _pkcs8(key))
    h = raw.unwrap_key(rsession, kwp, kek, blob, _private_template(KeyType.RSA))
    assert raw.get_attribute(rsession, h, A.SENSITIVE) == b"\x01"


def test_garbage_and_the_wrong_key_type_are_wrapped_key_invalid(raw, rsession, kwp, module,
                                                                xfail_quirk) -> None:
    value, kek = _kek(raw, rsession)
    garbage = keywrap.aes_key_wrap_with_padding(value, os.urandom(300))
    xfail_quirk(module, "unwrap-private-key-garbage")
    assert_rv(_unwrap_rv(raw, rsession, kwp, kek, garbage, _private_template(KeyType.RSA))[0],
              "CKR_WRAPPED_KEY_INVALID")
    ec_blob = keywrap.aes_key_wrap_with_padding(
        value, _pkcs8(ec.generate_private_key(ec.SECP256R1())))
    assert_rv(_unwrap_rv(raw, rsession, kwp, kek, ec_blob, _private_template(KeyType.RSA))[0],
              "CKR_WRAPPED_KEY_INVALID")


def test_unextractable_private_key_is_not_wrapped(raw, rsession, kwp) -> None:
    key = rsa.generate_private_key(65537, 2048)
    _, kek = _kek(raw, rsession)
    priv = raw.create_object(rsession, rs.private_template(key, EXTRACTABLE=False))
    m = raw.mechanism(kwp)
    rv, _, _ = raw.call_out("C_WrapKey", rsession, m.ptr, kek, priv, capacity=None)
    assert_rv(rv, "CKR_KEY_UNEXTRACTABLE")


def test_public_key_is_not_wrapped(raw, rsession, kwp, module, xfail_quirk) -> None:
    xfail_quirk(module, "public-key-wrap-unextractable")
    key = rsa.generate_private_key(65537, 2048)
    _, kek = _kek(raw, rsession)
    pub = raw.create_object(rsession, rs.public_template(key.public_key()))
    m = raw.mechanism(kwp)
    rv, _, _ = raw.call_out("C_WrapKey", rsession, m.ptr, kek, pub, capacity=None)
    assert_rv(rv, "CKR_KEY_NOT_WRAPPABLE")
