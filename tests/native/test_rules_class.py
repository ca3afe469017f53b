"""The object class table (token/rules.h ks_class_desc): one row per class, read by the
attribute rules, the guard's key resolution and C_DigestKey/C_WrapKey. Data objects, secret
keys, public and private keys and X.509 certificates make objects."""

from __future__ import annotations

import pytest
from keystead.core import ffi, lib
from keystead.softhsm_bridge.ck import CKA_KS_PKCS8

from .rules_support import CREATE, KEY16, new

NO_VALUE = (1 << (8 * ffi.sizeof("CK_ATTRIBUTE_TYPE"))) - 1


def row(cls: int):
    r = lib.ks_class_find(cls)
    assert r != ffi.NULL
    return r


def test_supported_classes_are_data_and_secret_keys():
    data, secret = row(lib.CKO_DATA), row(lib.CKO_SECRET_KEY)
    assert (data.supported, data.is_key, data.hides, data.value_attr) == (1, 0, 0, NO_VALUE)
    assert (secret.supported, secret.is_key, secret.hides) == (1, 1, 1)
    assert secret.value_attr == lib.CKA_VALUE
    assert secret.check_new != ffi.NULL and secret.finish != ffi.NULL
    assert data.on & secret.on == 0


def test_key_pair_rows_hold_der_values():
    pub, priv = row(lib.CKO_PUBLIC_KEY), row(lib.CKO_PRIVATE_KEY)
    assert (pub.supported, pub.is_key, pub.hides) == (1, 1, 0)
    assert (priv.supported, priv.is_key, priv.hides) == (1, 1, 1)
    assert pub.value_attr == lib.CKA_PUBLIC_KEY_INFO
    assert priv.value_attr == CKA_KS_PKCS8
    for r in (pub, priv):
        assert r.check_new != ffi.NULL and r.finish != ffi.NULL


def test_certificate_row_holds_no_key():
    r = row(lib.CKO_CERTIFICATE)
    assert (r.supported, r.is_key, r.hides, r.value_attr) == (1, 0, 0, NO_VALUE)
    assert r.check_new != ffi.NULL and r.finish != ffi.NULL


@pytest.mark.parametrize("cls", [lib.CKO_HW_FEATURE, lib.CKO_DOMAIN_PARAMETERS,
                                 lib.CKO_MECHANISM, lib.CKO_OTP_KEY, lib.CKO_PROFILE])
def test_classes_without_a_row_make_no_objects(cls: int):
    assert lib.ks_class_supported(cls) == ffi.NULL
    res = new(CREATE, [(lib.CKA_CLASS, cls), (lib.CKA_VALUE, KEY16)])
    assert res.rv == lib.CKR_ATTRIBUTE_VALUE_INVALID
    assert res.why_attr == lib.CKA_CLASS


def test_every_class_has_its_own_attribute_bit():
    bits = [row(getattr(lib, c)).on for c in ("CKO_DATA", "CKO_SECRET_KEY", "CKO_PUBLIC_KEY",
                                              "CKO_PRIVATE_KEY", "CKO_CERTIFICATE")]
    assert all(b and b & (b - 1) == 0 for b in bits)
    assert len(set(bits)) == len(bits)


def test_unknown_class_has_no_row():
    assert lib.ks_class_find(0x1234) == ffi.NULL

