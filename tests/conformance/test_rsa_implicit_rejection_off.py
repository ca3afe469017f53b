"""rsa_implicit_rejection = off in the module's configuration (README, Configuration): a
copy of the module loaded with that setting answers a malformed PKCS#1 v1.5 padding with
CKR_ENCRYPTED_DATA_INVALID, at C_Decrypt and, as CKR_WRAPPED_KEY_INVALID, at C_UnwrapKey; a
well-formed one decrypts as usual."""

from __future__ import annotations

import importlib
import os
import shutil

import keystead
import pytest
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from keystead.softhsm_bridge.ck import CKU_USER, KeyType, ObjectClass
from keystead.softhsm_bridge.ck import Attribute as A
from keystead.softhsm_bridge.modules import KEYSTEAD, ModuleInfo

from . import rsa_support as rs
from .support import assert_rv


def malformed(key: rsa.RSAPrivateKey) -> bytes:
    """A ciphertext whose PKCS#1 v1.5 block is malformed for certain (block type 1)."""
    pn = key.private_numbers().public_numbers
    em = b"\x00\x01" + os.urandom(250) + b"\x00" + b"abc"
    return pow(int.from_bytes(em, "big"), pn.e, pn.n).to_bytes(256, "big")


provisioning = importlib.import_module("keystead.softhsm_bridge.provision")
CONF_ENV = "KEYSTEAD_CONF"


@pytest.fixture(scope="module")
def off(tmp_path_factory: pytest.TempPathFactory):
    """A copy of the module with rsa_implicit_rejection = off, its token, a user session."""
    base = tmp_path_factory.mktemp("rsa-ir-off")
    so = base / "libkeystead-ir-off.so"
    shutil.copyfile(keystead.module_path(), so)
    info = ModuleInfo("keystead-ir-off", str(so), KEYSTEAD)
    before = os.environ.get(CONF_ENV)
    try:
        provisioning.prepare(info, base / "tokens", rsa_implicit_rejection="off")
        raw = provisioning.load(info)
        token = provisioning.provision(info, None, label="ir-off", so_pin="so-pin-1234",
                                       user_pin="user-pin-5678")
    finally:
        if before is None:
            os.environ.pop(CONF_ENV, None)
        else:
            os.environ[CONF_ENV] = before
    h = raw.open_session(token.slot_id, rw=True)
    raw.login(h, CKU_USER, token.user_pin)
    yield raw, h
    raw.close_all_sessions(token.slot_id)


def test_malformed_padding_is_an_error(off) -> None:
    raw, h = off
    key = rsa.generate_private_key(65537, 2048)
    priv = raw.create_object(h, rs.private_template(key))
    bad = malformed(key)
    m = raw.mechanism(rs.RSA_PKCS)
    assert raw.call("C_DecryptInit", h, m.ptr, priv) == 0
    rv, _, _ = raw.call_out("C_Decrypt", h, bad, len(bad), capacity=256)
    assert_rv(rv, "CKR_ENCRYPTED_DATA_INVALID")
    good = key.public_key().encrypt(b"fine", padding.PKCS1v15())
    assert raw.decrypt(h, rs.RSA_PKCS, priv, good) == b"fine"
    t = raw.template({A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES,
                      A.TOKEN: False})
    out = raw.ffi.new("CK_OBJECT_HANDLE *")
    rv = raw.call("C_UnwrapKey", h, m.ptr, priv, bad, len(bad), t.ptr, t.count, out)
    assert_rv(rv, "CKR_WRAPPED_KEY_INVALID")
