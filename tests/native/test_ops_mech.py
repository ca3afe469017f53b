"""The mechanism registry (token/mech.h): what C_GetMechanismList / C_GetMechanismInfo report
and what every *Init is checked against."""

from __future__ import annotations

from keystead.core import ffi, lib

REQUIRED = {
    "CKM_AES_KEY_GEN": lib.CKF_GENERATE,
    "CKM_GENERIC_SECRET_KEY_GEN": lib.CKF_GENERATE,
    "CKM_AES_ECB": lib.CKF_ENCRYPT | lib.CKF_DECRYPT | lib.CKF_WRAP | lib.CKF_UNWRAP,
    "CKM_AES_CBC": lib.CKF_ENCRYPT | lib.CKF_DECRYPT | lib.CKF_WRAP | lib.CKF_UNWRAP,
    "CKM_AES_CBC_PAD": lib.CKF_ENCRYPT | lib.CKF_DECRYPT | lib.CKF_WRAP | lib.CKF_UNWRAP,
    "CKM_AES_CTR": lib.CKF_ENCRYPT | lib.CKF_DECRYPT,
    "CKM_AES_GCM": lib.CKF_ENCRYPT | lib.CKF_DECRYPT | lib.CKF_WRAP | lib.CKF_UNWRAP
    | lib.CKF_MESSAGE_ENCRYPT | lib.CKF_MESSAGE_DECRYPT,
    "CKM_AES_CMAC": lib.CKF_SIGN | lib.CKF_VERIFY,
    "CKM_AES_CMAC_GENERAL": lib.CKF_SIGN | lib.CKF_VERIFY,
    "CKM_AES_KEY_WRAP": lib.CKF_ENCRYPT | lib.CKF_DECRYPT | lib.CKF_WRAP | lib.CKF_UNWRAP,
    "CKM_AES_KEY_WRAP_KWP": lib.CKF_ENCRYPT | lib.CKF_DECRYPT | lib.CKF_WRAP | lib.CKF_UNWRAP,
    "CKM_SHA256": lib.CKF_DIGEST,
    "CKM_SHA384": lib.CKF_DIGEST,
    "CKM_SHA512": lib.CKF_DIGEST,
    "CKM_SHA256_HMAC": lib.CKF_SIGN | lib.CKF_VERIFY,
    "CKM_SHA384_HMAC": lib.CKF_SIGN | lib.CKF_VERIFY,
    "CKM_SHA512_HMAC": lib.CKF_SIGN | lib.CKF_VERIFY,
}


def rows(alias: int) -> dict[str, object]:
    out = {}
    for i in range(lib.ks_mech_count(alias)):
        d = lib.ks_mech_at(i, alias)
        out[ffi.string(d.name).decode()] = d
    assert lib.ks_mech_at(lib.ks_mech_count(alias), alias) == ffi.NULL
    return out


def test_required_mechanisms_and_flags():
    table = rows(0)
    for name, flags in REQUIRED.items():
        d = table[name]
        assert d.flags & flags == flags, name
        assert d.type == getattr(lib, name)
        assert lib.ks_mech_find(d.type, 0) == d
    assert len(table) == lib.ks_mech_count(0)


def test_names_and_types_unique():
    # One row per mechanism: a mechanism that serves two families (CKM_RSA_PKCS encrypts and
    # signs) still has one row, or C_GetMechanismList would list it twice.
    every = [lib.ks_mech_at(i, 1) for i in range(lib.ks_mech_count(1))]
    assert len({d.type for d in every}) == len(every)
    assert len({ffi.string(d.name) for d in every}) == len(every)


def test_softhsm_alias_only_when_asked():
    assert lib.ks_mech_find(lib.CKM_AES_KEY_WRAP_PAD, 0) == ffi.NULL
    d = lib.ks_mech_find(lib.CKM_AES_KEY_WRAP_PAD, 1)
    assert d != ffi.NULL
    kwp = lib.ks_mech_find(lib.CKM_AES_KEY_WRAP_KWP, 1)
    assert (d.flags, d.min_key, d.max_key) == (kwp.flags, kwp.min_key, kwp.max_key)
    assert lib.ks_mech_count(1) == lib.ks_mech_count(0) + 1
    assert "CKM_AES_KEY_WRAP_PAD" not in rows(0)


def test_key_sizes_in_the_spec_units():
    aes = lib.ks_mech_find(lib.CKM_AES_GCM, 0)
    assert (aes.min_key, aes.max_key) == (16, 32)  # bytes
    gen = lib.ks_mech_find(lib.CKM_GENERIC_SECRET_KEY_GEN, 0)
    assert gen.min_key % 8 == 0 and gen.max_key >= 256 * 8  # bits
    assert lib.ks_mech_key_len_ok(gen, 32) == 1
    assert lib.ks_mech_key_len_ok(gen, gen.max_key // 8 + 1) == 0
    for size, ok in ((15, 0), (16, 1), (24, 1), (32, 1), (33, 0)):
        assert lib.ks_mech_key_len_ok(aes, size) == ok
    digest = lib.ks_mech_find(lib.CKM_SHA256, 0)
    assert lib.ks_mech_key_len_ok(digest, 0) == 1


def test_key_types():
    hmac = lib.ks_mech_find(lib.CKM_SHA256_HMAC, 0)
    assert lib.ks_mech_key_type_ok(hmac, lib.CKK_GENERIC_SECRET) == 1
    assert lib.ks_mech_key_type_ok(hmac, lib.CKK_SHA256_HMAC) == 1
    assert lib.ks_mech_key_type_ok(hmac, lib.CKK_SHA512_HMAC) == 0
    assert lib.ks_mech_key_type_ok(hmac, lib.CKK_AES) == 0
    gcm = lib.ks_mech_find(lib.CKM_AES_GCM, 0)
    assert lib.ks_mech_key_type_ok(gcm, lib.CKK_AES) == 1
    assert lib.ks_mech_key_type_ok(gcm, lib.CKK_GENERIC_SECRET) == 0
    assert lib.ks_mech_find(0x80000000, 1) == ffi.NULL


def test_generic_generator_makes_hmac_key_types():
    gen = lib.ks_mech_find(lib.CKM_GENERIC_SECRET_KEY_GEN, 0)
    for kt in (lib.CKK_GENERIC_SECRET, lib.CKK_SHA256_HMAC, lib.CKK_SHA512_HMAC):
        assert lib.ks_mech_key_type_ok(gen, kt) == 1
    assert lib.ks_mech_key_type_ok(gen, lib.CKK_AES) == 0


def offered(policy: int, alias: int = 0, legacy: int = 0) -> dict[int, int]:
    """What C_GetMechanismList / C_GetMechanismInfo report under a configuration."""
    cfg = ffi.new("ks_config *")
    cfg.wrap_policy = policy
    cfg.kwp_alias_softhsm = alias
    cfg.legacy_mechanisms = legacy
    mtype = ffi.new("CK_MECHANISM_TYPE *")
    info = ffi.new("CK_MECHANISM_INFO *")
    out = {}
    i = 0
    while lib.ks_mech_offer(cfg, i, mtype, info):
        out[int(mtype[0])] = int(info.flags)
        i += 1
    return out


WRAP = lib.CKF_WRAP | lib.CKF_UNWRAP
KEY_WRAP = {lib.CKM_AES_KEY_WRAP, lib.CKM_AES_KEY_WRAP_KWP, lib.CKM_RSA_PKCS_OAEP,
            lib.CKM_RSA_AES_KEY_WRAP}


def test_strict_offers_wrap_only_on_key_wrap_mechanisms():
    """The strict wrap policy carries keys only with KW and KWP: C_GetMechanismInfo must not
    advertise CKF_WRAP/CKF_UNWRAP on ECB, CBC, CBC_PAD, CTR or GCM, which C_WrapKey refuses."""
    strict = offered(lib.KS_WRAP_POLICY_STRICT)
    for mech in (lib.CKM_AES_ECB, lib.CKM_AES_CBC, lib.CKM_AES_CBC_PAD, lib.CKM_AES_CTR,
                 lib.CKM_AES_GCM, lib.CKM_RSA_PKCS, lib.CKM_RSA_X_509):
        assert strict[mech] & WRAP == 0, hex(mech)
        assert strict[mech] & lib.CKF_ENCRYPT
    for mech in KEY_WRAP:
        assert strict[mech] & WRAP == WRAP
    assert lib.CKM_AES_KEY_WRAP_PAD not in strict
    aliased = offered(lib.KS_WRAP_POLICY_STRICT, alias=1)
    assert aliased[lib.CKM_AES_KEY_WRAP_PAD] & WRAP == WRAP


def test_compat_offers_every_row_as_it_is():
    compat = offered(lib.KS_WRAP_POLICY_COMPAT, legacy=1)
    assert len(compat) == lib.ks_mech_count(0)
    ec_caps = lib.CKF_EC_F_P | lib.CKF_EC_OID | lib.CKF_EC_UNCOMPRESS
    for i in range(lib.ks_mech_count(0)):
        d = lib.ks_mech_at(i, 0)
        # the EC mechanisms add their capabilities (mechanisms 3.0 2.3.1), nothing else
        takes_ec = lib.ks_mech_key_type_ok(d, lib.CKK_EC)
        assert compat[d.type] == d.flags | (ec_caps if takes_ec else 0), hex(d.type)
    assert compat[lib.CKM_ECDSA] & ec_caps == ec_caps
    assert compat[lib.CKM_AES_GCM] & ec_caps == 0


def test_legacy_rows_only_with_legacy_mechanisms_on():
    """legacy_mechanisms = off leaves out exactly the KS_MECH_LEGACY rows, from the list and
    from ks_mech_lookup; on, they are offered and found."""
    legacy = {lib.ks_mech_at(i, 0).type for i in range(lib.ks_mech_count(0))
              if lib.ks_mech_at(i, 0).traits & lib.KS_MECH_LEGACY}
    assert legacy == {lib.CKM_DES3_KEY_GEN, lib.CKM_DES3_ECB, lib.CKM_DES3_CBC,
                      lib.CKM_DES3_CBC_PAD, lib.CKM_MD5}
    for policy in (lib.KS_WRAP_POLICY_STRICT, lib.KS_WRAP_POLICY_COMPAT):
        off, on = offered(policy), offered(policy, legacy=1)
        assert set(on) - set(off) == legacy and not legacy & set(off)
    cfg = ffi.new("ks_config *")
    for mech in legacy:
        cfg.legacy_mechanisms = 0
        assert lib.ks_mech_lookup(cfg, mech) == ffi.NULL
        cfg.legacy_mechanisms = 1
        assert lib.ks_mech_lookup(cfg, mech) != ffi.NULL


def test_key_wrap_trait_and_rows_for_the_dispatch():
    for i in range(lib.ks_mech_count(1)):
        d = lib.ks_mech_at(i, 1)
        assert bool(d.traits & lib.KS_MECH_KEY_WRAP) == (lib.ks_mech_is_key_wrap(d.type) == 1)
        if d.flags & (lib.CKF_GENERATE | lib.CKF_GENERATE_KEY_PAIR | lib.CKF_DERIVE):
            # generators and derivations run no operation: the front makes the new key
            assert d.family == ffi.NULL and d.params != ffi.NULL
        else:
            assert d.family != ffi.NULL, ffi.string(d.name)
        if d.key_class != lib.CK_UNAVAILABLE_INFORMATION and not d.traits & lib.KS_MECH_KEY_PAIR:
            for op in (lib.CKF_SIGN, lib.CKF_VERIFY, lib.CKF_ENCRYPT, lib.CKF_UNWRAP):
                assert lib.ks_mech_key_class_ok(d, lib.CKO_SECRET_KEY, op) == 1
                assert lib.ks_mech_key_class_ok(d, lib.CKO_DATA, op) == 0
    assert {lib.ks_mech_at(i, 1).type for i in range(lib.ks_mech_count(1))
            if lib.ks_mech_is_key_wrap(lib.ks_mech_at(i, 1).type)} == KEY_WRAP | {
        lib.CKM_AES_KEY_WRAP_PAD}


def test_key_pair_rows_take_the_class_the_operation_needs():
    """KS_MECH_KEY_PAIR (token/mech.h): the private key signs, decrypts, unwraps and derives;
    the public key verifies, encrypts and wraps. A key-pair row never takes a secret key."""
    d = lib.ks_mech_find(lib.CKM_EC_KEY_PAIR_GEN, 0)
    assert d != ffi.NULL and d.traits & lib.KS_MECH_KEY_PAIR
    for op in (lib.CKF_SIGN, lib.CKF_DECRYPT, lib.CKF_UNWRAP, lib.CKF_DERIVE):
        assert lib.ks_mech_key_class_ok(d, lib.CKO_PRIVATE_KEY, op) == 1
        assert lib.ks_mech_key_class_ok(d, lib.CKO_PUBLIC_KEY, op) == 0
    for op in (lib.CKF_VERIFY, lib.CKF_ENCRYPT, lib.CKF_WRAP):
        assert lib.ks_mech_key_class_ok(d, lib.CKO_PUBLIC_KEY, op) == 1
        assert lib.ks_mech_key_class_ok(d, lib.CKO_PRIVATE_KEY, op) == 0
    for op in (lib.CKF_SIGN, lib.CKF_VERIFY):
        assert lib.ks_mech_key_class_ok(d, lib.CKO_SECRET_KEY, op) == 0
    rsa = lib.ks_mech_find(lib.CKM_RSA_PKCS_KEY_PAIR_GEN, 0)
    # the families' check: the legacy floor (1024); the front applies the configuration's
    # (2048 unless legacy_mechanisms = on: tests/native/test_mech_legacy.py)
    assert [lib.ks_mech_key_bits_ok(rsa, b) for b in (1023, 1024, 2048, 4096, 4097)] == [
        0, 1, 1, 1, 0]
    assert lib.ks_mech_key_len_ok(rsa, 1)  # a pair's value is DER: the family checks bits
