"""The configuration's effect on the registry (token/mech.h): RSA rows go down to 1024 bits
only with legacy_mechanisms = on; families check the floor no configuration allows."""

from __future__ import annotations

from keystead.core import ffi, lib

RSA_GEN = lib.CKM_RSA_PKCS_KEY_PAIR_GEN


def cfg(legacy: int):
    c = ffi.new("ks_config *")
    c.legacy_mechanisms = legacy
    return c


def test_rsa_floor_by_configuration() -> None:
    on, off = cfg(1), cfg(0)
    d = lib.ks_mech_lookup(off, RSA_GEN)
    assert d != ffi.NULL
    assert (lib.ks_mech_min_key(off, d), lib.ks_mech_min_key(on, d)) == (2048, 1024)
    for bits, want_off, want_on in ((1023, 0, 0), (1024, 0, 1), (2047, 0, 1), (2048, 1, 1),
                                    (4096, 1, 1), (4097, 0, 0)):
        assert lib.ks_mech_key_bits_allowed(off, d, bits) == want_off, bits
        assert lib.ks_mech_key_bits_allowed(on, d, bits) == want_on, bits
        assert lib.ks_mech_key_bits_ok(d, bits) == want_on, bits  # no configuration's floor


def test_other_rows_keep_their_minimum() -> None:
    on = cfg(1)
    for mech in (lib.CKM_AES_KEY_GEN, lib.CKM_GENERIC_SECRET_KEY_GEN, lib.CKM_EC_KEY_PAIR_GEN):
        d = lib.ks_mech_lookup(on, mech)
        assert lib.ks_mech_min_key(on, d) == d.min_key


def test_offer_reports_the_floor() -> None:
    mtype = ffi.new("CK_MECHANISM_TYPE *")
    info = ffi.new("CK_MECHANISM_INFO *")
    for legacy, want in ((0, 2048), (1, 1024)):
        c = cfg(legacy)
        i = 0
        while lib.ks_mech_offer(c, i, mtype, info):
            if mtype[0] == RSA_GEN:
                break
            i += 1
        assert mtype[0] == RSA_GEN and info.ulMinKeySize == want
