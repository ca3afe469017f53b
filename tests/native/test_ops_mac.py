"""CKM_AES_CMAC(_GENERAL) and CKM_SHA*_HMAC(_GENERAL) through token/ops.h (C_Sign*,
C_Verify*).

Known answers: SP 800-38B appendix D (tests/vectors/cmac_sp800_38b.txt), RFC 4231
(tests/vectors/hmac_rfc4231.txt, case 5 through the _GENERAL mechanisms). Cross-checks with
`cryptography` for every length 0..1024, key sizes, split points. Verification: exact
CKR_SIGNATURE_INVALID / CKR_SIGNATURE_LEN_RANGE. Parameters, key types and sizes, and the
5.2 conventions of C_Sign / C_SignFinal.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import cmac, hashes, hmac
from cryptography.hazmat.primitives.ciphers import algorithms
from keystead.core import lib

from tests.native.ops_support import (
    ENCRYPT,
    KEY_SIZES,
    QUERY,
    SIGN,
    VERIFY,
    Op,
    general_mech,
    mechanism,
    rng,
    splits,
)
from tests.vectors.loader import load

HMACS = {
    "SHA1": (lib.CKM_SHA_1_HMAC, lib.CKM_SHA_1_HMAC_GENERAL, lib.CKK_SHA_1_HMAC, hashes.SHA1),
    "SHA224": (lib.CKM_SHA224_HMAC, lib.CKM_SHA224_HMAC_GENERAL, lib.CKK_SHA224_HMAC,
               hashes.SHA224),
    "SHA256": (lib.CKM_SHA256_HMAC, lib.CKM_SHA256_HMAC_GENERAL, lib.CKK_SHA256_HMAC,
               hashes.SHA256),
    "SHA384": (lib.CKM_SHA384_HMAC, lib.CKM_SHA384_HMAC_GENERAL, lib.CKK_SHA384_HMAC,
               hashes.SHA384),
    "SHA512": (lib.CKM_SHA512_HMAC, lib.CKM_SHA512_HMAC_GENERAL, lib.CKK_SHA512_HMAC,
               hashes.SHA512),
}


def sign(mech, key: bytes, data: bytes, key_type: int) -> tuple[int, bytes]:
    with Op(SIGN, mech, key, key_type) as op:
        if op.rv != lib.CKR_OK:
            return op.rv, b""
        rv, out, _ = op.oneshot(data)
        return rv, out


def sign_parts(mech, key: bytes, parts: list[bytes], key_type: int) -> tuple[int, bytes]:
    with Op(SIGN, mech, key, key_type) as op:
        assert op.rv == lib.CKR_OK
        for part in parts:
            assert op.feed(part) == lib.CKR_OK
        rv, out, _ = op.final()
        return rv, out


def verify(mech, key: bytes, data: bytes, sig: bytes, key_type: int) -> int:
    with Op(VERIFY, mech, key, key_type) as op:
        assert op.rv == lib.CKR_OK
        return op.verify(data, sig)


def verify_parts(mech, key: bytes, parts: list[bytes], sig: bytes, key_type: int) -> int:
    with Op(VERIFY, mech, key, key_type) as op:
        assert op.rv == lib.CKR_OK
        for part in parts:
            assert op.feed(part) == lib.CKR_OK
        return op.verify_final(sig)


def check_mac(mech, key: bytes, data: bytes, mac: bytes, key_type: int) -> None:
    """Sign and verify, single- and multi-part, and the two verification failures."""
    assert sign(mech, key, data, key_type) == (lib.CKR_OK, mac)
    cut = len(data) // 3
    assert sign_parts(mech, key, splits(data, [cut, cut]), key_type) == (lib.CKR_OK, mac)
    assert verify(mech, key, data, mac, key_type) == lib.CKR_OK
    assert verify_parts(mech, key, splits(data, [cut]), mac, key_type) == lib.CKR_OK
    bad = bytes([mac[0] ^ 1]) + mac[1:]
    assert verify(mech, key, data, bad, key_type) == lib.CKR_SIGNATURE_INVALID
    assert verify_parts(mech, key, [data], bad, key_type) == lib.CKR_SIGNATURE_INVALID
    assert verify(mech, key, data, mac[:-1], key_type) == lib.CKR_SIGNATURE_LEN_RANGE
    assert verify(mech, key, data, mac + b"\0", key_type) == lib.CKR_SIGNATURE_LEN_RANGE
    assert verify_parts(mech, key, [data], mac[:-1], key_type) == lib.CKR_SIGNATURE_LEN_RANGE


@pytest.mark.parametrize("vec", load("cmac_sp800_38b.txt"), ids=str)
def test_cmac_vectors(vec):
    with vec:
        vec.text("Section")
        key, msg, mac = vec.hex("Key"), vec.hex("Msg"), vec.hex("Mac")
    check_mac(mechanism(lib.CKM_AES_CMAC), key, msg, mac, lib.CKK_AES)
    for n in (8, 15, 16):
        check_mac(general_mech(lib.CKM_AES_CMAC_GENERAL, n), key, msg, mac[:n], lib.CKK_AES)


@pytest.mark.parametrize("vec", load("hmac_rfc4231.txt"), ids=str)
def test_hmac_vectors(vec):
    with vec:
        vec.text("Source")
        name = vec.text("Hash")
        key, msg, mac = vec.hex("Key"), vec.hex("Msg"), vec.hex("Mac")
        mac_len = vec.int("MacLen")
    full, general, typed, algo = HMACS[name]
    if mac_len == algo.digest_size:
        for key_type in (lib.CKK_GENERIC_SECRET, typed):
            check_mac(mechanism(full), key, msg, mac, key_type)
    check_mac(general_mech(general, mac_len), key, msg, mac, lib.CKK_GENERIC_SECRET)


@pytest.mark.parametrize("name", list(HMACS))
def test_hmac_against_cryptography(name):
    full, general, _, algo = HMACS[name]
    r = rng(f"hmac-{name}")
    for n in range(0, 1025):
        key = r.randbytes(r.choice((1, 16, 32, 64, 65, 200)))
        data = r.randbytes(n)
        h = hmac.HMAC(key, algo())
        h.update(data)
        expect = h.finalize()
        assert sign(mechanism(full), key, data, lib.CKK_GENERIC_SECRET) == (lib.CKR_OK, expect)
        if n % 97 == 0:
            cuts = sorted(r.sample(range(n + 1), min(3, n + 1)))
            assert sign_parts(mechanism(full), key, splits(data, cuts),
                              lib.CKK_GENERIC_SECRET) == (lib.CKR_OK, expect)


@pytest.mark.parametrize("key_len", KEY_SIZES)
def test_cmac_against_cryptography(key_len):
    r = rng(f"cmac-{key_len}")
    key = r.randbytes(key_len)
    for n in range(0, 1025):
        data = r.randbytes(n)
        c = cmac.CMAC(algorithms.AES(key))
        c.update(data)
        expect = c.finalize()
        assert sign(mechanism(lib.CKM_AES_CMAC), key, data, lib.CKK_AES) == (lib.CKR_OK, expect)


def test_every_split_point():
    r = rng("macsplit")
    key = r.randbytes(32)
    for n in (0, 1, 15, 16, 17, 33, 64, 65, 130):
        data = r.randbytes(n)
        for mtype in (lib.CKM_AES_CMAC, lib.CKM_SHA256_HMAC, lib.CKM_SHA512_HMAC):
            key_type = lib.CKK_AES if mtype == lib.CKM_AES_CMAC else lib.CKK_GENERIC_SECRET
            whole = sign(mechanism(mtype), key, data, key_type)
            for cut in range(n + 1):
                assert sign_parts(mechanism(mtype), key, splits(data, [cut]), key_type) == whole


def test_length_query_and_short_buffer():
    key, data = bytes(range(32)), b"message"
    for mtype, key_type, size in ((lib.CKM_SHA384_HMAC, lib.CKK_GENERIC_SECRET, 48),
                                  (lib.CKM_AES_CMAC, lib.CKK_AES, 16)):
        expect = sign(mechanism(mtype), key, data, key_type)[1]
        with Op(SIGN, mechanism(mtype), key, key_type) as op:
            assert op.oneshot(data, QUERY)[::2] == (lib.CKR_OK, size)
            assert op.oneshot(data, size - 1)[::2] == (lib.CKR_BUFFER_TOO_SMALL, size)
            assert op.oneshot(data, size) == (lib.CKR_OK, expect, size)
        with Op(SIGN, mechanism(mtype), key, key_type) as op:
            assert op.feed(data) == lib.CKR_OK
            assert op.final(QUERY)[::2] == (lib.CKR_OK, size)
            assert op.final(1)[::2] == (lib.CKR_BUFFER_TOO_SMALL, size)
            assert op.final(size) == (lib.CKR_OK, expect, size)
    general = general_mech(lib.CKM_SHA256_HMAC_GENERAL, 10)
    with Op(SIGN, general, key, lib.CKK_GENERIC_SECRET) as op:
        assert op.oneshot(data, QUERY)[::2] == (lib.CKR_OK, 10)


@pytest.mark.parametrize(
    "mech",
    [
        mechanism(lib.CKM_AES_CMAC, bytes(8)),
        mechanism(lib.CKM_SHA256_HMAC, bytes(8)),
        mechanism(lib.CKM_AES_CMAC_GENERAL),
        general_mech(lib.CKM_AES_CMAC_GENERAL, 0),
        general_mech(lib.CKM_AES_CMAC_GENERAL, 1),
        general_mech(lib.CKM_AES_CMAC_GENERAL, 7),
        general_mech(lib.CKM_SHA256_HMAC_GENERAL, 1),
        general_mech(lib.CKM_SHA256_HMAC_GENERAL, 4),
        general_mech(lib.CKM_SHA_1_HMAC_GENERAL, 7),
        general_mech(lib.CKM_AES_CMAC_GENERAL, 17),
        general_mech(lib.CKM_SHA256_HMAC_GENERAL, 33),
        general_mech(lib.CKM_SHA512_HMAC_GENERAL, 65),
        mechanism(lib.CKM_SHA256_HMAC_GENERAL, bytes(4)),
    ],
    ids=["cmac+param", "hmac+param", "general-none", "cmac-0", "cmac-1-below-minimum",
         "cmac-7-below-minimum", "sha256-1-below-minimum", "sha256-4-below-minimum",
         "sha1-7-below-minimum", "cmac-17", "sha256-33",
         "sha512-65", "general-4-bytes"],
)
def test_bad_parameters(mech):
    cmacs = (lib.CKM_AES_CMAC, lib.CKM_AES_CMAC_GENERAL)
    key_type = lib.CKK_AES if mech.ptr.mechanism in cmacs else lib.CKK_GENERIC_SECRET
    for kind in (SIGN, VERIFY):
        assert Op(kind, mech, bytes(16), key_type).rv == lib.CKR_MECHANISM_PARAM_INVALID


def test_key_checks():
    m256 = mechanism(lib.CKM_SHA256_HMAC)
    assert Op(SIGN, m256, bytes(32), lib.CKK_AES).rv == lib.CKR_KEY_TYPE_INCONSISTENT
    assert Op(SIGN, m256, bytes(32), lib.CKK_SHA384_HMAC).rv == lib.CKR_KEY_TYPE_INCONSISTENT
    assert Op(SIGN, m256, bytes(32), lib.CKK_SHA256_HMAC).rv == lib.CKR_OK
    assert Op(SIGN, m256, b"", lib.CKK_GENERIC_SECRET).rv == lib.CKR_KEY_SIZE_RANGE
    assert Op(SIGN, m256, bytes(4097), lib.CKK_GENERIC_SECRET).rv == lib.CKR_KEY_SIZE_RANGE
    assert Op(SIGN, m256, bytes(4096), lib.CKK_GENERIC_SECRET).rv == lib.CKR_OK
    cm = mechanism(lib.CKM_AES_CMAC)
    assert Op(SIGN, cm, bytes(20), lib.CKK_AES).rv == lib.CKR_KEY_SIZE_RANGE
    assert Op(SIGN, cm, bytes(16), lib.CKK_GENERIC_SECRET).rv == lib.CKR_KEY_TYPE_INCONSISTENT
    assert Op(ENCRYPT, cm, bytes(16), lib.CKK_AES).rv == lib.CKR_MECHANISM_INVALID


def test_verify_op_has_no_sign_calls():
    with Op(VERIFY, mechanism(lib.CKM_AES_CMAC), bytes(16)) as op:
        assert op.oneshot(b"x")[0] == lib.CKR_OPERATION_NOT_INITIALIZED
        assert op.final()[0] == lib.CKR_OPERATION_NOT_INITIALIZED
    with Op(SIGN, mechanism(lib.CKM_AES_CMAC), bytes(16)) as op:
        assert op.verify(b"x", bytes(16)) == lib.CKR_OPERATION_NOT_INITIALIZED
