"""Key-pair signatures through token/ops.h (C_Sign*, C_Verify* with the PKCS#8 or
SubjectPublicKeyInfo DER the token hands over): CKM_RSA_PKCS, CKM_SHA*_RSA_PKCS,
CKM_RSA_PKCS_PSS, CKM_SHA*_RSA_PKCS_PSS, CKM_ECDSA, CKM_ECDSA_SHA*, CKM_EDDSA.

Cross-checked with ``cryptography`` both ways (the token signs and cryptography verifies; the
reverse) for every mechanism, hash and curve, over messages of many lengths and multi-part
split points; the parameter rules of CK_RSA_PKCS_PSS_PARAMS and CK_EDDSA_PARAMS; the exact
verification codes (CKR_SIGNATURE_LEN_RANGE for a wrong length, CKR_SIGNATURE_INVALID for
every malformed, zero, out-of-range or wrong signature). The NIST CAVP vectors are in
test_ops_pkey_sign_cavp.py.
"""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from keystead.core import ffi, lib

from tests.native.ops_support import QUERY, SIGN, VERIFY, Op, mechanism, rng, splits
from tests.native.pkey_support import (
    CURVES,
    DIGEST_MECH,
    ECDSA,
    HASHES,
    MGF,
    ORDERS,
    RSA_PKCS,
    RSA_PSS,
    der_ecdsa,
    ec_key,
    ed_key,
    eddsa_mech,
    hash_of,
    pkcs8,
    pss_mech,
    raw_ecdsa,
    rsa_key,
    sign,
    signer,
    spki,
    verifier,
    verify,
)

LENGTHS = (0, 1, 31, 64, 65, 127, 1000, 4099)
OK = lib.CKR_OK


def _messages(seed: str) -> list[tuple[bytes, list[int]]]:
    """Messages of LENGTHS with random content and a random set of split points each."""
    r = rng(seed)
    out = []
    for n in LENGTHS:
        data = r.randbytes(n)
        cuts = sorted(r.sample(range(n + 1), min(3, n + 1)))
        out.append((data, cuts))
    return out


# ---- RSA PKCS#1 v1.5 ------------------------------------------------------------------


@pytest.mark.parametrize("hname", sorted(HASHES))
def test_rsa_pkcs_hashed_both_ways(hname: str) -> None:
    key = rsa_key()
    pub = key.public_key()
    mech = mechanism(RSA_PKCS[hname])
    for data, cuts in _messages(f"rsa-pkcs-{hname}"):
        rv, sig = sign(mech, key, data)
        assert rv == OK and len(sig) == 256
        # PKCS#1 v1.5 is deterministic: the token's signature is cryptography's.
        assert sig == key.sign(data, padding.PKCS1v15(), HASHES[hname]())
        pub.verify(sig, data, padding.PKCS1v15(), HASHES[hname]())
        rv, multi = sign(mech, key, data, parts=splits(data, cuts))
        assert (rv, multi) == (OK, sig)
        assert verify(mech, key, data, sig) == OK
        assert verify(mech, key, data, sig, parts=splits(data, cuts)) == OK
        assert verify(mech, key, data + b"x", sig) == lib.CKR_SIGNATURE_INVALID


DIGEST_INFO_PREFIX = {  # RFC 8017 9.2 note 1
    "SHA256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "SHA384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "SHA512": bytes.fromhex("3051300d060960864801650304020305000440"),
}


@pytest.mark.parametrize("hname", sorted(DIGEST_INFO_PREFIX))
def test_rsa_pkcs_raw_over_digest_info(hname: str) -> None:
    key = rsa_key()
    mech = mechanism(lib.CKM_RSA_PKCS)
    data = b"the message"
    digest = hash_of(hname, data)
    rv, sig = sign(mech, key, DIGEST_INFO_PREFIX[hname] + digest)
    assert rv == OK
    assert sig == key.sign(digest, padding.PKCS1v15(), utils.Prehashed(HASHES[hname]()))
    key.public_key().verify(sig, data, padding.PKCS1v15(), HASHES[hname]())
    other = key.sign(b"other", padding.PKCS1v15(), HASHES[hname]())
    assert verify(mech, key, DIGEST_INFO_PREFIX[hname] + digest, other) == \
        lib.CKR_SIGNATURE_INVALID
    assert verify(mech, key, DIGEST_INFO_PREFIX[hname] + digest, sig) == OK


def test_rsa_pkcs_raw_any_data_up_to_k_minus_11() -> None:
    key = rsa_key()
    pub = key.public_key()
    mech = mechanism(lib.CKM_RSA_PKCS)
    r = rng("raw-pkcs")
    for n in (0, 1, 100, 245):
        data = r.randbytes(n)
        rv, sig = sign(mech, key, data)
        assert rv == OK
        assert pub.recover_data_from_signature(sig, padding.PKCS1v15(), None) == data
        assert verify(mech, key, data, sig) == OK
    assert sign(mech, key, bytes(246)) == (lib.CKR_DATA_LEN_RANGE, b"")
    assert verify(mech, key, bytes(246), bytes(256)) == lib.CKR_DATA_LEN_RANGE


@pytest.mark.parametrize("mtype", [lib.CKM_RSA_PKCS, lib.CKM_RSA_PKCS_PSS, lib.CKM_ECDSA,
                                   lib.CKM_EDDSA])
def test_single_part_mechanisms_refuse_update(mtype: int) -> None:
    if mtype == lib.CKM_RSA_PKCS_PSS:
        mech, key = pss_mech(mtype, lib.CKM_SHA256, lib.CKG_MGF1_SHA256, 32), rsa_key()
    else:
        mech = mechanism(mtype)
        key = {lib.CKM_RSA_PKCS: rsa_key(), lib.CKM_ECDSA: ec_key("P-256"),
               lib.CKM_EDDSA: ed_key("Ed25519")}[mtype]
    with signer(mech, key) as op:
        assert op.feed(b"part") == lib.CKR_FUNCTION_NOT_SUPPORTED
        assert op.final(room=1024)[0] == lib.CKR_FUNCTION_NOT_SUPPORTED
    with verifier(mech, key) as op:
        assert op.feed(b"part") == lib.CKR_FUNCTION_NOT_SUPPORTED
        assert op.verify_final(bytes(64)) == lib.CKR_FUNCTION_NOT_SUPPORTED


def test_rsa_length_query_and_short_buffer() -> None:
    key = rsa_key()
    with signer(mechanism(lib.CKM_SHA256_RSA_PKCS), key) as op:
        assert op.oneshot(b"abc", room=QUERY) == (OK, b"", 256)
        assert op.oneshot(b"abc", room=255) == (lib.CKR_BUFFER_TOO_SMALL, b"", 256)
        rv, sig, n = op.oneshot(b"abc", room=256)
        assert rv == OK and n == 256
    key.public_key().verify(sig, b"abc", padding.PKCS1v15(), HASHES["SHA256"]())


def test_rsa_wrong_signature_length_and_malformed() -> None:
    key = rsa_key()
    mech = mechanism(lib.CKM_SHA256_RSA_PKCS)
    rv, sig = sign(mech, key, b"data")
    assert rv == OK
    assert verify(mech, key, b"data", sig[:-1]) == lib.CKR_SIGNATURE_LEN_RANGE
    assert verify(mech, key, b"data", sig + b"\0") == lib.CKR_SIGNATURE_LEN_RANGE
    assert verify(mech, key, b"data", b"") == lib.CKR_SIGNATURE_LEN_RANGE
    assert verify(mech, key, b"data", bytes(256)) == lib.CKR_SIGNATURE_INVALID
    assert verify(mech, key, b"data", b"\xff" * 256) == lib.CKR_SIGNATURE_INVALID  # >= n
    n = key.public_key().public_numbers().n
    assert verify(mech, key, b"data", n.to_bytes(256, "big")) == lib.CKR_SIGNATURE_INVALID
    flipped = bytes([sig[0] ^ 1]) + sig[1:]
    assert verify(mech, key, b"data", flipped) == lib.CKR_SIGNATURE_INVALID
    assert verify(mech, key, b"data", sig, parts=[b"da", b"ta"]) == OK
    assert verify(mech, key, b"data", sig[:-1], parts=[b"da", b"ta"]) == \
        lib.CKR_SIGNATURE_LEN_RANGE
    assert verify(mech, key, b"data", bytes(256), parts=[b"da", b"ta"]) == \
        lib.CKR_SIGNATURE_INVALID


# ---- RSA PSS --------------------------------------------------------------------------


@pytest.mark.parametrize("hname", sorted(HASHES))
def test_rsa_pss_hashed_both_ways(hname: str) -> None:
    key = rsa_key()
    pub = key.public_key()
    h = HASHES[hname]
    for mgf_name, salt in ((hname, h.digest_size), ("SHA1", 0), ("SHA512", 7)):
        mech = pss_mech(RSA_PSS[hname], DIGEST_MECH[hname], MGF[mgf_name], salt)
        pad = padding.PSS(mgf=padding.MGF1(HASHES[mgf_name]()), salt_length=salt)
        for data, cuts in _messages(f"pss-{hname}-{mgf_name}"):
            rv, sig = sign(mech, key, data)
            assert rv == OK and len(sig) == 256
            pub.verify(sig, data, pad, h())
            rv, multi = sign(mech, key, data, parts=splits(data, cuts))
            assert rv == OK
            pub.verify(multi, data, pad, h())
            theirs = key.sign(data, pad, h())
            assert verify(mech, key, data, theirs) == OK
            assert verify(mech, key, data, theirs, parts=splits(data, cuts)) == OK
            assert verify(mech, key, data[:-1] + b"?", theirs) == lib.CKR_SIGNATURE_INVALID


@pytest.mark.parametrize("hname", sorted(HASHES))
def test_rsa_pss_raw_over_hash(hname: str) -> None:
    key = rsa_key()
    h = HASHES[hname]
    salt = h.digest_size
    mech = pss_mech(lib.CKM_RSA_PKCS_PSS, DIGEST_MECH[hname], MGF[hname], salt)
    pad = padding.PSS(mgf=padding.MGF1(h()), salt_length=salt)
    digest = hash_of(hname, b"hashed elsewhere")
    rv, sig = sign(mech, key, digest)
    assert rv == OK
    key.public_key().verify(sig, b"hashed elsewhere", pad, h())
    theirs = key.sign(digest, pad, utils.Prehashed(h()))
    assert verify(mech, key, digest, theirs) == OK
    # The input is the hash of hashAlg, exactly: any other length is no such hash.
    assert sign(mech, key, digest + b"\0") == (lib.CKR_DATA_LEN_RANGE, b"")
    assert sign(mech, key, digest[:-1]) == (lib.CKR_DATA_LEN_RANGE, b"")
    assert verify(mech, key, digest[:-1], theirs) == lib.CKR_DATA_LEN_RANGE


def test_rsa_pss_salt_bounds() -> None:
    key = rsa_key()  # 2048 bits: emLen 256, so sLen <= 256 - 32 - 2 = 222 with SHA-256
    pad_max = padding.PSS(mgf=padding.MGF1(HASHES["SHA256"]()), salt_length=222)
    mech = pss_mech(lib.CKM_SHA256_RSA_PKCS_PSS, lib.CKM_SHA256, lib.CKG_MGF1_SHA256, 222)
    rv, sig = sign(mech, key, b"m")
    assert rv == OK
    key.public_key().verify(sig, b"m", pad_max, HASHES["SHA256"]())
    too_long = pss_mech(lib.CKM_SHA256_RSA_PKCS_PSS, lib.CKM_SHA256, lib.CKG_MGF1_SHA256, 223)
    assert signer(too_long, key).rv == lib.CKR_MECHANISM_PARAM_INVALID
    assert verifier(too_long, key).rv == lib.CKR_MECHANISM_PARAM_INVALID
    huge = pss_mech(lib.CKM_SHA256_RSA_PKCS_PSS, lib.CKM_SHA256, lib.CKG_MGF1_SHA256, 2**63)
    assert signer(huge, key).rv == lib.CKR_MECHANISM_PARAM_INVALID


def test_rsa_pss_parameter_rules() -> None:
    key = rsa_key()
    bad = lib.CKR_MECHANISM_PARAM_INVALID
    cases = [
        mechanism(lib.CKM_SHA256_RSA_PKCS_PSS),  # the parameter is required
        mechanism(lib.CKM_RSA_PKCS_PSS),
        mechanism(lib.CKM_SHA256_RSA_PKCS_PSS, bytes(8)),  # wrong size
        mechanism(lib.CKM_SHA256_RSA_PKCS_PSS, bytes(25)),
        # hashAlg must be the mechanism's own hash for the hashed variants
        pss_mech(lib.CKM_SHA256_RSA_PKCS_PSS, lib.CKM_SHA384, lib.CKG_MGF1_SHA256, 32),
        pss_mech(lib.CKM_SHA1_RSA_PKCS_PSS, lib.CKM_SHA256, lib.CKG_MGF1_SHA1, 20),
        # hashAlg a digest mechanism keystead has; mgf a generator keystead has
        pss_mech(lib.CKM_RSA_PKCS_PSS, lib.CKM_SHA256_HMAC, lib.CKG_MGF1_SHA256, 32),
        pss_mech(lib.CKM_RSA_PKCS_PSS, 0x12345, lib.CKG_MGF1_SHA256, 32),
        pss_mech(lib.CKM_RSA_PKCS_PSS, lib.CKM_SHA256, 0, 32),
        pss_mech(lib.CKM_RSA_PKCS_PSS, lib.CKM_SHA256, lib.CKG_MGF1_SHA3_224, 32),
        pss_mech(lib.CKM_RSA_PKCS_PSS, lib.CKM_SHA256, 99, 32),
    ]
    for mech in cases:
        assert signer(mech, key).rv == bad
        assert verifier(mech, key).rv == bad


def test_rsa_pkcs_takes_no_parameter() -> None:
    for mtype in (lib.CKM_RSA_PKCS, lib.CKM_SHA256_RSA_PKCS):
        assert signer(mechanism(mtype, bytes(8)), rsa_key()).rv == \
            lib.CKR_MECHANISM_PARAM_INVALID


# ---- ECDSA ----------------------------------------------------------------------------


@pytest.mark.parametrize("curve", sorted(CURVES))
@pytest.mark.parametrize("hname", sorted(HASHES))
def test_ecdsa_hashed_both_ways(curve: str, hname: str) -> None:
    key = ec_key(curve)
    pub = key.public_key()
    field = (ORDERS[curve].bit_length() + 7) // 8
    mech = mechanism(ECDSA[hname])
    h = HASHES[hname]
    for data, cuts in _messages(f"ecdsa-{curve}-{hname}")[:5]:
        rv, sig = sign(mech, key, data)
        assert rv == OK and len(sig) == 2 * field
        pub.verify(der_ecdsa(sig), data, ec.ECDSA(h()))
        rv, multi = sign(mech, key, data, parts=splits(data, cuts))
        assert rv == OK
        pub.verify(der_ecdsa(multi), data, ec.ECDSA(h()))
        theirs = raw_ecdsa(key.sign(data, ec.ECDSA(h())), curve)
        assert verify(mech, key, data, theirs) == OK
        assert verify(mech, key, data, theirs, parts=splits(data, cuts)) == OK
        assert verify(mech, key, data + b"!", theirs) == lib.CKR_SIGNATURE_INVALID


@pytest.mark.parametrize("curve", sorted(CURVES))
def test_ecdsa_raw_hash_of_any_length(curve: str) -> None:
    """CKM_ECDSA signs a hash of any length, truncated to the order's bit length (the
    order of P-256 and P-384 is a whole number of bytes, so that is the leading bytes)."""
    key = ec_key(curve)
    pub = key.public_key()
    mech = mechanism(lib.CKM_ECDSA)
    r = rng(f"ecdsa-raw-{curve}")
    for hname in sorted(HASHES):
        digest = hash_of(hname, r.randbytes(40))
        rv, sig = sign(mech, key, digest)
        assert rv == OK
        pub.verify(der_ecdsa(sig), digest, ec.ECDSA(utils.Prehashed(HASHES[hname]())))
        theirs = raw_ecdsa(key.sign(digest, ec.ECDSA(utils.Prehashed(HASHES[hname]()))), curve)
        assert verify(mech, key, digest, theirs) == OK
    if curve != "P-521":
        n = ORDERS[curve].bit_length() // 8
        long_input = r.randbytes(n + 37)
        rv, sig = sign(mech, key, long_input)
        assert rv == OK
        head = long_input[:n]
        hname = {32: "SHA256", 48: "SHA384"}[n]
        pub.verify(der_ecdsa(sig), head, ec.ECDSA(utils.Prehashed(HASHES[hname]())))
        assert verify(mech, key, head, sig) == OK
    for n in (0, 1, 7):  # short inputs are small integers: still signatures
        data = r.randbytes(n)
        rv, sig = sign(mech, key, data)
        assert rv == OK
        assert verify(mech, key, data, sig) == OK


@pytest.mark.parametrize("curve", sorted(CURVES))
def test_ecdsa_bad_signatures(curve: str) -> None:
    key = ec_key(curve)
    mech = mechanism(lib.CKM_ECDSA_SHA256)
    order = ORDERS[curve]
    field = (order.bit_length() + 7) // 8
    rv, sig = sign(mech, key, b"msg")
    assert rv == OK
    r_val, s_val = int.from_bytes(sig[:field], "big"), int.from_bytes(sig[field:], "big")

    def raw(r_: int, s_: int) -> bytes:
        return r_.to_bytes(field, "big") + s_.to_bytes(field, "big")
    invalid = lib.CKR_SIGNATURE_INVALID
    assert verify(mech, key, b"msg", sig) == OK
    assert verify(mech, key, b"msg", sig[:-1]) == lib.CKR_SIGNATURE_LEN_RANGE
    assert verify(mech, key, b"msg", sig + b"\0") == lib.CKR_SIGNATURE_LEN_RANGE
    assert verify(mech, key, b"msg", b"") == lib.CKR_SIGNATURE_LEN_RANGE
    assert verify(mech, key, b"msg", bytes(2 * field)) == invalid  # r = s = 0
    assert verify(mech, key, b"msg", raw(0, s_val)) == invalid
    assert verify(mech, key, b"msg", raw(r_val, 0)) == invalid
    # Out of range (s or r at or above the order: the "high" values SEC 1 4.1.4 step 1
    # rejects), and everything set.
    top = 1 << (8 * field)
    for r_bad, s_bad in ((r_val, order), (order, s_val), (r_val, s_val + order),
                         (r_val + order, s_val), (r_val, top - 1)):
        if r_bad < top and s_bad < top:
            assert verify(mech, key, b"msg", raw(r_bad, s_bad)) == invalid
    assert verify(mech, key, b"msg", b"\xff" * (2 * field)) == invalid
    assert verify(mech, key, b"msg", raw(r_val ^ 1, s_val)) == invalid
    # n - s is the other valid s of the same signature (ECDSA's malleability): it verifies.
    assert verify(mech, key, b"msg", raw(r_val, order - s_val)) == OK


def test_ecdsa_wrong_curve_key() -> None:
    """A signature made under one curve's key does not verify under another's, and its
    length is the other curve's: CKR_SIGNATURE_LEN_RANGE."""
    mech = mechanism(lib.CKM_ECDSA_SHA256)
    rv, sig = sign(mech, ec_key("P-256"), b"msg")
    assert rv == OK
    assert verify(mech, ec_key("P-384"), b"msg", sig) == lib.CKR_SIGNATURE_LEN_RANGE
    other = ec.generate_private_key(ec.SECP256R1())
    assert verify(mech, other, b"msg", sig) == lib.CKR_SIGNATURE_INVALID


def test_ecdsa_curve_not_supported() -> None:
    key = ec.generate_private_key(ec.SECP256K1())
    assert signer(mechanism(lib.CKM_ECDSA), key).rv == lib.CKR_CURVE_NOT_SUPPORTED
    assert verifier(mechanism(lib.CKM_ECDSA), key).rv == lib.CKR_CURVE_NOT_SUPPORTED


# ---- EdDSA ----------------------------------------------------------------------------


@pytest.mark.parametrize("curve", ["Ed25519", "Ed448"])
def test_eddsa_both_ways(curve: str) -> None:
    key = ed_key(curve)
    pub = key.public_key()
    size = 64 if curve == "Ed25519" else 114
    mech = mechanism(lib.CKM_EDDSA)
    for data, _ in _messages(f"eddsa-{curve}"):
        rv, sig = sign(mech, key, data)
        assert rv == OK and len(sig) == size
        assert sig == key.sign(data)  # PureEdDSA is deterministic
        pub.verify(sig, data)
        assert verify(mech, key, data, key.sign(data)) == OK
        assert verify(mech, key, data + b"x", sig) == lib.CKR_SIGNATURE_INVALID
        assert verify(mech, key, data, sig[:-1]) == lib.CKR_SIGNATURE_LEN_RANGE
    assert verify(mech, key, b"m", bytes(size)) == lib.CKR_SIGNATURE_INVALID
    assert verify(mech, key, b"m", b"\xff" * size) == lib.CKR_SIGNATURE_INVALID


def test_eddsa_parameters() -> None:
    bad = lib.CKR_MECHANISM_PARAM_INVALID
    ed448, ed25519 = ed_key("Ed448"), ed_key("Ed25519")
    # Ed448 with phFlag false and no context is pure Ed448.
    rv, sig = sign(eddsa_mech(False, b""), ed448, b"m")
    assert rv == OK
    ed448.public_key().verify(sig, b"m")
    # Ed25519ctx, Ed25519ph, Ed448ph and Ed448 contexts: not in the linked libcrypto.
    for key, ph, ctx in ((ed25519, False, b""), (ed25519, False, b"ctx"), (ed25519, True, b""),
                         (ed448, True, b""), (ed448, False, b"ctx")):
        assert signer(eddsa_mech(ph, ctx), key).rv == bad
        assert verifier(eddsa_mech(ph, ctx), key).rv == bad
    # Malformed: wrong size, context pointer missing, context too long.
    assert signer(mechanism(lib.CKM_EDDSA, bytes(4)), ed448).rv == bad
    m = eddsa_mech(False, b"")
    p = ffi.cast("CK_EDDSA_PARAMS *", m.ptr.pParameter)
    p.ulContextDataLen = 3
    assert signer(m, ed448).rv == bad
    assert signer(eddsa_mech(False, bytes(256)), ed448).rv == bad


# ---- keys -----------------------------------------------------------------------------


def test_key_of_another_algorithm_or_garbage() -> None:
    inconsistent = lib.CKR_KEY_TYPE_INCONSISTENT
    # The registry: the key type must be one the mechanism takes.
    assert Op(SIGN, mechanism(lib.CKM_ECDSA), pkcs8(rsa_key()), lib.CKK_RSA).rv == inconsistent
    # The family: the parsed key must be of the mechanism's algorithm.
    assert Op(SIGN, mechanism(lib.CKM_ECDSA), pkcs8(rsa_key()), lib.CKK_EC).rv == inconsistent
    assert Op(VERIFY, mechanism(lib.CKM_EDDSA), spki(rsa_key()),
              lib.CKK_EC_EDWARDS).rv == inconsistent
    assert Op(SIGN, mechanism(lib.CKM_EDDSA), pkcs8(ec_key("P-256")),
              lib.CKK_EC_EDWARDS).rv == inconsistent
    assert Op(SIGN, mechanism(lib.CKM_ECDSA), pkcs8(ed_key("Ed25519")),
              lib.CKK_EC).rv == inconsistent
    # A value that is no key (the token never stores one: the object rules parse it).
    assert Op(SIGN, mechanism(lib.CKM_ECDSA), b"\x30\x03\x02\x01\x00", lib.CKK_EC).rv == \
        inconsistent
    der = pkcs8(ec_key("P-256"))
    assert Op(SIGN, mechanism(lib.CKM_ECDSA), der + b"\0", lib.CKK_EC).rv == inconsistent
    # A public key cannot sign, a private key's DER is no SubjectPublicKeyInfo.
    assert Op(SIGN, mechanism(lib.CKM_ECDSA), spki(ec_key("P-256")), lib.CKK_EC).rv == \
        inconsistent
    assert Op(VERIFY, mechanism(lib.CKM_ECDSA), der, lib.CKK_EC).rv == inconsistent


def test_signature_cross_key_never_verifies() -> None:
    mech = mechanism(lib.CKM_SHA256_RSA_PKCS)
    rv, sig = sign(mech, rsa_key(), b"m")
    assert rv == OK
    assert verify(mech, rsa_key(3072), b"m", sig) == lib.CKR_SIGNATURE_LEN_RANGE


def test_pkcs8_of_rsa_3072_and_4096_bits() -> None:
    for bits in (3072, 4096):
        key = rsa_key(bits)
        mech = mechanism(lib.CKM_SHA384_RSA_PKCS)
        rv, sig = sign(mech, key, b"big")
        assert rv == OK and len(sig) == bits // 8
        key.public_key().verify(sig, b"big", padding.PKCS1v15(), HASHES["SHA384"]())


def test_crypto_verify_rejects_what_cryptography_rejects() -> None:
    """Sanity of the helpers themselves: a flipped signature fails in cryptography too."""
    key = ec_key("P-256")
    rv, sig = sign(mechanism(lib.CKM_ECDSA_SHA256), key, b"m")
    assert rv == OK
    with pytest.raises(InvalidSignature):
        key.public_key().verify(der_ecdsa(sig[:-1] + bytes([sig[-1] ^ 1])), b"m",
                                ec.ECDSA(HASHES["SHA256"]()))


def test_rsa_1024_is_the_family_floor() -> None:
    # The family takes RSA keys from 1024 bits (the legacy floor); whether a 1024-bit key may
    # be used is the configuration's (legacy_mechanisms), which the guard applies before any
    # operation starts (tests/conformance/test_legacy.py: CKR_KEY_SIZE_RANGE with it off).
    small = rsa.generate_private_key(65537, 1024)
    assert signer(mechanism(lib.CKM_SHA256_RSA_PKCS), small).rv == lib.CKR_OK
    assert verifier(mechanism(lib.CKM_SHA256_RSA_PKCS), small).rv == lib.CKR_OK


def test_prepared_key_shared_by_operations() -> None:
    """A prepared key (the object cache's) handed over as its EVP_PKEY in ks_key_ref.pkey:
    every operation takes its own reference, so the key outlives the cache's and each
    operation's drop."""
    key = ec_key("P-256")
    der = pkcs8(key)
    buf = ffi.new("uint8_t[]", der)
    pk = lib.ks_pkey_prepare(buf, len(der), 1)
    assert pk != ffi.NULL
    assert lib.ks_pkey_prepare(buf, len(der) - 1, 1) == ffi.NULL  # not the whole DER
    assert lib.ks_pkey_prepare(buf, len(der), 0) == ffi.NULL  # no SubjectPublicKeyInfo
    ops = []
    for _ in range(3):
        ref = ffi.new("ks_key_ref *", {"type": lib.CKK_EC, "value": ffi.NULL, "len": 0,
                                       "pkey": lib.ks_pkey_evp(pk)})
        holder = ffi.new("ks_op **")
        assert lib.ks_op_new(holder, SIGN, mechanism(lib.CKM_ECDSA_SHA256).ptr, ref) == OK
        ops.append(holder[0])
    lib.ks_pkey_free(pk)  # the cache drops its reference: the operations keep theirs
    out, n = ffi.new("uint8_t[]", 64), ffi.new("CK_ULONG *")
    for op in ops:
        n[0] = 64
        assert lib.ks_op_oneshot(op, out, n, b"msg", 3) == OK
        key.public_key().verify(der_ecdsa(bytes(out[0:64])), b"msg", ec.ECDSA(HASHES["SHA256"]()))
        lib.ks_op_free(op)


@pytest.mark.parametrize("curve", ["P-256", "Ed25519"])
def test_prepared_key_used_by_threads_at_once(curve: str) -> None:
    """Four threads sign and verify with one prepared key at once (cffi releases the GIL in
    each call): the contexts the key keeps are shared read-only, each operation copies its
    own. Every signature verifies; started together on a barrier, no timing assumed."""
    import threading

    key = ec_key(curve) if curve.startswith("P-") else ed_key(curve)
    mtype = lib.CKM_ECDSA_SHA256 if curve.startswith("P-") else lib.CKM_EDDSA
    ktype = lib.CKK_EC if curve.startswith("P-") else lib.CKK_EC_EDWARDS
    der, pub_der = pkcs8(key), spki(key)
    bufs = [ffi.new("uint8_t[]", der), ffi.new("uint8_t[]", pub_der)]
    pk = lib.ks_pkey_prepare(bufs[0], len(der), 1)
    pub = lib.ks_pkey_prepare(bufs[1], len(pub_der), 0)
    barrier, failures = threading.Barrier(4), []

    def work(seed: int) -> None:
        mech = mechanism(mtype)
        out, n, holder = ffi.new("uint8_t[]", 128), ffi.new("CK_ULONG *"), ffi.new("ks_op **")
        barrier.wait()
        for i in range(50):
            data = f"{seed}-{i}".encode()
            ref = ffi.new("ks_key_ref *", {"type": ktype, "pkey": lib.ks_pkey_evp(pk)})
            if lib.ks_op_new(holder, SIGN, mech.ptr, ref) != OK:
                failures.append("sign init")
                return
            n[0] = 128
            rv = lib.ks_op_oneshot(holder[0], out, n, data, len(data))
            lib.ks_op_free(holder[0])
            sig = bytes(out[0:n[0]])
            vref = ffi.new("ks_key_ref *", {"type": ktype, "pkey": lib.ks_pkey_evp(pub)})
            ok = lib.ks_op_new(holder, VERIFY, mech.ptr, vref) == OK
            ok = ok and lib.ks_op_verify(holder[0], data, len(data), sig, len(sig)) == OK
            lib.ks_op_free(holder[0])
            if rv != OK or not ok:
                failures.append((seed, i, rv))
    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lib.ks_pkey_free(pk)
    lib.ks_pkey_free(pub)
    assert failures == []


def test_the_evp_pkey_handed_over_finds_its_prepared_key() -> None:
    """The EVP_PKEY the token hands over (ks_key_ref.pkey) leads back to its prepared key and
    signs; the prepared key is freed with the last reference, the operation's."""
    key = ec_key("P-384")
    der = pkcs8(key)
    buf = ffi.new("uint8_t[]", der)
    pk = lib.ks_pkey_prepare(buf, len(der), 1)
    evp = lib.ks_pkey_evp(pk)
    ref = ffi.new("ks_key_ref *", {"type": lib.CKK_EC, "pkey": evp})
    holder = ffi.new("ks_op **")
    assert lib.ks_op_new(holder, SIGN, mechanism(lib.CKM_ECDSA_SHA384).ptr, ref) == OK
    out, n = ffi.new("uint8_t[]", 96), ffi.new("CK_ULONG *", 96)
    assert lib.ks_op_oneshot(holder[0], out, n, b"m", 1) == OK and n[0] == 96
    lib.ks_op_free(holder[0])
    key.public_key().verify(der_ecdsa(bytes(out[0:96])), b"m", ec.ECDSA(HASHES["SHA384"]()))
    lib.ks_pkey_free(pk)
