"""NIST CAVP vectors (FIPS 186-3 RSA SigVer/SigGen for PKCS#1 v1.5 and PSS, FIPS 186-2 ECDSA
SigVer on P-256, P-384 and P-521) through token/ops.h, from the ``cryptography_vectors``
package.

- SigVer: every case verifies or fails exactly as its Result says (CKR_OK or
  CKR_SIGNATURE_INVALID); the passing PKCS#1 v1.5 cases are signed again from the private
  key the file gives (p, q, d) and must give the file's signature (PKCS#1 v1.5 is
  deterministic).
- SigGen: the files give the public key only, so each signature must verify.

Keys below 2048 bits are outside the RSA rows (SP 800-131A) and are left out.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from keystead.core import lib

from tests.native.ops_support import mechanism
from tests.native.pkey_support import (
    DIGEST_MECH,
    ECDSA,
    MGF,
    RSA_PKCS,
    RSA_PSS,
    pss_mech,
    sign,
    verify,
)
from tests.vectors.cavp import load_rsp
from tests.vectors.loader import Vector

RSA_DIR = "asymmetric/RSA/FIPS_186-2"
MIN_BITS = 2048


def _mod_bits(vec: Vector) -> int:
    section = vec.text("section")
    assert section.startswith("mod = ")
    return int(section.removeprefix("mod = "))


def _rsa_cases(name: str) -> list[Vector]:
    return [v for v in load_rsp(f"{RSA_DIR}/{name}")
            if int(v._fields["section"].removeprefix("mod = ")) >= MIN_BITS]


def _public(vec: Vector) -> rsa.RSAPublicKey:
    n = int.from_bytes(vec.hex("n"), "big")
    e = int.from_bytes(vec.hex("e"), "big")
    return rsa.RSAPublicNumbers(e, n).public_key()


def _private(vec: Vector, pub: rsa.RSAPublicKey) -> rsa.RSAPrivateKey:
    p, q = (int.from_bytes(vec.hex(k), "big") for k in ("p", "q"))
    d = int.from_bytes(vec.hex("d"), "big")
    nums = pub.public_numbers()
    assert p * q == nums.n
    return rsa.RSAPrivateNumbers(p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q),
                                 rsa.rsa_crt_iqmp(p, q), nums).private_key()


#: The malformed encoded message some failing SigVer cases show (for information).
EM_FIELDS = ("EM with hash moved", "EM with trailer wrong")


def _expected(vec: Vector) -> int:
    result = vec.text("Result")
    expected = lib.CKR_OK if result.startswith("P") else lib.CKR_SIGNATURE_INVALID
    for name in EM_FIELDS:
        if vec.has(name):
            assert vec.hex(name) and expected != lib.CKR_OK
    return expected


@pytest.mark.parametrize("vec", _rsa_cases("SigVer15_186-3.rsp"), ids=str)
def test_sigver_pkcs1v15(vec: Vector) -> None:
    with vec:
        bits = _mod_bits(vec)
        pub = _public(vec)
        h = vec.text("SHAAlg")
        msg, sig = vec.hex("Msg"), vec.hex("S")
        assert vec.hex("SaltVal") == b"\0"  # PKCS#1 v1.5 has none
        expected = _expected(vec)
        mech = mechanism(RSA_PKCS[h])
        assert verify(mech, pub, msg, sig) == expected
        if expected == lib.CKR_OK:
            assert bits >= MIN_BITS
            assert sign(mech, _private(vec, pub), msg) == (lib.CKR_OK, sig)
        else:
            vec.hex("p"), vec.hex("q"), vec.hex("d")  # the key of a failing case is unused


@pytest.mark.parametrize("vec", _rsa_cases("SigVerPSS_186-3.rsp"), ids=str)
def test_sigver_pss(vec: Vector) -> None:
    with vec:
        _mod_bits(vec)
        pub = _public(vec)
        h = vec.text("SHAAlg")
        msg, sig = vec.hex("Msg"), vec.hex("S")
        salt = len(vec.hex("SaltVal"))
        for k in ("p", "q", "d"):  # a private key for signing: PSS is randomised
            vec.hex(k)
        mech = pss_mech(RSA_PSS[h], DIGEST_MECH[h], MGF[h], salt)
        assert verify(mech, pub, msg, sig) == _expected(vec)


@pytest.mark.parametrize("vec", _rsa_cases("SigGen15_186-3.rsp"), ids=str)
def test_siggen_pkcs1v15(vec: Vector) -> None:
    with vec:
        _mod_bits(vec)
        pub = _public(vec)
        h = vec.text("SHAAlg")
        assert verify(mechanism(RSA_PKCS[h]), pub, vec.hex("Msg"), vec.hex("S")) == lib.CKR_OK


@pytest.mark.parametrize("vec", _rsa_cases("SigGenPSS_186-3.rsp"), ids=str)
def test_siggen_pss(vec: Vector) -> None:
    with vec:
        _mod_bits(vec)
        pub = _public(vec)
        h = vec.text("SHAAlg")
        mech = pss_mech(RSA_PSS[h], DIGEST_MECH[h], MGF[h], 0)  # "Salt len: 0" in the file
        assert verify(mech, pub, vec.hex("Msg"), vec.hex("S")) == lib.CKR_OK


CURVES = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}


def _ecdsa_cases() -> list[Vector]:
    return [v for v in load_rsp("asymmetric/ECDSA/FIPS_186-2/SigVer.rsp")
            if v._fields["section"] in CURVES]


@pytest.mark.parametrize("vec", _ecdsa_cases(), ids=str)
def test_ecdsa_sigver(vec: Vector) -> None:
    """FIPS 186-2 SigVer hashes with SHA-1 (CKM_ECDSA_SHA1); r and s are padded to the
    order's length to make PKCS#11's r || s."""
    with vec:
        curve = CURVES[vec.text("section")]
        qx, qy = (int(vec.text(k), 16) for k in ("Qx", "Qy"))
        r, s = (int(vec.text(k), 16) for k in ("R", "S"))
        msg = vec.hex("Msg")
        expected = _expected(vec)
        try:
            pub = ec.EllipticCurvePublicNumbers(qx, qy, curve).public_key()
        except ValueError:
            assert expected != lib.CKR_OK  # a point off the curve: never a valid case
            return
        field = (curve.key_size + 7) // 8
        raw = r.to_bytes(field, "big") + s.to_bytes(field, "big")
        assert verify(mechanism(ECDSA["SHA1"]), pub, msg, raw) == expected
