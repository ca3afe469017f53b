"""Signing keeps to the key an object holds now: a module may keep the parsed key between
operations (keystead's prepared-key cache, README "Key pairs"), but a changed object, a
destroyed one, or one that another process replaced under the same handle is never signed
with a key it no longer holds. Against keystead and SoftHSMv2 alike.
"""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from keystead.softhsm_bridge.ck import Attribute as A
from keystead.softhsm_bridge.ck import Mechanism as M

from .keypair_support import private_template, sign
from .support import assert_rv, run_raw

pytestmark = pytest.mark.requires(M.ECDSA)


def _der(sig: bytes) -> bytes:
    return encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))


def _verifies(key: ec.EllipticCurvePrivateKey, digest: bytes, sig: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    try:
        key.public_key().verify(_der(sig), digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    except InvalidSignature:
        return False
    return True


DIGEST = bytes(range(32))


def test_sign_after_attribute_change(raw, rsession):
    key = ec.generate_private_key(ec.SECP256R1())
    h = raw.create_object(rsession, private_template(key, TOKEN=True, LABEL="before"))
    try:
        assert _verifies(key, DIGEST, sign(raw, rsession, M.ECDSA, h, DIGEST))
        t = raw.template({A.LABEL: "after"})
        raw.check("C_SetAttributeValue", rsession, h, t.ptr, t.count)
        assert _verifies(key, DIGEST, sign(raw, rsession, M.ECDSA, h, DIGEST))
        t = raw.template({A.SIGN: False})
        raw.check("C_SetAttributeValue", rsession, h, t.ptr, t.count)
        m = raw.mechanism(M.ECDSA)
        assert_rv(raw.call("C_SignInit", rsession, m.ptr, h), "CKR_KEY_FUNCTION_NOT_PERMITTED")
    finally:
        raw.destroy_object(rsession, h)


def test_destroyed_key_no_longer_signs(module, raw, rsession, xfail_quirk):
    xfail_quirk(module, "key-handle-object-handle-invalid")
    key = ec.generate_private_key(ec.SECP256R1())
    for token in (False, True):
        h = raw.create_object(rsession, private_template(key, TOKEN=token))
        sign(raw, rsession, M.ECDSA, h, DIGEST)
        raw.destroy_object(rsession, h)
        m = raw.mechanism(M.ECDSA)
        assert_rv(raw.call("C_SignInit", rsession, m.ptr, h), "CKR_KEY_HANDLE_INVALID")


def test_key_replaced_by_another_process(module, raw, rsession, xfail_quirk):
    """Another process destroys the token key this one signed with and imports another; a
    handle that names the new key signs with the new key, a handle that names nothing is
    CKR_KEY_HANDLE_INVALID. The keys are found by CKA_ID in each process (a module's
    handles may be its process's own, as SoftHSMv2's are)."""
    old, new = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    old_id, new_id = os.urandom(16), os.urandom(16)
    h = raw.create_object(rsession, private_template(old, TOKEN=True, ID=old_id))
    assert _verifies(old, DIGEST, sign(raw, rsession, M.ECDSA, h, DIGEST))
    pem = new.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    run_raw(module.info.path, f"""
        from cryptography.hazmat.primitives.serialization import load_pem_private_key
        from tests.conformance.keypair_support import private_template
        r.initialize()
        # The main token by its label (SoftHSMv2 numbers slots anew in each process).
        slot = next(s for s in r.slot_list(True)
                    if r.token_info(s)["label"].strip() == {module.token.label!r})
        h = r.open_session(slot, rw=True)
        assert r.login(h, 1, {module.token.user_pin!r}) == 0
        (mine,) = r.find_objects(h, {{0x102: {old_id!r}}})
        r.destroy_object(h, mine)
        key = load_pem_private_key({pem!r}.encode(), None)
        r.create_object(h, private_template(key, TOKEN=True, ID={new_id!r}))
        r.finalize()
    """, env=module.token_env.env() if module.token_env else None)
    (replaced,) = raw.find_objects(rsession, {A.ID: new_id})
    try:
        m = raw.mechanism(M.ECDSA)
        rv = raw.call("C_SignInit", rsession, m.ptr, h)
        if replaced == h:
            assert_rv(rv, "CKR_OK")
            sig = raw.single("Sign", rsession, DIGEST)
            assert _verifies(new, DIGEST, sig) and not _verifies(old, DIGEST, sig)
        else:
            assert _verifies(new, DIGEST, sign(raw, rsession, M.ECDSA, replaced, DIGEST))
            xfail_quirk(module, "key-handle-object-handle-invalid")
            assert_rv(rv, "CKR_KEY_HANDLE_INVALID")
    finally:
        raw.destroy_object(rsession, replaced)
