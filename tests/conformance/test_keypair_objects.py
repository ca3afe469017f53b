"""PKCS#11 3.0 base 5.18 C_GenerateKeyPair and the key pair objects it makes (4.7 key
objects, 4.8 public key objects, 4.9 private key objects; mechanisms 2.1.2-2.1.4 RSA,
2.3.3-2.3.11 EC, Edwards and Montgomery), cross-checked with the ``cryptography`` package."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x448, x25519
from keystead.softhsm_bridge.ck import (
    CKA_KS_PKCS8,
    CKU_USER,
    KeyType,
    Mechanism,
    MechanismFlag,
    ObjectClass,
)
from keystead.softhsm_bridge.ck import Attribute as A

from .pair_support import (
    CKA_PUBLIC_KEY_INFO,
    CKK_EC_MONTGOMERY,
    EC_GEN,
    ED448_OID,
    ED25519_OID,
    ED_GEN,
    P256_OID,
    P384_OID,
    P521_OID,
    RSA_GEN,
    UNKNOWN_OID,
    X448_OID,
    X25519_OID,
    X_GEN,
    gen_rv,
    octet_string,
    printable,
    rsa_templates,
    templates,
)
from .support import assert_rv, bbool, raises_rv, ulong

RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw
X962 = serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint


@pytest.fixture
def keystead_only(module):
    if module.name != "keystead":
        pytest.skip("keystead's own choice where PKCS#11 leaves it to the token")
    return module


def spki_of(raw, h, key):
    """CKA_PUBLIC_KEY_INFO loaded by ``cryptography``."""
    return serialization.load_der_public_key(raw.get_attribute(h, key, CKA_PUBLIC_KEY_INFO))


# -- RSA (mechanisms 2.1.4) ---------------------------------------------------------------

@pytest.mark.parametrize("bits", [2048, 3072])
def test_generate_rsa_pair(raw, rsession, bits):
    pub, priv = rsa_templates(bits)
    pub[A.PUBLIC_EXPONENT] = b"\x01\x00\x01"
    hp, hk = raw.generate_key_pair(rsession, RSA_GEN, pub, priv)
    assert ulong(raw.get_attribute(rsession, hp, A.CLASS)) == ObjectClass.PUBLIC_KEY
    assert ulong(raw.get_attribute(rsession, hk, A.CLASS)) == ObjectClass.PRIVATE_KEY
    for h in (hp, hk):
        assert ulong(raw.get_attribute(rsession, h, A.KEY_TYPE)) == KeyType.RSA
    n = int.from_bytes(raw.get_attribute(rsession, hp, A.MODULUS), "big")
    assert n.bit_length() == bits
    assert ulong(raw.get_attribute(rsession, hp, A.MODULUS_BITS)) == bits
    assert int.from_bytes(raw.get_attribute(rsession, hp, A.PUBLIC_EXPONENT), "big") == 65537
    assert int.from_bytes(raw.get_attribute(rsession, hk, A.MODULUS), "big") == n
    # the private components of a readable key make a working key with that modulus
    d = int.from_bytes(raw.get_attribute(rsession, hk, A.PRIVATE_EXPONENT), "big")
    p = int.from_bytes(raw.get_attribute(rsession, hk, A.PRIME_1), "big")
    q = int.from_bytes(raw.get_attribute(rsession, hk, A.PRIME_2), "big")
    dp = int.from_bytes(raw.get_attribute(rsession, hk, A.EXPONENT_1), "big")
    dq = int.from_bytes(raw.get_attribute(rsession, hk, A.EXPONENT_2), "big")
    qinv = int.from_bytes(raw.get_attribute(rsession, hk, A.COEFFICIENT), "big")
    assert p * q == n and pow(pow(7, 65537, n), d, n) == 7
    key = rsa.RSAPrivateNumbers(p, q, d, dp, dq, qinv,
                                rsa.RSAPublicNumbers(65537, n)).private_key()
    assert key.public_key().public_numbers().n == n


def test_generate_rsa_default_and_chosen_exponent(raw, rsession):
    pub, priv = rsa_templates()
    hp, _ = raw.generate_key_pair(rsession, RSA_GEN, pub, priv)
    assert int.from_bytes(raw.get_attribute(rsession, hp, A.PUBLIC_EXPONENT), "big") == 65537
    pub[A.PUBLIC_EXPONENT] = b"\x00\x01\x00\x00\x00\x01"  # 2^32 + 1, leading zero byte
    hp, _ = raw.generate_key_pair(rsession, RSA_GEN, pub, priv)
    assert int.from_bytes(raw.get_attribute(rsession, hp, A.PUBLIC_EXPONENT), "big") == 2**32 + 1


def test_rsa_public_key_info(raw, rsession, module, xfail_quirk):
    xfail_quirk(module, "public-key-info-empty")
    hp, hk = raw.generate_key_pair(rsession, RSA_GEN, *rsa_templates())
    key = spki_of(raw, rsession, hp)
    assert isinstance(key, rsa.RSAPublicKey)
    assert key.public_numbers().n == int.from_bytes(
        raw.get_attribute(rsession, hp, A.MODULUS), "big")
    assert raw.get_attribute(rsession, hk, CKA_PUBLIC_KEY_INFO) == raw.get_attribute(
        rsession, hp, CKA_PUBLIC_KEY_INFO)


# -- EC (mechanisms 2.3.9) -------------------------------------------------------------------

CURVES = [(P256_OID, ec.SECP256R1), (P384_OID, ec.SECP384R1), (P521_OID, ec.SECP521R1)]


@pytest.mark.parametrize("params,curve", CURVES, ids=["P-256", "P-384", "P-521"])
def test_generate_ec_pair(raw, rsession, params, curve):
    hp, hk = raw.generate_key_pair(rsession, EC_GEN, *templates({A.EC_PARAMS: params}))
    for h in (hp, hk):
        assert ulong(raw.get_attribute(rsession, h, A.KEY_TYPE)) == KeyType.EC
        assert raw.get_attribute(rsession, h, A.EC_PARAMS) == params
    value = int.from_bytes(raw.get_attribute(rsession, hk, A.VALUE), "big")
    expected = ec.derive_private_key(value, curve()).public_key().public_bytes(*X962)
    assert raw.get_attribute(rsession, hp, A.EC_POINT) == octet_string(expected)


@pytest.mark.parametrize("params,curve", CURVES, ids=["P-256", "P-384", "P-521"])
def test_ec_public_key_info(raw, rsession, module, xfail_quirk, params, curve):
    xfail_quirk(module, "public-key-info-empty")
    hp, _ = raw.generate_key_pair(rsession, EC_GEN, *templates({A.EC_PARAMS: params}))
    key = spki_of(raw, rsession, hp)
    assert isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, curve)
    assert raw.get_attribute(rsession, hp, A.EC_POINT) == octet_string(key.public_bytes(*X962))


def test_ec_params_by_curve_name(raw, rsession, module, xfail_quirk):
    xfail_quirk(module, "ec-params-no-curve-name")
    params = printable("prime256v1")
    hp, hk = raw.generate_key_pair(rsession, EC_GEN, *templates({A.EC_PARAMS: params}))
    assert raw.get_attribute(rsession, hp, A.EC_PARAMS) == params
    point = raw.get_attribute(rsession, hp, A.EC_POINT)
    assert len(point) == 67 and point[2] == 0x04


# -- Edwards and Montgomery (mechanisms 2.3.10, 2.3.11) --------------------------------------

EDWARDS = [(ED25519_OID, ed25519.Ed25519PrivateKey), (ED448_OID, ed448.Ed448PrivateKey),
           (printable("edwards25519"), ed25519.Ed25519PrivateKey)]
MONTGOMERY = [(X25519_OID, x25519.X25519PrivateKey), (X448_OID, x448.X448PrivateKey),
              (printable("curve25519"), x25519.X25519PrivateKey)]


def _check_raw_pair(raw, h, hp, hk, key_type, cls):
    for k in (hp, hk):
        assert ulong(raw.get_attribute(h, k, A.KEY_TYPE)) == key_type
    expected = cls.from_private_bytes(raw.get_attribute(h, hk, A.VALUE)).public_key()
    assert raw.get_attribute(h, hp, A.EC_POINT) == octet_string(expected.public_bytes(*RAW))
    return expected


@pytest.mark.parametrize("params,cls", EDWARDS, ids=["Ed25519", "Ed448", "edwards25519"])
def test_generate_edwards_pair(raw, rsession, module, xfail_quirk, params, cls):
    xfail_quirk(module, "public-key-info-empty")
    hp, hk = raw.generate_key_pair(rsession, ED_GEN, *templates({A.EC_PARAMS: params}))
    expected = _check_raw_pair(raw, rsession, hp, hk, KeyType.EC_EDWARDS, cls)
    assert spki_of(raw, rsession, hp).public_bytes(*RAW) == expected.public_bytes(*RAW)


@pytest.mark.requires(X_GEN)
@pytest.mark.parametrize("params,cls", MONTGOMERY, ids=["X25519", "X448", "curve25519"])
def test_generate_montgomery_pair(raw, rsession, params, cls):
    hp, hk = raw.generate_key_pair(rsession, X_GEN, *templates({A.EC_PARAMS: params}))
    expected = _check_raw_pair(raw, rsession, hp, hk, CKK_EC_MONTGOMERY, cls)
    assert spki_of(raw, rsession, hp).public_bytes(*RAW) == expected.public_bytes(*RAW)


# -- the attributes every generated pair gets (4.7-4.9, 5.18) ---------------------------------

@pytest.mark.parametrize("sensitive,extractable", [(True, False), (False, True), (True, True)])
def test_generated_pair_token_maintained(raw, rsession, sensitive, extractable):
    pub, priv = templates({A.EC_PARAMS: P256_OID},
                          {A.SENSITIVE: sensitive, A.EXTRACTABLE: extractable})
    hp, hk = raw.generate_key_pair(rsession, EC_GEN, pub, priv)
    for h in (hp, hk):
        assert bbool(raw.get_attribute(rsession, h, A.LOCAL)) is True
        assert ulong(raw.get_attribute(rsession, h, A.KEY_GEN_MECHANISM)) == EC_GEN
    assert bbool(raw.get_attribute(rsession, hk, A.ALWAYS_SENSITIVE)) is sensitive
    assert bbool(raw.get_attribute(rsession, hk, A.NEVER_EXTRACTABLE)) is (not extractable)
    # 4.8: a public key has neither
    res = raw.get_attributes(rsession, hp, [A.ALWAYS_SENSITIVE, A.NEVER_EXTRACTABLE])
    assert_rv(res.rv, "CKR_ATTRIBUTE_TYPE_INVALID")


def test_sensitive_private_key_hides_its_components(raw, rsession):
    pub, priv = rsa_templates(SENSITIVE=True)
    hp, hk = raw.generate_key_pair(rsession, RSA_GEN, pub, priv)
    res = raw.get_attributes(rsession, hk, [A.PRIVATE_EXPONENT, A.PRIME_1, A.MODULUS])
    assert_rv(res.rv, "CKR_ATTRIBUTE_SENSITIVE")
    assert res.values[int(A.PRIVATE_EXPONENT)] is None and res.values[int(A.PRIME_1)] is None
    assert res.values[int(A.MODULUS)] == raw.get_attribute(rsession, hp, A.MODULUS)


def test_unextractable_ec_key_hides_its_value(raw, rsession):
    pub, priv = templates({A.EC_PARAMS: P256_OID}, {A.EXTRACTABLE: False})
    _, hk = raw.generate_key_pair(rsession, EC_GEN, pub, priv)
    assert_rv(raw.get_attributes(rsession, hk, [A.VALUE]).rv, "CKR_ATTRIBUTE_SENSITIVE")


def test_private_key_defaults(keystead_only, raw, rsession):
    """keystead's [9] choices: a private key is private and sensitive, a public key public;
    both may encrypt/decrypt and sign/verify, neither wrap, unwrap nor derive."""
    _, hk = raw.generate_key_pair(rsession, EC_GEN, {A.EC_PARAMS: P256_OID, A.TOKEN: False},
                                  {A.TOKEN: False})
    assert bbool(raw.get_attribute(rsession, hk, A.PRIVATE)) is True
    assert bbool(raw.get_attribute(rsession, hk, A.SENSITIVE)) is True
    assert bbool(raw.get_attribute(rsession, hk, A.ALWAYS_SENSITIVE)) is True


def test_pkcs8_value_is_never_revealed(keystead_only, raw, rsession):
    pub, priv = rsa_templates()
    _, hk = raw.generate_key_pair(rsession, RSA_GEN, pub, priv)
    res = raw.get_attributes(rsession, hk, [CKA_KS_PKCS8])
    assert_rv(res.rv, "CKR_ATTRIBUTE_SENSITIVE")
    assert raw.find_objects(rsession, {CKA_KS_PKCS8: b""}) == []


def test_token_pair_is_found_and_destroyed(raw, rsession):
    pub, priv = templates({A.EC_PARAMS: P256_OID, A.LABEL: "pair-t"},
                          {A.LABEL: "pair-t", A.ID: b"\x01\x02"})
    pub[A.TOKEN] = priv[A.TOKEN] = True
    hp, hk = raw.generate_key_pair(rsession, EC_GEN, pub, priv)
    try:
        assert sorted(raw.find_objects(rsession, {A.LABEL: "pair-t"})) == sorted([hp, hk])
        assert raw.find_objects(rsession, {A.LABEL: "pair-t",
                                           A.CLASS: ObjectClass.PRIVATE_KEY}) == [hk]
    finally:
        raw.destroy_object(rsession, hp)
        raw.destroy_object(rsession, hk)
    assert raw.find_objects(rsession, {A.LABEL: "pair-t"}) == []


@pytest.mark.requires(RSA_GEN, EC_GEN, ED_GEN)
@pytest.mark.parametrize("mech", [RSA_GEN, EC_GEN, ED_GEN])
def test_generators_are_key_pair_generators(raw, module, mech):
    """5.5 CK_MECHANISM_INFO: a key pair generator has CKF_GENERATE_KEY_PAIR, not
    CKF_GENERATE."""
    flags = raw.mechanism_info(module.slot, mech)[2]
    assert flags & MechanismFlag.GENERATE_KEY_PAIR
    assert not flags & MechanismFlag.GENERATE


def test_generator_sizes(keystead_only, raw, module):
    """keystead's offer: RSA 2048 to 4096 bits; the curves' field sizes (mechanisms 2.3); the
    EC generator also names its capabilities (2.3.1: prime fields, curves by OID,
    uncompressed points)."""
    ec_caps = 0x00100000 | 0x00800000 | 0x01000000  # CKF_EC_F_P, CKF_EC_OID, CKF_EC_UNCOMPRESS
    for mech, sizes, extra in [(RSA_GEN, (2048, 4096), 0), (EC_GEN, (256, 521), ec_caps),
                               (ED_GEN, (255, 448), 0), (X_GEN, (255, 448), 0)]:
        lo, hi, flags = raw.mechanism_info(module.slot, mech)
        assert (lo, hi) == sizes and flags == MechanismFlag.GENERATE_KEY_PAIR | extra


def test_signature_sizes(keystead_only, raw, module):
    """ECDSA and EdDSA report the field sizes of the curves they sign with (mechanisms 2.3:
    ulMinKeySize and ulMaxKeySize in bits), as their generators do."""
    for mech, sizes in [(Mechanism.ECDSA, (256, 521)), (Mechanism.ECDSA_SHA256, (256, 521)),
                        (Mechanism.EDDSA, (255, 448))]:
        assert raw.mechanism_info(module.slot, mech)[:2] == sizes


# -- refusals (5.18, 4.1.1) ------------------------------------------------------------------

def test_rsa_without_modulus_bits_is_incomplete(raw, rsession):
    assert_rv(gen_rv(raw, rsession, RSA_GEN, *templates())[0], "CKR_TEMPLATE_INCOMPLETE")


def test_ec_without_params_is_incomplete(raw, rsession):
    assert_rv(gen_rv(raw, rsession, EC_GEN, *templates())[0], "CKR_TEMPLATE_INCOMPLETE")


@pytest.mark.parametrize("mech,params", [(EC_GEN, UNKNOWN_OID), (EC_GEN, ED25519_OID),
                                         (ED_GEN, P256_OID), (EC_GEN, printable("nosuch"))],
                         ids=["oid-1.2.3.4", "ed25519-for-ec", "p256-for-edwards", "name"])
def test_unknown_curve_is_not_supported(raw, rsession, module, xfail_quirk, mech, params):
    xfail_quirk(module, "curve-not-supported-general-error")
    rv = gen_rv(raw, rsession, mech, *templates({A.EC_PARAMS: params}))[0]
    assert_rv(rv, "CKR_CURVE_NOT_SUPPORTED")


@pytest.mark.parametrize("params", [b"", b"\x06\x08\x2a\x86", b"\x02\x01\x01",
                                    P256_OID + b"\x00"], ids=["empty", "short", "int", "tail"])
def test_malformed_ec_params_are_invalid(raw, rsession, module, xfail_quirk, params):
    xfail_quirk(module, "ec-params-trailing-bytes-accepted" if params.startswith(P256_OID)
                else "ec-params-malformed-general-error")
    rv = gen_rv(raw, rsession, EC_GEN, *templates({A.EC_PARAMS: params}))[0]
    assert_rv(rv, "CKR_ATTRIBUTE_VALUE_INVALID")


@pytest.mark.parametrize("bits", [1024, 1536, 4097, 8192])
def test_rsa_modulus_size_not_offered(keystead_only, raw, rsession, bits):
    """keystead makes 2048 to 4096 bits (SP 800-131A); 5.18 lists no size code, so a
    CKA_MODULUS_BITS the token cannot make is an invalid template value."""
    assert_rv(gen_rv(raw, rsession, RSA_GEN, *rsa_templates(bits))[0],
              "CKR_ATTRIBUTE_VALUE_INVALID")


@pytest.mark.parametrize("exponent", [b"\x01\x00\x00", b"\x01", b"", b"\x00"],
                         ids=["even", "one", "empty", "zero"])
def test_rsa_bad_public_exponent(raw, rsession, module, xfail_quirk, exponent):
    xfail_quirk(module, "rsa-bad-exponent-general-error")
    pub, priv = rsa_templates()
    pub[A.PUBLIC_EXPONENT] = exponent
    assert_rv(gen_rv(raw, rsession, RSA_GEN, pub, priv)[0], "CKR_ATTRIBUTE_VALUE_INVALID")


def test_class_or_key_type_against_the_mechanism(raw, rsession, module, xfail_quirk):
    """5.18: a key type or class in a template inconsistent with the mechanism."""
    xfail_quirk(module, "pair-class-mismatch-value-invalid")
    pub, priv = rsa_templates()
    for bad in ({A.KEY_TYPE: KeyType.EC}, {A.CLASS: ObjectClass.PRIVATE_KEY}):
        assert_rv(gen_rv(raw, rsession, RSA_GEN, {**pub, **bad}, priv)[0],
                  "CKR_TEMPLATE_INCONSISTENT")
    assert_rv(gen_rv(raw, rsession, RSA_GEN, pub, {**priv, A.CLASS: ObjectClass.PUBLIC_KEY})[0],
              "CKR_TEMPLATE_INCONSISTENT")


def test_attribute_of_the_other_key_is_inconsistent(raw, rsession, module, xfail_quirk):
    """CKA_MODULUS_BITS belongs to the public key (2.1.2), not the private one (2.1.3)."""
    xfail_quirk(module, "pair-template-foreign-attribute-type-invalid")
    pub, priv = rsa_templates()
    assert_rv(gen_rv(raw, rsession, RSA_GEN, pub, {**priv, A.MODULUS_BITS: 2048})[0],
              "CKR_TEMPLATE_INCONSISTENT")


@pytest.mark.parametrize("side,attr,value", [
    ("private", A.EC_PARAMS, P256_OID),   # 2.3.4 [4]
    ("public", A.EC_POINT, b"\x04\x01\x00"),  # 2.3.3 [4]
    ("private", A.VALUE, b"\x01" * 32),   # 2.3.4 [4]
    ("public", A.LOCAL, True),            # 4.7 [2,4,6]
    ("private", A.ALWAYS_SENSITIVE, True),
])
def test_attributes_the_generator_sets_are_read_only(raw, rsession, side, attr, value):
    pub, priv = templates({A.EC_PARAMS: P256_OID})
    (pub if side == "public" else priv)[attr] = value
    assert_rv(gen_rv(raw, rsession, EC_GEN, pub, priv)[0], "CKR_ATTRIBUTE_READ_ONLY")


def test_pair_mechanism_is_not_a_key_generator(raw, rsession):
    m = raw.mechanism(EC_GEN)
    t = raw.template({A.EC_PARAMS: P256_OID, A.TOKEN: False})
    h = raw.ffi.new("CK_OBJECT_HANDLE *")
    assert_rv(raw.call("C_GenerateKey", rsession, m.ptr, t.ptr, t.count, h),
              "CKR_MECHANISM_INVALID")
    with raises_rv("CKR_MECHANISM_INVALID"):
        raw.generate_key_pair(rsession, 0x1080, {A.VALUE_LEN: 16}, {})  # CKM_AES_KEY_GEN


def test_private_key_needs_login_and_no_half_pair(raw, public_session, module):
    pub, priv = templates({A.EC_PARAMS: P256_OID, A.LABEL: "half-pair"})
    assert_rv(gen_rv(raw, public_session, EC_GEN, pub, priv)[0], "CKR_USER_NOT_LOGGED_IN")
    assert raw.find_objects(public_session, {A.LABEL: "half-pair"}) == []


def test_token_pair_needs_rw_session(raw, module):
    h = raw.open_session(module.slot, rw=False)
    pub, priv = templates({A.EC_PARAMS: P256_OID})
    pub[A.TOKEN] = True
    assert_rv(gen_rv(raw, h, EC_GEN, pub, priv)[0], "CKR_SESSION_READ_ONLY")
    raw.close_all_sessions(module.slot)


def test_null_arguments(raw, rsession):
    m = raw.mechanism(EC_GEN)
    t = raw.template({A.EC_PARAMS: P256_OID})
    h = raw.ffi.new("CK_OBJECT_HANDLE *")
    null = raw.ffi.NULL
    assert_rv(raw.call("C_GenerateKeyPair", rsession, m.ptr, t.ptr, t.count, null, 0, null, h),
              "CKR_ARGUMENTS_BAD")
    assert_rv(raw.call("C_GenerateKeyPair", rsession, null, t.ptr, t.count, null, 0, h, h),
              "CKR_ARGUMENTS_BAD")


def test_concurrent_generation_makes_distinct_keys(keystead_only, raw, module):
    """Sessions generating at once (the kept generation context is shared under a trylock,
    crypto/pkey.c) each get their own, valid keys. keystead only: SoftHSMv2 2.6.1 measured
    here fails some of these calls (CKR_FUNCTION_FAILED) and once took the process down."""
    h0 = raw.open_session(module.slot, rw=True)
    raw.login(h0, CKU_USER, module.token.user_pin)

    def work(_: int) -> list[bytes]:
        h = raw.open_session(module.slot, rw=True)
        points = []
        for _ in range(20):
            hp, _hk = raw.generate_key_pair(h, EC_GEN, *templates({A.EC_PARAMS: P256_OID}))
            points.append(raw.get_attribute(h, hp, A.EC_POINT))
        return points

    try:
        with ThreadPoolExecutor(4) as pool:
            points = [p for batch in pool.map(work, range(4)) for p in batch]
    finally:
        raw.close_all_sessions(module.slot)
    assert len(set(points)) == 80
    for p in points:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), p[2:])
