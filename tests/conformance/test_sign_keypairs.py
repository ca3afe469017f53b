"""Key-pair signatures through PKCS#11 (base 5.11-5.13; mechanisms 2.1.6-2.1.11 RSA PKCS#1
v1.5 and PSS, 2.3.6-2.3.7 ECDSA, 2.3.14 EdDSA), against keystead and SoftHSMv2: keys made
with ``cryptography`` and imported with C_CreateObject, signatures checked both ways (the
token signs and cryptography verifies, and the reverse), single- and multi-part, the
parameter rules, the exact verification codes and the key-class rules.
"""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils
from keystead.softhsm_bridge.ck import Mechanism as M

from .keypair_support import (
    ec_key,
    ed_key,
    eddsa_param,
    import_pair,
    private_template,
    pss_param,
    rsa_key,
    sign,
    verify,
)
from .support import assert_rv, raises_rv

SHA = {"SHA1": hashes.SHA1, "SHA224": hashes.SHA224, "SHA256": hashes.SHA256,
       "SHA384": hashes.SHA384, "SHA512": hashes.SHA512}
DIGEST = {"SHA1": M.SHA_1, "SHA224": M.SHA224, "SHA256": M.SHA256, "SHA384": M.SHA384,
          "SHA512": M.SHA512}
MGF1 = {"SHA1": 1, "SHA256": 2, "SHA384": 3, "SHA512": 4, "SHA224": 5}  # CKG_MGF1_*
RSA_PKCS = {"SHA1": M.SHA1_RSA_PKCS, "SHA224": M.SHA224_RSA_PKCS, "SHA256": M.SHA256_RSA_PKCS,
            "SHA384": M.SHA384_RSA_PKCS, "SHA512": M.SHA512_RSA_PKCS}
RSA_PSS = {"SHA1": M.SHA1_RSA_PKCS_PSS, "SHA224": M.SHA224_RSA_PKCS_PSS,
           "SHA256": M.SHA256_RSA_PKCS_PSS, "SHA384": M.SHA384_RSA_PKCS_PSS,
           "SHA512": M.SHA512_RSA_PKCS_PSS}
ECDSA = {"SHA1": M.ECDSA_SHA1, "SHA224": M.ECDSA_SHA224, "SHA256": M.ECDSA_SHA256,
         "SHA384": M.ECDSA_SHA384, "SHA512": M.ECDSA_SHA512}
MESSAGES = [b"", b"a", bytes(range(256)) * 3 + b"tail"]


def _parts(data: bytes) -> list[bytes]:
    third = len(data) // 3
    return [data[:third], data[third:2 * third], data[2 * third:]]


def _raw_sig(der: bytes, field: int) -> bytes:
    r, s = utils.decode_dss_signature(der)
    return r.to_bytes(field, "big") + s.to_bytes(field, "big")


def _der_sig(raw_sig: bytes) -> bytes:
    half = len(raw_sig) // 2
    return utils.encode_dss_signature(int.from_bytes(raw_sig[:half], "big"),
                                      int.from_bytes(raw_sig[half:], "big"))


def _hashes(table: dict[str, int]) -> list[object]:
    """The hash names, each marked as requiring its mechanism of ``table``."""
    return [pytest.param(h, marks=pytest.mark.requires(table[h]), id=h) for h in sorted(table)]


@pytest.mark.parametrize("hname", _hashes(RSA_PKCS))
def test_rsa_pkcs1_both_ways(raw, rsession, hname):
    mech = RSA_PKCS[hname]
    key = rsa_key()
    priv, pub = import_pair(raw, rsession, key)
    for data in MESSAGES:
        sig = sign(raw, rsession, mech, priv, data)
        assert sig == key.sign(data, padding.PKCS1v15(), SHA[hname]())  # deterministic
        assert sign(raw, rsession, mech, priv, data, parts=_parts(data)) == sig
        assert_rv(verify(raw, rsession, mech, pub, data, sig), "CKR_OK")
        assert_rv(verify(raw, rsession, mech, pub, data, sig, parts=_parts(data)), "CKR_OK")
        assert_rv(verify(raw, rsession, mech, pub, data + b"!", sig), "CKR_SIGNATURE_INVALID")


@pytest.mark.requires(M.RSA_PKCS)
def test_rsa_pkcs_raw_digest_info(raw, rsession):
    key = rsa_key()
    priv, pub = import_pair(raw, rsession, key)
    digest = hashlib.sha256(b"message").digest()
    info = bytes.fromhex("3031300d060960864801650304020105000420") + digest
    sig = sign(raw, rsession, M.RSA_PKCS, priv, info)
    key.public_key().verify(sig, b"message", padding.PKCS1v15(), hashes.SHA256())
    assert_rv(verify(raw, rsession, M.RSA_PKCS, pub, info, sig), "CKR_OK")


@pytest.mark.requires(M.RSA_PKCS, M.RSA_PKCS_PSS)
@pytest.mark.parametrize("case", ["pkcs-over-k-11", "pss-not-the-hash-length"])
def test_raw_input_too_long(module, raw, rsession, case, xfail_quirk):
    xfail_quirk(module, "sign-data-len-general-error")
    priv, _ = import_pair(raw, rsession, rsa_key())
    if case == "pkcs-over-k-11":
        mech, param, data = M.RSA_PKCS, None, bytes(256 - 10)
    else:
        mech, param = M.RSA_PKCS_PSS, pss_param(raw, M.SHA384, MGF1["SHA384"], 48)
        data = bytes(47)
    with raises_rv("CKR_DATA_LEN_RANGE"):
        sign(raw, rsession, mech, priv, data, param)


@pytest.mark.parametrize("hname", _hashes(RSA_PSS))
def test_rsa_pss_both_ways(raw, rsession, hname):
    mech = RSA_PSS[hname]
    key = rsa_key()
    priv, pub = import_pair(raw, rsession, key)
    h = SHA[hname]
    param = pss_param(raw, DIGEST[hname], MGF1[hname], h.digest_size)
    pad = padding.PSS(padding.MGF1(h()), h.digest_size)
    for data in MESSAGES:
        sig = sign(raw, rsession, mech, priv, data, param)
        key.public_key().verify(sig, data, pad, h())
        multi = sign(raw, rsession, mech, priv, data, param, parts=_parts(data))
        key.public_key().verify(multi, data, pad, h())
        theirs = key.sign(data, pad, h())
        assert_rv(verify(raw, rsession, mech, pub, data, theirs, param), "CKR_OK")
        assert_rv(verify(raw, rsession, mech, pub, data, theirs, param, parts=_parts(data)),
                  "CKR_OK")


@pytest.mark.requires(M.RSA_PKCS_PSS)
def test_rsa_pss_raw_hash(raw, rsession):
    key = rsa_key()
    priv, pub = import_pair(raw, rsession, key)
    digest = hashlib.sha384(b"hashed outside").digest()
    param = pss_param(raw, M.SHA384, MGF1["SHA384"], 48)
    sig = sign(raw, rsession, M.RSA_PKCS_PSS, priv, digest, param)
    key.public_key().verify(sig, b"hashed outside",
                            padding.PSS(padding.MGF1(hashes.SHA384()), 48), hashes.SHA384())
    assert_rv(verify(raw, rsession, M.RSA_PKCS_PSS, pub, digest, sig, param), "CKR_OK")


@pytest.mark.requires(M.SHA256_RSA_PKCS_PSS)
@pytest.mark.parametrize("case", ["missing", "short", "hash-mismatch", "bad-mgf", "salt-too-long"])
def test_rsa_pss_parameter_invalid(module, raw, rsession, case, xfail_quirk):
    xfail_quirk(module, "pss-param-code")
    priv, _ = import_pair(raw, rsession, rsa_key())
    param = {
        "missing": None,
        "short": b"\0" * 8,
        "hash-mismatch": pss_param(raw, M.SHA512, MGF1["SHA256"], 32),
        "bad-mgf": pss_param(raw, M.SHA256, 0x99, 32),
        "salt-too-long": pss_param(raw, M.SHA256, MGF1["SHA256"], 256 - 32 - 1),
    }[case]
    m = raw.mechanism(M.SHA256_RSA_PKCS_PSS, param)
    rv = raw.call("C_SignInit", rsession, m.ptr, priv)
    if rv == 0:  # a module that checks the salt only when it signs
        rv = raw.call_out("C_Sign", rsession, b"data", 4, capacity=512)[0]
    assert_rv(rv, "CKR_MECHANISM_PARAM_INVALID")


@pytest.mark.parametrize("curve", ["P-256", "P-384", "P-521"])
@pytest.mark.parametrize("hname", _hashes(ECDSA))
def test_ecdsa_hashed_both_ways(raw, rsession, curve, hname):
    mech = ECDSA[hname]
    key = ec_key(curve)
    field = (key.curve.key_size + 7) // 8
    priv, pub = import_pair(raw, rsession, key)
    for data in MESSAGES:
        sig = sign(raw, rsession, mech, priv, data)
        assert len(sig) == 2 * field
        key.public_key().verify(_der_sig(sig), data, ec.ECDSA(SHA[hname]()))
        multi = sign(raw, rsession, mech, priv, data, parts=_parts(data))
        key.public_key().verify(_der_sig(multi), data, ec.ECDSA(SHA[hname]()))
        theirs = _raw_sig(key.sign(data, ec.ECDSA(SHA[hname]())), field)
        assert_rv(verify(raw, rsession, mech, pub, data, theirs), "CKR_OK")


@pytest.mark.requires(M.ECDSA)
@pytest.mark.parametrize("curve", ["P-256", "P-384", "P-521"])
def test_ecdsa_raw_both_ways(raw, rsession, curve):
    key = ec_key(curve)
    field = (key.curve.key_size + 7) // 8
    priv, pub = import_pair(raw, rsession, key)
    for hname in ("SHA256", "SHA384", "SHA512"):
        digest = hashlib.new(hname.lower(), b"message").digest()
        pre = ec.ECDSA(utils.Prehashed(SHA[hname]()))
        sig = sign(raw, rsession, M.ECDSA, priv, digest)
        assert len(sig) == 2 * field
        key.public_key().verify(_der_sig(sig), digest, pre)
        theirs = _raw_sig(key.sign(digest, pre), field)
        assert_rv(verify(raw, rsession, M.ECDSA, pub, digest, theirs), "CKR_OK")


@pytest.mark.requires(M.ECDSA)
def test_ecdsa_bad_signatures(raw, rsession):
    key = ec_key("P-256")
    priv, pub = import_pair(raw, rsession, key)
    digest = hashlib.sha256(b"m").digest()
    sig = sign(raw, rsession, M.ECDSA, priv, digest)
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    r = sig[:32]
    assert_rv(verify(raw, rsession, M.ECDSA, pub, digest, sig[:-1]), "CKR_SIGNATURE_LEN_RANGE")
    assert_rv(verify(raw, rsession, M.ECDSA, pub, digest, sig + b"\0"),
              "CKR_SIGNATURE_LEN_RANGE")
    for bad in (bytes(64), r + bytes(32), bytes(32) + sig[32:], r + order.to_bytes(32, "big"),
                b"\xff" * 64, sig[:-1] + bytes([sig[-1] ^ 1])):
        assert_rv(verify(raw, rsession, M.ECDSA, pub, digest, bad), "CKR_SIGNATURE_INVALID")


@pytest.mark.requires(M.EDDSA)
@pytest.mark.parametrize("curve", ["Ed25519", "Ed448"])
def test_eddsa_both_ways(raw, rsession, curve):
    key = ed_key(curve)
    priv, pub = import_pair(raw, rsession, key)
    for data in MESSAGES:
        sig = sign(raw, rsession, M.EDDSA, priv, data)
        assert sig == key.sign(data)  # PureEdDSA is deterministic
        assert_rv(verify(raw, rsession, M.EDDSA, pub, data, key.sign(data)), "CKR_OK")
        assert_rv(verify(raw, rsession, M.EDDSA, pub, data + b"x", sig),
                  "CKR_SIGNATURE_INVALID")
    assert_rv(verify(raw, rsession, M.EDDSA, pub, b"m", bytes(len(sig) - 1)),
              "CKR_SIGNATURE_LEN_RANGE")


@pytest.mark.requires(M.EDDSA)
def test_eddsa_ed25519ph_or_ctx_refused(module, raw, rsession, xfail_quirk):
    """keystead's libcrypto has no Ed25519ctx/Ed25519ph: their CK_EDDSA_PARAMS are refused
    at C_SignInit (a module that can run them would answer CKR_OK)."""
    if module.kind != "keystead":
        pytest.skip("what a module's libcrypto can run is its own: the rule is keystead's")
    priv, _ = import_pair(raw, rsession, ed_key("Ed25519"))
    for ph, ctx in ((True, b""), (False, b"context")):
        p, buf = eddsa_param(raw, ph, ctx)
        m = raw.mechanism(M.EDDSA, p)
        m.keep.append(buf)
        assert_rv(raw.call("C_SignInit", rsession, m.ptr, priv), "CKR_MECHANISM_PARAM_INVALID")


@pytest.mark.requires(M.RSA_PKCS, M.ECDSA, M.EDDSA)
@pytest.mark.parametrize("mech", [M.RSA_PKCS, M.ECDSA, M.EDDSA], ids=["rsa", "ecdsa", "eddsa"])
def test_single_part_mechanisms_refuse_update(module, raw, rsession, mech, xfail_quirk):
    key = {M.RSA_PKCS: rsa_key(), M.ECDSA: ec_key("P-256"), M.EDDSA: ed_key("Ed25519")}[mech]
    priv, _ = import_pair(raw, rsession, key)
    xfail_quirk(module, "single-part-update-not-initialized")
    raw.op_init("Sign", rsession, mech, priv)
    assert_rv(raw.call("C_SignUpdate", rsession, b"part", 4), "CKR_FUNCTION_NOT_SUPPORTED")


@pytest.mark.requires(M.SHA256_RSA_PKCS)
def test_length_query_and_short_buffer(raw, rsession):
    priv, _ = import_pair(raw, rsession, rsa_key())
    raw.op_init("Sign", rsession, M.SHA256_RSA_PKCS, priv)
    rv, _, n = raw.call_out("C_Sign", rsession, b"abc", 3, capacity=None)
    assert (rv, n) == (0, 256)
    rv, _, n = raw.call_out("C_Sign", rsession, b"abc", 3, capacity=255)
    assert_rv(rv, "CKR_BUFFER_TOO_SMALL")
    assert n == 256
    rv, sig, n = raw.call_out("C_Sign", rsession, b"abc", 3, capacity=256)
    assert rv == 0 and n == 256 and len(sig) == 256


@pytest.mark.requires(M.SHA256_RSA_PKCS)
def test_rsa_wrong_length_and_malformed(raw, rsession):
    priv, pub = import_pair(raw, rsession, rsa_key())
    sig = sign(raw, rsession, M.SHA256_RSA_PKCS, priv, b"data")
    assert_rv(verify(raw, rsession, M.SHA256_RSA_PKCS, pub, b"data", sig[:-1]),
              "CKR_SIGNATURE_LEN_RANGE")
    assert_rv(verify(raw, rsession, M.SHA256_RSA_PKCS, pub, b"data", sig + b"\0"),
              "CKR_SIGNATURE_LEN_RANGE")
    for bad in (bytes(256), b"\xff" * 256, bytes([sig[0] ^ 0x80]) + sig[1:]):
        assert_rv(verify(raw, rsession, M.SHA256_RSA_PKCS, pub, b"data", bad),
                  "CKR_SIGNATURE_INVALID")


@pytest.mark.requires(M.SHA256_RSA_PKCS)
def test_key_class_per_operation(raw, rsession):
    """Signing takes the private key and verifying the public one (mechanisms 2.1.8). The
    spec names no code for a key of the other class: a public key has no CKA_SIGN
    (CKR_KEY_FUNCTION_NOT_PERMITTED, SoftHSMv2's answer) and is not the kind of key the
    operation takes (CKR_KEY_TYPE_INCONSISTENT, keystead's); either is accepted. A private
    key whose CKA_SIGN is false is CKR_KEY_FUNCTION_NOT_PERMITTED."""
    key = rsa_key()
    priv, pub = import_pair(raw, rsession, key)
    m = raw.mechanism(M.SHA256_RSA_PKCS)
    either = (0x63, 0x68)  # CKR_KEY_TYPE_INCONSISTENT, CKR_KEY_FUNCTION_NOT_PERMITTED
    assert raw.call("C_SignInit", rsession, m.ptr, pub) in either
    assert raw.call("C_VerifyInit", rsession, m.ptr, priv) in either
    no_sign = raw.create_object(rsession, private_template(key, SIGN=False))
    assert_rv(raw.call("C_SignInit", rsession, m.ptr, no_sign), "CKR_KEY_FUNCTION_NOT_PERMITTED")


@pytest.mark.requires(M.ECDSA, M.SHA256_RSA_PKCS)
def test_key_of_another_algorithm(module, raw, rsession, xfail_quirk):
    xfail_quirk(module, "sign-key-type-unchecked")
    rsa_priv, _ = import_pair(raw, rsession, rsa_key())
    ec_priv, _ = import_pair(raw, rsession, ec_key("P-256"))
    m = raw.mechanism(M.ECDSA)
    assert_rv(raw.call("C_SignInit", rsession, m.ptr, rsa_priv), "CKR_KEY_TYPE_INCONSISTENT")
    m = raw.mechanism(M.SHA256_RSA_PKCS)
    assert_rv(raw.call("C_SignInit", rsession, m.ptr, ec_priv), "CKR_KEY_TYPE_INCONSISTENT")
