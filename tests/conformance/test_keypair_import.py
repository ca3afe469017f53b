"""PKCS#11 3.0 base 5.7 C_CreateObject of key pairs: private keys from their components
(mechanisms 2.1.3 RSA, 2.3.4 EC, and the Edwards and Montgomery private key objects), public
keys (2.1.2, 2.3.3), CKA_PUBLIC_KEY_INFO computed, the pair's consistency checked, and what
``softhsm2-util --import`` sends; cross-checked with the ``cryptography`` package."""

from __future__ import annotations

import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519
from keystead.softhsm_bridge.ck import Attribute as A
from keystead.softhsm_bridge.ck import KeyType, ObjectClass

from .pair_support import (
    CKA_PUBLIC_KEY_INFO,
    CKK_EC_MONTGOMERY,
    ED25519_OID,
    P256_OID,
    P384_OID,
    X25519_OID,
    X_GEN,
    octet_string,
)
from .support import assert_rv, bbool, ulong

SPKI = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw
X962 = serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint


def b(n: int) -> bytes:
    return n.to_bytes((n.bit_length() + 7) // 8 or 1, "big")


def rsa_private(key: rsa.RSAPrivateKey, **extra) -> dict:
    pn = key.private_numbers()
    t = {A.CLASS: ObjectClass.PRIVATE_KEY, A.KEY_TYPE: KeyType.RSA, A.TOKEN: False,
         A.SENSITIVE: False, A.EXTRACTABLE: True, A.SIGN: True,
         A.MODULUS: b(pn.public_numbers.n), A.PUBLIC_EXPONENT: b(pn.public_numbers.e),
         A.PRIVATE_EXPONENT: b(pn.d), A.PRIME_1: b(pn.p), A.PRIME_2: b(pn.q),
         A.EXPONENT_1: b(pn.dmp1), A.EXPONENT_2: b(pn.dmq1), A.COEFFICIENT: b(pn.iqmp)}
    t.update({A[k]: v for k, v in extra.items()})
    return t


def rsa_public(n: int, e: int = 65537) -> dict:
    return {A.CLASS: ObjectClass.PUBLIC_KEY, A.KEY_TYPE: KeyType.RSA, A.TOKEN: False,
            A.VERIFY: True, A.MODULUS: b(n), A.PUBLIC_EXPONENT: b(e)}


def ec_private(params: bytes, value: bytes, kt=KeyType.EC) -> dict:
    return {A.CLASS: ObjectClass.PRIVATE_KEY, A.KEY_TYPE: kt, A.TOKEN: False,
            A.SENSITIVE: False, A.EXTRACTABLE: True, A.EC_PARAMS: params, A.VALUE: value}


def ec_public(params: bytes, point: bytes, kt=KeyType.EC) -> dict:
    return {A.CLASS: ObjectClass.PUBLIC_KEY, A.KEY_TYPE: kt, A.TOKEN: False,
            A.EC_PARAMS: params, A.EC_POINT: point}


def create_rv(raw, h, attrs) -> int:
    t = raw.template(attrs)
    out = raw.ffi.new("CK_OBJECT_HANDLE *")
    return raw.call("C_CreateObject", h, t.ptr, t.count, out)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, 2048)


@pytest.fixture
def keystead_only(module):
    if module.name != "keystead":
        pytest.skip("keystead's own bound where the specification leaves it to the token")
    return module


# -- RSA -----------------------------------------------------------------------------------

def test_import_rsa_private_key(raw, rsession, rsa_key):
    h = raw.create_object(rsession, rsa_private(rsa_key))
    pn = rsa_key.private_numbers()
    assert raw.get_attribute(rsession, h, A.MODULUS) == b(pn.public_numbers.n)
    assert raw.get_attribute(rsession, h, A.PRIVATE_EXPONENT) == b(pn.d)
    assert raw.get_attribute(rsession, h, A.COEFFICIENT) == b(pn.iqmp)
    assert bbool(raw.get_attribute(rsession, h, A.LOCAL)) is False
    assert bbool(raw.get_attribute(rsession, h, A.ALWAYS_SENSITIVE)) is False
    assert bbool(raw.get_attribute(rsession, h, A.NEVER_EXTRACTABLE)) is False


def test_imported_rsa_public_key_info(raw, rsession, module, xfail_quirk, rsa_key):
    xfail_quirk(module, "public-key-info-empty")
    h = raw.create_object(rsession, rsa_private(rsa_key))
    hp = raw.create_object(rsession, rsa_public(rsa_key.public_key().public_numbers().n))
    spki = rsa_key.public_key().public_bytes(*SPKI)
    assert raw.get_attribute(rsession, h, CKA_PUBLIC_KEY_INFO) == spki
    assert raw.get_attribute(rsession, hp, CKA_PUBLIC_KEY_INFO) == spki


def test_import_rsa_public_key(raw, rsession, rsa_key):
    n = rsa_key.public_key().public_numbers().n
    h = raw.create_object(rsession, rsa_public(n))
    assert ulong(raw.get_attribute(rsession, h, A.MODULUS_BITS)) == 2048
    assert raw.get_attribute(rsession, h, A.MODULUS) == b(n)


def test_sensitive_imported_key_hides_components(raw, rsession, rsa_key):
    h = raw.create_object(rsession, rsa_private(rsa_key, SENSITIVE=True))
    res = raw.get_attributes(rsession, h, [A.PRIVATE_EXPONENT, A.PRIME_2, A.PUBLIC_EXPONENT])
    assert_rv(res.rv, "CKR_ATTRIBUTE_SENSITIVE")
    assert res.values[int(A.PUBLIC_EXPONENT)] == b"\x01\x00\x01"


@pytest.mark.parametrize("attr", ["PRIME_1", "COEFFICIENT", "PRIVATE_EXPONENT"])
def test_inconsistent_rsa_components(raw, rsession, module, xfail_quirk, rsa_key, attr):
    xfail_quirk(module, "rsa-import-unchecked")
    t = rsa_private(rsa_key)
    v = bytearray(t[A[attr]])
    v[-1] ^= 2
    t[A[attr]] = bytes(v)
    assert_rv(create_rv(raw, rsession, t), "CKR_ATTRIBUTE_VALUE_INVALID")


@pytest.mark.parametrize("missing", ["MODULUS", "PRIVATE_EXPONENT"])
def test_rsa_private_required_components(raw, rsession, rsa_key, missing):
    t = rsa_private(rsa_key)
    del t[A[missing]]
    assert_rv(create_rv(raw, rsession, t), "CKR_TEMPLATE_INCOMPLETE")


@pytest.mark.parametrize("missing", ["MODULUS", "PUBLIC_EXPONENT"])
def test_rsa_public_required_components(raw, rsession, rsa_key, missing):
    t = rsa_public(rsa_key.public_key().public_numbers().n)
    del t[A[missing]]
    assert_rv(create_rv(raw, rsession, t), "CKR_TEMPLATE_INCOMPLETE")


def test_modulus_bits_is_not_given_at_import(raw, rsession, rsa_key):
    """2.1.2 [2,3]: CKA_MODULUS_BITS is for generation only."""
    t = rsa_public(rsa_key.public_key().public_numbers().n)
    t[A.MODULUS_BITS] = 2048
    assert_rv(create_rv(raw, rsession, t), "CKR_ATTRIBUTE_READ_ONLY")


@pytest.mark.parametrize("n,e", [(2**2047 + 2, 65537), (2**511 + 1, 65537),
                                 (2**2047 + 1, 2), (2**2047 + 1, 1)],
                         ids=["even-modulus", "512-bit", "even-exponent", "exponent-1"])
def test_bad_rsa_public_key(keystead_only, raw, rsession, n, e):
    assert_rv(create_rv(raw, rsession, rsa_public(n, e)), "CKR_ATTRIBUTE_VALUE_INVALID")


def test_rsa_1024_imports(raw, rsession):
    """A 1024-bit key imports (legacy use is the mechanisms' decision)."""
    key = rsa.generate_private_key(65537, 1024)
    raw.create_object(rsession, rsa_private(key))


# -- EC --------------------------------------------------------------------------------------

@pytest.mark.parametrize("params,curve", [(P256_OID, ec.SECP256R1), (P384_OID, ec.SECP384R1)],
                         ids=["P-256", "P-384"])
def test_import_ec_pair(raw, rsession, module, params, curve):
    key = ec.generate_private_key(curve())
    size = (key.curve.key_size + 7) // 8
    value = key.private_numbers().private_value.to_bytes(size, "big")
    point = key.public_key().public_bytes(*X962)
    hk = raw.create_object(rsession, ec_private(params, value))
    hp = raw.create_object(rsession, ec_public(params, octet_string(point)))
    assert raw.get_attribute(rsession, hk, A.VALUE) == value
    assert raw.get_attribute(rsession, hp, A.EC_POINT) == octet_string(point)
    assert raw.get_attribute(rsession, hk, A.EC_PARAMS) == params


def test_imported_ec_public_key_info(raw, rsession, module, xfail_quirk):
    xfail_quirk(module, "public-key-info-empty")
    key = ec.generate_private_key(ec.SECP256R1())
    value = key.private_numbers().private_value.to_bytes(32, "big")
    hk = raw.create_object(rsession, ec_private(P256_OID, value))
    hp = raw.create_object(rsession, ec_public(
        P256_OID, octet_string(key.public_key().public_bytes(*X962))))
    spki = key.public_key().public_bytes(*SPKI)
    assert raw.get_attribute(rsession, hk, CKA_PUBLIC_KEY_INFO) == spki
    assert raw.get_attribute(rsession, hp, CKA_PUBLIC_KEY_INFO) == spki


def test_ec_point_raw_bytes_accepted(raw, rsession, module, xfail_quirk):
    """An EC point given raw (the curve's exact length) is taken as the point and held as
    the DER OCTET STRING of mechanisms 2.3.3."""
    xfail_quirk(module, "ec-import-unchecked")
    point = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(*X962)
    h = raw.create_object(rsession, ec_public(P256_OID, point))
    assert raw.get_attribute(rsession, h, A.EC_POINT) == octet_string(point)


@pytest.mark.parametrize("point", [
    octet_string(b"\x04" + bytes(31) + b"\x01" + bytes(31) + b"\x01"),  # (1, 1): off the curve
    octet_string(b"\x04" + bytes(64)),                                  # all zero
    octet_string(b"\x04" + b"\xff" * 64),                               # coordinates >= p
    octet_string(b"\x05" + bytes(64)),                                  # no such form
    octet_string(b"\x04" + bytes(32)),                                  # short
    b"\x04\x41\x04",                                                    # truncated DER
], ids=["off-curve", "zero", "too-large", "bad-form", "short", "truncated"])
def test_bad_ec_point(raw, rsession, module, xfail_quirk, point):
    xfail_quirk(module, "ec-import-unchecked")
    assert_rv(create_rv(raw, rsession, ec_public(P256_OID, point)),
              "CKR_ATTRIBUTE_VALUE_INVALID")


@pytest.mark.parametrize("value", [bytes(32), b"\xff" * 32, b"\x01" * 33],
                         ids=["zero", "above-order", "too-long"])
def test_bad_ec_private_value(raw, rsession, module, xfail_quirk, value):
    xfail_quirk(module, "ec-import-unchecked")
    assert_rv(create_rv(raw, rsession, ec_private(P256_OID, value)),
              "CKR_ATTRIBUTE_VALUE_INVALID")


def test_ec_import_unknown_curve(raw, rsession, module, xfail_quirk):
    xfail_quirk(module, "ec-import-unchecked")
    assert_rv(create_rv(raw, rsession, ec_private(b"\x06\x03\x2a\x03\x04", b"\x01" * 32)),
              "CKR_CURVE_NOT_SUPPORTED")


@pytest.mark.parametrize("missing", ["EC_PARAMS", "VALUE"])
def test_ec_private_required(raw, rsession, missing):
    t = ec_private(P256_OID, b"\x01" * 32)
    del t[A[missing]]
    assert_rv(create_rv(raw, rsession, t), "CKR_TEMPLATE_INCOMPLETE")


def test_ec_public_needs_point(raw, rsession):
    t = ec_public(P256_OID, b"")
    del t[A.EC_POINT]
    assert_rv(create_rv(raw, rsession, t), "CKR_TEMPLATE_INCOMPLETE")


def test_ec_point_on_a_private_key_is_inconsistent(raw, rsession, module, xfail_quirk):
    xfail_quirk(module, "pair-template-foreign-attribute-type-invalid")
    t = ec_private(P256_OID, b"\x01" * 32)
    t[A.EC_POINT] = b"\x04\x01\x00"
    assert_rv(create_rv(raw, rsession, t), "CKR_TEMPLATE_INCONSISTENT")


def test_given_public_key_info_must_match(keystead_only, raw, rsession, rsa_key):
    other = rsa.generate_private_key(65537, 2048).public_key().public_bytes(*SPKI)
    t = rsa_private(rsa_key)
    t[CKA_PUBLIC_KEY_INFO] = other
    assert_rv(create_rv(raw, rsession, t), "CKR_ATTRIBUTE_VALUE_INVALID")
    t[CKA_PUBLIC_KEY_INFO] = rsa_key.public_key().public_bytes(*SPKI)
    raw.create_object(rsession, t)


# -- Edwards and Montgomery ----------------------------------------------------------------

def test_import_ed25519_pair(raw, rsession, module, xfail_quirk):
    key = ed25519.Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes(*RAW)
    value = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                              serialization.NoEncryption())
    hk = raw.create_object(rsession, ec_private(ED25519_OID, value, KeyType.EC_EDWARDS))
    hp = raw.create_object(rsession, ec_public(ED25519_OID, octet_string(pub),
                                               KeyType.EC_EDWARDS))
    assert raw.get_attribute(rsession, hk, A.VALUE) == value
    assert raw.get_attribute(rsession, hp, A.EC_POINT) == octet_string(pub)
    xfail_quirk(module, "public-key-info-empty")
    spki = key.public_key().public_bytes(*SPKI)
    assert raw.get_attribute(rsession, hk, CKA_PUBLIC_KEY_INFO) == spki
    assert raw.get_attribute(rsession, hp, CKA_PUBLIC_KEY_INFO) == spki


def test_ed25519_public_raw_point(raw, rsession, module, xfail_quirk):
    """3.1 holds Edwards points raw; 3.0 is read as the DER OCTET STRING: both import."""
    xfail_quirk(module, "ec-import-unchecked")
    pub = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(*RAW)
    h = raw.create_object(rsession, ec_public(ED25519_OID, pub, KeyType.EC_EDWARDS))
    assert raw.get_attribute(rsession, h, A.EC_POINT) == octet_string(pub)


def test_ed25519_value_of_wrong_length(raw, rsession, module, xfail_quirk):
    xfail_quirk(module, "ec-import-unchecked")
    assert_rv(create_rv(raw, rsession, ec_private(ED25519_OID, b"\x01" * 31,
                                                  KeyType.EC_EDWARDS)),
              "CKR_ATTRIBUTE_VALUE_INVALID")


@pytest.mark.requires(X_GEN)
def test_import_x25519_pair(raw, rsession):
    key = x25519.X25519PrivateKey.generate()
    value = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                              serialization.NoEncryption())
    hk = raw.create_object(rsession, ec_private(X25519_OID, value, CKK_EC_MONTGOMERY))
    spki = key.public_key().public_bytes(*SPKI)
    assert raw.get_attribute(rsession, hk, CKA_PUBLIC_KEY_INFO) == spki


# -- softhsm2-util --import ----------------------------------------------------------------

@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_softhsm2_util_import(raw, rsession, module, tmp_path, kind):
    """What ``softhsm2-util --import`` sends (C_CreateObject of a private and a public key,
    PKCS#8 from a PEM file) makes a usable pair."""
    if kind == "rsa":
        key = rsa.generate_private_key(65537, 2048)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    pem = tmp_path / "key.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    env = module.token_env.env() if module.token_env else None
    label = f"imported-{kind}"
    out = subprocess.run(
        ["softhsm2-util", "--module", module.info.path, "--import", str(pem),
         "--token", module.token.label, "--label", label, "--id", "a1b2",
         "--pin", module.token.user_pin],
        env=env, capture_output=True, text=True, timeout=60, check=False)
    if kind == "rsa" and module.kind == "keystead":
        # softhsm2-util asks an RSA private key to sign and decrypt: two purposes, which
        # keystead's strict policy refuses (CKR_TEMPLATE_INCONSISTENT; docs/policy.md, "Key
        # pairs"); wrap_policy = compat takes it (README, "Moving from SoftHSMv2").
        assert out.returncode != 0 and "Could not save the private key" in out.stderr
        assert raw.find_objects(rsession, {A.LABEL: label}) == []
        return
    assert out.returncode == 0, out.stdout + out.stderr
    found = raw.find_objects(rsession, {A.LABEL: label})
    classes = sorted(ulong(raw.get_attribute(rsession, h, A.CLASS)) for h in found)
    assert classes == [ObjectClass.PUBLIC_KEY, ObjectClass.PRIVATE_KEY]
    for h in found:
        raw.destroy_object(rsession, h)
