"""C_DeriveKey with CKM_ECDH1_DERIVE and CKM_ECDH1_COFACTOR_DERIVE (PKCS#11 3.0 base 5.18,
mechanisms "Elliptic curve Diffie-Hellman key derivation" and CK_ECDH1_DERIVE_PARAMS),
against keystead and SoftHSMv2.

Every derived value is cross-checked with ``cryptography``: its exchange, then its X963KDF for
each CKD_SHA*_KDF with several shared-data lengths, or the trailing bytes of Z for a
CKD_NULL key shorter than Z ("the truncation removes bytes from the leading end of the
secret value"). Each parameter rule, template rule and bad public value answers one exact
code; the derived attributes follow table 18 and the mechanism's sensitivity rules.
"""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from keystead.softhsm_bridge.ck import CK_UNAVAILABLE_INFORMATION, KeyType, Mechanism
from keystead.softhsm_bridge.ck import Attribute as A

from tests.native.kex_keys import PRIME_CURVES, exchange, generate
from tests.vectors.pyca import load_pyca

from .derive_support import (
    CKD_NULL,
    CKD_SHA1_KDF_ASN1,
    CKD_SHA1_KDF_CONCATENATE,
    CKD_SHA3_256_KDF,
    CKD_SHA256_KDF,
    CKD_SHA256_KDF_SP800,
    CKF_EC_COMPRESS,
    CKM_ECDH1_COFACTOR_DERIVE,
    CKM_ECDH1_DERIVE,
    EC_PARAMS,
    FIELD,
    KDFS,
    der_octet_string,
    derive,
    ecdh_params,
    peer,
    private_template,
    secret_template,
)
from .support import assert_rv, bbool, code, ulong

PRIME = ["P-256", "P-384", "P-521"]
MONTGOMERY = ["X25519", "X448"]
HASH = {"SHA-1": hashes.SHA1, "SHA-224": hashes.SHA224, "SHA-256": hashes.SHA256,
        "SHA-384": hashes.SHA384, "SHA-512": hashes.SHA512}


@pytest.fixture
def ecdh(module, raw, rsession, xfail_quirk):
    """(raw, session, import): import(curve, key, **attrs) makes a session private key."""
    if CKM_ECDH1_DERIVE not in module.mechanisms():
        pytest.fail(f"{module.kind} does not offer CKM_ECDH1_DERIVE")

    def make(curve: str, key: Any, **extra: Any) -> int:
        if curve in MONTGOMERY:
            xfail_quirk(module, "no-montgomery-ecdh")
        return raw.create_object(rsession, private_template(curve, key, **extra))

    return raw, rsession, make


def value(raw, h, obj) -> bytes:
    return raw.get_attribute(h, obj, A.VALUE)


# -- values ------------------------------------------------------------------------------------

@pytest.mark.parametrize("curve", PRIME + MONTGOMERY)
def test_ckd_null_whole_secret(ecdh, module, curve, xfail_quirk):
    """Without CKA_VALUE_LEN a generic secret gets the whole Z (the curve's field size)."""
    raw, h, make = ecdh
    mine, theirs = generate(curve), generate(curve)
    base = make(curve, mine)
    rv, k = derive(raw, h, base, secret_template(), ecdh_params(raw.ffi, CKD_NULL, peer(theirs)))
    assert_rv(rv, "CKR_OK")
    z = exchange(mine, theirs)
    assert len(z) == FIELD[curve]
    assert value(raw, h, k) == z
    xfail_quirk(module, "derived-value-len-zero")
    assert ulong(raw.get_attribute(h, k, A.VALUE_LEN)) == len(z)


@pytest.mark.parametrize("curve", PRIME + MONTGOMERY)
def test_ckd_null_truncation_keeps_the_trailing_bytes(ecdh, curve):
    """A CKD_NULL key shorter than Z: "the truncation removes bytes from the leading end of
    the secret value" (SoftHSMv2 2.6.1 reads it the same way)."""
    raw, h, make = ecdh
    mine, theirs = generate(curve), generate(curve)
    base = make(curve, mine)
    z = exchange(mine, theirs)
    for n in (1, 16, FIELD[curve] - 1):
        rv, k = derive(raw, h, base, secret_template(n),
                       ecdh_params(raw.ffi, CKD_NULL, peer(theirs)))
        assert_rv(rv, "CKR_OK")
        assert value(raw, h, k) == z[len(z) - n:], n


@pytest.mark.parametrize("curve", PRIME + MONTGOMERY)
@pytest.mark.parametrize("kdf", list(KDFS), ids=list(KDFS.values()))
def test_x963_kdfs(ecdh, module, curve, kdf, xfail_quirk):
    """Each CKD_SHA*_KDF is the ANSI X9.63 KDF over Z and the shared data."""
    raw, h, make = ecdh
    mine, theirs = generate(curve), generate(curve)
    base = make(curve, mine)
    z = exchange(mine, theirs)
    xfail_quirk(module, "ecdh-null-kdf-only")
    for shared, n in ((None, 32), (b"\x01", 16), (bytes(range(100)), 100), (b"", 65)):
        rv, k = derive(raw, h, base, secret_template(n),
                       ecdh_params(raw.ffi, kdf, peer(theirs), shared))
        assert_rv(rv, "CKR_OK")
        want = X963KDF(HASH[KDFS[kdf]](), n, shared or None).derive(z)
        assert value(raw, h, k) == want, (shared, n)


@pytest.mark.parametrize("curve", PRIME)
def test_point_forms(ecdh, module, curve):
    """The peer point raw (uncompressed; compressed where the mechanism's info says
    CKF_EC_COMPRESS) or as a DER OCTET STRING, the CKA_EC_POINT encoding a token may take."""
    raw, h, make = ecdh
    mine, theirs = generate(curve), generate(curve)
    base = make(curve, mine)
    z = exchange(mine, theirs)
    forms = {"raw": peer(theirs), "der": der_octet_string(peer(theirs))}
    if raw.mechanism_info(module.slot, CKM_ECDH1_DERIVE)[2] & CKF_EC_COMPRESS:
        forms["compressed"] = peer(theirs, compressed=True)
        forms["compressed der"] = der_octet_string(peer(theirs, compressed=True))
    for name, pub in forms.items():
        rv, k = derive(raw, h, base, secret_template(), ecdh_params(raw.ffi, CKD_NULL, pub))
        assert_rv(rv, "CKR_OK")
        assert value(raw, h, k) == z, name


@pytest.mark.requires(CKM_ECDH1_COFACTOR_DERIVE)
@pytest.mark.parametrize("curve", PRIME + MONTGOMERY)
def test_cofactor_variant(ecdh, curve):
    """P-256/384/521 have cofactor 1 and X25519/X448 clamp: cofactor ECDH gives the same Z."""
    raw, h, make = ecdh
    mine, theirs = generate(curve), generate(curve)
    base = make(curve, mine)
    for kdf in (CKD_NULL, CKD_SHA256_KDF):
        rv, k = derive(raw, h, base, secret_template(32),
                       ecdh_params(raw.ffi, kdf, peer(theirs)), CKM_ECDH1_COFACTOR_DERIVE)
        assert_rv(rv, "CKR_OK")
        z = exchange(mine, theirs)
        want = z[len(z) - 32:] if kdf == CKD_NULL else X963KDF(hashes.SHA256(), 32, None).derive(z)
        assert value(raw, h, k) == want


def _bad_values(curve: str, good: bytes) -> dict[str, bytes]:
    other = {"P-256": "P-384", "P-384": "P-521", "P-521": "P-256", "X25519": "X448",
             "X448": "X25519"}[curve]
    bad = {"a point of another curve": peer(generate(other)), "all zero": bytes(len(good))}
    if curve in PRIME:
        bad["off the curve"] = good[:-1] + bytes([good[-1] ^ 1])
        bad["infinity"] = b"\x00"
    else:
        bad["u = 1 (low order)"] = (1).to_bytes(len(good), "little")
    return bad


@pytest.mark.parametrize("curve", PRIME + MONTGOMERY)
def test_bad_public_values(ecdh, module, curve, xfail_quirk):
    """Points off the curve, of another curve, infinity, low-order X25519/X448 values (an
    all-zero Z): a bad mechanism parameter, and no key."""
    raw, h, make = ecdh
    base = make(curve, generate(curve))
    xfail_quirk(module, "ecdh-bad-point-general-error")
    for name, pub in _bad_values(curve, peer(generate(curve))).items():
        rv, _ = derive(raw, h, base, secret_template(16), ecdh_params(raw.ffi, CKD_NULL, pub))
        assert rv == code("CKR_MECHANISM_PARAM_INVALID"), (name, hex(rv))


@pytest.mark.parametrize("curve", ["P-256", "X25519"])
def test_aes_key_agreed_encrypts(ecdh, curve):
    """An AES key of 16, 24 and 32 bytes agreed with CKD_NULL encrypts as cryptography does
    with the same bytes."""
    raw, h, make = ecdh
    mine, theirs = generate(curve), generate(curve)
    base = make(curve, mine)
    z = exchange(mine, theirs)
    for n in (16, 24, 32):
        t = secret_template(n, KeyType.AES, ENCRYPT=True)
        rv, k = derive(raw, h, base, t, ecdh_params(raw.ffi, CKD_NULL, peer(theirs)))
        assert_rv(rv, "CKR_OK")
        key = value(raw, h, k)
        assert key == z[len(z) - n:]
        block = bytes(range(16))
        enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
        assert raw.encrypt(h, Mechanism.AES_ECB, k, block) == enc.update(block)


# -- derived attributes (table 18 and the mechanism's sensitivity rules) ----------------------

def test_derived_attributes_of_an_imported_base(ecdh):
    """An imported base key was never always-sensitive: neither is the derived key."""
    raw, h, make = ecdh
    mine, theirs = generate("P-256"), generate("P-256")
    base = make("P-256", mine)
    t = secret_template(32, SENSITIVE=True, EXTRACTABLE=False)
    rv, k = derive(raw, h, base, t, ecdh_params(raw.ffi, CKD_NULL, peer(theirs)))
    assert_rv(rv, "CKR_OK")
    assert bbool(raw.get_attribute(h, k, A.LOCAL)) is False
    assert bbool(raw.get_attribute(h, k, A.ALWAYS_SENSITIVE)) is False
    assert bbool(raw.get_attribute(h, k, A.NEVER_EXTRACTABLE)) is False
    assert ulong(raw.get_attribute(h, k, A.KEY_GEN_MECHANISM)) == CK_UNAVAILABLE_INFORMATION


# -- parameter rules ---------------------------------------------------------------------------

def _param_cases(ffi, pub: bytes) -> dict[str, Any]:
    return {
        "unknown kdf": ecdh_params(ffi, 0x7777, pub),
        "kdf 0": ecdh_params(ffi, 0, pub),
        "CKD_NULL with shared data": ecdh_params(ffi, CKD_NULL, pub, b"shared"),
        "NULL shared data with a length": ecdh_params(ffi, CKD_SHA256_KDF, pub, None, 8),
        "NULL public data": ecdh_params(ffi, CKD_NULL, None),
        "NULL public data with a length": ecdh_params(ffi, CKD_NULL, None, public_len=65),
        "empty public data": ecdh_params(ffi, CKD_NULL, b""),
    }


@pytest.mark.parametrize("case", ["unknown kdf", "kdf 0", "CKD_NULL with shared data",
                                  "NULL shared data with a length", "NULL public data",
                                  "NULL public data with a length", "empty public data",
                                  "no parameter", "parameter of the wrong size"])
def test_parameter_rules(ecdh, case):
    raw, h, make = ecdh
    mine, theirs = generate("P-256"), generate("P-256")
    base = make("P-256", mine)
    cases = _param_cases(raw.ffi, peer(theirs))
    cases["no parameter"] = None
    cases["parameter of the wrong size"] = b"\x00" * 8
    rv, _ = derive(raw, h, base, secret_template(32), cases[case])
    assert_rv(rv, "CKR_MECHANISM_PARAM_INVALID")


@pytest.mark.parametrize("kdf", [CKD_SHA1_KDF_ASN1, CKD_SHA1_KDF_CONCATENATE, CKD_SHA3_256_KDF,
                                 CKD_SHA256_KDF_SP800],
                         ids=["ASN1", "CONCATENATE", "SHA3_256", "SP800"])
def test_kdfs_not_offered(ecdh, module, kdf):
    raw, h, make = ecdh
    mine, theirs = generate("P-256"), generate("P-256")
    base = make("P-256", mine)
    rv, _ = derive(raw, h, base, secret_template(32), ecdh_params(raw.ffi, kdf, peer(theirs)))
    assert_rv(rv, "CKR_MECHANISM_PARAM_INVALID")


CKM_EC_KEY_PAIR_GEN = 0x1040


@pytest.mark.parametrize(("sensitive", "extractable"),
                         [(True, False), (True, True), (False, False), (False, True)])
def test_derived_attributes_of_a_generated_base(ecdh, sensitive, extractable):
    """A base key generated sensitive and unextractable (CKA_ALWAYS_SENSITIVE and
    CKA_NEVER_EXTRACTABLE true): the derived key's CKA_ALWAYS_SENSITIVE is its own
    CKA_SENSITIVE, its CKA_NEVER_EXTRACTABLE the opposite of its CKA_EXTRACTABLE; CKA_LOCAL
    is false. The agreed value still matches cryptography's exchange with the base key's
    public point."""
    raw, h, _ = ecdh
    pub_handle, base = raw.generate_key_pair(
        h, CKM_EC_KEY_PAIR_GEN, {A.EC_PARAMS: EC_PARAMS["P-256"], A.TOKEN: False},
        {A.TOKEN: False, A.SENSITIVE: True, A.EXTRACTABLE: False, A.DERIVE: True})
    assert bbool(raw.get_attribute(h, base, A.ALWAYS_SENSITIVE)) is True
    assert bbool(raw.get_attribute(h, base, A.NEVER_EXTRACTABLE)) is True
    theirs = generate("P-256")
    t = secret_template(32, SENSITIVE=sensitive, EXTRACTABLE=extractable)
    rv, k = derive(raw, h, base, t, ecdh_params(raw.ffi, CKD_NULL, peer(theirs)))
    assert_rv(rv, "CKR_OK")
    assert bbool(raw.get_attribute(h, k, A.ALWAYS_SENSITIVE)) is sensitive
    assert bbool(raw.get_attribute(h, k, A.NEVER_EXTRACTABLE)) is (not extractable)
    assert bbool(raw.get_attribute(h, k, A.LOCAL)) is False
    if not sensitive and extractable:
        point = raw.get_attribute(h, pub_handle, A.EC_POINT)
        pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point[2:])
        assert value(raw, h, k) == theirs.exchange(ec.ECDH(), pub)



# -- the CAVP KAS ECC ZZ-only vectors through C_DeriveKey --------------------------------------

ZZ_FILES = ("asymmetric/ECDH/KASValidityTest_ECCStaticUnified_NOKC_ZZOnly_init.fax",
            "asymmetric/ECDH/KASValidityTest_ECCStaticUnified_NOKC_ZZOnly_resp.fax")
FAX_CURVES = {"EC": "P-256", "ED": "P-384", "EE": "P-521"}


@pytest.mark.parametrize("curve", PRIME)
def test_cavp_zz_vectors_through_the_token(ecdh, module, curve, xfail_quirk):
    """The vectors of tests/native/test_ecdh.py again, through a token session: the IUT's d
    imported as a private key, the CAVS point as the public value, CKD_NULL. Correct ones
    give Z; a CAVS point that fails validation (results 1 and 2) is refused."""
    raw, h, make = ecdh
    size = FIELD[curve]
    bad: list[int] = []
    for path in ZZ_FILES:
        for section, vec in load_pyca(path):
            if FAX_CURVES.get(section.get("_", "")[:2]) != curve or not vec.has("Z"):
                continue
            code_ = int(vec.text("Result").split("(")[1].split()[0])
            if code_ not in (0, 1, 2, 13):
                continue  # the IUT's own key or a changed Z: tests/native/test_ecdh.py
            x, y = (int.from_bytes(vec.hex(n), "big") for n in ("QsCAVSx", "QsCAVSy"))
            point = b"\x04" + x.to_bytes(size, "big") + y.to_bytes(size, "big")
            key = ec.derive_private_key(int.from_bytes(vec.hex("dsIUT"), "big"),
                                        PRIME_CURVES[curve])
            base = make(curve, key)
            rv, k = derive(raw, h, base, secret_template(),
                           ecdh_params(raw.ffi, CKD_NULL, point))
            if code_ in (0, 13):
                assert_rv(rv, "CKR_OK")
                assert value(raw, h, k) == vec.hex("Z"), str(vec)
            else:
                bad.append(rv)
            raw.destroy_object(h, base)
    assert bad  # each curve has CAVS points that fail validation
    xfail_quirk(module, "ecdh-bad-point-general-error")
    assert set(bad) == {code("CKR_MECHANISM_PARAM_INVALID")}


def test_mechanism_info(ecdh, module):
    """CKF_DERIVE, and key sizes that are field sizes in bits (mechanisms 3.0, ECDH key
    derivation): P-256 at least is within them."""
    raw, _, _ = ecdh
    lo, hi, flags = raw.mechanism_info(module.slot, CKM_ECDH1_DERIVE)
    assert flags & 0x80000  # CKF_DERIVE
    assert lo <= 256 <= hi <= 571
