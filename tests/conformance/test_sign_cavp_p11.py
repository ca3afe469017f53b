"""NIST CAVP signature vectors through PKCS#11, keys imported with C_CreateObject, against
keystead and SoftHSMv2: FIPS 186-3 RSA SigVer (PKCS#1 v1.5 and PSS) on 2048-bit moduli, the
passing PKCS#1 v1.5 cases signed again from the file's private key (deterministic, so the
signature must be the file's), and FIPS 186-2 ECDSA SigVer on P-256, P-384 and P-521 with
CKM_ECDSA over the SHA-1 hash the file uses. The whole files run at the operation layer
(tests/native/test_ops_pkey_sign_cavp.py); here one modulus size keeps the suite quick.
"""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from keystead.softhsm_bridge.ck import Mechanism as M

from tests.vectors.cavp import load_rsp
from tests.vectors.loader import Vector

from .keypair_support import private_template, pss_param, public_template, sign, verify
from .support import assert_rv

RSA_DIR = "asymmetric/RSA/FIPS_186-2"
PKCS = {"SHA1": M.SHA1_RSA_PKCS, "SHA224": M.SHA224_RSA_PKCS, "SHA256": M.SHA256_RSA_PKCS,
        "SHA384": M.SHA384_RSA_PKCS, "SHA512": M.SHA512_RSA_PKCS}
PSS = {"SHA1": M.SHA1_RSA_PKCS_PSS, "SHA224": M.SHA224_RSA_PKCS_PSS,
       "SHA256": M.SHA256_RSA_PKCS_PSS, "SHA384": M.SHA384_RSA_PKCS_PSS,
       "SHA512": M.SHA512_RSA_PKCS_PSS}
DIGEST = {"SHA1": M.SHA_1, "SHA224": M.SHA224, "SHA256": M.SHA256, "SHA384": M.SHA384,
          "SHA512": M.SHA512}
MGF1 = {"SHA1": 1, "SHA256": 2, "SHA384": 3, "SHA512": 4, "SHA224": 5}
EM_FIELDS = ("EM with hash moved", "EM with trailer wrong")


def _cases(name: str) -> list[Vector]:
    return [v for v in load_rsp(f"{RSA_DIR}/{name}") if v.has("section")
            and v._fields["section"] == "mod = 2048"]


def _expected(vec: Vector) -> str:
    for name in EM_FIELDS:
        if vec.has(name):
            vec.hex(name)
    return "CKR_OK" if vec.text("Result").startswith("P") else "CKR_SIGNATURE_INVALID"


def _rsa_public(vec: Vector) -> rsa.RSAPublicKey:
    n, e = (int.from_bytes(vec.hex(k), "big") for k in ("n", "e"))
    return rsa.RSAPublicNumbers(e, n).public_key()


def _rsa_private(vec: Vector, pub: rsa.RSAPublicKey) -> rsa.RSAPrivateKey:
    p, q, d = (int.from_bytes(vec.hex(k), "big") for k in ("p", "q", "d"))
    return rsa.RSAPrivateNumbers(p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q),
                                 rsa.rsa_crt_iqmp(p, q), pub.public_numbers()).private_key()


@pytest.mark.parametrize("vec", _cases("SigVer15_186-3.rsp"), ids=str)
def test_rsa_sigver_pkcs1v15(raw, rsession, vec: Vector) -> None:
    with vec:
        vec.text("section")
        vec.hex("SaltVal")
        h = vec.text("SHAAlg")
        pub = _rsa_public(vec)
        msg, sig = vec.hex("Msg"), vec.hex("S")
        expected = _expected(vec)
        handle = raw.create_object(rsession, public_template(pub))
        assert_rv(verify(raw, rsession, PKCS[h], handle, msg, sig), expected)
        if expected == "CKR_OK":
            priv = raw.create_object(rsession, private_template(_rsa_private(vec, pub)))
            assert sign(raw, rsession, PKCS[h], priv, msg) == sig
        else:
            for k in ("p", "q", "d"):
                vec.hex(k)


@pytest.mark.parametrize("vec", _cases("SigVerPSS_186-3.rsp"), ids=str)
def test_rsa_sigver_pss(raw, rsession, vec: Vector) -> None:
    with vec:
        vec.text("section")
        for k in ("p", "q", "d"):
            vec.hex(k)
        h = vec.text("SHAAlg")
        pub = raw.create_object(rsession, public_template(_rsa_public(vec)))
        param = pss_param(raw, DIGEST[h], MGF1[h], len(vec.hex("SaltVal")))
        assert_rv(verify(raw, rsession, PSS[h], pub, vec.hex("Msg"), vec.hex("S"), param),
                  _expected(vec))


CURVES = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}


def _ecdsa_cases() -> list[Vector]:
    return [v for v in load_rsp("asymmetric/ECDSA/FIPS_186-2/SigVer.rsp")
            if v._fields["section"] in CURVES]


@pytest.mark.requires(M.ECDSA)
@pytest.mark.parametrize("vec", _ecdsa_cases(), ids=str)
def test_ecdsa_sigver(raw, rsession, vec: Vector) -> None:
    with vec:
        curve = CURVES[vec.text("section")]
        qx, qy, r, s = (int(vec.text(k), 16) for k in ("Qx", "Qy", "R", "S"))
        msg = vec.hex("Msg")
        expected = _expected(vec)
        try:
            pub = ec.EllipticCurvePublicNumbers(qx, qy, curve).public_key()
        except ValueError:
            assert expected != "CKR_OK"  # a point off the curve: never a valid case
            return
        field = (curve.key_size + 7) // 8
        handle = raw.create_object(rsession, public_template(pub))
        sig = r.to_bytes(field, "big") + s.to_bytes(field, "big")
        digest = hashlib.sha1(msg).digest()
        assert_rv(verify(raw, rsession, M.ECDSA, handle, digest, sig), expected)
