"""PKCS#11 3.0 base 4.9 CKA_ALWAYS_AUTHENTICATE and 5.6 C_Login with CKU_CONTEXT_SPECIFIC: a
private key that needs the user's PIN again for every operation."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from keystead.softhsm_bridge.ck import CKU_CONTEXT_SPECIFIC, Mechanism
from keystead.softhsm_bridge.ck import Attribute as A

from .derive_support import CKD_NULL, derive, ecdh_params, secret_template
from .pair_support import EC_GEN, P256_OID, gen_rv, templates
from .support import assert_rv, bbool

DATA = hashlib.sha256(b"always authenticate").digest()  # CKM_ECDSA signs a digest


def _pair(raw, h, **private):
    pub, priv = templates({A.EC_PARAMS: P256_OID, A.VERIFY: True},
                          {A.SIGN: True, A.ALWAYS_AUTHENTICATE: True, **private})
    return raw.generate_key_pair(h, EC_GEN, pub, priv)


def _sign_rv(raw, h):
    return raw.call_out("C_Sign", h, DATA, len(DATA), capacity=256)


@pytest.fixture
def ecdsa(module):
    if Mechanism.ECDSA not in module.mechanisms():
        pytest.skip(f"{module.name} offers no CKM_ECDSA in this build")


def test_flag_is_kept(raw, rsession):
    _, hk = _pair(raw, rsession)
    assert bbool(raw.get_attribute(rsession, hk, A.ALWAYS_AUTHENTICATE)) is True


def test_only_on_a_private_object(raw, rsession):
    """4.9: 'may only be set to CK_TRUE when CKA_PRIVATE is also CK_TRUE'."""
    pub, priv = templates({A.EC_PARAMS: P256_OID},
                          {A.ALWAYS_AUTHENTICATE: True, A.PRIVATE: False})
    assert_rv(gen_rv(raw, rsession, EC_GEN, pub, priv)[0], "CKR_TEMPLATE_INCONSISTENT")


def test_copy_stays_private(raw, rsession):
    _, hk = _pair(raw, rsession)
    t = raw.template({A.PRIVATE: False})
    out = raw.ffi.new("CK_OBJECT_HANDLE *")
    assert_rv(raw.call("C_CopyObject", rsession, hk, t.ptr, t.count, out),
              "CKR_TEMPLATE_INCONSISTENT")


def test_context_login_without_an_operation(raw, rsession, module):
    """5.6: improper use of CKU_CONTEXT_SPECIFIC is CKR_OPERATION_NOT_INITIALIZED."""
    assert_rv(raw.login(rsession, CKU_CONTEXT_SPECIFIC, module.token.user_pin),
              "CKR_OPERATION_NOT_INITIALIZED")


def test_context_login_without_an_always_authenticate_key(raw, rsession, module, ecdsa):
    pub, priv = templates({A.EC_PARAMS: P256_OID}, {A.SIGN: True})
    _, hk = raw.generate_key_pair(rsession, EC_GEN, pub, priv)
    raw.op_init("Sign", rsession, Mechanism.ECDSA, hk)
    assert_rv(raw.login(rsession, CKU_CONTEXT_SPECIFIC, module.token.user_pin),
              "CKR_OPERATION_NOT_INITIALIZED")


def test_operation_needs_the_context_login(raw, rsession, module, ecdsa):
    hp, hk = _pair(raw, rsession)
    raw.op_init("Sign", rsession, Mechanism.ECDSA, hk)
    rv, _, _ = _sign_rv(raw, rsession)
    assert_rv(rv, "CKR_USER_NOT_LOGGED_IN")
    # the refused call ended the operation (5.2): a new one, then the PIN, then the signature
    raw.op_init("Sign", rsession, Mechanism.ECDSA, hk)
    assert_rv(raw.login(rsession, CKU_CONTEXT_SPECIFIC, "wrong-pin"), "CKR_PIN_INCORRECT")
    assert_rv(raw.login(rsession, CKU_CONTEXT_SPECIFIC, module.token.user_pin), "CKR_OK")
    rv, sig, _ = _sign_rv(raw, rsession)
    assert_rv(rv, "CKR_OK")
    point = raw.get_attribute(rsession, hp, A.EC_POINT)[2:]
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    key.verify(encode_dss_signature(r, s), DATA, ec.ECDSA(Prehashed(hashes.SHA256())))


def test_each_operation_needs_its_own_login(raw, rsession, module, ecdsa):
    _, hk = _pair(raw, rsession)
    raw.op_init("Sign", rsession, Mechanism.ECDSA, hk)
    assert_rv(raw.login(rsession, CKU_CONTEXT_SPECIFIC, module.token.user_pin), "CKR_OK")
    assert_rv(_sign_rv(raw, rsession)[0], "CKR_OK")
    raw.op_init("Sign", rsession, Mechanism.ECDSA, hk)
    assert_rv(_sign_rv(raw, rsession)[0], "CKR_USER_NOT_LOGGED_IN")


def test_no_derive_without_an_init(raw, rsession, module):
    """C_DeriveKey has no operation to log in after (4.9 asks a login per use), so keystead
    refuses a key that always authenticates there (README, "CKA_ALWAYS_AUTHENTICATE")."""
    if module.name != "keystead":
        pytest.skip("keystead's rule; PKCS#11 does not say how a derive logs in again")
    pub, priv = templates({A.EC_PARAMS: P256_OID},
                          {A.DERIVE: True, A.ALWAYS_AUTHENTICATE: True})
    _, hk = raw.generate_key_pair(rsession, EC_GEN, pub, priv)
    other = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        Encoding.X962, PublicFormat.UncompressedPoint)
    rv, _ = derive(raw, rsession, hk, secret_template(32), ecdh_params(raw.ffi, CKD_NULL, other))
    assert_rv(rv, "CKR_KEY_FUNCTION_NOT_PERMITTED")
